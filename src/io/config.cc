#include "io/config.h"

#include <filesystem>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/file_read.h"
#include "io/config_limits.h"
#include "io/printable.h"

namespace tachyon {

using json = nlohmann::json;

namespace {

// Reads typed fields of one JSON object; numeric ones must lie inside their limit (config_limits.h),
// looked up as prefix + key.
struct Reader {
  const json& j;
  const std::string& src;
  std::string prefix;  // "" at the top level, "rope_scaling." inside that object
  Status st;

  template <typename T>
  void req(const char* key, T& out) {
    if (!st.is_ok()) return;
    if (!j.contains(key)) {
      st = error("{}: missing required field '{}{}'", src, prefix, key);
      return;
    }
    get(key, out);
  }
  template <typename T>
  void opt(const char* key, T& out) {
    if (!st.is_ok() || !j.contains(key) || j[key].is_null()) return;
    get(key, out);
  }
  // Checks v (an integer when `integer`) against the limit of `limit_key`; `name` is what the error
  // calls it.
  bool number(const json& v, const std::string& limit_key, const std::string& name, bool integer) {
    if (integer ? !v.is_number_integer() : !v.is_number()) {
      st = error("{}: field '{}' must be {}, got {}", src, name, integer ? "an integer" : "a number", v.dump());
      return false;
    }
    st = check_config_limit(src, limit_key, name, v.get<double>());
    return st.is_ok();
  }
  template <typename T>
  void get(const char* key, T& out) {
    const json& v = j[key];
    const std::string name = prefix + key;
    if constexpr (std::is_same_v<T, int> || std::is_same_v<T, int64_t>) {
      if (number(v, name, name, true)) out = T(v.get<int64_t>());  // in range, so it fits
    } else if constexpr (std::is_same_v<T, double>) {
      if (number(v, name, name, false)) out = v.get<double>();
    } else if constexpr (std::is_same_v<T, std::string>) {
      if (!v.is_string()) {
        st = error("{}: field '{}' must be a string, got {}", src, name, v.dump());
        return;
      }
      out = v.get<std::string>();
    } else if constexpr (std::is_same_v<T, std::vector<int>>) {
      if (!v.is_array()) {
        st = error("{}: field '{}' must be an array of integers", src, name);
        return;
      }
      out.clear();
      for (size_t i = 0; i < v.size(); ++i) {
        if (!number(v[i], name + "[]", fmt::format("{}[{}]", name, i), true)) return;
        out.push_back(v[i].get<int>());
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
  Reader r{j, src, "", Status::ok()};
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
  else
    return error("{}: unsupported scoring_func '{}' (expected sqrtsoftplus, sigmoid or softmax)", src,
                 printable(score));
  if (expert_dtype == "fp4") c.expert_fp4 = true;
  else if (expert_dtype == "fp8") c.expert_fp4 = false;
  else return error("{}: unsupported expert_dtype '{}' (expected fp4 or fp8)", src, printable(expert_dtype));

  if (j.contains("rope_scaling") && !j["rope_scaling"].is_null()) {
    const json& rs = j["rope_scaling"];
    if (!rs.is_object()) return error("{}: 'rope_scaling' must be an object", src);
    std::string type;
    Reader rr{rs, src, "rope_scaling.", Status::ok()};
    rr.opt("type", type);
    rr.opt("rope_type", type);
    rr.opt("factor", c.rope_factor);
    rr.opt("original_max_position_embeddings", c.original_max_position_embeddings);
    rr.opt("beta_fast", c.beta_fast);
    rr.opt("beta_slow", c.beta_slow);
    TACHYON_RETURN_IF_ERROR(rr.st);
    if (!type.empty() && type != "yarn")
      return error("{}: unsupported rope_scaling type '{}' (DeepSeek-V4 uses yarn)", src, printable(type));
  }
  if (j.contains("quantization_config") && j["quantization_config"].is_object()) {
    const json& q = j["quantization_config"];
    if (q.contains("weight_block_size")) {
      const json& wb = q["weight_block_size"];
      if (!wb.is_array() || wb.size() != 2 || wb[0] != wb[1])
        return error("{}: quantization_config.weight_block_size must be [n, n]", src);
      Reader qr{q, src, "quantization_config.", Status::ok()};
      if (!qr.number(wb[0], "quantization_config.weight_block_size[]", "quantization_config.weight_block_size[0]",
                     true))
        return qr.st;
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
  // Every numeric field against its limit (config_limits.h), under its config.json key.
  const std::pair<const char*, double> values[] = {
      {"hidden_size", hidden_size},
      {"num_hidden_layers", num_hidden_layers},
      {"num_attention_heads", num_attention_heads},
      {"head_dim", head_dim},
      {"qk_rope_head_dim", qk_rope_head_dim},
      {"q_lora_rank", q_lora_rank},
      {"o_groups", o_groups},
      {"o_lora_rank", o_lora_rank},
      {"sliding_window", sliding_window},
      {"rope_theta", rope_theta},
      {"compress_rope_theta", compress_rope_theta},
      {"rope_scaling.factor", rope_factor},
      {"rope_scaling.original_max_position_embeddings", original_max_position_embeddings},
      {"rope_scaling.beta_fast", beta_fast},
      {"rope_scaling.beta_slow", beta_slow},
      {"max_position_embeddings", double(max_position_embeddings)},
      {"index_n_heads", index_n_heads},
      {"index_head_dim", index_head_dim},
      {"index_topk", index_topk},
      {"n_routed_experts", n_routed_experts},
      {"num_experts_per_tok", num_experts_per_tok},
      {"n_shared_experts", n_shared_experts},
      {"moe_intermediate_size", moe_intermediate_size},
      {"routed_scaling_factor", routed_scaling_factor},
      {"num_hash_layers", num_hash_layers},
      {"swiglu_limit", swiglu_limit},
      {"hc_mult", hc_mult},
      {"hc_sinkhorn_iters", hc_sinkhorn_iters},
      {"hc_eps", hc_eps},
      {"rms_norm_eps", rms_norm_eps},
      {"vocab_size", vocab_size},
      {"num_nextn_predict_layers", num_nextn_predict_layers},
      {"bos_token_id", bos_token_id},
      {"eos_token_id", eos_token_id},
  };
  for (const auto& [key, v] : values) TACHYON_RETURN_IF_ERROR(check_config_limit(src, key, v));
  TACHYON_RETURN_IF_ERROR(check_config_limit(src, "quantization_config.weight_block_size[]",
                                             "quantization_config.weight_block_size", weight_block_size));
  if (int(compress_ratios.size()) != num_hidden_layers + 1)
    return fail(fmt::format("'compress_ratios' has {} entries, expected num_hidden_layers + 1 = {}",
                            compress_ratios.size(), num_hidden_layers + 1));
  bool any_csa = false;
  for (size_t i = 0; i < compress_ratios.size(); ++i) {
    const int r = compress_ratios[i];
    TACHYON_RETURN_IF_ERROR(check_config_limit(src, "compress_ratios[]", fmt::format("compress_ratios[{}]", i), r));
    if (r == 1) return fail(fmt::format("compress_ratios[{}] = 1 is invalid (0, or at least 2)", i));
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
  if (num_hash_layers > num_hidden_layers)
    return fail(fmt::format("num_hash_layers {} must be in [0, num_hidden_layers = {}]", num_hash_layers,
                            num_hidden_layers));
  if (any_csa) {
    for (const auto& [key, v] : {std::pair{"index_n_heads", index_n_heads}, std::pair{"index_head_dim", index_head_dim},
                                 std::pair{"index_topk", index_topk}})
      if (v <= 0) return fail(fmt::format("'{}' must be positive when a layer has compress ratio 4, got {}", key, v));
    if (!is_pow2(index_head_dim) || index_head_dim % 32 != 0 || index_head_dim < qk_rope_head_dim)
      return fail(fmt::format("index_head_dim {} must be a power of two, a multiple of 32 and at least "
                              "qk_rope_head_dim",
                              index_head_dim));
  }
  if (expert_fp4 && (hidden_size % 32 != 0 || moe_intermediate_size % 32 != 0))
    return fail("FP4 experts need hidden_size and moe_intermediate_size to be multiples of 32");
  if (bos_token_id >= vocab_size || eos_token_id >= vocab_size)
    return fail(fmt::format("bos_token_id {} / eos_token_id {} must lie inside the vocabulary [0, vocab_size - 1 = {}]",
                            bos_token_id, eos_token_id, vocab_size - 1));
  return Status::ok();
}

Result<ModelConfig> ModelConfig::load(const std::string& model_dir) {
  std::string path = (std::filesystem::path(model_dir) / "config.json").string();
  TACHYON_ASSIGN_OR_RETURN(std::string text, read_regular_file(path, kMaxConfigFileBytes));
  return from_json_text(text, path);
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
