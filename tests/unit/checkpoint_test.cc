// The golden tiny checkpoint loads through the typed weights, and for_each_tensor lists exactly what it holds.
#include <gtest/gtest.h>

#include <map>

#include "model/deepseek_v4/weights.h"

namespace tachyon::dsv4 {
namespace {

const std::string kTiny = std::string(TACHYON_TEST_DATA) + "/golden/tiny-flash/model";

TEST(Checkpoint, GoldenTinyLoads) {
  auto ck = load_checkpoint(kTiny);
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  const auto& c = (*ck)->config;
  EXPECT_EQ(c.hidden_size, 256);
  EXPECT_EQ(c.num_hidden_layers, 4);
  EXPECT_EQ((*ck)->store.size(), 667u);
  std::map<DType, int> counts;
  size_t n = 0;
  for_each_tensor(c, nullptr, [&](TensorSlot& s) {
    counts[s.dtype]++;
    ++n;
  });
  EXPECT_EQ(n, 667u);
  EXPECT_EQ(counts[DType::kBF16], 48);
  EXPECT_EQ(counts[DType::kF32], 49);
  EXPECT_EQ(counts[DType::kF8E4M3], 44);
  EXPECT_EQ(counts[DType::kF8E8M0], 284);
  EXPECT_EQ(counts[DType::kI8], 240);
  EXPECT_EQ(counts[DType::kI64], 2);
  const auto& w = (*ck)->weights;
  ASSERT_EQ(w.layers.size(), 4u);
  EXPECT_TRUE(w.layers[1].attn.indexer.wq_b.weight);
  EXPECT_FALSE(w.layers[0].attn.compressor.wkv.weight);
  EXPECT_TRUE(w.layers[0].ffn.tid2eid);
  EXPECT_TRUE(w.layers[2].ffn.bias);
  ASSERT_EQ(w.mtp.size(), 1u);
  EXPECT_TRUE(w.mtp[0].e_proj.scale);
}

// The official Flash inventory (spec §4): 69,187 tensors with these dtype counts.
TEST(Checkpoint, FlashInventoryCounts) {
  ModelConfig c;
  c.hidden_size = 4096;
  c.num_hidden_layers = 43;
  c.num_attention_heads = 64;
  c.q_lora_rank = 1024;
  c.o_groups = 8;
  c.o_lora_rank = 1024;
  c.compress_ratios = {0, 0};
  for (int i = 2; i < 43; ++i) c.compress_ratios.push_back(i % 2 == 0 ? 4 : 128);
  c.compress_ratios.push_back(0);
  c.index_n_heads = 64;
  c.index_head_dim = 128;
  c.index_topk = 512;
  c.n_routed_experts = 256;
  c.num_experts_per_tok = 6;
  c.moe_intermediate_size = 2048;
  c.num_hash_layers = 3;
  c.vocab_size = 129280;
  c.num_nextn_predict_layers = 1;
  ASSERT_TRUE(c.validate("flash").is_ok());
  std::map<DType, int> counts;
  size_t n = 0;
  for_each_tensor(c, nullptr, [&](TensorSlot& s) {
    counts[s.dtype]++;
    ++n;
  });
  EXPECT_EQ(n, 69187u);
  EXPECT_EQ(counts[DType::kBF16], 433);
  EXPECT_EQ(counts[DType::kF32], 417);
  EXPECT_EQ(counts[DType::kF8E4M3], 375);
  EXPECT_EQ(counts[DType::kF8E8M0], 34167);
  EXPECT_EQ(counts[DType::kI8], 33792);
  EXPECT_EQ(counts[DType::kI64], 3);
}

}  // namespace
}  // namespace tachyon::dsv4
