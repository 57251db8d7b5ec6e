// `tachyon bench` end to end on a `make-tiny-model --preset tiny` checkpoint with small sizes: the JSON
// holds every documented key with sane values (no timing thresholds), the text report prints, and bad
// flags or a bad model give a one-line error and a non-zero exit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "../common/test_util.h"

namespace tachyon {
namespace {

using nlohmann::json;
using testing::CliResult;
using testing::run_cli;
using testing::TempDir;

class BenchCli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    const CliResult g = run_cli("make-tiny-model --preset tiny --out '" + model() + "'");
    ASSERT_EQ(g.rc, 0) << g.err;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  static std::string model() { return (dir_->path() / "tiny").string(); }
  static TempDir* dir_;
};
TempDir* BenchCli::dir_ = nullptr;

const char* kSmall = " --prompt-len 6 --gen-len 3 --batch 3 --threads 2 --probe-mib 8";

TEST_F(BenchCli, JsonHasEveryKeyWithSaneValues) {
  const CliResult r = run_cli("bench --json --model '" + model() + "'" + kSmall);
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  for (const char* k : {"prefill_tok_s", "decode_tok_s", "batch_decode_tok_s", "bytes_per_token", "measured_bw_gbs",
                        "decode_bw_ratio", "peak_gemm_gflops", "prefill_flops_ratio"}) {
    ASSERT_TRUE(j.contains(k)) << k << " in " << r.out;
    ASSERT_TRUE(j[k].is_number()) << k << " in " << r.out;
    const double v = j[k].get<double>();
    EXPECT_TRUE(std::isfinite(v) && v > 0) << k << " = " << v;
  }
  EXPECT_EQ(j["prompt_len"].get<int>(), 6);
  EXPECT_EQ(j["gen_len"].get<int>(), 3);
  EXPECT_EQ(j["batch"].get<int>(), 3);
  EXPECT_EQ(j["threads"].get<int>(), 2);
  EXPECT_EQ(j["kv_cache_dtype"].get<std::string>(), "fp8");  // the server's choice under official numerics
  // Bytes: at least everything read every step (69,743,324 for this preset, traffic_test.cc) and at
  // most that plus every expert of every layer and the cache.
  const double bytes = j["bytes_per_token"].get<double>();
  EXPECT_GE(bytes, 69743324.0);
  EXPECT_LE(bytes, 69743324.0 + 4 * 16 * 52224 + 1e6);
  EXPECT_DOUBLE_EQ(bytes, j["weight_bytes_per_token"].get<double>() + j["cache_bytes_per_token"].get<double>());
  // Hash-routed layers pick 6 distinct experts per token; learned routing picks 6 distinct top-k ids.
  EXPECT_DOUBLE_EQ(j["experts_per_layer_per_step"].get<double>(), 6.0);
  const double batch_experts = j["batch_experts_per_layer_per_step"].get<double>();
  EXPECT_GE(batch_experts, 6.0);
  EXPECT_LE(batch_experts, 16.0);
  // The per-family bytes add up to the step's bytes; the head family reads the whole head.
  ASSERT_TRUE(j["decode_bytes_by_op"].is_object());
  double family_sum = 0;
  for (const auto& [name, v] : j["decode_bytes_by_op"].items()) family_sum += v.get<double>();
  EXPECT_NEAR(family_sum, bytes, 1e-6 * bytes);
  EXPECT_DOUBLE_EQ(j["decode_bytes_by_op"]["head"].get<double>(), 129280.0 * 256 * 2);
  ASSERT_TRUE(j["decode_gbs_by_op"].is_object());
  for (const char* k : {"decode_ms_by_op", "batch_ms_per_step_by_op"}) {
    ASSERT_TRUE(j[k].is_object()) << k;
    for (const char* f : {"attention", "experts", "shared_expert", "mhc", "head", "router", "norm", "embed"}) {
      ASSERT_TRUE(j[k].contains(f)) << k << "." << f;
      EXPECT_GE(j[k][f].get<double>(), 0.0) << k << "." << f;
    }
  }
}

TEST_F(BenchCli, TextReport) {
  const CliResult r = run_cli("bench --model '" + model() + "'" + kSmall);
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* s : {"prefill", "batch decode", "bytes/token", "read bandwidth", "peak GEMM", "decode_bw_ratio",
                        "prefill_flops_ratio", "attention", "experts", "batch 1 reads"})
    EXPECT_NE(r.out.find(s), std::string::npos) << s << " in\n" << r.out;
}

void expect_one_line_error(const CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err.rfind("tachyon: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << r.err;
}

TEST_F(BenchCli, BadFlagsAndModelsFailWithOneLine) {
  TempDir empty;
  expect_one_line_error(run_cli("bench --json --model '" + empty.str() + "'"), "config.json");
  expect_one_line_error(run_cli("bench --model '" + model() + "' --batch 0"), "--batch");
  expect_one_line_error(run_cli("bench --model '" + model() + "' --gen-len 0"), "--gen-len");
  expect_one_line_error(run_cli("bench --model '" + model() + "' --prompt-len -3"), "--prompt-len");
  expect_one_line_error(run_cli("bench --model '" + model() + "' --threads -1"), "--threads");
  expect_one_line_error(run_cli("bench --model '" + model() + "' --batch many"), "--batch");
  expect_one_line_error(run_cli("bench --prompt-len 4"), "--model");
  expect_one_line_error(run_cli("bench --model '" + model() + "' --prompt-len 5000 --gen-len 1"),
                        "max_position_embeddings");
  expect_one_line_error(run_cli("bench --model '" + model() + "' --numerics exact --kv-cache-dtype fp8"),
                        "needs official or fast numerics");
}

// The cache format follows --kv-cache-dtype and the numerics, as on the server, and the report says which.
TEST_F(BenchCli, ReportsTheCacheFormatItRan) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {" --kv-cache-dtype fp32", "fp32"},
      {" --numerics exact", "fp32"},
      {" --kv-cache-dtype fp8-bf16rope", "fp8-bf16rope"}};
  for (const auto& [flags, want] : cases) {
    const CliResult r = run_cli("bench --json --model '" + model() + "'" + kSmall + flags);
    ASSERT_EQ(r.rc, 0) << flags << ": " << r.err;
    EXPECT_EQ(json::parse(r.out)["kv_cache_dtype"].get<std::string>(), want) << flags;
  }
}

}  // namespace
}  // namespace tachyon
