// One table of kernels per instruction set (isa.h). ops/ calls kernels only through the table its
// OpContext holds, so the model never sees an instruction set. Every entry of every table has the
// contract of its scalar reference in kernels.h (ref::); a table whose set has no kernel of its own for
// an op holds the best one below it (`native` says which ops a set implements itself). Tables are
// constant: choosing one is the only decision, made once at start-up.
#pragma once

#include <cstdint>

#include "backends/cpu/isa.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/linear_i8.h"
#include "backends/cpu/probe_kernels.h"

namespace tachyon::cpu {

struct KernelTable {
  Isa isa = Isa::kScalar;
  // y[m, n_begin..n_end) = x . W^T (ref::linear's contract, up to fp32 summation order within a set;
  // batch invariant: a token's outputs do not depend on m or the row range).
  void (*linear)(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
  void (*fp8_fake_quant)(float* x, int64_t m, int64_t k, int64_t stride, int64_t block);
  void (*fp4_fake_quant)(float* x, int64_t m, int64_t k, int64_t stride, int64_t block);
  void (*rmsnorm)(const float* x, const uint16_t* w_bf16, int64_t m, int64_t d, float eps, float* y);
  // Heads [h_begin, h_end) of ref::attention_sink (q, sink and out indexed from head 0).
  void (*attention_sink)(const float* q, int64_t d, const float* const* keys, int64_t n_keys, const float* sink,
                         float scale, float* out, int64_t h_begin, int64_t h_end);
  uint64_t (*stream_sum)(const uint64_t* p, int64_t n);
  // Peak-rate probe of the multiply-add instruction this set's GEMM uses (probe_kernels.h), and its name.
  int64_t (*peak_fma)(int64_t rounds, float* sink);
  const char* peak_instruction = "";
  void (*dot_f64)(const float* a, const float* w, int64_t n, int64_t n_out, double* out);
  void (*dot_i8)(const int8_t* x, int64_t m, const int8_t* w, int64_t k, int64_t n_out, int32_t* out, int64_t ldo);
  // Keys [j_begin, j_end) of ref::indexer_scores / ref::indexer_scores_fp4 (bit-exact with them).
  void (*indexer_scores)(const float* q, int64_t n_heads, int64_t d, const float* w, const float* const* keys,
                         float* out, int64_t j_begin, int64_t j_end);
  void (*indexer_scores_fp4)(const float* q, int64_t n_heads, int64_t d, const float* w,
                             const uint8_t* const* keys, float* out, int64_t j_begin, int64_t j_end);
  void (*decode_fp8)(const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t block, float* out);
  // Row kernels (bit-exact in every set).
  void (*widen_bf16)(const uint16_t* src, int64_t n, float* out);
  void (*add)(const float* x, int64_t n, float* y);
  void (*scale)(float* x, int64_t n, float a);
  void (*mix_rows)(const float* const* rows, const float* w, int64_t n, int64_t d, float* out);
  // Int8 activations for the fast numerics (linear_i8.h): quantisation (bit-exact with the reference in
  // every set, so that every set sees the same q), and FP4 linears over them (ref::linear_i8_fp4's contract, up to fp32
  // summation order within a set; batch invariant).
  void (*quantize_i8)(const float* x, int64_t m, int64_t k, int8_t* q, float* s);
  void (*linear_i8_fp4)(const PackedI8& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
  // Int8-row weights (WFormat::kI8, repacked at load) over them (ref::linear_i8_i8's contract, the same way).
  void (*linear_i8_i8)(const PackedI8Rows& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
  // Grouped FP4 weights (WFormat::kFP4G, repacked at load) over them (ref::linear_i8_fp4g's contract).
  void (*linear_i8_fp4g)(const PackedI8Rows& x, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
  // Whether linear_i8_fp4 and linear_i8_i8 are integer dot-product kernels of this set (else the
  // references: the fast numerics then gain nothing here, and no weight is repacked).
  bool native_i8 = false;
  // The ops this set implements with its own instructions (the others come from a set below it).
  const char* native = "";
};

// The table of `isa`. The caller checks that the CPU can run it (isa_supported).
const KernelTable& kernel_table(Isa isa);

}  // namespace tachyon::cpu
