#include "model/deepseek_v4/accounting.h"

#include <algorithm>

#include "model/deepseek_v4/weights.h"

namespace tachyon::dsv4 {

ParamAccounting account_params(const ModelConfig& cfg, const TensorStore* store) {
  ParamAccounting a;
  int64_t routed_main = 0;
  for_each_tensor(cfg, nullptr, [&](TensorSlot& s) {
    const TensorInfo* t = store ? store->find(s.name) : nullptr;
    const std::string dt(dtype_name(t ? t->dtype : s.dtype));
    const uint64_t nbytes = t ? t->nbytes : s.nbytes();
    ++a.tensor_count;
    a.tensors_by_dtype[dt] += 1;
    a.bytes_by_dtype[dt] += nbytes;
    a.bytes_total += nbytes;
    const int64_t p = s.logical_params();
    a.params_total += p;
    if (s.routed_expert) a.params_routed_experts += p;
    if (s.mtp) a.params_mtp += p;
    if (s.routed_expert && !s.mtp) routed_main += p;
    if (!s.routed_expert && !s.mtp) a.params_active_per_token += p;
  });
  // Every routed expert of a layer has the same size, so routed_main / E is one expert per main layer summed.
  if (cfg.n_routed_experts > 0)
    a.params_active_per_token += routed_main / cfg.n_routed_experts * cfg.num_experts_per_tok;
  return a;
}

CacheAccounting account_cache(const ModelConfig& cfg, int64_t context) {
  CacheAccounting c;
  c.context = context;
  const uint64_t N = uint64_t(std::max<int64_t>(context, 0));
  const uint64_t hd = uint64_t(cfg.head_dim), id = uint64_t(cfg.index_head_dim);
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const uint64_t r = uint64_t(cfg.ratio(l));
    if (r == 0) continue;
    const uint64_t entry = hd * 2 + (r == 4 ? id * 2 : 0);  // bf16 KV entry (+ indexer key)
    c.bytes_per_token += double(entry) / double(r);
    c.compressed_bytes += (N / r) * entry;
    const uint64_t co = r == 4 ? 2 : 1;                    // overlapping compressor keeps two blocks
    c.compressor_state_bytes += 2 * (co * r) * (co * hd) * 4;
    if (r == 4) c.compressor_state_bytes += 2 * (2 * 4) * (2 * id) * 4;  // the indexer's compressor
  }
  const uint64_t n_windows = uint64_t(cfg.num_hidden_layers + cfg.num_nextn_predict_layers);
  c.window_bytes = n_windows * std::min<uint64_t>(N, uint64_t(cfg.sliding_window)) * hd * 2;
  c.bytes_at_context = c.compressed_bytes + c.window_bytes + c.compressor_state_bytes;
  return c;
}

double cache_bytes_per_token(const ModelConfig& cfg, CacheFormat format) {
  const double kv = double(kv_entry_bytes(format, cfg.head_dim, cfg.qk_rope_head_dim));
  const double ix = double(indexer_entry_bytes(format, cfg.index_head_dim));
  double b = 0;
  for (int l = 0; l < cfg.num_hidden_layers; ++l) {
    const int r = cfg.ratio(l);
    if (r > 0) b += (kv + (r == 4 ? ix : 0.0)) / double(r);
  }
  return b;
}

}  // namespace tachyon::dsv4
