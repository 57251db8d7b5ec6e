// Micro-benchmarks of the CPU kernels, scalar reference vs vectorised: single-token GEMV (the decode-time
// case) over FP8, FP4 and BF16 weights, a small-batch FP8 GEMM, fake quantisation, attention, the int8
// screening dot product, the Lightning-indexer scores, and the decode-plus-FMA ceiling of the weight
// decoders.
// Linear benchmarks report bytes_per_second = weight bytes streamed per call (the memory-bound figure).
// Single-threaded: they measure the kernels, not the thread pool.
#include <benchmark/benchmark.h>

#include <cstring>
#include <random>
#include <vector>

#include "backends/cpu/fast/linear_decode.h"
#include "backends/cpu/kernels.h"

namespace {

using tachyon::cpu::WeightView;
using tachyon::cpu::WFormat;
namespace ref = tachyon::cpu::ref;
namespace fast = tachyon::cpu::fast;

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

void run_linear(benchmark::State& st, bool Fast, WFormat fmt, int64_t n, int64_t k) {
  if (Fast && !fast::available()) {
    st.SkipWithError("CPU lacks the fast kernels");
    return;
  }
  const int64_t m = st.range(0);
  Weights w = make(fmt, n, k);
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  std::vector<float> x(size_t(m * k)), y(size_t(m * n));
  for (auto& v : x) v = nd(rng);
  for (auto _ : st) {
    if (Fast) fast::linear(x.data(), m, w.view, y.data(), 0, n);
    else ref::linear(x.data(), m, w.view, y.data(), 0, n);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * w.bytes);
  st.counters["tokens/s"] = benchmark::Counter(double(st.iterations() * m), benchmark::Counter::kIsRate);
}

void BM_linear_ref(benchmark::State& st, WFormat fmt, int64_t n, int64_t k) { run_linear(st, false, fmt, n, k); }
void BM_linear_fast(benchmark::State& st, WFormat fmt, int64_t n, int64_t k) { run_linear(st, true, fmt, n, k); }

BENCHMARK_CAPTURE(BM_linear_ref, fp8_2048x2048, WFormat::kFP8, 2048, 2048)->Arg(1);
BENCHMARK_CAPTURE(BM_linear_fast, fp8_2048x2048, WFormat::kFP8, 2048, 2048)->Arg(1)->Arg(2)->Arg(3)->Arg(4)->Arg(8)->Arg(12)->Arg(16)->Arg(128);
// From memory rather than cache: one token against each of 24 weight matrices in turn (96-192 MB in all,
// several times the last-level cache), as a decode step reads its layers.
void BM_linear_fast_dram(benchmark::State& st, WFormat fmt, int64_t n, int64_t k) {
  if (!fast::available()) {
    st.SkipWithError("CPU lacks the fast kernels");
    return;
  }
  std::vector<Weights> ws;
  for (int i = 0; i < 24; ++i) ws.push_back(make(fmt, n, k));
  std::mt19937 rng(2);
  std::normal_distribution<float> nd;
  std::vector<float> x(static_cast<size_t>(k)), y(static_cast<size_t>(n));
  for (auto& v : x) v = nd(rng);
  size_t i = 0;
  for (auto _ : st) {
    fast::linear(x.data(), 1, ws[i].view, y.data(), 0, n);
    i = (i + 1) % ws.size();
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * ws[0].bytes);
}
BENCHMARK_CAPTURE(BM_linear_fast_dram, fp8_2048x2048, WFormat::kFP8, 2048, 2048);
BENCHMARK_CAPTURE(BM_linear_fast_dram, fp4_2048x4096, WFormat::kFP4, 2048, 4096);
BENCHMARK_CAPTURE(BM_linear_fast_dram, bf16_2048x2048, WFormat::kBF16, 2048, 2048);

// Shapes of the small demo model (cache-resident weights): query up-projection, expert, output head.
BENCHMARK_CAPTURE(BM_linear_fast, fp8_1024x128, WFormat::kFP8, 1024, 128)->Arg(1)->Arg(2);
BENCHMARK_CAPTURE(BM_linear_fast, fp4_256x256, WFormat::kFP4, 256, 256)->Arg(1)->Arg(2);
BENCHMARK_CAPTURE(BM_linear_fast, bf16_8192x256, WFormat::kBF16, 8192, 256)->Arg(1)->Arg(2);
BENCHMARK_CAPTURE(BM_linear_ref, fp4_1024x2048, WFormat::kFP4, 1024, 2048)->Arg(1);
BENCHMARK_CAPTURE(BM_linear_fast, fp4_1024x2048, WFormat::kFP4, 1024, 2048)->Arg(1)->Arg(2)->Arg(3)->Arg(4)->Arg(8)->Arg(16)->Arg(128);
BENCHMARK_CAPTURE(BM_linear_ref, bf16_2048x2048, WFormat::kBF16, 2048, 2048)->Arg(1);
BENCHMARK_CAPTURE(BM_linear_fast, bf16_2048x2048, WFormat::kBF16, 2048, 2048)->Arg(1)->Arg(2)->Arg(3)->Arg(4)->Arg(8)->Arg(12)->Arg(16)->Arg(32)->Arg(128);

template <bool Fast>
void BM_fp8_fake_quant(benchmark::State& st) {
  if (Fast && !fast::available()) {
    st.SkipWithError("CPU lacks the fast kernels");
    return;
  }
  const int64_t m = 16, k = 4096;
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  std::vector<float> src(size_t(m * k)), x(src.size());
  for (auto& v : src) v = nd(rng);
  for (auto _ : st) {
    std::memcpy(x.data(), src.data(), x.size() * 4);
    if (Fast) fast::fp8_fake_quant(x.data(), m, k, k, 128);
    else ref::fp8_fake_quant(x.data(), m, k, k, 128);
    benchmark::DoNotOptimize(x.data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * m * k * 4);
}
BENCHMARK(BM_fp8_fake_quant<false>);
BENCHMARK(BM_fp8_fake_quant<true>);

template <bool Fast>
void BM_attention_sink(benchmark::State& st) {
  if (Fast && !fast::available()) {
    st.SkipWithError("CPU lacks the fast kernels");
    return;
  }
  const int64_t H = 16, d = 512, n_keys = st.range(0);
  std::mt19937 rng(4);
  std::normal_distribution<float> nd;
  std::vector<float> q(size_t(H * d)), kv(size_t(n_keys * d)), sink(static_cast<size_t>(H)), out(size_t(H * d));
  for (auto& v : q) v = nd(rng);
  for (auto& v : kv) v = nd(rng);
  std::vector<const float*> keys;
  for (int64_t j = 0; j < n_keys; ++j) keys.push_back(kv.data() + j * d);
  for (auto _ : st) {
    if (Fast) fast::attention_sink(q.data(), d, keys.data(), n_keys, sink.data(), 0.044f, out.data(), 0, H);
    else ref::attention_sink(q.data(), H, d, keys.data(), n_keys, sink.data(), 0.044f, out.data());
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_attention_sink<false>)->Arg(256);
BENCHMARK(BM_attention_sink<true>)->Arg(256);

// The MTP draft head's screening pass on the demo model's head shape (int8, 8192 x 256).
// Arg: queries.
void BM_dot_i8(benchmark::State& st, bool Fast) {
  if (Fast && !fast::available()) {
    st.SkipWithError("CPU lacks the fast kernels");
    return;
  }
  const int64_t n = 8192, k = 256, m = st.range(0);
  std::mt19937 rng(5);
  std::uniform_int_distribution<int> v(-127, 127);
  std::vector<int8_t> x(size_t(m * k)), w(size_t(n * k));
  for (auto& e : x) e = int8_t(v(rng));
  for (auto& e : w) e = int8_t(v(rng));
  std::vector<int32_t> out(size_t(m * n));
  for (auto _ : st) {
    if (Fast) fast::dot_i8(x.data(), m, w.data(), k, n, out.data(), n);
    else ref::dot_i8(x.data(), m, w.data(), k, n, out.data(), n);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetBytesProcessed(int64_t(st.iterations()) * n * k);
}
BENCHMARK_CAPTURE(BM_dot_i8, ref, false)->Arg(1);
BENCHMARK_CAPTURE(BM_dot_i8, fast, true)->Arg(1)->Arg(2)->Arg(4);

// Ceiling of the decode-as-you-go linear kernels on one core: the fast kernels' own FP8 / FP4 / BF16
// decoders (linear_decode.h) feeding eight independent FMA chains over 16 KB of codes that stay in L1,
// against FMAs alone. Weights per second here bound what any one-token tile built on these decoders can
// reach from memory.
enum class Dec { kFP8, kFP4, kBF16, kNone };
template <Dec D>
TACHYON_AVX2 float decode_ceiling_pass(const uint8_t* codes, const float* x, int64_t n) {
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
template <Dec D>
void BM_decode_ceiling(benchmark::State& st) {
  if (!fast::available()) {
    st.SkipWithError("CPU lacks the fast kernels");
    return;
  }
  const int64_t n = 16384;  // weights per pass
  std::vector<uint8_t> codes(16384);
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = uint8_t((i * 37) & 0x77);  // no NaN codes
  std::vector<float> xbuf(2048 + 64 + 16, 0.5f);  // x on a cache-line boundary: no split loads
  const float* x = xbuf.data() + (16 - (reinterpret_cast<uintptr_t>(xbuf.data()) / 4) % 16) % 16;
  for (auto _ : st) benchmark::DoNotOptimize(decode_ceiling_pass<D>(codes.data(), x, n));
  st.counters["weights/s"] = benchmark::Counter(double(st.iterations() * n), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_decode_ceiling<Dec::kFP8>);
BENCHMARK(BM_decode_ceiling<Dec::kFP4>);
BENCHMARK(BM_decode_ceiling<Dec::kBF16>);
BENCHMARK(BM_decode_ceiling<Dec::kNone>);

}  // namespace

// Lightning-indexer scores of one query (64 heads x 128, V4 sizes) against st.range(0) compressed
// blocks: fp32 keys; compact FP4 keys with a float query (the float path); compact FP4 keys with an FP4
// query, as official numerics give (the integer path). One thread; items = keys scored.
enum class IndexKeys { kF32, kFp4FloatQuery, kFp4 };
template <IndexKeys K>
void BM_indexer_scores(benchmark::State& st) {
  if (!fast::available()) {
    st.SkipWithError("CPU lacks the fast kernels");
    return;
  }
  const int64_t H = 64, d = 128, n = st.range(0);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> byte(0, 255), sc(124, 128);
  std::vector<float> q(static_cast<size_t>(H * d)), w(static_cast<size_t>(H));
  for (auto& v : q) v = nd(rng);
  for (auto& v : w) v = nd(rng);
  if (K == IndexKeys::kFp4) ref::fp4_fake_quant(q.data(), H, d, d, 32);
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
    if (K == IndexKeys::kF32) fast::indexer_scores(q.data(), H, d, w.data(), fp.data(), out.data(), 0, n);
    else fast::indexer_scores_fp4(q.data(), H, d, w.data(), kp.data(), out.data(), 0, n);
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * n);
}
BENCHMARK(BM_indexer_scores<IndexKeys::kF32>)->Arg(4096);
BENCHMARK(BM_indexer_scores<IndexKeys::kFp4FloatQuery>)->Arg(128)->Arg(4096);
BENCHMARK(BM_indexer_scores<IndexKeys::kFp4>)->Arg(128)->Arg(4096);

BENCHMARK_MAIN();
