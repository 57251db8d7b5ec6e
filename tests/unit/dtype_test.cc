// Exhaustive tests of the scalar formats: every code of bf16/f16/e4m3/e8m0/e2m1 round-trips, and f32
// inputs round to nearest-even as hand-checked below.
#include <cmath>
#include <cstring>
#include <limits>

#include <gtest/gtest.h>

#include "core/dtype.h"

namespace tachyon {
namespace {

float f(uint32_t bits) { return std::bit_cast<float>(bits); }

TEST(Bf16, AllCodesRoundTrip) {
  for (uint32_t c = 0; c < 65536; ++c) {
    float v = bf16_to_f32(uint16_t(c));
    if (std::isnan(v)) {
      EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(v))));
      continue;
    }
    EXPECT_EQ(f32_to_bf16(v), c) << c;
  }
}

TEST(Bf16, RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to even (1.0).
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  // 1 + 3*2^-8 is halfway between 1+2^-7 (odd) and 1+2^-6 (even): rounds up.
  EXPECT_EQ(f32_to_bf16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  EXPECT_EQ(f32_to_bf16(1.0f + std::ldexp(1.0f, -8) + std::ldexp(1.0f, -20)), 0x3f81);
  EXPECT_EQ(f32_to_bf16(-2.0f), 0xc000);
  EXPECT_EQ(f32_to_bf16(std::numeric_limits<float>::infinity()), 0x7f80);
  EXPECT_EQ(f32_to_bf16(f(0x7f7fffff)), 0x7f80);  // max float rounds to inf
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::nanf("")))));
  // Every f32 between two bf16 neighbours rounds to the nearer one (sampled exhaustively over mantissas).
  for (uint32_t lo = 0; lo < 0x10000; lo += 7) {
    uint32_t bits = 0x40490000u | lo;  // around pi
    uint16_t b = f32_to_bf16(f(bits));
    float x = f(bits), down = bf16_to_f32(uint16_t(bits >> 16)), up = bf16_to_f32(uint16_t((bits >> 16) + 1));
    float got = bf16_to_f32(b);
    float best = (x - down < up - x) ? down : (x - down > up - x ? up : (((bits >> 16) & 1) ? up : down));
    EXPECT_EQ(got, best) << std::hex << bits;
  }
}

TEST(F16, AllCodesRoundTrip) {
  for (uint32_t c = 0; c < 65536; ++c) {
    float v = f16_to_f32(uint16_t(c));
    if (std::isnan(v)) continue;
    EXPECT_EQ(f32_to_f16(v), c) << c;
  }
}

TEST(F16, EdgeCases) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);  // rounds to inf
  EXPECT_EQ(f32_to_f16(65519.0f), 0x7bff);
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);  // tie to even (0)
  EXPECT_EQ(f32_to_f16(std::ldexp(3.0f, -25)), 0x0002);  // tie to even (2)
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);
  EXPECT_EQ(f32_to_f16(1.0f + 3 * std::ldexp(1.0f, -11)), 0x3c02);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(std::nanf("")))));
}

TEST(E4M3, AllCodes) {
  int nans = 0;
  for (int c = 0; c < 256; ++c) {
    float v = e4m3_to_f32(uint8_t(c));
    if (std::isnan(v)) {
      ++nans;
      EXPECT_TRUE((c & 0x7f) == 0x7f);
      continue;
    }
    EXPECT_EQ(e4m3_table()[c], v);
    if (c == 0x80) {
      EXPECT_EQ(f32_to_e4m3(v), 0x80);  // -0
      continue;
    }
    EXPECT_EQ(f32_to_e4m3(v), c) << c;
  }
  EXPECT_EQ(nans, 2);
}

TEST(E4M3, HandChecked) {
  EXPECT_EQ(e4m3_to_f32(0x7e), 448.0f);
  EXPECT_EQ(e4m3_to_f32(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(e4m3_to_f32(0x08), std::ldexp(1.0f, -6));
  EXPECT_EQ(e4m3_to_f32(0x38), 1.0f);
  EXPECT_EQ(f32_to_e4m3(1000.0f), 0x7e);   // saturates
  EXPECT_EQ(f32_to_e4m3(-1000.0f), 0xfe);
  EXPECT_EQ(f32_to_e4m3(464.0f), 0x7e);    // above max: saturate, never NaN
  EXPECT_EQ(f32_to_e4m3(1.0625f), 0x38);   // halfway 1 and 1.125: even (1.0)
  EXPECT_EQ(f32_to_e4m3(1.1875f), 0x3a);   // halfway 1.125 and 1.25: even (1.25)
  EXPECT_EQ(f32_to_e4m3(std::ldexp(1.0f, -10)), 0x00);  // half of the smallest subnormal: even (0)
  EXPECT_EQ(f32_to_e4m3(std::ldexp(3.0f, -10)), 0x02);  // 1.5 units: even (2)
  EXPECT_EQ(f32_to_e4m3(std::ldexp(15.0f, -10)), 0x08); // 7.5 units rounds to min normal
  EXPECT_EQ(f32_to_e4m3(std::nanf("")) & 0x7f, 0x7f);
  // Exhaustive midpoint check: between every pair of adjacent positive codes.
  for (int c = 0; c < 0x7e; ++c) {
    float a = e4m3_to_f32(uint8_t(c)), b = e4m3_to_f32(uint8_t(c + 1));
    float mid = 0.5f * (a + b);
    EXPECT_EQ(f32_to_e4m3(mid), (c % 2 == 0) ? c : c + 1) << c;
    EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, 0.0f)), c);
    EXPECT_EQ(f32_to_e4m3(std::nextafter(mid, 1e9f)), c + 1);
  }
}

TEST(E8M0, AllCodes) {
  for (int b = 1; b < 255; ++b) EXPECT_EQ(e8m0_to_f32(uint8_t(b)), std::ldexp(1.0f, b - 127)) << b;
  EXPECT_EQ(e8m0_to_f32(0), std::ldexp(1.0f, -127));
  EXPECT_TRUE(std::isnan(e8m0_to_f32(255)));
  for (int b = 1; b < 255; ++b) {
    float v = std::ldexp(1.0f, b - 127);
    EXPECT_EQ(e8m0_ceil(v), b);
    EXPECT_EQ(e8m0_ceil(v * 1.0000001f), std::min(b + 1, 254));
  }
  EXPECT_EQ(pow2_ceil(448.0f), 512.0f);
  EXPECT_EQ(pow2_ceil(1.0f), 1.0f);
  EXPECT_EQ(pow2_ceil(1e-4f / 448.0f), std::ldexp(1.0f, -22));
  EXPECT_EQ(pow2_ceil(std::ldexp(1.0f, -140)), std::ldexp(1.0f, -140));
  EXPECT_EQ(pow2_ceil(std::ldexp(3.0f, -140)), std::ldexp(1.0f, -138));
}

TEST(E2M1, AllCodes) {
  const float vals[16] = {0, .5f, 1, 1.5f, 2, 3, 4, 6, -0.0f, -.5f, -1, -1.5f, -2, -3, -4, -6};
  for (int c = 0; c < 16; ++c) {
    EXPECT_EQ(e2m1_to_f32(uint8_t(c)), vals[c]);
    EXPECT_EQ(std::signbit(e2m1_to_f32(uint8_t(c))), c >= 8);
    EXPECT_EQ(f32_to_e2m1(vals[c]), c) << c;
  }
}

TEST(E2M1, RoundsToNearestEvenCode) {
  EXPECT_EQ(f32_to_e2m1(0.25f), 0);   // 0 | .5 -> code 0
  EXPECT_EQ(f32_to_e2m1(0.75f), 2);   // .5 | 1 -> code 2
  EXPECT_EQ(f32_to_e2m1(1.25f), 2);   // 1 | 1.5 -> code 2
  EXPECT_EQ(f32_to_e2m1(1.75f), 4);   // 1.5 | 2 -> code 4
  EXPECT_EQ(f32_to_e2m1(2.5f), 4);    // 2 | 3 -> code 4
  EXPECT_EQ(f32_to_e2m1(3.5f), 6);    // 3 | 4 -> code 6
  EXPECT_EQ(f32_to_e2m1(5.0f), 6);    // 4 | 6 -> code 6
  EXPECT_EQ(f32_to_e2m1(5.01f), 7);
  EXPECT_EQ(f32_to_e2m1(100.0f), 7);  // saturates
  EXPECT_EQ(f32_to_e2m1(-100.0f), 15);
  EXPECT_EQ(f32_to_e2m1(-0.3f), 9);
  // Packing: element k in byte k/2, low nibble first.
  const uint8_t row[2] = {0x21, 0xF7};
  EXPECT_EQ(fp4_nibble(row, 0), 1);
  EXPECT_EQ(fp4_nibble(row, 1), 2);
  EXPECT_EQ(fp4_nibble(row, 2), 7);
  EXPECT_EQ(fp4_nibble(row, 3), 15);
}

TEST(DTypeNames, RoundTrip) {
  for (auto n : {"BF16", "F16", "F32", "F8_E4M3", "F8_E8M0", "I8", "I32", "I64", "U8", "BOOL"}) {
    auto t = dtype_from_name(n);
    ASSERT_TRUE(t.has_value()) << n;
    EXPECT_EQ(dtype_name(*t), n);
  }
  EXPECT_FALSE(dtype_from_name("F64").has_value());
  EXPECT_EQ(dtype_size(DType::kI64), 8u);
}

}  // namespace
}  // namespace tachyon
