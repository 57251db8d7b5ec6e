// Incremental DeepSeek-V4 completion parser: generated text -> reasoning_content, content, tool_calls.
//
// Feed it the generated text in pieces of any size (token texts, byte chunks split inside UTF-8
// characters or markers); it returns what has become final after each piece, so a server can stream
// it, and the final result is the same for every chunking. Rules (chat README R1-R9):
//   R1 the message ends at the first <｜end▁of▁sentence｜>;
//   R2-R4 thinking mode: an echoed <think> is removed with whatever precedes it; reasoning ends at the
//      first </think>, or at a tool-call block (minus one "\n\n" before it); with neither, all is
//      reasoning;
//   R5-R7 tool calls come from complete <｜DSML｜tool_calls> blocks (see dsml_args.h for values);
//   R8 with a call, content is the text before the first block less one trailing "\n\n";
//   R9 without a complete call, all of the text after the reasoning stays content, markup included.
// Markup never leaks: any suffix that could still become a marker is held back until disambiguated.
//
// Streaming contract: content and reasoning deltas are never retracted. Tool calls are released
// whole (name and complete arguments) when their block closes, because until then R9 may still turn
// the block into content. One exception: if an echoed <think> arrives after reasoning text has been
// streamed, the final result drops that text (R2) while the stream already sent it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/dsml_args.h"
#include "chat/dsv4_encoder.h"

namespace tachyon::chat {

struct ParsedToolCall {
  std::string name;
  std::string arguments;  // a JSON object, as a string
};

struct ParsedCompletion {
  std::string reasoning_content;
  std::string content;
  std::vector<ParsedToolCall> tool_calls;
};

struct ToolCallDelta {
  size_t index = 0;  // position in the final tool_calls list
  ParsedToolCall call;
};

// What became final during one feed()/finish() call.
struct ParseDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
};

class CompletionParser {
 public:
  // `tools` is the request's OpenAI tool list (used only to coerce malformed values); may be null.
  CompletionParser(ThinkingMode mode, const Json& tools);

  ParseDelta feed(std::string_view text);
  // End of generation (EOS already seen, or the stream stopped, e.g. at max_tokens).
  ParseDelta finish();

  // The result so far; complete once finish() was called or EOS was fed.
  const ParsedCompletion& result() const { return result_; }
  bool saw_eos() const { return saw_eos_; }
  bool finished() const { return state_ == State::kDone; }

 private:
  enum class State { kReasoning, kContent, kBlock, kInvoke, kParam, kAfterBlock, kDone };

  void process(ParseDelta& d);
  bool step(ParseDelta& d);  // one transition; false when more input is needed
  bool step_text(ParseDelta& d);
  bool step_markup(ParseDelta& d);
  void finalize(ParseDelta& d);
  void emit_reasoning(std::string_view s, ParseDelta& d);
  void emit_content(std::string_view s, ParseDelta& d);
  void consume(size_t n);  // drops buf_[0, n), keeping it for R9 while no call is parsed
  void release_block(ParseDelta& d);

  State state_;
  ToolSchemas schemas_;
  std::string buf_;        // input not consumed yet
  bool input_ended_ = false;
  bool saw_eos_ = false;
  bool think_open_seen_ = false;  // R2 applies to the first echoed <think> only
  std::string held_;       // text from the first block on, content if no call is ever parsed (R9)
  bool has_calls_ = false;
  std::string invoke_name_;
  std::vector<DsmlParam> invoke_params_;
  DsmlParam param_;
  bool param_valid_ = false;  // the open parameter has a string="true|false" attribute
  std::vector<ParsedToolCall> block_calls_;  // complete invokes of the open block
  ParsedCompletion result_;
};

// Whole-text convenience wrapper.
ParsedCompletion parse_completion(std::string_view text, ThinkingMode mode, const Json& tools);

}  // namespace tachyon::chat
