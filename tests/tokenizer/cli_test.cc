// The tokenize / detokenize CLI filters: every golden case through `tachyon tokenize --jsonl` and
// back through `tachyon detokenize --jsonl`, in order, and a bad line gives a one-line error and a
// non-zero exit status.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <algorithm>
#include <cstdlib>
#include <sstream>

#include <nlohmann/json.hpp>

#include "tokenizer_test_util.h"

namespace tachyon::tok {
namespace {

struct CliRun {
  int rc;
  std::string out, err;
};

CliRun run_tachyon(const std::string& args, const std::string& input) {
  const auto dir = std::filesystem::temp_directory_path() / ("tachyon_tok_cli_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "in") << input;
  const std::string cmd = std::string(TACHYON_BIN) + " " + args + " < " + (dir / "in").string() + " > " +
                          (dir / "out").string() + " 2> " + (dir / "err").string();
  const int status = std::system(cmd.c_str());
  CliRun r{WIFEXITED(status) ? WEXITSTATUS(status) : -1, testing::read_text_file((dir / "out").string()),
        testing::read_text_file((dir / "err").string())};
  std::filesystem::remove_all(dir);
  return r;
}

std::string tokenizer_arg() {
  return std::string("--tokenizer ") + std::filesystem::path(testing::kDeepSeekTokenizerPath).parent_path().string();
}

TEST(TokenizerCli, GoldenCasesThroughJsonlFilters) {
  const std::string cases = testing::read_text_file(testing::kCasesPath);
  std::string tok_in, want_ids;
  std::istringstream in(cases);
  std::vector<nlohmann::json> rows;
  for (std::string line; std::getline(in, line);) {
    auto j = nlohmann::json::parse(line);
    tok_in += nlohmann::json{{"text", j["text"]}, {"add_bos", j["add_bos"]}}.dump() + "\n";
    rows.push_back(j);
  }
  const CliRun tok = run_tachyon("tokenize --jsonl " + tokenizer_arg(), tok_in);
  ASSERT_EQ(tok.rc, 0) << tok.err;
  std::istringstream out(tok.out);
  std::string detok_in;
  size_t i = 0;
  for (std::string line; std::getline(out, line); ++i) {
    ASSERT_LT(i, rows.size());
    auto j = nlohmann::json::parse(line);
    ASSERT_EQ(j["ids"], rows[i]["ids"]) << "line " << i + 1;
    detok_in += line + "\n";
  }
  ASSERT_EQ(i, rows.size());
  const CliRun detok = run_tachyon("detokenize --jsonl " + tokenizer_arg(), detok_in);
  ASSERT_EQ(detok.rc, 0) << detok.err;
  std::istringstream dout(detok.out);
  i = 0;
  for (std::string line; std::getline(dout, line); ++i) {
    const std::string bos = rows[i]["add_bos"].get<bool>() ? "<｜begin▁of▁sentence｜>" : "";
    ASSERT_EQ(nlohmann::json::parse(line)["text"], bos + rows[i]["text"].get<std::string>()) << "line " << i + 1;
  }
  ASSERT_EQ(i, rows.size());
}

TEST(TokenizerCli, BadLinesStopWithOneLineError) {
  const CliRun bad_json = run_tachyon("tokenize --jsonl " + tokenizer_arg(), "{\"text\": \"a\"}\n{nope\n{\"text\": \"b\"}\n");
  EXPECT_EQ(bad_json.rc, 1);
  EXPECT_EQ(bad_json.out, "{\"ids\":[67]}\n");
  EXPECT_NE(bad_json.err.find("line 2"), std::string::npos) << bad_json.err;
  EXPECT_EQ(std::count(bad_json.err.begin(), bad_json.err.end(), '\n'), 1);

  EXPECT_EQ(run_tachyon("tokenize --jsonl " + tokenizer_arg(), "{\"text\": 3}\n").rc, 1);
  EXPECT_EQ(run_tachyon("tokenize --jsonl " + tokenizer_arg(), "{\"text\": \"a\", \"add_bos\": 1}\n").rc, 1);
  EXPECT_EQ(run_tachyon("tokenize --jsonl " + tokenizer_arg(), "\"\xff\"\n").rc, 1);
  EXPECT_EQ(run_tachyon("detokenize --jsonl " + tokenizer_arg(), "{\"ids\": [1, 129280]}\n").rc, 1);
  EXPECT_EQ(run_tachyon("detokenize --jsonl " + tokenizer_arg(), "{\"ids\": [-1]}\n").rc, 1);
  EXPECT_EQ(run_tachyon("detokenize --jsonl " + tokenizer_arg(), "[]\n").rc, 1);
  EXPECT_EQ(run_tachyon("tokenize --jsonl --tokenizer /nonexistent", "").rc, 1);
}

TEST(TokenizerCli, PartialCharactersDecodeToReplacement) {
  // A lone byte token of a 4-byte character: the output is still valid JSON (U+FFFD).
  const CliRun r = run_tachyon("detokenize --jsonl " + tokenizer_arg(), "{\"ids\": [3574]}\n\n{\"ids\": []}\n");
  EXPECT_EQ(r.rc, 0) << r.err;
  EXPECT_EQ(r.out, "{\"text\":\"\xEF\xBF\xBD\"}\n{\"text\":\"\"}\n");
}

}  // namespace
}  // namespace tachyon::tok
