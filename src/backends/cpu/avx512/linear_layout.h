// What the AVX-512 linear kernels share (linear_avx512.cc: register tiles that decode as they go;
// gemm_avx512.cc: panels decoded once and reused by every token tile): the column order every output
// is summed in, the repacked activations, and the weight decoders. Both kernels must compute exactly the
// same sequence for every output, so that a token's result never depends on how many tokens share the
// call; everything that fixes that sequence lives here.
//
// The order. A row is cut into scale blocks (FP8: `block` columns, FP4: 32, BF16/F32: the whole row).
// Each block is walked in groups of 32 columns from its first column, then a tail of r < 32 columns.
// An output keeps sixteen fp32 lanes: in a group, lane l takes columns 2l and then 2l + 1 of the group
// (BF16, FP8, FP4: the order their packed bytes decode in without shuffles) or columns l and then l + 16
// (F32); in a tail, lane l takes column l, then column l + 16 if r > 16. FP8/FP4 blocks are summed from
// zero with fused multiply-adds and added, times their scale, to the output's accumulator (the two-level
// sum of ref::linear); BF16/F32 rows add straight into it. The sixteen lanes are summed last (hsum16).
//
// FP4 rows are read 64 bytes at a time instead wherever they can be: a wide group of 128 columns (four
// scale blocks) is eight vectors, vector q holding column 8l + q in lane l (nibble q of dword l: one
// shift and one table lookup per vector, no widening). Lane l then sees only block l / 4, so the four
// blocks are still summed apart: two sums from zero per lane (vectors q even, q odd), added, times a
// vector of the four blocks' scales (each on its four lanes), into the accumulator. The columns past the
// last whole 128 (k % 128, a multiple of 32) are ordinary groups.
//
// The activations are repacked once per call into that order (repack_x), each block padded with zeros
// to a multiple of 32 columns, so both kernels load aligned vectors.
//
// FP8 weights decode to value * 2^-8 (the e4m3 bits moved into an IEEE half, widened by vcvtph2ps: no
// gathers, subnormals exact), with the 2^8 folded into the block scale (fp8_scale_acc, exact). The
// group decoders leave the NaN codes 0x7f/0xff finite and report them through fp8_track; a row that holds
// one is then set to NaN, which is what the reference gives (a NaN weight poisons its block sum).
#pragma once

// GCC 12 reports the _mm512_undefined_* placeholders inside the AVX-512 intrinsics as used uninitialized
// wherever they are inlined (GCC bug 105593, fixed in 13). The warning is judged where the intrinsic
// headers' code lies, so it is turned off before they are first read: include this header first.
#if defined(__GNUC__) && !defined(__clang__) && __GNUC__ < 13
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <new>

#include "backends/cpu/kernels.h"
#include "core/dtype.h"

// Functions carry target attributes, so including this header does not raise the ISA of the rest of a
// translation unit; nothing here runs unless the AVX-512 kernel table was chosen. F/BW/VL only (with the
// AVX2 set), so both AVX-512 tables can use these kernels.
#define TACHYON_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,avx2,fma,f16c")))

namespace tachyon::cpu::avx512 {

// ---- the column order ----------------------------------------------------------------------------------
struct Layout {
  int64_t k = 0;      // columns
  int64_t B = 0;      // scale block length (k for BF16/F32: one block)
  int64_t Bp = 0;     // padded length of a full block: B rounded up to 32
  int64_t nblk = 0;   // blocks per row
  int64_t kp = 0;     // padded row: repacked x and decoded panels hold kp floats per row
  bool pairs = true;  // groups in column pairs (BF16/FP8/FP4) or in halves (F32)
  int64_t wide = 0;   // FP4: wide groups of 128 columns at the start of the row

  int64_t begin(int64_t b) const { return b * B; }
  int64_t end(int64_t b) const { return std::min(k, b * B + B); }
  int64_t pos(int64_t b) const { return b * Bp; }  // where block b starts in a padded row
};

inline int64_t round32(int64_t v) { return (v + 31) / 32 * 32; }

inline Layout layout_of(const WeightView& w) {
  Layout L;
  L.k = w.k;
  L.B = w.fmt == WFormat::kFP8 ? w.block : w.fmt == WFormat::kFP4 ? 32 : w.k;
  L.Bp = round32(L.B);
  L.nblk = (w.k + L.B - 1) / L.B;
  L.kp = (L.nblk - 1) * L.Bp + round32(w.k - (L.nblk - 1) * L.B);
  L.pairs = w.fmt != WFormat::kF32;
  L.wide = w.fmt == WFormat::kFP4 ? w.k / 128 : 0;
  return L;
}

// 64-byte aligned float buffer (vector loads of x and panels never split cache lines).
class FloatBuf {
 public:
  explicit FloatBuf(int64_t n)
      : p_(static_cast<float*>(
            ::operator new[](size_t(std::max<int64_t>(n, 16)) * sizeof(float), std::align_val_t(64)))) {}
  ~FloatBuf() { ::operator delete[](p_, std::align_val_t(64)); }
  FloatBuf(const FloatBuf&) = delete;
  FloatBuf& operator=(const FloatBuf&) = delete;
  float* get() const { return p_; }

 private:
  float* p_;
};

// Tokens x[m, k] into out[m, L.kp] in the column order above (padding zero).
void repack_x(const float* x, int64_t m, const Layout& L, float* out);

// ---- small helpers -------------------------------------------------------------------------------------
// Halves of a 512-bit vector. (GCC 12's _mm512_castsi512_si256 and extract intrinsics trip a false
// -Wmaybe-uninitialized; vector shuffles say the same thing without it.)
TACHYON_AVX512 inline __m256i lo256(__m512i v) { return __builtin_shufflevector(v, v, 0, 1, 2, 3); }
TACHYON_AVX512 inline __m256i hi256(__m512i v) { return __builtin_shufflevector(v, v, 4, 5, 6, 7); }
TACHYON_AVX512 inline __m256 lo256(__m512 v) { return __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7); }
TACHYON_AVX512 inline __m256 hi256(__m512 v) { return __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15); }

// Sum of the 16 lanes, in one fixed tree.
TACHYON_AVX512 inline float hsum16(__m512 v) {
  __m256 h = _mm256_add_ps(lo256(v), hi256(v));
  __m128 q = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
  q = _mm_add_ps(q, _mm_movehl_ps(q, q));
  q = _mm_add_ss(q, _mm_shuffle_ps(q, q, 1));
  return _mm_cvtss_f32(q);
}

// Sixteen E8M0 codes -> floats, exactly e8m0_to_f32 (code 0 is 2^-127, code 255 NaN).
TACHYON_AVX512 inline __m512 e8m0x16(__m128i codes) {
  const __m512i c = _mm512_cvtepu8_epi32(codes);
  __m512i f = _mm512_slli_epi32(c, 23);
  f = _mm512_mask_mov_epi32(f, _mm512_cmpeq_epi32_mask(c, _mm512_setzero_si512()), _mm512_set1_epi32(0x00400000));
  f = _mm512_mask_mov_epi32(f, _mm512_cmpeq_epi32_mask(c, _mm512_set1_epi32(255)), _mm512_set1_epi32(0x7fc00000));
  return _mm512_castsi512_ps(f);
}
// The first n (<= 16) of p as floats into out[0..16) (the rest: whatever code 0 gives, never read).
TACHYON_AVX512 inline void e8m0_load(const uint8_t* p, int64_t n, float* out) {
  const __m128i c = n >= 16 ? _mm_loadu_si128(reinterpret_cast<const __m128i*>(p))
                            : _mm_maskz_loadu_epi8(__mmask16((1u << n) - 1), p);
  _mm512_storeu_ps(out, e8m0x16(c));
}

// acc + part * (FP8 block scale) for a part summed over weights decoded as value * 2^-8: the scale is
// taken as 2^(code - 127 + 8) when that is a finite float, else part is brought back by 2^8 first.
TACHYON_AVX512 inline __m512 fp8_scale_acc(__m512 part, uint8_t code, __m512 acc) {
  if (code <= 246) return _mm512_fmadd_ps(part, _mm512_set1_ps(e8m0_to_f32(uint8_t(code + 8))), acc);
  return _mm512_fmadd_ps(_mm512_mul_ps(part, _mm512_set1_ps(256.0f)), _mm512_set1_ps(e8m0_to_f32(code)), acc);
}

// ---- group decoders: 32 columns -> (a, b), the two vectors of the group ---------------------------------
TACHYON_AVX512 inline void dec_group(const float* p, __m512& a, __m512& b) {
  a = _mm512_loadu_ps(p);
  b = _mm512_loadu_ps(p + 16);
}
// bf16 pairs: dword l holds columns 2l (low half) and 2l + 1 (high half); each half is an f32's top.
TACHYON_AVX512 inline void dec_group(const uint16_t* p, __m512& a, __m512& b) {
  const __m512i v = _mm512_loadu_si512(p);
  a = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16));
  b = _mm512_castsi512_ps(_mm512_and_si512(v, _mm512_set1_epi32(int(0xFFFF0000))));
}

// e4m3 code pairs (one 16-bit word per two columns) -> f16 bits of value * 2^-8: the code's sign to bit
// 15, its exponent to 13..10 (bit 14 clear), its mantissa to 9..7, nothing below. The odd column is the
// word's high byte already; the even one is moved up first.
TACHYON_AVX512 inline __m256i fp8_even_f16(__m256i w) {
  return _mm256_and_si256(_mm256_srai_epi16(_mm256_slli_epi16(w, 8), 1), _mm256_set1_epi16(short(0xBF80)));
}
TACHYON_AVX512 inline __m256i fp8_odd_f16(__m256i w) {
  return _mm256_and_si256(_mm256_srai_epi16(w, 1), _mm256_set1_epi16(short(0xBF80)));
}
// seen = bytewise max of (code | 0x80): a byte of seen is 0xff iff a code there was 0x7f or 0xff.
TACHYON_AVX512 inline __m512i fp8_track(__m512i codes, __m512i seen) {
  return _mm512_max_epu8(seen, _mm512_or_si512(codes, _mm512_set1_epi8(char(0x80))));
}
TACHYON_AVX512 inline bool fp8_nan_seen(__m512i seen) {
  return _mm512_cmpeq_epi8_mask(seen, _mm512_set1_epi8(char(0xff))) != 0;
}
// One group of 32 codes (NaN codes decode finite; tracked in seen).
TACHYON_AVX512 inline void dec_group_fp8(const uint8_t* p, __m512& a, __m512& b, __m512i& seen) {
  const __m256i w = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  seen = fp8_track(_mm512_zextsi256_si512(w), seen);
  a = _mm512_cvtph_ps(fp8_even_f16(w));
  b = _mm512_cvtph_ps(fp8_odd_f16(w));
}
// Two consecutive groups (64 codes), the same values as two dec_group_fp8 calls.
TACHYON_AVX512 inline void dec_pair_fp8(const uint8_t* p, __m512 (&v)[4], __m512i& seen) {
  const __m512i w = _mm512_loadu_si512(p);
  seen = fp8_track(w, seen);
  const __m512i m = _mm512_set1_epi16(short(0xBF80));
  const __m512i e = _mm512_and_si512(_mm512_srai_epi16(_mm512_slli_epi16(w, 8), 1), m);
  const __m512i o = _mm512_and_si512(_mm512_srai_epi16(w, 1), m);
  v[0] = _mm512_cvtph_ps(lo256(e));
  v[1] = _mm512_cvtph_ps(lo256(o));
  v[2] = _mm512_cvtph_ps(hi256(e));
  v[3] = _mm512_cvtph_ps(hi256(o));
}

// e2m1 values of 32 columns (16 bytes, low nibble first): dword l = byte l, whose low nibble is column
// 2l and high nibble column 2l + 1; vpermps looks both up in a 16-float table (it reads only the index's
// low four bits).
TACHYON_AVX512 inline __m512 e2m1_table() {
  return _mm512_setr_ps(0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f, -0.0f, -0.5f, -1.0f, -1.5f, -2.0f, -3.0f,
                        -4.0f, -6.0f);
}
// Lanes of a wide FP4 group: lane l holds columns of block l / 4.
TACHYON_AVX512 inline __m512i fp4_lane_block() {
  return _mm512_setr_epi32(0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3);
}
// Vector q (0..7) of a wide group whose 64 bytes are d: column 8l + q in lane l.
TACHYON_AVX512 inline __m512 dec_wide_fp4(__m512i d, int q, __m512 lut) {
  return _mm512_permutexvar_ps(q == 0 ? d : _mm512_srli_epi32(d, unsigned(4 * q)), lut);
}
TACHYON_AVX512 inline void dec_group_fp4(const uint8_t* p, __m512 lut, __m512& a, __m512& b) {
  const __m512i d = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
  a = _mm512_permutexvar_ps(d, lut);
  b = _mm512_permutexvar_ps(_mm512_srli_epi32(d, 4), lut);
}

// ---- tail decoders: the r (1..31) columns from p, in column order, zero beyond -------------------------
// Never read past the row. NaN codes decode to NaN here (no tracking needed).
TACHYON_AVX512 inline void dec_tail(const float* p, int64_t r, __m512& a, __m512& b) {
  const uint32_t bits = uint32_t((uint64_t(1) << r) - 1);
  a = _mm512_maskz_loadu_ps(__mmask16(bits), p);
  b = _mm512_maskz_loadu_ps(__mmask16(bits >> 16), p + 16);
}
TACHYON_AVX512 inline void dec_tail(const uint16_t* p, int64_t r, __m512& a, __m512& b) {
  const __m512i v = _mm512_maskz_loadu_epi16(__mmask32((uint64_t(1) << r) - 1), p);
  a = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(lo256(v)), 16));
  b = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(hi256(v)), 16));
}
TACHYON_AVX512 inline void dec_tail_fp8(const uint8_t* p, int64_t r, __m512& a, __m512& b) {
  const __m256i c = _mm256_maskz_loadu_epi8(__mmask32((uint64_t(1) << r) - 1), p);
  __m512i h = _mm512_slli_epi16(_mm512_cvtepu8_epi16(c), 8);
  h = _mm512_and_si512(_mm512_srai_epi16(h, 1), _mm512_set1_epi16(short(0xBF80)));
  const __m512i nan_bits = _mm512_set1_epi16(0x3F80);
  const __mmask32 nan = _mm512_cmpeq_epi16_mask(_mm512_and_si512(h, nan_bits), nan_bits);
  h = _mm512_mask_mov_epi16(h, nan, _mm512_or_si512(h, _mm512_set1_epi16(0x7C00)));
  a = _mm512_cvtph_ps(lo256(h));
  b = _mm512_cvtph_ps(hi256(h));
}

// Whether a row of FP8 codes holds a NaN code (0x7f or 0xff).
TACHYON_AVX512 inline bool fp8_row_has_nan(const uint8_t* p, int64_t k) {
  __m512i seen = _mm512_setzero_si512();
  int64_t j = 0;
  for (; j + 64 <= k; j += 64) seen = fp8_track(_mm512_loadu_si512(p + j), seen);
  if (j < k) seen = fp8_track(_mm512_maskz_loadu_epi8(__mmask64(~uint64_t(0) >> (64 - (k - j))), p + j), seen);
  return fp8_nan_seen(seen);
}

}  // namespace tachyon::cpu::avx512
