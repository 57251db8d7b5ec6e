// The chat-completions response builder (openai_chat.cc): Generation events -> completion parser ->
// a chat.completion object, or chat.completion.chunk SSE events. Declared here so that tests can drive
// it with chosen events.
//
// Streaming follows OpenAI's shapes: a role delta first, then reasoning_content / content deltas, tool
// calls as the parser streams them ({index, id, type, function{name, arguments: ""}} when a call's
// invoke opens, then {index, function{arguments}} fragments as its parameters are parsed), a final
// empty delta with finish_reason, an optional usage chunk with "choices": [], then [DONE]. On
// well-formed DSML the fragments of call i concatenate to the non-streamed arguments of call i byte
// for byte (chat/completion_parser.h lists the malformed cases where they cannot).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "chat/completion_parser.h"
#include "server/route_util.h"

namespace tachyon::server {

class ChatResponder final : public StreamFormatter {
 public:
  // `tools` is the request's tool list: only its functions are called (chat/completion_parser.h R10),
  // and their schemas coerce values. With no tools, or parse_tools false (tool_choice "none"), DSML in
  // the output stays content.
  ChatResponder(ServerContext& ctx, const RequestParams& p, chat::ThinkingMode mode, const Json& tools,
                bool parse_tools);

  // Applies a batch of events; for streaming, appends the chunks they produce to `out`.
  void apply(std::vector<ChoiceEvent>& events, std::string* out);

  void on_start(std::string* out) override;
  void on_events(std::vector<ChoiceEvent>& events, std::string* out) override { apply(events, out); }
  void on_end(std::string* out) override;

  // The non-streamed chat.completion object.
  Json response() const;
  // The error of the first choice that did not finish normally (cancelled, engine error), if any.
  std::optional<ApiError> failure() const;

 private:
  struct Choice {
    Choice(chat::ThinkingMode mode, const Json& tools, bool parse_tools) : parser(mode, tools, parse_tools) {}
    chat::CompletionParser parser;
    Json logprobs = Json::array();   // entries not sent yet (stream) or all (non-stream)
    std::vector<std::string> stream_ids;  // ids of the streamed tool calls
    runtime::FinishReason reason = runtime::FinishReason::kNone;
    std::string error;  // the engine's message when reason is kError
    TokenCounts counts;
    int64_t reasoning_tokens = 0;
  };

  Json chunk(size_t index, Json delta, Json logprobs, Json finish) const;
  Json logprobs_json(const Json& entries) const;
  Json take_logprobs(Choice& c) const;
  void stream_delta(size_t index, Choice& c, const chat::ParseDelta& d, std::string* out);
  void stream_finish(size_t index, Choice& c, std::string* out);
  Json usage() const;

  ServerContext& ctx_;
  RequestParams p_;
  std::string id_;
  int64_t created_;
  std::vector<Choice> choices_;
};

}  // namespace tachyon::server
