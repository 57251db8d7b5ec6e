#include "core/dtype.h"

#include <array>
#include <cmath>
#include <limits>

namespace tachyon {

size_t dtype_size(DType t) {
  switch (t) {
    case DType::kBF16: case DType::kF16: return 2;
    case DType::kF32: case DType::kI32: return 4;
    case DType::kI64: return 8;
    case DType::kF8E4M3: case DType::kF8E8M0: case DType::kI8: case DType::kU8: case DType::kBool: return 1;
  }
  return 0;
}

std::string_view dtype_name(DType t) {
  switch (t) {
    case DType::kBF16: return "BF16";
    case DType::kF16: return "F16";
    case DType::kF32: return "F32";
    case DType::kF8E4M3: return "F8_E4M3";
    case DType::kF8E8M0: return "F8_E8M0";
    case DType::kI8: return "I8";
    case DType::kI32: return "I32";
    case DType::kI64: return "I64";
    case DType::kU8: return "U8";
    case DType::kBool: return "BOOL";
  }
  return "?";
}

std::optional<DType> dtype_from_name(std::string_view n) {
  static constexpr std::array<DType, 10> all = {DType::kBF16, DType::kF16, DType::kF32, DType::kF8E4M3,
                                                DType::kF8E8M0, DType::kI8, DType::kI32, DType::kI64,
                                                DType::kU8, DType::kBool};
  for (DType t : all)
    if (dtype_name(t) == n) return t;
  return std::nullopt;
}

// ---- f16 ------------------------------------------------------------------------------------------
float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16;
  uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  if (exp == 0x1f) return std::bit_cast<float>(sign | 0x7f800000u | (man << 13));
  if (exp == 0) {
    float v = std::ldexp(float(man), -24);
    return sign ? -v : v;
  }
  return std::bit_cast<float>(sign | ((exp + 112) << 23) | (man << 13));
}

uint16_t f32_to_f16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint16_t sign = uint16_t((u >> 16) & 0x8000);
  uint32_t a = u & 0x7fffffffu;
  if (a > 0x7f800000u) return uint16_t(sign | 0x7e00 | ((a >> 13) & 0x3ff));  // NaN
  if (a >= 0x477ff000u) return uint16_t(sign | 0x7c00);                       // overflow -> inf
  if (a < 0x38800000u) {                                                      // subnormal or zero
    // value = a_float; subnormal unit 2^-24. Round half to even.
    float av = std::bit_cast<float>(a);
    float q = av * 16777216.0f;  // exact scaling by 2^24
    float r = std::nearbyint(q);  // default rounding mode is RNE
    return uint16_t(sign | uint16_t(r));
  }
  uint32_t exp = (a >> 23) - 112, man = a & 0x7fffffu;
  uint32_t h = (exp << 10) | (man >> 13);
  uint32_t rem = man & 0x1fff;
  if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
  return uint16_t(sign | h);
}

// ---- e4m3fn ---------------------------------------------------------------------------------------
float e4m3_to_f32(uint8_t c) {
  float sign = (c & 0x80) ? -1.0f : 1.0f;
  uint32_t exp = (c >> 3) & 0xf, man = c & 7;
  if (exp == 15 && man == 7) return std::numeric_limits<float>::quiet_NaN();
  if (exp == 0) return sign * std::ldexp(float(man), -9);
  return sign * std::ldexp(float(8 + man), int(exp) - 10);
}

namespace {
struct E4M3Table {
  float v[256];
  E4M3Table() {
    for (int i = 0; i < 256; ++i) v[i] = e4m3_to_f32(uint8_t(i));
  }
};
}  // namespace

const float* e4m3_table() {
  static const E4M3Table t;
  return t.v;
}

uint8_t f32_to_e4m3(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint8_t sign = uint8_t((u >> 24) & 0x80);
  float a = std::fabs(f);
  if (std::isnan(f)) return uint8_t(sign | 0x7f);
  if (a >= 448.0f) return uint8_t(sign | 0x7e);  // saturate
  if (a < std::ldexp(1.0f, -6)) {
    // subnormal range: unit 2^-9, codes 0..7 (8 = min normal 2^-6)
    float q = std::nearbyint(a * 512.0f);  // exact scaling, RNE
    return uint8_t(sign | uint8_t(q));      // q == 8 encodes exp=1, man=0 correctly
  }
  int e;
  std::frexp(a, &e);  // a = m * 2^e, m in [0.5, 1)
  int exp = e - 1;    // a in [2^exp, 2^(exp+1))
  float unit = std::ldexp(1.0f, exp - 3);
  float q = std::nearbyint(a / unit);  // in [8, 16], exact division by a power of two
  int code_exp = exp + 7, man = int(q) - 8;
  if (man == 8) { code_exp++; man = 0; }
  if (code_exp > 15 || (code_exp == 15 && man > 6)) return uint8_t(sign | 0x7e);
  return uint8_t(sign | (code_exp << 3) | man);
}

uint8_t e8m0_ceil(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  int exp = int((u >> 23) & 0xff);
  uint32_t man = u & 0x7fffffu;
  if (exp == 0) {
    // subnormal: value = man * 2^-149
    if (man == 0) return 0;
    int msb = 31 - std::countl_zero(man);  // value in [2^(msb-149), 2^(msb-148))
    int e = msb - 149 + ((man & (man - 1)) ? 1 : 0);
    int b = e + 127;
    return uint8_t(b < 0 ? 0 : b);
  }
  int e = exp - 127 + (man != 0 ? 1 : 0);
  int b = e + 127;
  return uint8_t(b > 254 ? 254 : b);
}

float pow2_ceil(float x) {
  uint32_t u = std::bit_cast<uint32_t>(x);
  int exp = int((u >> 23) & 0xff);
  uint32_t man = u & 0x7fffffu;
  int e;
  if (exp == 0) {
    if (man == 0) return 0.0f;
    int msb = 31 - std::countl_zero(man);
    e = msb - 149 + ((man & (man - 1)) ? 1 : 0);
  } else {
    e = exp - 127 + (man != 0 ? 1 : 0);
  }
  return std::ldexp(1.0f, e);
}

uint8_t f32_to_e2m1(float f) {
  uint8_t sign = std::signbit(f) ? 8 : 0;
  float a = std::fabs(f);
  if (std::isnan(f)) return uint8_t(sign | 7);
  // Midpoints between consecutive grid values; ties go to the even code.
  // grid: 0(0) .5(1) 1(2) 1.5(3) 2(4) 3(5) 4(6) 6(7)
  static constexpr float mid[7] = {0.25f, 0.75f, 1.25f, 1.75f, 2.5f, 3.5f, 5.0f};
  uint8_t code = 0;
  for (int i = 0; i < 7; ++i) {
    if (a > mid[i] || (a == mid[i] && ((i + 1) % 2 == 0))) code = uint8_t(i + 1);
    else break;
  }
  return uint8_t(sign | code);
}

}  // namespace tachyon
