// Linear layers over activations quantised to int8, for the `fast` numerics: per token and per block of
// 32 columns, symmetric (s = max|x| / 127, q = x * 127 / max|x| rounded to nearest, ties to even). With
// FP4 weights every block's dot product is exact in int32 (2 x e2m1 is an integer in [-12, 12]), so a
// kernel needs one scaling per block and token; integer dot-product instructions (AVX-512 VNNI
// vpdpbusd) do the rest. Other weight formats multiply the dequantised activations (ops does that).
#pragma once

#include <cstdint>
#include <vector>

#include "backends/cpu/kernels.h"

namespace tachyon::cpu {

inline constexpr int64_t kI8Block = 32;
// Columns of a quantised row: k rounded up to whole blocks (the padding is zero).
inline int64_t i8_padded(int64_t k) { return (k + kI8Block - 1) / kI8Block * kI8Block; }

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

namespace ref {
// x[m, k] -> q[m, i8_padded(k)] (zero padded) and s[m, i8_padded(k) / 32]. A block of zeros gets s = 0.
// Non-finite x gives a NaN scale for its block (the block's outputs are then NaN, as in the reference).
void quantize_i8(const float* x, int64_t m, int64_t k, int8_t* q, float* s);
// q[m, i8_padded(k)] and s (quantize_i8's output) into the packed layout.
void pack_i8(const int8_t* q, const float* s, int64_t m, int64_t k, PackedI8* out);
// y[m, n_begin..n_end) = (q * s) . W^T for FP4 W (w.fmt == kFP4, w.k == x.k a multiple of 32): per output,
// float(block's int32 dot of q and 2 x e2m1) * (s * (2^(e - 127) / 2)) summed over blocks in order in fp32.
void linear_i8_fp4(const PackedI8& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
}  // namespace ref

namespace avx512 {
// ref::linear_i8_fp4's contract with vpdpbusd (AVX-512 VNNI); fp32 sums in its own fixed order, the same
// for every token count and row range (batch invariant).
void linear_i8_fp4(const PackedI8& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
// ref::quantize_i8, bit-exact.
void quantize_i8(const float* x, int64_t m, int64_t k, int8_t* q, float* s);
}  // namespace avx512

}  // namespace tachyon::cpu
