// dot_f64 (the hyper-connection mixes): every kernel set's twin equals the scalar reference bit for bit, for odd
// lengths and any number of outputs, and the reference equals a long-double check to double rounding.
#include <gtest/gtest.h>

#include <bit>

#include "backends/cpu/kernels.h"
#include "kernel_test_util.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

TEST(DotF64, FastMatchesRefBitForBit) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(5);
    for (int64_t n : {1, 3, 4, 7, 64, 333, 8192}) {
      for (int64_t n_out : {1, 2, 4, 5, 9, 24}) {
        const auto a = randn(rng, size_t(n), 3.0f);
        const auto w = randn(rng, size_t(n * n_out));
        std::vector<double> r(static_cast<size_t>(n_out)), f(static_cast<size_t>(n_out));
        ref::dot_f64(a.data(), w.data(), n, n_out, r.data());
        K->dot_f64(a.data(), w.data(), n, n_out, f.data());
        for (int64_t o = 0; o < n_out; ++o) {
          ASSERT_EQ(std::bit_cast<uint64_t>(r[size_t(o)]), std::bit_cast<uint64_t>(f[size_t(o)]))
              << "n=" << n << " n_out=" << n_out << " o=" << o;
          long double want = 0;
          for (int64_t i = 0; i < n; ++i) want += (long double)a[size_t(i)] * w[size_t(o * n + i)];
          ASSERT_NEAR(double(want), r[size_t(o)], 1e-12 * double(n) * 10.0);
        }
      }
    }
  }
}

}  // namespace
}  // namespace tachyon::cpu
