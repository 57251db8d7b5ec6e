// tool_choice parsing and the forced tool-call opening (see tool_choice.h).
#include "server/tool_choice.h"

#include <algorithm>

#include <fmt/format.h>

#include "chat/dsv4_format.h"

namespace tachyon::server {
namespace {

[[noreturn]] void bad(std::string msg) { throw ApiException{invalid_request(std::move(msg), "tool_choice")}; }
[[noreturn]] void bad_at(std::string msg, std::string param) {
  throw ApiException{invalid_request(std::move(msg), std::move(param))};
}

constexpr const char* kShapes =
    "'tool_choice' must be \"none\", \"auto\", \"required\" or {\"type\": \"function\", \"function\": {\"name\": "
    "\"...\"}}";

// A field of a tool's function object, or null when absent or null.
const Json* function_field(const Json& fn, const char* key) {
  const auto it = fn.find(key);
  return it == fn.end() || it->is_null() ? nullptr : &*it;
}

}  // namespace

std::vector<std::string> check_tools(const Json& body) {
  std::vector<std::string> names;
  const auto tools = body.find("tools");
  if (tools == body.end() || tools->is_null()) return names;
  if (!tools->is_array()) bad_at(fmt::format("'tools' must be an array of tools, got {}", tools->type_name()), "tools");
  for (size_t i = 0; i < tools->size(); ++i) {
    const Json& t = (*tools)[i];
    const std::string at = fmt::format("tools[{}]", i);
    if (!t.is_object()) bad_at(fmt::format("'{}' must be a tool object, got {}", at, t.type_name()), at);
    if (const auto type = t.find("type"); type != t.end() && !type->is_null() && *type != "function")
      bad_at(fmt::format("'{}.type' must be \"function\" (the only tool type supported), got {}", at, type->dump()),
             at + ".type");
    const auto fn = t.find("function");
    if (fn == t.end() || !fn->is_object()) bad_at(fmt::format("'{}.function' must be an object", at), at + ".function");
    const std::string fat = at + ".function";
    const Json* name = function_field(*fn, "name");
    if (!name || !name->is_string() || name->get<std::string>().empty())
      bad_at(fmt::format("'{}.name' must be a non-empty string", fat), fat + ".name");
    const std::string n = name->get<std::string>();
    if (n.find('"') != std::string::npos)
      bad_at(fmt::format("'{}.name' '{}' contains a quote, which a DSML invoke cannot carry", fat, n), fat + ".name");
    if (const auto dup = std::find(names.begin(), names.end(), n); dup != names.end())
      bad_at(fmt::format("'{}.name' '{}' is already the name of tools[{}]", fat, n, dup - names.begin()), fat + ".name");
    names.push_back(n);
    if (const Json* params = function_field(*fn, "parameters"); params && !params->is_object())
      bad_at(fmt::format("'{}.parameters' must be a JSON schema object, got {}", fat, params->type_name()),
             fat + ".parameters");
    if (const Json* desc = function_field(*fn, "description"); desc && !desc->is_string())
      bad_at(fmt::format("'{}.description' must be a string, got {}", fat, desc->type_name()), fat + ".description");
    if (const Json* strict = function_field(*fn, "strict")) {
      if (!strict->is_boolean())
        bad_at(fmt::format("'{}.strict' must be a boolean, got {}", fat, strict->type_name()), fat + ".strict");
      if (strict->get<bool>())
        bad_at(fmt::format("'{}.strict' true is not supported: arguments that follow the schema need constrained "
                           "decoding, which this server does not have",
                           fat),
               fat + ".strict");
    }
  }
  return names;
}

ToolChoice parse_tool_choice(const Json& body) {
  const std::vector<std::string> names = check_tools(body);
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
    if (names.empty()) bad("'tool_choice' requires 'tools' to list at least one function");
    if (tc.mode == ToolChoiceMode::kFunction && std::find(names.begin(), names.end(), tc.function) == names.end())
      bad(fmt::format("tool_choice names the function '{}', which is not in 'tools'", tc.function));
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
