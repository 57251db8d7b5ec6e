// OpenAI chat-completions request -> DeepSeek-V4 encoder arguments.
//
// Follows vLLM's DeepSeek-V4 chat path (content flattening, field pass-through, request-level tools on
// the leading system/developer message) with the defaults pinned by the shared chat goldens: chat mode
// unless thinking is requested, reasoning_effort none/max/xhigh/other, drop_thinking from
// chat_template_kwargs. Flags use Python truthiness, as the reference does. Anything malformed is
// reported as a Status naming the field (messages[2].tool_calls[0].function.arguments: ...).
#include <algorithm>

#include "chat/dsv4_encoder.h"

namespace tachyon::chat {
namespace {

constexpr std::string_view kRoles[] = {"system", "developer", "user", "assistant", "tool", "latest_reminder"};

std::string type_name(const Json& j) {
  if (is_big_int(j)) return "number";
  return j.type_name();
}

// Message content: a string, null/absent (""), or a list of text parts joined with "\n".
Result<std::string> content_text(const Json& m, const std::string& where) {
  const auto it = m.find("content");
  if (it == m.end() || it->is_null()) return std::string();
  if (it->is_string()) return it->get<std::string>();
  if (!it->is_array())
    return error("{}.content: expected a string, null or an array of text parts, got {}", where, type_name(*it));
  std::string out;
  for (size_t k = 0; k < it->size(); ++k) {
    const Json& part = (*it)[k];
    std::string text;
    if (part.is_string()) {
      text = part.get<std::string>();
    } else if (part.is_object()) {
      const auto type = part.find("type");
      if (type != part.end() && !(type->is_string() && type->get<std::string>() == "text")) {
        return error("{}.content[{}]: unsupported content part type {} (only text parts are supported)", where,
                     k, type->is_string() ? "'" + type->get<std::string>() + "'" : type_name(*type));
      }
      const auto t = part.find("text");
      if (t == part.end() || !t->is_string()) return error("{}.content[{}].text: expected a string", where, k);
      text = t->get<std::string>();
    } else {
      return error("{}.content[{}]: expected a text part object, got {}", where, k, type_name(part));
    }
    if (k > 0) out += '\n';
    out += text;
  }
  return out;
}

// OpenAI tool list -> the list of function objects the encoder renders.
Result<Json> function_list(const Json& tools, const std::string& where) {
  if (tools.is_null()) return Json(nullptr);
  if (!tools.is_array()) return error("{}: expected an array of tools, got {}", where, type_name(tools));
  Json out = Json::array();
  for (size_t k = 0; k < tools.size(); ++k) {
    const Json& t = tools[k];
    if (!t.is_object()) return error("{}[{}]: expected a tool object, got {}", where, k, type_name(t));
    const auto fn = t.find("function");
    if (fn == t.end() || !fn->is_object()) return error("{}[{}].function: expected an object", where, k);
    const auto name = fn->find("name");
    if (name == fn->end() || !name->is_string()) return error("{}[{}].function.name: expected a string", where, k);
    out.push_back(*fn);
  }
  return out;
}

Result<std::string> optional_string(const Json& m, const char* key, const std::string& where) {
  const auto it = m.find(key);
  if (it == m.end() || it->is_null()) return std::string();
  if (!it->is_string()) return error("{}.{}: expected a string, got {}", where, key, type_name(*it));
  return it->get<std::string>();
}

Result<std::vector<EncoderToolCall>> tool_calls_of(const Json& m, const std::string& where) {
  std::vector<EncoderToolCall> calls;
  const auto it = m.find("tool_calls");
  if (it == m.end() || it->is_null()) return calls;
  if (!it->is_array()) return error("{}.tool_calls: expected an array, got {}", where, type_name(*it));
  for (size_t k = 0; k < it->size(); ++k) {
    const Json& tc = (*it)[k];
    const std::string at = fmt::format("{}.tool_calls[{}]", where, k);
    if (!tc.is_object()) return error("{}: expected an object, got {}", at, type_name(tc));
    const auto fn = tc.find("function");
    if (fn == tc.end() || !fn->is_object()) return error("{}.function: expected an object", at);
    EncoderToolCall call;
    const auto name = fn->find("name");
    if (name == fn->end() || !name->is_string()) return error("{}.function.name: expected a string", at);
    call.name = name->get<std::string>();
    TACHYON_ASSIGN_OR_RETURN(call.id, optional_string(tc, "id", at));
    if (call.id.empty()) {
      TACHYON_ASSIGN_OR_RETURN(call.id, optional_string(*fn, "id", at + ".function"));
    }
    const auto args = fn->find("arguments");
    if (args == fn->end() || !args->is_string())
      return error("{}.function.arguments: expected a JSON object encoded as a string", at);
    auto parsed = parse_json_exact(args->get<std::string>());
    if (!parsed.is_ok()) return parsed.status().with_context(at + ".function.arguments");
    if (!parsed->is_object())
      return error("{}.function.arguments: expected a JSON object, got {}", at, type_name(*parsed));
    call.arguments = std::move(parsed).value();
    calls.push_back(std::move(call));
  }
  return calls;
}

Result<EncoderMessage> convert_message(const Json& m, size_t index) {
  const std::string where = fmt::format("messages[{}]", index);
  if (!m.is_object()) return error("{}: expected an object, got {}", where, type_name(m));
  const auto role = m.find("role");
  if (role == m.end() || !role->is_string()) return error("{}.role: expected a string", where);
  EncoderMessage msg;
  msg.role = role->get<std::string>();
  if (std::find(std::begin(kRoles), std::end(kRoles), msg.role) == std::end(kRoles))
    return error("{}.role: unknown role '{}'", where, msg.role);
  TACHYON_ASSIGN_OR_RETURN(msg.content, content_text(m, where));
  const auto task = m.find("task");
  if (task != m.end() && !task->is_null()) {
    if (!task->is_string()) return error("{}.task: expected a string, got {}", where, type_name(*task));
    msg.task = task->get<std::string>();
  }
  if (msg.role == "assistant") {
    TACHYON_ASSIGN_OR_RETURN(msg.reasoning_content, optional_string(m, "reasoning_content", where));
    const auto rc = m.find("reasoning_content");
    if (rc == m.end() || rc->is_null()) {  // vLLM's name for the same field
      TACHYON_ASSIGN_OR_RETURN(msg.reasoning_content, optional_string(m, "reasoning", where));
    }
    TACHYON_ASSIGN_OR_RETURN(msg.tool_calls, tool_calls_of(m, where));
  } else if (msg.role == "tool") {
    TACHYON_ASSIGN_OR_RETURN(msg.tool_call_id, optional_string(m, "tool_call_id", where));
  }
  if (msg.role == "developer") {
    const auto tools = m.find("tools");
    if (tools != m.end()) {
      TACHYON_ASSIGN_OR_RETURN(msg.tools, function_list(*tools, where + ".tools"));
    }
  }
  if (msg.role == "system" || msg.role == "developer") {
    const auto rf = m.find("response_format");
    if (rf != m.end()) msg.response_format = *rf;
  }
  return msg;
}

// A tool message must answer the assistant tool calls right before it (other tool messages aside);
// a tool_call_id, when given, must name one of those calls.
Status check_tool_messages(const std::vector<EncoderMessage>& msgs) {
  const EncoderMessage* caller = nullptr;
  for (size_t i = 0; i < msgs.size(); ++i) {
    const EncoderMessage& m = msgs[i];
    if (m.role != "tool") {
      caller = (m.role == "assistant" && !m.tool_calls.empty()) ? &m : nullptr;
      continue;
    }
    if (caller == nullptr)
      return error("messages[{}]: a tool message must follow an assistant message with tool_calls", i);
    if (m.tool_call_id.empty()) continue;
    bool any_id = false, found = false;
    for (const auto& tc : caller->tool_calls) {
      any_id |= !tc.id.empty();
      found |= tc.id == m.tool_call_id;
    }
    if (any_id && !found)
      return error("messages[{}].tool_call_id: '{}' matches no tool call of the preceding assistant message", i,
                   m.tool_call_id);
  }
  return Status::ok();
}

}  // namespace

std::string_view thinking_mode_name(ThinkingMode m) { return m == ThinkingMode::kThinking ? "thinking" : "chat"; }

Result<EncoderArgs> map_chat_request(const Json& request) {
  if (!request.is_object()) return error("request: expected a JSON object, got {}", type_name(request));
  EncoderArgs args;

  // Thinking mode and drop_thinking from chat_template_kwargs (absent -> chat, drop).
  bool thinking = false;
  if (const auto kw = request.find("chat_template_kwargs"); kw != request.end() && !kw->is_null()) {
    if (!kw->is_object()) return error("chat_template_kwargs: expected an object, got {}", type_name(*kw));
    for (const char* key : {"thinking", "enable_thinking"})
      if (const auto v = kw->find(key); v != kw->end()) thinking |= py_truthy(*v);
    if (const auto v = kw->find("drop_thinking"); v != kw->end()) args.drop_thinking = py_truthy(*v);
  }
  args.thinking_mode = thinking ? ThinkingMode::kThinking : ThinkingMode::kChat;

  // reasoning_effort: none -> chat; max/xhigh -> max; any other string -> high; not a string -> default.
  const auto effort = request.find("reasoning_effort");
  if (effort == request.end() || !effort->is_string()) {
    args.reasoning_effort = thinking ? ReasoningEffort::kHigh : ReasoningEffort::kNone;
  } else {
    const std::string e = effort->get<std::string>();
    if (e == "none") {
      args.thinking_mode = ThinkingMode::kChat;
      args.reasoning_effort = ReasoningEffort::kNone;
    } else if (e == "max" || e == "xhigh") {
      args.reasoning_effort = ReasoningEffort::kMax;
    } else {
      args.reasoning_effort = ReasoningEffort::kHigh;
    }
  }

  const auto messages = request.find("messages");
  if (messages == request.end() || !messages->is_array())
    return Status::error("messages: expected an array of messages");
  if (messages->empty()) return Status::error("messages: at least one message is required");
  for (size_t i = 0; i < messages->size(); ++i) {
    TACHYON_ASSIGN_OR_RETURN(EncoderMessage msg, convert_message((*messages)[i], i));
    args.messages.push_back(std::move(msg));
  }
  TACHYON_RETURN_IF_ERROR(check_tool_messages(args.messages));

  // Request-level tools go on a leading system/developer message, or on a new empty system message.
  if (const auto tools = request.find("tools"); tools != request.end()) {
    TACHYON_ASSIGN_OR_RETURN(Json fns, function_list(*tools, "tools"));
    if (fns.is_array() && !fns.empty()) {
      EncoderMessage& head = args.messages.front();
      if (head.role == "system" || head.role == "developer") {
        head.tools = std::move(fns);
      } else {
        EncoderMessage sys;
        sys.role = "system";
        sys.tools = std::move(fns);
        args.messages.insert(args.messages.begin(), std::move(sys));
      }
    }
  }
  return args;
}

Result<ChatPrompt> encode_chat_request(const Json& request) {
  TACHYON_ASSIGN_OR_RETURN(EncoderArgs args, map_chat_request(request));
  ChatPrompt out;
  out.thinking_mode = args.thinking_mode;
  TACHYON_ASSIGN_OR_RETURN(out.prompt, encode_messages(args));
  return out;
}

Result<ChatPrompt> encode_chat_request_text(std::string_view request_json) {
  auto request = parse_json_exact(request_json);
  if (!request.is_ok()) return request.status().with_context("request");
  return encode_chat_request(*request);
}

}  // namespace tachyon::chat
