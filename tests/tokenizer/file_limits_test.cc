// tokenizer.json and tokenizer_config.json are read only when they are regular files of bounded size:
// a FIFO, a device behind a symlink or a huge file is refused quickly, naming the file.
#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "tokenizer/tokenizer.h"

namespace tachyon::tok {
namespace {

namespace fs = std::filesystem;

const char* kMinimal = R"({"normalizer": null,
  "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
  "decoder": {"type": "ByteLevel"}, "added_tokens": [],
  "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}})";

class TokenizerFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "tachyon-tokfiles-XXXXXX").string();
    if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // The load error (or "(loaded)"), failing the test when it took more than a few seconds.
  std::string load_error() {
    const auto t0 = std::chrono::steady_clock::now();
    auto t = Tokenizer::load(dir_.string());
    EXPECT_LT(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), 5.0);
    return t.is_ok() ? std::string("(loaded)") : t.status().message();
  }
  fs::path dir_;
};

TEST_F(TokenizerFiles, RegularFilesLoad) {
  std::ofstream(dir_ / "tokenizer.json") << kMinimal;
  std::ofstream(dir_ / "tokenizer_config.json") << R"({"bos_token": "a"})";
  EXPECT_EQ(load_error(), "(loaded)");
}

TEST_F(TokenizerFiles, FifoIsRefused) {
  ASSERT_EQ(::mkfifo((dir_ / "tokenizer.json").c_str(), 0600), 0);
  EXPECT_EQ(load_error(), (dir_ / "tokenizer.json").string() + ": is a FIFO, expected a regular file");
  fs::remove(dir_ / "tokenizer.json");
  std::ofstream(dir_ / "tokenizer.json") << kMinimal;
  ASSERT_EQ(::mkfifo((dir_ / "tokenizer_config.json").c_str(), 0600), 0);
  EXPECT_EQ(load_error(), (dir_ / "tokenizer_config.json").string() + ": is a FIFO, expected a regular file");
}

TEST_F(TokenizerFiles, DeviceIsRefused) {
  fs::create_symlink("/dev/zero", dir_ / "tokenizer.json");
  EXPECT_EQ(load_error(), (dir_ / "tokenizer.json").string() + ": is a character device, expected a regular file");
}

// Real tokenizer.json files are tens of MiB at most; the limit is 128 MiB (16 MiB for the config).
TEST_F(TokenizerFiles, HugeFilesAreRefusedUnread) {
  std::ofstream(dir_ / "tokenizer.json") << kMinimal;
  ASSERT_EQ(::truncate((dir_ / "tokenizer.json").c_str(), off_t(128) << 20), 0);  // sparse
  const std::string at_limit = load_error();
  EXPECT_EQ(at_limit.find("limit"), std::string::npos) << at_limit;  // read, then refused as JSON (trailing NULs)
  ASSERT_EQ(::truncate((dir_ / "tokenizer.json").c_str(), (off_t(128) << 20) + 1), 0);
  EXPECT_EQ(load_error(),
            (dir_ / "tokenizer.json").string() + ": 134217729 bytes is over the 128 MiB limit for this file");
  std::ofstream(dir_ / "tokenizer.json") << kMinimal;
  std::ofstream(dir_ / "tokenizer_config.json") << "{}";
  ASSERT_EQ(::truncate((dir_ / "tokenizer_config.json").c_str(), (off_t(16) << 20) + 1), 0);
  EXPECT_NE(load_error().find("tokenizer_config.json: 16777217 bytes is over the 16 MiB limit"), std::string::npos);
}

}  // namespace
}  // namespace tachyon::tok
