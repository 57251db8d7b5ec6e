// Attention sublayer (spec §2.3-2.5, §7): low-rank queries with a weightless per-head RMS-norm, one
// shared 512-d K=V vector per token, a sliding window in every layer plus compressed blocks (all of them
// for HCA, the Lightning Indexer's top-k for CSA), a per-head sink logit, inverse RoPE on the output and
// the grouped low-rank output projection.
//
// Position-independent projections run over all T rows at once; the cache updates, compressors, indexer
// (indexer.cc) and the attention itself run token by token within each sequence, so a prefill computes
// exactly what the same tokens decoded one at a time compute. Keys are read through KeyReader
// (key_reader.h).
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/check.h"
#include "model/deepseek_v4/key_reader.h"
#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

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
    ops::scale(ctx.ops, iw.data(), T * IH, wscale);     // [T, IH]
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
  std::vector<float> entry(static_cast<size_t>(hd));    // [hd] a completed compressed block
  std::vector<const float*> keys;
  KeyReader reader(env, hd);
  IndexerScratch iscratch;
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
        if (compressor_token(env, w.compressor, seq, st, ratio, int(hd), false, &ckv[size_t(t * c * hd)],
                             &cgate[size_t(t * c * hd)], pos, entry.data()))
          env.pools.compressed_store(seq, env.layer, pos / ratio, entry.data());
      }
      const int64_t n_blocks = ratio > 0 ? (pos + 1) / ratio : 0;  // completed, visible blocks
      picked.clear();
      if (has_indexer) {
        indexer_token(env, w.indexer, seq, pos, cs.data(), &iq[size_t(t * IH * ID)], &iw[size_t(t * IH)],
                      &ikv[size_t(t * 2 * ID)], &igate[size_t(t * 2 * ID)], iscratch, picked);
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
  // All G group products in one parallel region (no activation quant: the reference runs wo_a in bf16;
  // the fast numerics' int8 rows take int8 activations, per group).
  const int64_t Kg = H / G * hd;                        // inputs per group
  std::vector<float> og(size_t(G * T * Kg));            // [G, T, Kg] each group's heads
  std::vector<float> zg(size_t(G * T * R));             // [G, T, R]
  std::vector<float> z(size_t(T * G * R));              // [T, G*R]
  std::vector<ops::LinearJob> jobs;
  const bool i8 = int8_kernel(ctx, w.wo_a);
  std::vector<ops::QuantizedActs> oq(size_t(i8 ? G : 0));  // [G] of [T, Kg]
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t t = 0; t < T; ++t)
      std::copy(&o[size_t(t * H * hd + g * Kg)], &o[size_t(t * H * hd + (g + 1) * Kg)], &og[size_t((g * T + t) * Kg)]);
    WeightView v = kernel_view(ctx, w.wo_a);       // rows [g*R, (g+1)*R) of wo_a
    v.row0 = g * R;
    v.n = R;
    if (i8) ops::quantize_acts(ctx.ops, &og[size_t(g * T * Kg)], T, Kg, &oq[size_t(g)], act_layouts(ctx, w.wo_a));
    jobs.push_back({&og[size_t(g * T * Kg)], T, v, &zg[size_t(g * T * R)], i8 ? &oq[size_t(g)] : nullptr});  // [T, Kg] -> [T, R]
  }
  {
    const WeightScope streaming(ctx.profile);
    ops::linear_group(ctx.ops, jobs);
  }
  for (int64_t g = 0; g < G; ++g)
    for (int64_t t = 0; t < T; ++t)
      std::copy(&zg[size_t((g * T + t) * R)], &zg[size_t((g * T + t + 1) * R)], &z[size_t(t * G * R + g * R)]);
  linear_q(ctx, z.data(), T, w.wo_b, out);              // [T, D]
  TACHYON_CHECK(w.wo_b.n == D);
}

}  // namespace tachyon::dsv4
