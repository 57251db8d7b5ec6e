// `tachyon bench` end to end on a `make-tiny-model --preset tiny` checkpoint with small sizes: the JSON
// holds every documented key with sane values (no timing thresholds), the roofline fields agree with
// their own definitions, the text report prints, --svg writes the plot, and bad flags or a bad model
// give a one-line error and a non-zero exit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>

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

const char* kSmall = " --prompt-len 6 --gen-len 3 --batch 3 --threads 2 --probe-bytes 8M";

// The roofline fields of one `bench --json` report (RooflineFieldsFollowTheirDefinitions).
void check_roofline_fields(const json& j) {
  const std::string isa = j["isa"].get<std::string>(), instr = j["peak_instruction"].get<std::string>();
  const char* want = isa == "scalar" ? "mulss" : isa == "avx2" ? "vfmadd231ps ymm" : "vfmadd231ps zmm";
  EXPECT_NE(instr.find(want), std::string::npos) << isa << ": " << instr;
  const bool i8 = j["int8_experts"].get<bool>(), rows = j["int8_rows"].get<bool>();
  EXPECT_EQ(i8, j["numerics"].get<std::string>() == "fast" && isa == "avx512-vnni");
  EXPECT_EQ(rows, i8);  // the same condition (repack.h), with FP4 experts
  EXPECT_EQ(j["peak_i8_gops"].get<double>() > 0, i8);
  EXPECT_EQ(j["peak_i8_instruction"].get<std::string>().find("vpdpbusd") != std::string::npos, i8);
  const double bw = j["measured_bw_gbs"].get<double>() * 1e9, peak = j["peak_gflops"].get<double>() * 1e9;
  const double peak_i8 = j["peak_i8_gops"].get<double>() * 1e9;
  const json& steps = j["steps"];
  for (const auto& [name, tokens] : std::vector<std::pair<std::string, double>>{
           {"decode", 1}, {"verify2", 2}, {"verify4", 4}, {"batch", 3}, {"prefill", 6}}) {
    SCOPED_TRACE(name);
    ASSERT_TRUE(steps.contains(name));
    const json& s = steps[name];
    EXPECT_EQ(s["tokens"].get<double>(), tokens);
    const double bytes = s["bytes"].get<double>(), flops = s["flops"].get<double>(), ms = s["ms"].get<double>();
    const double flops_i8 = s["flops_i8"].get<double>();
    EXPECT_GE(bytes, rows ? 37290612.0 : 69743324.0);  // at least the dense weights (traffic_test.cc)
    EXPECT_GT(flops, 0.0);
    EXPECT_GT(ms, 0.0);
    if (i8) {
      // Per token: the routed experts (6 of 3 x 128 x 256 multiply-adds in each of 4 layers) and the
      // int8 rows (4,325,376 FLOPs, traffic_test.cc); per logits row, the head (129280 x 256).
      EXPECT_GT(flops_i8, 0.0);
      EXPECT_LT(flops_i8, flops);
      const double head_rows = (flops_i8 - tokens * (4 * 6 * 3 * 128 * 256 * 2.0 + 4325376)) / (129280 * 256 * 2.0);
      EXPECT_EQ(head_rows, std::round(head_rows));
      EXPECT_GE(head_rows, 1.0);
      EXPECT_LE(head_rows, tokens);
    } else {
      EXPECT_EQ(flops_i8, 0.0);
    }
    const double compute = (flops - flops_i8) / peak + (i8 ? flops_i8 / peak_i8 : 0.0);
    const double roof_ms = std::max(bytes / bw, compute) * 1e3;
    EXPECT_NEAR(s["roofline_ms"].get<double>(), roof_ms, 1e-9 * roof_ms);
    EXPECT_NEAR(s["ratio"].get<double>(), roof_ms / ms, 1e-9 * roof_ms / ms);
    EXPECT_EQ(s["bound"].get<std::string>(), compute > bytes / bw ? "compute" : "memory");
  }
  for (const char* k : {"verify2", "verify4", "batch"}) {
    const std::string key = std::string(k) + "_roofline_ratio", bound = std::string(k) + "_bound";
    EXPECT_DOUBLE_EQ(j[key].get<double>(), steps[k]["ratio"].get<double>()) << k;
    EXPECT_EQ(j[bound].get<std::string>(), steps[k]["bound"].get<std::string>()) << k;
  }
  const double prefill_compute_ms = steps["prefill"]["compute_ms"].get<double>();
  EXPECT_NEAR(j["prefill_flops_ratio"].get<double>(), prefill_compute_ms / 1e3 / j["prefill_s"].get<double>(), 1e-9);
  // The verify steps read the same context: more tokens, more FLOPs; the batch step reads every
  // sequence's cache and its distinct experts.
  EXPECT_GT(steps["verify4"]["flops"].get<double>(), steps["verify2"]["flops"].get<double>());
  EXPECT_GT(steps["verify2"]["flops"].get<double>(), steps["decode"]["flops"].get<double>());
  EXPECT_DOUBLE_EQ(steps["batch"]["bytes"].get<double>(), j["batch_bytes_per_step"].get<double>());
  EXPECT_DOUBLE_EQ(steps["decode"]["bytes"].get<double>(), j["bytes_per_token"].get<double>());
  // The decode step's FLOPs are the families' sum.
  double fsum = 0;
  for (const auto& [name, v] : j["decode_flops_by_op"].items()) fsum += v.get<double>();
  EXPECT_NEAR(fsum, steps["decode"]["flops"].get<double>(), 1e-9 * fsum);
  // Overhead: the step minus its time inside the weight-streaming calls, which is some of it.
  const double step_ms = j["decode_ms_per_token"].get<double>();
  const double weight_ms = j["decode_weight_ms_per_token"].get<double>();
  EXPECT_GT(weight_ms, 0.0);
  EXPECT_LT(weight_ms, step_ms);
  EXPECT_NEAR(j["overhead_ms"].get<double>(), step_ms - weight_ms, 1e-9 * step_ms);
  EXPECT_NEAR(j["overhead_fraction"].get<double>(), (step_ms - weight_ms) / step_ms, 1e-9);
}


TEST_F(BenchCli, JsonHasEveryKeyWithSaneValues) {
  const CliResult r = run_cli("bench --json --model '" + model() + "'" + kSmall);
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  for (const char* k : {"prefill_tok_s", "decode_tok_s", "batch_decode_tok_s", "bytes_per_token", "measured_bw_gbs",
                        "decode_bw_ratio", "peak_gflops", "gemm_probe_gflops", "prefill_flops_ratio",
                        "verify2_roofline_ratio", "verify4_roofline_ratio", "batch_roofline_ratio"}) {
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
  EXPECT_EQ(j["bw_probe_bytes"].get<int64_t>(), 8 << 20);
  EXPECT_EQ(j["bw_probe_threads"].get<int>(), 2);
  EXPECT_EQ(j["peak_probe_threads"].get<int>(), 2);
  EXPECT_TRUE(j["bw_probe_huge_pages"].is_boolean());
  const json& huge = j["bw_probe_huge_fraction"];  // null where /proc/self/smaps cannot be read
  EXPECT_TRUE(huge.is_null() || (huge.get<double>() >= 0 && huge.get<double>() <= 1)) << huge;
  // Bytes: at least everything read every step (69,743,324 for this preset, traffic_test.cc) and at
  // most that plus every expert of every layer and the cache.
  // With the fast numerics' int8 rows: 37,290,612 (traffic_test.cc).
  const double bytes = j["bytes_per_token"].get<double>();
  const double dense = j["int8_rows"].get<bool>() ? 37290612.0 : 69743324.0;
  EXPECT_GE(bytes, dense);
  EXPECT_LE(bytes, dense + 4 * 16 * 52224 + 1e6);
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
  EXPECT_DOUBLE_EQ(j["decode_bytes_by_op"]["head"].get<double>(),
                   j["int8_rows"].get<bool>() ? 129280.0 * 256 * 33 / 32 : 129280.0 * 256 * 2);
  ASSERT_TRUE(j["decode_gbs_by_op"].is_object());
  for (const char* k : {"decode_ms_by_op", "batch_ms_per_step_by_op"}) {
    ASSERT_TRUE(j[k].is_object()) << k;
    for (const char* f : {"attention", "experts", "shared_expert", "mhc", "head", "router", "norm", "embed"}) {
      ASSERT_TRUE(j[k].contains(f)) << k << "." << f;
      EXPECT_GE(j[k][f].get<double>(), 0.0) << k << "." << f;
    }
  }
}

// The peak names the instruction of the set that ran; every step sits against max(bytes / bandwidth,
// compute time) computed from the reported figures (the routed experts' FLOPs at the vpdpbusd peak when
// they run the integer kernel of the fast numerics, the rest at the fp32 FMA peak), and says which term
// bound it. Run with the default numerics (fast where the set has the integer kernel) and official.
TEST_F(BenchCli, RooflineFieldsFollowTheirDefinitions) {
  for (const std::string numerics : {"", " --numerics official"}) {
    SCOPED_TRACE(numerics);
    const CliResult r = run_cli("bench --json --model '" + model() + "'" + kSmall + numerics);
    ASSERT_EQ(r.rc, 0) << r.err;
    check_roofline_fields(json::parse(r.out));
  }
}

TEST_F(BenchCli, SvgWritesTheRoofline) {
  TempDir out;
  const std::string svg = (out.path() / "roof.svg").string();
  const CliResult r = run_cli("bench --model '" + model() + "'" + kSmall + " --svg '" + svg + "'");
  ASSERT_EQ(r.rc, 0) << r.err;
  std::ifstream f(svg);
  const std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_EQ(text.rfind("<?xml", 0), 0u);
  for (const char* s : {"<svg ", "class=\"roof\"", "data-label=\"head\"", "data-label=\"verify4\"", "tiny,",
                        "</svg>"})
    EXPECT_NE(text.find(s), std::string::npos) << s;
}

TEST_F(BenchCli, TextReport) {
  const CliResult r = run_cli("bench --model '" + model() + "'" + kSmall);
  ASSERT_EQ(r.rc, 0) << r.err;
  for (const char* s : {"prefill", "batch decode", "bytes/token", "read bandwidth", "peak FLOP/s", "GEMM probe",
                        "decode_bw_ratio", "prefill_flops_ratio", "overhead", "roofline", "verify 2", "verify 4",
                        "attention", "experts", "batch 1 reads"})
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
  expect_one_line_error(run_cli("bench --model '" + model() + "' --probe-bytes 12Q"), "--probe-bytes");
  expect_one_line_error(run_cli("bench --model '" + model() + "' --probe-bytes 1K"), "--probe-bytes");
  expect_one_line_error(run_cli("bench --model '" + model() + "' --probe-mib 8 --probe-bytes 8M"), "--probe");
  const std::string bad_svg = empty.str() + "/no/dir/r.svg";
  expect_one_line_error(run_cli("bench --model '" + model() + "'" + kSmall + " --svg '" + bad_svg + "'"), "--svg");
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
