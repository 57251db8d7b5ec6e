// tachyon: the command-line entry point (inspect, make-tiny-model, logits, generate, ...).
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <string>

#include "commands.h"
#include "core/log.h"

int main(int argc, char** argv) {
  // Freed blocks of any size go back to the heap and stay there for the next layer, step and request,
  // instead of being unmapped and mapped again: a forward pass allocates its activations per layer
  // (tens of MB in a long prefill chunk), and fresh pages cost a page fault and zeroing each time, about
  // 9 % of a 1024-token prefill. The process keeps its peak heap instead of returning it to the system.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"Tachyon: a DeepSeek-V4 inference engine"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "tachyon " TACHYON_VERSION);
  // Options of the top level (--log-level) are also taken after the subcommand: `tachyon serve ... --log-level info`.
  app.fallthrough();
  std::string log_level = "warn";
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|off")
      ->capture_default_str()
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}));
  tachyon::cli::Action action;
  tachyon::cli::add_inspect(app, action);
  tachyon::cli::add_make_tiny_model(app, action);
  tachyon::cli::add_logits(app, action);
  tachyon::cli::add_accuracy(app, action);
  tachyon::cli::add_generate(app, action);
  tachyon::cli::add_bench(app, action);
  tachyon::cli::add_tokenizer_commands(app, action);
  tachyon::cli::add_chat_commands(app, action);
  tachyon::cli::add_serve(app, action);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help
    // Bad flags: one line, like every other error.
    std::string msg = e.what();
    for (char& c : msg)
      if (c == '\n') c = ' ';
    std::fprintf(stderr, "tachyon: error: %s\n", msg.c_str());
    return 1;
  }
  tachyon::init_logging(log_level);
  try {
    return action ? action() : 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "tachyon: error: %s\n", e.what());
    return 1;
  }
}
