// tachyon tokenize / detokenize: the tokenizer as line-oriented filters, for checking it against
// other implementations and for measuring its speed.
//
//   tokenize --tokenizer PATH --jsonl     {"text": "...", "add_bos": bool}   -> {"ids": [...]}
//   detokenize --tokenizer PATH --jsonl   {"ids": [...], "skip_special": bool} -> {"text": "..."}
//   tokenize --tokenizer PATH --text STR  prints the ids of STR as one JSON array
//   tokenize --tokenizer PATH --bench FILE [--repeat N]  encoding speed on FILE, in MB/s
// PATH is a tokenizer.json or a folder holding one. One output line per input line, in order; blank
// lines are skipped. A bad line stops the command with a one-line error on stderr and exit status 1.
#include <chrono>
#include <ctime>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "commands.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::cli {
namespace {

using nlohmann::json;

void write_line(const json& j) {
  const std::string s = j.dump(-1, ' ', false, json::error_handler_t::replace);
  std::fwrite(s.data(), 1, s.size(), stdout);
  std::fputc('\n', stdout);
  std::fflush(stdout);
}

Result<json> parse_object(const std::string& line) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::exception& e) {
    return error("malformed JSON: {}", e.what());
  }
  if (!j.is_object()) return Status::error("expected a JSON object");
  return j;
}

Result<bool> optional_bool(const json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return false;
  if (!it->is_boolean()) return error("{}: expected true or false", key);
  return it->get<bool>();
}

Status tokenize_line(const tok::Tokenizer& t, const std::string& line) {
  TACHYON_ASSIGN_OR_RETURN(json in, parse_object(line));
  auto text = in.find("text");
  if (text == in.end() || !text->is_string()) return Status::error("text: expected a string");
  TACHYON_ASSIGN_OR_RETURN(bool add_bos, optional_bool(in, "add_bos"));
  if (add_bos && !t.bos_id()) return Status::error("add_bos: this tokenizer has no BOS token");
  write_line(json{{"ids", t.encode(text->get_ref<const std::string&>(), add_bos)}});
  return Status::ok();
}

Status detokenize_line(const tok::Tokenizer& t, const std::string& line) {
  TACHYON_ASSIGN_OR_RETURN(json in, parse_object(line));
  auto ids_j = in.find("ids");
  if (ids_j == in.end() || !ids_j->is_array()) return Status::error("ids: expected an array of token ids");
  std::vector<int32_t> ids;
  ids.reserve(ids_j->size());
  for (const json& v : *ids_j) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() >= t.vocab_size() ||
        !t.is_valid_id(int32_t(v.get<int64_t>())))
      return error("ids: {} is not a token id of this tokenizer", v.dump());
    ids.push_back(int32_t(v.get<int64_t>()));
  }
  TACHYON_ASSIGN_OR_RETURN(bool skip_special, optional_bool(in, "skip_special"));
  write_line(json{{"text", t.decode(ids, skip_special)}});
  return Status::ok();
}

// Runs `fn` on each non-blank stdin line; stops at the first failure.
template <typename Fn>
int for_each_line(Fn fn) {
  std::string line;
  for (size_t n = 1; std::getline(std::cin, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (Status st = fn(line); !st.is_ok()) return fail(st.with_context("stdin line " + std::to_string(n)));
  }
  return 0;
}

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Encodes the file once with an empty BPE cache, then `repeat` more times, and prints the speeds.
// Speeds are per thread CPU second (so other load on the machine does not skew them) and per wall
// second.
int bench(const tok::Tokenizer& t, const std::string& path, int repeat) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(error("{}: cannot open", path));
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string text = ss.str();
  using clock = std::chrono::steady_clock;
  struct Time {
    double cpu, wall;
  };
  size_t n_tokens = 0;
  auto run = [&]() {
    const double c0 = thread_cpu_seconds();
    const auto t0 = clock::now();
    n_tokens = t.encode(text).size();
    return Time{thread_cpu_seconds() - c0, std::chrono::duration<double>(clock::now() - t0).count()};
  };
  const Time cold = run();
  Time best{1e30, 1e30};
  for (int i = 0; i < repeat; ++i) {
    const Time r = run();
    best = {std::min(best.cpu, r.cpu), std::min(best.wall, r.wall)};
  }
  const double mb = double(text.size()) / 1e6;
  std::printf("%s: %zu bytes, %zu tokens (%.2f bytes/token)\n", path.c_str(), text.size(), n_tokens,
              double(text.size()) / double(std::max<size_t>(n_tokens, 1)));
  std::printf("encode, one thread, MB/s per CPU second (per wall second):\n");
  std::printf("  first pass, empty BPE cache: %.1f (%.1f)\n", mb / cold.cpu, mb / cold.wall);
  std::printf("  best of %d warm passes:      %.1f (%.1f)\n", repeat, mb / best.cpu, mb / best.wall);
  return 0;
}

}  // namespace

void add_tokenizer_commands(CLI::App& app, Action& action) {
  struct Opts {
    std::string tokenizer, text, bench_file;
    bool jsonl = false, has_text = false;
    int repeat = 5;
  };
  auto o = std::make_shared<Opts>();
  CLI::App* tc = app.add_subcommand("tokenize", "Encode text to token ids");
  tc->add_option("--tokenizer", o->tokenizer, "tokenizer.json, or a folder holding it")->required();
  auto* jl = tc->add_flag("--jsonl", o->jsonl, "Read {\"text\", \"add_bos\"} lines, write {\"ids\"} lines");
  auto* tx = tc->add_option("--text", o->text, "Encode this text and print the ids");
  auto* bf = tc->add_option("--bench", o->bench_file, "Measure encoding speed on this file");
  tc->add_option("--repeat", o->repeat, "Warm passes for --bench")->check(CLI::PositiveNumber);
  jl->excludes(tx)->excludes(bf);
  tx->excludes(bf);
  action_on(tc, action, [o, tx]() -> int {
    auto t = tok::Tokenizer::load(o->tokenizer);
    if (!t.is_ok()) return fail(t.status());
    if (!o->bench_file.empty()) return bench(**t, o->bench_file, o->repeat);
    if (tx->count() > 0) {
      write_line(json((*t)->encode(o->text)));
      return 0;
    }
    if (!o->jsonl) return fail(Status::error("tokenize: give --jsonl, --text or --bench"));
    return for_each_line([&](const std::string& line) { return tokenize_line(**t, line); });
  });

  struct DetokOpts {
    std::string tokenizer;
    bool jsonl = false;
  };
  auto d = std::make_shared<DetokOpts>();
  CLI::App* dc = app.add_subcommand("detokenize", "Decode token ids to text");
  dc->add_option("--tokenizer", d->tokenizer, "tokenizer.json, or a folder holding it")->required();
  dc->add_flag("--jsonl", d->jsonl, "Read {\"ids\"} lines, write {\"text\"} lines")->required();
  action_on(dc, action, [d]() -> int {
    auto t = tok::Tokenizer::load(d->tokenizer);
    if (!t.is_ok()) return fail(t.status());
    return for_each_line([&](const std::string& line) { return detokenize_line(**t, line); });
  });
}

}  // namespace tachyon::cli
