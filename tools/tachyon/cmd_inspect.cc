// `tachyon inspect DIR`: loads a checkpoint (every tensor checked against config.json) and reports its
// configuration, parameter counts, bytes by dtype and KV-cache size. Any error is one line on stderr.
// --check-values also reads every stored value and reports the tensors that hold NaN or infinity.
#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "backends/cpu/isa.h"
#include "backends/cpu/kernel_table.h"
#include "model/deepseek_v4/repack.h"
#include "core/thread_pool.h"
#include "io/value_scan.h"
#include "model/deepseek_v4/accounting.h"
#include "model/deepseek_v4/weights.h"

namespace tachyon::cli {

namespace {

struct InspectOptions {
  std::string dir;
  bool json = false;
  int64_t context = -1;  // -1: max_position_embeddings (or 1048576 when unset)
  bool check_values = false;
};

int fail(std::string msg) {
  for (char& c : msg)
    if (c == '\n' || c == '\r') c = ' ';
  std::fprintf(stderr, "tachyon: error: %s\n", msg.c_str());
  return 1;
}

std::string human(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return u == 0 ? fmt::format("{:.0f} B", bytes) : fmt::format("{:.2f} {}", bytes, units[u]);
}

std::string grouped(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return v < 0 ? "-" + out : out;
}

// Every stored value of the checkpoint, read once; on checkpoints over 1 GiB a progress line on stderr
// at most every two seconds.
ValueScan check_values(const TensorStore& store) {
  ThreadPool pool(0);
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  Clock::time_point last = t0;
  return scan_values(store, &pool, [&](uint64_t done, uint64_t total) {
    const Clock::time_point now = Clock::now();
    if (total < (uint64_t(1) << 30) || (now - last < std::chrono::seconds(2) && done < total)) return;
    last = now;
    std::fprintf(stderr, "checking values: %s of %s (%.0f%%, %.0f s)\n", human(double(done)).c_str(),
                 human(double(total)).c_str(), 100.0 * double(done) / double(total),
                 std::chrono::duration<double>(now - t0).count());
  });
}

// The one-line error for a checkpoint whose values are not all finite.
int fail_values(const ValueScan& v) {
  std::string names;
  for (size_t i = 0; i < v.bad.size() && i < 8; ++i) names += (i ? ", " : "") + v.bad[i].name;
  if (v.bad.size() > 8) names += fmt::format(" and {} more", v.bad.size() - 8);
  return fail(fmt::format("--check-values: {} tensor{} hold{} non-finite values (NaN or infinity): {}", v.bad.size(),
                          v.bad.size() == 1 ? "" : "s", v.bad.size() == 1 ? "s" : "", names));
}

int run(const InspectOptions& o) {
  auto ck = dsv4::load_checkpoint(o.dir);
  if (!ck) return fail(ck.status().message());
  const ModelConfig& c = (*ck)->config;
  const int64_t context = o.context >= 0 ? o.context
                          : c.max_position_embeddings > 0 ? c.max_position_embeddings
                                                          : int64_t(1) << 20;
  const dsv4::ParamAccounting p = dsv4::account_params(c, &(*ck)->store);
  const dsv4::CacheAccounting kv = dsv4::account_cache(c, context);
  int n_window = 0, n_csa = 0, n_hca = 0;
  for (int l = 0; l < c.num_hidden_layers; ++l) (c.ratio(l) == 0 ? n_window : c.ratio(l) == 4 ? n_csa : n_hca)++;
  std::optional<ValueScan> values;
  if (o.check_values) values = check_values((*ck)->store);
  // The kernels serve/bench/generate would run here (--isa auto), and every set this CPU can run.
  const cpu::CpuFeatures cpu_features = cpu::detect_cpu_features();
  std::vector<std::string> runnable;
  for (cpu::Isa isa : cpu::supported_isas(cpu_features)) runnable.push_back(cpu::isa_name(isa));
  auto chosen = cpu::choose_isa("auto", cpu_features);
  const std::string kernels = chosen.is_ok() ? cpu::isa_name(*chosen) : chosen.status().message();
  // The int8 rows the fast numerics make at load (repack.h), and whether `auto` picks them here.
  const int64_t int8_rows = dsv4::int8_repack_bytes(c);
  const bool int8_here = chosen.is_ok() && cpu::kernel_table(*chosen).native_i8;

  if (o.json) {
    nlohmann::json j;
    j["path"] = o.dir;
    j["config"] = nlohmann::json::parse(c.to_json());
    j["layer_kinds"] = {{"window_only", n_window}, {"csa", n_csa}, {"hca", n_hca}, {"mtp", c.num_nextn_predict_layers}};
    j["tensor_count"] = p.tensor_count;
    j["isa"] = kernels;
    j["isa_supported"] = runnable;
    j["int8_rows_bytes"] = int8_rows;          // extra memory of the fast numerics' repacked weights
    j["int8_rows_by_default"] = int8_here;     // --numerics auto runs them on this CPU
    j["tensors_by_dtype"] = p.tensors_by_dtype;
    j["params_total"] = p.params_total;
    j["params_active_per_token"] = p.params_active_per_token;
    j["params_routed_experts"] = p.params_routed_experts;
    j["params_mtp"] = p.params_mtp;
    j["bytes_total"] = p.bytes_total;
    j["bytes_by_dtype"] = p.bytes_by_dtype;
    j["cache_bytes_per_token"] = kv.bytes_per_token;
    j["tachyon_cache_bytes_per_token"] = {
        {"fp8", dsv4::cache_bytes_per_token(c, dsv4::CacheFormat::kCompact)},
        {"fp8-bf16rope", dsv4::cache_bytes_per_token(c, dsv4::CacheFormat::kCompactBf16)},
        {"fp32", dsv4::cache_bytes_per_token(c, dsv4::CacheFormat::kF32)}};
    j["context"] = kv.context;
    j["cache_bytes_at_context"] = kv.bytes_at_context;
    j["cache_breakdown_at_context"] = {{"compressed", kv.compressed_bytes},
                                       {"window", kv.window_bytes},
                                       {"compressor_state", kv.compressor_state_bytes}};
    if (values) {
      nlohmann::json bad = nlohmann::json::array();
      for (const NonFiniteTensor& t : values->bad)
        bad.push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"count", t.count}, {"first_index", t.first}});
      j["values_check"] = {{"tensors_scanned", values->tensors_scanned},
                           {"bytes_scanned", values->bytes_scanned},
                           {"nonfinite_tensors", std::move(bad)}};
    }
    std::printf("%s\n", j.dump(2).c_str());
    return values && !values->bad.empty() ? fail_values(*values) : 0;
  }

  std::string out;
  out += fmt::format("checkpoint   {} ({} file{})\n", o.dir, (*ck)->store.files().size(),
                     (*ck)->store.files().size() == 1 ? "" : "s");
  out += fmt::format("model        hidden {}, {} layers + {} MTP, vocab {}, max positions {}\n", c.hidden_size,
                     c.num_hidden_layers, c.num_nextn_predict_layers, c.vocab_size, c.max_position_embeddings);
  out += fmt::format("attention    {} heads x {} (rope {}), q_lora {}, o_groups {} x o_lora {}, window {}\n",
                     c.num_attention_heads, c.head_dim, c.qk_rope_head_dim, c.q_lora_rank, c.o_groups, c.o_lora_rank,
                     c.sliding_window);
  out += fmt::format("layers       compress_ratios [{}]: {} window-only, {} CSA (ratio 4), {} HCA\n",
                     fmt::join(c.compress_ratios, ", "), n_window, n_csa, n_hca);
  if (n_csa > 0)
    out += fmt::format("indexer      {} heads x {}, top-k {}\n", c.index_n_heads, c.index_head_dim, c.index_topk);
  out += fmt::format("moe          {} routed experts x {} (top {}), {} shared, {} hash layers, route scale {}, "
                     "experts {}\n",
                     c.n_routed_experts, c.moe_intermediate_size, c.num_experts_per_tok, c.n_shared_experts,
                     c.num_hash_layers, c.routed_scaling_factor, c.expert_fp4 ? "fp4" : "fp8");
  out += fmt::format("rope         theta {} / compressed {}, yarn factor {} (original {})\n", c.rope_theta,
                     c.compress_rope_theta, c.rope_factor, c.original_max_position_embeddings);
  out += fmt::format("tensors      {}\n", p.tensor_count);
  out += fmt::format("cpu kernels  {} (this CPU runs: {})\n", kernels, fmt::join(runnable, ", "));
  out += fmt::format("int8 rows    {} more memory under --numerics fast (FP8 linears and the head repacked at "
                     "load; {})\n",
                     human(double(int8_rows)), int8_here ? "auto picks fast here" : "not used by auto here");
  out += fmt::format("parameters   {} total ({} in routed experts, {} in MTP)\n", grouped(p.params_total),
                     grouped(p.params_routed_experts), grouped(p.params_mtp));
  out += fmt::format("active       {} per token\n", grouped(p.params_active_per_token));
  out += fmt::format("bytes        {} ({})\n", grouped(int64_t(p.bytes_total)), human(double(p.bytes_total)));
  for (const auto& [dt, b] : p.bytes_by_dtype)
    out += fmt::format("  {:<8}   {:>16} in {} tensors\n", dt, grouped(int64_t(b)), p.tensors_by_dtype.at(dt));
  out += fmt::format("kv cache     {} B per token (reference bf16 layout)\n", kv.bytes_per_token);
  out += fmt::format("  tachyon    {:.1f} B per token as fp8 (official default), {:.1f} as fp8-bf16rope, {:.1f} as fp32\n",
                     dsv4::cache_bytes_per_token(c, dsv4::CacheFormat::kCompact),
                     dsv4::cache_bytes_per_token(c, dsv4::CacheFormat::kCompactBf16),
                     dsv4::cache_bytes_per_token(c, dsv4::CacheFormat::kF32));
  out += fmt::format("  at {} tokens: {} (compressed {}, windows {}, compressor state {})\n", grouped(kv.context),
                     human(double(kv.bytes_at_context)), human(double(kv.compressed_bytes)),
                     human(double(kv.window_bytes)), human(double(kv.compressor_state_bytes)));
  if (values) {
    out += fmt::format("values       {} tensors ({}) read: {}\n", values->tensors_scanned,
                       human(double(values->bytes_scanned)),
                       values->bad.empty() ? "every value is finite"
                                           : fmt::format("{} hold non-finite values", values->bad.size()));
    for (const NonFiniteTensor& t : values->bad) out += "  " + describe(t) + "\n";
  }
  std::fputs(out.c_str(), stdout);
  return values && !values->bad.empty() ? fail_values(*values) : 0;
}

}  // namespace

void add_inspect(CLI::App& app, Action& action) {
  auto o = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand("inspect", "Load a checkpoint and report its size and cache needs");
  cmd->add_option("dir", o->dir, "checkpoint folder (config.json + safetensors)")->required();
  cmd->add_flag("--json", o->json, "machine-readable output");
  cmd->add_option("--context", o->context, "context length for the cache size (default: max_position_embeddings)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_flag("--check-values", o->check_values,
                "read every stored value and fail (exit 1) if a tensor holds NaN or infinity");
  cmd->callback([o, &action] { action = [o] { return run(*o); }; });
}

}  // namespace tachyon::cli
