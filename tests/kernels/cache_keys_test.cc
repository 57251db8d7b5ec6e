// Kernels over compact cache entries against their scalar twins, bit for bit: FP8 decode with E8M0 block
// scales (every code, every scale code, tails of any length) and the Lightning-indexer scores over FP4
// keys (which must also equal the float kernel over the same keys decoded). ops:: dispatch is checked
// the same way, threaded and not. The fast parts skip on CPUs without the fast kernels.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"
#include "core/thread_pool.h"
#include "kernel_test_util.h"
#include "ops/ops.h"

namespace tachyon::cpu {
namespace {

using namespace testing;

bool same_value(float a, float b) {
  uint32_t x, y;
  std::memcpy(&x, &a, 4);
  std::memcpy(&y, &b, 4);
  return (std::isnan(a) && std::isnan(b)) || x == y;
}

TEST(DecodeFp8, RefIsCodeTimesScale) {
  const uint8_t codes[3] = {0x38, 0x01, 0xb8};  // 1.0, 2^-9, -1.0
  const uint8_t scales[2] = {127 + 3, 127 - 2};
  float out[3];
  ref::decode_fp8(codes, scales, 3, 2, out);
  EXPECT_EQ(out[0], 8.0f);
  EXPECT_EQ(out[1], std::ldexp(1.0f, -6));
  EXPECT_EQ(out[2], -0.25f);
}

// Every code under every scale code (NaN codes, subnormal codes, products that are subnormal or overflow
// in fp32), and random rows of every length up to three blocks, with each block's own scale.
TEST(DecodeFp8, FastBitExactWithRef) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    std::vector<uint8_t> codes(256);
    for (int c = 0; c < 256; ++c) codes[size_t(c)] = uint8_t(c);
    std::vector<float> yr(256), yf(256);
    for (int s = 0; s < 256; ++s) {
      const uint8_t scale = uint8_t(s);
      ref::decode_fp8(codes.data(), &scale, 256, 256, yr.data());
      K->decode_fp8(codes.data(), &scale, 256, 256, yf.data());
      for (int c = 0; c < 256; ++c)
        ASSERT_TRUE(same_value(yf[size_t(c)], yr[size_t(c)])) << "code " << c << " scale " << s;
    }
    Rng rng(31);
    for (const int64_t block : {64, 128, 48, 7}) {
      for (int64_t n = 1; n <= 3 * block; n += 1 + n / 9) {
        std::vector<uint8_t> cs(static_cast<size_t>(n)), sc(static_cast<size_t>((n + block - 1) / block));
        for (auto& c : cs) c = uint8_t(uniform_int(rng, 0, 255));
        for (auto& c : sc) c = uint8_t(uniform_int(rng, 100, 150));
        std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n) + 1, 7.0f);
        ref::decode_fp8(cs.data(), sc.data(), n, block, a.data());
        K->decode_fp8(cs.data(), sc.data(), n, block, b.data());
        for (int64_t j = 0; j < n; ++j) ASSERT_TRUE(same_value(b[size_t(j)], a[size_t(j)])) << n << " at " << j;
        ASSERT_EQ(b[size_t(n)], 7.0f) << "wrote past the row";
      }
    }
  }
}

// n_keys random compact FP4 rows of d values (scale codes spread around 127, one all-zero key).
struct Fp4Keys {
  std::vector<std::vector<uint8_t>> rows;
  std::vector<const uint8_t*> ptrs;
  std::vector<std::vector<float>> decoded;
  std::vector<const float*> fptrs;
};
Fp4Keys make_fp4_keys(Rng& rng, int64_t n_keys, int64_t d) {
  Fp4Keys k;
  for (int64_t j = 0; j < n_keys; ++j) {
    std::vector<uint8_t> r(size_t(d / 2 + d / 32));
    for (int64_t i = 0; i < d / 2; ++i) r[size_t(i)] = j == 1 ? 0 : uint8_t(uniform_int(rng, 0, 255));
    for (int64_t b = 0; b < d / 32; ++b) r[size_t(d / 2 + b)] = uint8_t(uniform_int(rng, 120, 134));
    k.rows.push_back(std::move(r));
  }
  for (const auto& r : k.rows) {
    k.ptrs.push_back(r.data());
    k.decoded.emplace_back(size_t(d));
    ref::decode_fp4_row(r.data(), d, k.decoded.back().data());
  }
  for (const auto& v : k.decoded) k.fptrs.push_back(v.data());
  return k;
}

TEST(DecodeFp4Row, RefIsNibbleTimesScale) {
  std::vector<uint8_t> row(16 + 1, 0);
  row[0] = 0x2f;         // element 0: code 0xf (-6), element 1: code 0x2 (1.0)
  row[15] = 0x70;        // element 31: code 0x7 (6)
  row[16] = 127 - 1;     // scale 0.5
  std::vector<float> out(32);
  ref::decode_fp4_row(row.data(), 32, out.data());
  EXPECT_EQ(out[0], -3.0f);
  EXPECT_EQ(out[1], 0.5f);
  EXPECT_EQ(out[30], 0.0f);
  EXPECT_EQ(out[31], 3.0f);
}

// The FP4-key scores equal the float scores over the decoded keys, in ref:: and in the fast kernel, for
// any key range and head count.
TEST(IndexerScoresFp4, EqualTheScoresOfTheDecodedKeys) {
  const std::vector<Isa> isas = fast_isas();
  Rng rng(77);
  struct Case { int64_t H, d, n_keys; };
  for (const Case c : {Case{1, 32, 1}, Case{8, 64, 8}, Case{13, 64, 9}, Case{64, 128, 33}, Case{8, 128, 100}}) {
    const Fp4Keys k = make_fp4_keys(rng, c.n_keys, c.d);
    const auto q = randn(rng, size_t(c.H * c.d));
    const auto w = randn(rng, size_t(c.H));
    std::vector<float> want(size_t(c.n_keys)), got(size_t(c.n_keys), 99.0f);
    ref::indexer_scores(q.data(), c.H, c.d, w.data(), k.fptrs.data(), c.n_keys, want.data());
    ref::indexer_scores_fp4(q.data(), c.H, c.d, w.data(), k.ptrs.data(), c.n_keys, got.data());
    for (size_t j = 0; j < want.size(); ++j) ASSERT_TRUE(same_value(got[j], want[j])) << "ref, key " << j;
    for (Isa isa : isas) {
      std::vector<float> fast_out(size_t(c.n_keys), 99.0f);
      kernel_table(isa).indexer_scores_fp4(q.data(), c.H, c.d, w.data(), k.ptrs.data(), fast_out.data(), 1, c.n_keys);
      ASSERT_EQ(fast_out[0], 99.0f) << "wrote outside the key range";
      for (size_t j = 1; j < want.size(); ++j)
        ASSERT_TRUE(same_value(fast_out[j], want[j])) << isa_name(isa) << " H=" << c.H << " d=" << c.d << " key " << j;
    }
  }
}

// Queries and keys as the official numerics make them (FP4 values with power-of-two block scales), where
// the fast kernel sums in integers: still bit for bit ref::'s fp32 sums. Some heads and keys have block
// scales far apart, a zero block or no nonzero value at all, so that the kernel must also notice when
// the fp32 sum would round and take its float path for them.
TEST(IndexerScoresFp4, IntegerPathMatchesRefOnFp4Queries) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(2024);
    for (const int64_t d : {64, 128}) {
      const int64_t H = 13, n = 203;
      auto q = randn(rng, size_t(H * d));
      for (int64_t e = 0; e < 32; ++e) q[size_t(2 * d + e)] *= 8192.0f;  // head 2: blocks 13 octaves apart
      std::fill(q.begin() + 5 * d, q.begin() + 6 * d, 0.0f);             // head 5: all zero
      std::fill(q.begin() + 7 * d, q.begin() + 7 * d + 32, 0.0f);        // head 7: one zero block
      ref::fp4_fake_quant(q.data(), H, d, d, 32);
      std::fill(q.begin() + 9 * d, q.begin() + 9 * d + 32, 0.0f);        // head 9: zeros and a NaN
      q[size_t(9 * d)] = std::numeric_limits<float>::quiet_NaN();
      Fp4Keys k = make_fp4_keys(rng, n, d);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t b = 0; b < d / 32; ++b) {
          uint8_t& sc = k.rows[size_t(j)][size_t(d / 2 + b)];
          sc = uint8_t(j % 17 == 3 && b == 1 ? 100 : uniform_int(rng, 125, 129));  // a few keys far apart
        }
      k.rows[40][size_t(d / 2)] = 255;  // a NaN scale: the score is NaN
      const auto w = randn(rng, size_t(H));
      std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n), 99.0f);
      ref::indexer_scores_fp4(q.data(), H, d, w.data(), k.ptrs.data(), n, want.data());
      K->indexer_scores_fp4(q.data(), H, d, w.data(), k.ptrs.data(), got.data(), 1, n);
      ASSERT_EQ(got[0], 99.0f);
      for (int64_t j = 1; j < n; ++j)
        ASSERT_TRUE(same_value(got[size_t(j)], want[size_t(j)])) << "d=" << d << " key " << j << ": " << got[size_t(j)]
                                                                 << " vs " << want[size_t(j)];
    }
  }
}

// Keys with huge scales and a tiny query, where the integer path applies; one key has a block of zeros
// under the NaN scale code (255), which no exponent test sees, and must still score NaN as in ref::.
// Scales whose key values overflow to infinity must score as ref:: does too.
TEST(IndexerScoresFp4, NanScaleCodeGivesNan) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    Rng rng(9);
    const int64_t H = 4, d = 64, n = 40;
    auto q = randn(rng, size_t(H * d));
    for (float& v : q) v = std::ldexp(v, -60);
    ref::fp4_fake_quant(q.data(), H, d, d, 32);
    Fp4Keys k = make_fp4_keys(rng, n, d);
    for (auto& r : k.rows)
      for (int64_t b = 0; b < d / 32; ++b) r[size_t(d / 2 + b)] = uint8_t(uniform_int(rng, 250, 252));
    std::fill(k.rows[5].begin() + 16, k.rows[5].begin() + 32, uint8_t(0));  // block 1: zeros
    k.rows[5][size_t(d / 2 + 1)] = 255;
    for (int64_t j = 24; j < 32; ++j) k.rows[size_t(j)][size_t(d / 2)] = 254;  // 6 * 2^127 overflows
    const auto w = randn(rng, size_t(H));
    std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
    ref::indexer_scores_fp4(q.data(), H, d, w.data(), k.ptrs.data(), n, want.data());
    K->indexer_scores_fp4(q.data(), H, d, w.data(), k.ptrs.data(), got.data(), 0, n);
    ASSERT_TRUE(std::isnan(want[5]));
    for (int64_t j = 0; j < n; ++j) ASSERT_TRUE(same_value(got[size_t(j)], want[size_t(j)])) << "key " << j;
  }
}

// Hand-built cases at the edges of the integer path's exactness test, each scored by ref:: and the fast
// kernel (40 copies of one key, so that the integer path runs).
void set_nibble(std::vector<uint8_t>& row, int64_t e, int nib) {
  uint8_t& b = row[size_t(e / 2)];
  b = (e & 1) ? uint8_t((b & 0x0f) | (nib << 4)) : uint8_t((b & 0xf0) | nib);
}
void expect_fast_as_ref(const KernelTable& K, const std::vector<float>& q, int64_t d, const std::vector<uint8_t>& row,
                        const char* what) {
  const int64_t n = 40;
  const std::vector<std::vector<uint8_t>> rows(size_t(n), row);
  std::vector<const uint8_t*> p;
  for (const auto& r : rows) p.push_back(r.data());
  const std::vector<float> w = {1.0f};
  std::vector<float> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
  ref::indexer_scores_fp4(q.data(), 1, d, w.data(), p.data(), n, want.data());
  K.indexer_scores_fp4(q.data(), 1, d, w.data(), p.data(), got.data(), 0, n);
  EXPECT_TRUE(same_value(got[0], want[0])) << what << ": " << got[0] << " vs " << want[0];
}

TEST(IndexerScoresFp4, EdgesOfTheIntegerPath) {
  REQUIRE_FAST_TABLES(tables);
  for (const KernelTable* K : tables) {
    SCOPED_TRACE(isa_name(K->isa));
    {  // d = 256: eight blocks, seven of them 2^9 above the last; fp32 partial sums pass 2^24 units
      const int64_t d = 256;
      std::vector<float> q(static_cast<size_t>(d), 15.0f * 512.0f);
      q[224] = 8.0f;
      std::fill(q.begin() + 225, q.end(), 1.0f);
      std::vector<uint8_t> row(size_t(d / 2 + d / 32), 0);
      for (int64_t e = 0; e < d; ++e) set_nibble(row, e, e < 224 ? 7 : 1);  // 6, then 0.5
      std::fill(row.begin() + d / 2, row.end(), uint8_t(127));
      expect_fast_as_ref(*K, q, d, row, "blocks far apart over many blocks");
    }
    {  // a query of zeros against keys that decode to infinity: 0 * inf is NaN in ref::
      const int64_t d = 32;
      std::vector<float> q(static_cast<size_t>(d), 0.0f);
      std::vector<uint8_t> row(size_t(d / 2 + 1), 0);
      for (int64_t e = 0; e < d; ++e) set_nibble(row, e, 4);  // 2 * 2^127
      row[size_t(d / 2)] = 254;
      expect_fast_as_ref(*K, q, d, row, "zero query, infinite keys");
    }
    {  // a block of zeros under a huge scale next to an ordinary block: finite in ref::
      const int64_t d = 64;
      std::vector<float> q(static_cast<size_t>(d), 8192.0f);
      std::vector<uint8_t> row(size_t(d / 2 + 2), 0);
      for (int64_t e = 0; e < 32; ++e) set_nibble(row, e, 2);
      row[size_t(d / 2)] = 127;
      row[size_t(d / 2 + 1)] = 254;
      expect_fast_as_ref(*K, q, d, row, "zero key block under scale 254");
    }
    {  // a query value too small to scale into the block's integers without underflow
      const int64_t d = 32;
      std::vector<float> q(static_cast<size_t>(d), 0.0f);
      q[0] = std::ldexp(1.0f, 103);
      q[1] = std::ldexp(1.0f, -60);
      std::vector<uint8_t> row(size_t(d / 2 + 1), 0);
      set_nibble(row, 1, 2);
      row[size_t(d / 2)] = 127;
      expect_fast_as_ref(*K, q, d, row, "tiny query value");
    }
  }
}

TEST(IndexerScoresFp4, OpsDispatchAgrees) {
  ThreadPool pool(3);
  const ops::OpContext off = ops::OpContext::make(pool, false);
  for (Isa isa : fast_isas()) {
  SCOPED_TRACE(isa_name(isa));
  const ops::OpContext on = ops::OpContext::make(pool, isa);
    Rng rng(5);
    const int64_t H = 16, d = 128, n = 203;
    const Fp4Keys k = make_fp4_keys(rng, n, d);
    const auto q = randn(rng, size_t(H * d));
    const auto w = randn(rng, size_t(H));
    std::vector<float> a(static_cast<size_t>(n)), b(static_cast<size_t>(n));
    ops::indexer_scores_fp4(on, q.data(), H, d, w.data(), k.ptrs.data(), n, a.data());
    ops::indexer_scores_fp4(off, q.data(), H, d, w.data(), k.ptrs.data(), n, b.data());
    for (int64_t j = 0; j < n; ++j) ASSERT_TRUE(same_value(a[size_t(j)], b[size_t(j)])) << j;
    std::vector<uint8_t> codes(static_cast<size_t>(d)), scales(static_cast<size_t>(d / 64));
    for (auto& c : codes) c = uint8_t(uniform_int(rng, 0, 255));
    for (auto& c : scales) c = uint8_t(uniform_int(rng, 100, 150));
    std::vector<float> fa(static_cast<size_t>(d)), fb(static_cast<size_t>(d));
    ops::decode_fp8(on, codes.data(), scales.data(), d, 64, fa.data());
    ops::decode_fp8(off, codes.data(), scales.data(), d, 64, fb.data());
    for (int64_t j = 0; j < d; ++j) ASSERT_TRUE(same_value(fa[size_t(j)], fb[size_t(j)])) << j;
  }
}

}  // namespace
}  // namespace tachyon::cpu
