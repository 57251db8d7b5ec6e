// `tachyon chat-prompt` and `tachyon parse-completion` as JSONL filters: every shared case through the
// binary, output order, and bad lines (one-line error, non-zero exit, no crash).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "chat_test_util.h"

namespace tachyon::chat {
namespace {

struct CliRun {
  int status = -1;
  std::vector<std::string> out_lines;
  std::string err;
};

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The CLI binary is built by the default target; these tests skip when it is absent.
bool have_cli() { return std::ifstream(TACHYON_BIN).good(); }
#define REQUIRE_CLI() \
  if (!have_cli()) GTEST_SKIP() << "no " << TACHYON_BIN << " (build the tachyon target)"

CliRun run_cli(const std::string& args, const std::string& input) {
  // A private folder per call: ctest runs these tests as parallel processes.
  std::string dir = ::testing::TempDir() + "/tachyon-chat-cli-XXXXXX";
  if (!mkdtemp(dir.data())) return CliRun{};
  const std::string in = dir + "/chat_cli_in.jsonl", out = dir + "/chat_cli_out.jsonl", err = dir + "/chat_cli_err.txt";
  std::ofstream(in, std::ios::binary) << input;
  const std::string cmd = std::string(TACHYON_BIN) + " " + args + " < " + in + " > " + out + " 2> " + err;
  CliRun r;
  const int rc = std::system(cmd.c_str());
  r.status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  std::istringstream lines(slurp(out));
  for (std::string l; std::getline(lines, l);) r.out_lines.push_back(l);
  r.err = slurp(err);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

TEST(ChatCli, ChatPromptAllCases) {
  REQUIRE_CLI();
  const std::vector<Json> cases = testing::load_jsonl("cases.jsonl");
  std::string input;
  for (const Json& c : cases) input += py_dumps(Json{{"request", c["request"]}}) + "\n";
  const CliRun r = run_cli("chat-prompt --jsonl", input);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.out_lines.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto out = nlohmann::json::parse(r.out_lines[i]);
    EXPECT_EQ(out["prompt"].get<std::string>(), cases[i]["prompt"].get<std::string>()) << i;
  }
}

TEST(ChatCli, ParseCompletionAllCases) {
  REQUIRE_CLI();
  const std::vector<Json> cases = testing::load_jsonl("parse_cases.jsonl");
  std::string input;
  for (const Json& c : cases) {
    Json in = Json::object();
    in["thinking_mode"] = c["thinking_mode"];
    in["tools"] = c["tools"];
    in["text"] = c["text"];
    input += py_dumps(in) + "\n";
  }
  const CliRun r = run_cli("parse-completion --jsonl", input);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.out_lines.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto got = nlohmann::json::parse(r.out_lines[i]);
    const Json& want = cases[i]["expected"];
    SCOPED_TRACE(cases[i]["name"].get<std::string>());
    EXPECT_EQ(got["reasoning_content"], want["reasoning_content"].get<std::string>());
    EXPECT_EQ(got["content"], want["content"].get<std::string>());
    ASSERT_EQ(got["tool_calls"].size(), want["tool_calls"].size());
    for (size_t k = 0; k < got["tool_calls"].size(); ++k) {
      EXPECT_EQ(got["tool_calls"][k]["name"], want["tool_calls"][k]["name"].get<std::string>());
      EXPECT_EQ(nlohmann::json::parse(got["tool_calls"][k]["arguments"].get<std::string>()),
                nlohmann::json::parse(want["tool_calls"][k]["arguments"].get<std::string>()));
    }
  }
}

TEST(ChatCli, ParseCompletionCallsOnlyDeclaredTools) {
  REQUIRE_CLI();
  const std::string block = "<｜DSML｜tool_calls>\n<｜DSML｜invoke name=\"calc\">\n</｜DSML｜invoke>\n</｜DSML｜tool_calls>";
  const std::string text = "ok\n\n" + block;
  const Json calc = *parse_json_exact(R"([{"type": "function", "function": {"name": "calc"}}])");
  const Json other = *parse_json_exact(R"([{"type": "function", "function": {"name": "other"}}])");
  std::string input;
  for (const Json& tools : {Json(nullptr), Json::array(), other, calc}) {
    Json in = Json::object();
    if (!tools.is_null()) in["tools"] = tools;
    in["text"] = text;
    input += py_dumps(in) + "\n";
  }
  const CliRun r = run_cli("parse-completion --jsonl", input);
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.out_lines.size(), 4u);
  for (size_t i = 0; i < 3; ++i) {  // no tools, an empty list, a list without calc: the text is content
    const auto out = nlohmann::json::parse(r.out_lines[i]);
    EXPECT_EQ(out["content"], text) << i;
    EXPECT_TRUE(out["tool_calls"].empty()) << i;
  }
  const auto out = nlohmann::json::parse(r.out_lines[3]);
  EXPECT_EQ(out["content"], "ok");
  ASSERT_EQ(out["tool_calls"].size(), 1u);
  EXPECT_EQ(out["tool_calls"][0]["name"], "calc");
}

TEST(ChatCli, BadLineStopsWithOneLineError) {
  REQUIRE_CLI();
  const std::string good = R"({"request": {"messages": [{"role": "user", "content": "hi"}]}})";
  const CliRun r = run_cli("chat-prompt --jsonl", good + "\n\n" + good + "\n{\"request\": {\"messages\": [{\"role\": \"x\"}]}}\n" + good + "\n");
  EXPECT_EQ(r.status, 1);
  EXPECT_EQ(r.out_lines.size(), 2u);  // the lines before the bad one were answered
  EXPECT_EQ(r.err.find("tachyon: error: line 4: messages[0].role: unknown role 'x'"), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1);

  for (const char* bad : {"not json", "[1]", "{\"text\": 5}", "{\"text\": \"x\", \"thinking_mode\": \"deep\"}",
                          "{\"text\": \"x\", \"tools\": {}}"}) {
    const CliRun p = run_cli("parse-completion --jsonl", std::string(bad) + "\n");
    EXPECT_EQ(p.status, 1) << bad;
    EXPECT_EQ(p.err.rfind("tachyon: error: line 1: ", 0), 0u) << p.err;
  }
}

TEST(ChatCli, OutputShape) {
  REQUIRE_CLI();
  const CliRun r = run_cli("parse-completion --jsonl", "{\"text\": \"ok\"}\n");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.out_lines.size(), 1u);
  EXPECT_EQ(r.out_lines[0], R"({"reasoning_content":"","content":"ok","tool_calls":[]})");
}

TEST(ChatCli, BarePromptWithoutJsonl) {
  REQUIRE_CLI();
  const CliRun r = run_cli("chat-prompt", R"({"messages": [{"role": "user", "content": "hi"}]})");
  ASSERT_EQ(r.status, 0) << r.err;
  ASSERT_EQ(r.out_lines.size(), 1u);
  EXPECT_EQ(r.out_lines[0], "<｜begin▁of▁sentence｜><｜User｜>hi<｜Assistant｜></think>");
}

}  // namespace
}  // namespace tachyon::chat
