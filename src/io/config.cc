#include "io/config.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace tachyon {

using json = nlohmann::json;

namespace {

struct Reader {
  const json& j;
  const std::string& src;
  Status st;

  template <typename T>
  void req(const char* key, T& out) {
    if (!st.is_ok()) return;
    if (!j.contains(key)) {
      st = error("{}: missing required field '{}'", src, key);
      return;
    }
    get(key, out);
  }
  template <typename T>
  void opt(const char* key, T& out) {
    if (!st.is_ok() || !j.contains(key) || j[key].is_null()) return;
    get(key, out);
  }
  template <typename T>
  void get(const char* key, T& out) {
    const json& v = j[key];
    if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t>) {
      if (!v.is_number_integer()) {
        st = error("{}: field '{}' must be an integer, got {}", src, key, v.dump());
        return;
      }
      int64_t x = v.get<int64_t>();
      if constexpr (std::is_same_v<T, int>) {
        if (x < INT32_MIN || x > INT32_MAX) {
          st = error("{}: field '{}' = {} is out of range", src, key, x);
          return;
        }
      }
      out = T(x);
    } else if constexpr (std::is_same_v<T, double>) {
      if (!v.is_number()) {
        st = error("{}: field '{}' must be a number, got {}", src, key, v.dump());
        return;
      }
      out = v.get<double>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) {
        st = error("{}: field '{}' must be a string, got {}", src, key, v.dump());
        return;
      }
      out = v.get<std::string>();
    } else if constexpr (std::is_same_v<T, std::vector<int>>) {
      if (!v.is_array()) {
        st = error("{}: field '{}' must be an array of integers", src, key);
        return;
      }
      out.clear();
      for (const json& e : v) {
        if (!e.is_number_integer()) {
          st = error("{}: field '{}' must be an array of integers, found {}", src, key, e.dump());
          return;
        }
        out.push_back(e.get<int>());
      }
    }
  }
};

bool is_pow2(int x) { return x > 0 && (x & (x - 1)) == 0; }

}  // namespace

Result<ModelConfig> ModelConfig::from_json_text(const std::string& text, const std::string& src) {
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return error("{}: malformed JSON: {}", src, e.what());
  }
  if (!j.is_object()) return error("{}: config is not a JSON object", src);
  ModelConfig c;
  Reader r{j, src, Status::ok()};
  r.req("hidden_size", c.hidden_size);
  r.req("num_hidden_layers", c.num_hidden_layers);
  r.req("num_attention_heads", c.num_attention_heads);
  r.opt("head_dim", c.head_dim);
  r.opt("qk_rope_head_dim", c.qk_rope_head_dim);
  r.req("q_lora_rank", c.q_lora_rank);
  r.req("o_groups", c.o_groups);
  r.req("o_lora_rank", c.o_lora_rank);
  r.opt("sliding_window", c.sliding_window);
  r.req("compress_ratios", c.compress_ratios);
  r.opt("rope_theta", c.rope_theta);
  r.opt("compress_rope_theta", c.compress_rope_theta);
  r.opt("max_position_embeddings", c.max_position_embeddings);
  r.opt("index_n_heads", c.index_n_heads);
  r.opt("index_head_dim", c.index_head_dim);
  r.opt("index_topk", c.index_topk);
  r.req("n_routed_experts", c.n_routed_experts);
  r.req("num_experts_per_tok", c.num_experts_per_tok);
  r.opt("n_shared_experts", c.n_shared_experts);
  r.req("moe_intermediate_size", c.moe_intermediate_size);
  r.opt("routed_scaling_factor", c.routed_scaling_factor);
  r.opt("num_hash_layers", c.num_hash_layers);
  r.opt("swiglu_limit", c.swiglu_limit);
  r.opt("hc_mult", c.hc_mult);
  r.opt("hc_sinkhorn_iters", c.hc_sinkhorn_iters);
  r.opt("hc_eps", c.hc_eps);
  r.opt("rms_norm_eps", c.rms_norm_eps);
  r.req("vocab_size", c.vocab_size);
  r.opt("num_nextn_predict_layers", c.num_nextn_predict_layers);
  r.opt("bos_token_id", c.bos_token_id);
  r.opt("eos_token_id", c.eos_token_id);
  std::string score = "sqrtsoftplus", expert_dtype = "fp4";
  r.opt("scoring_func", score);
  r.opt("expert_dtype", expert_dtype);
  TACHYON_RETURN_IF_ERROR(r.st);

  if (score == "sqrtsoftplus") c.scoring_func = ScoreFunc::kSqrtSoftplus;
  else if (score == "sigmoid") c.scoring_func = ScoreFunc::kSigmoid;
  else if (score == "softmax") c.scoring_func = ScoreFunc::kSoftmax;
  else return error("{}: unsupported scoring_func '{}' (expected sqrtsoftplus, sigmoid or softmax)", src, score);
  if (expert_dtype == "fp4") c.expert_fp4 = true;
  else if (expert_dtype == "fp8") c.expert_fp4 = false;
  else return error("{}: unsupported expert_dtype '{}' (expected fp4 or fp8)", src, expert_dtype);

  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& rs = j["rope_scaling"];
    if (!rs.is_object()) return error("{}: 'rope_scaling' must be an object", src);
    std::string type;
    Reader rr{rs, src, Status::ok()};
    rr.opt("type", type);
    rr.opt("rope_type", type);
    rr.opt("factor", c.rope_factor);
    rr.opt("original_max_position_embeddings", c.original_max_position_embeddings);
    rr.opt("beta_fast", c.beta_fast);
    rr.opt("beta_slow", c.beta_slow);
    TACHYON_RETURN_IF_ERROR(rr.st.with_context("rope_scaling"));
    if (!type.empty() && type != "yarn")
      return error("{}: unsupported rope_scaling type '{}' (DeepSeek-V4 uses yarn)", src, type);
  }
  if (j.contains("quantization_config") && j["quantization_config"].is_object()) {
    const json& q = j["quantization_config"];
    if (q.contains("weight_block_size")) {
      const json& wb = q["weight_block_size"];
      if (!wb.is_array() || wb.size() != 2 || !wb[0].is_number_integer() || wb[0] != wb[1])
        return error("{}: quantization_config.weight_block_size must be [n, n]", src);
      c.weight_block_size = wb[0].get<int>();
    }
    if (q.contains("fmt") && q["fmt"] != "e4m3")
      return error("{}: unsupported quantization_config.fmt {} (expected \"e4m3\")", src, q["fmt"].dump());
    if (q.contains("scale_fmt") && q["scale_fmt"] != "ue8m0")
      return error("{}: unsupported quantization_config.scale_fmt {} (expected \"ue8m0\")", src,
                   q["scale_fmt"].dump());
  }
  TACHYON_RETURN_IF_ERROR(c.validate(src));
  return c;
}

Status ModelConfig::validate(const std::string& src) const {
  auto fail = [&](const std::string& m) { return Status::error(src + ": " + m); };
  auto positive = [&](const char* name, int64_t v) -> Status {
    if (v <= 0) return fail(fmt::format("'{}' must be positive, got {}", name, v));
    return Status::ok();
  };
  TACHYON_RETURN_IF_ERROR(positive("hidden_size", hidden_size));
  TACHYON_RETURN_IF_ERROR(positive("num_hidden_layers", num_hidden_layers));
  TACHYON_RETURN_IF_ERROR(positive("num_attention_heads", num_attention_heads));
  TACHYON_RETURN_IF_ERROR(positive("head_dim", head_dim));
  TACHYON_RETURN_IF_ERROR(positive("qk_rope_head_dim", qk_rope_head_dim));
  TACHYON_RETURN_IF_ERROR(positive("q_lora_rank", q_lora_rank));
  TACHYON_RETURN_IF_ERROR(positive("o_groups", o_groups));
  TACHYON_RETURN_IF_ERROR(positive("o_lora_rank", o_lora_rank));
  TACHYON_RETURN_IF_ERROR(positive("sliding_window", sliding_window));
  TACHYON_RETURN_IF_ERROR(positive("n_routed_experts", n_routed_experts));
  TACHYON_RETURN_IF_ERROR(positive("num_experts_per_tok", num_experts_per_tok));
  TACHYON_RETURN_IF_ERROR(positive("moe_intermediate_size", moe_intermediate_size));
  TACHYON_RETURN_IF_ERROR(positive("vocab_size", vocab_size));
  TACHYON_RETURN_IF_ERROR(positive("hc_mult", hc_mult));
  TACHYON_RETURN_IF_ERROR(positive("hc_sinkhorn_iters", hc_sinkhorn_iters));
  if (hidden_size > (1 << 20) || num_hidden_layers > 1024 || num_attention_heads > 4096 || head_dim > 8192 ||
      n_routed_experts > 65536 || vocab_size > (1 << 24) || hc_mult > 64)
    return fail("a size field is implausibly large");
  if (int(compress_ratios.size()) != num_hidden_layers + 1)
    return fail(fmt::format("'compress_ratios' has {} entries, expected num_hidden_layers + 1 = {}",
                            compress_ratios.size(), num_hidden_layers + 1));
  bool any_csa = false;
  for (size_t i = 0; i < compress_ratios.size(); ++i) {
    int r = compress_ratios[i];
    if (r < 0 || r == 1) return fail(fmt::format("compress_ratios[{}] = {} is invalid (0 or >= 2)", i, r));
    if (r == 4) any_csa = true;
  }
  if (num_attention_heads % o_groups != 0)
    return fail(fmt::format("num_attention_heads {} is not divisible by o_groups {}", num_attention_heads, o_groups));
  if (qk_rope_head_dim % 2 != 0 || qk_rope_head_dim >= head_dim)
    return fail(fmt::format("qk_rope_head_dim {} must be even and smaller than head_dim {}", qk_rope_head_dim,
                            head_dim));
  if (num_experts_per_tok > n_routed_experts)
    return fail(fmt::format("num_experts_per_tok {} exceeds n_routed_experts {}", num_experts_per_tok,
                            n_routed_experts));
  if (num_hash_layers < 0 || num_hash_layers > num_hidden_layers)
    return fail(fmt::format("num_hash_layers {} must be in [0, num_hidden_layers]", num_hash_layers));
  if (n_shared_experts < 0 || n_shared_experts > 1)
    return fail(fmt::format("n_shared_experts {} is not supported (DeepSeek-V4 uses 1)", n_shared_experts));
  if (num_nextn_predict_layers < 0 || num_nextn_predict_layers > 1)
    return fail(fmt::format("num_nextn_predict_layers {} is not supported (0 or 1)", num_nextn_predict_layers));
  if (any_csa) {
    TACHYON_RETURN_IF_ERROR(positive("index_n_heads", index_n_heads));
    TACHYON_RETURN_IF_ERROR(positive("index_head_dim", index_head_dim));
    TACHYON_RETURN_IF_ERROR(positive("index_topk", index_topk));
    if (!is_pow2(index_head_dim) || index_head_dim % 32 != 0 || index_head_dim < qk_rope_head_dim)
      return fail(fmt::format("index_head_dim {} must be a power of two, a multiple of 32 and at least "
                              "qk_rope_head_dim",
                              index_head_dim));
  }
  if (expert_fp4 && (hidden_size % 32 != 0 || moe_intermediate_size % 32 != 0))
    return fail("FP4 experts need hidden_size and moe_intermediate_size to be multiples of 32");
  if (hc_eps < 0 || rms_norm_eps <= 0) return fail("hc_eps must be >= 0 and rms_norm_eps > 0");
  if (weight_block_size <= 0) return fail("weight_block_size must be positive");
  if (original_max_position_embeddings < 0 || rope_factor <= 0)
    return fail("rope_scaling factor must be positive and original_max_position_embeddings >= 0");
  if (bos_token_id < 0 || bos_token_id >= vocab_size || eos_token_id < 0 || eos_token_id >= vocab_size)
    return fail("bos_token_id / eos_token_id must lie inside the vocabulary");
  return Status::ok();
}

Result<ModelConfig> ModelConfig::load(const std::string& model_dir) {
  std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  std::ifstream in(path);
  if (!in) return error("{}: cannot open", path);
  std::stringstream ss;
  ss << in.rdbuf();
  return from_json_text(ss.str(), path);
}

std::string ModelConfig::to_json() const {
  json j;
  j["architectures"] = {"DeepseekV4ForCausalLM"};
  j["model_type"] = "deepseek_v4";
  j["hidden_size"] = hidden_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = 1;
  j["head_dim"] = head_dim;
  j["qk_rope_head_dim"] = qk_rope_head_dim;
  j["q_lora_rank"] = q_lora_rank;
  j["o_groups"] = o_groups;
  j["o_lora_rank"] = o_lora_rank;
  j["sliding_window"] = sliding_window;
  j["compress_ratios"] = compress_ratios;
  j["rope_theta"] = rope_theta;
  j["compress_rope_theta"] = compress_rope_theta;
  if (original_max_position_embeddings > 0)
    j["rope_scaling"] = {{"type", "yarn"},
                         {"factor", rope_factor},
                         {"original_max_position_embeddings", original_max_position_embeddings},
                         {"beta_fast", beta_fast},
                         {"beta_slow", beta_slow}};
  j["max_position_embeddings"] = max_position_embeddings;
  j["index_n_heads"] = index_n_heads;
  j["index_head_dim"] = index_head_dim;
  j["index_topk"] = index_topk;
  j["n_routed_experts"] = n_routed_experts;
  j["num_experts_per_tok"] = num_experts_per_tok;
  j["n_shared_experts"] = n_shared_experts;
  j["moe_intermediate_size"] = moe_intermediate_size;
  j["scoring_func"] = scoring_func == ScoreFunc::kSqrtSoftplus ? "sqrtsoftplus"
                      : scoring_func == ScoreFunc::kSigmoid    ? "sigmoid"
                                                               : "softmax";
  j["topk_method"] = "noaux_tc";
  j["norm_topk_prob"] = true;
  j["routed_scaling_factor"] = routed_scaling_factor;
  j["num_hash_layers"] = num_hash_layers;
  j["swiglu_limit"] = swiglu_limit;
  j["hc_mult"] = hc_mult;
  j["hc_sinkhorn_iters"] = hc_sinkhorn_iters;
  j["hc_eps"] = hc_eps;
  j["rms_norm_eps"] = rms_norm_eps;
  j["vocab_size"] = vocab_size;
  j["num_nextn_predict_layers"] = num_nextn_predict_layers;
  j["expert_dtype"] = expert_fp4 ? "fp4" : "fp8";
  j["bos_token_id"] = bos_token_id;
  j["eos_token_id"] = eos_token_id;
  j["hidden_act"] = "silu";
  j["tie_word_embeddings"] = false;
  j["torch_dtype"] = "bfloat16";
  j["quantization_config"] = {{"quant_method", "fp8"},
                              {"fmt", "e4m3"},
                              {"activation_scheme", "dynamic"},
                              {"scale_fmt", "ue8m0"},
                              {"weight_block_size", {weight_block_size, weight_block_size}}};
  return j.dump(2) + "\n";
}

}  // namespace tachyon
