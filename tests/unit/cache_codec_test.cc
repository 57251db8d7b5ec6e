// Compact cache entries: sizes at DeepSeek-V4 dimensions, exact round trips of values the official
// FP8/FP4 simulations produce (random inputs, wide magnitude range, zero blocks), and refusal of
// values the format cannot hold.
#include <random>

#include <gtest/gtest.h>

#include "core/dtype.h"
#include "model/deepseek_v4/cache_codec.h"
#include "backends/cpu/kernels.h"

namespace tachyon::dsv4 {
namespace {

TEST(CacheCodec, SizesAtV4Dimensions) {
  EXPECT_EQ(kv_entry_bytes(CacheFormat::kCompact, 512, 64), 712);      // 448 + 7 + 256, padded
  EXPECT_EQ(kv_entry_bytes(CacheFormat::kCompactBf16, 512, 64), 584);  // 448 + 7 + 128, padded
  EXPECT_EQ(indexer_entry_bytes(CacheFormat::kCompact, 128), 72);      // 64 + 4, padded
  EXPECT_EQ(indexer_entry_bytes(CacheFormat::kCompactBf16, 128), 72);
  EXPECT_EQ(kv_entry_bytes(CacheFormat::kF32, 512, 64), 2048);
  EXPECT_EQ(indexer_entry_bytes(CacheFormat::kF32, 128), 512);
}

// The kernels of every instruction set this CPU runs (the scalar references first); no thread pool.
std::vector<ops::OpContext> contexts() {
  std::vector<ops::OpContext> c;
  for (cpu::Isa isa : cpu::supported_isas(cpu::detect_cpu_features())) {
    c.emplace_back();
    c.back().k = &cpu::kernel_table(isa);
  }
  return c;
}

std::vector<float> random_vector(std::mt19937& rng, int64_t n) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_int_distribution<int> ex(-30, 12);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& x : v) x = std::ldexp(nd(rng), ex(rng) / 4);  // magnitudes vary within and across blocks
  return v;
}

TEST(CacheCodec, KvRoundTripOfOfficialValuesIsExact) {
  std::mt19937 rng(7);
  for (const auto& [hd, rd] : {std::pair<int64_t, int64_t>{512, 64}, {128, 64}, {200, 64}}) {
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<float> v = random_vector(rng, hd);
      if (trial % 17 == 0) std::fill(v.begin(), v.begin() + 64, 0.0f);  // an all-zero block
      cpu::ref::fp8_fake_quant(v.data(), 1, hd - rd, hd, 64);
      for (CacheFormat f : {CacheFormat::kCompact, CacheFormat::kCompactBf16}) {
        std::vector<uint8_t> e(size_t(kv_entry_bytes(f, hd, rd)));
        ASSERT_TRUE(kv_encode(f, v.data(), hd, rd, e.data()));
        for (const ops::OpContext& ctx : contexts()) {  // the scalar and the fast FP8 decode
          std::vector<float> back(static_cast<size_t>(hd));
          kv_decode(ctx, f, e.data(), hd, rd, back.data());
          for (int64_t i = 0; i < hd - rd; ++i) ASSERT_EQ(back[size_t(i)], v[size_t(i)]) << i;
          // Rope dims: exact in kCompact, bf16 round-to-nearest-even in kCompactBf16.
          for (int64_t i = hd - rd; i < hd; ++i)
            ASSERT_EQ(back[size_t(i)], f == CacheFormat::kCompact ? v[size_t(i)] : round_bf16(v[size_t(i)])) << i;
        }
      }
    }
  }
}

TEST(CacheCodec, IndexerRoundTripOfOfficialValuesIsExact) {
  std::mt19937 rng(11);
  for (const int64_t d : {128, 64, 48}) {
    for (int trial = 0; trial < 200; ++trial) {
      std::vector<float> v = random_vector(rng, d);
      cpu::ref::fp4_fake_quant(v.data(), 1, d, d, 32);
      std::vector<uint8_t> e(size_t(indexer_entry_bytes(CacheFormat::kCompact, d)));
      ASSERT_TRUE(indexer_encode(CacheFormat::kCompact, v.data(), d, e.data()));
      std::vector<float> back(static_cast<size_t>(d));
      indexer_decode(CacheFormat::kCompact, e.data(), d, back.data());
      for (int64_t i = 0; i < d; ++i) ASSERT_EQ(back[size_t(i)], v[size_t(i)]) << i;
    }
  }
}

TEST(CacheCodec, Names) {
  CacheFormat f = CacheFormat::kF32;
  ASSERT_TRUE(parse_cache_format("fp8-bf16rope", &f));
  EXPECT_EQ(f, CacheFormat::kCompactBf16);
  ASSERT_TRUE(parse_cache_format("fp8", &f));
  EXPECT_EQ(f, CacheFormat::kCompact);
  EXPECT_STREQ(cache_format_name(CacheFormat::kF32), "fp32");
  EXPECT_FALSE(parse_cache_format("int8", &f));
}

TEST(CacheCodec, ChoiceFollowsTheNumerics) {
  const Numerics off = Numerics::official(), ex = Numerics::exact();
  EXPECT_EQ(choose_cache_format("auto", off).value(), CacheFormat::kCompact);
  EXPECT_EQ(choose_cache_format("auto", ex).value(), CacheFormat::kF32);
  EXPECT_EQ(choose_cache_format("fp32", off).value(), CacheFormat::kF32);
  EXPECT_EQ(choose_cache_format("fp8-bf16rope", off).value(), CacheFormat::kCompactBf16);
  auto bad = choose_cache_format("fp8", ex);
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("needs official or fast numerics"), std::string::npos);
  auto unknown = choose_cache_format("int8", off);
  ASSERT_FALSE(unknown.is_ok());
  EXPECT_NE(unknown.status().message().find("unknown kv cache dtype 'int8'"), std::string::npos);
}

TEST(CacheCodec, RefusesValuesItCannotHold) {
  std::vector<float> v(128, 0.0f);
  std::vector<uint8_t> e(1024);
  v[0] = 1.0f + 1.0f / 64;  // not an e4m3 value at any common scale with v[1]
  v[1] = 3.0f;
  EXPECT_FALSE(kv_encode(CacheFormat::kCompact, v.data(), 128, 64, e.data()));
  EXPECT_FALSE(kv_encode(CacheFormat::kCompactBf16, v.data(), 128, 64, e.data()));
  std::vector<float> ix(64, 0.0f);
  ix[3] = 5.0f;  // between e2m1 codes 4 and 6
  EXPECT_FALSE(indexer_encode(CacheFormat::kCompact, ix.data(), 64, e.data()));
  // fp32 entries hold anything.
  EXPECT_TRUE(kv_encode(CacheFormat::kF32, v.data(), 128, 64, e.data() + 0));
}

}  // namespace
}  // namespace tachyon::dsv4
