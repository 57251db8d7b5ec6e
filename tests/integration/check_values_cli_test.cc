// `tachyon inspect --check-values`: a clean checkpoint passes; one with NaN weights is reported tensor by
// tensor (name, dtype, count, first element) and exits 1 with one error line, in text and JSON. And
// `tachyon generate` on such weights fails with one line instead of aborting.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "../common/test_util.h"

namespace tachyon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliResult;
using testing::RawSafetensors;
using testing::run_cli;
using testing::TempDir;

const fs::path kTiny = fs::path(TACHYON_TEST_DATA) / "golden" / "tiny-flash" / "model";
const fs::path kTokenizer =
    fs::path(TACHYON_TEST_DATA).parent_path().parent_path() / "assets" / "tokenizer" / "deepseek-v4";

// Single-quoted for the shell.
std::string q(const fs::path& p) {
  std::string s = "'";
  s += p.string();
  s += '\'';
  return s;
}

// The golden checkpoint with element 1000 of the BF16 embedding (row 3) set to +inf and, with
// `shared_expert`, elements 77 and 300 of an FP8 (e4m3) shared-expert weight (which every token uses) set to
// the two NaN codes.
void write_corrupt_copy(const fs::path& out, bool shared_expert = true) {
  fs::copy_file(kTiny / "config.json", out / "config.json");
  RawSafetensors st = RawSafetensors::read(kTiny / "model.safetensors");
  auto at = [&](const std::string& name, int64_t byte) -> char& {
    return st.data[size_t(st.header[name]["data_offsets"][0].get<int64_t>() + byte)];
  };
  at("embed.weight", 2 * 1000) = char(0x80);  // bf16 0x7F80 = +inf, little-endian
  at("embed.weight", 2 * 1000 + 1) = char(0x7F);
  if (shared_expert) {
    at("layers.2.ffn.shared_experts.w1.weight", 77) = char(0xFF);
    at("layers.2.ffn.shared_experts.w1.weight", 300) = char(0x7F);
  }
  st.write(out / "model.safetensors");
}

TEST(CheckValuesCli, CleanCheckpointPasses) {
  const CliResult r = run_cli("inspect --check-values " + q(kTiny));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NE(r.out.find("every value is finite"), std::string::npos) << r.out;
  EXPECT_TRUE(r.err.empty()) << r.err;
  const CliResult j = run_cli("inspect --json --check-values " + q(kTiny));
  ASSERT_EQ(j.rc, 0) << j.err;
  const json v = json::parse(j.out)["values_check"];
  EXPECT_EQ(v["nonfinite_tensors"], json::array());
  EXPECT_GT(v["tensors_scanned"].get<int64_t>(), 0);
  // Without the flag nothing is read and the key is absent.
  EXPECT_FALSE(json::parse(run_cli("inspect --json " + q(kTiny)).out).contains("values_check"));
}

TEST(CheckValuesCli, NanWeightsAreReportedAndFail) {
  TempDir d;
  write_corrupt_copy(d.path());
  ASSERT_EQ(run_cli("inspect " + q(d.path())).rc, 0);  // the headers are fine

  const CliResult r = run_cli("inspect --check-values " + q(d.path()));
  EXPECT_EQ(r.rc, 1);
  EXPECT_NE(r.out.find("2 hold non-finite values"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("  embed.weight (BF16): 1 non-finite value, the first at element 1000\n"), std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("  layers.2.ffn.shared_experts.w1.weight (F8_E4M3): 2 non-finite values, the first at "
                       "element 77\n"),
            std::string::npos)
      << r.out;
  EXPECT_EQ(r.err,
            "tachyon: error: --check-values: 2 tensors hold non-finite values (NaN or infinity): embed.weight, "
            "layers.2.ffn.shared_experts.w1.weight\n");

  const CliResult j = run_cli("inspect --json --check-values " + q(d.path()));
  EXPECT_EQ(j.rc, 1);
  EXPECT_EQ(std::count(j.err.begin(), j.err.end(), '\n'), 1) << j.err;
  const json bad = json::parse(j.out)["values_check"]["nonfinite_tensors"];
  ASSERT_EQ(bad.size(), 2u) << bad;
  EXPECT_EQ(bad[0], json({{"name", "embed.weight"}, {"dtype", "BF16"}, {"count", 1}, {"first_index", 1000}}));
  EXPECT_EQ(bad[1], json({{"name", "layers.2.ffn.shared_experts.w1.weight"},
                          {"dtype", "F8_E4M3"},
                          {"count", 2},
                          {"first_index", 77}}));
}

// `tachyon serve --check-values` refuses the checkpoint at load with one error line naming the tensors
// (without the flag the same checkpoint loads: see the server_nonfinite test).
TEST(CheckValuesCli, ServeRefusesNanWeightsWithCheckValues) {
  TempDir d;
  write_corrupt_copy(d.path());
  // Under `timeout`: a server that wrongly loads would serve until killed (status 124).
  TempDir io;
  const std::string cmd = "timeout 60 '" + std::string(TACHYON_BIN) + "' serve --model " + q(d.path()) +
                          " --tokenizer " + q(kTokenizer) + " --port 0 --threads 1 --cache-memory 64M --check-values"
                          " >/dev/null 2>" + q(io.path() / "err");
  const int st = std::system(cmd.c_str());
  CliResult r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  r.err = testing::read_file(io.path() / "err");
  EXPECT_EQ(r.rc, 1) << r.err;
  const size_t at = r.err.find("tachyon: error: --check-values: 2 tensors of the checkpoint hold NaN or infinity");
  ASSERT_NE(at, std::string::npos) << r.err;
  EXPECT_NE(r.err.find("embed.weight (BF16): 1 non-finite value, the first at element 1000; "
                       "layers.2.ffn.shared_experts.w1.weight (F8_E4M3): 2 non-finite values, the first at "
                       "element 77\n",
                       at),
            std::string::npos)
      << r.err;
}

// `tachyon generate` on the same checkpoint: a prompt with token 3 (whose embedding row holds the
// infinity) ends with one error line, not an abort; a prompt without it generates.
TEST(CheckValuesCli, GenerateReportsNonFiniteValues) {
  TempDir d;
  write_corrupt_copy(d.path(), false);
  const CliResult bad = run_cli("generate --model " + q(d.path()) + " --prompt-tokens 0,3,5 --max-tokens 4");
  EXPECT_EQ(bad.rc, 1) << bad.err;
  // stderr: the line naming the numerics and kernels, then one error line.
  EXPECT_EQ(bad.err.rfind("numerics: ", 0), 0u) << bad.err;
  const std::string last = bad.err.substr(bad.err.find('\n') + 1);
  EXPECT_EQ(last.rfind("tachyon: error: the model produced non-finite values (NaN or infinity)", 0), 0u) << bad.err;
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 2) << bad.err;
  const CliResult good = run_cli("generate --model " + q(d.path()) + " --prompt-tokens 0,4,5 --max-tokens 4");
  EXPECT_EQ(good.rc, 0) << good.err;
}

}  // namespace
}  // namespace tachyon
