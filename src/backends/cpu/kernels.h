// CPU kernels. Every op has a plain scalar reference in namespace `ref` (the oracle that tests compare
// against) and, where it pays, a vectorised twin in namespace `fast` chosen at run time by ops/.
// Kernels see only raw pointers and sizes: no model types, no requests.
#pragma once

#include <cstdint>

#include "core/weight_view.h"

namespace tachyon::cpu {

// The weight format and view are core's (core/weight_view.h); these names keep cpu::-qualified callers
// working.
using ::tachyon::WeightView;
using ::tachyon::WFormat;

namespace ref {
// y[m, n] = sum_k x[m, k] * W[n, k], fp32 accumulation; for FP8/FP4 each scale block of k is summed
// in fp32 and then added, scaled, to the fp32 accumulator (spec §2.11). Rows [n_begin, n_end) only.
void linear(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
}  // namespace ref

namespace fast {
// Whether the vectorised kernels can run on this CPU (AVX2 + FMA + F16C).
bool available();
// ref::linear's contract, up to fp32 summation order. Batch invariant: each output's arithmetic is fixed
// by (row, k, format), so a token's results are bit-for-bit the same whatever m and [n_begin, n_end).
void linear(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
// Same contracts as the ref:: twins below. The fake-quant kernels are bit-exact with ref::; the others
// differ only by fp32 summation order.
void fp8_fake_quant(float* x, int64_t m, int64_t k, int64_t stride, int64_t block);
void fp4_fake_quant(float* x, int64_t m, int64_t k, int64_t stride, int64_t block);
void rmsnorm(const float* x, const uint16_t* w_bf16, int64_t m, int64_t d, float eps, float* y);
// Heads [h_begin, h_end) only (q, sink and out are still indexed from head 0).
void attention_sink(const float* q, int64_t d, const float* const* keys, int64_t n_keys, const float* sink,
                    float scale, float* out, int64_t h_begin, int64_t h_end);
uint64_t stream_sum(const uint64_t* p, int64_t n);
void dot_f64(const float* a, const float* w, int64_t n, int64_t n_out, double* out);
void dot_i8(const int8_t* x, int64_t m, const int8_t* w, int64_t k, int64_t n_out, int32_t* out, int64_t ldo);
// Keys [j_begin, j_end) only; bit-exact with ref:: (eight keys per vector, each lane in ref::'s order).
void indexer_scores(const float* q, int64_t n_heads, int64_t d, const float* w, const float* const* keys,
                    float* out, int64_t j_begin, int64_t j_end);
void indexer_scores_fp4(const float* q, int64_t n_heads, int64_t d, const float* w, const uint8_t* const* keys,
                        float* out, int64_t j_begin, int64_t j_end);
void decode_fp8(const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t block, float* out);
// The row kernels, bit-exact with ref:: (no fused multiply-add).
void widen_bf16(const uint16_t* src, int64_t n, float* out);
void add(const float* x, int64_t n, float* y);
void scale(float* x, int64_t n, float a);
void mix_rows(const float* const* rows, const float* w, int64_t n, int64_t d, float* out);
}  // namespace fast

namespace avx512 {
// AVX-512 F/BW/VL (with AVX2/FMA/F16C) twin of ref::linear: its contract up to fp32 summation order, and
// batch invariant like fast::linear (the column order is its own: avx512/linear_layout.h), so its
// results differ from fast::'s by summation order only. Runs only from the AVX-512 kernel tables.
void linear(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);
// fast::attention_sink's contract (heads [h_begin, h_end) of ref::attention_sink, up to fp32 summation
// order), heads in blocks of four.
void attention_sink(const float* q, int64_t d, const float* const* keys, int64_t n_keys, const float* sink,
                    float scale, float* out, int64_t h_begin, int64_t h_end);
}  // namespace avx512

// The score function of a mixture-of-experts router (spec §2.7).
enum class RouterScore : uint8_t {
  kSqrtSoftplus,  // sqrt(softplus(z)), softplus(z) = z above 20
  kSigmoid,       // 1 / (1 + e^-z)
  kSoftmax,       // softmax over the token's row
};

// What a router does with a token's logits (ref::route).
struct RouterSpec {
  int64_t n_experts = 0, top_k = 0;
  RouterScore score = RouterScore::kSqrtSoftplus;
  const float* bias = nullptr;  // [n_experts] added to the scores for the selection only, or null
  bool hashed = false;          // the experts are given (ids is an input), not selected
  bool renormalise = true;      // divide the picked scores by their sum
  float scale = 1.0f;           // routed_scaling_factor, applied last
};

namespace ref {

// ---- row kernels: one rounding per operation, so the vector twins are bit-exact ----
// out[i] = the bf16 src[i] as f32 (exact).
void widen_bf16(const uint16_t* src, int64_t n, float* out);
// y[i] += x[i].
void add(const float* x, int64_t n, float* y);
// x[i] *= a.
void scale(float* x, int64_t n, float a);
// out[e] = sum over i in [0, n) of w[i] * rows[i][e] for e in [0, d): from +0, each product rounded and
// then added in order of i. out may be one of the rows.
void mix_rows(const float* const* rows, const float* w, int64_t n, int64_t d, float* out);

// ---- mixture of experts (spec §2.7) ----
// Clamped SwiGLU of n values: out[i] = silu(min(g, limit)) * clamp(u, -limit, limit) (no clamping when
// limit <= 0), times *weight when weight is not null; silu(g) = g / (1 + e^-g). out may be gate or up.
void swiglu(const float* gate, const float* up, int64_t n, float limit, const float* weight, float* out);
// Routing of n_tokens tokens from their router logits [n_tokens, n_experts]: scores s = f(logits) (softmax
// over the row for kSoftmax), the top_k experts by s + bias (ties: lower index) unless hashed, then
// weights[t, k] = s[ids[t, k]], divided by their sum when renormalise, times scale.
// ids, weights [n_tokens, top_k]; ids are read, not written, when hashed.
void route(const float* logits, int64_t n_tokens, const RouterSpec& spec, int32_t* ids, float* weights);

// Per-channel softmax pooling (spec §2.4): out[k] = sum_r values[r][k] * (e^(scores[r][k] - M) / Z) over
// r in [0, n) in order, M = max_r scores[r][k], Z = sum_r e^(scores[r][k] - M), for k in [0, d).
void softmax_pool(const float* const* values, const float* const* scores, int64_t n, int64_t d, float* out);

// out[o] = sum_i a[i] * w[o * n + i] for o in [0, n_out), in double: four partial sums s_l over i = l mod 4
// (each product of two floats is exact in double), then (s0 + s1) + (s2 + s3); the fast twin is
// bit-exact. The hyper-connection mixes (spec §2.2) use it.
void dot_f64(const float* a, const float* w, int64_t n, int64_t n_out, double* out);

// out[q * ldo + o] = sum_j x[q * k + j] * w[o * k + j] for queries q in [0, m) and rows o in [0, n_out):
// int8 values in [-127, 127], k a multiple of 32, summed in int32 (exact in any order while
// k * 127^2 < 2^31, so the fast twin matches bit for bit). The screening pass of the int8 head
// (DraftHead) uses it; the fast twin reads each row once for all queries.
void dot_i8(const int8_t* x, int64_t m, const int8_t* w, int64_t k, int64_t n_out, int32_t* out, int64_t ldo);

// Wrapping sum of n 64-bit words: the streaming read of the memory-bandwidth probe (probe.h). Exact in
// any order, so the fast twin must match bit for bit.
uint64_t stream_sum(const uint64_t* p, int64_t n);

// In-place FP8 fake quantisation of x[m, k] (row stride `stride`) in blocks of `block` columns
// (spec §2.11/§2.12): s = 2^ceil(log2(max(amax, 1e-4) * fp32(1/448))), x <- e4m3_rne(clamp(x/s)) * s.
void fp8_fake_quant(float* x, int64_t m, int64_t k, int64_t stride, int64_t block);
// In-place FP4 fake quantisation in blocks of `block` (32): s = 2^ceil(log2(max(amax, 6*2^-126) / 6)).
void fp4_fake_quant(float* x, int64_t m, int64_t k, int64_t stride, int64_t block);

// y[i, :] = w * x[i, :] / sqrt(mean(x[i, :]^2) + eps); w may be null (weightless), bf16 otherwise.
void rmsnorm(const float* x, const uint16_t* w_bf16, int64_t m, int64_t d, float eps, float* y);

// GPT-J style rotation of `dim` values (pairs (x[2i], x[2i+1])) by angle_i = cos_sin[2i], [2i+1] hold cos, sin.
// inverse rotates by the negative angle.
void rope(float* x, int64_t dim, const float* cos_sin, bool inverse);

// Normalised Sylvester-order Walsh-Hadamard transform of n (a power of two) values, in place.
void hadamard(float* x, int64_t n);

// Indices of the k largest scores (ties: lower index first), written in descending score order.
void topk(const float* scores, int64_t n, int64_t k, int32_t* out);

// Attention for one query token with a per-head sink logit (spec §2.3):
//   q [n_heads, d], keys[j] -> d floats (K = V), out [n_heads, d].
//   s_j = scale * q.k_j; o = sum_j e^(s_j - M) k_j / (sum_j e^(s_j - M) + e^(sink - M)).
void attention_sink(const float* q, int64_t n_heads, int64_t d, const float* const* keys, int64_t n_keys,
                    const float* sink, float scale, float* out);

// Lightning-indexer block scores (spec §2.5): out[j] = sum over heads h, in order, of
// max(q_h . k_j, 0) * w[h], each dot product summed over the d dims in order; every product and sum
// rounded to fp32 on its own (no fused multiply-add). q [n_heads, d], keys[j] -> d floats.
void indexer_scores(const float* q, int64_t n_heads, int64_t d, const float* w, const float* const* keys,
                    int64_t n_keys, float* out);

// A packed FP4 row as the compact indexer cache holds it: d e2m1 values two per byte, low nibble first,
// then one E8M0 scale byte per 32 values (the fast kernels take d a multiple of 32).
// out[e] = e2m1(code e) * 2^(scale - 127), which is exact (or one rounding if subnormal).
void decode_fp4_row(const uint8_t* row, int64_t d, float* out);
// indexer_scores with keys[j] such FP4 rows: exactly indexer_scores over the decoded keys.
void indexer_scores_fp4(const float* q, int64_t n_heads, int64_t d, const float* w, const uint8_t* const* keys,
                        int64_t n_keys, float* out);
// out[j] = e4m3(codes[j]) * e8m0(scales[j / block]) for j in [0, n): one rounding of the exact product.
void decode_fp8(const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t block, float* out);

// Hyper-connection split (spec §2.2 step 3): mixes [(2+hc)*hc] -> pre [hc], post [hc], comb [hc, hc]
// with `iters` Sinkhorn passes.
void hc_split_sinkhorn(const float* mixes, const float* scale3, const float* base, int hc, int iters, float eps,
                       float* pre, float* post, float* comb);
// Hyper-connection head weights (spec §2.8): weight[i] = sigmoid(mixes[i] * scale + base[i]) + eps.
void hc_head_weights(const float* mixes, float scale, const float* base, int hc, float eps, float* weight);

}  // namespace ref
}  // namespace tachyon::cpu
