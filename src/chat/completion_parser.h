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
//   R9 without a complete call, all of the text after the reasoning stays content, markup included;
//   R10 only declared functions are called. With tool parsing off or no function in `tools`, DSML is
//      plain text. An invoke naming a function that is not in `tools` is never a call (nor streamed as
//      one); once the output has a call, each closed block that names such a function adds to the
//      content, after the R8 text and in order: the whole block verbatim when it has no call, else its
//      undeclared invokes verbatim (its declared invokes stay calls). Without any call, R9 keeps it all.
// Markup never leaks: any suffix that could still become a marker is held back until disambiguated.
//
// Streaming contract: content and reasoning deltas are never retracted. One exception: if an echoed
// <think> arrives after reasoning text has been streamed, the final result drops that text (R2) while
// the stream already sent it.
//
// Tool calls come two ways. `tool_calls` releases each call whole (name and complete arguments) when
// its block closes, because until then R9 may still turn the block into content. `tool_call_chunks`
// streams them as they are parsed: a call's name once its invoke tag is complete, then its arguments
// JSON in fragments (`{"p": "` when a string parameter opens, its escaped text as it arrives, the
// closing quote, a non-string value once its parameter closes, `}` when the invoke closes). On
// well-formed output the fragments of stream call i concatenate, for any chunking, to
// result().tool_calls[i].arguments byte for byte. The chunks are speculative, and the malformed cases
// where the rules decide later make them differ; tool_stream_exact() then returns false:
//   * R9 (a block that never closes, an invoke that never closes): the stream has sent a call that the
//     result does not have. A dropped invoke gets `}` so its arguments are still a JSON object.
//   * R7 (a repeated parameter name): the stream sends the later value as a second member, which a
//     JSON parser reads as the result's object (the last value wins), but the bytes differ.
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

// A piece of a streamed tool call: the call's first chunk carries its name (and no arguments), later
// chunks carry argument fragments.
struct ToolCallChunk {
  size_t index = 0;  // the call's position among the streamed calls
  std::string name;
  std::string arguments;
};

// What became final during one feed()/finish() call, plus the streamed tool-call chunks.
struct ParseDelta {
  std::string reasoning;
  std::string content;
  std::vector<ToolCallDelta> tool_calls;
  std::vector<ToolCallChunk> tool_call_chunks;
  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty() && tool_call_chunks.empty(); }
};

class CompletionParser {
 public:
  // `tools` is the request's OpenAI tool list: the functions that may be called (R10) and the schemas
  // that coerce malformed values; null or empty means no calls. With parse_tools false (the request's
  // tool_choice is "none") DSML is plain text too.
  CompletionParser(ThinkingMode mode, const Json& tools, bool parse_tools = true);

  ParseDelta feed(std::string_view text);
  // End of generation (EOS already seen, or the stream stopped, e.g. at max_tokens).
  ParseDelta finish();

  // The result so far; complete once finish() was called or EOS was fed.
  const ParsedCompletion& result() const { return result_; }
  bool saw_eos() const { return saw_eos_; }
  bool finished() const { return state_ == State::kDone; }
  // False once the streamed tool-call chunks can no longer match result() (see above).
  bool tool_stream_exact() const { return stream_exact_; }

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
  void open_block(size_t marker_size);  // consumes a block opener at the start of buf_
  void release_block(ParseDelta& d);
  void end_undeclared_invoke(bool closed);
  // Streamed tool-call chunks.
  void stream_args(ParseDelta& d, std::string_view fragment);
  void stream_invoke_open(ParseDelta& d);
  void stream_param_open(ParseDelta& d);
  void stream_param_text(ParseDelta& d, bool closed);
  void stream_invoke_close(ParseDelta& d, const std::string* final_args);

  State state_;
  ToolSchemas schemas_;
  std::string buf_;        // input not consumed yet
  bool input_ended_ = false;
  bool saw_eos_ = false;
  bool think_open_seen_ = false;  // R2 applies to the first echoed <think> only
  std::string held_;       // text from the first block on, content if no call is ever parsed (R9)
  bool has_calls_ = false;
  std::string invoke_name_;
  bool invoke_declared_ = false;  // the open invoke names a function of `tools`
  // R10: the open block's text (from its opener), whether it named an undeclared function, the text of
  // its undeclared invokes, the open undeclared invoke's text, and, before the first call, what closed
  // blocks would add to the content once there is one.
  std::string block_text_;
  bool block_undeclared_ = false;
  std::string block_extra_;
  std::string invoke_text_;
  bool in_block_ = false;
  bool in_undeclared_ = false;
  std::string pending_extra_;
  std::vector<DsmlParam> invoke_params_;
  DsmlParam param_;
  bool param_valid_ = false;  // the open parameter has a string="true|false" attribute
  std::vector<ParsedToolCall> block_calls_;  // complete invokes of the open block
  ParsedCompletion result_;
  bool parse_tools_ = true;
  size_t stream_calls_ = 0;    // tool calls begun in the stream
  bool stream_open_ = false;   // the stream's last call is still receiving arguments
  std::string stream_args_;    // what the stream sent as that call's arguments
  size_t param_sent_ = 0;      // bytes of a string parameter's value already streamed
  bool stream_exact_ = true;
};

// Whole-text convenience wrapper.
ParsedCompletion parse_completion(std::string_view text, ThinkingMode mode, const Json& tools);

}  // namespace tachyon::chat
