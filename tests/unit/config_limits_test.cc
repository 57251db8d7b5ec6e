// config.json limits: every numeric key the loader reads has a range that holds the real V4-Flash and
// V4-Pro configs, values just outside it are refused with a one-line error naming the key and the
// range, and config.json itself must be a regular file of bounded size.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <limits>
#include <set>
#include <string>

#include <nlohmann/json.hpp>

#include "../common/test_util.h"
#include "io/config.h"
#include "io/config_limits.h"

namespace tachyon {
namespace {

using json = nlohmann::json;
using testing::TempDir;
using testing::write_file;

// The Hugging Face config.json of DeepSeek-V4-Flash (the values of the published checkpoint).
json flash_json() {
  json ratios = {0, 0};
  for (int i = 2; i < 43; ++i) ratios.push_back(i % 2 == 0 ? 4 : 128);
  ratios.push_back(0);
  return json{{"architectures", {"DeepseekV4ForCausalLM"}},
              {"model_type", "deepseek_v4"},
              {"hidden_size", 4096},
              {"num_hidden_layers", 43},
              {"num_attention_heads", 64},
              {"num_key_value_heads", 1},
              {"head_dim", 512},
              {"qk_rope_head_dim", 64},
              {"q_lora_rank", 1024},
              {"o_groups", 8},
              {"o_lora_rank", 1024},
              {"sliding_window", 128},
              {"compress_ratios", ratios},
              {"compress_rope_theta", 160000},
              {"rope_theta", 10000},
              {"rope_scaling",
               {{"type", "yarn"},
                {"factor", 16},
                {"original_max_position_embeddings", 65536},
                {"beta_fast", 32},
                {"beta_slow", 1}}},
              {"max_position_embeddings", 1048576},
              {"index_n_heads", 64},
              {"index_head_dim", 128},
              {"index_topk", 512},
              {"n_routed_experts", 256},
              {"num_experts_per_tok", 6},
              {"n_shared_experts", 1},
              {"moe_intermediate_size", 2048},
              {"scoring_func", "sqrtsoftplus"},
              {"topk_method", "noaux_tc"},
              {"norm_topk_prob", true},
              {"routed_scaling_factor", 1.5},
              {"num_hash_layers", 3},
              {"swiglu_limit", 10.0},
              {"hc_mult", 4},
              {"hc_sinkhorn_iters", 20},
              {"hc_eps", 1e-6},
              {"rms_norm_eps", 1e-6},
              {"vocab_size", 129280},
              {"num_nextn_predict_layers", 1},
              {"hidden_act", "silu"},
              {"expert_dtype", "fp4"},
              {"bos_token_id", 0},
              {"eos_token_id", 1},
              {"quantization_config",
               {{"quant_method", "fp8"},
                {"fmt", "e4m3"},
                {"activation_scheme", "dynamic"},
                {"scale_fmt", "ue8m0"},
                {"weight_block_size", {128, 128}}}}};
}

// DeepSeek-V4-Pro: the Flash keys with Pro's sizes and schedule.
json pro_json() {
  json j = flash_json();
  json ratios = {128, 128};
  for (int i = 2; i < 61; ++i) ratios.push_back(i % 2 == 0 ? 4 : 128);
  ratios.push_back(0);
  j["hidden_size"] = 7168;
  j["num_hidden_layers"] = 61;
  j["num_attention_heads"] = 128;
  j["q_lora_rank"] = 1536;
  j["o_groups"] = 16;
  j["compress_ratios"] = ratios;
  j["index_topk"] = 1024;
  j["n_routed_experts"] = 384;
  j["moe_intermediate_size"] = 3072;
  j["routed_scaling_factor"] = 2.5;
  return j;
}

// The JSON value a limit key names inside a config ("rope_scaling.factor", "compress_ratios[]": the
// entry `index`, "quantization_config.weight_block_size[]": both entries are set by set_value).
json& value_at(json& j, std::string_view key, size_t index = 0) {
  const size_t dot = key.find('.');
  if (dot != std::string_view::npos) return value_at(j[std::string(key.substr(0, dot))], key.substr(dot + 1), index);
  if (key.ends_with("[]")) return j[std::string(key.substr(0, key.size() - 2))][index];
  return j[std::string(key)];
}

void set_value(json& j, std::string_view key, double v, bool integer) {
  const json value = integer ? json(int64_t(v)) : json(v);
  value_at(j, key, 0) = value;
  if (key == "quantization_config.weight_block_size[]") value_at(j, key, 1) = value;
}

Result<ModelConfig> parse(const json& j) { return ModelConfig::from_json_text(j.dump(), "dir/config.json"); }

TEST(ConfigLimits, RealFlashAndProConfigsLoad) {
  auto flash = parse(flash_json());
  ASSERT_TRUE(flash.is_ok()) << flash.status().message();
  EXPECT_EQ(flash->hidden_size, 4096);
  EXPECT_EQ(flash->hc_sinkhorn_iters, 20);
  EXPECT_EQ(flash->original_max_position_embeddings, 65536);
  EXPECT_EQ(flash->weight_block_size, 128);
  auto pro = parse(pro_json());
  ASSERT_TRUE(pro.is_ok()) << pro.status().message();
  EXPECT_EQ(pro->hidden_size, 7168);
  EXPECT_EQ(pro->n_routed_experts, 384);
  EXPECT_EQ(pro->compress_ratios.size(), 62u);
}

// Each limit: one step outside either end is refused, naming the key and the range; the ends
// themselves are not refused for their range (another rule, such as num_experts_per_tok <=
// n_routed_experts, may still apply).
TEST(ConfigLimits, EachLimitRefusesValuesJustOutside) {
  for (const ConfigLimit& l : config_limits()) {
    SCOPED_TRACE(std::string(l.key));
    const double below = l.integer ? l.lo - 1 : std::nextafter(l.lo, -1e300);
    const double above = l.integer ? l.hi + 1 : std::nextafter(l.hi, 1e300);
    for (double bad : {below, above}) {
      json j = flash_json();
      set_value(j, l.key, bad, l.integer);
      auto r = parse(j);
      ASSERT_FALSE(r.is_ok()) << bad;
      const std::string& m = r.status().message();
      std::string name(l.key);
      if (name.ends_with("[]")) name = name.substr(0, name.size() - 2) + "[0]";
      EXPECT_NE(m.find("dir/config.json: '" + name + "'"), std::string::npos) << m;
      EXPECT_NE(m.find("allowed " + config_limit_range(l)), std::string::npos) << m;
      EXPECT_EQ(m.find('\n'), std::string::npos) << m;
    }
    for (double edge : {l.lo, l.hi}) {
      json j = flash_json();
      set_value(j, l.key, edge, l.integer);
      auto r = parse(j);
      if (!r.is_ok()) {
        EXPECT_EQ(r.status().message().find("out of range"), std::string::npos) << r.status().message();
      }
    }
  }
}

// Every numeric key a config can carry (to_json writes them all) has a limit.
TEST(ConfigLimits, EveryNumericKeyHasALimit) {
  auto c = parse(flash_json());
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  const json written = json::parse(c->to_json());
  std::set<std::string> missing;
  const std::set<std::string> unread = {"num_key_value_heads"};  // written for Hugging Face tools, not read
  auto visit = [&](auto&& self, const json& j, const std::string& prefix) -> void {
    for (auto it = j.begin(); it != j.end(); ++it) {
      const std::string key = prefix + it.key();
      if (it->is_object()) {
        self(self, *it, key + ".");
      } else if (it->is_array() && !it->empty() && it->front().is_number()) {
        if (!find_config_limit(key + "[]")) missing.insert(key + "[]");
      } else if (it->is_number() && !unread.count(key) && !find_config_limit(key)) {
        missing.insert(key);
      }
    }
  };
  visit(visit, written, "");
  EXPECT_TRUE(missing.empty()) << "no limit for: " << nlohmann::json(missing).dump();
}

TEST(ConfigLimits, HugeIterationCountIsRefused) {
  json j = flash_json();
  j["hc_sinkhorn_iters"] = 1000000000;
  auto r = parse(j);
  ASSERT_FALSE(r.is_ok());
  EXPECT_EQ(r.status().message(),
            "dir/config.json: 'hc_sinkhorn_iters' = 1000000000 is out of range; allowed [1, 1000]");
}

// Values that would wrap when narrowed to int are refused, not wrapped (2^32 + 4 would become 4).
TEST(ConfigLimits, WrappingIntegersAreRefused) {
  for (const char* key : {"compress_ratios[]", "quantization_config.weight_block_size[]", "hidden_size"}) {
    SCOPED_TRACE(key);
    json j = flash_json();
    value_at(j, key, 0) = (int64_t(1) << 32) + 128;
    if (std::string_view(key).starts_with("quant")) value_at(j, key, 1) = (int64_t(1) << 32) + 128;
    auto r = parse(j);
    ASSERT_FALSE(r.is_ok());
    EXPECT_NE(r.status().message().find("4294967424 is out of range"), std::string::npos) << r.status().message();
  }
  json j = flash_json();
  j["vocab_size"] = std::numeric_limits<uint64_t>::max();
  EXPECT_FALSE(parse(j).is_ok());
}

TEST(ConfigLimits, NonFiniteAndFractionalValuesAreRefused) {
  json j = flash_json();
  j["rms_norm_eps"] = 0.0;
  EXPECT_FALSE(parse(j).is_ok());
  j = flash_json();
  j["hc_sinkhorn_iters"] = 20.5;
  EXPECT_FALSE(parse(j).is_ok());
  // A number too large for a double is refused by the JSON parser.
  std::string text = flash_json().dump();
  const std::string from = "\"rope_theta\":10000";
  ASSERT_NE(text.find(from), std::string::npos);
  text.replace(text.find(from), from.size(), "\"rope_theta\":1e999");
  auto r = ModelConfig::from_json_text(text, "c");
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("1e999"), std::string::npos) << r.status().message();
}

// validate() applies the same limits to configs built in code (presets, the generator).
TEST(ConfigLimits, ValidateAppliesTheLimits) {
  auto c = parse(flash_json());
  ASSERT_TRUE(c.is_ok());
  ModelConfig bad = *c;
  bad.hc_sinkhorn_iters = 1001;
  EXPECT_NE(bad.validate("cfg").message().find("'hc_sinkhorn_iters' = 1001"), std::string::npos);
  bad = *c;
  bad.rope_factor = std::numeric_limits<double>::quiet_NaN();
  EXPECT_NE(bad.validate("cfg").message().find("'rope_scaling.factor'"), std::string::npos);
  bad = *c;
  bad.compress_ratios[5] = 2048;
  EXPECT_NE(bad.validate("cfg").message().find("'compress_ratios[5]' = 2048"), std::string::npos);
}

// ---- the file itself ----------------------------------------------------------------------------------

template <typename F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string load_error(const TempDir& dir) {
  auto r = ModelConfig::load(dir.str());
  return r.is_ok() ? std::string("(loaded)") : r.status().message();
}

TEST(ConfigFile, RegularFileLoads) {
  TempDir dir;
  write_file(dir.path() / "config.json", flash_json().dump(2));
  EXPECT_EQ(load_error(dir), "(loaded)");
}

TEST(ConfigFile, FifoIsRefusedWithoutBlocking) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir.path() / "config.json").c_str(), 0600), 0);
  std::string m;
  EXPECT_LT(seconds([&] { m = load_error(dir); }), 5.0);
  EXPECT_NE(m.find("config.json: is a FIFO, expected a regular file"), std::string::npos) << m;
}

TEST(ConfigFile, DeviceBehindSymlinkIsRefused) {
  for (const char* dev : {"/dev/zero", "/dev/urandom"}) {
    TempDir dir;
    std::filesystem::create_symlink(dev, dir.path() / "config.json");
    std::string m;
    EXPECT_LT(seconds([&] { m = load_error(dir); }), 5.0);
    EXPECT_NE(m.find("config.json: is a character device, expected a regular file"), std::string::npos) << m;
  }
}

TEST(ConfigFile, DirectoryIsRefused) {
  TempDir dir;
  std::filesystem::create_directory(dir.path() / "config.json");
  EXPECT_NE(load_error(dir).find("is a directory"), std::string::npos);
}

// A valid config padded with spaces: at the limit it loads, one byte over it is refused unread.
TEST(ConfigFile, SizeLimit) {
  std::string text = flash_json().dump();
  ASSERT_LT(text.size(), kMaxConfigFileBytes);
  text.append(kMaxConfigFileBytes - text.size(), ' ');
  TempDir dir;
  write_file(dir.path() / "config.json", text);
  EXPECT_EQ(load_error(dir), "(loaded)");
  write_file(dir.path() / "config.json", text + " ");
  EXPECT_NE(load_error(dir).find("config.json: 1048577 bytes is over the 1 MiB limit"), std::string::npos)
      << load_error(dir);
  // A huge sparse file is refused just as fast (nothing is read).
  ASSERT_EQ(::truncate((dir.path() / "config.json").c_str(), off_t(1) << 40), 0);
  std::string m;
  EXPECT_LT(seconds([&] { m = load_error(dir); }), 5.0);
  EXPECT_NE(m.find("bytes is over the 1 MiB limit"), std::string::npos) << m;
}

}  // namespace
}  // namespace tachyon
