// The tiny-model generator: presets, loadable output, determinism, sharding and quantisation exactness.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <set>

#include "../common/test_util.h"
#include "core/dtype.h"
#include "model/deepseek_v4/accounting.h"
#include "tools/generator.h"
#include "model/deepseek_v4/weights.h"

namespace tachyon::dsv4 {
namespace {

namespace fs = std::filesystem;
using tachyon::testing::read_file;
using tachyon::testing::TempDir;

// The tiny preset made smaller (vocabulary 1024) and with widths that are not multiples of 128, so FP8
// weights have partial edge tiles.
ModelConfig small_config() {
  auto c = preset_config("tiny");
  EXPECT_TRUE(c.is_ok()) << c.status().message();
  ModelConfig cfg = *c;
  cfg.vocab_size = 1024;
  cfg.hidden_size = 192;
  cfg.q_lora_rank = 96;
  cfg.o_lora_rank = 48;
  cfg.moe_intermediate_size = 96;
  EXPECT_TRUE(cfg.validate("small").is_ok());
  return cfg;
}

void generate(const ModelConfig& cfg, const std::string& dir, uint64_t seed, int shards = 1, int threads = 1) {
  GenerateOptions o;
  o.seed = seed;
  o.shards = shards;
  ThreadPool pool(threads);
  Status st = generate_checkpoint(cfg, dir, o, pool);
  ASSERT_TRUE(st.is_ok()) << st.message();
}

TEST(Generator, PresetsValidate) {
  for (const std::string& name : preset_names()) {
    auto c = preset_config(name);
    ASSERT_TRUE(c.is_ok()) << name << ": " << c.status().message();
    EXPECT_EQ(c->vocab_size, 129280) << name;
  }
  EXPECT_FALSE(preset_config("huge").is_ok());
}

TEST(Generator, MiniFlashPresetShape) {
  auto c = preset_config("mini-flash");
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->hidden_size, 2048);
  EXPECT_EQ(c->num_hidden_layers, 11);
  EXPECT_EQ(c->compress_ratios, (std::vector<int>{0, 0, 4, 128, 4, 128, 4, 128, 4, 128, 4, 0}));
  EXPECT_EQ(c->num_attention_heads, 32);
  EXPECT_EQ(c->head_dim, 512);
  EXPECT_EQ(c->q_lora_rank, 512);
  EXPECT_EQ(c->o_groups, 8);
  EXPECT_EQ(c->o_lora_rank, 512);
  EXPECT_EQ(c->index_n_heads, 64);
  EXPECT_EQ(c->index_head_dim, 128);
  EXPECT_EQ(c->index_topk, 512);
  EXPECT_EQ(c->n_routed_experts, 64);
  EXPECT_EQ(c->moe_intermediate_size, 1024);
  EXPECT_EQ(c->num_hash_layers, 3);
  EXPECT_EQ(c->original_max_position_embeddings, 65536);
  const ParamAccounting a = account_params(*c);
  EXPECT_GT(a.bytes_total, 3.5e9);
  EXPECT_LT(a.bytes_total, 4.5e9);
}

TEST(Generator, TinyProPresetSchedule) {
  auto c = preset_config("tiny-pro");
  ASSERT_TRUE(c.is_ok());
  EXPECT_EQ(c->ratio(0), 128);
  EXPECT_EQ(c->ratio(1), 128);
  EXPECT_EQ(c->num_hash_layers, 3);
  EXPECT_DOUBLE_EQ(c->routed_scaling_factor, 2.5);
}

TEST(Generator, OutputLoads) {
  TempDir d;
  const ModelConfig cfg = small_config();
  generate(cfg, d.str(), 1);
  auto ck = load_checkpoint(d.str());
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  EXPECT_EQ((*ck)->store.size(), 667u);
  EXPECT_EQ((*ck)->config.vocab_size, 1024);
  EXPECT_TRUE(fs::exists(d.path() / "model.safetensors"));
  EXPECT_FALSE(fs::exists(d.path() / "model.safetensors.index.json"));
}

TEST(Generator, TinyProOutputLoads) {
  TempDir d;
  auto c = preset_config("tiny-pro");
  ASSERT_TRUE(c.is_ok());
  ModelConfig cfg = *c;
  cfg.vocab_size = 512;
  generate(cfg, d.str(), 3);
  auto ck = load_checkpoint(d.str());
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
}

TEST(Generator, Deterministic) {
  TempDir a, b, c;
  const ModelConfig cfg = small_config();
  generate(cfg, a.str(), 42, 1, 2);
  generate(cfg, b.str(), 42, 1, 1);  // the thread count must not matter
  generate(cfg, c.str(), 43, 1, 2);
  const std::string fa = read_file(a.path() / "model.safetensors");
  EXPECT_TRUE(fa == read_file(b.path() / "model.safetensors"));
  EXPECT_FALSE(fa == read_file(c.path() / "model.safetensors"));
  EXPECT_EQ(read_file(a.path() / "config.json"), read_file(c.path() / "config.json"));
}

TEST(Generator, ShardedOutputLoadsWithSameCounts) {
  const ModelConfig cfg = small_config();
  TempDir single;
  generate(cfg, single.str(), 5);
  auto ref = load_checkpoint(single.str());
  ASSERT_TRUE(ref.is_ok()) << ref.status().message();
  const ParamAccounting ref_acc = account_params(cfg, &(*ref)->store);
  for (int k : {2, 3}) {
    TempDir d;
    generate(cfg, d.str(), 5, k);
    EXPECT_FALSE(fs::exists(d.path() / "model.safetensors"));
    auto index = nlohmann::json::parse(read_file(d.path() / "model.safetensors.index.json"));
    ASSERT_TRUE(index.contains("metadata"));
    EXPECT_EQ(index["metadata"]["total_size"].get<uint64_t>(), ref_acc.bytes_total);
    EXPECT_EQ(index["weight_map"].size(), 667u);
    for (int i = 1; i <= k; ++i)
      EXPECT_TRUE(fs::exists(d.path() / fmt::format("model-{:05d}-of-{:05d}.safetensors", i, k))) << i;
    auto ck = load_checkpoint(d.str());
    ASSERT_TRUE(ck.is_ok()) << ck.status().message();
    EXPECT_EQ((*ck)->store.files().size(), size_t(k));
    EXPECT_EQ((*ck)->store.size(), (*ref)->store.size());
    const ParamAccounting acc = account_params(cfg, &(*ck)->store);
    EXPECT_EQ(acc.params_total, ref_acc.params_total);
    EXPECT_EQ(acc.bytes_by_dtype, ref_acc.bytes_by_dtype);
    // Same bytes, tensor by tensor, as the single file.
    for (const auto& [name, t] : (*ref)->store.by_name()) {
      const TensorInfo* s = (*ck)->store.find(name);
      ASSERT_NE(s, nullptr) << name;
      ASSERT_EQ(s->nbytes, t->nbytes) << name;
      EXPECT_EQ(std::memcmp(s->data, t->data, t->nbytes), 0) << name;
    }
  }
}

TEST(Generator, RegenerationReplacesShardedOutput) {
  const ModelConfig cfg = small_config();
  TempDir d;
  generate(cfg, d.str(), 5, 3);
  generate(cfg, d.str(), 5, 1);
  EXPECT_FALSE(fs::exists(d.path() / "model.safetensors.index.json"));
  auto ck = load_checkpoint(d.str());
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  EXPECT_EQ((*ck)->store.files().size(), 1u);
}

// Every stored value decodes to its master within the format's rounding error, and every scale is the
// smallest power of two that fits the block (golden README, "Storage kinds").
TEST(Generator, StoredValuesMatchMasters) {
  const ModelConfig cfg = small_config();
  const uint64_t seed = 9;
  TempDir d;
  generate(cfg, d.str(), seed);
  auto ck = load_checkpoint(d.str());
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  const TensorStore& store = (*ck)->store;
  int n_fp8 = 0, n_fp4 = 0, n_bf16 = 0, n_f32 = 0, n_tables = 0;
  for_each_tensor(cfg, nullptr, [&](TensorSlot& s) {
    const TensorInfo* t = store.find(s.name);
    ASSERT_NE(t, nullptr) << s.name;
    if (s.role == TensorRole::kScale) return;
    if (s.role == TensorRole::kTable) {
      ++n_tables;
      const int64_t V = s.shape[0], k = s.shape[1];
      for (int64_t r = 0; r < V; ++r) {
        std::set<int64_t> ids;
        for (int64_t i = 0; i < k; ++i) {
          int64_t v;
          std::memcpy(&v, t->data + (r * k + i) * 8, 8);
          ASSERT_GE(v, 0);
          ASSERT_LT(v, cfg.n_routed_experts);
          ids.insert(v);
        }
        ASSERT_EQ(int64_t(ids.size()), k) << s.name << " row " << r << " repeats an expert";
      }
      return;
    }
    int64_t N, K;
    generator_logical_shape(s, &N, &K);
    const std::vector<float> m = generator_master(s, seed);
    ASSERT_EQ(int64_t(m.size()), N * K);
    if (s.dtype == DType::kBF16) {
      ++n_bf16;
      for (int64_t i = 0; i < N * K; ++i) {
        uint16_t b;
        std::memcpy(&b, t->data + i * 2, 2);
        ASSERT_EQ(b, f32_to_bf16(m[size_t(i)])) << s.name << " element " << i;
      }
    } else if (s.dtype == DType::kF32) {
      ++n_f32;
      ASSERT_EQ(std::memcmp(t->data, m.data(), m.size() * 4), 0) << s.name;
    } else if (s.dtype == DType::kF8E4M3) {
      ++n_fp8;
      const std::string sn = s.name.substr(0, s.name.size() - 7) + ".scale";
      const TensorInfo* sc = store.find(sn);
      ASSERT_NE(sc, nullptr) << sn;
      const int64_t B = cfg.weight_block_size, tc = (K + B - 1) / B;
      ASSERT_EQ(sc->shape, (std::vector<int64_t>{(N + B - 1) / B, tc}));
      std::vector<float> amax(size_t(sc->numel()), 0.0f);
      for (int64_t r = 0; r < N; ++r)
        for (int64_t k = 0; k < K; ++k) {
          const size_t ti = size_t((r / B) * tc + k / B);
          const float x = m[size_t(r * K + k)];
          amax[ti] = std::max(amax[ti], std::fabs(x));
          const uint8_t code = t->data[r * K + k];
          ASSERT_NE(code & 0x7f, 0x7f) << "NaN code in " << s.name;
          if (code == 0x80) FAIL() << "negative zero in " << s.name;
          const float scale = e8m0_to_f32(sc->data[ti]);
          const float v = e4m3_to_f32(code) * scale;
          // e4m3: 3 mantissa bits (relative half-ulp 2^-4); subnormal step 2^-9.
          ASSERT_LE(std::fabs(v - x), std::fabs(x) * 0.0625f + scale * 0x1.0p-10f) << s.name << " [" << r << ", " << k
                                                                                     << "]";
        }
      for (size_t i = 0; i < amax.size(); ++i) {
        const float scale = e8m0_to_f32(sc->data[i]);
        ASSERT_LE(amax[i] / scale, 448.0f) << sn;
        ASSERT_GT(amax[i] / (scale * 0.5f), 448.0f) << sn << ": scale is not the smallest";
      }
    } else if (s.packed_fp4) {
      ++n_fp4;
      const std::string sn = s.name.substr(0, s.name.size() - 7) + ".scale";
      const TensorInfo* sc = store.find(sn);
      ASSERT_NE(sc, nullptr) << sn;
      ASSERT_EQ(sc->shape, (std::vector<int64_t>{N, K / 32}));
      for (int64_t r = 0; r < N; ++r)
        for (int64_t blk = 0; blk < K / 32; ++blk) {
          const float scale = e8m0_to_f32(sc->data[r * (K / 32) + blk]);
          float amax = 0.0f;
          for (int64_t k = blk * 32; k < blk * 32 + 32; ++k) {
            const float x = m[size_t(r * K + k)];
            amax = std::max(amax, std::fabs(x));
            const float v = e2m1_to_f32(fp4_nibble(t->data + r * (K / 2), size_t(k))) * scale;
            ASSERT_LE(std::fabs(v - x), 0.25f * std::fabs(x) + 0.25f * scale) << s.name << " [" << r << ", " << k << "]";
          }
          ASSERT_LE(amax / scale, 6.0f) << sn;
          ASSERT_GT(amax / (scale * 0.5f), 6.0f) << sn << ": scale is not the smallest";
        }
    } else {
      FAIL() << "unexpected storage for " << s.name;
    }
  });
  EXPECT_EQ(n_fp8, 44);
  EXPECT_EQ(n_fp4, 240);
  EXPECT_EQ(n_bf16, 48);
  EXPECT_EQ(n_f32, 49);
  EXPECT_EQ(n_tables, 2);
}

TEST(Generator, RejectsBadShardCount) {
  TempDir d;
  GenerateOptions o;
  o.shards = 0;
  ThreadPool pool(1);
  EXPECT_FALSE(generate_checkpoint(small_config(), d.str(), o, pool).is_ok());
  o.shards = 100000;
  EXPECT_FALSE(generate_checkpoint(small_config(), d.str(), o, pool).is_ok());
}

}  // namespace
}  // namespace tachyon::dsv4
