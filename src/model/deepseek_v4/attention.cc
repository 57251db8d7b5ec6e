// Attention sublayer (spec §2.3-2.5, §7): low-rank queries with a weightless per-head RMS-norm, one
// shared 512-d K=V vector per token, a sliding window in every layer plus compressed blocks (all of them
// for HCA, the Lightning Indexer's top-k for CSA), a per-head sink logit, inverse RoPE on the output and
// the grouped low-rank output projection.
//
// Position-independent projections run over all T rows at once; the cache updates, compressors, indexer
// and the attention itself run token by token within each sequence, so a prefill computes exactly what
// the same tokens decoded one at a time compute.
#include <algorithm>
#include <cmath>
#include <unordered_map>
#include <vector>

#include "core/check.h"
#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

namespace {

// RMS-normalise each of `n` vectors of `d` values in place with a bf16 weight (or none).
void norm_rows(const ModelContext& ctx, float* x, int64_t n, int64_t d, const TensorRef& w, float eps) {
  ops::rmsnorm(ctx.ops, x, w ? w.data<uint16_t>() : nullptr, n, d, eps, x);
}

// Post-processing of an emitted compressed entry: RMSNorm, RoPE at the block's first position, then the
// storage quantisation (FP8 sim of the nope dims for attention; Hadamard + FP4 sim for the indexer).
void finish_entry(const LayerEnv& env, float* e, int d, const TensorRef& norm, int64_t block_pos, bool indexer) {
  const ModelConfig& cfg = env.cfg;
  const int rd = cfg.qk_rope_head_dim;
  norm_rows(env.ctx, e, 1, d, norm, float(cfg.rms_norm_eps));
  std::vector<float> cs(static_cast<size_t>(rd));
  env.rope.fill(block_pos, cs.data());
  ops::rope(e + d - rd, rd, cs.data(), false);
  if (indexer) {
    ops::hadamard(e, d);
    if (env.ctx.numerics.indexer_quant) ops::fp4_fake_quant(env.ctx.ops, e, 1, d, d, 32);
  } else if (env.ctx.numerics.kv_quant) {
    ops::fp8_fake_quant(env.ctx.ops, e, 1, d - rd, d, 64);
  }
}

// Lightning-indexer scores of a query [IH, ID] against the stored keys: fp32 rows as they are, compact
// FP4 rows decoded inside the kernel (no float copy of the keys).
void index_scores(const ModelContext& ctx, CacheFormat format, const float* q, int64_t IH, int64_t ID,
                  const float* w, const std::vector<const uint8_t*>& keys, float* scores) {
  const int64_t n = int64_t(keys.size());
  if (format != CacheFormat::kF32) return ops::indexer_scores_fp4(ctx.ops, q, IH, ID, w, keys.data(), n, scores);
  std::vector<const float*> rows(keys.size());
  for (size_t j = 0; j < keys.size(); ++j) rows[j] = reinterpret_cast<const float*>(keys[j]);  // kF32 entries
  ops::indexer_scores(ctx.ops, q, IH, ID, w, rows.data(), n, scores);
}

// The attention keys of one sequence's tokens within a call, as fp32 rows. kF32 entries are read where
// they lie. A single token (decode) decodes the compact entries it reads into scratch rows. Several
// tokens (prefill chunks, speculative verification) read mostly the same entries, and a window entry or
// a compressed block never changes once stored, so each is decoded once per call: a window ring keyed
// by position and a map of compressed blocks hold the decoded rows while the tokens go by.
class KeyReader {
 public:
  KeyReader(const LayerEnv& env, int64_t hd)
      : env_(env), hd_(hd), compact_(env.pools.format() != CacheFormat::kF32), window_(env.cfg.sliding_window) {}

  void start(const SequenceState& seq, int64_t n_tokens) {
    seq_ = &seq;
    keep_ = compact_ && n_tokens > 1;
    slot_pos_.assign(size_t(window_), -1);
    blocks_.clear();
  }
  // Before each token's keys (at most n_keys of them): rows handed out for earlier tokens may go now.
  // The map keeps up to kMaxBlocks rows, or twice what one token reads (a ratio-128 layer reads every
  // block), so that a token whose blocks alone pass the bound does not empty it every time.
  void next_token(int64_t n_keys) {
    used_ = 0;
    if (compact_ && !keep_ && int64_t(scratch_.size()) < n_keys * hd_) scratch_.resize(size_t(n_keys * hd_));
    if (blocks_.size() >= std::max(kMaxBlocks, 2 * size_t(n_keys))) blocks_.clear();
  }
  const float* window(int64_t pos) {
    if (!keep_) return env_.pools.window_get(env_.ctx.ops, *seq_, env_.layer, pos, scratch_row());
    if (ring_.empty()) ring_.resize(size_t(window_ * hd_));  // [window, hd]
    const size_t slot = size_t(pos % window_);
    float* row = &ring_[slot * size_t(hd_)];
    if (slot_pos_[slot] != pos) {
      env_.pools.window_get(env_.ctx.ops, *seq_, env_.layer, pos, row);
      slot_pos_[slot] = pos;
    }
    return row;
  }
  const float* compressed(int64_t j) {
    if (!keep_) return env_.pools.compressed_get(env_.ctx.ops, *seq_, env_.layer, j, scratch_row());
    auto [it, fresh] = blocks_.try_emplace(j);
    std::vector<float>& row = it->second;  // [hd]
    if (fresh) {
      row.resize(size_t(hd_));
      env_.pools.compressed_get(env_.ctx.ops, *seq_, env_.layer, j, row.data());
    }
    return row.data();
  }

 private:
  static constexpr size_t kMaxBlocks = 4096;
  float* scratch_row() { return compact_ ? &scratch_[size_t(used_++ * hd_)] : nullptr; }
  const LayerEnv& env_;
  const int64_t hd_;
  const bool compact_;
  const int64_t window_;
  const SequenceState* seq_ = nullptr;
  bool keep_ = false;                                   // decoded rows kept across the call's tokens
  std::vector<float> scratch_;                          // [n_keys, hd] this token's rows (one-token spans)
  int64_t used_ = 0;
  std::vector<float> ring_;                             // [window, hd] decoded window entries
  std::vector<int64_t> slot_pos_;                       // [window] the position each ring slot holds, or -1
  std::unordered_map<int64_t, std::vector<float>> blocks_;  // compressed block -> [hd]
};

}  // namespace

void attention_forward(const LayerEnv& env, const AttentionWeights& w, const float* x, int64_t T,
                       std::span<const TokenSpan> spans, float* out) {
  const ModelConfig& cfg = env.cfg;
  const ModelContext& ctx = env.ctx;
  const int64_t D = cfg.hidden_size, H = cfg.num_attention_heads, hd = cfg.head_dim, rd = cfg.qk_rope_head_dim;
  const int64_t Q = cfg.q_lora_rank, G = cfg.o_groups, R = cfg.o_lora_rank;
  const float eps = float(cfg.rms_norm_eps);
  const int ratio = cfg.ratio(env.layer);
  const bool has_indexer = ratio == 4;

  // ---- every projection of x (queries' low rank, K=V, compressors, indexer weights), one region ----
  const int c = ratio == 4 ? 2 : 1;
  const int64_t IH = cfg.index_n_heads, ID = cfg.index_head_dim;
  std::vector<float> qr(size_t(T * Q));                 // [T, Q]
  std::vector<float> kv(size_t(T * hd));                // [T, hd]
  std::vector<float> ckv, cgate;                        // [T, c*hd]
  std::vector<float> iq, iw, ikv, igate;                // [T, IH, ID], [T, IH], [T, 2*ID], [T, 2*ID]
  std::vector<const Linear*> xw = {&w.wq_a, &w.wkv};
  std::vector<float*> xy = {qr.data(), kv.data()};
  if (ratio > 0) {
    ckv.resize(size_t(T * c * hd));
    cgate.resize(size_t(T * c * hd));
    xw.insert(xw.end(), {&w.compressor.wkv, &w.compressor.wgate});
    xy.insert(xy.end(), {ckv.data(), cgate.data()});
  }
  if (has_indexer) {
    iw.resize(size_t(T * IH));
    ikv.resize(size_t(T * 2 * ID));
    igate.resize(size_t(T * 2 * ID));
    xw.insert(xw.end(), {&w.indexer.weights_proj, &w.indexer.compressor.wkv, &w.indexer.compressor.wgate});
    xy.insert(xy.end(), {iw.data(), ikv.data(), igate.data()});
  }
  linear_q_shared(ctx, x, T, xw, xy);
  norm_rows(ctx, qr.data(), T, Q, w.q_norm, eps);
  norm_rows(ctx, kv.data(), T, hd, w.kv_norm, eps);     // the token's own K=V vector
  if (has_indexer) {
    const float wscale = float(1.0 / std::sqrt(double(ID)) / std::sqrt(double(IH)));
    for (float& v : iw) v *= wscale;
  }

  // ---- queries (and the indexer's) from the low-rank query ----
  std::vector<float> q(size_t(T * H * hd));             // [T, H, hd]
  std::vector<const Linear*> qw = {&w.wq_b};
  std::vector<float*> qy = {q.data()};
  if (has_indexer) {
    iq.resize(size_t(T * IH * ID));
    qw.push_back(&w.indexer.wq_b);
    qy.push_back(iq.data());
  }
  linear_q_shared(ctx, qr.data(), T, qw, qy);
  norm_rows(ctx, q.data(), T * H, hd, TensorRef{}, eps);  // weightless per-head RMS-norm

  // ---- per sequence, token by token ----
  std::vector<float> o(size_t(T * H * hd));             // [T, H, hd]
  std::vector<float> cs(static_cast<size_t>(rd));
  std::vector<float> entry(size_t(std::max(hd, ID)));
  std::vector<const float*> keys;
  KeyReader reader(env, hd);
  std::vector<float> scores;
  std::vector<const uint8_t*> ikeys;                    // [n_blocks] indexer entries as stored
  std::vector<int32_t> picked;
  std::vector<int32_t> topk_trace;                      // [T, index_topk] for the trace
  if (has_indexer && ctx.trace) topk_trace.assign(size_t(T * cfg.index_topk), -1);
  const float softmax_scale = float(1.0 / std::sqrt(double(hd)));
  const float* sink = w.attn_sink.data<float>();
  for (const TokenSpan& sp : spans) {
    SequenceState& seq = *sp.seq;
    reader.start(seq, sp.n);
    for (int64_t i = 0; i < sp.n; ++i) {
      const int64_t t = sp.row0 + i, pos = sp.start_pos + i;
      env.rope.fill(pos, cs.data());
      // RoPE on the last rd dims of every query head and of the KV vector.
      for (int64_t h = 0; h < H; ++h) ops::rope(&q[size_t((t * H + h) * hd + hd - rd)], rd, cs.data(), false);
      float* kvt = &kv[size_t(t * hd)];                 // [hd]
      ops::rope(kvt + hd - rd, rd, cs.data(), false);
      if (ctx.numerics.kv_quant) ops::fp8_fake_quant(ctx.ops, kvt, 1, hd - rd, hd, 64);
      env.pools.window_store(seq, env.layer, pos, kvt);
      if (seq.spec) env.pools.spec_log_before(seq, env.layer, pos);

      if (ratio > 0) {
        float* st = env.pools.compressor_state(seq, env.layer);
        const bool emitted = compressor_step(st, ratio, int(hd), &ckv[size_t(t * c * hd)], &cgate[size_t(t * c * hd)],
                                             w.compressor.ape.data<float>(), pos, entry.data());
        CachePools::check_compressor_rows(seq, st, ratio, int(hd), pos);
        if (emitted) {
          const int64_t j = pos / ratio;
          finish_entry(env, entry.data(), int(hd), w.compressor.norm, j * ratio, false);
          env.pools.compressed_store(seq, env.layer, j, entry.data());
        }
      }
      const int64_t n_blocks = ratio > 0 ? (pos + 1) / ratio : 0;  // completed, visible blocks
      picked.clear();
      if (has_indexer) {
        float* st = env.pools.indexer_state(seq, env.layer);
        const bool emitted = compressor_step(st, 4, int(ID), &ikv[size_t(t * 2 * ID)], &igate[size_t(t * 2 * ID)],
                                             w.indexer.compressor.ape.data<float>(), pos, entry.data());
        CachePools::check_compressor_rows(seq, st, 4, int(ID), pos);
        if (emitted) {
          const int64_t j = pos / 4;
          finish_entry(env, entry.data(), int(ID), w.indexer.compressor.norm, j * 4, true);
          env.pools.indexer_store(seq, env.layer, j, entry.data());
        }
        // Indexer query: RoPE, Hadamard, FP4 sim (spec §2.5).
        float* iqt = &iq[size_t(t * IH * ID)];          // [IH, ID]
        for (int64_t h = 0; h < IH; ++h) {
          float* v = iqt + h * ID;
          ops::rope(v + ID - rd, rd, cs.data(), false);
          ops::hadamard(v, ID);
        }
        if (ctx.numerics.indexer_quant) ops::fp4_fake_quant(ctx.ops, iqt, IH, ID, ID, 32);
        scores.assign(size_t(n_blocks), 0.0f);          // [n_blocks]
        ikeys.resize(size_t(n_blocks));
        for (int64_t j = 0; j < n_blocks; ++j) ikeys[size_t(j)] = env.pools.indexer_entry(seq, env.layer, j);
        index_scores(ctx, env.pools.format(), iqt, IH, ID, &iw[size_t(t * IH)], ikeys, scores.data());
        const int64_t k = std::min<int64_t>(cfg.index_topk, n_blocks);
        picked.resize(size_t(k));
        ops::topk(scores.data(), n_blocks, k, picked.data());
        if (!topk_trace.empty()) {
          std::vector<int32_t> sorted = picked;
          std::sort(sorted.begin(), sorted.end());
          std::copy(sorted.begin(), sorted.end(), topk_trace.begin() + t * cfg.index_topk);
        }
      }

      if (seq.spec) env.pools.spec_log_after(seq, env.layer, pos);
      // Prefix-cache capture: this layer's state now covers positions [0, pos].
      if (seq.capture && pos + 1 == seq.capture->pos) env.pools.capture_layer(seq, env.layer, *seq.capture);

      // Keys: the window, then the compressed blocks this query may see.
      keys.clear();
      const int64_t first = std::max<int64_t>(0, pos - cfg.sliding_window + 1);
      reader.next_token(pos + 1 - first + (has_indexer ? int64_t(picked.size()) : n_blocks));
      for (int64_t p = first; p <= pos; ++p) keys.push_back(reader.window(p));
      if (has_indexer) {
        for (int32_t j : picked) keys.push_back(reader.compressed(j));
      } else {
        for (int64_t j = 0; j < n_blocks; ++j) keys.push_back(reader.compressed(j));
      }
      float* ot = &o[size_t(t * H * hd)];               // [H, hd]
      ops::attention_sink(ctx.ops, &q[size_t(t * H * hd)], H, hd, keys.data(), int64_t(keys.size()), sink,
                          softmax_scale, ot);
      for (int64_t h = 0; h < H; ++h) ops::rope(ot + h * hd + hd - rd, rd, cs.data(), true);  // inverse RoPE
      env.pools.trim_window(seq, env.layer, env.pools.trim_limit(seq, env.layer, pos));
    }
  }
  if (!topk_trace.empty())
    ctx.trace->ids(env.prefix + "index_topk", topk_trace.data(), {T, int64_t(cfg.index_topk)});

  // ---- grouped low-rank output projection ----
  // All G group products in one parallel region (no activation quant: the reference runs wo_a in bf16).
  const int64_t Kg = H / G * hd;                        // inputs per group
  std::vector<float> og(size_t(G * T * Kg));            // [G, T, Kg] each group's heads
  std::vector<float> zg(size_t(G * T * R));             // [G, T, R]
  std::vector<float> z(size_t(T * G * R));              // [T, G*R]
  std::vector<ops::LinearJob> jobs;
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t t = 0; t < T; ++t)
      std::copy(&o[size_t(t * H * hd + g * Kg)], &o[size_t(t * H * hd + (g + 1) * Kg)], &og[size_t((g * T + t) * Kg)]);
    cpu::WeightView v = view(w.wo_a);                   // rows [g*R, (g+1)*R) of wo_a
    v.row0 = g * R;
    v.n = R;
    jobs.push_back({&og[size_t(g * T * Kg)], T, v, &zg[size_t(g * T * R)]});  // [T, Kg] -> [T, R]
  }
  ops::linear_group(ctx.ops, jobs);
  for (int64_t g = 0; g < G; ++g)
    for (int64_t t = 0; t < T; ++t)
      std::copy(&zg[size_t((g * T + t) * R)], &zg[size_t((g * T + t + 1) * R)], &z[size_t(t * G * R + g * R)]);
  linear_q(ctx, z.data(), T, w.wo_b, out);              // [T, D]
  TACHYON_CHECK(w.wo_b.n == D);
}

}  // namespace tachyon::dsv4
