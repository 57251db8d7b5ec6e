// `tachyon accuracy` end to end on the golden checkpoint: the deviation of official from exact it
// reports matches the deviation between the official reference's own emulate and identity logits
// (the same sequences, the same model); bad arguments give a one-line error.
#include <algorithm>
#include <cstring>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../common/test_util.h"
#include "io/safetensors.h"
#include "tools/accuracy.h"

namespace tachyon {
namespace {

using testing::run_cli;

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

TEST(AccuracyCli, OfficialDeviationMatchesTheReferences) {
  auto g = TensorStore::open(kGolden);
  ASSERT_TRUE(g.is_ok());
  // The reference's own official-vs-exact deviation over every golden sequence.
  runtime::DeviationSum ref_dev;
  int64_t rows = 0;
  for (int s = 0; g->find("seq" + std::to_string(s) + ".tokens"); ++s) {
    const std::string p = "seq" + std::to_string(s);
    const auto exact = load_f32(*g, p + ".identity.logits"), official = load_f32(*g, p + ".emulate.logits");
    ASSERT_EQ(exact.size(), official.size());
    const int64_t n = g->find(p + ".tokens")->numel();
    ref_dev.add(exact.data(), official.data(), n, int64_t(exact.size()) / n);
    rows += n;
  }
  const runtime::LogitDeviation want = ref_dev.result();

  auto r = run_cli("accuracy --model '" + kModel + "' --golden '" + kGolden + "' --json --check");
  ASSERT_EQ(r.rc, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const auto& got = j["modes"]["official"]["logits"];
  EXPECT_EQ(got["rows"].get<int64_t>(), rows);
  EXPECT_TRUE(j["modes"]["official"]["within_official"].get<bool>());
  // Same quantisation points, different fp32 arithmetic: the two deviations agree, but not to the bit
  // (the golden README: emulate-mode flips of single FP8 roundings move long sequences apart).
  EXPECT_NEAR(got["rel_l2"].get<double>(), want.rel_l2, 0.25 * want.rel_l2);
  EXPECT_NEAR(got["mean_kl"].get<double>(), want.mean_kl, 0.5 * want.mean_kl);
  EXPECT_NEAR(got["top1"].get<double>(), want.top1, 0.03);
  EXPECT_TRUE(j["modes"]["official"].contains("mtp_logits"));
}

// The acceptance rule of the fast numerics: on the golden sequences and on the demo model's own greedy
// sequences, no metric of its deviation from exact is worse than official's (logits and MTP logits).
TEST(AccuracyCli, FastDeviatesLessThanOfficial) {
  const std::string demo = kData + "/../../assets/tachyon-demo-v4";
  for (const std::string& args : {"--model '" + kModel + "' --golden '" + kGolden + "'",
                                  "--model '" + demo + "' --sequences 3 --length 200"}) {
    auto r = run_cli("accuracy " + args + " --modes official,fast --json --check");
    ASSERT_EQ(r.rc, 0) << args << "\n" << r.out << r.err;
    const auto j = nlohmann::json::parse(r.out);
    const auto& off = j["modes"]["official"];
    const auto& fast = j["modes"]["fast"];
    EXPECT_TRUE(fast["within_official"].get<bool>()) << args;
    for (const char* part : {"logits", "mtp_logits"}) {
      EXPECT_LE(fast[part]["rel_l2"].get<double>(), off[part]["rel_l2"].get<double>()) << args << " " << part;
      EXPECT_LE(fast[part]["mean_kl"].get<double>(), off[part]["mean_kl"].get<double>()) << args << " " << part;
      EXPECT_GE(fast[part]["top1"].get<double>(), off[part]["top1"].get<double>()) << args << " " << part;
    }
  }
}

TEST(AccuracyCli, TokensFileHoldsOneOrManySequences) {
  testing::TempDir tmp;
  const std::string many = (tmp.path() / "many.json").string(), one = (tmp.path() / "one.json").string(),
                    bad = (tmp.path() / "bad.json").string();
  testing::write_file(many, "[[0, 5, 100, 7], [3, 9, 2]]");
  testing::write_file(one, "[0, 5, 100, 7, 8]");
  testing::write_file(bad, "[[0, 5], [1, \"x\"]]");
  auto r = run_cli("accuracy --model '" + kModel + "' --tokens-file '" + many + "' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["sequences"].get<int>(), 2);
  EXPECT_EQ(nlohmann::json::parse(r.out)["tokens"].get<int>(), 7);
  r = run_cli("accuracy --model '" + kModel + "' --tokens-file '" + one + "' --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["sequences"].get<int>(), 1);
  r = run_cli("accuracy --model '" + kModel + "' --tokens-file '" + bad + "'");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("\"x\" is not a token id"), std::string::npos) << r.err;
}

TEST(AccuracyCli, BadArgumentsGiveOneLine) {
  auto r = run_cli("accuracy --model '" + kModel + "' --modes bogus");
  EXPECT_NE(r.rc, 0);
  EXPECT_NE(r.err.find("unknown numeric mode 'bogus'"), std::string::npos) << r.err;
  r = run_cli("accuracy --model '" + kModel + "' --modes exact");
  EXPECT_NE(r.rc, 0);
  r = run_cli("accuracy --model '" + kModel + "' --golden /nonexistent.safetensors");
  EXPECT_NE(r.rc, 0);
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  r = run_cli("accuracy --model '" + kModel + "' --length 100000000");
  EXPECT_NE(r.rc, 0);
}

}  // namespace
}  // namespace tachyon
