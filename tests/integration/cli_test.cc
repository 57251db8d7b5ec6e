// The `tachyon` binary end to end: make-tiny-model output loads, inspect reports what the headers hold, and
// every kind of corrupted checkpoint makes inspect fail with one line on stderr (never a crash).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "../common/test_util.h"

namespace tachyon {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using testing::CliResult;
using testing::RawSafetensors;
using testing::read_file;
using testing::run_cli;
using testing::TempDir;
using testing::write_file;

const fs::path kTiny = fs::path(TACHYON_TEST_DATA) / "golden" / "tiny-flash" / "model";
const fs::path kAssets = fs::path(TACHYON_TEST_DATA).parent_path().parent_path() / "assets";

// Single-quoted for the shell.
std::string q(const fs::path& p) {
  std::string s = "'";
  s += p.string();
  s += '\'';
  return s;
}

TEST(Cli, InspectGoldenJsonMatchesHeaders) {
  const CliResult r = run_cli("inspect --json " + q(kTiny));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  const auto h = testing::header_totals(kTiny, 16, 6);
  EXPECT_EQ(j["tensor_count"].get<int64_t>(), 667);
  EXPECT_EQ(j["tensor_count"].get<int64_t>(), h.tensor_count);
  EXPECT_EQ(j["params_total"].get<int64_t>(), h.params);
  EXPECT_EQ(j["params_active_per_token"].get<int64_t>(), h.active_params);
  using ByDtype = std::map<std::string, uint64_t>;
  EXPECT_EQ(j["bytes_by_dtype"].get<ByDtype>(), h.bytes_by_dtype);
  EXPECT_DOUBLE_EQ(j["cache_bytes_per_token"].get<double>(), 194.0);
  EXPECT_EQ(j["context"].get<int64_t>(), 4096);
  EXPECT_TRUE(j.contains("cache_bytes_at_context"));
  EXPECT_EQ(j["config"]["hidden_size"].get<int>(), 256);

  const CliResult ctx = run_cli("inspect --json --context 100 " + q(kTiny));
  ASSERT_EQ(ctx.rc, 0) << ctx.err;
  EXPECT_EQ(json::parse(ctx.out)["context"].get<int64_t>(), 100);

  const CliResult text = run_cli("inspect " + q(kTiny));
  ASSERT_EQ(text.rc, 0) << text.err;
  EXPECT_NE(text.out.find("tensors      667"), std::string::npos) << text.out;
}

TEST(Cli, MakeTinyModelLoads) {
  TempDir d;
  const fs::path out = d.path() / "tiny";
  const CliResult g = run_cli("make-tiny-model --preset tiny --seed 3 --shards 2 --out " + q(out));
  ASSERT_EQ(g.rc, 0) << g.err;
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    EXPECT_EQ(read_file(out / f), read_file(kAssets / "tokenizer" / "deepseek-v4" / f)) << f;
  EXPECT_TRUE(fs::exists(out / "model.safetensors.index.json"));
  const CliResult r = run_cli("inspect --json " + q(out));
  ASSERT_EQ(r.rc, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_EQ(j["tensor_count"].get<int64_t>(), 667);
  EXPECT_EQ(j["config"]["vocab_size"].get<int>(), 129280);
  const auto h = testing::header_totals(out, 16, 6);
  EXPECT_EQ(j["params_total"].get<int64_t>(), h.params);
  EXPECT_EQ(j["params_active_per_token"].get<int64_t>(), h.active_params);
}

void expect_one_line_error(const CliResult& r, const std::string& needle) {
  EXPECT_EQ(r.rc, 1) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
  EXPECT_EQ(r.err.rfind("tachyon: error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "expected '" << needle << "' in: " << r.err;
}

TEST(Cli, MakeTinyModelErrors) {
  TempDir d;
  expect_one_line_error(run_cli("make-tiny-model --preset nope --out " + q(d.path() / "x")), "unknown preset 'nope'");
  expect_one_line_error(run_cli("make-tiny-model --assets " + q(d.path() / "none") + " --out " + q(d.path() / "x")),
                        "--assets");
}

// A writable copy of the golden tiny-flash model.
class Corrupt : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = tmp_.path() / "model";
    fs::copy(kTiny, dir_, fs::copy_options::recursive);
    for (const auto& e : fs::directory_iterator(dir_))
      fs::permissions(e.path(), fs::perms::owner_read | fs::perms::owner_write);
  }
  fs::path st() const { return dir_ / "model.safetensors"; }
  CliResult inspect() const { return run_cli("inspect " + q(dir_)); }
  void edit_config(const std::function<void(json&)>& f) const {
    json c = json::parse(read_file(dir_ / "config.json"));
    f(c);
    write_file(dir_ / "config.json", c.dump(2));
  }
  // Splits model.safetensors into two shards plus an index: tensors alternate between the shards.
  void shard() const {
    const RawSafetensors in = RawSafetensors::read(st());
    RawSafetensors out[2];
    json index = {{"metadata", {{"total_size", in.data.size()}}}, {"weight_map", json::object()}};
    int i = 0;
    for (auto it = in.header.begin(); it != in.header.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      RawSafetensors& o = out[i % 2];
      const uint64_t b = it.value()["data_offsets"][0], e = it.value()["data_offsets"][1];
      json t = it.value();
      t["data_offsets"] = {o.data.size(), o.data.size() + (e - b)};
      o.header[it.key()] = t;
      o.data += in.data.substr(b, e - b);
      index["weight_map"][it.key()] = shard_name(i % 2);
      ++i;
    }
    fs::remove(st());
    for (int s = 0; s < 2; ++s) out[s].write(dir_ / shard_name(s));
    write_file(dir_ / "model.safetensors.index.json", index.dump(2));
  }
  static std::string shard_name(int s) { return "model-0000" + std::to_string(s + 1) + "-of-00002.safetensors"; }
  void edit_index(const std::function<void(json&)>& f) const {
    json j = json::parse(read_file(dir_ / "model.safetensors.index.json"));
    f(j);
    write_file(dir_ / "model.safetensors.index.json", j.dump(2));
  }

  TempDir tmp_;
  fs::path dir_;
};

TEST_F(Corrupt, IntactCopyLoads) { EXPECT_EQ(inspect().rc, 0); }

TEST_F(Corrupt, TruncatedFile) {
  fs::resize_file(st(), fs::file_size(st()) / 2);
  expect_one_line_error(inspect(), "truncated");
}

TEST_F(Corrupt, TinyFile) {
  fs::resize_file(st(), 5);
  expect_one_line_error(inspect(), "truncated");
}

TEST_F(Corrupt, HeaderLengthPastEnd) {
  std::string bytes = read_file(st());
  const uint64_t n = bytes.size();
  std::memcpy(bytes.data(), &n, 8);
  write_file(st(), bytes);
  expect_one_line_error(inspect(), "past the end of the file");
}

TEST_F(Corrupt, OverlappingOffsets) {
  RawSafetensors f = RawSafetensors::read(st());
  f.header["layers.0.ffn_norm.weight"]["data_offsets"] = f.header["layers.0.attn_norm.weight"]["data_offsets"];
  f.write(st());
  expect_one_line_error(inspect(), "overlap");
}

TEST_F(Corrupt, WrongByteSize) {
  RawSafetensors f = RawSafetensors::read(st());
  f.header["norm.weight"]["shape"] = {255};
  f.write(st());
  expect_one_line_error(inspect(), "byte size");
}

TEST_F(Corrupt, MalformedHeaderJson) {
  RawSafetensors f = RawSafetensors::read(st());
  f.write_with_header_text(st(), R"({"norm.weight": {"dtype": "BF16", "shape": [256], )");
  expect_one_line_error(inspect(), "malformed");
}

TEST_F(Corrupt, MissingTensor) {
  RawSafetensors f = RawSafetensors::read(st());
  f.header.erase("layers.1.attn.attn_sink");
  f.write(st());
  expect_one_line_error(inspect(), "missing tensor 'layers.1.attn.attn_sink'");
}

TEST_F(Corrupt, ExtraTensor) {
  RawSafetensors f = RawSafetensors::read(st());
  f.header["layers.0.bogus"] = {{"dtype", "F32"}, {"shape", {1}}, {"data_offsets", {f.data.size(), f.data.size() + 4}}};
  f.data += std::string(4, '\0');
  f.write(st());
  expect_one_line_error(inspect(), "unexpected tensor 'layers.0.bogus'");
}

TEST_F(Corrupt, WrongDtype) {
  RawSafetensors f = RawSafetensors::read(st());
  f.header["norm.weight"]["dtype"] = "F16";
  f.write(st());
  expect_one_line_error(inspect(), "tensor 'norm.weight'");
  expect_one_line_error(inspect(), "dtype F16");
}

TEST_F(Corrupt, Tid2eidOutOfRange) {
  RawSafetensors f = RawSafetensors::read(st());
  const uint64_t off = f.header["layers.1.ffn.gate.tid2eid"]["data_offsets"][0];
  const int64_t bad = 16;  // n_routed_experts
  std::memcpy(f.data.data() + off + 8 * 7, &bad, 8);
  f.write(st());
  expect_one_line_error(inspect(), "layers.1.ffn.gate.tid2eid");
  expect_one_line_error(inspect(), "expert id 16 at [1, 1]");
}

TEST_F(Corrupt, ShardedCopyLoads) {
  shard();
  const CliResult r = run_cli("inspect --json " + q(dir_));
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["tensor_count"].get<int>(), 667);
}

TEST_F(Corrupt, IndexNamesMissingShard) {
  shard();
  fs::remove(dir_ / shard_name(1));
  expect_one_line_error(inspect(), "does not exist");
}

TEST_F(Corrupt, IndexMissingTensor) {
  shard();
  edit_index([](json& j) { j["weight_map"].erase("norm.weight"); });
  expect_one_line_error(inspect(), "'norm.weight'");
  expect_one_line_error(inspect(), "not listed in the index");
}

TEST_F(Corrupt, TensorInWrongShard) {
  shard();
  edit_index([](json& j) {
    j["weight_map"]["norm.weight"] = j["weight_map"]["norm.weight"] == shard_name(0) ? shard_name(1) : shard_name(0);
  });
  expect_one_line_error(inspect(), "'norm.weight'");
  expect_one_line_error(inspect(), "index says");
}

TEST_F(Corrupt, IndexListsTensorNoShardHolds) {
  shard();
  edit_index([](json& j) { j["weight_map"]["layers.9.ghost"] = shard_name(0); });
  expect_one_line_error(inspect(), "layers.9.ghost");
}

TEST_F(Corrupt, ConfigCompressRatiosLength) {
  edit_config([](json& c) { c["compress_ratios"].erase(c["compress_ratios"].size() - 2); });
  expect_one_line_error(inspect(), "compress_ratios");
}

TEST_F(Corrupt, ConfigHeadsNotDivisibleByGroups) {
  edit_config([](json& c) { c["o_groups"] = 3; });
  expect_one_line_error(inspect(), "not divisible by o_groups");
}

TEST_F(Corrupt, ConfigMissingField) {
  edit_config([](json& c) { c.erase("hidden_size"); });
  expect_one_line_error(inspect(), "missing required field 'hidden_size'");
}

TEST_F(Corrupt, ConfigMalformedJson) {
  const std::string text = read_file(dir_ / "config.json");
  write_file(dir_ / "config.json", text.substr(0, text.size() / 2));
  expect_one_line_error(inspect(), "malformed JSON");
}

TEST_F(Corrupt, ConfigMissing) {
  fs::remove(dir_ / "config.json");
  expect_one_line_error(inspect(), "config.json");
}

TEST(Cli, InspectMissingFolder) {
  expect_one_line_error(run_cli("inspect /nonexistent/tachyon-model"), "/nonexistent/tachyon-model");
}

}  // namespace
}  // namespace tachyon
