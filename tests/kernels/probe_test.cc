// The bandwidth probe: every kernel set's streaming read equals the scalar reference (wrapping sums are exact) on
// random lengths and offsets, and the probe reads the whole buffer it wrote.
#include <gtest/gtest.h>

#include "backends/cpu/kernels.h"
#include "backends/cpu/probe.h"
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

TEST(BandwidthProbe, ReadsTheWholeBuffer) {
  for (int threads : {1, 3}) {
    const ThreadPool pool(threads);
    for (Isa isa : supported_isas(detect_cpu_features())) {
      const BandwidthProbe p = measure_read_bandwidth(pool, 1 << 20, 2, kernel_table(isa));
      EXPECT_EQ(p.bytes, 1 << 20);
      EXPECT_EQ(p.threads, threads);
      EXPECT_EQ(p.runs, 2);
      EXPECT_GT(p.gbs, 0.0);
      uint64_t want = 0;  // the probe fills word i with i * 0x9E3779B97F4A7C15
      for (uint64_t i = 0; i < (1u << 17); ++i) want += i * 0x9E3779B97F4A7C15ull;
      EXPECT_EQ(p.checksum, want);
    }
  }
}

}  // namespace
}  // namespace tachyon::cpu
