// libFuzzer target: arbitrary generated text into the incremental DeepSeek-V4 completion parser.
//
// Input layout: a leading 0x00 / 0x01 byte selects chat / thinking mode (otherwise the input length's
// parity does, so plain completion texts work as seeds); in the text, bytes 0x01-0x0F stand for whole
// markup pieces (EOS, </think>, a tool-call block opener, an invoke, a parameter, ...) so the fuzzer
// reaches the DSML states quickly. The text is parsed whole
// and in random chunks; the results must be identical, and the streamed deltas must add up to them.
// The streamed tool-call chunks must add up to the final calls byte for byte whenever the parser
// reports them exact, and exactness must not depend on the chunking.
#include <cstddef>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "chat/completion_parser.h"

namespace {

using namespace tachyon::chat;

constexpr std::string_view kPieces[] = {
    "",
    "<｜end▁of▁sentence｜>",
    "</think>",
    "<think>",
    "\n\n<｜DSML｜tool_calls>\n",
    "</｜DSML｜tool_calls>",
    "<｜DSML｜invoke name=\"get_weather\">\n",
    "<｜DSML｜invoke name=\"翻译\">",
    "</｜DSML｜invoke>\n",
    "<｜DSML｜parameter name=\"days\" string=\"false\">",
    "<｜DSML｜parameter name=\"city\" string=\"true\">",
    "<｜DSML｜parameter name=\"flag\" string=\"false\">",
    "<｜DSML｜parameter name=\"x\">",
    "</｜DSML｜parameter>\n",
    "<｜DSML｜",
    "\n\n",
};

const Json& tools() {
  static const Json t = *parse_json_exact(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
      "city": {"type": "string"}, "days": {"type": ["integer", "null"]}, "flag": {"type": "boolean"},
      "x": {"anyOf": [{"type": "number"}, {"type": "object"}]}}}}},
    {"type": "function", "function": {"name": "翻译", "parameters": {"type": "object", "properties": {
      "days": {"enum": [1, 2.5, "three", null]}}}}}])");
  return t;
}

bool same(const ParsedCompletion& a, const ParsedCompletion& b) {
  if (a.reasoning_content != b.reasoning_content || a.content != b.content) return false;
  if (a.tool_calls.size() != b.tool_calls.size()) return false;
  for (size_t k = 0; k < a.tool_calls.size(); ++k)
    if (a.tool_calls[k].name != b.tool_calls[k].name || a.tool_calls[k].arguments != b.tool_calls[k].arguments)
      return false;
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const bool selector = data[0] <= 1;
  const bool thinking = selector ? data[0] == 1 : (size & 1) != 0;
  const ThinkingMode mode = thinking ? ThinkingMode::kThinking : ThinkingMode::kChat;
  std::string text;
  for (size_t i = selector ? 1 : 0; i < size; ++i) {
    const std::uint8_t b = data[i];
    if (b >= 1 && b < 1 + std::size(kPieces) - 1) text += kPieces[b];
    else text += char(b);
  }

  CompletionParser whole_parser(mode, tools());
  whole_parser.feed(text);
  whole_parser.finish();
  const ParsedCompletion& whole = whole_parser.result();
  for (const auto& tc : whole.tool_calls)
    if (!is_valid_json(tc.arguments)) __builtin_trap();

  std::mt19937 rng(static_cast<unsigned>(size * 31 + data[size - 1]));
  CompletionParser p(mode, tools());
  ParseDelta sum;
  std::vector<ParsedToolCall> streamed;
  const auto add = [&](const ParseDelta& d) {
    sum.reasoning += d.reasoning;
    sum.content += d.content;
    sum.tool_calls.insert(sum.tool_calls.end(), d.tool_calls.begin(), d.tool_calls.end());
    for (const ToolCallChunk& ch : d.tool_call_chunks) {
      if (!ch.name.empty()) {
        if (ch.index != streamed.size()) __builtin_trap();
        streamed.push_back({ch.name, ""});
      } else {
        if (streamed.empty() || ch.index != streamed.size() - 1) __builtin_trap();
        streamed.back().arguments += ch.arguments;
      }
    }
  };
  for (size_t pos = 0; pos < text.size();) {
    const size_t n = 1 + rng() % 24;
    add(p.feed(std::string_view(text).substr(pos, n)));
    pos += n;
  }
  add(p.finish());
  const ParsedCompletion& chunked = p.result();
  if (!same(whole, chunked)) __builtin_trap();
  // Deltas are never retracted; only an echoed <think> after streamed reasoning may differ (R2).
  if (sum.content != chunked.content) __builtin_trap();
  if (text.find("<think>") == std::string::npos && sum.reasoning != chunked.reasoning_content) __builtin_trap();
  if (sum.tool_calls.size() != chunked.tool_calls.size()) __builtin_trap();
  if (p.tool_stream_exact() != whole_parser.tool_stream_exact()) __builtin_trap();
  if (p.tool_stream_exact()) {
    if (streamed.size() != chunked.tool_calls.size()) __builtin_trap();
    for (size_t k = 0; k < streamed.size(); ++k)
      if (streamed[k].name != chunked.tool_calls[k].name || streamed[k].arguments != chunked.tool_calls[k].arguments)
        __builtin_trap();
  }
  return 0;
}
