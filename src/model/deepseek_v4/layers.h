// The pieces of one DeepSeek-V4 block, as plain functions over typed weights (spec §2). Activations are
// fp32 row-major [n_tokens, ...]; rows follow the batch's token order, and `TokenSpan`s say which rows
// belong to which sequence (and at which positions), because attention and the compressors are
// sequential per sequence while every other op is position-independent.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

#include "model/deepseek_v4/context.h"
#include "model/deepseek_v4/rope.h"
#include "model/deepseek_v4/state.h"
#include "model/deepseek_v4/weights.h"

namespace tachyon::dsv4 {

struct TokenSpan {
  SequenceState* seq = nullptr;
  int64_t start_pos = 0;  // position of the first token
  int64_t n = 0;          // number of tokens
  int64_t row0 = 0;       // first row in the batch
};

struct LayerEnv {
  const ModelConfig& cfg;
  const ModelContext& ctx;
  CachePools& pools;
  const RopeTable& rope;  // this layer's table (spec §2.6)
  int layer = 0;          // index into SequenceState::layers (num_hidden_layers = MTP)
  std::string prefix;     // trace name prefix ("layer2." or "mtp.")
};

WeightView view(const Linear& l);

// RMS-normalises each of `n` vectors of `d` values in place with a bf16 weight (or none).
void norm_rows(const ModelContext& ctx, float* x, int64_t n, int64_t d, const TensorRef& w, float eps);

// y[m, n] = W x, with the FP8 activation quantisation of spec §2.11 when the weight is stored FP8/FP4
// and the mode simulates it (wo_a, which the reference runs in bf16, calls ops directly).
void linear_q(const ModelContext& ctx, const float* x, int64_t m, const Linear& w, float* y);
// Whether linear_q quantises its input for `w`, and that quantisation in place (x [m, k], per token and
// 128 columns), for callers that share one quantised input between several weights.
bool act_quant_applies(const ModelContext& ctx, const Linear& w);
void act_quant(const ModelContext& ctx, float* x, int64_t m, int64_t k);
// Whether w runs an integer kernel (fast numerics, a set with them; FP4 weights, or weights repacked
// into int8 rows, repack.h): its input, already act_quant'ed where that applies, is then quantised once
// more into the kernel's layout (ops::quantize_acts gives back the same q).
bool int8_kernel(const ModelContext& ctx, const Linear& w);
// The view the kernels read: the int8 rows where the context runs them (repack.h), else view(w).
WeightView kernel_view(const ModelContext& ctx, const Linear& w);
// The activation layouts (ops::ActLayout) w's integer kernel reads; 0 when it runs none.
unsigned act_layouts(const ModelContext& ctx, const Linear& w);
// Several linear_q over the same input x [m, k] in one parallel region, x quantised once for all the
// weights that want it: ys[i] = what linear_q(ctx, x, m, *ws[i], ys[i]) gives.
void linear_q_shared(const ModelContext& ctx, const float* x, int64_t m, std::span<const Linear* const> ws,
                     std::span<float* const> ys);

// Hyper-connections (spec §2.2, §2.8). streams [T, hc, D].
void hc_pre(const ModelContext& ctx, const ModelConfig& cfg, const HcWeights& w, const float* streams, int64_t T,
            float* y /*[T, D]*/, float* post /*[T, hc]*/, float* comb /*[T, hc, hc]*/);
void hc_post(const ModelContext& ctx, const ModelConfig& cfg, const float* f /*[T, D]*/, const float* post,
             const float* comb, int64_t T, float* streams /*[T, hc, D], updated in place*/);
void hc_head(const ModelContext& ctx, const ModelConfig& cfg, const HcHeadWeights& w, const float* streams, int64_t T,
             float* y /*[T, D]*/);

// Attention sublayer (spec §2.3-2.5): x [T, D] (already attn_norm'ed) -> out [T, D]. Appends to the state.
void attention_forward(const LayerEnv& env, const AttentionWeights& w, const float* x, int64_t T,
                       std::span<const TokenSpan> spans, float* out);

// MoE sublayer (spec §2.7): x [T, D] (already ffn_norm'ed) -> out [T, D].
void moe_forward(const LayerEnv& env, const MoEWeights& w, const float* x, int64_t T, const int32_t* token_ids,
                 float* out);

// One token into a compressor of `seq` (the attention's, or with `indexer` the Lightning Indexer's): steps
// its state (kv, gate [c*d] are the token's projections) and, when the token completes a block, writes
// the finished entry to `entry` [d] (RMSNorm, RoPE at the block's first position, storage quantisation)
// and returns true; the caller stores it.
bool compressor_token(const LayerEnv& env, const CompressorWeights& w, SequenceState& seq, float* state, int ratio,
                      int d, bool indexer, const float* kv, const float* gate, int64_t pos, float* entry);

// Lightning Indexer for one token (spec §2.5): feeds its compressor (storing a completed block), turns the
// token's query iq [IH, ID] into the scoring form in place (RoPE, Hadamard, FP4 sim), scores the blocks
// visible at `pos` with the head weights iw [IH], and puts the top-k block indices (by score) in `picked`.
struct IndexerScratch {
  std::vector<float> entry, scores;  // [ID], [n_blocks]
  std::vector<const uint8_t*> keys;  // [n_blocks] the indexer entries as stored
};
void indexer_token(const LayerEnv& env, const IndexerWeights& w, SequenceState& seq, int64_t pos, const float* cs,
                   float* iq, const float* iw, const float* ikv, const float* igate, IndexerScratch& scratch,
                   std::vector<int32_t>& picked);

// Feeds one token into a compressor's partial state; when it completes a block, writes the pooled
// (not yet normalised) vector to out [d] and returns true (spec §2.4, §3 item 4).
bool compressor_step(float* state, int ratio, int d, const float* kv, const float* gate, const float* ape,
                     int64_t pos, float* out);

// The parts of a compressor state that compressor_step at `pos` overwrites, as {offset, count} float
// ranges: the kv and score rows of the position's slot and, where an overlapping compressor completes a
// block, the previous-block halves that the shift replaces. Returns how many of `out` it filled.
int compressor_touched(int ratio, int d, int64_t pos, std::array<std::pair<int64_t, int64_t>, 4>& out);

}  // namespace tachyon::dsv4
