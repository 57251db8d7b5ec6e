// Loading errors: each is a Status that names the file and says what is wrong.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tokenizer/tokenizer.h"

namespace tachyon::tok {
namespace {

nlohmann::json minimal() {
  return nlohmann::json::parse(R"({
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "decoder": {"type": "ByteLevel"},
    "added_tokens": [],
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a", "b"]]}
  })");
}

std::string load_error(const nlohmann::json& j) {
  auto t = Tokenizer::from_json(j.dump(), "my/tokenizer.json");
  return t.is_ok() ? std::string("(loaded)") : t.status().message();
}

TEST(TokenizerLoad, MinimalLoadsWithBothMergeFormats) {
  EXPECT_EQ(load_error(minimal()), "(loaded)");
  nlohmann::json j = minimal();
  j["model"]["merges"] = {"a b"};
  auto t = Tokenizer::from_json(j.dump(), "x");
  ASSERT_TRUE(t.is_ok());
  EXPECT_EQ((*t)->encode("ab"), (std::vector<int32_t>{2}));
  EXPECT_EQ((*t)->encode("ba"), (std::vector<int32_t>{1, 0}));
}

TEST(TokenizerLoad, MalformedJson) {
  auto t = Tokenizer::from_json("{\"model\": {", "my/tokenizer.json");
  ASSERT_FALSE(t.is_ok());
  EXPECT_NE(t.status().message().find("my/tokenizer.json"), std::string::npos);
  EXPECT_NE(t.status().message().find("malformed JSON"), std::string::npos);
}

void expect_error(const nlohmann::json& j, const std::string& needle) {
  const std::string msg = load_error(j);
  EXPECT_NE(msg.find("my/tokenizer.json"), std::string::npos) << msg;
  EXPECT_NE(msg.find(needle), std::string::npos) << "want '" << needle << "' in: " << msg;
}

TEST(TokenizerLoad, UnsupportedParts) {
  nlohmann::json j = minimal();
  j["model"]["type"] = "WordPiece";
  expect_error(j, "WordPiece");
  j = minimal();
  j["normalizer"] = {{"type", "NFKC"}};
  expect_error(j, "NFKC");
  j = minimal();
  j["pre_tokenizer"] = {{"type", "Whitespace"}};
  expect_error(j, "Whitespace");
  j = minimal();
  j["decoder"] = {{"type", "WordPiece"}};
  expect_error(j, "decoder");
  j = minimal();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "(unclosed"}}}, {"behavior", "Isolated"}};
  expect_error(j, "invalid regex");
  j = minimal();
  j["pre_tokenizer"] = {{"type", "Split"}, {"pattern", {{"Regex", "a"}}}, {"behavior", "Sideways"}};
  expect_error(j, "Sideways");
  j = minimal();
  j["model"]["dropout"] = 0.1;
  expect_error(j, "dropout");
}

TEST(TokenizerLoad, BadMerges) {
  nlohmann::json j = minimal();
  j["model"]["merges"] = {"a c"};
  expect_error(j, "'c' is not in the vocabulary");
  j["model"]["merges"] = {"b a"};
  expect_error(j, "merged token 'ba'");
  j["model"]["merges"] = {"a b c"};
  expect_error(j, "merges[0]");
  j["model"]["merges"] = {nlohmann::json::array({"a"})};
  expect_error(j, "merges[0]");
  j["model"]["merges"] = 7;
  expect_error(j, "merges");
}

TEST(TokenizerLoad, BadVocabAndAddedTokens) {
  nlohmann::json j = minimal();
  j["model"]["vocab"]["x"] = "seven";
  expect_error(j, "'x'");
  j = minimal();
  j["added_tokens"] = {{{"content", "<s>"}}};
  expect_error(j, "added_tokens[0]");
  j = minimal();
  j["model"].erase("vocab");
  expect_error(j, "vocab");
}

TEST(TokenizerLoad, FilesAndFolders) {
  auto missing = Tokenizer::load("/nonexistent/dir/tokenizer.json");
  ASSERT_FALSE(missing.is_ok());
  EXPECT_NE(missing.status().message().find("/nonexistent/dir/tokenizer.json"), std::string::npos);
  // A folder works and picks up bos/eos from its tokenizer_config.json (string or object form).
  const auto tmp = std::filesystem::temp_directory_path() / ("tachyon_tokenizer_load_test_" + std::to_string(::getpid()));
  std::filesystem::create_directories(tmp);
  std::ofstream(tmp / "tokenizer.json") << minimal().dump();
  std::ofstream(tmp / "tokenizer_config.json") << R"({"bos_token": "b", "eos_token": {"content": "ab"}})";
  auto dir = Tokenizer::load(tmp.string());
  ASSERT_TRUE(dir.is_ok()) << dir.status().message();
  EXPECT_EQ((*dir)->bos_id(), 1);
  EXPECT_EQ((*dir)->eos_id(), 2);
  EXPECT_EQ((*dir)->encode("a", /*add_bos=*/true), (std::vector<int32_t>{1, 0}));
  auto file = Tokenizer::load((tmp / "tokenizer.json").string());
  ASSERT_TRUE(file.is_ok());
  EXPECT_EQ((*file)->bos_id(), 1);
  // A tokenizer_config.json naming an unknown token is an error that names that file.
  std::ofstream(tmp / "tokenizer_config.json", std::ios::trunc) << R"({"bos_token": "<nope>"})";
  auto bad = Tokenizer::load(tmp.string());
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("tokenizer_config.json"), std::string::npos);
  std::filesystem::remove_all(tmp);
}

}  // namespace
}  // namespace tachyon::tok
