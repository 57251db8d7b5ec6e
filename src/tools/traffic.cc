#include "tools/traffic.h"

#include <algorithm>
#include <string>

#include "core/check.h"
#include "model/deepseek_v4/weights.h"

namespace tachyon::dsv4 {

namespace {
// The main layer a tensor name belongs to ("layers.3.attn.wq_a.weight" -> 3), or -1.
int layer_of(const std::string& name) {
  if (name.rfind("layers.", 0) != 0) return -1;
  return std::stoi(name.substr(7));
}

// The op family whose timer covers the reads of a main-model tensor (routed experts aside).
OpFamily family_of(const std::string& name) {
  auto has = [&](const char* part) { return name.find(part) != std::string::npos; };
  if (name == "embed.weight") return OpFamily::kEmbed;
  if (name == "head.weight") return OpFamily::kHead;
  if (has("hc_")) return OpFamily::kMhc;
  if (has(".attn.")) return OpFamily::kAttention;
  if (has(".ffn.shared_experts.")) return OpFamily::kShared;
  if (has(".ffn.gate.")) return OpFamily::kRouter;
  return OpFamily::kNorm;  // attn_norm, ffn_norm and the final norm
}
}  // namespace

TrafficModel::TrafficModel(const ModelConfig& cfg, int64_t kv_entry_bytes, int64_t indexer_entry_bytes,
                           bool int8_rows)
    : cfg_(cfg),
      kv_entry_(kv_entry_bytes > 0 ? kv_entry_bytes : int64_t(sizeof(float)) * cfg.head_dim),
      indexer_entry_(indexer_entry_bytes > 0 ? indexer_entry_bytes : int64_t(sizeof(float)) * cfg.index_head_dim),
      expert_(size_t(cfg.num_hidden_layers), 0) {
  std::vector<int64_t> routed(size_t(cfg.num_hidden_layers), 0);
  int64_t routed_int8_macs = 0;  // all routed experts' FP8 linears, main layers
  for_each_tensor(cfg, nullptr, [&](TensorSlot& s) {
    if (s.mtp) return;
    // (FP4 experts are regrouped, not int8 rows: their FLOPs are the experts' family, counted apart.)
    if (s.int8_repack && !s.packed_fp4 && s.role == TensorRole::kWeight && s.name != "head.weight") {
      const int64_t macs = s.shape[0] * s.shape[1];
      if (s.routed_expert) routed_int8_macs += macs;
      else int8_row_flops_ += 2 * macs;
    }
    const int64_t bytes = int64_t(int8_rows ? s.repacked_nbytes() : s.nbytes());
    const size_t f = size_t(family_of(s.name));
    if (s.name == "embed.weight" || s.role == TensorRole::kTable) {
      per_token_ += bytes / s.shape[0];  // one row per token
      per_token_by_family_[f] += bytes / s.shape[0];
    } else if (s.routed_expert) {
      const int l = layer_of(s.name);
      TACHYON_CHECK(l >= 0 && l < cfg.num_hidden_layers, "routed expert outside a main layer");
      routed[size_t(l)] += bytes;
    } else {
      dense_ += bytes;
      dense_by_family_[f] += bytes;
    }
  });
  for (size_t l = 0; l < routed.size(); ++l) expert_[l] = routed[l] / std::max(1, cfg.n_routed_experts);
  int8_row_flops_ += 2 * routed_int8_macs / std::max(1, cfg.n_routed_experts) * cfg.num_experts_per_tok;
}

int64_t TrafficModel::step_weight_bytes(std::span<const int64_t> experts_run, int64_t tokens) const {
  int64_t b = dense_ + tokens * per_token_;
  for (size_t l = 0; l < std::min(experts_run.size(), expert_.size()); ++l) b += experts_run[l] * expert_[l];
  return b;
}

FamilyBytes TrafficModel::step_weight_bytes_by_family(std::span<const int64_t> experts_run, int64_t tokens) const {
  FamilyBytes b = dense_by_family_;
  for (size_t f = 0; f < b.size(); ++f) b[f] += tokens * per_token_by_family_[f];
  for (size_t l = 0; l < std::min(experts_run.size(), expert_.size()); ++l)
    b[size_t(OpFamily::kExperts)] += experts_run[l] * expert_[l];
  return b;
}

int64_t TrafficModel::cache_read_bytes(int64_t pos) const {
  const int64_t hd = cfg_.head_dim, ID = cfg_.index_head_dim;
  int64_t entries = 0, index_keys = 0, state_floats = 0;
  for (int l = 0; l < cfg_.num_hidden_layers; ++l) {
    entries += std::min<int64_t>(pos + 1, cfg_.sliding_window);  // window
    const int r = cfg_.ratio(l);
    if (r == 0) continue;
    const int64_t blocks = (pos + 1) / r;  // completed compressed blocks visible to this token
    if (r == 4) {
      index_keys += blocks;
      entries += std::min<int64_t>(blocks, cfg_.index_topk);
    } else {
      entries += blocks;
    }
    if ((pos + 1) % r == 0) {  // a block completes: its compressor pools the whole partial state
      const int64_t c = r == 4 ? 2 : 1;
      state_floats += 2 * (c * r) * (c * hd);            // kv rows and score rows
      if (r == 4) state_floats += 2 * (2 * 4) * (2 * ID);  // the indexer's compressor
    }
  }
  return entries * kv_entry_ + index_keys * indexer_entry_ + state_floats * int64_t(sizeof(float));
}

FamilyFlops TrafficModel::token_flops_by_family(int64_t pos) const {
  const ModelConfig& c = cfg_;
  const int64_t D = c.hidden_size, H = c.num_attention_heads, hd = c.head_dim, Q = c.q_lora_rank;
  const int64_t R = c.o_lora_rank, IH = c.index_n_heads, ID = c.index_head_dim, I = c.moe_intermediate_size;
  const int64_t hcD = int64_t(c.hc_mult) * D, n_mix = int64_t(2 + c.hc_mult) * c.hc_mult;
  FamilyFlops macs{};
  auto at = [&](OpFamily f) -> int64_t& { return macs[size_t(f)]; };
  for (int l = 0; l < c.num_hidden_layers; ++l) {
    at(OpFamily::kMhc) += 2 * n_mix * hcD;                    // hc_pre mixes, both sublayers
    int64_t attn = Q * D + H * hd * Q + hd * D + R * H * hd + D * int64_t(c.o_groups) * R;  // wq_a wq_b wkv wo_a wo_b
    int64_t keys = std::min<int64_t>(pos + 1, c.sliding_window);
    const int r = c.ratio(l);
    if (r > 0) {
      const int64_t cm = r == 4 ? 2 : 1, blocks = (pos + 1) / r;
      attn += 2 * cm * hd * D;                                // compressor wkv, wgate
      if (r == 4) {
        attn += IH * ID * Q + IH * D + 2 * (2 * ID) * D;      // indexer wq_b, weights_proj, its compressor
        attn += blocks * IH * ID;                             // indexer scores
        keys += std::min<int64_t>(blocks, c.index_topk);
      } else {
        keys += blocks;
      }
    }
    attn += 2 * H * hd * keys;                                // scores and weighted sum
    at(OpFamily::kAttention) += attn;
    at(OpFamily::kRouter) += int64_t(c.n_routed_experts) * D;
    at(OpFamily::kExperts) += int64_t(c.num_experts_per_tok) * 3 * I * D;
    at(OpFamily::kShared) += int64_t(c.n_shared_experts) * 3 * I * D;
  }
  for (int64_t& v : macs) v *= 2;
  return macs;
}

int64_t TrafficModel::token_flops(int64_t pos) const {
  int64_t s = 0;
  for (int64_t v : token_flops_by_family(pos)) s += v;
  return s;
}

FamilyFlops TrafficModel::head_flops_by_family(int64_t rows) const {
  const int64_t D = cfg_.hidden_size, hcD = int64_t(cfg_.hc_mult) * D;
  FamilyFlops f{};
  f[size_t(OpFamily::kMhc)] = 2 * rows * int64_t(cfg_.hc_mult) * hcD;  // the head mix
  f[size_t(OpFamily::kHead)] = 2 * rows * int64_t(cfg_.vocab_size) * D;
  return f;
}

int64_t TrafficModel::head_flops(int64_t rows) const {
  int64_t s = 0;
  for (int64_t v : head_flops_by_family(rows)) s += v;
  return s;
}

}  // namespace tachyon::dsv4
