#include "model/deepseek_v4/weights.h"

#include <cstring>
#include <set>

#include "core/check.h"

namespace tachyon::dsv4 {

int64_t TensorSlot::logical_params() const {
  if (role == TensorRole::kScale) return 0;
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return packed_fp4 ? 2 * n : n;
}

size_t TensorSlot::nbytes() const {
  size_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= size_t(d);
  return n;
}

size_t TensorSlot::repacked_nbytes() const {
  if (!int8_repack || packed_fp4) return nbytes();  // FP4 codes are only reordered
  if (role == TensorRole::kScale) return 0;
  const size_t kp = size_t((shape.back() + 31) / 32 * 32);
  return size_t(shape.front()) * (kp + kp / 32);
}

namespace {

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Visits tensors with a common name prefix and flags.
struct Lister {
  const ModelConfig& cfg;
  const std::function<void(TensorSlot&)>& visit;
  bool routed = false, mtp = false;
  bool repack = false;        // the next tensors are repacked into int8 rows by the fast numerics
  Linear* of_linear = nullptr;

  void tensor(const std::string& name, DType dt, std::vector<int64_t> shape, TensorRef* bind,
              TensorRole role = TensorRole::kWeight, bool packed = false) {
    TensorSlot s{name, dt, std::move(shape), role, packed, routed, mtp, bind, repack, of_linear};
    visit(s);
  }
  // int8: the fast numerics repack it into int8 rows (every FP8 linear, and the BF16 ones that say so).
  void linear(const std::string& name, WFormat fmt, int64_t n, int64_t k, Linear* l, bool int8 = false) {
    Linear tmp;
    Linear& L = l ? *l : tmp;
    L.fmt = fmt;
    L.n = n;
    L.k = k;
    L.block = cfg.weight_block_size;
    const int64_t B = cfg.weight_block_size;
    switch (fmt) {
      case WFormat::kBF16:
        repack = int8;
        of_linear = int8 ? l : nullptr;
        tensor(name + ".weight", DType::kBF16, {n, k}, l ? &L.weight : nullptr);
        repack = false;
        of_linear = nullptr;
        break;
      case WFormat::kF32: tensor(name + ".weight", DType::kF32, {n, k}, l ? &L.weight : nullptr); break;
      case WFormat::kFP8:
        repack = true;
        of_linear = l;
        tensor(name + ".weight", DType::kF8E4M3, {n, k}, l ? &L.weight : nullptr);
        tensor(name + ".scale", DType::kF8E8M0, {cdiv(n, B), cdiv(k, B)}, l ? &L.scale : nullptr,
               TensorRole::kScale);
        repack = false;
        of_linear = nullptr;
        break;
      case WFormat::kFP4:  // the codes are regrouped for the fast numerics (kFP4G); the scales stay
        repack = true;
        of_linear = l;
        tensor(name + ".weight", DType::kI8, {n, k / 2}, l ? &L.weight : nullptr, TensorRole::kWeight, true);
        repack = false;
        of_linear = nullptr;
        tensor(name + ".scale", DType::kF8E8M0, {n, k / 32}, l ? &L.scale : nullptr, TensorRole::kScale);
        break;
      case WFormat::kI8:
      case WFormat::kFP4G: TACHYON_CHECK(false, "checkpoints hold no repacked weights"); break;
    }
  }
  void vec(const std::string& name, DType dt, int64_t n, TensorRef* bind) { tensor(name, dt, {n}, bind); }

  void compressor(const std::string& p, int ratio, int d, CompressorWeights* c) {
    const int coff = ratio == 4 ? 2 : 1;
    const int64_t D = cfg.hidden_size;
    // The compressors' projections are the largest BF16 reads of a step after the head: int8 rows too.
    linear(p + ".wkv", WFormat::kBF16, coff * d, D, c ? &c->wkv : nullptr, true);
    linear(p + ".wgate", WFormat::kBF16, coff * d, D, c ? &c->wgate : nullptr, true);
    tensor(p + ".ape", DType::kF32, {ratio, coff * d}, c ? &c->ape : nullptr);
    vec(p + ".norm.weight", DType::kBF16, d, c ? &c->norm : nullptr);
  }

  void expert(const std::string& p, WFormat fmt, ExpertWeights* e) {
    const int64_t D = cfg.hidden_size, I = cfg.moe_intermediate_size;
    linear(p + ".w1", fmt, I, D, e ? &e->w1 : nullptr);
    linear(p + ".w2", fmt, D, I, e ? &e->w2 : nullptr);
    linear(p + ".w3", fmt, I, D, e ? &e->w3 : nullptr);
  }

  void layer(const std::string& p, int layer_id, LayerWeights* L) {
    const int64_t D = cfg.hidden_size, hc = cfg.hc_mult, H = cfg.num_attention_heads, hd = cfg.head_dim;
    const int64_t Q = cfg.q_lora_rank, G = cfg.o_groups, R = cfg.o_lora_rank, E = cfg.n_routed_experts;
    const int64_t mix = (2 + hc) * hc;
    vec(p + "attn_norm.weight", DType::kBF16, D, L ? &L->attn_norm : nullptr);
    vec(p + "ffn_norm.weight", DType::kBF16, D, L ? &L->ffn_norm : nullptr);
    for (auto [nm, hw] : {std::pair{"attn", L ? &L->hc_attn : nullptr}, std::pair{"ffn", L ? &L->hc_ffn : nullptr}}) {
      tensor(p + "hc_" + nm + "_fn", DType::kF32, {mix, hc * D}, hw ? &hw->fn : nullptr);
      vec(p + "hc_" + nm + "_base", DType::kF32, mix, hw ? &hw->base : nullptr);
      vec(p + "hc_" + nm + "_scale", DType::kF32, 3, hw ? &hw->scale : nullptr);
    }
    AttentionWeights* a = L ? &L->attn : nullptr;
    const std::string pa = p + "attn.";
    linear(pa + "wq_a", WFormat::kFP8, Q, D, a ? &a->wq_a : nullptr);
    vec(pa + "q_norm.weight", DType::kBF16, Q, a ? &a->q_norm : nullptr);
    linear(pa + "wq_b", WFormat::kFP8, H * hd, Q, a ? &a->wq_b : nullptr);
    linear(pa + "wkv", WFormat::kFP8, hd, D, a ? &a->wkv : nullptr);
    vec(pa + "kv_norm.weight", DType::kBF16, hd, a ? &a->kv_norm : nullptr);
    linear(pa + "wo_a", WFormat::kFP8, G * R, H * hd / G, a ? &a->wo_a : nullptr);
    linear(pa + "wo_b", WFormat::kFP8, D, G * R, a ? &a->wo_b : nullptr);
    vec(pa + "attn_sink", DType::kF32, H, a ? &a->attn_sink : nullptr);
    const int ratio = cfg.ratio(layer_id);
    if (ratio > 0) compressor(pa + "compressor", ratio, int(hd), a ? &a->compressor : nullptr);
    if (ratio == 4) {
      IndexerWeights* ix = a ? &a->indexer : nullptr;
      const int64_t IH = cfg.index_n_heads, ID = cfg.index_head_dim;
      linear(pa + "indexer.wq_b", WFormat::kFP8, IH * ID, Q, ix ? &ix->wq_b : nullptr);
      linear(pa + "indexer.weights_proj", WFormat::kBF16, IH, D, ix ? &ix->weights_proj : nullptr);
      compressor(pa + "indexer.compressor", 4, int(ID), ix ? &ix->compressor : nullptr);
    }
    MoEWeights* m = L ? &L->ffn : nullptr;
    const std::string pf = p + "ffn.";
    linear(pf + "gate", WFormat::kBF16, E, D, m ? &m->gate : nullptr);
    if (layer_id < cfg.num_hash_layers)
      tensor(pf + "gate.tid2eid", DType::kI64, {cfg.vocab_size, cfg.num_experts_per_tok}, m ? &m->tid2eid : nullptr,
             TensorRole::kTable);
    else
      vec(pf + "gate.bias", DType::kF32, E, m ? &m->bias : nullptr);
    if (m) m->experts.resize(size_t(E));
    const WFormat efmt = cfg.expert_fp4 ? WFormat::kFP4 : WFormat::kFP8;
    routed = true;
    for (int64_t e = 0; e < E; ++e)
      expert(pf + "experts." + std::to_string(e), efmt, m ? &m->experts[size_t(e)] : nullptr);
    routed = false;
    if (cfg.n_shared_experts > 0) expert(pf + "shared_experts", WFormat::kFP8, m ? &m->shared : nullptr);
  }
};

}  // namespace

void for_each_tensor(const ModelConfig& cfg, ModelWeights* w, const std::function<void(TensorSlot&)>& visit) {
  Lister ls{cfg, visit};
  const int64_t V = cfg.vocab_size, D = cfg.hidden_size, hc = cfg.hc_mult;
  ls.tensor("embed.weight", DType::kBF16, {V, D}, w ? &w->embed : nullptr);
  ls.repack = true;
  ls.tensor("head.weight", DType::kBF16, {V, D}, w ? &w->head : nullptr);
  ls.repack = false;
  ls.vec("norm.weight", DType::kBF16, D, w ? &w->norm : nullptr);
  ls.tensor("hc_head_fn", DType::kF32, {hc, hc * D}, w ? &w->hc_head.fn : nullptr);
  ls.vec("hc_head_base", DType::kF32, hc, w ? &w->hc_head.base : nullptr);
  ls.vec("hc_head_scale", DType::kF32, 1, w ? &w->hc_head.scale : nullptr);
  if (w) w->layers.resize(size_t(cfg.num_hidden_layers));
  for (int l = 0; l < cfg.num_hidden_layers; ++l)
    ls.layer("layers." + std::to_string(l) + ".", l, w ? &w->layers[size_t(l)] : nullptr);
  if (w) w->mtp.resize(size_t(cfg.num_nextn_predict_layers));
  for (int i = 0; i < cfg.num_nextn_predict_layers; ++i) {
    MtpWeights* m = w ? &w->mtp[size_t(i)] : nullptr;
    const std::string p = "mtp." + std::to_string(i) + ".";
    ls.mtp = true;
    ls.layer(p, cfg.num_hidden_layers + i, m ? &m->block : nullptr);
    ls.linear(p + "e_proj", WFormat::kFP8, D, D, m ? &m->e_proj : nullptr);
    ls.linear(p + "h_proj", WFormat::kFP8, D, D, m ? &m->h_proj : nullptr);
    ls.vec(p + "enorm.weight", DType::kBF16, D, m ? &m->enorm : nullptr);
    ls.vec(p + "hnorm.weight", DType::kBF16, D, m ? &m->hnorm : nullptr);
    ls.vec(p + "norm.weight", DType::kBF16, D, m ? &m->norm : nullptr);
    ls.tensor(p + "hc_head_fn", DType::kF32, {hc, hc * D}, m ? &m->hc_head.fn : nullptr);
    ls.vec(p + "hc_head_base", DType::kF32, hc, m ? &m->hc_head.base : nullptr);
    ls.vec(p + "hc_head_scale", DType::kF32, 1, m ? &m->hc_head.scale : nullptr);
    ls.mtp = false;
  }
}

namespace {
std::string shape_str(const std::vector<int64_t>& s) { return fmt::format("[{}]", fmt::join(s, ", ")); }
}  // namespace

Result<std::unique_ptr<Checkpoint>> load_checkpoint(const std::string& dir) {
  auto ck = std::make_unique<Checkpoint>();
  TACHYON_ASSIGN_OR_RETURN(ck->config, ModelConfig::load(dir));
  TACHYON_ASSIGN_OR_RETURN(ck->store, TensorStore::open(dir));
  std::vector<std::string> problems;
  std::set<std::string> expected;
  for_each_tensor(ck->config, &ck->weights, [&](TensorSlot& s) {
    expected.insert(s.name);
    const TensorInfo* t = ck->store.find(s.name);
    if (!t) {
      problems.push_back(fmt::format("missing tensor '{}' ({} {})", s.name, dtype_name(s.dtype), shape_str(s.shape)));
      return;
    }
    bool dtype_ok = t->dtype == s.dtype;
    if (s.packed_fp4 && t->dtype == DType::kU8) dtype_ok = true;  // some writers store packed FP4 as U8
    if (s.role == TensorRole::kTable && t->dtype == DType::kI32) dtype_ok = true;
    if (!dtype_ok) {
      problems.push_back(fmt::format("tensor '{}' in {} has dtype {}, expected {}", s.name, t->file,
                                     dtype_name(t->dtype), dtype_name(s.dtype)));
      return;
    }
    if (t->shape != s.shape) {
      problems.push_back(fmt::format("tensor '{}' in {} has shape {}, expected {}", s.name, t->file, t->shape_str(),
                                     shape_str(s.shape)));
      return;
    }
    if (s.role == TensorRole::kTable) {
      // tid2eid: every entry must name a routed expert.
      const size_t esize = dtype_size(t->dtype);
      const int64_t cols = t->shape.size() == 2 ? t->shape[1] : 1;
      for (int64_t i = 0; i < t->numel(); ++i) {
        int64_t v = 0;
        if (esize == 8) {
          std::memcpy(&v, t->data + size_t(i) * 8, 8);
        } else {
          int32_t v32 = 0;
          std::memcpy(&v32, t->data + size_t(i) * 4, 4);
          v = v32;
        }
        if (v < 0 || v >= ck->config.n_routed_experts) {
          problems.push_back(fmt::format("tensor '{}' in {}: expert id {} at [{}, {}] is outside [0, {})", s.name,
                                         t->file, v, i / cols, i % cols, ck->config.n_routed_experts));
          return;
        }
      }
    }
    if (!s.bind) return;
    const size_t width = dtype_size(t->dtype);
    if (width > 1 && reinterpret_cast<uintptr_t>(t->data) % width != 0) {
      auto buf = std::make_unique<uint64_t[]>((t->nbytes + 7) / 8);
      std::memcpy(buf.get(), t->data, t->nbytes);
      TensorInfo copy = *t;
      copy.data = reinterpret_cast<const uint8_t*>(buf.get());
      ck->realigned_data.push_back(std::move(buf));
      ck->realigned.push_back(std::move(copy));
      t = &ck->realigned.back();
    }
    s.bind->info = t;
  });
  for (const auto& [name, t] : ck->store.by_name())
    if (!expected.count(name)) problems.push_back(fmt::format("unexpected tensor '{}' in {}", name, t->file));
  if (!problems.empty()) {
    std::string msg = fmt::format("{}: checkpoint does not match config.json: {}", dir, problems[0]);
    const size_t shown = std::min<size_t>(problems.size(), 8);
    for (size_t i = 1; i < shown; ++i) msg += "; " + problems[i];
    if (problems.size() > shown) msg += fmt::format("; and {} more", problems.size() - shown);
    return Status::error(msg);
  }
  return ck;
}

}  // namespace tachyon::dsv4
