// tool_choice parsing and the forced tool-call opening (see tool_choice.h).
#include "server/tool_choice.h"

#include <algorithm>

#include <fmt/format.h>

#include "chat/dsv4_format.h"

namespace tachyon::server {
namespace {

[[noreturn]] void bad(std::string msg) { throw ApiException{invalid_request(std::move(msg), "tool_choice")}; }

constexpr const char* kShapes =
    "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": "
    "\"...\"}}";

// The function names of the request's tools (entries of another shape are skipped: the chat encoder
// reports them).
std::vector<std::string> tool_names(const Json& body) {
  std::vector<std::string> names;
  const auto tools = body.find("tools");
  if (tools == body.end() || !tools->is_array()) return names;
  for (const Json& t : *tools) {
    if (!t.is_object()) continue;
    const auto fn = t.find("function");
    if (fn == t.end() || !fn->is_object()) continue;
    const auto name = fn->find("name");
    if (name != fn->end() && name->is_string()) names.push_back(name->get<std::string>());
  }
  return names;
}

}  // namespace

ToolChoice parse_tool_choice(const Json& body) {
  ToolChoice tc;
  const auto it = body.find("tool_choice");
  if (it == body.end() || it->is_null()) return tc;
  const Json& v = *it;
  if (v.is_string()) {
    const std::string s = v.get<std::string>();
    if (s == "none") tc.mode = ToolChoiceMode::kNone;
    else if (s == "auto") tc.mode = ToolChoiceMode::kAuto;
    else if (s == "required") tc.mode = ToolChoiceMode::kRequired;
    else bad(fmt::format("{}, got \"{}\"", kShapes, s));
  } else if (v.is_object()) {
    const auto type = v.find("type");
    if (type == v.end() || !type->is_string()) bad(std::string(kShapes) + ": 'type' is missing");
    if (type->get<std::string>() != "function")
      bad(fmt::format("tool_choice type '{}' is not supported; use \"function\"", type->get<std::string>()));
    const auto fn = v.find("function");
    if (fn == v.end() || !fn->is_object()) bad(std::string(kShapes) + ": 'function' must be an object");
    const auto name = fn->find("name");
    if (name == fn->end() || !name->is_string() || name->get<std::string>().empty())
      bad(std::string(kShapes) + ": 'function.name' must be a non-empty string");
    tc.mode = ToolChoiceMode::kFunction;
    tc.function = name->get<std::string>();
  } else {
    bad(fmt::format("{}, got {}", kShapes, v.type_name()));
  }

  if (tc.mode == ToolChoiceMode::kRequired || tc.mode == ToolChoiceMode::kFunction) {
    const std::vector<std::string> names = tool_names(body);
    if (names.empty()) bad("'tool_choice' requires 'tools' to list at least one function");
    if (tc.mode == ToolChoiceMode::kFunction && std::find(names.begin(), names.end(), tc.function) == names.end())
      bad(fmt::format("tool_choice names the function '{}', which is not in 'tools'", tc.function));
    if (tc.function.find('"') != std::string::npos)
      bad(fmt::format("the function name '{}' contains a quote and cannot be written as a DSML invoke", tc.function));
  }
  return tc;
}

std::string forced_tool_call_text(const ToolChoice& choice, chat::ThinkingMode mode) {
  using namespace chat::dsv4;
  if (choice.mode != ToolChoiceMode::kRequired && choice.mode != ToolChoiceMode::kFunction) return "";
  std::string s;
  if (mode == chat::ThinkingMode::kThinking) s += kThinkEnd;
  s += kBlockSeparator;
  s += kToolCallsOpen;
  s += "\n";
  if (choice.mode == ToolChoiceMode::kFunction) s += fmt::format("{} name=\"{}\">\n", kInvokeOpen, choice.function);
  return s;
}

std::vector<int32_t> forced_prefix_tokens(const tok::Tokenizer& tokenizer, std::string_view text,
                                          std::string_view continuation) {
  std::string full(text);
  full += continuation;
  std::vector<int32_t> out;
  size_t len = 0;
  for (int32_t id : tokenizer.encode(full)) {
    const std::string_view b = tokenizer.token_bytes(id);
    if (b.empty() || len + b.size() > text.size() || text.substr(len, b.size()) != b) break;
    len += b.size();
    out.push_back(id);
  }
  return out;
}

std::vector<int32_t> tool_choice_prefix_tokens(const tok::Tokenizer& tokenizer, const ToolChoice& choice,
                                               chat::ThinkingMode mode) {
  const std::string text = forced_tool_call_text(choice, mode);
  if (text.empty()) return {};
  // What the model writes next: an invoke after the block opening, a parameter after the invoke's.
  const std::string next = std::string(choice.mode == ToolChoiceMode::kFunction ? chat::dsv4::kParamOpen
                                                                                : chat::dsv4::kInvokeOpen) +
                           " name=\"";
  return forced_prefix_tokens(tokenizer, text, next);
}

}  // namespace tachyon::server
