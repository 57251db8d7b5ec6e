// Parameter / byte / cache accounting, checked against numbers computed independently of the code under test.
#include <gtest/gtest.h>

#include "../common/test_util.h"
#include "model/deepseek_v4/accounting.h"
#include "model/deepseek_v4/weights.h"

namespace tachyon::dsv4 {
namespace {

const std::string kTiny = std::string(TACHYON_TEST_DATA) + "/golden/tiny-flash/model";

TEST(Accounting, GoldenTinyMatchesHeaders) {
  auto ck = load_checkpoint(kTiny);
  ASSERT_TRUE(ck.is_ok()) << ck.status().message();
  const ParamAccounting a = account_params((*ck)->config, &(*ck)->store);
  const auto h = tachyon::testing::header_totals(kTiny, 16, 6);
  EXPECT_EQ(a.tensor_count, 667);
  EXPECT_EQ(a.tensor_count, h.tensor_count);
  EXPECT_EQ(a.params_total, h.params);
  EXPECT_EQ(a.params_active_per_token, h.active_params);
  EXPECT_EQ(a.bytes_by_dtype, h.bytes_by_dtype);
  // Without the store the listing gives the same answer.
  const ParamAccounting b = account_params((*ck)->config);
  EXPECT_EQ(b.params_total, a.params_total);
  EXPECT_EQ(b.bytes_by_dtype, a.bytes_by_dtype);
}

TEST(Accounting, GoldenTinyCache) {
  auto cfg = ModelConfig::load(kTiny);
  ASSERT_TRUE(cfg.is_ok());
  // ratios [0, 4, 128, 4]: two CSA layers (128*2 + 64*2) / 4 = 96 B, one HCA layer 128*2/128 = 2 B.
  const CacheAccounting c = account_cache(*cfg, 4096);
  EXPECT_DOUBLE_EQ(c.bytes_per_token, 194.0);
  EXPECT_EQ(c.compressed_bytes, 2u * 1024 * 384 + 32 * 256);
  EXPECT_EQ(c.window_bytes, 5u * 128 * 128 * 2);
  // CSA: main [8, 256] x2 fp32 + indexer [8, 128] x2 fp32; HCA: [128, 128] x2 fp32.
  EXPECT_EQ(c.compressor_state_bytes, 2u * (2 * 8 * 256 * 4 + 2 * 8 * 128 * 4) + 2 * 128 * 128 * 4);
  EXPECT_EQ(c.bytes_at_context, c.compressed_bytes + c.window_bytes + c.compressor_state_bytes);
  const CacheAccounting s = account_cache(*cfg, 10);  // shorter than the window
  EXPECT_EQ(s.window_bytes, 5u * 10 * 128 * 2);
  EXPECT_EQ(s.compressed_bytes, 2u * 2 * 384);
}

// Spec §3: Pro grows 9,848 B per token; its fixed state is 62 windows of 128 KiB and ~17.8 MiB of compressor state.
TEST(Accounting, ProCacheMatchesSpec) {
  ModelConfig c;
  c.hidden_size = 7168;
  c.num_hidden_layers = 61;
  c.num_attention_heads = 128;
  c.q_lora_rank = 1536;
  c.o_groups = 16;
  c.o_lora_rank = 1024;
  c.compress_ratios = {128, 128};
  for (int i = 2; i < 61; ++i) c.compress_ratios.push_back(i % 2 == 0 ? 4 : 128);
  c.compress_ratios.push_back(0);
  c.index_n_heads = 64;
  c.index_head_dim = 128;
  c.index_topk = 1024;
  c.n_routed_experts = 384;
  c.num_experts_per_tok = 6;
  c.moe_intermediate_size = 3072;
  c.num_hash_layers = 3;
  c.vocab_size = 129280;
  c.num_nextn_predict_layers = 1;
  ASSERT_TRUE(c.validate("pro").is_ok());
  const CacheAccounting k = account_cache(c, 1048576);
  EXPECT_DOUBLE_EQ(k.bytes_per_token, 9848.0);
  EXPECT_EQ(k.window_bytes, 62u * 128 * 1024);
  EXPECT_EQ(k.compressor_state_bytes, 18710528u);
  EXPECT_NEAR(double(k.compressed_bytes) / double(1ull << 30), 9.62, 0.01);
  // Tachyon's layouts: 30 CSA layers (KV entry + 72-byte FP4 indexer entry per 4 tokens) and 31 HCA
  // layers (KV entry per 128 tokens). KV entries: 584 B (bf16 rope, vLLM's layout) or 712 B (fp32 rope).
  EXPECT_DOUBLE_EQ(cache_bytes_per_token(c, CacheFormat::kCompactBf16), 30 * (584 + 72) / 4.0 + 31 * 584 / 128.0);
  EXPECT_DOUBLE_EQ(cache_bytes_per_token(c, CacheFormat::kCompact), 30 * (712 + 72) / 4.0 + 31 * 712 / 128.0);
  EXPECT_DOUBLE_EQ(cache_bytes_per_token(c, CacheFormat::kF32), 30 * (2048 + 512) / 4.0 + 31 * 2048 / 128.0);
}

TEST(Accounting, FlashPerToken) {
  ModelConfig c;
  c.num_hidden_layers = 43;
  c.compress_ratios = {0, 0};
  for (int i = 2; i < 43; ++i) c.compress_ratios.push_back(i % 2 == 0 ? 4 : 128);
  c.compress_ratios.push_back(0);
  c.head_dim = 512;
  c.index_head_dim = 128;
  EXPECT_DOUBLE_EQ(account_cache(c, 0).bytes_per_token, 6880.0);
}

}  // namespace
}  // namespace tachyon::dsv4
