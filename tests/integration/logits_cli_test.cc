// `tachyon logits` end to end: the written safetensors hold logits within the golden README's
// tolerances of the official reference, in both numeric modes and under chunked prefill and decode;
// bad arguments give a one-line error and a non-zero exit.
#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

#include "../common/test_util.h"
#include "io/safetensors.h"

namespace tachyon {
namespace {

using testing::run_cli;
using testing::TempDir;

const std::string kData = TACHYON_TEST_DATA;
const std::string kModel = kData + "/golden/tiny-flash/model";
const std::string kGolden = kData + "/golden/tiny-flash/golden.safetensors";

std::vector<float> load_f32(const TensorStore& s, const std::string& name) {
  const TensorInfo* t = s.find(name);
  if (!t) throw std::runtime_error("missing " + name);
  std::vector<float> v(size_t(t->numel()));
  std::memcpy(v.data(), t->data, t->nbytes);
  return v;
}

std::string tokens_arg(const TensorStore& g, int seq) {
  const TensorInfo* t = g.find("seq" + std::to_string(seq) + ".tokens");
  std::string s;
  for (int64_t i = 0; i < t->numel(); ++i) {
    int64_t v;
    std::memcpy(&v, t->data + 8 * i, 8);
    if (i) s += ",";
    s += std::to_string(v);
  }
  return s;
}

double max_abs(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size(); ++i) m = std::max(m, double(std::fabs(a[i] - b[i])));
  return m;
}

TEST(LogitsCli, ExactModeMatchesIdentityGoldenUnderChunking) {
  auto g = TensorStore::open(kGolden);
  ASSERT_TRUE(g.is_ok());
  TempDir tmp;
  for (const std::string& flags : {std::string(""), std::string("--prefill-chunk 50"),
                                   std::string("--prefill-chunk 64 --decode-from 130")}) {
    const std::string out = tmp.str() + "/l.safetensors";
    auto r = run_cli("logits --model '" + kModel + "' --tokens " + tokens_arg(*g, 1) + " --numerics exact " +
                     flags + " --out '" + out + "'");
    ASSERT_EQ(r.rc, 0) << r.err;
    auto s = TensorStore::open(out);
    ASSERT_TRUE(s.is_ok()) << s.status().message();
    EXPECT_EQ(s->find("logits")->shape, (std::vector<int64_t>{150, 2048}));
    EXPECT_LE(max_abs(load_f32(*s, "logits"), load_f32(*g, "seq1.identity.logits")), 1e-4) << flags;
  }
}

TEST(LogitsCli, OfficialModeWithMtpMatchesEmulateGolden) {
  auto g = TensorStore::open(kGolden);
  ASSERT_TRUE(g.is_ok());
  TempDir tmp;
  const std::string out = tmp.str() + "/l.safetensors";
  // Token ids through a JSON file this time.
  std::string json = "[";
  json += tokens_arg(*g, 0);
  json += "]";
  testing::write_file(tmp.path() / "toks.json", json);
  auto r = run_cli("logits --model '" + kModel + "' --tokens-file '" + (tmp.path() / "toks.json").string() +
                   "' --mtp --decode-from 3 --out '" + out + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto s = TensorStore::open(out);
  ASSERT_TRUE(s.is_ok());
  EXPECT_EQ(s->find("mtp_logits")->shape, (std::vector<int64_t>{8, 2048}));
  EXPECT_LE(max_abs(load_f32(*s, "logits"), load_f32(*g, "seq0.emulate.logits")), 1e-3);
  EXPECT_LE(max_abs(load_f32(*s, "mtp_logits"), load_f32(*g, "seq0.emulate.mtp_logits")), 1e-3);
}

// Official numerics default to the server's compact cache (as `serve` does); its entries hold the
// official values exactly, so the logits file is byte for byte the one the fp32 cache gives.
TEST(LogitsCli, CompactCacheGivesTheSameBytesAsFp32) {
  auto g = TensorStore::open(kGolden);
  ASSERT_TRUE(g.is_ok());
  TempDir tmp;
  std::string files[2];
  const std::string dtypes[2] = {"", " --kv-cache-dtype fp32"};
  for (int i = 0; i < 2; ++i) {
    files[i] = tmp.str() + "/l" + std::to_string(i) + ".safetensors";
    auto r = run_cli("logits --model '" + kModel + "' --tokens " + tokens_arg(*g, 1) +
                     " --mtp --prefill-chunk 40 --decode-from 120" + dtypes[i] + " --out '" + files[i] + "'");
    ASSERT_EQ(r.rc, 0) << r.err;
  }
  EXPECT_EQ(testing::read_file(files[0]), testing::read_file(files[1]));
}

TEST(LogitsCli, BadInputGivesOneLineError) {
  TempDir tmp;
  const std::string out = tmp.str() + "/l.safetensors";
  const std::vector<std::string> bad = {"--tokens 0,99999", "--tokens 0,abc", "--tokens ''",
                                       "--tokens-file /nonexistent.json",
                                       "--tokens 0,1 --numerics exact --kv-cache-dtype fp8"};
  for (const std::string& args : bad) {
    auto r = run_cli("logits --model '" + kModel + "' " + args + " --out '" + out + "'");
    EXPECT_NE(r.rc, 0) << args;
    EXPECT_LT(r.rc, 128) << "crashed: " << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
  auto r = run_cli("logits --model /nonexistent --tokens 0 --out '" + out + "'");
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.err.find("tachyon: error:"), std::string::npos);
}

TEST(GenerateCli, GreedyIsDeterministicAndSeedReproduces) {
  auto a = run_cli("generate --model '" + kModel + "' --prompt-tokens 0,5,100,7 --max-tokens 8");
  auto b = run_cli("generate --model '" + kModel + "' --prompt-tokens 0,5,100,7 --max-tokens 8");
  ASSERT_EQ(a.rc, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_EQ(std::count(a.out.begin(), a.out.end(), ','), 7);
  auto s1 = run_cli("generate --model '" + kModel + "' --prompt-tokens 0,5 --max-tokens 8 --temperature 1 --seed 9");
  auto s2 = run_cli("generate --model '" + kModel + "' --prompt-tokens 0,5 --max-tokens 8 --temperature 1 --seed 9");
  ASSERT_EQ(s1.rc, 0) << s1.err;
  EXPECT_EQ(s1.out, s2.out);
}

}  // namespace
}  // namespace tachyon
