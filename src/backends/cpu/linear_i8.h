// Linear layers over activations quantised to int8, for the `fast` numerics: per token and per block of
// 32 columns, symmetric (s = max|x| / 127, q = x * 127 / max|x| rounded to nearest, ties to even). With
// FP4 weights every block's dot product is exact in int32 (2 x e2m1 is an integer in [-12, 12]), so a
// kernel needs one scaling per block and token; integer dot-product instructions (AVX-512 VNNI
// vpdpbusd) do the rest. FP8 and BF16 weights are repacked once at load into int8 rows (WFormat::kI8,
// pack_weight_i8) with a power-of-two scale per row and 32 columns, which holds every FP8 value within a
// factor 8 of its group's largest exactly; the same kind of kernel multiplies them. Other weights
// multiply the dequantised activations (ops does that).
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "backends/cpu/kernels.h"

namespace tachyon::cpu {

inline constexpr int64_t kI8Block = 32;
// Columns of a quantised row: k rounded up to whole blocks (the padding is zero).
inline int64_t i8_padded(int64_t k) { return (k + kI8Block - 1) / kI8Block * kI8Block; }

// Int8 rows (WFormat::kI8) and their activations are stored in groups of 16 blocks (512 columns; the
// last group of a row holds the g <= 16 blocks left). Within a group of g blocks, byte 4g s + 4 l + b
// holds column 32 l + 4 s + b (s < 8, l < g, b < 4): a 64-byte load of a full group reads four columns of
// each of its sixteen blocks, so that one integer dot-product lane gathers one block's whole dot product
// over the group's eight loads, and one scaling per group and lane finishes it. `kp` is the row's width
// (i8_padded(k)); the returned offset is within the row.
inline constexpr int64_t kI8Group = 16 * kI8Block;
inline int64_t i8_row_offset(int64_t j, int64_t kp) {
  const int64_t g0 = j / kI8Group * kI8Group, in = j - g0;
  const int64_t g = std::min<int64_t>(16, (kp - g0) / kI8Block);  // blocks in this group
  return g0 + (in % kI8Block) / 4 * (4 * g) + in / kI8Block * 4 + in % 4;
}

// Quantised activations of m tokens laid out for the FP4 kernels, made once per call and read by every
// row range. Per token and chunk c of 128 columns: lo[64] (q of columns 128c + 2p), hi[64] (128c + 2p + 1),
// corr[16] (dword lane l: -12 x the sum of the eight q in its four lo and four hi bytes) and scale[16]
// (lane l: s of block 4c + l / 4; 0 past the row). Columns past k are zero.
struct PackedI8 {
  int64_t m = 0, k = 0, chunks = 0;
  std::vector<int8_t> lo, hi;
  std::vector<int32_t> corr;
  std::vector<float> scale;
};

// FP4 rows in groups (WFormat::kFP4G): the same 512-column groups of g <= 16 blocks, 16 bytes a block.
// Within a group, byte 4g s + 4l + b (s < 4) holds column 32l + 8s + b in its low nibble and column
// 32l + 8s + 4 + b in its high one: the low nibbles of a load are then the int8 rows' step 2s and the
// high ones step 2s + 1, so one activation layout (PackedI8Rows) serves both formats. k is a multiple of
// 32. fp4g_byte gives column j's byte within the row and fp4g_high whether it is the high nibble.
inline int64_t fp4g_byte(int64_t j, int64_t k) {
  const int64_t g0 = j / kI8Group * kI8Group, in = j - g0;
  const int64_t g = std::min<int64_t>(16, (k - g0) / kI8Block);
  return g0 / 2 + (in % kI8Block) / 8 * (4 * g) + in / kI8Block * 4 + in % 4;
}
inline bool fp4g_high(int64_t j) { return (j % 8) >= 4; }

// Quantised activations laid out for the int8-row kernels (WFormat::kI8 and kFP4G). Per token: q [kp] in the
// rows' group order (i8_row_offset), and per group G corr[16] (lane l: -128 x the sum of block 16G + l's
// q) and scale[16] (lane l: s of block 16G + l; 0 past the row).
struct PackedI8Rows {
  int64_t m = 0, k = 0, kp = 0, groups = 0;
  std::vector<int8_t> q;        // [m, kp]
  std::vector<int32_t> corr;    // [m, groups, 16]
  std::vector<float> scale;     // [m, groups, 16]
};

namespace ref {
// x[m, k] -> q[m, i8_padded(k)] (zero padded) and s[m, i8_padded(k) / 32]. A block of zeros gets s = 0.
// Non-finite x gives a NaN scale for its block (the block's outputs are then NaN, as in the reference).
void quantize_i8(const float* x, int64_t m, int64_t k, int8_t* q, float* s);
// q[m, i8_padded(k)] and s (quantize_i8's output) into the packed layout.
void pack_i8(const int8_t* q, const float* s, int64_t m, int64_t k, PackedI8* out);
// y[m, n_begin..n_end) = (q * s) . W^T for FP4 W (w.fmt == kFP4, w.k == x.k a multiple of 32): per output,
// float(block's int32 dot of q and 2 x e2m1) * (s * (2^(e - 127) / 2)) summed over blocks in order in fp32.
void linear_i8_fp4(const PackedI8& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);

// q and s (quantize_i8's output) into the int8-row kernels' layout.
void pack_i8_rows(const int8_t* q, const float* s, int64_t m, int64_t k, PackedI8Rows* out);
// y[m, n_begin..n_end) = (q * s) . W^T for kI8 W (w.k == x.k): per output, float(block's int32 dot of the
// two q) * (s * 2^(e - 127)) summed over blocks in order in fp32.
void linear_i8_i8(const PackedI8Rows& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
// Rows [r0, r1) of an FP8 or BF16 weight into kI8 rows: `codes` [w.n, kp] (group order,
// i8_row_offset) and `scales` [w.n, kp / 32] (block order), both from row 0 of the matrix. Per row and
// 32 columns: the smallest power of two 2^E with
// max|W| <= 127 x 2^E (E in [-127, 127]; code E + 127; a group of zeros gets code 0), q = W / 2^E
// rounded to nearest even; a group holding a non-finite value gets code 255 (NaN) and q = 0.
void pack_weight_i8(const WeightView& w, int64_t r0, int64_t r1, uint8_t* codes, uint8_t* scales);
// y[m, n_begin..n_end) = (q * s) . W^T for kFP4G W (w.k == x.k): per output, float(block's int32 dot of q
// and 2 x e2m1) * (s * 2^(e - 127) / 2) summed over blocks in order in fp32 (linear_i8_fp4's values).
void linear_i8_fp4g(const PackedI8Rows& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
// Rows [r0, r1) of a kFP4 weight's codes into kFP4G order: `codes` [w.n, k / 2] from row 0 (the scales
// stay as they are).
void pack_weight_fp4g(const WeightView& w, int64_t r0, int64_t r1, uint8_t* codes);
}  // namespace ref

namespace avx512 {
// ref::linear_i8_fp4's contract with vpdpbusd (AVX-512 VNNI); fp32 sums in its own fixed order, the same
// for every token count and row range (batch invariant).
void linear_i8_fp4(const PackedI8& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
// ref::linear_i8_i8's and ref::linear_i8_fp4g's contracts with vpdpbusd, batch invariant like
// linear_i8_fp4.
void linear_i8_i8(const PackedI8Rows& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
void linear_i8_fp4g(const PackedI8Rows& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
// ref::quantize_i8, bit-exact.
void quantize_i8(const float* x, int64_t m, int64_t k, int8_t* q, float* s);
}  // namespace avx512

}  // namespace tachyon::cpu
