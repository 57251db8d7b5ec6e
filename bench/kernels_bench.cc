// Micro-benchmarks of the CPU kernels, one run per kernel set this CPU has (the name's last part: scalar,
// avx2, avx512, avx512-vnni): single-token GEMV (the decode-time case) over FP8, FP4 and BF16 weights,
// small batches and prefill-sized GEMMs, fake quantisation, attention, the int8 screening dot product,
// the Lightning-indexer scores, and the decode-plus-FMA ceiling of the AVX2 and AVX-512 weight decoders.
// Linear benchmarks report bytes_per_second = weight bytes streamed per call (the memory-bound figure).
// Single-threaded: they measure the kernels, not the thread pool. --benchmark_filter=/avx512 picks a set.
#include <benchmark/benchmark.h>

#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

#include "backends/cpu/avx512/linear_layout.h"
#include "backends/cpu/fast/linear_decode.h"
#include "backends/cpu/isa.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/linear_i8.h"

namespace {

using tachyon::cpu::Isa;
using tachyon::cpu::KernelTable;
using tachyon::WeightView;
using tachyon::WFormat;
namespace ref = tachyon::cpu::ref;
namespace fast = tachyon::cpu::fast;
namespace avx512 = tachyon::cpu::avx512;

struct Weights {
  std::vector<uint8_t> data, scale;
  WeightView view;
  int64_t bytes = 0;
};

// Random weights of shape [n, k]; FP8 codes avoid NaN, scales near 1.
Weights make(WFormat fmt, int64_t n, int64_t k) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> byte(0, 255), sc(124, 130);
  Weights w;
  switch (fmt) {
    case WFormat::kF32: w.bytes = n * k * 4; break;
    case WFormat::kBF16: w.bytes = n * k * 2; break;
    case WFormat::kFP8: w.bytes = n * k; w.scale.resize(size_t(((n + 127) / 128) * ((k + 127) / 128))); break;
    case WFormat::kFP4: w.bytes = n * k / 2; w.scale.resize(size_t(n * (k / 32))); break;
    case WFormat::kI8: w.bytes = n * ((k + 31) / 32 * 32); w.scale.resize(size_t(n * ((k + 31) / 32))); break;
    case WFormat::kFP4G: w.bytes = n * k / 2; w.scale.resize(size_t(n * (k / 32))); break;
  }
  w.data.resize(size_t(w.bytes));
  for (auto& b : w.data) b = uint8_t(byte(rng));
  if (fmt == WFormat::kFP8)
    for (auto& b : w.data) b = (b & 0x7f) == 0x7f ? 0 : b;
  if (fmt == WFormat::kBF16)  // keep the values finite and moderate: exponent near 1
    for (size_t i = 1; i < w.data.size(); i += 2) w.data[i] = uint8_t((w.data[i] & 0x80) | 0x3f);
  for (auto& s : w.scale) s = uint8_t(sc(rng));
  w.view.fmt = fmt;
  w.view.n = n;
  w.view.k = k;
  w.view.data = w.data.data();
  w.view.scale = w.scale.empty() ? nullptr : w.scale.data();
  return w;
}

void BM_linear(benchmark::State& st, const KernelTable* K, WFormat fmt, int64_t n, int64_t k) {
  const int64_t m = st.range(0);
  Weights w = make(fmt, n, k);
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  std::vector<float> x(size_t(m * k)), y(size_t(m * n));
  for (auto& v : x) v = nd(rng);
  for (auto _ : st) {
    K->linear(x.data(), m, w.view, y.data(), 0, n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * w.bytes);
  st.counters["tokens/s"] = benchmark::Counter(double(st.iterations() * m), benchmark::Counter::kIsRate);
}

// From memory rather than cache: one token against each of 24 weight matrices in turn (96-192 MB in all,
// several times the last-level cache), as a decode step reads its layers.
void BM_linear_dram(benchmark::State& st, const KernelTable* K, WFormat fmt, int64_t n, int64_t k) {
  std::vector<Weights> ws;
  for (int i = 0; i < 24; ++i) ws.push_back(make(fmt, n, k));
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  std::vector<float> x(static_cast<size_t>(k)), y(static_cast<size_t>(n));
  for (auto& v : x) v = nd(rng);
  size_t i = 0;
  for (auto _ : st) {
    K->linear(x.data(), 1, ws[i].view, y.data(), 0, n);
    i = (i + 1) % ws.size();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * ws[0].bytes);
}

// The integer kernels of the fast numerics (linear_i8.h) over int8 activations: FP4 weights and int8
// rows. `dram`: one token against 24 matrices in turn (from memory, as a decode step reads them);
// else the range's token count against one matrix. Bytes are the weight bytes read.
void BM_linear_int8(benchmark::State& st, const KernelTable* K, WFormat fmt, int64_t n, int64_t k, bool dram) {
  const int64_t m = dram ? 1 : st.range(0);
  std::vector<Weights> ws;
  for (int i = 0; i < (dram ? 24 : 1); ++i) ws.push_back(make(fmt, n, k));
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  std::vector<float> x(size_t(m * k)), y(size_t(m * n)), s(size_t(m * ((k + 31) / 32)));
  for (auto& v : x) v = nd(rng);
  std::vector<int8_t> q(size_t(m * ((k + 31) / 32 * 32)));
  K->quantize_i8(x.data(), m, k, q.data(), s.data());
  tachyon::cpu::PackedI8 p4;
  tachyon::cpu::PackedI8Rows p8;
  ref::pack_i8(q.data(), s.data(), m, k, &p4);
  ref::pack_i8_rows(q.data(), s.data(), m, k, &p8);
  size_t i = 0;
  for (auto _ : st) {
    if (fmt == WFormat::kFP4) K->linear_i8_fp4(p4, ws[i].view, y.data(), 0, n);
    else if (fmt == WFormat::kFP4G) K->linear_i8_fp4g(p8, ws[i].view, y.data(), 0, n);
    else K->linear_i8_i8(p8, ws[i].view, y.data(), 0, n);
    i = (i + 1) % ws.size();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * ws[0].bytes);
  st.counters["tokens/s"] = benchmark::Counter(double(st.iterations() * m), benchmark::Counter::kIsRate);
}

void register_int8(const KernelTable* K) {
  if (!K->native_i8) return;
  const std::string set = tachyon::cpu::isa_name(K->isa);
  for (auto [name, fmt, n, k] : {std::tuple{"fp4_256x4096", WFormat::kFP4, int64_t(256), int64_t(4096)},
                                 std::tuple{"fp4g_256x4096", WFormat::kFP4G, int64_t(256), int64_t(4096)},
                                 std::tuple{"i8_256x2048", WFormat::kI8, int64_t(256), int64_t(2048)}}) {
    benchmark::RegisterBenchmark(("BM_linear_int8/" + std::string(name) + "/" + set).c_str(), BM_linear_int8, K, fmt,
                                 n, k, false)
        ->Arg(1)->Arg(4)->Arg(16)->Arg(64);
  }
  benchmark::RegisterBenchmark(("BM_linear_int8_dram/fp4_2048x4096/" + set).c_str(), BM_linear_int8, K, WFormat::kFP4,
                               2048, 4096, true);
  benchmark::RegisterBenchmark(("BM_linear_int8_dram/fp4g_2048x4096/" + set).c_str(), BM_linear_int8, K,
                               WFormat::kFP4G, 2048, 4096, true);
  benchmark::RegisterBenchmark(("BM_linear_int8_dram/i8_2048x2048/" + set).c_str(), BM_linear_int8, K, WFormat::kI8,
                               2048, 2048, true);
}

void register_linear(const KernelTable* K) {
  const std::string set = tachyon::cpu::isa_name(K->isa);
  struct Shape {
    const char* name;
    WFormat fmt;
    int64_t n, k;
    std::vector<int64_t> ms;
  };
  const bool scalar = K->isa == Isa::kScalar;
  const std::vector<Shape> shapes = {
      {"fp8_2048x2048", WFormat::kFP8, 2048, 2048, {1, 2, 3, 4, 8, 12, 16, 128}},
      {"fp4_1024x2048", WFormat::kFP4, 1024, 2048, {1, 2, 3, 4, 8, 16, 128}},
      {"bf16_2048x2048", WFormat::kBF16, 2048, 2048, {1, 2, 3, 4, 8, 12, 16, 32, 128}},
      // L2-resident (512 KiB): the kernels' own speed, without DRAM.
      {"fp8_256x2048", WFormat::kFP8, 256, 2048, {1, 2, 4, 8}},
      {"fp4_256x4096", WFormat::kFP4, 256, 4096, {1, 2, 4, 8}},
      {"bf16_128x2048", WFormat::kBF16, 128, 2048, {1, 2, 4, 8}},
      // Shapes of the small demo model (cache-resident weights): query up-projection, expert, output head.
      {"fp8_1024x128", WFormat::kFP8, 1024, 128, {1, 2}},
      {"fp4_256x256", WFormat::kFP4, 256, 256, {1, 2}},
      {"bf16_8192x256", WFormat::kBF16, 8192, 256, {1, 2}},
  };
  for (const Shape& sh : shapes) {
    auto* b = benchmark::RegisterBenchmark(("BM_linear/" + std::string(sh.name) + "/" + set).c_str(), BM_linear, K,
                                           sh.fmt, sh.n, sh.k);
    for (int64_t m : sh.ms)
      if (!scalar || m == 1) b->Arg(m);
    if (scalar && sh.n * sh.k < (int64_t(1) << 22)) b->Arg(2);  // (the loop above gave m = 1)
  }
  if (scalar) return;
  benchmark::RegisterBenchmark(("BM_linear_dram/fp8_2048x2048/" + set).c_str(), BM_linear_dram, K, WFormat::kFP8,
                               2048, 2048);
  benchmark::RegisterBenchmark(("BM_linear_dram/fp4_2048x4096/" + set).c_str(), BM_linear_dram, K, WFormat::kFP4,
                               2048, 4096);
  benchmark::RegisterBenchmark(("BM_linear_dram/bf16_2048x2048/" + set).c_str(), BM_linear_dram, K, WFormat::kBF16,
                               2048, 2048);
}

void BM_fp8_fake_quant(benchmark::State& st, const KernelTable* K) {
  const int64_t m = 16, k = 4096;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> src(size_t(m * k)), x(src.size());
  for (auto& v : src) v = nd(rng);
  for (auto _ : st) {
    std::memcpy(x.data(), src.data(), x.size() * 4);
    K->fp8_fake_quant(x.data(), m, k, k, 128);
    benchmark::DoNotOptimize(x.data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * m * k * 4);
}

void BM_attention_sink(benchmark::State& st, const KernelTable* K) {
  const int64_t H = 16, d = 512, n_keys = st.range(0);
  std::mt19937 rng(4);
  std::normal_distribution<float> nd;
  std::vector<float> q(size_t(H * d)), kv(size_t(n_keys * d)), sink(static_cast<size_t>(H)), out(size_t(H * d));
  for (auto& v : q) v = nd(rng);
  for (auto& v : kv) v = nd(rng);
  std::vector<const float*> keys;
  for (int64_t j = 0; j < n_keys; ++j) keys.push_back(kv.data() + j * d);
  for (auto _ : st) {
    K->attention_sink(q.data(), d, keys.data(), n_keys, sink.data(), 0.044f, out.data(), 0, H);
    benchmark::DoNotOptimize(out.data());
  }
}

// The MTP draft head's screening pass on the demo model's head shape (int8, 8192 x 256).
// Arg: queries.
void BM_dot_i8(benchmark::State& st, const KernelTable* K) {
  const int64_t n = 8192, k = 256, m = st.range(0);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> v(-127, 127);
  std::vector<int8_t> x(size_t(m * k)), w(size_t(n * k));
  for (auto& e : x) e = int8_t(v(rng));
  for (auto& e : w) e = int8_t(v(rng));
  std::vector<int32_t> out(size_t(m * n));
  for (auto _ : st) {
    K->dot_i8(x.data(), m, w.data(), k, n, out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * n * k);
}

// Lightning-indexer scores of one query (64 heads x 128, V4 sizes) against st.range(0) compressed
// blocks: fp32 keys; compact FP4 keys with a float query (the float path); compact FP4 keys with an FP4
// query, as official numerics give (the integer path). One thread; items = keys scored.
enum class IndexKeys { kF32, kFp4FloatQuery, kFp4 };
void BM_indexer_scores(benchmark::State& st, const KernelTable* K, IndexKeys keys) {
  const int64_t H = 64, d = 128, n = st.range(0);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> byte(0, 255), sc(124, 128);
  std::vector<float> q(static_cast<size_t>(H * d)), w(static_cast<size_t>(H));
  for (auto& v : q) v = nd(rng);
  for (auto& v : w) v = nd(rng);
  if (keys == IndexKeys::kFp4) ref::fp4_fake_quant(q.data(), H, d, d, 32);
  std::vector<uint8_t> rows(size_t(n * (d / 2 + d / 32)));
  std::vector<float> dec(size_t(n * d));
  std::vector<const uint8_t*> kp(static_cast<size_t>(n));
  std::vector<const float*> fp(static_cast<size_t>(n));
  for (int64_t j = 0; j < n; ++j) {
    uint8_t* r = &rows[size_t(j * (d / 2 + d / 32))];
    for (int64_t i = 0; i < d / 2; ++i) r[i] = uint8_t(byte(rng));
    for (int64_t b = 0; b < d / 32; ++b) r[d / 2 + b] = uint8_t(sc(rng));
    ref::decode_fp4_row(r, d, &dec[size_t(j * d)]);
    kp[size_t(j)] = r;
    fp[size_t(j)] = &dec[size_t(j * d)];
  }
  std::vector<float> out(static_cast<size_t>(n));
  for (auto _ : st) {
    if (keys == IndexKeys::kF32) K->indexer_scores(q.data(), H, d, w.data(), fp.data(), out.data(), 0, n);
    else K->indexer_scores_fp4(q.data(), H, d, w.data(), kp.data(), out.data(), 0, n);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
}

void register_others(const KernelTable* K) {
  const std::string set = tachyon::cpu::isa_name(K->isa);
  benchmark::RegisterBenchmark(("BM_fp8_fake_quant/" + set).c_str(), BM_fp8_fake_quant, K);
  benchmark::RegisterBenchmark(("BM_attention_sink/" + set).c_str(), BM_attention_sink, K)->Arg(256);
  auto* dot = benchmark::RegisterBenchmark(("BM_dot_i8/" + set).c_str(), BM_dot_i8, K)->Arg(1);
  if (K->isa == Isa::kScalar) return;
  dot->Arg(2)->Arg(4);
  benchmark::RegisterBenchmark(("BM_indexer_scores/f32/" + set).c_str(), BM_indexer_scores, K, IndexKeys::kF32)
      ->Arg(4096);
  benchmark::RegisterBenchmark(("BM_indexer_scores/fp4_float_query/" + set).c_str(), BM_indexer_scores, K,
                               IndexKeys::kFp4FloatQuery)
      ->Arg(128)
      ->Arg(4096);
  benchmark::RegisterBenchmark(("BM_indexer_scores/fp4/" + set).c_str(), BM_indexer_scores, K, IndexKeys::kFp4)
      ->Arg(128)
      ->Arg(4096);
}

// Ceiling of the decode-as-you-go linear kernels on one core: each set's own FP8 / FP4 / BF16 decoders
// (fast/linear_decode.h, avx512/linear_layout.h; fp4 is the 32-column group decoder, fp4_wide the
// 128-column one, the same as fp4 for AVX2) feeding eight independent FMA chains over 16 KB of codes that
// stay in L1, against FMAs alone. Weights per second here bound what any one-token tile built on these
// decoders can reach from memory.
enum class Dec { kFP8, kFP4, kFP4Wide, kBF16, kNone };
template <Dec D>
TACHYON_AVX2 float decode_ceiling_avx2(const uint8_t* codes, const float* x, int64_t n) {
  __m256 a[8];
  for (auto& v : a) v = _mm256_setzero_ps();
  const __m256 one = _mm256_set1_ps(1.0f);
  for (int64_t j = 0; j < n; j += 64) {
    __m256 w[8];
    switch (D) {
      case Dec::kFP8:
        fast::dec32_fp8_nonan(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + j)), w);
        fast::dec32_fp8_nonan(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(codes + j + 32)), w + 4);
        break;
      case Dec::kFP4:
      case Dec::kFP4Wide:
        fast::dec32_fp4(codes + j / 2, w);
        fast::dec32_fp4(codes + j / 2 + 16, w + 4);
        break;
      case Dec::kBF16:
        for (int q = 0; q < 8; ++q) w[q] = fast::dec8(reinterpret_cast<const uint16_t*>(codes) + (j + 8 * q) % 8192);
        break;
      case Dec::kNone:
        for (auto& v : w) v = one;
        break;
    }
    const float* xj = x + (j & 2047);
    for (int q = 0; q < 8; ++q) a[q] = _mm256_fmadd_ps(_mm256_loadu_ps(xj + 8 * q), w[q], a[q]);
  }
  for (int q = 1; q < 8; ++q) a[0] = _mm256_add_ps(a[0], a[q]);
  return fast::hsum(a[0]);
}
// The same with the AVX-512 decoders: 128 weights (eight 16-lane vectors) per step.
template <Dec D>
TACHYON_AVX512 float decode_ceiling_avx512(const uint8_t* codes, const float* x, int64_t n) {
  __m512 a[8];
  for (auto& v : a) v = _mm512_setzero_ps();
  const __m512 lut = avx512::e2m1_table();
  __m512i seen = _mm512_setzero_si512();
  for (int64_t j = 0; j < n; j += 128) {
    __m512 w[8];
    switch (D) {
      case Dec::kFP8:
        for (int h = 0; h < 2; ++h) {
          __m512 v[4];
          avx512::dec_pair_fp8(codes + j + 64 * h, v, seen);
          for (int q = 0; q < 4; ++q) w[4 * h + q] = v[q];
        }
        break;
      case Dec::kFP4Wide: {
        const __m512i d = _mm512_loadu_si512(codes + j / 2);
        for (int q = 0; q < 8; ++q) w[q] = avx512::dec_wide_fp4(d, q, lut);
        break;
      }
      case Dec::kFP4:
        for (int q = 0; q < 4; ++q) avx512::dec_group_fp4(codes + j / 2 + 16 * q, lut, w[2 * q], w[2 * q + 1]);
        break;
      case Dec::kBF16:
        for (int q = 0; q < 4; ++q)
          avx512::dec_group(reinterpret_cast<const uint16_t*>(codes) + (j + 32 * q) % 8192, w[2 * q], w[2 * q + 1]);
        break;
      case Dec::kNone:
        for (auto& v : w) v = _mm512_set1_ps(1.0f);
        break;
    }
    const float* xj = x + (j & 2047);
    for (int q = 0; q < 8; ++q) a[q] = _mm512_fmadd_ps(_mm512_loadu_ps(xj + 16 * q), w[q], a[q]);
  }
  for (int q = 1; q < 8; ++q) a[0] = _mm512_add_ps(a[0], a[q]);
  return avx512::hsum16(a[0]) + float(avx512::fp8_nan_seen(seen));
}
using CeilingPass = float (*)(const uint8_t*, const float*, int64_t);
void BM_decode_ceiling(benchmark::State& st, CeilingPass pass) {
  const int64_t n = 16384;  // weights per pass
  std::vector<uint8_t> codes(16384);
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = uint8_t((i * 37) & 0x77);  // no NaN codes
  std::vector<float> xbuf(2048 + 128 + 16, 0.5f);  // x on a cache-line boundary: no split loads
  const float* x = xbuf.data() + (16 - (reinterpret_cast<uintptr_t>(xbuf.data()) / 4) % 16) % 16;
  for (auto _ : st) benchmark::DoNotOptimize(pass(codes.data(), x, n));
  st.counters["weights/s"] = benchmark::Counter(double(st.iterations() * n), benchmark::Counter::kIsRate);
}

void register_ceilings(Isa isa) {
  const std::string set = tachyon::cpu::isa_name(isa);
  const struct {
    const char* name;
    CeilingPass avx2, avx512;
  } decs[] = {{"fp8", decode_ceiling_avx2<Dec::kFP8>, decode_ceiling_avx512<Dec::kFP8>},
              {"fp4", decode_ceiling_avx2<Dec::kFP4>, decode_ceiling_avx512<Dec::kFP4>},
              {"fp4_wide", decode_ceiling_avx2<Dec::kFP4Wide>, decode_ceiling_avx512<Dec::kFP4Wide>},
              {"bf16", decode_ceiling_avx2<Dec::kBF16>, decode_ceiling_avx512<Dec::kBF16>},
              {"none", decode_ceiling_avx2<Dec::kNone>, decode_ceiling_avx512<Dec::kNone>}};
  for (const auto& d : decs)
    benchmark::RegisterBenchmark(("BM_decode_ceiling/" + std::string(d.name) + "/" + set).c_str(),
                                 BM_decode_ceiling, isa == Isa::kAvx2 ? d.avx2 : d.avx512);
}

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  const tachyon::cpu::CpuFeatures f = tachyon::cpu::detect_cpu_features();
  for (Isa isa : tachyon::cpu::supported_isas(f)) {
    const KernelTable* K = &tachyon::cpu::kernel_table(isa);
    register_linear(K);
    register_int8(K);
    register_others(K);
    if (isa == Isa::kAvx2 || isa == Isa::kAvx512) register_ceilings(isa);
  }
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
