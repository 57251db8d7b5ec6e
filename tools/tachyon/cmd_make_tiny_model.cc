// `tachyon make-tiny-model`: writes a random-weight DeepSeek-V4 checkpoint in the official format (config.json,
// safetensors, tokenizer files) from a named preset. See tools/generator.h.
#include <cstdio>
#include <filesystem>
#include <memory>

#include "commands.h"
#include "core/thread_pool.h"
#include "tools/generator.h"

namespace tachyon::cli {

namespace {

namespace fs = std::filesystem;

struct MakeTinyOptions {
  std::string preset = "tiny";
  std::string out;
  std::string assets;
  uint64_t seed = 0;
  int shards = 1;
  int threads = 0;
};

int fail(const std::string& msg) {
  std::fprintf(stderr, "tachyon: error: %s\n", msg.c_str());
  return 1;
}

// The assets folder: --assets, else <executable>/../../assets (build/bin/tachyon -> assets/).
Result<fs::path> find_assets(const std::string& flag) {
  std::error_code ec;
  if (!flag.empty()) {
    if (!fs::is_directory(flag, ec)) return error("--assets {}: no such directory", flag);
    return fs::path(flag);
  }
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return error("cannot locate the tachyon executable ({}); pass --assets DIR", ec.message());
  fs::path dir = exe.parent_path().parent_path().parent_path() / "assets";
  if (!fs::is_directory(dir, ec))
    return error("assets folder not found at {} (expected next to the source tree); pass --assets DIR", dir.string());
  return dir;
}

int run(const MakeTinyOptions& o) {
  auto cfg = dsv4::preset_config(o.preset);
  if (!cfg) return fail(cfg.status().message());
  auto assets = find_assets(o.assets);
  if (!assets) return fail(assets.status().message());
  dsv4::GenerateOptions g;
  g.seed = o.seed;
  g.shards = o.shards;
  const fs::path tok = *assets / "tokenizer" / "deepseek-v4";
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"}) {
    std::error_code ec;
    if (!fs::is_regular_file(tok / f, ec))
      return fail(fmt::format("tokenizer file {} is missing from the assets folder", (tok / f).string()));
    g.extra_files.push_back((tok / f).string());
  }
  ThreadPool pool(o.threads);
  Status st = dsv4::generate_checkpoint(*cfg, o.out, g, pool);
  if (!st) return fail(st.message());
  std::printf("wrote %s checkpoint (seed %llu, %d shard%s) to %s\n", o.preset.c_str(),
              static_cast<unsigned long long>(o.seed), o.shards, o.shards == 1 ? "" : "s", o.out.c_str());
  return 0;
}

}  // namespace

void add_make_tiny_model(CLI::App& app, Action& action) {
  auto o = std::make_shared<MakeTinyOptions>();
  CLI::App* cmd = app.add_subcommand("make-tiny-model", "Write a random-weight DeepSeek-V4 checkpoint");
  cmd->add_option("--preset", o->preset, "tiny | mini-flash | tiny-pro")->capture_default_str();
  cmd->add_option("--out", o->out, "output folder")->required();
  cmd->add_option("--seed", o->seed, "weight seed")->capture_default_str();
  cmd->add_option("--shards", o->shards, "number of safetensors shards (1 = model.safetensors)")
      ->capture_default_str()
      ->check(CLI::Range(1, 99999));
  cmd->add_option("--assets", o->assets, "assets folder holding tokenizer/deepseek-v4 (default: ../../assets "
                                         "relative to the executable)");
  cmd->add_option("--threads", o->threads, "worker threads (0 = all cores)")->capture_default_str();
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace tachyon::cli
