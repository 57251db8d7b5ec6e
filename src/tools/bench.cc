#include "tools/bench.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "core/dtype.h"
#include "model/deepseek_v4/repack.h"
#include "tools/traffic.h"

namespace tachyon::runtime {

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::array<int64_t, 2> kVerifyTokens = {2, 4};  // the verify steps' new tokens

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// Reads one byte of every page of every tensor the run reads, so that no timed forward pays for page
// faults. With int8 rows the repacked tensors are read in their new form (made, so touched, at load), and
// the mapped originals are left out: faulting them in again would only undo repack_int8's release.
uint64_t touch_weights(const dsv4::Checkpoint& ck, bool int8_rows) {
  uint64_t s = 0;
  dsv4::for_each_tensor(ck.config, nullptr, [&](dsv4::TensorSlot& slot) {
    const TensorInfo* t = ck.store.find(slot.name);
    if (!t || (int8_rows && slot.int8_repack)) return;
    const volatile uint8_t* p = t->data;
    for (size_t i = 0; i < t->nbytes; i += 4096) s += p[i];
  });
  return s;
}

std::vector<int32_t> random_tokens(std::mt19937_64& rng, int64_t n, int vocab) {
  std::uniform_int_distribution<int32_t> d(0, vocab - 1);
  std::vector<int32_t> v(static_cast<size_t>(n));
  for (auto& t : v) t = d(rng);
  return v;
}

// Profile of one forward; returns the distinct experts per main layer it ran.
struct StepCounters {
  std::vector<int64_t> experts;
  int64_t total_experts() const {
    int64_t s = 0;
    for (int64_t e : experts) s += e;
    return s;
  }
};

// Adds a family split to a running sum.
template <typename A, typename B>
void add_to(A& sum, const B& v, double times = 1) {
  for (size_t f = 0; f < sum.size(); ++f) sum[f] += times * double(v[f]);
}

}  // namespace

void apply_roofline(StepRoofline& s, double bw_gbs, double peak_gflops, double peak_i8_gflops) {
  s.memory_s = bw_gbs > 0 ? s.bytes / (bw_gbs * 1e9) : 0.0;
  const double i8 = peak_i8_gflops > 0 ? s.flops_i8 : 0.0;
  s.compute_s = (peak_gflops > 0 ? (s.flops - i8) / (peak_gflops * 1e9) : 0.0) +
                (peak_i8_gflops > 0 ? i8 / (peak_i8_gflops * 1e9) : 0.0);
  s.compute_bound = s.compute_s > s.memory_s;
  s.roofline_s = std::max(s.memory_s, s.compute_s);
  s.ratio = s.seconds > 0 ? s.roofline_s / s.seconds : 0.0;
}

double measure_gemm_peak(const ops::OpContext& ctx, int64_t m, int64_t n, int64_t k, int runs) {
  std::mt19937_64 rng(7);
  std::normal_distribution<float> d(0.0f, 1.0f);
  std::vector<uint16_t> w(size_t(n * k));
  for (auto& v : w) v = f32_to_bf16(d(rng));
  std::vector<float> x(size_t(m * k)), y(size_t(m * n));
  for (auto& v : x) v = d(rng);
  cpu::WeightView view;
  view.fmt = cpu::WFormat::kBF16;
  view.n = n;
  view.k = k;
  view.data = w.data();
  ops::linear(ctx, x.data(), m, view, y.data());  // warm-up
  double best = 0;
  for (int r = 0; r < std::max(runs, 1); ++r) {
    const auto t0 = clock_type::now();
    ops::linear(ctx, x.data(), m, view, y.data());
    best = std::max(best, 2.0 * double(m) * double(n) * double(k) / seconds_since(t0) / 1e9);
  }
  return best;
}

Result<BenchResult> run_bench(dsv4::Model& model, const dsv4::Checkpoint& ck, const dsv4::ModelContext& base_ctx,
                              const BenchOptions& opt) {
  const ModelConfig& cfg = model.config();
  if (opt.prompt_len < 1 || opt.gen_len < 1 || opt.batch < 1)
    return error("bench: prompt length, generation length and batch must be positive");
  const int64_t longest = opt.prompt_len + std::max<int64_t>(opt.gen_len, kVerifyTokens[1]);
  if (longest > cfg.max_position_embeddings)
    return error("bench: prompt + generation length {} (at least prompt + {} for the verify steps) exceeds "
                 "max_position_embeddings {}",
                 longest, kVerifyTokens[1], cfg.max_position_embeddings);
  BenchResult r;
  r.threads = base_ctx.ops.pool ? base_ctx.ops.pool->size() : 1;
  // The fast numerics' int8 rows (repack.h), when they run: the bytes a step reads are theirs.
  r.int8_rows = dsv4::wants_int8_rows(base_ctx) && ck.weights.head_i8 != nullptr;
  for (const dsv4::I8Rows& rows : ck.repacked) r.repacked_bytes += rows.buf.size();
  const dsv4::TrafficModel traffic(cfg, model.pools().kv_entry_bytes(), model.pools().indexer_entry_bytes(),
                                   r.int8_rows);
  r.cache_format = dsv4::cache_format_name(model.pools().format());
  r.isa = cpu::isa_name(base_ctx.ops.isa());
  r.numerics = std::string(base_ctx.numerics.name());
  dsv4::Profile prof;
  dsv4::ModelContext ctx = base_ctx;
  ctx.profile = &prof;
  ctx.trace = nullptr;
  std::mt19937_64 rng(opt.seed);
  dsv4::ForwardOutput out;
  auto forward = [&](std::span<const dsv4::SeqInput> in) {
    prof.experts_run.clear();
    model.forward(ctx, in, out);
    return StepCounters{prof.experts_run};
  };
  // The routed experts run the integer FP4 kernel (layers.h int8_kernel: fast numerics, FP4 experts, a set
  // with the kernel), and with int8 rows so do the FP8 linears and the head; their FLOPs then go at
  // vpdpbusd's rate.
  r.int8_experts = dsv4::wants_int8_rows(ctx) && cfg.expert_fp4;
  // The integer kernels' share of a step's FLOPs: experts (family flops), the int8 rows of n tokens and
  // the head's `head` FLOPs.
  auto int8_share = [&](const dsv4::FamilyFlops& f, int64_t n, double head) {
    double s = r.int8_experts ? double(f[size_t(dsv4::OpFamily::kExperts)]) : 0.0;
    if (r.int8_rows) s += double(n) * double(traffic.token_int8_row_flops()) + head;
    return s;
  };
  // Adds the FLOPs of n new tokens of one sequence from position pos, with `rows` logits rows, to `s`.
  auto add_span_flops = [&](StepRoofline& s, int64_t pos, int64_t n, int64_t rows) {
    s.flops += double(traffic.head_flops(rows));
    s.flops_i8 += int8_share({}, 0, double(traffic.head_flops_by_family(rows)[size_t(dsv4::OpFamily::kHead)]));
    for (int64_t i = 0; i < n; ++i) {
      const dsv4::FamilyFlops f = traffic.token_flops_by_family(pos + i);
      for (int64_t v : f) s.flops += double(v);
      s.flops_i8 += int8_share(f, 1, 0.0);
    }
  };

  // Warm-up: fault in every weight page, then one short forward (first-call allocations).
  (void)touch_weights(ck, r.int8_rows);
  {
    dsv4::SequenceState s = model.pools().new_sequence();
    const auto toks = random_tokens(rng, std::min<int64_t>(opt.prompt_len, 8), cfg.vocab_size);
    dsv4::SeqInput in{&s, toks, false};
    forward({&in, 1});
    model.pools().release(s);
  }

  const ThreadPool one(1);
  const ThreadPool& pool = ctx.ops.pool ? *ctx.ops.pool : one;
  auto probe = [&] {
    const cpu::BandwidthProbe bw = cpu::measure_read_bandwidth(pool, opt.probe_bytes, opt.probe_runs, *ctx.ops.k);
    if (bw.gbs > r.bw.gbs) r.bw = bw;
    const cpu::PeakProbe peak = cpu::measure_peak_flops(pool, opt.probe_runs, *ctx.ops.k);
    if (peak.gflops > r.peak.gflops) r.peak = peak;
    if (r.int8_experts || r.int8_rows) {
      const cpu::PeakProbe i8 = cpu::measure_peak_i8(pool, opt.probe_runs, *ctx.ops.k);
      if (i8.gflops > r.peak_i8.gflops) r.peak_i8 = i8;
    }
    r.gemm_probe_gflops = std::max(r.gemm_probe_gflops, measure_gemm_peak(ctx.ops));
  };
  probe();

  // ---- prefill ----
  dsv4::SequenceState seq = model.pools().new_sequence();
  const auto prompt = random_tokens(rng, opt.prompt_len, cfg.vocab_size);
  {
    dsv4::SeqInput in{&seq, prompt, false};
    prof.clear();
    const auto t0 = clock_type::now();
    const StepCounters c = forward({&in, 1});
    r.prefill_s = seconds_since(t0);
    r.prefill_op_s = prof.seconds;
    r.prefill_step = {r.prefill_s, double(opt.prompt_len),
                      double(traffic.step_weight_bytes(c.experts, opt.prompt_len) +
                             traffic.cache_read_bytes(opt.prompt_len - 1))};
  }
  r.prefill_tok_s = double(opt.prompt_len) / r.prefill_s;
  for (int64_t p = 0; p < opt.prompt_len; ++p) r.prefill_flops += traffic.token_flops(p);
  r.prefill_flops += traffic.head_flops(1);
  add_span_flops(r.prefill_step, 0, opt.prompt_len, 1);

  // ---- verify steps: k new tokens of the prompted sequence, rolled back after each ----
  for (size_t v = 0; v < kVerifyTokens.size(); ++v) {
    const int64_t k = kVerifyTokens[v];
    StepRoofline& st = v == 0 ? r.verify2 : r.verify4;
    st.tokens = double(k);
    add_span_flops(st, opt.prompt_len, k, k);
    for (int64_t i = 0; i < opt.gen_len; ++i) {
      const auto toks = random_tokens(rng, k, cfg.vocab_size);
      dsv4::SpecLog log;
      seq.spec = &log;
      dsv4::SeqInput in{&seq, toks, true};
      const auto t0 = clock_type::now();
      const StepCounters c = forward({&in, 1});
      st.seconds += seconds_since(t0);
      st.bytes += double(traffic.step_weight_bytes(c.experts, k) + traffic.cache_read_bytes(opt.prompt_len + k - 1));
      model.pools().rollback(seq, opt.prompt_len);
      seq.spec = nullptr;
    }
    st.seconds /= double(opt.gen_len);
    st.bytes /= double(opt.gen_len);
  }

  // ---- decode, batch 1 ----
  prof.clear();
  double weight_bytes = 0, cache_bytes = 0, experts = 0;
  const double cpu0 = dsv4::process_cpu_seconds();
  for (int64_t i = 0; i < opt.gen_len; ++i) {
    const int32_t tok = random_tokens(rng, 1, cfg.vocab_size)[0];
    const int64_t pos = seq.pos;
    dsv4::SeqInput in{&seq, std::span<const int32_t>(&tok, 1), false};
    const auto t0 = clock_type::now();
    const StepCounters c = forward({&in, 1});
    r.decode_s += seconds_since(t0);
    const dsv4::FamilyBytes fb = traffic.step_weight_bytes_by_family(c.experts, 1);
    const double cb = double(traffic.cache_read_bytes(pos));
    add_to(r.decode_op_bytes, fb);
    for (int64_t b : fb) weight_bytes += double(b);
    cache_bytes += cb;
    r.decode_op_bytes[size_t(dsv4::OpFamily::kAttention)] += cb;
    add_to(r.decode_op_flops, traffic.token_flops_by_family(pos));
    add_to(r.decode_op_flops, traffic.head_flops_by_family(1));
    experts += double(c.total_experts());
  }
  r.decode_cpu_s = dsv4::process_cpu_seconds() - cpu0;
  model.pools().release(seq);
  const double steps = double(opt.gen_len);
  r.decode_tok_s = steps / r.decode_s;
  r.weight_bytes_per_token = weight_bytes / steps;
  r.cache_bytes_per_token = cache_bytes / steps;
  r.bytes_per_token = r.weight_bytes_per_token + r.cache_bytes_per_token;
  r.experts_per_layer = experts / steps / cfg.num_hidden_layers;
  for (size_t f = 0; f < r.decode_op_s.size(); ++f) {
    r.decode_op_s[f] = prof.seconds[f] / steps;
    r.decode_op_cpu_s[f] = prof.cpu_seconds[f] / steps;
    r.decode_op_bytes[f] /= steps;
    r.decode_op_flops[f] /= steps;
  }
  r.decode_weight_s = prof.weight_seconds / steps;
  r.overhead_s = r.decode_s / steps - r.decode_weight_s;
  r.overhead_fraction = r.overhead_s / (r.decode_s / steps);
  r.decode_step = {r.decode_s / steps, 1.0, r.bytes_per_token};
  for (double f : r.decode_op_flops) r.decode_step.flops += f;
  {
    dsv4::FamilyFlops f{};
    f[size_t(dsv4::OpFamily::kExperts)] = int64_t(r.decode_op_flops[size_t(dsv4::OpFamily::kExperts)]);
    r.decode_step.flops_i8 = int8_share(f, 1, r.decode_op_flops[size_t(dsv4::OpFamily::kHead)]);
  }

  // ---- decode, batch B ----
  {
    const size_t B = size_t(opt.batch);
    std::vector<dsv4::SequenceState> seqs;
    for (size_t b = 0; b < B; ++b) seqs.push_back(model.pools().new_sequence());
    std::vector<std::vector<int32_t>> toks(B);
    std::vector<dsv4::SeqInput> in(B);
    for (size_t b = 0; b < B; ++b) {
      toks[b] = random_tokens(rng, opt.prompt_len, cfg.vocab_size);
      in[b] = {&seqs[b], toks[b], false};
    }
    forward(in);  // prefill every sequence together
    prof.clear();
    double bytes = 0, ex = 0;
    StepRoofline& st = r.batch_step;
    for (int64_t i = 0; i < opt.gen_len; ++i) {
      for (size_t b = 0; b < B; ++b) {
        toks[b] = random_tokens(rng, 1, cfg.vocab_size);
        bytes += double(traffic.cache_read_bytes(seqs[b].pos));
        add_span_flops(st, seqs[b].pos, 1, 1);
        in[b] = {&seqs[b], toks[b], false};
      }
      const auto t0 = clock_type::now();
      const StepCounters c = forward(in);
      r.batch_decode_s += seconds_since(t0);
      bytes += double(traffic.step_weight_bytes(c.experts, int64_t(B)));
      ex += double(c.total_experts());
    }
    for (auto& s : seqs) model.pools().release(s);
    r.batch_decode_tok_s = double(B) * steps / r.batch_decode_s;
    r.batch_bytes_per_step = bytes / steps;
    r.batch_experts_per_layer = ex / steps / cfg.num_hidden_layers;
    for (size_t f = 0; f < r.batch_op_s.size(); ++f) r.batch_op_s[f] = prof.seconds[f] / steps;
    st.seconds = r.batch_decode_s / steps;
    st.tokens = double(B);
    st.bytes = r.batch_bytes_per_step;
    st.flops /= steps;
    st.flops_i8 /= steps;
  }

  // ---- probes and ratios ----
  // The probes run before the measurements and again after them, and keep their best: the machine's
  // rates drift during a run (other tenants), and a probe caught in a slow phase would flatter the ratios.
  probe();
  r.decode_bw_ratio = r.bytes_per_token * r.decode_tok_s / (r.bw.gbs * 1e9);
  for (StepRoofline* s : {&r.decode_step, &r.verify2, &r.verify4, &r.batch_step, &r.prefill_step})
    apply_roofline(*s, r.bw.gbs, r.peak.gflops, r.peak_i8.gflops);
  r.prefill_flops_ratio = r.prefill_step.compute_s / r.prefill_s;
  return r;
}

}  // namespace tachyon::runtime

