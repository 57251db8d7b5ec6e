// Scalar number formats used by DeepSeek-V4 checkpoints and activations, with exact conversions.
//
//   bf16      1-8-7, round-to-nearest-even from f32
//   f16       1-5-10 (IEEE half), round-to-nearest-even from f32
//   e4m3fn    FP8 1-4-3, bias 7, no infinities, 0x7F/0xFF = NaN, max 448; RNE, saturating
//   e8m0      unsigned power-of-two scale: 2^(b-127), b = 255 is NaN
//   e2m1      FP4 nibble: bits 0-2 index {0, .5, 1, 1.5, 2, 3, 4, 6}, bit 3 = sign; two per byte,
//             low nibble first
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace tachyon {

enum class DType : uint8_t { kBF16, kF16, kF32, kF8E4M3, kF8E8M0, kI8, kI32, kI64, kU8, kBool };

// Bytes per element as stored (packed FP4 is stored as I8/U8 bytes and is not a DType of its own).
size_t dtype_size(DType t);
// Safetensors name ("BF16", "F8_E4M3", ...).
std::string_view dtype_name(DType t);
std::optional<DType> dtype_from_name(std::string_view name);

// ---- bf16 -----------------------------------------------------------------------------------------
inline float bf16_to_f32(uint16_t b) { return std::bit_cast<float>(uint32_t(b) << 16); }
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN, keep sign
  u += 0x7fffu + ((u >> 16) & 1u);                                          // RNE
  return uint16_t(u >> 16);
}
inline float round_bf16(float f) { return bf16_to_f32(f32_to_bf16(f)); }

// ---- f16 ------------------------------------------------------------------------------------------
float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

// ---- FP8 e4m3fn -------------------------------------------------------------------------------------
float e4m3_to_f32(uint8_t c);
// Round-to-nearest-even, saturating to +-448; NaN maps to 0x7F (with sign).
uint8_t f32_to_e4m3(float f);
// Lookup table of all 256 codes (NaN codes give NaN).
const float* e4m3_table();

// ---- E8M0 -------------------------------------------------------------------------------------------
inline float e8m0_to_f32(uint8_t b) {
  if (b == 255) return std::bit_cast<float>(0x7fc00000u);
  if (b == 0) return std::bit_cast<float>(0x00400000u);  // 2^-127 is subnormal in f32
  return std::bit_cast<float>(uint32_t(b) << 23);
}
// Smallest e8m0 code b with 2^(b-127) >= x (x > 0, finite); "ceil log2" taken from the f32 bit pattern.
uint8_t e8m0_ceil(float x);

// ---- FP4 e2m1 ---------------------------------------------------------------------------------------
inline constexpr float kE2M1Values[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
inline float e2m1_to_f32(uint8_t nibble) {
  float v = kE2M1Values[nibble & 7];
  return (nibble & 8) ? -v : v;
}
// Round to nearest e2m1 value (ties to the even code), saturating at +-6. Returns the nibble.
uint8_t f32_to_e2m1(float f);
// Element k of a packed FP4 row.
inline uint8_t fp4_nibble(const uint8_t* row, size_t k) {
  uint8_t b = row[k >> 1];
  return (k & 1) ? uint8_t(b >> 4) : uint8_t(b & 0xf);
}

// ---- power-of-two scale helper (spec §2.11/§2.12) -----------------------------------------------------
// 2^ceil(log2(x)) for finite x > 0, with ceil-log2 from the bit pattern (exponent - 127, +1 if the
// mantissa is non-zero). Subnormal inputs are handled.
float pow2_ceil(float x);

}  // namespace tachyon
