// tachyon bench: prefill and decode speed, per-op decode time, bytes read per decoded token, and how each
// kind of step compares with its roofline from this machine's measured read bandwidth and peak
// multiply-add rate (tools/bench.h), optionally drawn as an SVG (tools/roofline_svg.h).
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli_util.h"
#include "commands.h"
#include "chat/dsv4_encoder.h"
#include "chat/py_json.h"
#include "tools/bench.h"
#include "tools/roofline_svg.h"
#include "tools/spec_bench.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::cli {

namespace {

struct BenchOpts {
  std::string model, numerics = "auto", kv_cache_dtype = "auto", isa = "auto";
  int64_t prompt_len = 64, gen_len = 16, probe_mib = 0;
  std::string probe_bytes = "2G", svg;
  int batch = 8, threads = 0;
  uint64_t seed = 1;
  bool json = false;
  // Speculative decoding comparison (tools/spec_bench.h) instead of the kernel bench.
  int speculative_tokens = 0, spec_prompts = 4, spec_rounds = 1;
  std::string spec_draft_head = "int8";
  std::string greedy_head = "int8";
  std::string prompts_file;
};

nlohmann::ordered_json op_times(const std::array<double, size_t(dsv4::OpFamily::kCount)>& s) {
  nlohmann::ordered_json j;
  for (size_t f = 0; f < s.size(); ++f) j[std::string(dsv4::kOpFamilyNames[f])] = s[f] * 1e3;
  return j;
}

// Non-finite values (a ratio over a zero measurement) print as JSON null.
double finite_or_nan(double v) { return std::isfinite(v) ? v : NAN; }

// "2G", "512M", "64K", "1048576" (binary multiples; an optional trailing "iB" or "B") -> bytes, or -1.
int64_t parse_size(const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  if (i == 0 || i > 12) return -1;
  int64_t v = std::stoll(text.substr(0, i));
  std::string unit = text.substr(i);
  for (char& c : unit) c = char(std::toupper(static_cast<unsigned char>(c)));
  if (unit.size() > 1 && (unit.substr(1) == "IB" || unit.substr(1) == "B")) unit.resize(1);
  if (unit.empty() || unit == "B") return v;
  if (unit == "K") return v << 10;
  if (unit == "M") return v << 20;
  if (unit == "G") return v << 30;
  return -1;
}

// The steps against their roofline, as {name: {ms, bytes, flops, roofline_ms, ratio, bound}}.
nlohmann::ordered_json steps_json(const runtime::BenchResult& r) {
  nlohmann::ordered_json j;
  const std::pair<const char*, const runtime::StepRoofline*> steps[] = {
      {"decode", &r.decode_step}, {"verify2", &r.verify2}, {"verify4", &r.verify4},
      {"batch", &r.batch_step},   {"prefill", &r.prefill_step}};
  for (const auto& [name, s] : steps)
    j[name] = {{"tokens", s->tokens},
               {"ms", s->seconds * 1e3},
               {"bytes", s->bytes},
               {"flops", s->flops},
               {"flops_i8", s->flops_i8},
               {"memory_ms", s->memory_s * 1e3},
               {"compute_ms", s->compute_s * 1e3},
               {"roofline_ms", s->roofline_s * 1e3},
               {"ratio", finite_or_nan(s->ratio)},
               {"bound", s->bound()}};
  return j;
}

int report_json(const BenchOpts& o, const runtime::BenchResult& r) {
  nlohmann::ordered_json j;
  j["prefill_tok_s"] = r.prefill_tok_s;
  j["decode_tok_s"] = r.decode_tok_s;
  j["batch_decode_tok_s"] = r.batch_decode_tok_s;
  j["bytes_per_token"] = r.bytes_per_token;
  j["measured_bw_gbs"] = r.bw.gbs;
  j["decode_bw_ratio"] = finite_or_nan(r.decode_bw_ratio);
  j["peak_gflops"] = r.peak.gflops;
  j["peak_instruction"] = r.peak.instruction;
  j["int8_experts"] = r.int8_experts;  // the routed experts' FLOPs go at peak_i8_gops
  j["int8_rows"] = r.int8_rows;        // so do the FP8 linears' and the head's
  j["repacked_bytes"] = r.repacked_bytes;
  j["peak_i8_gops"] = r.peak_i8.gflops;
  j["peak_i8_instruction"] = r.peak_i8.instruction;
  j["prefill_flops_ratio"] = finite_or_nan(r.prefill_flops_ratio);
  j["verify2_roofline_ratio"] = finite_or_nan(r.verify2.ratio);
  j["verify2_bound"] = r.verify2.bound();
  j["verify4_roofline_ratio"] = finite_or_nan(r.verify4.ratio);
  j["verify4_bound"] = r.verify4.bound();
  j["batch_roofline_ratio"] = finite_or_nan(r.batch_step.ratio);
  j["batch_bound"] = r.batch_step.bound();
  j["overhead_ms"] = r.overhead_s * 1e3;
  j["overhead_fraction"] = finite_or_nan(r.overhead_fraction);
  j["gemm_probe_gflops"] = r.gemm_probe_gflops;
  j["prompt_len"] = o.prompt_len;
  j["gen_len"] = o.gen_len;
  j["batch"] = o.batch;
  j["threads"] = r.threads;
  j["kv_cache_dtype"] = r.cache_format;
  j["isa"] = r.isa;
  j["numerics"] = r.numerics;
  j["prefill_s"] = r.prefill_s;
  j["prefill_gflops"] = double(r.prefill_flops) / r.prefill_s / 1e9;
  j["prefill_ms_by_op"] = op_times(r.prefill_op_s);
  j["decode_ms_per_token"] = 1e3 / r.decode_tok_s;
  j["decode_cpu_ms_per_token"] = r.decode_cpu_s / double(o.gen_len) * 1e3;
  j["weight_bytes_per_token"] = r.weight_bytes_per_token;
  j["cache_bytes_per_token"] = r.cache_bytes_per_token;
  j["experts_per_layer_per_step"] = r.experts_per_layer;
  j["decode_ms_by_op"] = op_times(r.decode_op_s);
  j["decode_cpu_ms_by_op"] = op_times(r.decode_op_cpu_s);  // the calling thread's CPU time
  nlohmann::ordered_json bytes, gbs;
  for (size_t f = 0; f < r.decode_op_bytes.size(); ++f) {
    const std::string name(dsv4::kOpFamilyNames[f]);
    bytes[name] = r.decode_op_bytes[f];
    gbs[name] = finite_or_nan(r.decode_op_bytes[f] / r.decode_op_s[f] / 1e9);
  }
  j["decode_bytes_by_op"] = bytes;  // per token: weights, and the cache under attention
  j["decode_gbs_by_op"] = gbs;      // those bytes over the family's wall time
  nlohmann::ordered_json flops;
  for (size_t f = 0; f < r.decode_op_flops.size(); ++f)
    flops[std::string(dsv4::kOpFamilyNames[f])] = r.decode_op_flops[f];
  j["decode_flops_by_op"] = flops;  // per token
  j["decode_weight_ms_per_token"] = r.decode_weight_s * 1e3;  // inside the calls that stream weights
  j["steps"] = steps_json(r);
  j["batch_speedup"] = r.batch_decode_tok_s / r.decode_tok_s;
  j["batch_bytes_per_step"] = r.batch_bytes_per_step;
  j["batch_experts_per_layer_per_step"] = r.batch_experts_per_layer;
  j["batch_ms_per_step_by_op"] = op_times(r.batch_op_s);
  j["bw_probe_bytes"] = r.bw.bytes;
  j["bw_probe_threads"] = r.bw.threads;
  j["bw_probe_huge_pages"] = r.bw.huge_pages;
  j["bw_probe_huge_fraction"] = r.bw.huge_fraction >= 0 ? nlohmann::ordered_json(r.bw.huge_fraction) : nullptr;
  j["peak_probe_threads"] = r.peak.threads;
  std::printf("%s\n", j.dump().c_str());
  return 0;
}

int report_text(const BenchOpts& o, const runtime::BenchResult& r) {
  const double gb = 1e9;
  std::printf("threads %d, prompt %lld tokens, %lld decode steps, batch %d, kv cache %s, kernels %s, numerics %s\n",
              r.threads, static_cast<long long>(o.prompt_len), static_cast<long long>(o.gen_len), o.batch,
              r.cache_format.c_str(), r.isa.c_str(), r.numerics.c_str());
  std::printf("prefill        %9.2f tok/s   %8.2f GFLOP/s  (%.3f s)\n", r.prefill_tok_s,
              double(r.prefill_flops) / r.prefill_s / gb, r.prefill_s);
  std::printf("decode         %9.2f tok/s   %8.2f ms/token  (CPU %.2f ms/token)\n", r.decode_tok_s,
              1e3 / r.decode_tok_s, r.decode_cpu_s / double(o.gen_len) * 1e3);
  std::printf("batch decode   %9.2f tok/s   x%.2f of batch 1\n", r.batch_decode_tok_s,
              r.batch_decode_tok_s / r.decode_tok_s);
  std::printf("bytes/token    %9.3f GB  (weights %.3f GB, cache %.4f GB; %.2f experts/layer)\n",
              r.bytes_per_token / gb, r.weight_bytes_per_token / gb, r.cache_bytes_per_token / gb,
              r.experts_per_layer);
  const std::string huge = r.bw.huge_fraction >= 0 ? fmt::format(", {:.0f} % in huge pages", 100 * r.bw.huge_fraction)
                           : r.bw.huge_pages ? ", huge pages advised" : "";
  std::printf("read bandwidth %9.2f GB/s (%d threads, %.0f MiB%s, best of %d twice)\n", r.bw.gbs, r.bw.threads,
              double(r.bw.bytes) / (1 << 20), huge.c_str(), r.bw.runs);
  std::printf("peak FLOP/s    %9.2f GFLOP/s (%s, %d threads)\n", r.peak.gflops, r.peak.instruction, r.peak.threads);
  if (r.int8_experts || r.int8_rows)
    std::printf("peak int8      %9.2f Gop/s   (%s, %d threads: the integer kernels%s%s)\n", r.peak_i8.gflops,
                r.peak_i8.instruction, r.peak_i8.threads, r.int8_experts ? ", FP4 experts" : "",
                r.int8_rows ? ", int8 rows" : "");
  if (r.repacked_bytes > 0)
    std::printf("int8 rows      %9.1f MiB     (FP8 linears and the head repacked at load%s)\n",
                double(r.repacked_bytes) / (1 << 20), r.int8_rows ? "" : "; not read in this mode");
  std::printf("GEMM probe     %9.2f GFLOP/s (bf16 linear, 128 x 4096 x 2048)\n", r.gemm_probe_gflops);
  std::printf("decode_bw_ratio     %.3f\nprefill_flops_ratio %.3f\n", r.decode_bw_ratio, r.prefill_flops_ratio);
  std::printf("overhead       %9.3f ms per decode step, %.1f %% of it outside the weight-streaming calls\n",
              r.overhead_s * 1e3, 100.0 * r.overhead_fraction);
  std::printf("\nroofline       tokens   ms/step    MB/step  GFLOP/step  roofline ms  ratio  bound\n");
  const std::pair<std::string, const runtime::StepRoofline*> steps[] = {
      {"decode", &r.decode_step}, {"verify 2", &r.verify2}, {"verify 4", &r.verify4},
      {"batch " + std::to_string(o.batch), &r.batch_step}, {"prefill", &r.prefill_step}};
  for (const auto& [name, s] : steps)
    std::printf("  %-10s %8.0f %9.2f %10.1f %11.3f %12.2f %6.3f  %s\n", name.c_str(), s->tokens, s->seconds * 1e3,
                s->bytes / 1e6, s->flops / 1e9, s->roofline_s * 1e3, s->ratio, s->bound());
  std::printf("\nms per decode step    batch 1   (main thread CPU)   batch %-5d   prefill (whole)\n", o.batch);
  double t1 = 0, tb = 0, tp = 0;
  for (size_t f = 0; f < r.decode_op_s.size(); ++f) {
    std::printf("  %-16s %9.3f   %9.3f        %9.3f     %9.3f\n", std::string(dsv4::kOpFamilyNames[f]).c_str(),
                r.decode_op_s[f] * 1e3, r.decode_op_cpu_s[f] * 1e3, r.batch_op_s[f] * 1e3, r.prefill_op_s[f] * 1e3);
    t1 += r.decode_op_s[f];
    tb += r.batch_op_s[f];
    tp += r.prefill_op_s[f];
  }
  std::printf("  %-16s %9.3f                     %9.3f     %9.3f\n", "other", (1.0 / r.decode_tok_s - t1) * 1e3,
              (double(o.batch) / r.batch_decode_tok_s - tb) * 1e3, (r.prefill_s - tp) * 1e3);
  // Which families read at what rate: their bytes over their own wall time, against the probe.
  std::printf("\nbatch 1 reads        MB/token      GB/s   of probe\n");
  for (size_t f = 0; f < r.decode_op_bytes.size(); ++f) {
    if (r.decode_op_bytes[f] <= 0) continue;
    const double rate = r.decode_op_s[f] > 0 ? r.decode_op_bytes[f] / r.decode_op_s[f] / gb : 0.0;
    std::printf("  %-16s %9.2f %9.2f %9.2f\n", std::string(dsv4::kOpFamilyNames[f]).c_str(),
                r.decode_op_bytes[f] / 1e6, rate, rate / r.bw.gbs);
  }
  return 0;
}

// Prompts for the speculative bench: JSON lines, each an OpenAI chat request ({"messages": [...],
// optional "tools", "chat_template_kwargs", ...}, rendered with the DeepSeek-V4 chat encoder) or
// {"prompt": "raw text"}; tokenized with the model's tokenizer.json.
Result<std::vector<std::vector<int32_t>>> load_prompts(const std::string& file, const std::string& model_dir) {
  std::ifstream in(file);
  if (!in) return Status::error("cannot open --prompts file " + file);
  TACHYON_ASSIGN_OR_RETURN(std::unique_ptr<tok::Tokenizer> tk, tok::Tokenizer::load(model_dir));
  std::vector<std::vector<int32_t>> out;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    auto fail_at = [&](const std::string& m) { return Status::error(file + ":" + std::to_string(n) + ": " + m); };
    auto j = chat::parse_json_exact(line);
    if (!j.is_ok()) return fail_at(j.status().message());
    std::string text;
    if (const auto p = j->find("prompt"); p != j->end()) {
      if (!p->is_string()) return fail_at("\"prompt\" must be a string");
      text = p->get<std::string>();
    } else {
      auto enc = chat::encode_chat_request(*j);
      if (!enc.is_ok()) return fail_at(enc.status().message());
      text = enc->prompt;
    }
    out.push_back(tk->encode(text));
    if (out.back().empty()) return fail_at("empty prompt");
  }
  if (out.empty()) return Status::error("--prompts file " + file + " has no prompts");
  return out;
}

double per_token_ms(double seconds, int64_t tokens) { return tokens > 0 ? 1e3 * seconds / double(tokens) : 0.0; }

// Where a decode step goes, without speculation and with it (its verification forward and MTP passes).
void print_spec_steps(const runtime::SpecRun& plain, const runtime::SpecRun& spec) {
  std::printf("\nms per decode step    plain    verify      MTP\n");
  for (size_t f = 0; f < plain.forward_op_s.size(); ++f)
    std::printf("  %-16s %9.3f %9.3f %9.3f\n", std::string(dsv4::kOpFamilyNames[f]).c_str(), plain.forward_op_s[f] * 1e3,
                spec.forward_op_s[f] * 1e3, spec.mtp_op_s[f] * 1e3);
  auto sum = [](const auto& a) {
    double s = 0;
    for (double v : a) s += v;
    return s;
  };
  std::printf("  %-16s %9.3f %9.3f %9.3f\n", "other", (plain.forward_s - sum(plain.forward_op_s)) * 1e3,
              (spec.forward_s - sum(spec.forward_op_s)) * 1e3, (spec.mtp_s - sum(spec.mtp_op_s)) * 1e3);
  std::printf("  %-16s %9.3f %9.3f %9.3f\n", "pass", plain.forward_s * 1e3, spec.forward_s * 1e3, spec.mtp_s * 1e3);
  std::printf("  whole step       %9.3f %9.3f           (%lld and %lld steps)\n", plain.step_s * 1e3, spec.step_s * 1e3,
              static_cast<long long>(plain.steps), static_cast<long long>(spec.steps));
}

int run_spec(const BenchOpts& o) {
  runtime::SpecBenchOptions so;
  so.engine.model_dir = o.model;
  so.engine.threads = o.threads;
  so.engine.numerics = o.numerics;
  so.engine.kv_cache_dtype = o.kv_cache_dtype;
  so.engine.isa = o.isa;
  so.k = o.speculative_tokens;
  so.engine.spec_draft_head = o.spec_draft_head;
  so.engine.greedy_head = o.greedy_head;
  so.max_tokens = o.gen_len;
  so.rounds = o.spec_rounds;
  if (!o.prompts_file.empty()) {
    auto p = load_prompts(o.prompts_file, o.model);
    if (!p.is_ok()) return fail(p.status());
    so.prompts = std::move(p).value();
  } else {  // random ids: acceptance shows the overhead on models without a trained MTP head
    auto cfg = ModelConfig::load(o.model);  // the engines load the weights
    if (!cfg.is_ok()) return fail(cfg.status());
    std::mt19937_64 rng(o.seed);
    std::uniform_int_distribution<int32_t> id(0, int32_t(cfg->vocab_size) - 1);
    for (int i = 0; i < o.spec_prompts; ++i) {
      so.prompts.emplace_back(size_t(o.prompt_len));
      for (int32_t& t : so.prompts.back()) t = id(rng);
    }
    so.ignore_eos = true;
  }
  auto r = runtime::run_spec_bench(so);
  if (!r.is_ok()) return fail(r.status());
  if (o.json) {
    nlohmann::ordered_json j;
    j["speculative_tokens"] = o.speculative_tokens;
    j["spec_draft_head"] = o.spec_draft_head;
    j["greedy_head"] = o.greedy_head;
    j["prompts"] = so.prompts.size();
    j["max_tokens"] = o.gen_len;
    j["rounds"] = o.spec_rounds;
    j["decode_tok_s_without_spec"] = r->plain.decode_tok_s;
    j["decode_tok_s_with_spec"] = r->spec.decode_tok_s;
    j["spec_speedup"] = r->speedup;
    j["decode_cpu_ms_per_token_without_spec"] = per_token_ms(r->plain.decode_cpu_s, r->plain.tokens);
    j["decode_cpu_ms_per_token_with_spec"] = per_token_ms(r->spec.decode_cpu_s, r->spec.tokens);
    j["spec_speedup_cpu"] = r->cpu_speedup;
    j["acceptance_rate"] = r->acceptance_rate;
    j["mean_accepted_len"] = r->mean_accepted_len;
    j["speedup_vs_ideal"] = r->mean_accepted_len > 0 ? r->speedup / r->mean_accepted_len : 0.0;
    j["drafts"] = r->spec.drafts;
    j["draft_tokens"] = r->spec.draft_tokens;
    j["accepted_tokens"] = r->spec.accepted_tokens;
    j["decoded_tokens"] = r->spec.tokens;
    j["greedy_mismatched_prompts"] = r->mismatched_prompts;
    j["step_ms_without_spec"] = r->plain.step_s * 1e3;
    j["step_ms_with_spec"] = r->spec.step_s * 1e3;
    j["verify_forward_ms"] = r->spec.forward_s * 1e3;
    j["mtp_ms"] = r->spec.mtp_s * 1e3;
    j["step_ms_by_family"] = {{"plain_forward", op_times(r->plain.forward_op_s)},
                              {"verify_forward", op_times(r->spec.forward_op_s)},
                              {"mtp", op_times(r->spec.mtp_op_s)}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%zu prompts, up to %lld tokens each, greedy, batch 1, k = %d\n", so.prompts.size(),
                static_cast<long long>(o.gen_len), o.speculative_tokens);
    std::printf("decode without speculation %9.2f tok/s  (%lld tokens)\n", r->plain.decode_tok_s,
                static_cast<long long>(r->plain.tokens));
    std::printf("decode with speculation    %9.2f tok/s  (%lld tokens)  x%.3f\n", r->spec.decode_tok_s,
                static_cast<long long>(r->spec.tokens), r->speedup);
    std::printf("decode CPU time            %9.3f -> %.3f ms/token  x%.3f\n",
                per_token_ms(r->plain.decode_cpu_s, r->plain.tokens), per_token_ms(r->spec.decode_cpu_s, r->spec.tokens),
                r->cpu_speedup);
    std::printf("acceptance                 %9.3f  (%lld of %lld drafts)\n", r->acceptance_rate,
                static_cast<long long>(r->spec.accepted_tokens), static_cast<long long>(r->spec.draft_tokens));
    std::printf("mean accepted length       %9.3f tokens per step (ideal speed-up); achieved %.0f %% of it\n",
                r->mean_accepted_len, r->mean_accepted_len > 0 ? 100.0 * r->speedup / r->mean_accepted_len : 0.0);
    std::printf("greedy outputs differing   %9lld prompts\n", static_cast<long long>(r->mismatched_prompts));
    print_spec_steps(r->plain, r->spec);
  }
  return r->mismatched_prompts == 0 ? 0 : fail(Status::error("speculation changed greedy output"));
}

}  // namespace

void add_bench(CLI::App& app, Action& action) {
  auto o = std::make_shared<BenchOpts>();
  CLI::App* c = app.add_subcommand("bench", "Measure prefill/decode speed against memory bandwidth and GEMM rate");
  c->add_option("--model", o->model, "Checkpoint folder")->required();
  c->add_option("--prompt-len", o->prompt_len, "Prompt tokens (random ids)")->capture_default_str();
  c->add_option("--gen-len", o->gen_len, "Decode steps")->capture_default_str();
  c->add_option("--batch", o->batch, "Sequences decoded together in the batched run")->capture_default_str();
  c->add_option("--threads", o->threads, "Compute threads (0 = all cores)")->capture_default_str();
  c->add_option("--seed", o->seed, "Seed of the random token ids")->capture_default_str();
  add_numerics_option(c, &o->numerics);
  add_kv_cache_dtype_option(c, &o->kv_cache_dtype);
  add_isa_option(c, &o->isa);
  auto* probe_bytes = c->add_option("--probe-bytes", o->probe_bytes,
                                    "Bandwidth probe buffer: bytes, or with K, M or G (binary multiples)")
                          ->capture_default_str();
  c->add_option("--probe-mib", o->probe_mib, "Bandwidth probe buffer in MiB (instead of --probe-bytes)")
      ->excludes(probe_bytes);
  c->add_option("--svg", o->svg, "Also write the roofline of the run as an SVG file");
  c->add_flag("--json", o->json, "Print one JSON object");
  c->add_option("--speculative-tokens", o->speculative_tokens,
                "Instead: decode tok/s with and without MTP speculation drafting this many tokens per step")
      ->check(CLI::Range(0, 16));
  c->add_option("--prompts", o->prompts_file,
                "With --speculative-tokens: JSON lines of chat requests or {\"prompt\": text} (else random ids)");
  c->add_option("--spec-rounds", o->spec_rounds,
                "With --speculative-tokens: times each prompt is decoded by each engine (they take turns)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  c->add_option("--spec-draft-head", o->spec_draft_head, "With --speculative-tokens: draft logits from int8 or bf16")
      ->capture_default_str()
      ->check(CLI::IsMember({"int8", "bf16"}));
  c->add_option("--greedy-head", o->greedy_head,
                "With --speculative-tokens: both engines take greedy tokens from the int8 screen or the bf16 head")
      ->capture_default_str()
      ->check(CLI::IsMember({"int8", "bf16"}));
  c->add_option("--spec-prompts", o->spec_prompts, "With --speculative-tokens and no --prompts: random prompts")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  action_on(c, action, [o]() -> int {
    if (o->prompt_len < 1) return fail(Status::error("--prompt-len must be at least 1"));
    if (o->gen_len < 1) return fail(Status::error("--gen-len must be at least 1"));
    if (o->batch < 1) return fail(Status::error("--batch must be at least 1"));
    if (o->threads < 0) return fail(Status::error("--threads must be 0 (all cores) or positive"));
    int64_t probe_bytes = parse_size(o->probe_bytes);
    if (o->probe_mib != 0) {
      if (o->probe_mib < 1 || o->probe_mib > (int64_t(256) << 10))
        return fail(Status::error("--probe-mib must be between 1 and 262144"));
      probe_bytes = o->probe_mib << 20;
    } else if (probe_bytes < (int64_t(32) << 10) || probe_bytes > (int64_t(256) << 30)) {
      return fail(Status::error("--probe-bytes must be a size from 32K to 256G (e.g. 2G, 512M, 65536), got '" +
                                o->probe_bytes + "'"));
    }
    if (o->speculative_tokens > 0) return run_spec(*o);
    if (!o->prompts_file.empty()) return fail(Status::error("--prompts needs --speculative-tokens"));
    auto ms = open_model(o->model, o->threads, o->numerics, o->kv_cache_dtype, o->isa, {});
    if (!ms.is_ok()) return fail(ms.status());
    runtime::BenchOptions bo;
    bo.prompt_len = o->prompt_len;
    bo.gen_len = o->gen_len;
    bo.batch = o->batch;
    bo.seed = o->seed;
    bo.probe_bytes = probe_bytes;
    auto r = runtime::run_bench(*ms->model, *ms->ck, ms->ctx, bo);
    if (!r.is_ok()) return fail(r.status());
    if (!o->svg.empty()) {
      runtime::RooflineInfo info;
      const std::filesystem::path dir = std::filesystem::path(o->model).lexically_normal();
      info.model = (dir.has_filename() ? dir : dir.parent_path()).filename().string();  // "m/" -> "m"
      const std::time_t now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
      std::tm tm{};
      gmtime_r(&now, &tm);
      char date[16];
      std::strftime(date, sizeof date, "%Y-%m-%d", &tm);
      info.date = date;
      std::ofstream f(o->svg, std::ios::binary | std::ios::trunc);
      f << runtime::roofline_svg(*r, info);
      if (!f.good()) return fail(Status::error("cannot write --svg file " + o->svg));
    }
    return o->json ? report_json(*o, *r) : report_text(*o, *r);
  });
}

}  // namespace tachyon::cli
