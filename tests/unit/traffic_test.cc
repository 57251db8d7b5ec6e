// The bench's byte and FLOP counters (traffic.h) against hand counts on the `tiny` preset:
// D 256, 4 layers with ratios {0, 4, 128, 4}, 2 hash layers, H 8 x hd 128, Q 128, G 2 x R 64, 16 FP4
// experts of I 128 (6 per token), one FP8 shared expert, hc 4, vocabulary 129280.
#include <gtest/gtest.h>

#include <vector>

#include "tools/generator.h"
#include "tools/traffic.h"

namespace tachyon::dsv4 {
namespace {

ModelConfig tiny() {
  auto c = preset_config("tiny");
  EXPECT_TRUE(c.is_ok());
  return *c;
}

TEST(Traffic, WeightBytesMatchHandCount) {
  const ModelConfig cfg = tiny();
  const TrafficModel t(cfg);
  // Every layer: attn/ffn norms 2*256*2; two hc mixes of fn [24, 1024] f32 + base 24 + scale 3 (f32);
  // FP8 weights + E8M0 tiles of 128: wq_a [128,256]+2, q_norm 256, wq_b [1024,128]+8, wkv [128,256]+2,
  // kv_norm 256, wo_a [128,512]+4, wo_b [256,128]+2, sink 8*4; gate [16,256] bf16; shared expert
  // three FP8 [128,256] / [256,128] matrices + 2 scale bytes each.
  const int64_t norms = 1024, hc = 2 * (24 * 1024 * 4 + 24 * 4 + 3 * 4);
  const int64_t attn = 32770 + 256 + 131080 + 32770 + 256 + 65540 + 32770 + 32;
  const int64_t gate = 16 * 256 * 2, shared = 3 * (32768 + 2);
  const int64_t common = norms + hc + attn + gate + shared;
  // Ratio-4 compressor: wkv/wgate bf16 [256,256], ape [4,256] f32, norm 128 bf16. Ratio 128: [128,256]
  // each, ape [128,128] f32. Indexer: wq_b FP8 [512,128]+4, weights_proj bf16 [8,256], its compressor
  // wkv/wgate bf16 [128,256], ape [4,128] f32, norm 64 bf16.
  const int64_t comp4 = 2 * 256 * 256 * 2 + 4 * 256 * 4 + 256;
  const int64_t comp128 = 2 * 128 * 256 * 2 + 128 * 128 * 4 + 256;
  const int64_t indexer = 65540 + 8 * 256 * 2 + 2 * 128 * 256 * 2 + 4 * 128 * 4 + 128;
  const int64_t bias = 16 * 4;  // learned-routing layers 2 and 3
  const int64_t layers = common + (common + comp4 + indexer) + (common + comp128 + bias) +
                         (common + comp4 + indexer + bias);
  const int64_t head = 129280 * 256 * 2 + 256 * 2 + 4 * 1024 * 4 + 4 * 4 + 4;  // head, norm, hc_head
  EXPECT_EQ(t.dense_bytes(), layers + head);
  EXPECT_EQ(t.dense_bytes(), 69743324);
  // One FP4 expert: w1, w3 [128, 128] packed + [128, 8] scales; w2 [256, 64] + [256, 4].
  for (int l = 0; l < 4; ++l) EXPECT_EQ(t.expert_bytes(l), 3 * (16384 + 1024)) << l;
  // Embedding row (256 bf16) and two hash layers' tid2eid rows (6 x i64).
  EXPECT_EQ(t.per_token_weight_bytes(), 512 + 2 * 6 * 8);
  // A decode step that ran 6 experts in each layer; a 3-token step with {10, 7, 12, 9} distinct experts.
  const std::vector<int64_t> six = {6, 6, 6, 6}, batch = {10, 7, 12, 9};
  EXPECT_EQ(t.step_weight_bytes(six, 1), 69743324 + 608 + 24 * 52224);
  EXPECT_EQ(t.step_weight_bytes(batch, 3), 69743324 + 3 * 608 + 38 * 52224);
  EXPECT_EQ(t.step_weight_bytes({}, 1), 69743324 + 608);
}

// The fast numerics' int8 rows (repack.h): an FP8 weight [n, k] is read as n x k codes plus n x k / 32
// scale bytes (every k here is a multiple of 32) and its E8M0 tiles not at all; the compressors' BF16
// projections and the head as int8 rows too; the FP4 experts and everything else as before.
TEST(Traffic, Int8RowBytesAndFlopsMatchHandCount) {
  const ModelConfig cfg = tiny();
  const TrafficModel t(cfg, 0, 0, /*int8_rows=*/true);
  // Per layer: wq_a, wkv [128, 256] and wo_b [256, 128]: 33792 each (were 32770); wq_b [1024, 128]:
  // 135168 (131080); wo_a [128, 512]: 67584 (65540); the shared expert's three: 33792 each (32770).
  const int64_t per_layer = 3 * (33792 - 32770) + (135168 - 131080) + (67584 - 65540) + 3 * (33792 - 32770);
  const int64_t indexer = 67584 - 65540;  // wq_b [512, 128], in the two ratio-4 layers
  const int64_t head = 129280 * 256 * 33 / 32 - 129280 * 256 * 2;
  // Compressors: ratio 4, wkv/wgate [256, 256] bf16 (131072) -> 67584, and the indexer's [128, 256]
  // (65536) -> 33792; ratio 128, [128, 256] -> 33792.
  const int64_t comp4 = 2 * (67584 - 131072) + 2 * (33792 - 65536), comp128 = 2 * (33792 - 65536);
  EXPECT_EQ(t.dense_bytes(), 69743324 + 4 * per_layer + 2 * indexer + head + 2 * comp4 + comp128);
  EXPECT_EQ(t.dense_bytes(), 37290612);
  for (int l = 0; l < 4; ++l) EXPECT_EQ(t.expert_bytes(l), 3 * (16384 + 1024)) << l;
  // FLOPs of those linears per token: 2 x (4 x (2 x 32768 + 131072 + 65536 + 32768 + 3 x 32768) + 2 x 65536
  // + 2 x (2 x 65536 + 2 x 32768) + 2 x 32768).
  EXPECT_EQ(t.token_int8_row_flops(), 4325376);
  EXPECT_EQ(TrafficModel(cfg).token_int8_row_flops(), 4325376) << "a property of the model, not of the mode";
}

// The same step split by op family, from the same hand counts: the families sum to the step.
TEST(Traffic, FamilyBytesMatchHandCount) {
  const ModelConfig cfg = tiny();
  const TrafficModel t(cfg);
  const std::vector<int64_t> batch = {10, 7, 12, 9};
  const FamilyBytes b = t.step_weight_bytes_by_family(batch, 3);
  auto at = [&](OpFamily f) { return b[size_t(f)]; };
  const int64_t attn = 32770 + 256 + 131080 + 32770 + 256 + 65540 + 32770 + 32;
  const int64_t comp4 = 2 * 256 * 256 * 2 + 4 * 256 * 4 + 256, comp128 = 2 * 128 * 256 * 2 + 128 * 128 * 4 + 256;
  const int64_t indexer = 65540 + 8 * 256 * 2 + 2 * 128 * 256 * 2 + 4 * 128 * 4 + 128;
  EXPECT_EQ(at(OpFamily::kAttention), 4 * attn + 2 * (comp4 + indexer) + comp128);
  EXPECT_EQ(at(OpFamily::kMhc), 4 * 2 * (24 * 1024 * 4 + 24 * 4 + 3 * 4) + 4 * 1024 * 4 + 4 * 4 + 4);
  EXPECT_EQ(at(OpFamily::kNorm), 4 * 1024 + 256 * 2);  // layer norms and the final norm
  EXPECT_EQ(at(OpFamily::kRouter), 4 * 16 * 256 * 2 + 2 * 16 * 4 + 3 * 2 * 6 * 8);  // gates, biases, tid2eid rows
  EXPECT_EQ(at(OpFamily::kShared), 4 * 3 * (32768 + 2));
  EXPECT_EQ(at(OpFamily::kExperts), 38 * 52224);
  EXPECT_EQ(at(OpFamily::kHead), 129280 * 256 * 2);
  EXPECT_EQ(at(OpFamily::kEmbed), 3 * 512);
  int64_t sum = 0;
  for (int64_t v : b) sum += v;
  EXPECT_EQ(sum, t.step_weight_bytes(batch, 3));
}

TEST(Traffic, CacheBytesMatchHandCount) {
  const TrafficModel t(tiny());
  // pos 0: one window entry (128 fp32) in each of 4 layers; no compressed block yet.
  EXPECT_EQ(t.cache_read_bytes(0), 4 * 128 * 4);
  // pos 9: 10 window entries per layer; ratio-4 layers see 2 blocks (2 indexer keys of 64 + 2 compressed
  // entries of 128); the ratio-128 layer none.
  EXPECT_EQ(t.cache_read_bytes(9), 4 * 10 * 512 + 2 * (2 * 256 + 2 * 512));
  // pos 11 completes a ratio-4 block: 3 blocks seen, plus both compressors' partial states (kv + score
  // rows: [8, 256] and [8, 128] fp32, twice each).
  EXPECT_EQ(t.cache_read_bytes(11), 4 * 12 * 512 + 2 * (3 * 256 + 3 * 512 + 2 * 8 * 256 * 4 + 2 * 8 * 128 * 4));
  // pos 499: the window is full (128), ratio-4 layers see 125 blocks but attend to the top 16; the
  // ratio-128 layer sees 3 blocks; 500 completes a ratio-4 block (not a ratio-128 one).
  EXPECT_EQ(t.cache_read_bytes(499),
            4 * 128 * 512 + 2 * (125 * 256 + 16 * 512 + 16384 + 8192) + 3 * 512);
}

TEST(Traffic, CacheBytesFollowTheEntrySize) {
  // Compact entries: 200-byte KV entries and 40-byte indexer keys; compressor states stay fp32.
  const TrafficModel t(tiny(), 200, 40);
  EXPECT_EQ(t.cache_read_bytes(0), 4 * 200);
  EXPECT_EQ(t.cache_read_bytes(9), 4 * 10 * 200 + 2 * (2 * 40 + 2 * 200));
  EXPECT_EQ(t.cache_read_bytes(11), 4 * 12 * 200 + 2 * (3 * 40 + 3 * 200 + 2 * 8 * 256 * 4 + 2 * 8 * 128 * 4));
}

TEST(Traffic, FlopsMatchHandCount) {
  const TrafficModel t(tiny());
  // Multiply-adds per layer at pos 0: hc mixes 2*24*1024; wq_a, wq_b, wkv, wo_a (R*H*hd), wo_b;
  // attention over one key (2*H*hd); router 16*256; 6 routed + 1 shared experts of 3*128*256.
  const int64_t base = 49152 + (32768 + 131072 + 32768 + 65536 + 32768) + 2048 + 4096 + 7 * 3 * 128 * 256;
  const int64_t r4 = 2 * 2 * 128 * 256 + (512 * 128 + 8 * 256 + 2 * 128 * 256);  // compressor + indexer
  const int64_t r128 = 2 * 128 * 256;
  EXPECT_EQ(t.token_flops(0), 2 * (4 * base + 2 * r4 + r128));
  // pos 7: 8 window keys, two visible ratio-4 blocks (indexer scores 2*8*64, 2 more keys).
  const int64_t more = 4 * (2 * 8 * 128 * 7) + 2 * (2 * 8 * 64 + 2 * 8 * 128 * 2);
  EXPECT_EQ(t.token_flops(7), t.token_flops(0) + 2 * more);
  EXPECT_EQ(t.head_flops(3), 2 * 3 * (4 * 1024 + 129280 * 256));
}

// The same hand counts split by op family; the families sum to the totals.
TEST(Traffic, FamilyFlopsMatchHandCount) {
  const TrafficModel t(tiny());
  const FamilyFlops f = t.token_flops_by_family(0);
  auto at = [&](const FamilyFlops& v, OpFamily fam) { return v[size_t(fam)]; };
  const int64_t r4 = 2 * 2 * 128 * 256 + (512 * 128 + 8 * 256 + 2 * 128 * 256), r128 = 2 * 128 * 256;
  EXPECT_EQ(at(f, OpFamily::kMhc), 2 * 4 * 2 * 24 * 1024);
  EXPECT_EQ(at(f, OpFamily::kAttention), 2 * (4 * (32768 + 131072 + 32768 + 65536 + 32768 + 2048) + 2 * r4 + r128));
  EXPECT_EQ(at(f, OpFamily::kRouter), 2 * 4 * 16 * 256);
  EXPECT_EQ(at(f, OpFamily::kExperts), 2 * 4 * 6 * 3 * 128 * 256);
  EXPECT_EQ(at(f, OpFamily::kShared), 2 * 4 * 3 * 128 * 256);
  for (OpFamily none : {OpFamily::kEmbed, OpFamily::kNorm, OpFamily::kHead}) EXPECT_EQ(at(f, none), 0);
  for (int64_t pos : {0, 7, 499}) {
    int64_t sum = 0;
    for (int64_t v : t.token_flops_by_family(pos)) sum += v;
    EXPECT_EQ(sum, t.token_flops(pos)) << pos;
  }
  const FamilyFlops h = t.head_flops_by_family(3);
  EXPECT_EQ(at(h, OpFamily::kMhc), 2 * 3 * 4 * 1024);
  EXPECT_EQ(at(h, OpFamily::kHead), 2 * 3 * 129280 * 256);
  EXPECT_EQ(at(h, OpFamily::kMhc) + at(h, OpFamily::kHead), t.head_flops(3));
}

}  // namespace
}  // namespace tachyon::dsv4
