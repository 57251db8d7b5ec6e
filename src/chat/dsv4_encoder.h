// DeepSeek-V4 chat encoder: an OpenAI-style chat-completions request -> the prompt string.
//
// Two steps, mirroring how the reference stack is built:
//   1. map_chat_request (dsv4_request.cc): the OpenAI request -> encoder arguments (thinking mode,
//      drop_thinking, reasoning effort, normalised messages), following vLLM's DeepSeek-V4 chat path
//      with the defaults pinned by the shared chat goldens; bad input is a Status error, never a crash.
//   2. encode_messages (dsv4_encoder.cc): the official encoder's rendering (tool-result merging and
//      ordering, drop-thinking, assistant openers, task tokens, tools and response-format blocks).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "chat/py_json.h"
#include "core/status.h"

namespace tachyon::chat {

enum class ThinkingMode { kChat, kThinking };
enum class ReasoningEffort { kNone, kHigh, kMax };

std::string_view thinking_mode_name(ThinkingMode m);

// An assistant tool call; `arguments` is the parsed JSON object of function.arguments.
struct EncoderToolCall {
  std::string id;
  std::string name;
  Json arguments;
};

// One part of a merged user turn: user text or a tool result.
struct ContentBlock {
  bool is_tool_result = false;
  std::string text;         // the text, or the tool message's content
  std::string tool_use_id;  // tool results: the tool message's tool_call_id
};

// A message as the official encoder sees it.
struct EncoderMessage {
  std::string role;  // system, developer, user, assistant, tool, latest_reminder
  std::string content;
  std::vector<ContentBlock> blocks;  // user turns after merging (content_blocks)
  std::string reasoning_content;
  std::vector<EncoderToolCall> tool_calls;
  Json tools = nullptr;            // array of function objects, or null
  Json response_format = nullptr;  // rendered when truthy
  std::optional<std::string> task;
  std::string tool_call_id;
};

struct EncoderArgs {
  std::vector<EncoderMessage> messages;
  ThinkingMode thinking_mode = ThinkingMode::kChat;
  bool drop_thinking = true;
  ReasoningEffort reasoning_effort = ReasoningEffort::kNone;
};

// Step 1: request body -> encoder arguments (the README's mapping rules).
Result<EncoderArgs> map_chat_request(const Json& request);
// Step 2: the official encode_messages.
Result<std::string> encode_messages(const EncoderArgs& args);

struct ChatPrompt {
  std::string prompt;
  ThinkingMode thinking_mode = ThinkingMode::kChat;  // what the completion parser needs
};
Result<ChatPrompt> encode_chat_request(const Json& request);
// Same, from the request's JSON text (parsed with parse_json_exact).
Result<ChatPrompt> encode_chat_request_text(std::string_view request_json);

}  // namespace tachyon::chat
