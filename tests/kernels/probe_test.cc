// The machine probes: every kernel set's streaming read equals the scalar reference (wrapping sums are
// exact) on random lengths and offsets, the AVX-512 one on every tail of its 64-word steps; the
// bandwidth probe reads the whole buffer it wrote, once, on every thread; the peak-rate kernels do
// exactly the multiply-adds they claim (their sums against a scalar replay), and the peak probe reports a
// positive rate and the instruction of its set (and vpdpbusd's where the set's FP4 kernel uses it).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "backends/cpu/kernels.h"
#include "backends/cpu/probe.h"
#include "backends/cpu/probe_kernels.h"
#include "kernel_test_util.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

TEST(StreamSum, FastMatchesRef) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(11);
    std::vector<uint64_t> v(5000);
    for (auto& x : v) x = rng();
    for (int i = 0; i < 200; ++i) {
      const int64_t off = uniform_int(rng, 0, 7), n = uniform_int(rng, 0, 4900);
      ASSERT_EQ(K->stream_sum(v.data() + off, n), ref::stream_sum(v.data() + off, n)) << off << " " << n;
    }
  }
}

// The AVX-512 tables read with the 512-bit loop, which matches the reference on every length up to
// three of its 64-word steps and at every word offset.
TEST(StreamSum, Avx512MatchesRefOnEveryTail) {
  if (!isa_supported(Isa::kAvx512, detect_cpu_features())) GTEST_SKIP() << "this CPU cannot run avx512";
  for (Isa isa : {Isa::kAvx512, Isa::kAvx512Vnni})
    EXPECT_EQ(kernel_table(isa).stream_sum, &avx512::stream_sum) << isa_name(isa);
  Rng rng(12);
  std::vector<uint64_t> v(220);
  for (auto& x : v) x = rng();
  for (int64_t off = 0; off < 8; ++off)
    for (int64_t n = 0; n + off <= int64_t(v.size()); ++n)
      ASSERT_EQ(avx512::stream_sum(v.data() + off, n), ref::stream_sum(v.data() + off, n)) << off << " " << n;
}

uint64_t probe_pattern_sum(int64_t words) {
  uint64_t want = 0;  // the probe fills word i with i * 0x9E3779B97F4A7C15
  for (int64_t i = 0; i < words; ++i) want += uint64_t(i) * 0x9E3779B97F4A7C15ull;
  return want;
}

TEST(BandwidthProbe, ReadsTheWholeBuffer) {
  for (int threads : {1, 3}) {
    const ThreadPool pool(threads);
    for (Isa isa : supported_isas(detect_cpu_features())) {
      SCOPED_TRACE(isa_name(isa));
      const BandwidthProbe p = measure_read_bandwidth(pool, 1 << 20, 2, kernel_table(isa));
      EXPECT_EQ(p.bytes, 1 << 20);
      EXPECT_EQ(p.threads, threads);  // one slice per thread, each on its own thread
      EXPECT_EQ(p.runs, 2);
      EXPECT_GT(p.gbs, 0.0);
      EXPECT_EQ(p.checksum, probe_pattern_sum(1 << 17));
    }
  }
}

// Past threads x 2 MiB the slices are cut on huge-page boundaries; an odd size still reads every word.
TEST(BandwidthProbe, HugePageSlicesCoverAnOddSize) {
  const ThreadPool pool(2);
  const int64_t bytes = (int64_t(5) << 20) + 8 * 1001;
  const BandwidthProbe p = measure_read_bandwidth(pool, bytes, 1, kernel_table(best_isa(detect_cpu_features())));
  EXPECT_EQ(p.bytes, bytes);
  EXPECT_EQ(p.threads, 2);
  EXPECT_EQ(p.checksum, probe_pattern_sum(bytes / 8));
  EXPECT_TRUE(p.huge_fraction == -1 || (p.huge_fraction >= 0 && p.huge_fraction <= 1)) << p.huge_fraction;
}

// Replays of the peak kernels' accumulators in scalar code (probe_kernels.h): `acc` chains of
// a += 1e-3 * 1e-3 fused (a_i starting at i) summed in order, times the lanes (every lane holds the same
// value, so the vector's horizontal sum is exact); and twelve chains of a = a * 0.999 + 0.001 unfused.
float replay_fma(int64_t rounds, int acc, int lanes) {
  std::vector<float> a(static_cast<size_t>(acc));
  for (int i = 0; i < acc; ++i) a[size_t(i)] = float(i);
  for (int64_t r = 0; r < rounds; ++r)
    for (float& v : a) v = std::fmaf(1e-3f, 1e-3f, v);
  float s = a[0];
  for (int i = 1; i < acc; ++i) s += a[size_t(i)];
  return s * float(lanes);
}
float replay_scalar(int64_t rounds) {
  float a[12];
  for (int i = 0; i < 12; ++i) a[i] = 0.001f * float(i);
  for (int64_t r = 0; r < rounds; ++r)
    for (float& v : a) {
      volatile float p = v * 0.999f;  // rounded before the add, as mulss then addss
      v = p + 0.001f;
    }
  float s = 0;
  for (float v : a) s += v;
  return s;
}

TEST(PeakKernels, DoTheMultiplyAddsTheyCount) {
  const int64_t rounds = 1000;
  float sink = -1;
  EXPECT_EQ(ref::peak_fma(rounds, &sink), rounds * 12 * 2);
  EXPECT_EQ(sink, replay_scalar(rounds));
  const CpuFeatures f = detect_cpu_features();
  if (isa_supported(Isa::kAvx2, f)) {
    EXPECT_EQ(fast::peak_fma(rounds, &sink), rounds * 12 * 8 * 2);
    EXPECT_EQ(sink, replay_fma(rounds, 12, 8));
  }
  if (isa_supported(Isa::kAvx512, f)) {
    EXPECT_EQ(avx512::peak_fma(rounds, &sink), rounds * 16 * 16 * 2);
    EXPECT_EQ(sink, replay_fma(rounds, 16, 16));
  } else {
    std::printf("[  SKIPPED ISA ] PeakKernels: this CPU cannot run avx512\n");
  }
  if (isa_supported(Isa::kAvx512Vnni, f)) {
    // Sixteen accumulators of sixteen dword lanes starting at i, each gaining four 1 x 1 products a round.
    EXPECT_EQ(avx512::peak_vpdpbusd(rounds, &sink), rounds * 16 * 64 * 2);
    EXPECT_EQ(sink, float(16 * (120 + 16 * 4 * rounds)));
  } else {
    std::printf("[  SKIPPED ISA ] PeakKernels: this CPU cannot run avx512-vnni\n");
  }
}

// The integer peak exists where the set's FP4 kernel is an integer one (native_i8), and names vpdpbusd.
TEST(PeakProbe, IntegerPeakWhereTheSetHasTheIntegerKernel) {
  const ThreadPool pool(2);
  for (Isa isa : supported_isas(detect_cpu_features())) {
    SCOPED_TRACE(isa_name(isa));
    const KernelTable& k = kernel_table(isa);
    const PeakProbe p = measure_peak_i8(pool, 1, k, 0.005);
    if (k.native_i8) {
      EXPECT_GT(p.gflops, 0.0);
      EXPECT_NE(std::strstr(p.instruction, "vpdpbusd"), nullptr) << p.instruction;
    } else {
      EXPECT_EQ(p.gflops, 0.0);
      EXPECT_STREQ(p.instruction, "");
    }
  }
}

// Every set's table names the instruction of its GEMM (linear kernels: fp32 FMA, ymm for AVX2, zmm for
// both AVX-512 sets), and the probe reports a positive rate with that name.
TEST(PeakProbe, PositiveRateAndItsInstruction) {
  const ThreadPool pool(2);
  for (Isa isa : supported_isas(detect_cpu_features())) {
    SCOPED_TRACE(isa_name(isa));
    const KernelTable& k = kernel_table(isa);
    const PeakProbe p = measure_peak_flops(pool, 2, k, 0.005);
    EXPECT_GT(p.gflops, 0.0);
    EXPECT_TRUE(std::isfinite(p.gflops));
    EXPECT_STREQ(p.instruction, k.peak_instruction);
    EXPECT_EQ(p.threads, 2);
    EXPECT_EQ(p.runs, 2);
    EXPECT_GE(p.rounds, 1024);
    EXPECT_TRUE(std::isfinite(p.checksum));
    const char* want = isa == Isa::kScalar ? "mulss" : isa == Isa::kAvx2 ? "vfmadd231ps ymm" : "vfmadd231ps zmm";
    EXPECT_NE(std::strstr(p.instruction, want), nullptr) << p.instruction;
  }
}

}  // namespace
}  // namespace tachyon::cpu
