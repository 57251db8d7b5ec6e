// DeepSeek-V4 prompt rendering: the behaviour of the official encoder's encode_messages (spec §5,
// chat README "Encoder behaviour").
//
// Order of work, as in the reference:
//   1. merge tool messages (and a user message that follows them, or any user message after a user
//      turn without a task) into one user turn of content blocks;
//   2. sort each turn's tool results into the order of the preceding assistant's tool_calls;
//   3. in thinking mode with drop_thinking (off whenever any message carries tools), drop reasoning
//      from assistant turns and delete developer messages before the last user/developer message;
//   4. render each message, then the transition after it (assistant opener or task token).
#include <algorithm>

#include "chat/dsv4_encoder.h"
#include "chat/dsv4_format.h"

namespace tachyon::chat {
namespace {

bool is_user_like(const EncoderMessage& m) { return m.role == "user" || m.role == "developer"; }

std::vector<EncoderMessage> merge_tool_messages(const std::vector<EncoderMessage>& in) {
  std::vector<EncoderMessage> out;
  for (const EncoderMessage& m : in) {
    const bool prev_is_merged_user = !out.empty() && out.back().role == "user" && !out.back().blocks.empty();
    if (m.role == "tool") {
      ContentBlock b{true, m.content, m.tool_call_id};
      if (prev_is_merged_user) {
        out.back().blocks.push_back(std::move(b));
      } else {
        EncoderMessage u;
        u.role = "user";
        u.blocks.push_back(std::move(b));
        out.push_back(std::move(u));
      }
    } else if (m.role == "user") {
      ContentBlock b{false, m.content, ""};
      if (prev_is_merged_user && !out.back().task) {
        out.back().blocks.push_back(std::move(b));
      } else {
        EncoderMessage u;
        u.role = "user";
        u.content = m.content;
        u.blocks.push_back(std::move(b));
        u.task = m.task;
        out.push_back(std::move(u));
      }
    } else {
      out.push_back(m);
    }
  }
  return out;
}

void sort_tool_results(std::vector<EncoderMessage>& msgs) {
  std::vector<std::pair<std::string, size_t>> order;  // tool_call id -> position in the last call list
  for (EncoderMessage& m : msgs) {
    if (m.role == "assistant" && !m.tool_calls.empty()) {
      order.clear();
      for (size_t k = 0; k < m.tool_calls.size(); ++k)
        if (!m.tool_calls[k].id.empty()) order.emplace_back(m.tool_calls[k].id, k);
      continue;
    }
    if (m.role != "user" || order.empty()) continue;
    std::vector<size_t> slots;
    for (size_t k = 0; k < m.blocks.size(); ++k)
      if (m.blocks[k].is_tool_result) slots.push_back(k);
    if (slots.size() < 2) continue;
    const auto rank = [&](const ContentBlock& b) -> size_t {
      size_t r = 0;
      bool seen = false;
      for (const auto& [id, pos] : order)  // a repeated id ranks by its last position, like a dict
        if (id == b.tool_use_id) r = pos, seen = true;
      return seen ? r : 0;
    };
    std::vector<ContentBlock> tool_blocks;
    for (size_t k : slots) tool_blocks.push_back(m.blocks[k]);
    std::stable_sort(tool_blocks.begin(), tool_blocks.end(),
                     [&](const ContentBlock& a, const ContentBlock& b) { return rank(a) < rank(b); });
    for (size_t k = 0; k < slots.size(); ++k) m.blocks[slots[k]] = std::move(tool_blocks[k]);
  }
}

long last_user_index(const std::vector<EncoderMessage>& msgs) {
  for (size_t i = msgs.size(); i-- > 0;)
    if (is_user_like(msgs[i])) return long(i);
  return -1;
}

std::vector<EncoderMessage> drop_thinking_messages(std::vector<EncoderMessage> msgs) {
  const long last_user = last_user_index(msgs);
  std::vector<EncoderMessage> out;
  for (size_t i = 0; i < msgs.size(); ++i) {
    EncoderMessage& m = msgs[i];
    const bool keep_role = m.role == "user" || m.role == "system" || m.role == "tool" || m.role == "latest_reminder";
    if (keep_role || long(i) >= last_user) {
      out.push_back(std::move(m));
    } else if (m.role == "assistant") {
      m.reasoning_content.clear();
      out.push_back(std::move(m));
    }  // developer messages before the last user turn are dropped
  }
  return out;
}

std::string render_tools(const Json& functions) {
  std::string out(dsv4::kToolsPreamble);
  bool first = true;
  for (const Json& fn : functions) {
    if (!first) out += '\n';
    first = false;
    py_dumps_to(fn, out);
  }
  out += dsv4::kToolsPostamble;
  return out;
}

// The "\n\n## Tools..." and "\n\n## Response Format..." blocks of a system or developer message.
void append_blocks(const EncoderMessage& m, std::string& out) {
  if (m.tools.is_array() && !m.tools.empty()) {
    out += "\n\n";
    out += render_tools(m.tools);
  }
  if (py_truthy(m.response_format)) {
    out += "\n\n";
    out += dsv4::kResponseFormatPreamble;
    py_dumps_to(m.response_format, out);
  }
}

void append_tool_calls(const std::vector<EncoderToolCall>& calls, std::string& out) {
  if (calls.empty()) return;
  out += dsv4::kBlockSeparator;
  out += dsv4::kToolCallsOpen;
  out += '\n';
  for (size_t k = 0; k < calls.size(); ++k) {
    if (k > 0) out += '\n';
    out += dsv4::kInvokeOpen;
    out += " name=\"" + calls[k].name + "\">\n";
    bool first = true;
    for (const auto& [key, value] : calls[k].arguments.items()) {
      if (!first) out += '\n';
      first = false;
      out += dsv4::kParamOpen;
      out += " name=\"" + key + "\" string=\"" + (value.is_string() ? "true" : "false") + "\">";
      if (value.is_string()) out += value.get_ref<const std::string&>();
      else py_dumps_to(value, out);
      out += dsv4::kParamClose;
    }
    out += '\n';
    out += dsv4::kInvokeClose;
  }
  out += '\n';
  out += dsv4::kToolCallsClose;
}

Status render_message(size_t index, const std::vector<EncoderMessage>& msgs, const EncoderArgs& args,
                      bool drop_thinking, std::string& out) {
  const EncoderMessage& m = msgs[index];
  const bool thinking = args.thinking_mode == ThinkingMode::kThinking;
  const long last_user = last_user_index(msgs);

  if (index == 0 && thinking && args.reasoning_effort == ReasoningEffort::kMax) out += dsv4::kEffortMaxPreamble;

  if (m.role == "system") {
    out += m.content;
    append_blocks(m, out);
  } else if (m.role == "developer") {
    if (m.content.empty()) return error("a developer message needs non-empty content");
    out += dsv4::kUser;
    out += m.content;
    append_blocks(m, out);
  } else if (m.role == "user") {
    out += dsv4::kUser;
    if (m.blocks.empty()) {
      out += m.content;
    } else {
      for (size_t k = 0; k < m.blocks.size(); ++k) {
        if (k > 0) out += "\n\n";
        const ContentBlock& b = m.blocks[k];
        if (b.is_tool_result) out += "<tool_result>" + b.text + "</tool_result>";
        else out += b.text;
      }
    }
  } else if (m.role == "latest_reminder") {
    out += dsv4::kLatestReminder;
    out += m.content;
  } else if (m.role == "assistant") {
    // A turn that answers a task (the previous message has one) carries no thinking part.
    const bool prev_has_task = index > 0 && msgs[index - 1].task.has_value();
    if (thinking && !prev_has_task && (!drop_thinking || long(index) > last_user)) {
      out += m.reasoning_content;
      out += dsv4::kThinkEnd;
    }
    out += m.content;
    append_tool_calls(m.tool_calls, out);
    out += dsv4::kEos;
  } else {
    return error("unexpected role '{}' after merging tool messages", m.role);
  }

  // What follows the message: nothing if the next one is not an assistant/latest_reminder turn.
  if (index + 1 < msgs.size() && msgs[index + 1].role != "assistant" && msgs[index + 1].role != "latest_reminder")
    return Status::ok();
  if (m.task) {
    const auto* it = std::find_if(std::begin(dsv4::kTaskTokens), std::end(dsv4::kTaskTokens),
                                  [&](const dsv4::TaskToken& t) { return t.task == *m.task; });
    if (it == std::end(dsv4::kTaskTokens))
      return error("invalid task '{}' (valid: action, query, authority, domain, title, read_url)", *m.task);
    if (it->task != "action") {
      out += it->token;
    } else {
      out += dsv4::kAssistant;
      out += thinking ? dsv4::kThinkStart : dsv4::kThinkEnd;
      out += it->token;
    }
  } else if (is_user_like(m)) {
    out += dsv4::kAssistant;
    const bool open_thinking = thinking && (!drop_thinking || long(index) >= last_user);
    out += open_thinking ? dsv4::kThinkStart : dsv4::kThinkEnd;
  }
  return Status::ok();
}

}  // namespace

Result<std::string> encode_messages(const EncoderArgs& args) {
  std::vector<EncoderMessage> msgs = merge_tool_messages(args.messages);
  sort_tool_results(msgs);

  bool drop_thinking = args.drop_thinking;
  for (const EncoderMessage& m : msgs)
    if (m.tools.is_array() && !m.tools.empty()) drop_thinking = false;
  if (args.thinking_mode == ThinkingMode::kThinking && drop_thinking) msgs = drop_thinking_messages(std::move(msgs));

  std::string out(dsv4::kBos);
  for (size_t i = 0; i < msgs.size(); ++i) {
    Status st = render_message(i, msgs, args, drop_thinking, out);
    if (!st.is_ok()) return st.with_context(fmt::format("encoding message {} ({})", i, msgs[i].role));
  }
  return out;
}

}  // namespace tachyon::chat
