// Backend-neutral operations used by the model. Each op validates its shape contract with TACHYON_CHECK,
// splits the work across the context's threads where it pays, and calls its kernel through the
// context's kernel table (ops with no vectorised kernel call the scalar reference). Model code calls
// only these, and never names an instruction set.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "backends/cpu/cpu_features.h"
#include "backends/cpu/kernel_table.h"
#include "backends/cpu/kernels.h"
#include "backends/cpu/linear_i8.h"
#include "core/thread_pool.h"
#include "core/weight_view.h"

namespace tachyon::ops {

// Execution context for ops: the thread pool and the kernel table of the instruction set that runs.
struct OpContext {
  const ThreadPool* pool = nullptr;
  const cpu::KernelTable* k = &cpu::kernel_table(cpu::Isa::kScalar);

  // The best set this CPU can run, or (allow_fast false) the scalar references.
  static OpContext make(const ThreadPool& pool, bool allow_fast = true);
  // A given set; the caller has checked that the CPU can run it (cpu::choose_isa).
  static OpContext make(const ThreadPool& pool, cpu::Isa isa);
  bool fast() const { return k->isa != cpu::Isa::kScalar; }
  cpu::Isa isa() const { return k->isa; }
};

// y[m, w.n] = x[m, w.k] . W^T (fp32 accumulation). Threads split the output features.
void linear(const OpContext& ctx, const float* x, int64_t m, const WeightView& w, float* y);

// Several independent linears (each its own x, m, weight and y) in one parallel region: the rows of all
// of them are split into chunks of about equal weight bytes. Each y is exactly what linear() gives.
struct QuantizedActs;
struct LinearJob {
  const float* x = nullptr;
  int64_t m = 0;
  WeightView w;
  float* y = nullptr;
  // Int8 activations (the fast numerics), packed for the integer kernel that reads w (FP4 weights in a
  // set with one, KernelTable::native_i8, and weights repacked at load); x serves every other weight.
  const QuantizedActs* xq = nullptr;
};
void linear_group(const OpContext& ctx, std::span<const LinearJob> jobs);

// In-place activation / KV fake quantisation (spec §2.11, §2.12).
void fp8_fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k, int64_t stride, int64_t block);
void fp4_fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k, int64_t stride, int64_t block);

void rmsnorm(const OpContext& ctx, const float* x, const uint16_t* w_bf16, int64_t m, int64_t d, float eps, float* y);
// out[o] = a . w[o] in double (cpu::ref::dot_f64's order; bit-exact either kernel), w [n_out, n].
void dot_f64(const OpContext& ctx, const float* a, const float* w, int64_t n, int64_t n_out, double* out);
// Symmetric int8 quantisation of x[k] into q[kp] (kp >= k, zero-padded): scale = max|x| / 127 and
// q = x / scale rounded to nearest (ties to even), in [-127, 127]; returns the scale (0 if x is all zero).
// Then |x[j] - scale * q[j]| <= scale / 2 (up to one rounding of x / scale).
float quantize_i8(const float* x, int64_t k, int64_t kp, int8_t* q);
// out[q, o] = x[q] . w[o] for queries x [m, k] over int8 rows w [n_out, k] into out [m, n_out]
// (cpu::ref::dot_i8: int32, exact; bit-exact either kernel), k a multiple of 32 and k * 127^2 < 2^31.
// Threads split the rows; each row is read once for all queries.
void dot_i8(const OpContext& ctx, const int8_t* x, int64_t m, const int8_t* w, int64_t k, int64_t n_out, int32_t* out);
void rope(float* x, int64_t dim, const float* cos_sin, bool inverse);
void hadamard(float* x, int64_t n);
void decode_fp4_row(const uint8_t* row, int64_t d, float* out);  // cpu::ref::decode_fp4_row
void topk(const float* scores, int64_t n, int64_t k, int32_t* out);
void attention_sink(const OpContext& ctx, const float* q, int64_t n_heads, int64_t d, const float* const* keys,
                    int64_t n_keys, const float* sink, float scale, float* out);
// Lightning-indexer scores of n_keys compressed blocks (cpu::ref::indexer_scores; bit-exact either kernel).
void indexer_scores(const OpContext& ctx, const float* q, int64_t n_heads, int64_t d, const float* w,
                    const float* const* keys, int64_t n_keys, float* out);
// The same over compact FP4 keys (cpu::ref::decode_fp4_row's layout), decoded in registers.
void indexer_scores_fp4(const OpContext& ctx, const float* q, int64_t n_heads, int64_t d, const float* w,
                        const uint8_t* const* keys, int64_t n_keys, float* out);
// FP8 codes with E8M0 block scales -> floats, exactly (cpu::ref::decode_fp8). One thread.
void decode_fp8(const OpContext& ctx, const uint8_t* codes, const uint8_t* scales, int64_t n, int64_t block,
                float* out);
void hc_split_sinkhorn(const float* mixes, const float* scale3, const float* base, int hc, int iters, float eps,
                       float* pre, float* post, float* comb);

// ---- rows: embedding, element-wise sums, gather and scatter (bit-exact in every kernel set) ----
// out[t, c, :] = table[ids[t], :] as f32 for c in [0, copies): the embedding rows of n tokens, table
// [n_rows, d] bf16, out [n, copies, d]. Every id must be in [0, n_rows).
void embed_rows(const OpContext& ctx, const uint16_t* table, int64_t n_rows, int64_t d, const int32_t* ids, int64_t n,
                int64_t copies, float* out);
// y[i] += x[i] for i in [0, n).
void add(const OpContext& ctx, const float* x, int64_t n, float* y);
// y[t, c, :] += x[t, :] for c in [0, copies): x [n, d], y [n, copies, d].
void add_broadcast(const OpContext& ctx, const float* x, int64_t n, int64_t copies, int64_t d, float* y);
// x[i] *= a for i in [0, n).
void scale(const OpContext& ctx, float* x, int64_t n, float a);
// out[i, :] = x[rows[i], :]: x [*, d] -> out [rows.size(), d].
void gather_rows(const OpContext& ctx, const float* x, int64_t d, std::span<const int64_t> rows, float* out);
// out[rows[i], :] += y[i, :] for i in order, so a row listed several times gets its sums in list order:
// y [rows.size(), d], out [*, d].
void scatter_add_rows(const OpContext& ctx, const float* y, int64_t d, std::span<const int64_t> rows, float* out);

// ---- hyper-connections (spec §2.2, §2.8) ----
// mixes[t, o] = (fn[o] . a_t) / sqrt(mean(a_t^2) + eps) for the n_tokens rows a_t of streams [n_tokens, n]:
// the dot products and the mean square summed in double (dot_f64), fn [n_mix, n] f32, mixes
// [n_tokens, n_mix]. One token splits its outputs across threads, several tokens split the tokens; each
// value is the same either way.
void hc_mixes(const OpContext& ctx, const float* streams, int64_t n_tokens, int64_t n, const float* fn, int64_t n_mix,
              float eps, float* mixes);
// y[t] = sum over i in order of weight[t, i] * streams[t, i]: streams [n_tokens, hc, d], weight
// [n_tokens, hc], y [n_tokens, d].
void mix_streams(const OpContext& ctx, const float* streams, const float* weight, int64_t n_tokens, int hc, int64_t d,
                 float* y);
// The write back of a sublayer's output f [n_tokens, d] into streams [n_tokens, hc, d], in place:
// X_j <- post[t, j] * f_t + sum over i in order of comb[t, i, j] * X_i (the old streams).
void hc_post(const OpContext& ctx, const float* f, const float* post, const float* comb, int64_t n_tokens, int hc,
             int64_t d, float* streams);
// weight[i] = sigmoid(mixes[i] * scale + base[i]) + eps for i in [0, hc) (cpu::ref::hc_head_weights).
void hc_head_weights(const float* mixes, float scale, const float* base, int hc, float eps, float* weight);

// ---- mixture of experts (spec §2.4, §2.7) ----
using cpu::RouterScore;
using cpu::RouterSpec;
// Clamped SwiGLU (cpu::ref::swiglu) of gate, up [m, n] into out [m, n], row r times row_weight[r] when
// row_weight is not null. out may be gate or up. Threads split the elements.
void swiglu(const OpContext& ctx, const float* gate, const float* up, int64_t m, int64_t n, float limit,
            const float* row_weight, float* out);
// Routing of n_tokens tokens (cpu::ref::route): logits [n_tokens, n_experts] -> ids, weights
// [n_tokens, top_k]; with spec.hashed the ids are given and each must be in [0, n_experts).
void route(const OpContext& ctx, const float* logits, int64_t n_tokens, const RouterSpec& spec, int32_t* ids,
           float* weights);
// Per-channel softmax pooling of n candidate rows (cpu::ref::softmax_pool): out [d].
void softmax_pool(const float* const* values, const float* const* scores, int64_t n, int64_t d, float* out);

// ---- int8 activations (the fast numerics) ----
// x[m, k] quantised per token and 32 columns (cpu::ref::quantize_i8) in the integer kernels' layouts:
// `packed` for the FP4 kernel (filled only when the context's set has it) and `rows` for the int8-row
// and grouped FP4 kernels (WFormat::kI8, kFP4G).
struct QuantizedActs {
  int64_t m = 0, k = 0;
  cpu::PackedI8 packed;
  cpu::PackedI8Rows rows;
};
// Which of QuantizedActs' layouts quantize_acts fills (a bit set; the others are left empty).
enum ActLayout : unsigned { kActFp4 = 2, kActRows = 4 };
void quantize_acts(const OpContext& ctx, const float* x, int64_t m, int64_t k, QuantizedActs* out,
                   unsigned layouts);
// x[m, k] <- q * s in place: the fast numerics' activation quantisation as values.
void i8_fake_quant(const OpContext& ctx, float* x, int64_t m, int64_t k);
// y[m, w.n] = (q * s) . W^T for a weight with an integer kernel: FP4 in a set with one, or repacked at
// load (WFormat::kI8 and kFP4G, which only this path takes).
void linear(const OpContext& ctx, const QuantizedActs& x, const WeightView& w, float* y);
// A whole FP8 or BF16 matrix w into int8 rows (cpu::ref::pack_weight_i8): codes [w.n, kp], scales
// [w.n, kp / 32], kp = cpu::i8_padded(w.k). Threads split the rows.
void pack_weight_i8(const OpContext& ctx, const WeightView& w, uint8_t* codes, uint8_t* scales);
// A whole FP4 matrix's codes into the grouped order (cpu::ref::pack_weight_fp4g): codes [w.n, w.k / 2].
void pack_weight_fp4g(const OpContext& ctx, const WeightView& w, uint8_t* codes);

}  // namespace tachyon::ops
