// Lightning Indexer (spec §2.5): per token, its own compressor of ratio 4 over index_head_dim keys, a
// query of index_n_heads heads (RoPE, Hadamard, FP4 sim under official numerics), block scores summed
// over heads with per-head weights, and the top-k blocks that the token's attention reads.
#include <algorithm>
#include <vector>

#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

namespace {

// Scores of a query [IH, ID] against the stored keys: fp32 rows as they are, compact FP4 rows decoded
// inside the kernel (no float copy of the keys).
void index_scores(const ModelContext& ctx, CacheFormat format, const float* q, int64_t IH, int64_t ID,
                  const float* w, const std::vector<const uint8_t*>& keys, float* scores) {
  const int64_t n = int64_t(keys.size());
  if (format != CacheFormat::kF32) return ops::indexer_scores_fp4(ctx.ops, q, IH, ID, w, keys.data(), n, scores);
  std::vector<const float*> rows(keys.size());
  for (size_t j = 0; j < keys.size(); ++j) rows[j] = reinterpret_cast<const float*>(keys[j]);  // kF32 entries
  ops::indexer_scores(ctx.ops, q, IH, ID, w, rows.data(), n, scores);
}

}  // namespace

void indexer_token(const LayerEnv& env, const IndexerWeights& w, SequenceState& seq, int64_t pos, const float* cs,
                   float* iq, const float* iw, const float* ikv, const float* igate, IndexerScratch& s,
                   std::vector<int32_t>& picked) {
  const ModelConfig& cfg = env.cfg;
  const ModelContext& ctx = env.ctx;
  const int64_t IH = cfg.index_n_heads, ID = cfg.index_head_dim, rd = cfg.qk_rope_head_dim;
  s.entry.resize(size_t(ID));
  float* st = env.pools.indexer_state(seq, env.layer);
  if (compressor_token(env, w.compressor, seq, st, 4, int(ID), true, ikv, igate, pos, s.entry.data()))
    env.pools.indexer_store(seq, env.layer, pos / 4, s.entry.data());
  // The query: RoPE, Hadamard, FP4 sim.
  for (int64_t h = 0; h < IH; ++h) {
    float* v = iq + h * ID;                        // [ID]
    ops::rope(v + ID - rd, rd, cs, false);
    ops::hadamard(v, ID);
  }
  if (ctx.numerics.indexer_quant) ops::fp4_fake_quant(ctx.ops, iq, IH, ID, ID, 32);
  const int64_t n_blocks = (pos + 1) / 4;          // completed, visible blocks
  s.scores.assign(size_t(n_blocks), 0.0f);         // [n_blocks]
  s.keys.resize(size_t(n_blocks));
  for (int64_t j = 0; j < n_blocks; ++j) s.keys[size_t(j)] = env.pools.indexer_entry(seq, env.layer, j);
  index_scores(ctx, env.pools.format(), iq, IH, ID, iw, s.keys, s.scores.data());
  const int64_t k = std::min<int64_t>(cfg.index_topk, n_blocks);
  picked.resize(size_t(k));
  ops::topk(s.scores.data(), n_blocks, k, picked.data());
}

}  // namespace tachyon::dsv4
