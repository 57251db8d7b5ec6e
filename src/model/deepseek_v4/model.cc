// Embedding -> hyper-connected blocks -> head mix -> norm -> logits, and the MTP module (spec §2.1-2.9).
#include "model/deepseek_v4/model.h"

#include <algorithm>
#include <span>
#include <vector>

#include "core/check.h"
#include "model/deepseek_v4/layers.h"
#include "model/deepseek_v4/repack.h"

namespace tachyon::dsv4 {

Model::Model(const Checkpoint& ck, CacheFormat cache)
    : ck_(ck),
      cfg_(ck.config),
      w_(ck.weights),
      pools_(ck.config, cache),
      rope_window_(ck.config.qk_rope_head_dim, ck.config.rope_theta, false, ck.config),
      rope_compressed_(ck.config.qk_rope_head_dim, ck.config.compress_rope_theta, true, ck.config) {}

namespace {
void trace_tensor(const ModelContext& ctx, const std::string& name, const float* p, std::vector<int64_t> shape) {
  if (ctx.trace) ctx.trace->tensor(name, p, shape);
}

// The rows of X [T, hc, D] that get logits (n_logit_rows of each span, its last ones).
template <typename Input>
std::vector<float> logit_rows(std::span<const Input> batch, std::span<const TokenSpan> spans, const std::vector<float>& X,
                              int64_t row_size) {
  std::vector<float> sel;  // [rows, hc, D]
  for (size_t b = 0; b < batch.size(); ++b) {
    const TokenSpan& sp = spans[b];
    const int64_t first = sp.row0 + sp.n - n_logit_rows(batch[b], sp.n);
    sel.insert(sel.end(), X.begin() + first * row_size, X.begin() + (sp.row0 + sp.n) * row_size);
  }
  return sel;
}
}  // namespace

void Model::block(const ModelContext& ctx, const LayerWeights& w, int layer, std::span<const TokenSpan> spans,
                  const int32_t* token_ids, int64_t T, std::vector<float>& X, const std::string& prefix) {
  const int64_t D = cfg_.hidden_size, hc = cfg_.hc_mult;
  const float eps = float(cfg_.rms_norm_eps);
  LayerEnv env{cfg_, ctx, pools_, cfg_.ratio(layer) > 0 ? rope_compressed_ : rope_window_, layer, prefix};
  std::vector<float> y(size_t(T * D)), x(size_t(T * D)), f(size_t(T * D));  // [T, D]
  std::vector<float> post(size_t(T * hc)), comb(size_t(T * hc * hc));       // [T, hc], [T, hc, hc]
  Profile* prof = ctx.profile;
  // attention sublayer
  {
    ProfileScope s(prof, OpFamily::kMhc);
    hc_pre(ctx, cfg_, w.hc_attn, X.data(), T, y.data(), post.data(), comb.data());
  }
  {
    ProfileScope s(prof, OpFamily::kNorm);
    ops::rmsnorm(ctx.ops, y.data(), w.attn_norm.data<uint16_t>(), T, D, eps, x.data());
  }
  {
    ProfileScope s(prof, OpFamily::kAttention);
    attention_forward(env, w.attn, x.data(), T, spans, f.data());            // [T, D]
  }
  trace_tensor(ctx, prefix + "attn_out", f.data(), {T, D});
  {
    ProfileScope s(prof, OpFamily::kMhc);
    hc_post(ctx, cfg_, f.data(), post.data(), comb.data(), T, X.data());     // [T, hc, D]
    hc_pre(ctx, cfg_, w.hc_ffn, X.data(), T, y.data(), post.data(), comb.data());
  }
  // MoE sublayer (moe_forward times its router, routed and shared experts itself)
  {
    ProfileScope s(prof, OpFamily::kNorm);
    ops::rmsnorm(ctx.ops, y.data(), w.ffn_norm.data<uint16_t>(), T, D, eps, x.data());
  }
  moe_forward(env, w.ffn, x.data(), T, token_ids, f.data());                 // [T, D]
  trace_tensor(ctx, prefix + "ffn_out", f.data(), {T, D});
  {
    ProfileScope s(prof, OpFamily::kMhc);
    hc_post(ctx, cfg_, f.data(), post.data(), comb.data(), T, X.data());     // [T, hc, D]
  }
  trace_tensor(ctx, prefix + "streams", X.data(), {T, hc, D});
}

void Model::head(const ModelContext& ctx, const HcHeadWeights& hc, const TensorRef& norm, const float* streams,
                 int64_t rows, float* logits, const std::string& prefix, const DraftHead* draft,
                 std::span<const char> screen) {
  const int64_t D = cfg_.hidden_size, V = cfg_.vocab_size;
  std::vector<float> y(size_t(rows * D)), yn(size_t(rows * D));  // [rows, D]
  {
    ProfileScope s(ctx.profile, OpFamily::kMhc);
    hc_head(ctx, cfg_, hc, streams, rows, y.data());
  }
  trace_tensor(ctx, prefix + "final_hidden", y.data(), {rows, D});
  {
    ProfileScope s(ctx.profile, OpFamily::kNorm);
    ops::rmsnorm(ctx.ops, y.data(), norm.data<uint16_t>(), rows, D, float(cfg_.rms_norm_eps), yn.data());
  }
  trace_tensor(ctx, prefix + "final_normed", yn.data(), {rows, D});
  Linear head_w;
  head_w.fmt = WFormat::kBF16;
  head_w.n = V;
  head_w.k = D;
  head_w.weight = w_.head;
  head_w.i8 = w_.head_i8;
  ProfileScope s(ctx.profile, OpFamily::kHead);
  TACHYON_CHECK(screen.empty() || int64_t(screen.size()) == rows, "head: one screen flag per row");
  if (int8_kernel(ctx, head_w)) {
    // The fast numerics' head: int8 rows over int8 activations, for every row (the draft head's
    // screening would only reproduce the BF16 head's maximum, which these logits do not follow).
    ops::QuantizedActs qa;
    ops::quantize_acts(ctx.ops, yn.data(), rows, D, &qa, ops::kActRows);  // [rows, D]
    const WeightScope streaming(ctx.profile);
    ops::linear(ctx.ops, qa, kernel_view(ctx, head_w), logits);           // [rows, V] fp32
    return;
  }
  const WeightScope streaming(ctx.profile);  // the head's weight-streaming calls, whichever branch runs
  const int64_t n_screen = screen.empty() ? rows : rows - std::count(screen.begin(), screen.end(), char(0));
  if (!draft || n_screen == 0) {
    ops::linear(ctx.ops, yn.data(), rows, view(head_w), logits);  // [rows, V] fp32
  } else if (n_screen == rows) {
    draft->logits(ctx.ops, view(head_w), yn.data(), rows, logits);  // [rows, V] fp32
  } else {
    // Both kinds of rows: each group gathered, run, and scattered back.
    for (char kind : {char(0), char(1)}) {
      std::vector<int64_t> idx;
      for (int64_t r = 0; r < rows; ++r)
        if ((screen[size_t(r)] != 0) == (kind != 0)) idx.push_back(r);
      const int64_t n = int64_t(idx.size());
      std::vector<float> xg(size_t(n * D)), lg(size_t(n * V));  // [n, D], [n, V]
      ops::gather_rows(ctx.ops, yn.data(), D, idx, xg.data());
      if (kind) draft->logits(ctx.ops, view(head_w), xg.data(), n, lg.data());
      else ops::linear(ctx.ops, xg.data(), n, view(head_w), lg.data());
      for (int64_t i = 0; i < n; ++i) std::copy_n(lg.data() + i * V, V, logits + idx[size_t(i)] * V);
    }
  }
}

void Model::enable_draft_head(const ModelContext& ctx) {
  if (!draft_head_) draft_head_ = std::make_unique<DraftHead>(ctx.ops, w_.head.data<uint16_t>(), cfg_.vocab_size, cfg_.hidden_size);
}

void Model::forward(const ModelContext& ctx, std::span<const SeqInput> batch, ForwardOutput& out) {
  const int64_t D = cfg_.hidden_size, hc = cfg_.hc_mult, V = cfg_.vocab_size;
  std::vector<TokenSpan> spans;
  std::vector<int32_t> tokens;
  int64_t T = 0;
  for (const SeqInput& in : batch) {
    TACHYON_CHECK(in.state != nullptr && !in.tokens.empty());
    TACHYON_CHECK(in.state->layers.size() == size_t(cfg_.num_hidden_layers + 1), "state from another model");
    spans.push_back({in.state, in.state->pos, int64_t(in.tokens.size()), T});
    for (int32_t tok : in.tokens) {
      TACHYON_CHECK(tok >= 0 && tok < V, "token id out of range");
      tokens.push_back(tok);
    }
    T += int64_t(in.tokens.size());
  }
  if (ctx.profile) ++ctx.profile->forward_calls;
  // Embedding copied into every stream.
  std::vector<float> X(size_t(T * hc * D));  // [T, hc, D]
  {
    ProfileScope s(ctx.profile, OpFamily::kEmbed);
    ops::embed_rows(ctx.ops, w_.embed.data<uint16_t>(), V, D, tokens.data(), T, hc, X.data());  // [T, hc, D]
  }
  trace_tensor(ctx, "embed_streams", X.data(), {T, hc, D});
  for (int l = 0; l < cfg_.num_hidden_layers; ++l)
    block(ctx, w_.layers[size_t(l)], l, spans, tokens.data(), T, X, "layer" + std::to_string(l) + ".");
  trace_tensor(ctx, "final_streams", X.data(), {T, hc, D});
  for (const TokenSpan& sp : spans) sp.seq->pos += sp.n;

  // Logits for the requested rows.
  const std::vector<float> sel = logit_rows(batch, spans, X, hc * D);  // [rows, hc, D]
  const int64_t rows = int64_t(sel.size()) / (hc * D);
  std::vector<char> screen;  // per row: argmax_only
  for (size_t b = 0; b < batch.size(); ++b)
    screen.insert(screen.end(), size_t(n_logit_rows(batch[b], spans[b].n)), batch[b].argmax_only);
  out.logits.resize(size_t(rows * V));
  if (rows > 0) head(ctx, w_.hc_head, w_.norm, sel.data(), rows, out.logits.data(), "", draft_head_.get(), screen);
  out.final_streams = std::move(X);
}

void Model::mtp_forward(const ModelContext& ctx, std::span<const MtpInput> batch, std::vector<float>& logits,
                        std::vector<float>* streams, MtpLogits mode) {
  TACHYON_CHECK(!w_.mtp.empty(), "this checkpoint has no MTP module");
  TACHYON_CHECK(mode == MtpLogits::kExact || draft_head_ || (w_.head_i8 && wants_int8_rows(ctx)),
                "draft logits need enable_draft_head() (or the int8-row head)");
  const DraftHead* draft = mode == MtpLogits::kDraft ? draft_head_.get() : nullptr;
  const MtpWeights& m = w_.mtp[0];
  const int64_t D = cfg_.hidden_size, hc = cfg_.hc_mult, V = cfg_.vocab_size;
  const float eps = float(cfg_.rms_norm_eps);
  std::vector<TokenSpan> spans;
  std::vector<int32_t> tokens;
  std::vector<float> h;  // [T, hc, D] main final streams
  int64_t T = 0;
  for (const MtpInput& in : batch) {
    const int64_t n = int64_t(in.next_tokens.size());
    spans.push_back({in.state, in.state->mtp_pos, n, T});
    tokens.insert(tokens.end(), in.next_tokens.begin(), in.next_tokens.end());
    h.insert(h.end(), in.streams, in.streams + n * hc * D);
    T += n;
  }
  // e = e_proj(enorm(embed[next])), h = h_proj(hnorm(streams)); X = h + e broadcast over streams.
  std::vector<float> e(size_t(T * D)), ep(size_t(T * D));  // [T, D]
  ops::embed_rows(ctx.ops, w_.embed.data<uint16_t>(), V, D, tokens.data(), T, 1, e.data());  // [T, D]
  ops::rmsnorm(ctx.ops, e.data(), m.enorm.data<uint16_t>(), T, D, eps, e.data());
  linear_q(ctx, e.data(), T, m.e_proj, ep.data());
  std::vector<float> X(size_t(T * hc * D));  // [T, hc, D]
  ops::rmsnorm(ctx.ops, h.data(), m.hnorm.data<uint16_t>(), T * hc, D, eps, h.data());
  linear_q(ctx, h.data(), T * hc, m.h_proj, X.data());
  ops::add_broadcast(ctx.ops, ep.data(), T, hc, D, X.data());  // [T, hc, D]
  trace_tensor(ctx, "mtp.input_streams", X.data(), {T, hc, D});
  block(ctx, m.block, cfg_.num_hidden_layers, spans, tokens.data(), T, X, "mtp.");
  for (const TokenSpan& sp : spans) sp.seq->mtp_pos += sp.n;
  bool all = true;
  for (const MtpInput& in : batch) all = all && in.all_logits && !in.no_logits;
  if (all) {
    logits.resize(size_t(T * V));
    head(ctx, m.hc_head, m.norm, X.data(), T, logits.data(), "mtp.", draft);
  } else {
    const std::vector<float> sel = logit_rows(batch, spans, X, hc * D);  // [rows, hc, D]
    const int64_t rows = int64_t(sel.size()) / (hc * D);
    logits.resize(size_t(rows * V));
    if (rows > 0) head(ctx, m.hc_head, m.norm, sel.data(), rows, logits.data(), "mtp.", draft);
  }
  if (streams) *streams = std::move(X);
}

}  // namespace tachyon::dsv4
