// `tachyon bench`: prefill and decode speed of a loaded model, where a decode step's time goes by op
// family, how many bytes a decoded token reads (traffic.h), and how each kind of step compares with its
// roofline on this machine: the read bandwidth and the peak rate of the multiply-add instruction its GEMM
// uses (cpu/probe.h).
//
//   prefill     one forward over prompt_len random token ids
//   verify k    (k = 2, 4) gen_len forwards of k new tokens of that sequence right after its prompt, each
//               rolled back afterwards (CachePools::rollback, as speculative verification does), so every
//               one sees the same context
//   decode      gen_len single-token steps continuing that sequence (batch 1)
//   batch       `batch` sequences, each prefilled with prompt_len ids in one forward, then gen_len
//               steps that decode one token of every sequence in one batched forward
//   roofline    a step's bytes (weights of the experts that ran, traffic.h; cache reads: every sequence's,
//               counted once per sequence at its last token) and FLOPs (traffic.h) give its roofline time
//               max(bytes / bandwidth, compute time); ratio = roofline time / measured time, and the step
//               is memory- or compute-bound by which term is larger. The compute time takes each FLOP at
//               the peak of the instruction that does it: the routed experts' at vpdpbusd's when they run
//               the integer FP4 kernel (fast numerics on a set with one), every other at the fp32 FMA's
//   ratios      decode_bw_ratio = bytes/token x decode tok/s / measured read bandwidth
//               prefill_flops_ratio = the prefill's compute time at those peaks / its measured time
//               (prefill FLOP/s / peak FLOP/s when one instruction does all)
//   overhead    a decode step's time outside the calls that stream weights (Profile::weight_seconds)
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/cpu/probe.h"
#include "core/status.h"
#include "model/deepseek_v4/model.h"
#include "model/deepseek_v4/profile.h"

namespace tachyon::runtime {

struct BenchOptions {
  int64_t prompt_len = 64;
  int64_t gen_len = 16;
  int batch = 8;
  uint64_t seed = 1;
  int64_t probe_bytes = int64_t(2) << 30;  // bandwidth probe buffer
  int probe_runs = 5;                       // passes per probe (the probes run before and after)
};

// One kind of step against its roofline (per step; bytes and FLOPs from traffic.h).
struct StepRoofline {
  double seconds = 0;     // measured wall time
  double tokens = 0;      // new tokens
  double bytes = 0;       // weights and cache read
  double flops = 0;
  double flops_i8 = 0;    // of flops, those the integer dot product does (the routed experts, fast numerics)
  double memory_s = 0;    // bytes / bandwidth
  double compute_s = 0;   // (flops - flops_i8) / peak + flops_i8 / peak_i8
  double roofline_s = 0;  // max(memory_s, compute_s)
  double ratio = 0;       // roofline_s / seconds
  bool compute_bound = false;
  const char* bound() const { return compute_bound ? "compute" : "memory"; }
};
// Fills the roofline fields of `s` from the probes' rates (GB/s, GFLOP/s; peak_i8 0: flops_i8 at peak).
void apply_roofline(StepRoofline& s, double bw_gbs, double peak_gflops, double peak_i8_gflops = 0);

struct BenchResult {
  int threads = 0;
  std::string cache_format;  // the attention cache's entries (cache_format_name)
  std::string isa;           // the CPU kernels' instruction set (cpu::isa_name)
  std::string numerics;      // the numeric mode that ran (Numerics::name)
  // prefill
  double prefill_s = 0, prefill_tok_s = 0;
  int64_t prefill_flops = 0;
  std::array<double, size_t(dsv4::OpFamily::kCount)> prefill_op_s{};  // wall
  // decode, batch 1
  double decode_s = 0, decode_tok_s = 0, decode_cpu_s = 0;  // cpu: process CPU time
  double weight_bytes_per_token = 0, cache_bytes_per_token = 0, bytes_per_token = 0;
  double experts_per_layer = 0;  // distinct routed experts per layer and step
  std::array<double, size_t(dsv4::OpFamily::kCount)> decode_op_s{};      // per step, wall
  std::array<double, size_t(dsv4::OpFamily::kCount)> decode_op_cpu_s{};  // per step, calling thread's CPU
  // Bytes per step by family: weights (traffic.h), plus the cache reads under attention.
  std::array<double, size_t(dsv4::OpFamily::kCount)> decode_op_bytes{};
  std::array<double, size_t(dsv4::OpFamily::kCount)> decode_op_flops{};  // per step
  // Per step: wall time inside the calls that stream weights, and the rest (overhead_s = step - weight).
  double decode_weight_s = 0, overhead_s = 0, overhead_fraction = 0;
  // decode, batch B
  double batch_decode_s = 0, batch_decode_tok_s = 0;
  double batch_bytes_per_step = 0, batch_experts_per_layer = 0;
  std::array<double, size_t(dsv4::OpFamily::kCount)> batch_op_s{};  // per step
  // steps against their roofline
  StepRoofline decode_step, verify2, verify4, batch_step, prefill_step;
  // probes and ratios
  cpu::BandwidthProbe bw;
  cpu::PeakProbe peak;            // the fp32 multiply-add instruction the set's GEMMs use
  cpu::PeakProbe peak_i8;         // vpdpbusd, when integer kernels run (int8_experts or int8_rows; else empty)
  bool int8_experts = false;      // the routed experts run the integer FP4 kernel (fast numerics)
  bool int8_rows = false;         // the FP8 linears and the head run as int8 rows (fast numerics, repack.h)
  int64_t repacked_bytes = 0;     // memory of the int8 rows the checkpoint holds
  double gemm_probe_gflops = 0;   // ops::linear on a compute-bound bf16 shape (measure_gemm_peak)
  double decode_bw_ratio = 0, prefill_flops_ratio = 0;
};

// Best-of-`runs` rate of ops::linear on a compute-bound bf16 shape (m tokens x n x k), in GFLOP/s.
double measure_gemm_peak(const ops::OpContext& ctx, int64_t m = 128, int64_t n = 4096, int64_t k = 2048,
                         int runs = 3);

// Runs the benchmark. Sequences are released before it returns.
Result<BenchResult> run_bench(dsv4::Model& model, const dsv4::Checkpoint& ck, const dsv4::ModelContext& ctx,
                              const BenchOptions& opt);

}  // namespace tachyon::runtime
