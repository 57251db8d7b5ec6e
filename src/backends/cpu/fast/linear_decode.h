// Weight decoders shared by the AVX2 linear kernels (linear_avx2.cc: register tiles that decode as they
// go; gemm_avx2.cc: panels decoded once and reused by every token tile). Both must produce the same f32
// value for every weight, so that a row's result never depends on which kernel ran it.
//
// FP8 weights decode to value * 2^-8 (the e4m3 bits moved into an IEEE half, widened by vcvtph2ps; no
// gathers, subnormals exact). The 2^8 goes into the block scale instead (fp8_scale), which is exact:
// a block's partial sum is then exactly 2^-8 times what it would have been, and partial * (s * 2^8)
// rounds the same as partial * s. FP4 weights decode to their exact value.
#pragma once

#include <immintrin.h>

#include <bit>
#include <cstdint>
#include <cstring>

#include "backends/cpu/fast/avx2_util.h"
#include "core/dtype.h"

namespace tachyon::cpu::fast {

// Lane mask with the first n (0..8) lanes set, for masked loads of a tail.
TACHYON_AVX2 inline __m256i head_mask(int64_t n) {
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// ---- 8-wide decoders ---------------------------------------------------------------------------------
TACHYON_AVX2 inline __m256 dec8(const float* p) { return _mm256_loadu_ps(p); }
TACHYON_AVX2 inline __m256 dec8(const uint16_t* p) {
  __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}
// e4m3 -> f16 bits: sign to bit 15, the 4 exponent bits to 10..13 (bit 14 clear), mantissa to 7..9; the
// f16 value is then the e4m3 value * 2^-8, subnormals included. Codes 0x7f/0xff become f16 NaN.
TACHYON_AVX2 inline __m256 dec8(const uint8_t* p) {
  __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
  __m128i h = _mm_unpacklo_epi8(_mm_setzero_si128(), b);  // code << 8
  h = _mm_and_si128(_mm_srai_epi16(h, 1), _mm_set1_epi16(short(0xBFFF)));
  const __m128i nan_bits = _mm_set1_epi16(0x3F80);
  __m128i nan = _mm_cmpeq_epi16(_mm_and_si128(h, nan_bits), nan_bits);
  h = _mm_or_si128(h, _mm_and_si128(nan, _mm_set1_epi16(0x7C00)));
  return _mm256_cvtph_ps(h);
}
// 16 e4m3 codes -> two vectors (codes 0..7, 8..15), value * 2^-8, same bits as two dec8 calls.
TACHYON_AVX2 inline void dec16_fp8(const uint8_t* p, __m256& lo, __m256& hi) {
  __m256i h = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  h = _mm256_and_si256(_mm256_srai_epi16(_mm256_slli_epi16(h, 8), 1), _mm256_set1_epi16(short(0xBFFF)));
  const __m256i nan_bits = _mm256_set1_epi16(0x3F80);
  const __m256i nan = _mm256_cmpeq_epi16(_mm256_and_si256(h, nan_bits), nan_bits);
  h = _mm256_or_si256(h, _mm256_and_si256(nan, _mm256_set1_epi16(0x7C00)));
  lo = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  hi = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}
// 32 e4m3 codes (one 32-byte load) -> four vectors: codes 0..7, 8..15, 16..23, 24..31, each the same
// bits as dec8 gives, except that the NaN codes 0x7f/0xff come out finite (f16 +-1.875, i.e. +-480 * 2^-8).
// Unpacking against zero within 128-bit lanes puts code << 8 in each word without vpmovzxbw's lane
// crossing, and leaves the NaN fix-up (4 ops per 16 codes) to the caller, who checks the raw bytes once
// per row with fp8_nan_track and redoes the rare tile that has a NaN code with the exact decoders.
TACHYON_AVX2 inline void dec32_fp8_nonan(__m256i b, __m256 out[4]) {
  const __m256i z = _mm256_setzero_si256(), keep = _mm256_set1_epi16(short(0xBFFF));
  const __m256i lo = _mm256_and_si256(_mm256_srai_epi16(_mm256_unpacklo_epi8(z, b), 1), keep);  // 0..7 | 16..23
  const __m256i hi = _mm256_and_si256(_mm256_srai_epi16(_mm256_unpackhi_epi8(z, b), 1), keep);  // 8..15 | 24..31
  out[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(lo));
  out[1] = _mm256_cvtph_ps(_mm256_castsi256_si128(hi));
  out[2] = _mm256_cvtph_ps(_mm256_extracti128_si256(lo, 1));
  out[3] = _mm256_cvtph_ps(_mm256_extracti128_si256(hi, 1));
}
// seen = bytewise max of (code | 0x80): a byte of seen is 0xff iff some code there was 0x7f or 0xff.
TACHYON_AVX2 inline __m256i fp8_nan_track(__m256i b, __m256i seen) {
  return _mm256_max_epu8(seen, _mm256_or_si256(b, _mm256_set1_epi8(char(0x80))));
}
TACHYON_AVX2 inline bool fp8_nan_seen(__m256i seen) {
  return _mm256_movemask_epi8(_mm256_cmpeq_epi8(seen, _mm256_set1_epi8(char(0xff)))) != 0;
}
// 32 e2m1 values (16 bytes, low nibble first). Every e2m1 value is an f16 whose low byte is zero, so a
// 16-entry byte table gives the high byte.
TACHYON_AVX2 inline void dec32_fp4(const uint8_t* p, __m256 out[4]) {
  const __m128i lut = _mm_setr_epi8(0x00, 0x38, 0x3C, 0x3E, 0x40, 0x42, 0x44, 0x46, char(0x80), char(0xB8),
                                    char(0xBC), char(0xBE), char(0xC0), char(0xC2), char(0xC4), char(0xC6));
  const __m128i low4 = _mm_set1_epi8(0x0F), z = _mm_setzero_si128();
  __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  __m128i lo = _mm_shuffle_epi8(lut, _mm_and_si128(b, low4));
  __m128i hi = _mm_shuffle_epi8(lut, _mm_and_si128(_mm_srli_epi16(b, 4), low4));
  __m128i e0 = _mm_unpacklo_epi8(lo, hi), e1 = _mm_unpackhi_epi8(lo, hi);  // elements 0..15, 16..31
  out[0] = _mm256_cvtph_ps(_mm_unpacklo_epi8(z, e0));
  out[1] = _mm256_cvtph_ps(_mm_unpackhi_epi8(z, e0));
  out[2] = _mm256_cvtph_ps(_mm_unpacklo_epi8(z, e1));
  out[3] = _mm256_cvtph_ps(_mm_unpackhi_epi8(z, e1));
}

// Decode the last n < 8 weights of a range: copy them into a zeroed buffer (never reads past the row).
template <typename W>
TACHYON_AVX2 inline __m256 dec8_tail(const W* p, int64_t n) {
  W buf[8] = {};
  std::memcpy(buf, p, size_t(n) * sizeof(W));
  return dec8(buf);
}

// ---- scales ------------------------------------------------------------------------------------------
// acc + part * (FP8 block scale) for a part summed over weights decoded as value * 2^-8: the scale is
// taken as 2^(code - 127 + 8) when that is a finite float, else part is brought back by 2^8 first.
TACHYON_AVX2 inline __m256 fp8_scale_acc(__m256 part, uint8_t code, __m256 acc) {
  if (code <= 246) return _mm256_fmadd_ps(part, _mm256_set1_ps(e8m0_to_f32(uint8_t(code + 8))), acc);
  return _mm256_fmadd_ps(_mm256_mul_ps(part, _mm256_set1_ps(256.0f)), _mm256_set1_ps(e8m0_to_f32(code)), acc);
}

}  // namespace tachyon::cpu::fast
