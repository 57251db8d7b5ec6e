// Incremental DeepSeek-V4 completion parser (see completion_parser.h for the rules and the streaming
// contract).
//
// The parser is a state machine over the unconsumed input `buf_`. Text states (reasoning, content
// before the first tool-call block) emit everything except a suffix that could still grow into a
// marker; markup states (inside blocks) consume text as they scan it, keeping a copy in `held_` so
// that the whole tail can become content if no call is ever parsed (R9). Every decision depends only
// on complete markers, which is what makes the result independent of the chunking. EOS is cut off
// on arrival (R1), so later states never see it.
//
// R10 (only declared functions are called) is decided per invoke, when its tag is complete: a
// declared invoke is streamed at once, an undeclared one never is, and a later invoke cannot change
// either. Making a whole block content because one of its invokes names an unknown function would
// mean holding every call back until its block closes, or retracting calls already streamed; so a
// block that mixes both keeps its declared calls and gives its undeclared invokes, verbatim, to the
// content. A block with no call at all is returned whole. Content is final once a call exists, so
// these pieces go out when their block closes (or, for blocks before the first call, with it).
#include "chat/completion_parser.h"

#include <initializer_list>

#include "chat/dsv4_format.h"

namespace tachyon::chat {
namespace {

using dsv4::kEos;

constexpr std::string_view kSepToolCallsOpen = "\n\n<｜DSML｜tool_calls>";

struct Found {
  size_t pos = std::string::npos;
  std::string_view marker;
  bool ok() const { return pos != std::string::npos; }
};

// Empty markers are skipped (a marker that is switched off).
Found find_first(std::string_view buf, std::initializer_list<std::string_view> markers) {
  Found f;
  for (std::string_view m : markers) {
    if (m.empty()) continue;
    const size_t p = buf.find(m);
    if (p < f.pos) f = {p, m};
  }
  return f;
}

// Length of the longest suffix of `buf` that is a proper prefix of one of `markers`.
size_t holdback(std::string_view buf, std::initializer_list<std::string_view> markers) {
  size_t best = 0;
  for (std::string_view m : markers) {
    if (m.empty()) continue;
    for (size_t k = std::min(buf.size(), m.size() - 1); k > best; --k) {
      if (buf.substr(buf.size() - k) == m.substr(0, k)) {
        best = k;
        break;
      }
    }
  }
  return best;
}

// Moves a cut at `c` back so that it does not split a UTF-8 character.
size_t utf8_safe_cut(std::string_view s, size_t c) {
  size_t k = c, cont = 0;
  while (k > 0 && cont < 3 && (static_cast<unsigned char>(s[k - 1]) & 0xC0) == 0x80) {
    --k;
    ++cont;
  }
  if (k == 0) return c;
  const unsigned char lead = static_cast<unsigned char>(s[k - 1]);
  const size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
  return (need > 1 && cont + 1 < need) ? k - 1 : c;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

enum class Tag { kOk, kIncomplete, kMalformed };

// Reads `name="VALUE"` at s[i]; on success i points past the closing quote.
Tag read_attr(std::string_view s, size_t& i, std::string_view key, std::string* value) {
  const std::string prefix = std::string(key) + "=\"";
  for (char c : prefix) {
    if (i >= s.size()) return Tag::kIncomplete;
    if (s[i++] != c) return Tag::kMalformed;
  }
  const size_t close = s.find('"', i);
  if (close == std::string::npos) return Tag::kIncomplete;
  *value = std::string(s.substr(i, close - i));
  i = close + 1;
  return Tag::kOk;
}

// Skips whitespace; kIncomplete at the end of the buffer, kMalformed if fewer than `min` spaces.
Tag skip_space(std::string_view s, size_t& i, size_t min) {
  const size_t start = i;
  while (i < s.size() && is_space(s[i])) ++i;
  if (i >= s.size()) return Tag::kIncomplete;
  return i - start >= min ? Tag::kOk : Tag::kMalformed;
}

// The rest of `<｜DSML｜invoke`: \s+ name="N" \s* >   (N non-empty). `end` is past the '>'.
Tag parse_invoke_tag(std::string_view s, size_t i, std::string* name, size_t* end) {
  if (Tag t = skip_space(s, i, 1); t != Tag::kOk) return t;
  if (Tag t = read_attr(s, i, "name", name); t != Tag::kOk) return t;
  if (name->empty()) return Tag::kMalformed;
  if (Tag t = skip_space(s, i, 0); t != Tag::kOk) return t;
  if (s[i] != '>') return Tag::kMalformed;
  *end = i + 1;
  return Tag::kOk;
}

// The rest of `<｜DSML｜parameter`: \s+ name="P" [\s+ string="true|false"] \s* >
Tag parse_param_tag(std::string_view s, size_t i, std::string* name, int* is_string, size_t* end) {
  *is_string = -1;  // no string attribute
  if (Tag t = skip_space(s, i, 1); t != Tag::kOk) return t;
  if (Tag t = read_attr(s, i, "name", name); t != Tag::kOk) return t;
  if (name->empty()) return Tag::kMalformed;
  const size_t before = i;
  if (Tag t = skip_space(s, i, 0); t != Tag::kOk) return t;
  if (s[i] != '>') {
    if (i == before) return Tag::kMalformed;
    std::string v;
    if (Tag t = read_attr(s, i, "string", &v); t != Tag::kOk) return t;
    if (v != "true" && v != "false") return Tag::kMalformed;
    *is_string = v == "true" ? 1 : 0;
    if (Tag t = skip_space(s, i, 0); t != Tag::kOk) return t;
    if (s[i] != '>') return Tag::kMalformed;
  }
  *end = i + 1;
  return Tag::kOk;
}

}  // namespace

CompletionParser::CompletionParser(ThinkingMode mode, const Json& tools, bool parse_tools)
    : state_(mode == ThinkingMode::kThinking ? State::kReasoning : State::kContent), schemas_(tools),
      parse_tools_(parse_tools && !schemas_.empty()) {}

ParseDelta CompletionParser::feed(std::string_view text) {
  ParseDelta d;
  if (state_ == State::kDone || input_ended_) return d;
  const size_t old = buf_.size();
  buf_.append(text);
  const size_t eos = buf_.find(kEos, old >= kEos.size() ? old - (kEos.size() - 1) : 0);
  if (eos != std::string::npos) {  // R1: the message ends here
    buf_.resize(eos);
    input_ended_ = true;
    saw_eos_ = true;
  }
  process(d);
  return d;
}

ParseDelta CompletionParser::finish() {
  ParseDelta d;
  if (state_ == State::kDone) return d;
  input_ended_ = true;
  process(d);
  return d;
}

void CompletionParser::process(ParseDelta& d) {
  while (state_ != State::kDone && step(d)) {
  }
  if (input_ended_ && state_ != State::kDone) finalize(d);
}

bool CompletionParser::step(ParseDelta& d) {
  if (state_ == State::kReasoning || state_ == State::kContent) return step_text(d);
  return step_markup(d);
}

void CompletionParser::emit_reasoning(std::string_view s, ParseDelta& d) {
  result_.reasoning_content += s;
  d.reasoning += s;
}

void CompletionParser::emit_content(std::string_view s, ParseDelta& d) {
  result_.content += s;
  d.content += s;
}

void CompletionParser::consume(size_t n) {
  if (!has_calls_) held_.append(buf_, 0, n);
  if (in_block_) block_text_.append(buf_, 0, n);
  if (in_undeclared_) invoke_text_.append(buf_, 0, n);
  buf_.erase(0, n);
}

void CompletionParser::open_block(size_t marker_size) {
  in_block_ = true;
  block_text_.clear();
  block_undeclared_ = false;
  block_extra_.clear();
  consume(marker_size);
  state_ = State::kBlock;
}

bool CompletionParser::step_text(ParseDelta& d) {
  const bool reasoning = state_ == State::kReasoning;
  const std::string_view open = parse_tools_ ? dsv4::kToolCallsOpen : std::string_view();
  const std::string_view sep_open = parse_tools_ ? kSepToolCallsOpen : std::string_view();
  Found f;
  if (!reasoning) f = find_first(buf_, {open});
  else if (think_open_seen_) f = find_first(buf_, {dsv4::kThinkEnd, open});
  else f = find_first(buf_, {dsv4::kThinkEnd, open, dsv4::kThinkStart});

  if (!f.ok()) {
    size_t cut = buf_.size();
    if (!input_ended_) {
      cut -= holdback(buf_, {kEos, dsv4::kThinkEnd, dsv4::kThinkStart, open, sep_open});
      cut = utf8_safe_cut(buf_, cut);
    }
    const std::string_view out(buf_.data(), cut);
    if (reasoning) emit_reasoning(out, d);
    else emit_content(out, d);
    buf_.erase(0, cut);
    return false;
  }
  if (f.marker == dsv4::kThinkEnd) {  // R3: reasoning ends
    emit_reasoning(std::string_view(buf_).substr(0, f.pos), d);
    buf_.erase(0, f.pos + f.marker.size());
    state_ = State::kContent;
    return true;
  }
  if (f.marker == dsv4::kThinkStart) {  // R2: an echoed opener and everything before it go
    result_.reasoning_content.clear();
    buf_.erase(0, f.pos + f.marker.size());
    think_open_seen_ = true;
    return true;
  }
  // A tool-call block starts; one "\n\n" before it belongs to neither reasoning nor content.
  const size_t sep = dsv4::kBlockSeparator.size();
  const size_t q = (f.pos >= sep && buf_.compare(f.pos - sep, sep, dsv4::kBlockSeparator) == 0) ? f.pos - sep : f.pos;
  const std::string_view before(buf_.data(), q);
  if (reasoning) {  // R3: the block ends reasoning; the content part starts at the separator
    emit_reasoning(before, d);
    buf_.erase(0, q);
    state_ = State::kContent;
    return true;
  }
  emit_content(before, d);
  buf_.erase(0, q);
  consume(f.pos - q);
  open_block(f.marker.size());
  return true;
}

bool CompletionParser::step_markup(ParseDelta& d) {
  using namespace dsv4;
  const std::string_view buf = buf_;
  switch (state_) {
    case State::kAfterBlock: {
      const Found f = find_first(buf, {kToolCallsOpen});
      if (!f.ok()) {
        if (!input_ended_) consume(buf.size() - holdback(buf, {kToolCallsOpen, kEos}));
        return false;
      }
      consume(f.pos);
      open_block(f.marker.size());
      return true;
    }
    case State::kBlock: {
      const Found f = find_first(buf, {kInvokeOpen, kToolCallsClose});
      if (!f.ok()) {
        if (!input_ended_) consume(buf.size() - holdback(buf, {kInvokeOpen, kToolCallsClose, kEos}));
        return false;
      }
      if (f.marker == kToolCallsClose) {
        consume(f.pos + f.marker.size());
        release_block(d);
        state_ = State::kAfterBlock;
        return true;
      }
      std::string name;
      size_t end = 0;
      const Tag t = parse_invoke_tag(buf, f.pos + f.marker.size(), &name, &end);
      if (t == Tag::kIncomplete) {  // wait for the rest of the tag
        consume(f.pos);
        return false;
      }
      if (t == Tag::kMalformed) {  // not an invoke: skip the marker as text between tags
        consume(f.pos + f.marker.size());
        return true;
      }
      consume(f.pos);
      invoke_name_ = std::move(name);
      invoke_declared_ = schemas_.declares(invoke_name_);
      if (!invoke_declared_) {  // R10: kept as text, never streamed as a call
        block_undeclared_ = true;
        in_undeclared_ = true;
        invoke_text_.clear();
      }
      consume(end - f.pos);
      invoke_params_.clear();
      state_ = State::kInvoke;
      if (invoke_declared_) stream_invoke_open(d);
      return true;
    }
    case State::kInvoke: {
      const Found f = find_first(buf, {kParamOpen, kInvokeClose, kToolCallsClose, kInvokeOpen});
      if (!f.ok()) {
        if (!input_ended_)
          consume(buf.size() - holdback(buf, {kParamOpen, kInvokeClose, kToolCallsClose, kInvokeOpen, kEos}));
        return false;
      }
      if (f.marker == kInvokeClose) {
        consume(f.pos + f.marker.size());
        if (invoke_declared_) {
          block_calls_.push_back({invoke_name_, dsml_arguments_json(invoke_name_, invoke_params_, schemas_)});
          stream_invoke_close(d, &block_calls_.back().arguments);
        } else {
          end_undeclared_invoke(true);
        }
        state_ = State::kBlock;
        return true;
      }
      if (f.marker == kToolCallsClose) {  // the open invoke was never closed: dropped, whatever its name
        end_undeclared_invoke(false);
        consume(f.pos + f.marker.size());
        stream_invoke_close(d, nullptr);
        release_block(d);
        state_ = State::kAfterBlock;
        return true;
      }
      if (f.marker == kInvokeOpen) {  // a new invoke replaces the unclosed one
        end_undeclared_invoke(false);
        consume(f.pos);
        stream_invoke_close(d, nullptr);
        state_ = State::kBlock;
        return true;
      }
      std::string name;
      int is_string = -1;
      size_t end = 0;
      const Tag t = parse_param_tag(buf, f.pos + f.marker.size(), &name, &is_string, &end);
      if (t == Tag::kIncomplete) {
        consume(f.pos);
        return false;
      }
      if (t == Tag::kMalformed) {
        consume(f.pos + f.marker.size());
        return true;
      }
      consume(end);
      param_ = DsmlParam{std::move(name), "", is_string == 1};
      param_valid_ = is_string >= 0;  // a parameter without a string attribute is ignored
      state_ = State::kParam;
      if (param_valid_) stream_param_open(d);
      return true;
    }
    case State::kParam: {
      const Found f = find_first(buf, {kParamClose});
      if (!f.ok()) {
        if (!input_ended_) {
          const size_t n = buf.size() - holdback(buf, {kParamClose, kEos});
          param_.value.append(buf.substr(0, n));
          consume(n);
          if (param_valid_) stream_param_text(d, false);
        }
        return false;
      }
      param_.value.append(buf.substr(0, f.pos));
      consume(f.pos + f.marker.size());
      if (param_valid_) stream_param_text(d, true);
      if (param_valid_) add_dsml_param(invoke_params_, std::move(param_));
      state_ = State::kInvoke;
      return true;
    }
    default:
      return false;
  }
}

void CompletionParser::release_block(ParseDelta& d) {
  in_block_ = false;
  const bool calls = !block_calls_.empty();
  for (ParsedToolCall& call : block_calls_) {
    d.tool_calls.push_back({result_.tool_calls.size(), call});
    result_.tool_calls.push_back(std::move(call));
  }
  if (calls && !has_calls_) {
    has_calls_ = true;  // R8: content is final; the held tail is dropped
    held_.clear();
    emit_content(pending_extra_, d);  // R10: earlier blocks' undeclared functions
    pending_extra_.clear();
  }
  if (block_undeclared_) {  // R10: the whole block if it has no call, else its undeclared invokes
    const std::string& extra = calls ? block_extra_ : block_text_;
    if (has_calls_) emit_content(extra, d);
    else pending_extra_ += extra;
  }
  block_calls_.clear();
  block_text_.clear();
  block_extra_.clear();
  block_undeclared_ = false;
}

void CompletionParser::end_undeclared_invoke(bool closed) {
  if (!in_undeclared_) return;
  if (closed) block_extra_ += invoke_text_;
  invoke_text_.clear();
  in_undeclared_ = false;
}

void CompletionParser::stream_args(ParseDelta& d, std::string_view fragment) {
  if (fragment.empty()) return;
  stream_args_ += fragment;
  const size_t index = stream_calls_ - 1;
  std::vector<ToolCallChunk>& chunks = d.tool_call_chunks;
  if (!chunks.empty() && chunks.back().index == index && chunks.back().name.empty()) chunks.back().arguments += fragment;
  else chunks.push_back({index, "", std::string(fragment)});
}

void CompletionParser::stream_invoke_open(ParseDelta& d) {
  d.tool_call_chunks.push_back({stream_calls_++, invoke_name_, ""});
  stream_open_ = true;
  stream_args_.clear();
}

void CompletionParser::stream_param_open(ParseDelta& d) {
  if (!stream_open_) return;  // an undeclared invoke (R10)
  for (const DsmlParam& q : invoke_params_)
    if (q.name == param_.name) stream_exact_ = false;  // R7: the stream sends the name a second time
  param_sent_ = 0;
  if (!param_.is_string) return;  // a JSON value goes out whole once its parameter closes
  std::string head = stream_args_.empty() ? "{" : ", ";
  py_quote_to(param_.name, head);
  head += ": \"";
  stream_args(d, head);
}

// A string value goes out as its text arrives, escaped piece by piece: py_quote escapes each character
// on its own, so pieces cut between UTF-8 characters concatenate to the whole value's escaping.
void CompletionParser::stream_param_text(ParseDelta& d, bool closed) {
  if (!stream_open_) return;
  if (!param_.is_string) {
    if (!closed) return;
    std::string member = stream_args_.empty() ? "{" : ", ";
    py_quote_to(param_.name, member);
    member += ": ";
    member += dsml_value_json(invoke_name_, param_, schemas_);
    stream_args(d, member);
    return;
  }
  const std::string_view v = param_.value;
  const size_t cut = closed ? v.size() : utf8_safe_cut(v, v.size());
  if (cut > param_sent_) {
    const std::string q = py_quote(v.substr(param_sent_, cut - param_sent_));
    stream_args(d, std::string_view(q).substr(1, q.size() - 2));
    param_sent_ = cut;
  }
  if (closed) stream_args(d, "\"");
}

void CompletionParser::stream_invoke_close(ParseDelta& d, const std::string* final_args) {
  if (!stream_open_) return;
  stream_args(d, stream_args_.empty() ? "{}" : "}");
  if (!final_args || *final_args != stream_args_) stream_exact_ = false;
  stream_open_ = false;
}

void CompletionParser::finalize(ParseDelta& d) {
  if (stream_open_ || stream_calls_ != result_.tool_calls.size()) stream_exact_ = false;
  if (state_ != State::kReasoning && state_ != State::kContent && !has_calls_) {
    held_ += buf_;  // R9: no call was parsed, so the whole tail is content
    emit_content(held_, d);
  }
  held_.clear();
  buf_.clear();
  block_text_.clear();
  block_extra_.clear();
  invoke_text_.clear();
  pending_extra_.clear();
  state_ = State::kDone;
}

ParsedCompletion parse_completion(std::string_view text, ThinkingMode mode, const Json& tools) {
  CompletionParser p(mode, tools);
  p.feed(text);
  p.finish();
  return p.result();
}

}  // namespace tachyon::chat
