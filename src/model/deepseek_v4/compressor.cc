// Compressor partial state (spec §2.4, §3 item 4). State layout: kv rows then score rows, each
// [c*r, c*d] with c = 2 for the overlapping ratio-4 compressor and 1 otherwise. With overlap, rows
// [0, r) hold the previous block and rows [r, 2r) the current one; a block pools channel k from the
// previous block's channel k and the current block's channel d + k. Scores start at -inf, so the first
// block's "previous" half has zero weight.
#include <algorithm>
#include <cmath>
#include <vector>

#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

void norm_rows(const ModelContext& ctx, float* x, int64_t n, int64_t d, const TensorRef& w, float eps) {
  ops::rmsnorm(ctx.ops, x, w ? w.data<uint16_t>() : nullptr, n, d, eps, x);
}

bool compressor_token(const LayerEnv& env, const CompressorWeights& w, SequenceState& seq, float* state, int ratio,
                      int d, bool indexer, const float* kv, const float* gate, int64_t pos, float* entry) {
  const bool emitted = compressor_step(state, ratio, d, kv, gate, w.ape.data<float>(), pos, entry);
  CachePools::check_compressor_rows(seq, state, ratio, d, pos);
  if (!emitted) return false;
  // The entry: RMSNorm, RoPE at the block's first position, then the storage quantisation (FP8 sim of
  // the nope dims for attention; Hadamard + FP4 sim for the indexer).
  const ModelConfig& cfg = env.cfg;
  const int rd = cfg.qk_rope_head_dim;
  norm_rows(env.ctx, entry, 1, d, w.norm, float(cfg.rms_norm_eps));
  std::vector<float> cs(static_cast<size_t>(rd));  // [rd]
  env.rope.fill(pos / ratio * ratio, cs.data());
  ops::rope(entry + d - rd, rd, cs.data(), false);
  if (indexer) {
    ops::hadamard(entry, d);
    if (env.ctx.numerics.indexer_quant) ops::fp4_fake_quant(env.ctx.ops, entry, 1, d, d, 32);
  } else if (env.ctx.numerics.kv_quant) {
    ops::fp8_fake_quant(env.ctx.ops, entry, 1, d - rd, d, 64);
  }
  return true;
}

bool compressor_step(float* state, int ratio, int d, const float* kv, const float* gate, const float* ape,
                     int64_t pos, float* out) {
  const bool overlap = ratio == 4;
  const int c = overlap ? 2 : 1;
  const int rows = c * ratio, cols = c * d;
  float* kv_state = state;                         // [c*r, c*d]
  float* score_state = state + int64_t(rows) * cols;  // [c*r, c*d]
  const int slot = int(pos % ratio);
  const int row = overlap ? ratio + slot : slot;
  const float* ape_row = ape + int64_t(slot) * cols;  // [c*d]
  for (int k = 0; k < cols; ++k) {
    kv_state[int64_t(row) * cols + k] = kv[k];
    score_state[int64_t(row) * cols + k] = gate[k] + ape_row[k];
  }
  if ((pos + 1) % ratio != 0) return false;
  // Per-channel softmax over the candidate rows, then the weighted sum of their kv: every row's channel
  // k, where a current-block row of the overlapping compressor holds it at d + k.
  std::vector<const float*> kv_rows(static_cast<size_t>(rows)), score_rows(static_cast<size_t>(rows));  // [c*r]
  for (int r = 0; r < rows; ++r) {
    const int64_t ch = (overlap && r >= ratio) ? d : 0;
    kv_rows[size_t(r)] = kv_state + int64_t(r) * cols + ch;
    score_rows[size_t(r)] = score_state + int64_t(r) * cols + ch;
  }
  ops::softmax_pool(kv_rows.data(), score_rows.data(), rows, d, out);  // [d]
  if (overlap) {  // the current block becomes the previous one
    std::copy(kv_state + int64_t(ratio) * cols, kv_state + int64_t(rows) * cols, kv_state);
    std::copy(score_state + int64_t(ratio) * cols, score_state + int64_t(rows) * cols, score_state);
  }
  return true;
}

int compressor_touched(int ratio, int d, int64_t pos, std::array<std::pair<int64_t, int64_t>, 4>& out) {
  const bool overlap = ratio == 4;
  const int c = overlap ? 2 : 1;
  const int64_t rows = c * ratio, cols = c * d, half = rows * cols;  // kv rows, then as many score rows
  const int slot = int(pos % ratio);
  const int64_t row = overlap ? ratio + slot : slot;
  out[0] = {row * cols, cols};
  out[1] = {half + row * cols, cols};
  if (!overlap || (pos + 1) % ratio != 0) return 2;
  out[2] = {0, ratio * cols};
  out[3] = {half, ratio * cols};
  return 4;
}

}  // namespace tachyon::dsv4
