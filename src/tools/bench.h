// `tachyon bench`: prefill and decode speed of a loaded model, where a decode step's time goes by op
// family, how many bytes a decoded token reads (traffic.h), and how that compares with what this
// machine's memory and fastest GEMM kernel can do (cpu/probe.h, measure_gemm_peak).
//
//   prefill     one forward over prompt_len random token ids
//   decode      gen_len single-token steps continuing that sequence (batch 1)
//   batch       `batch` sequences, each prefilled with prompt_len ids in one forward, then gen_len
//               steps that decode one token of every sequence in one batched forward
//   ratios      decode_bw_ratio = bytes/token x decode tok/s / measured read bandwidth
//               prefill_flops_ratio = prefill FLOP/s / peak GEMM FLOP/s
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
  int64_t probe_bytes = int64_t(1) << 30;  // bandwidth probe buffer
  int probe_runs = 3;
};

struct BenchResult {
  int threads = 0;
  std::string cache_format;  // the attention cache's entries (cache_format_name)
  std::string isa;           // the CPU kernels' instruction set (cpu::isa_name)
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
  // decode, batch B
  double batch_decode_s = 0, batch_decode_tok_s = 0;
  double batch_bytes_per_step = 0, batch_experts_per_layer = 0;
  std::array<double, size_t(dsv4::OpFamily::kCount)> batch_op_s{};  // per step
  // probes and ratios
  cpu::BandwidthProbe bw;
  double peak_gemm_gflops = 0;
  double decode_bw_ratio = 0, prefill_flops_ratio = 0;
};

// Best-of-`runs` rate of ops::linear on a compute-bound bf16 shape (m tokens x n x k), in GFLOP/s.
double measure_gemm_peak(const ops::OpContext& ctx, int64_t m = 128, int64_t n = 4096, int64_t k = 2048,
                         int runs = 3);

// Runs the benchmark. Sequences are released before it returns.
Result<BenchResult> run_bench(dsv4::Model& model, const dsv4::Checkpoint& ck, const dsv4::ModelContext& ctx,
                              const BenchOptions& opt);

}  // namespace tachyon::runtime
