// `tool_choice` of /v1/chat/completions, with vLLM's meanings:
//   "none"      the model is not offered the tools (they are left out of the prompt) and its output is
//               not parsed for tool calls: DSML it writes anyway stays content;
//   "auto"      the default: the model decides, and its DSML tool calls are parsed;
//   "required"  the output is forced to open a DSML tool-call block; the model picks the function and
//               writes the arguments;
//   {"type": "function", "function": {"name": "X"}}  the block and X's invoke opening are forced; the
//               model writes the arguments.
// Forcing is a token prefix (runtime::GenerationParams::prefix_tokens): the first generated tokens are
// the opening markup, then sampling continues. There is no constrained decoding, so the arguments are
// not checked against the schema and the model may still write a malformed block. In thinking mode the
// forced text starts with </think>, so a forced call comes without reasoning.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "chat/dsv4_encoder.h"
#include "server/api_error.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::server {

enum class ToolChoiceMode : uint8_t { kNone, kAuto, kRequired, kFunction };

struct ToolChoice {
  ToolChoiceMode mode = ToolChoiceMode::kAuto;
  std::string function;  // kFunction: the function's name
};

// Checks the request's `tools` and returns their function names. Throws a 400 naming the field
// (param "tools[i].function.name" and so on) for a list or tool of the wrong shape, a type other than
// "function", a missing or empty name, a name with a quote (a DSML invoke cannot carry it), a name
// used twice, `parameters` that is not an object, a `description` that is not a string, and
// `strict: true` (schema-exact arguments need constrained decoding).
std::vector<std::string> check_tools(const Json& body);

// Checks `tools` (check_tools), then reads `tool_choice` (absent or null: auto) and checks it against
// them. Throws a 400 with param "tool_choice" for a value of the wrong type or shape, for "required"
// or a named function without tools, and for a function name that no tool has.
ToolChoice parse_tool_choice(const Json& body);

// The text a forced call starts with: "" for none and auto.
std::string forced_tool_call_text(const ToolChoice& choice, chat::ThinkingMode mode);

// Token ids for the start of `text`, split as the tokenizer splits a text that goes on with
// `continuation` (the model saw its markup tokenized in context, and a prefix tokenized alone may end
// in a token that context never has): the longest run of whole tokens of encode(text + continuation)
// that stays inside `text`.
std::vector<int32_t> forced_prefix_tokens(const tok::Tokenizer& tokenizer, std::string_view text,
                                          std::string_view continuation);

// forced_prefix_tokens for a tool choice: empty for none and auto.
std::vector<int32_t> tool_choice_prefix_tokens(const tok::Tokenizer& tokenizer, const ToolChoice& choice,
                                               chat::ThinkingMode mode);

}  // namespace tachyon::server
