#include "tools/generator.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "core/check.h"
#include "core/dtype.h"
#include "core/log.h"

namespace tachyon::dsv4 {

namespace fs = std::filesystem;

// ---- presets ----------------------------------------------------------------------------------------

std::vector<std::string> preset_names() { return {"tiny", "mini-flash", "tiny-pro"}; }

namespace {

// Shared by the small presets: the golden tiny-flash shapes, with the real tokenizer's vocabulary.
ModelConfig small_base() {
  ModelConfig c;
  c.hidden_size = 256;
  c.num_attention_heads = 8;
  c.head_dim = 128;
  c.qk_rope_head_dim = 64;
  c.q_lora_rank = 128;
  c.o_groups = 2;
  c.o_lora_rank = 64;
  c.sliding_window = 128;
  c.rope_theta = 10000;
  c.compress_rope_theta = 160000;
  c.rope_factor = 16;
  c.original_max_position_embeddings = 256;
  c.beta_fast = 32;
  c.beta_slow = 1;
  c.max_position_embeddings = 4096;
  c.index_n_heads = 8;
  c.index_head_dim = 64;
  c.index_topk = 16;
  c.n_routed_experts = 16;
  c.num_experts_per_tok = 6;
  c.n_shared_experts = 1;
  c.moe_intermediate_size = 128;
  c.scoring_func = ScoreFunc::kSqrtSoftplus;
  c.routed_scaling_factor = 1.5;
  c.swiglu_limit = 10.0;
  c.hc_mult = 4;
  c.vocab_size = 129280;
  c.num_nextn_predict_layers = 1;
  c.expert_fp4 = true;
  return c;
}

}  // namespace

Result<ModelConfig> preset_config(std::string_view name) {
  ModelConfig c;
  if (name == "tiny") {
    c = small_base();
    c.num_hidden_layers = 4;
    c.compress_ratios = {0, 4, 128, 4, 0};
    c.num_hash_layers = 2;
  } else if (name == "tiny-pro") {
    // V4-Pro's schedule (ratio-128 first layers, no pure window layer) at tiny widths.
    c = small_base();
    c.num_hidden_layers = 5;
    c.compress_ratios = {128, 128, 4, 128, 4, 0};
    c.num_hash_layers = 3;
    c.routed_scaling_factor = 2.5;
    c.index_topk = 32;
  } else if (name == "mini-flash") {
    c.hidden_size = 2048;
    c.num_hidden_layers = 11;
    c.compress_ratios = {0, 0, 4, 128, 4, 128, 4, 128, 4, 128, 4, 0};
    c.num_attention_heads = 32;
    c.head_dim = 512;
    c.qk_rope_head_dim = 64;
    c.q_lora_rank = 512;
    c.o_groups = 8;
    c.o_lora_rank = 512;
    c.sliding_window = 128;
    c.rope_theta = 10000;
    c.compress_rope_theta = 160000;
    c.rope_factor = 16;
    c.original_max_position_embeddings = 65536;
    c.beta_fast = 32;
    c.beta_slow = 1;
    c.max_position_embeddings = 1048576;
    c.index_n_heads = 64;
    c.index_head_dim = 128;
    c.index_topk = 512;
    c.n_routed_experts = 64;
    c.num_experts_per_tok = 6;
    c.n_shared_experts = 1;
    c.moe_intermediate_size = 1024;
    c.scoring_func = ScoreFunc::kSqrtSoftplus;
    c.routed_scaling_factor = 1.5;
    c.num_hash_layers = 3;
    c.swiglu_limit = 10.0;
    c.hc_mult = 4;
    c.vocab_size = 129280;
    c.num_nextn_predict_layers = 1;
    c.expert_fp4 = true;
  } else {
    std::string names;
    for (const auto& n : preset_names()) names += (names.empty() ? "" : ", ") + n;
    return error("unknown preset '{}' (available: {})", name, names);
  }
  TACHYON_RETURN_IF_ERROR(c.validate(fmt::format("preset '{}'", name)));
  return c;
}

// ---- deterministic random numbers -------------------------------------------------------------------

namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t fnv1a64(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

class Xoshiro256ss {
 public:
  explicit Xoshiro256ss(uint64_t seed) {
    for (uint64_t& w : s_) w = splitmix64(seed);
  }
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform integer in [0, n) (n small; the modulo bias is irrelevant here but the result is deterministic).
  uint64_t below(uint64_t n) { return next() % n; }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

uint64_t tensor_seed(uint64_t seed, std::string_view name) {
  uint64_t x = seed ^ fnv1a64(name);
  return splitmix64(x);
}

uint64_t row_seed(uint64_t tseed, int64_t row) {
  uint64_t x = tseed ^ (uint64_t(row) * 0xD1B54A32D192ED03ull);
  return splitmix64(x);
}

// Master value = mean + std * z (or mean + std * |z| for positive parameters), z ~ N(0, 1).
struct InitRule {
  float mean = 0.0f;
  float std = 1.0f;
  bool positive = false;
};

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

InitRule init_rule(const TensorSlot& s, int64_t cols) {
  const std::string& n = s.name;
  if (ends_with(n, "norm.weight")) return {1.0f, 0.1f};   // every RMSNorm weight
  if (ends_with(n, "gate.bias")) return {0.0f, 0.01f};    // routing bias
  if (ends_with(n, "attn_sink")) return {0.0f, 0.1f};
  if (ends_with(n, ".ape")) return {0.0f, 0.02f};         // compressor position bias
  if (ends_with(n, "_base")) return {0.0f, 0.1f};         // hc_*_base
  if (ends_with(n, "_scale")) return {0.05f, 0.05f, true};  // hc_*_scale (quant scales end in ".scale")
  if (n == "embed.weight") return {0.0f, 1.0f};
  // Linear weights and hc_*_fn: fan-in scaling keeps activations O(1).
  return {0.0f, float(1.0 / std::sqrt(double(std::max<int64_t>(cols, 1))))};
}

void master_row(uint64_t tseed, int64_t row, int64_t cols, const InitRule& rule, float* out) {
  Xoshiro256ss g(row_seed(tseed, row));
  constexpr float kTwoPi = 6.28318530717958647692f;
  for (int64_t i = 0; i < cols; i += 2) {
    // Box-Muller in float (plenty for random weights, and about 3x faster than double): two independent
    // N(0, 1) from a uniform in (0, 1] and one in [0, 1), 24 random bits each.
    const float u1 = float((g.next() >> 40) + 1) * 0x1.0p-24f;
    const float u2 = float(g.next() >> 40) * 0x1.0p-24f;
    const float r = std::sqrt(-2.0f * std::log(u1));
    const float th = kTwoPi * u2;
    const float z[2] = {r * std::cos(th), r * std::sin(th)};
    for (int j = 0; j < 2 && i + j < cols; ++j) {
      const float v = rule.positive ? std::fabs(z[j]) : z[j];
      out[i + j] = rule.mean + rule.std * v;
    }
  }
}

int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// E8M0 byte of the smallest power of two 2^e with amax / 2^e <= qmax; 127 (2^0) for an all-zero block.
uint8_t block_scale(float amax, float qmax) { return amax > 0.0f ? e8m0_ceil(amax / qmax) : uint8_t(127); }

// 1 / 2^(b-127) = 2^(127-b), exact (2^-127 is an exact f32 subnormal), so x * inv_scale(b) is x / 2^e exactly
// rounded, like ldexp.
float inv_scale(uint8_t b) { return e8m0_to_f32(uint8_t(254 - b)); }

std::string scale_name(const std::string& weight_name) {
  TACHYON_CHECK(ends_with(weight_name, ".weight"), weight_name);
  return weight_name.substr(0, weight_name.size() - 7) + ".scale";
}

// Produces each tensor's bytes in for_each_tensor order, holding scale bytes until their tensor comes.
class Producer {
 public:
  Producer(const ModelConfig& cfg, uint64_t seed, const ThreadPool& pool) : cfg_(cfg), seed_(seed), pool_(pool) {}

  void fill(const TensorSlot& s, uint8_t* dst) {
    if (s.role == TensorRole::kScale) {
      auto it = pending_.find(s.name);
      TACHYON_CHECK(it != pending_.end(), "scale produced before its weight: " + s.name);
      TACHYON_CHECK(it->second.size() == s.nbytes(), s.name);
      std::memcpy(dst, it->second.data(), it->second.size());
      pending_.erase(it);
      return;
    }
    if (s.role == TensorRole::kTable) return fill_tid2eid(s, dst);
    if (s.packed_fp4) return fill_fp4(s, dst);
    switch (s.dtype) {
      case DType::kF8E4M3: return fill_fp8(s, dst);
      case DType::kBF16:
      case DType::kF32: return fill_plain(s, dst);
      default: TACHYON_CHECK(false, "no generator for tensor " + s.name);
    }
  }
  bool idle() const { return pending_.empty(); }

 private:
  void fill_plain(const TensorSlot& s, uint8_t* dst) {
    int64_t rows, cols;
    generator_logical_shape(s, &rows, &cols);
    const uint64_t ts = tensor_seed(seed_, s.name);
    const InitRule rule = init_rule(s, cols);
    const bool bf16 = s.dtype == DType::kBF16;
    pool_.parallel_for(rows, std::max<int64_t>(1, 65536 / std::max<int64_t>(cols, 1)), [&](int64_t b, int64_t e) {
      std::vector<float> row(static_cast<size_t>(cols));
      for (int64_t r = b; r < e; ++r) {
        master_row(ts, r, cols, rule, row.data());
        if (bf16) {
          uint16_t* o = reinterpret_cast<uint16_t*>(dst) + r * cols;
          for (int64_t k = 0; k < cols; ++k) {
            const uint16_t v = f32_to_bf16(row[size_t(k)]);
            std::memcpy(o + k, &v, 2);
          }
        } else {
          std::memcpy(dst + size_t(r * cols) * 4, row.data(), size_t(cols) * 4);
        }
      }
    });
  }

  void fill_fp8(const TensorSlot& s, uint8_t* dst) {
    int64_t N, K;
    generator_logical_shape(s, &N, &K);
    const int64_t B = cfg_.weight_block_size, tr = cdiv(N, B), tc = cdiv(K, B);
    const uint64_t ts = tensor_seed(seed_, s.name);
    const InitRule rule = init_rule(s, K);
    std::vector<uint8_t> scale(size_t(tr * tc));
    pool_.parallel_for(tr, 1, [&](int64_t b, int64_t e) {
      std::vector<float> m(size_t(B * K));
      for (int64_t t = b; t < e; ++t) {
        const int64_t r0 = t * B, r1 = std::min(N, r0 + B);
        for (int64_t r = r0; r < r1; ++r) master_row(ts, r, K, rule, m.data() + (r - r0) * K);
        for (int64_t c = 0; c < tc; ++c) {
          const int64_t c0 = c * B, c1 = std::min(K, c0 + B);
          float amax = 0.0f;
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t k = c0; k < c1; ++k) amax = std::max(amax, std::fabs(m[size_t((r - r0) * K + k)]));
          const uint8_t sb = block_scale(amax, 448.0f);
          scale[size_t(t * tc + c)] = sb;
          const float inv = inv_scale(sb);
          for (int64_t r = r0; r < r1; ++r)
            for (int64_t k = c0; k < c1; ++k) {
              uint8_t code = f32_to_e4m3(m[size_t((r - r0) * K + k)] * inv);
              if (code == 0x80) code = 0;  // zero is stored as +0
              dst[r * K + k] = code;
            }
        }
      }
    });
    pending_[scale_name(s.name)] = std::move(scale);
  }

  void fill_fp4(const TensorSlot& s, uint8_t* dst) {
    int64_t N, K;
    generator_logical_shape(s, &N, &K);
    const uint64_t ts = tensor_seed(seed_, s.name);
    const InitRule rule = init_rule(s, K);
    const int64_t nb = K / 32;
    std::vector<uint8_t> scale(size_t(N * nb));
    pool_.parallel_for(N, 16, [&](int64_t b, int64_t e) {
      std::vector<float> m(static_cast<size_t>(K));
      for (int64_t r = b; r < e; ++r) {
        master_row(ts, r, K, rule, m.data());
        uint8_t* out = dst + r * (K / 2);
        for (int64_t blk = 0; blk < nb; ++blk) {
          float amax = 0.0f;
          for (int64_t k = blk * 32; k < blk * 32 + 32; ++k) amax = std::max(amax, std::fabs(m[size_t(k)]));
          const uint8_t sb = block_scale(amax, 6.0f);
          scale[size_t(r * nb + blk)] = sb;
          const float inv = inv_scale(sb);
          for (int64_t k = blk * 32; k < blk * 32 + 32; k += 2) {
            uint8_t lo = f32_to_e2m1(m[size_t(k)] * inv);
            uint8_t hi = f32_to_e2m1(m[size_t(k + 1)] * inv);
            if (lo == 8) lo = 0;  // +0, like FP8
            if (hi == 8) hi = 0;
            out[k / 2] = uint8_t(lo | (hi << 4));
          }
        }
      }
    });
    pending_[scale_name(s.name)] = std::move(scale);
  }

  // Hash routing table [V, k]: each row holds k distinct expert ids in [0, E) (partial Fisher-Yates).
  void fill_tid2eid(const TensorSlot& s, uint8_t* dst) {
    TACHYON_CHECK(s.shape.size() == 2, s.name);
    const int64_t V = s.shape[0], k = s.shape[1], E = cfg_.n_routed_experts;
    TACHYON_CHECK(k <= E, s.name);
    const uint64_t ts = tensor_seed(seed_, s.name);
    const bool i64 = s.dtype == DType::kI64;
    pool_.parallel_for(V, 1024, [&](int64_t b, int64_t e) {
      std::vector<int64_t> ids(static_cast<size_t>(E));
      for (int64_t r = b; r < e; ++r) {
        Xoshiro256ss g(row_seed(ts, r));
        for (int64_t i = 0; i < E; ++i) ids[size_t(i)] = i;
        for (int64_t i = 0; i < k; ++i) std::swap(ids[size_t(i)], ids[size_t(i + int64_t(g.below(uint64_t(E - i))))]);
        for (int64_t i = 0; i < k; ++i) {
          if (i64) {
            std::memcpy(dst + size_t(r * k + i) * 8, &ids[size_t(i)], 8);
          } else {
            const int32_t v = int32_t(ids[size_t(i)]);
            std::memcpy(dst + size_t(r * k + i) * 4, &v, 4);
          }
        }
      }
    });
  }

  const ModelConfig& cfg_;
  uint64_t seed_;
  const ThreadPool& pool_;
  std::map<std::string, std::vector<uint8_t>> pending_;
};

Status write_text(const fs::path& p, const std::string& text) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f << text;
  f.close();
  if (!f) return error("{}: write failed", p.string());
  return Status::ok();
}

}  // namespace

void generator_logical_shape(const TensorSlot& slot, int64_t* rows, int64_t* cols) {
  if (slot.shape.size() == 1) {
    *rows = 1;
    *cols = slot.shape[0];
  } else {
    TACHYON_CHECK(slot.shape.size() == 2, slot.name);
    *rows = slot.shape[0];
    *cols = slot.packed_fp4 ? 2 * slot.shape[1] : slot.shape[1];
  }
}

std::vector<float> generator_master(const TensorSlot& slot, uint64_t seed) {
  TACHYON_CHECK(slot.role == TensorRole::kWeight, "no master values for " + slot.name);
  int64_t rows, cols;
  generator_logical_shape(slot, &rows, &cols);
  std::vector<float> out(size_t(rows * cols));
  const uint64_t ts = tensor_seed(seed, slot.name);
  const InitRule rule = init_rule(slot, cols);
  for (int64_t r = 0; r < rows; ++r) master_row(ts, r, cols, rule, out.data() + r * cols);
  return out;
}

// ---- the checkpoint writer ----------------------------------------------------------------------------

Status generate_checkpoint(const ModelConfig& cfg, const std::string& out_dir, const GenerateOptions& opt,
                           const ThreadPool& pool) {
  TACHYON_RETURN_IF_ERROR(cfg.validate("model config"));
  std::vector<TensorSlot> slots;
  for_each_tensor(cfg, nullptr, [&](TensorSlot& s) {
    slots.push_back(s);
    slots.back().bind = nullptr;
  });

  // Group each weight with the scale that follows it; a group never straddles two shards.
  std::vector<size_t> group_start;
  for (size_t i = 0; i < slots.size(); ++i)
    if (slots[i].role != TensorRole::kScale) group_start.push_back(i);
  const int64_t n_groups = int64_t(group_start.size());
  const int64_t K = opt.shards;
  if (K < 1 || K > 99999) return error("--shards must be in [1, 99999], got {}", K);
  if (K > n_groups) return error("--shards {} exceeds the number of weights ({})", K, n_groups);

  uint64_t total = 0;
  for (const auto& s : slots) total += s.nbytes();
  std::vector<int> shard_of(slots.size());
  {
    uint64_t cum = 0;
    int64_t prev = -1;
    for (int64_t g = 0; g < n_groups; ++g) {
      const size_t b = group_start[size_t(g)];
      const size_t e = g + 1 < n_groups ? group_start[size_t(g + 1)] : slots.size();
      const int64_t want = total ? int64_t((__int128(cum) * K) / total) : 0;
      const int64_t lo = std::max<int64_t>(prev, K - (n_groups - g)), hi = std::min<int64_t>(K - 1, prev + 1);
      const int64_t sh = std::clamp(want, lo, hi);
      for (size_t i = b; i < e; ++i) {
        shard_of[i] = int(sh);
        cum += slots[i].nbytes();
      }
      prev = sh;
    }
  }

  std::error_code ec;
  fs::create_directories(out_dir, ec);
  if (ec) return error("{}: cannot create directory: {}", out_dir, ec.message());
  const fs::path dir(out_dir);
  // Remove what a previous run may have left: a stale index or shard would shadow the new files.
  fs::remove(dir / "config.json", ec);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string fn = e.path().filename().string();
    if (fn == "model.safetensors.index.json" || (fn.rfind("model", 0) == 0 && e.path().extension() == ".safetensors"))
      fs::remove(e.path(), ec);
  }

  Producer producer(cfg, opt.seed, pool);
  nlohmann::json weight_map = nlohmann::json::object();
  for (int64_t sh = 0; sh < K; ++sh) {
    const std::string fname =
        K == 1 ? std::string("model.safetensors") : fmt::format("model-{:05d}-of-{:05d}.safetensors", sh + 1, K);
    std::vector<TensorSpec> specs;
    std::vector<size_t> idx;
    for (size_t i = 0; i < slots.size(); ++i)
      if (shard_of[i] == sh) {
        specs.push_back({slots[i].name, slots[i].dtype, slots[i].shape});
        idx.push_back(i);
        weight_map[slots[i].name] = fname;
      }
    TLOG_INFO("make-tiny-model: writing {} ({} tensors)", fname, specs.size());
    TACHYON_RETURN_IF_ERROR(write_safetensors((dir / fname).string(), specs,
                                              [&](size_t j, uint8_t* dst) { producer.fill(slots[idx[j]], dst); }));
  }
  TACHYON_CHECK(producer.idle(), "a scale tensor was never written");
  if (K > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    TACHYON_RETURN_IF_ERROR(write_text(dir / "model.safetensors.index.json", index.dump(2) + "\n"));
  }
  for (const std::string& f : opt.extra_files) {
    const fs::path to = dir / fs::path(f).filename();
    fs::remove(to, ec);  // the previous copy may be read-only
    fs::copy_file(f, to, fs::copy_options::overwrite_existing, ec);
    if (ec) return error("{}: cannot copy into {}: {}", f, out_dir, ec.message());
  }
  return write_text(dir / "config.json", cfg.to_json());
}

}  // namespace tachyon::dsv4
