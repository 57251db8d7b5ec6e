// Files of a model folder are untrusted: FIFOs, devices and oversized files are refused before they
// are read (read_regular_file, the safetensors index, the shards), and safetensors headers are checked
// without allocating what they claim.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string>

#include <nlohmann/json.hpp>

#include "../common/test_util.h"
#include "core/file_read.h"
#include "io/safetensors.h"

namespace tachyon {
namespace {

using json = nlohmann::json;
using testing::TempDir;
using testing::write_file;
namespace fs = std::filesystem;

template <typename F>
double seconds(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string read_error(const fs::path& p, uint64_t limit) {
  auto r = read_regular_file(p.string(), limit);
  return r.is_ok() ? "(read " + std::to_string(r->size()) + ")" : r.status().message();
}

TEST(ReadRegularFile, ReadsUpToTheLimit) {
  TempDir dir;
  const fs::path p = dir.path() / "f";
  write_file(p, "");
  EXPECT_EQ(read_error(p, 10), "(read 0)");
  write_file(p, std::string(10, 'x'));
  auto r = read_regular_file(p.string(), 10);
  ASSERT_TRUE(r.is_ok());
  EXPECT_EQ(*r, std::string(10, 'x'));
  EXPECT_EQ(read_error(p, 9), p.string() + ": 10 bytes is over the 9 bytes limit for this file");
  EXPECT_EQ(read_error(dir.path() / "missing", 10).find(": cannot open: No such file"),
            (dir.path() / "missing").string().size());
}

TEST(ReadRegularFile, RefusesEveryOtherKindOfFileQuickly) {
  TempDir dir;
  ASSERT_EQ(::mkfifo((dir.path() / "fifo").c_str(), 0600), 0);
  fs::create_symlink("/dev/zero", dir.path() / "zero");
  std::string fifo, zero, null, directory;
  EXPECT_LT(seconds([&] {
              fifo = read_error(dir.path() / "fifo", 1 << 20);
              zero = read_error(dir.path() / "zero", 1 << 20);
              null = read_error("/dev/null", 1 << 20);
              directory = read_error(dir.path(), 1 << 20);
            }),
            5.0);
  EXPECT_EQ(fifo, (dir.path() / "fifo").string() + ": is a FIFO, expected a regular file");
  EXPECT_EQ(zero, (dir.path() / "zero").string() + ": is a character device, expected a regular file");
  EXPECT_EQ(null, "/dev/null: is a character device, expected a regular file");
  EXPECT_EQ(directory, dir.str() + ": is a directory, expected a regular file");
}

TEST(ReadRegularFile, LimitsAreNamedInMiB) {
  EXPECT_EQ(format_byte_limit(1 << 20), "1 MiB");
  EXPECT_EQ(format_byte_limit(64ull << 20), "64 MiB");
  EXPECT_EQ(format_byte_limit(1000), "1000 bytes");
}

// ---- safetensors --------------------------------------------------------------------------------------

std::string header_error(const json& h, uint64_t data_size) {
  auto r = parse_safetensors_header(h.dump(), data_size, "m.safetensors");
  return r.is_ok() ? "(ok)" : r.status().message();
}

json entry(const char* dtype, std::vector<uint64_t> shape, uint64_t b, uint64_t e) {
  return json{{"dtype", dtype}, {"shape", shape}, {"data_offsets", {b, e}}};
}

// A header may describe terabytes: it is checked against the data size, never allocated.
TEST(SafetensorsHeader, HugeClaimsAreCheckedNotAllocated) {
  const uint64_t n = 1ull << 40;
  json h = {{"big", entry("BF16", {n}, 0, 2 * n)}};
  EXPECT_EQ(header_error(h, 2 * n), "(ok)");
  EXPECT_NE(header_error(h, 2 * n - 1).find("run past the end of the data"), std::string::npos);
  h = {{"big", entry("BF16", {n, n, n}, 0, 2)}};
  EXPECT_NE(header_error(h, 2).find("tensor 'big': shape is too large"), std::string::npos);
  h = {{"big", entry("BF16", {n + 1}, 0, 2)}};
  EXPECT_NE(header_error(h, 2).find("tensor 'big': shape is too large"), std::string::npos);
}

// Sorted by start, an empty tensor between two overlapping ones must not hide the overlap.
TEST(SafetensorsHeader, OverlapBehindAnEmptyTensorIsFound) {
  json h = {{"a", entry("U8", {100}, 0, 100)}, {"empty", entry("U8", {0}, 50, 50)}, {"c", entry("U8", {10}, 60, 70)}};
  EXPECT_NE(header_error(h, 100).find("tensor 'c': data_offsets [60, 70] overlap tensor 'a' [0, 100]"),
            std::string::npos)
      << header_error(h, 100);
  h = {{"a", entry("U8", {60}, 0, 60)}, {"empty", entry("U8", {0}, 60, 60)}, {"c", entry("U8", {10}, 60, 70)}};
  EXPECT_EQ(header_error(h, 70), "(ok)");
}

TEST(SafetensorsHeader, OffsetsAreRelativeToTheDataSection) {
  json h = {{"__metadata__", {{"format", "pt"}}}, {"x", entry("F32", {2}, 4, 12)}, {"y", entry("U8", {4}, 0, 4)}};
  std::string text = h.dump();
  std::string file(8, '\0');
  const uint64_t hlen = text.size();
  std::memcpy(file.data(), &hlen, 8);
  file += text + std::string(12, '\7');
  auto r = parse_safetensors(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "f");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->metadata.at("format"), "pt");
  for (const TensorInfo& t : r->tensors) {
    const size_t start = t.name == "x" ? 4 : 0;
    EXPECT_EQ(t.offset, start);
    EXPECT_EQ(t.data, reinterpret_cast<const uint8_t*>(file.data()) + 8 + hlen + start);
  }
  // The header length field: past the end, and over the limit.
  const uint64_t too_long = file.size();
  std::memcpy(file.data(), &too_long, 8);
  EXPECT_FALSE(parse_safetensors(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "f").is_ok());
  const uint64_t over = kMaxSafetensorsHeader + 1;
  std::memcpy(file.data(), &over, 8);
  auto o = parse_safetensors(reinterpret_cast<const uint8_t*>(file.data()), file.size(), "f");
  ASSERT_FALSE(o.is_ok());
  EXPECT_NE(o.status().message().find("exceeds the"), std::string::npos);
}

TEST(SafetensorsIndex, ParsesTheWeightMap) {
  auto r = parse_safetensors_index(R"({"metadata": {}, "weight_map": {"a": "s1.safetensors", "b": "s2.safetensors"}})",
                                   "i.json");
  ASSERT_TRUE(r.is_ok()) << r.status().message();
  EXPECT_EQ(r->size(), 2u);
  EXPECT_EQ(r->at("b"), "s2.safetensors");
  for (const char* bad : {R"({"weight_map": {"a": "../x.safetensors"}})", R"({"weight_map": {"a": "d/x"}})",
                          R"({"weight_map": {"a": ""}})", R"({"weight_map": {"a": 3}})", R"({"weight_map": []})",
                          R"([])", R"({"weight_map": )"}) {
    SCOPED_TRACE(bad);
    auto e = parse_safetensors_index(bad, "i.json");
    ASSERT_FALSE(e.is_ok());
    EXPECT_EQ(e.status().message().rfind("i.json: ", 0), 0u) << e.status().message();
  }
}

std::string store_error(const std::string& path) {
  auto r = TensorStore::open(path);
  return r.is_ok() ? std::string("(opened)") : r.status().message();
}

TEST(SafetensorsFiles, FifoAndDeviceShardsAreRefusedQuickly) {
  TempDir dir;
  const fs::path fifo = dir.path() / "model.safetensors";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  std::string m;
  EXPECT_LT(seconds([&] { m = store_error(fifo.string()); }), 5.0);
  EXPECT_NE(m.find("not a regular file"), std::string::npos) << m;
  // A folder listing skips what is not a regular file.
  EXPECT_LT(seconds([&] { m = store_error(dir.str()); }), 5.0);
  EXPECT_NE(m.find("no .safetensors files"), std::string::npos) << m;
  fs::remove(fifo);
  fs::create_symlink("/dev/zero", dir.path() / "model.safetensors");
  EXPECT_NE(store_error((dir.path() / "model.safetensors").string()).find("not a regular file"), std::string::npos);
}

TEST(SafetensorsFiles, IndexMustBeABoundedRegularFile) {
  TempDir dir;
  const fs::path index = dir.path() / "model.safetensors.index.json";
  ASSERT_EQ(::mkfifo(index.c_str(), 0600), 0);
  std::string m;
  EXPECT_LT(seconds([&] { m = store_error(dir.str()); }), 5.0);
  EXPECT_NE(m.find("model.safetensors.index.json: is a FIFO, expected a regular file"), std::string::npos) << m;
  fs::remove(index);
  write_file(index, "{}");
  ASSERT_EQ(::truncate(index.c_str(), off_t(kMaxSafetensorsIndexBytes) + 1), 0);  // sparse: nothing on disk
  EXPECT_LT(seconds([&] { m = store_error(dir.str()); }), 5.0);
  EXPECT_NE(m.find("model.safetensors.index.json: 67108865 bytes is over the 64 MiB limit"), std::string::npos) << m;
}

}  // namespace
}  // namespace tachyon
