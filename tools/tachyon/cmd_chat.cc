// tachyon chat-prompt / parse-completion: the DeepSeek-V4 chat encoder and completion parser as
// line-oriented filters, for checking them against other implementations.
//
//   chat-prompt --jsonl        {"request": {...}}                          -> {"prompt": "..."}
//                              (with --tokenizer also "prompt_ids": the prompt's token ids)
//   parse-completion --jsonl   {"thinking_mode", "tools", "text"}          -> {"reasoning_content",
//                                                                              "content", "tool_calls"}
// parse-completion calls only the functions in "tools", as the server does (completion_parser.h R10):
// without tools the DSML stays content, and an invoke of another function comes back as content.
// One output line per input line, in order. A bad line stops the command with a one-line error on
// stderr and exit status 1. Without --jsonl, chat-prompt reads one request body from stdin and writes
// the bare prompt.
#include <iostream>
#include <iterator>
#include <sstream>

#include "chat/completion_parser.h"
#include "chat/dsv4_encoder.h"
#include "cli_util.h"
#include "commands.h"
#include "tokenizer/tokenizer.h"

namespace tachyon::cli {
namespace {

using chat::Json;

void write_line(const Json& j) {
  std::cout << j.dump(-1, ' ', false, Json::error_handler_t::replace) << '\n';
}

Result<std::string> chat_prompt_line(const std::string& line) {
  TACHYON_ASSIGN_OR_RETURN(Json in, chat::parse_json_exact(line));
  if (!in.is_object() || !in.contains("request")) return Status::error("expected an object with a \"request\" field");
  TACHYON_ASSIGN_OR_RETURN(chat::ChatPrompt p, chat::encode_chat_request(in["request"]));
  return std::move(p.prompt);
}

Result<chat::ParsedCompletion> parse_completion_line(const std::string& line) {
  TACHYON_ASSIGN_OR_RETURN(Json in, chat::parse_json_exact(line));
  if (!in.is_object()) return Status::error("expected a JSON object");
  chat::ThinkingMode mode = chat::ThinkingMode::kChat;
  if (const auto m = in.find("thinking_mode"); m != in.end() && !m->is_null()) {
    if (!m->is_string() || (*m != "chat" && *m != "thinking"))
      return Status::error("thinking_mode: expected \"chat\" or \"thinking\"");
    if (*m == "thinking") mode = chat::ThinkingMode::kThinking;
  }
  const auto text = in.find("text");
  if (text == in.end() || !text->is_string()) return Status::error("text: expected a string");
  const auto tools = in.find("tools");
  const Json no_tools = nullptr;
  if (tools != in.end() && !tools->is_null() && !tools->is_array())
    return Status::error("tools: expected an array of tools");
  return chat::parse_completion(text->get<std::string>(), mode, tools == in.end() ? no_tools : *tools);
}

// Runs `fn` on each non-empty stdin line; stops at the first failure.
template <typename Fn>
int for_each_line(Fn fn) {
  std::string line;
  for (size_t n = 1; std::getline(std::cin, line); ++n) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    if (Status st = fn(line); !st.is_ok()) {
      std::cout.flush();
      return fail(st.with_context("line " + std::to_string(n)));
    }
  }
  std::cout.flush();
  return 0;
}

}  // namespace

void add_chat_commands(CLI::App& app, Action& action) {
  struct PromptOpts {
    std::string tokenizer;
    bool jsonl = false;
  };
  auto po = std::make_shared<PromptOpts>();
  CLI::App* cp = app.add_subcommand("chat-prompt", "DeepSeek-V4 prompt of OpenAI chat requests read from stdin");
  cp->add_option("--tokenizer", po->tokenizer, "tokenizer.json (or its folder): also write prompt_ids");
  cp->add_flag("--jsonl", po->jsonl, "Read {\"request\": ...} lines, write {\"prompt\": ...} lines");
  action_on(cp, action, [po]() -> int {
    if (!po->jsonl) {
      const std::string body((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
      auto p = chat::encode_chat_request_text(body);
      if (!p.is_ok()) return fail(p.status());
      std::cout << p->prompt;
      std::cout.flush();
      return 0;
    }
    std::unique_ptr<tok::Tokenizer> tokenizer;
    if (!po->tokenizer.empty()) {
      auto t = tok::Tokenizer::load(po->tokenizer);
      if (!t.is_ok()) return fail(t.status());
      tokenizer = std::move(t).value();
    }
    return for_each_line([&tokenizer](const std::string& line) -> Status {
      auto p = chat_prompt_line(line);
      if (!p.is_ok()) return p.status();
      Json out = Json::object();
      out["prompt"] = std::move(p).value();
      if (tokenizer) out["prompt_ids"] = tokenizer->encode(out["prompt"].get_ref<const std::string&>());
      write_line(out);
      return Status::ok();
    });
  });

  auto jsonl = std::make_shared<bool>(false);
  CLI::App* pc = app.add_subcommand("parse-completion",
                                    "Split DeepSeek-V4 generated text into reasoning, content and tool calls");
  pc->add_flag("--jsonl", *jsonl, "Read {\"thinking_mode\", \"tools\", \"text\"} lines (the only input form)");
  // The lambda holds `jsonl`, so the flag's storage lives as long as the app that writes to it.
  action_on(pc, action, [jsonl]() -> int {
    return for_each_line([](const std::string& line) -> Status {
      auto r = parse_completion_line(line);
      if (!r.is_ok()) return r.status();
      Json out = Json::object();
      out["reasoning_content"] = r->reasoning_content;
      out["content"] = r->content;
      out["tool_calls"] = Json::array();
      for (const auto& tc : r->tool_calls) {
        Json call = Json::object();
        call["name"] = tc.name;
        call["arguments"] = tc.arguments;
        out["tool_calls"].push_back(std::move(call));
      }
      write_line(out);
      return Status::ok();
    });
  });
}

}  // namespace tachyon::cli
