// Small helpers shared by the CLI commands: error reporting, token lists, byte views.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/status.h"
#include "core/thread_pool.h"
#include "model/deepseek_v4/model.h"

namespace tachyon::cli {

// Prints "tachyon: error: <message>" on one line and returns 1.
int fail(const Status& st);
// Sets `action` to `fn` when subcommand `c` is chosen.
void action_on(CLI::App* c, Action& action, Action fn);
// "0,12,7" -> ids.
Status parse_token_list(const std::string& text, std::vector<int32_t>* out);
// A JSON array of ids in a file.
Status read_token_file(const std::string& path, std::vector<int32_t>* out);
// A whole file parsed as JSON; errors name the file.
Status read_json_file(const std::string& path, nlohmann::json* out);
// A JSON array of token ids (each in [0, 2^31)); errors name `path`.
Status token_ids_from_json(const nlohmann::json& ids, const std::string& path, std::vector<int32_t>* out);
std::vector<uint8_t> floats_to_bytes(const std::vector<float>& v);

// A checkpoint loaded for a one-shot command: weights, thread pool, op context and numeric mode.
struct ModelSession {
  std::unique_ptr<dsv4::Checkpoint> ck;
  std::unique_ptr<ThreadPool> pool;
  dsv4::ModelContext ctx;
  std::unique_ptr<dsv4::Model> model;
  int64_t repacked_bytes = 0;  // the int8 rows of the fast numerics (dsv4::repack_int8), 0 if none
};
// Loads `dir` and checks that every token id lies inside its vocabulary. `kv_cache_dtype` picks the
// attention cache's storage as `serve --kv-cache-dtype` does (auto: the server's default).
// `isa` picks the kernels' instruction set as `--isa` does (cpu::choose_isa).
Result<ModelSession> open_model(const std::string& dir, int threads, const std::string& numerics,
                                const std::string& kv_cache_dtype, const std::string& isa,
                                const std::vector<int32_t>& tokens);
// The --numerics option (auto, official, fast, exact), shared by serve and the one-shot commands.
CLI::Option* add_numerics_option(CLI::App* c, std::string* numerics);
// The --kv-cache-dtype option, shared by serve and the one-shot commands.
CLI::Option* add_kv_cache_dtype_option(CLI::App* c, std::string* dtype);
// The --isa option (auto, or one of cpu::isa_name's names), shared likewise.
CLI::Option* add_isa_option(CLI::App* c, std::string* isa);

}  // namespace tachyon::cli
