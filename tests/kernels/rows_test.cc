// The row kernels (bf16 widening, add, scale, weighted sums of rows) of every vectorised set against
// their scalar twins, bit for bit, on random inputs of every length around the vector widths, at
// unaligned offsets, with signed zeros, subnormals and infinities; and the references against their
// definitions.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"
#include "kernel_test_util.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

// Bit-equal, or both NaN (a NaN's payload is not part of any contract).
bool same(float a, float b) {
  return std::bit_cast<uint32_t>(a) == std::bit_cast<uint32_t>(b) || (std::isnan(a) && std::isnan(b));
}

// Random floats with a sprinkling of the special values every kernel must carry through.
std::vector<float> values(Rng& rng, size_t n, bool with_inf) {
  std::vector<float> v = randn(rng, n, 3.0f);
  const float specials[] = {0.0f, -0.0f, 1e-40f, -1e-40f, 1e30f, -1e30f, std::numeric_limits<float>::infinity(),
                            -std::numeric_limits<float>::infinity()};
  const size_t n_special = with_inf ? 8 : 6;
  for (size_t i = 0; i < n; ++i)
    if (uniform_int(rng, 0, 9) == 0) v[i] = specials[size_t(uniform_int(rng, 0, int64_t(n_special) - 1))];
  return v;
}

constexpr int64_t kMaxLen = 70;  // every length up to several vectors of 8 and 16, with tails

TEST(RowKernels, WidenBf16MatchesScalar) {
  REQUIRE_FAST_TABLES(tables);
  Rng rng(101);
  std::vector<uint16_t> src(size_t(kMaxLen + 3));
  for (auto& b : src) b = uint16_t(uniform_int(rng, 0, 0xFFFF));  // every code, NaNs and infinities included
  for (const KernelTable* k : tables) {
    SCOPED_TRACE(isa_name(k->isa));
    for (int64_t off : {0, 1, 3})
      for (int64_t n = 0; n <= kMaxLen; ++n) {
        std::vector<float> want(size_t(n) + 1, 7.0f), got(size_t(n) + 1, 7.0f);
        ref::widen_bf16(src.data() + off, n, want.data());
        k->widen_bf16(src.data() + off, n, got.data());
        ASSERT_EQ(std::memcmp(want.data(), got.data(), want.size() * 4), 0) << "n " << n << " off " << off;
      }
  }
}

TEST(RowKernels, WidenBf16IsExact) {
  std::vector<uint16_t> src(65536);
  for (size_t i = 0; i < src.size(); ++i) src[i] = uint16_t(i);
  std::vector<float> out(src.size());
  ref::widen_bf16(src.data(), int64_t(src.size()), out.data());
  for (size_t i = 0; i < src.size(); ++i) {
    const double want = bf16_value(src[i]);
    if (std::isnan(want)) ASSERT_TRUE(std::isnan(out[i])) << i;
    else ASSERT_EQ(double(out[i]), want) << i;
  }
}

TEST(RowKernels, AddAndScaleMatchScalar) {
  REQUIRE_FAST_TABLES(tables);
  Rng rng(102);
  for (const KernelTable* k : tables) {
    SCOPED_TRACE(isa_name(k->isa));
    for (int64_t off : {0, 1, 5})
      for (int64_t n = 0; n <= kMaxLen; ++n) {
        const auto x = values(rng, size_t(n + off), true), y = values(rng, size_t(n + off), true);
        auto want = y, got = y;
        ref::add(x.data() + off, n, want.data() + off);
        k->add(x.data() + off, n, got.data() + off);
        for (size_t i = 0; i < want.size(); ++i) ASSERT_TRUE(same(want[i], got[i])) << "add n " << n << " i " << i;
        const float a = randn(rng, 1, 4.0f)[0];
        want = y, got = y;
        ref::scale(want.data() + off, n, a);
        k->scale(got.data() + off, n, a);
        for (size_t i = 0; i < want.size(); ++i) ASSERT_TRUE(same(want[i], got[i])) << "scale n " << n << " i " << i;
      }
  }
}

TEST(RowKernels, AddAndScaleAreOneRounding) {
  Rng rng(103);
  const auto x = values(rng, 200, false), y0 = values(rng, 200, false);
  auto y = y0;
  ref::add(x.data(), 200, y.data());
  for (size_t i = 0; i < 200; ++i) ASSERT_EQ(y[i], float(double(y0[i]) + double(x[i]))) << i;
  y = y0;
  ref::scale(y.data(), 200, -1.75f);
  for (size_t i = 0; i < 200; ++i) ASSERT_EQ(y[i], float(double(y0[i]) * -1.75)) << i;
}

TEST(RowKernels, MixRowsMatchesScalar) {
  REQUIRE_FAST_TABLES(tables);
  Rng rng(104);
  for (const KernelTable* k : tables) {
    SCOPED_TRACE(isa_name(k->isa));
    for (int64_t n_rows : {1, 2, 4, 5})
      for (int64_t d = 0; d <= kMaxLen; ++d) {
        std::vector<std::vector<float>> rows;
        std::vector<const float*> ptrs;
        for (int64_t i = 0; i < n_rows; ++i) rows.push_back(values(rng, size_t(d + 1), false));
        for (auto& r : rows) ptrs.push_back(r.data() + 1);  // unaligned rows
        const auto w = values(rng, size_t(n_rows), false);
        std::vector<float> want(size_t(d) + 1, 3.0f), got(size_t(d) + 1, 3.0f);
        ref::mix_rows(ptrs.data(), w.data(), n_rows, d, want.data());
        k->mix_rows(ptrs.data(), w.data(), n_rows, d, got.data());
        for (size_t e = 0; e < want.size(); ++e)
          ASSERT_TRUE(same(want[e], got[e])) << "rows " << n_rows << " d " << d << " e " << e;
      }
  }
}

// Each product rounded, then added to a sum that starts at +0, in row order: a fused multiply-add would
// keep the 2^-24 that rounding a*a drops, and products of -0 alone sum to +0.
TEST(RowKernels, MixRowsRoundsEveryProduct) {
  const float a = 1.0f + 0x1p-12f;  // a*a = 1 + 2^-11 + 2^-24, a tie that rounds to 1 + 2^-11
  const float r0[2] = {-1.0f, -0.0f}, r1[2] = {a, -0.0f}, r2[2] = {1.0f, 1.0f};
  const float* rows[3] = {r0, r1, r2};
  const float w[3] = {1.0f, a, 0.0f};
  std::vector<const KernelTable*> sets = {&kernel_table(Isa::kScalar)};
  for (Isa isa : fast_isas()) sets.push_back(&kernel_table(isa));
  for (const KernelTable* k : sets) {
    SCOPED_TRACE(isa_name(k->isa));
    float out[2];
    k->mix_rows(rows, w, 3, 2, out);
    EXPECT_EQ(out[0], 0x1p-11f);                       // (0 + -1) + round(a*a), then + 0
    EXPECT_EQ(std::bit_cast<uint32_t>(out[1]), 0u);    // +0 + -0 + -0 + 0 = +0
  }
}

}  // namespace
}  // namespace tachyon::cpu
