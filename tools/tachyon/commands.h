// The `tachyon` CLI: each subcommand registers itself on the CLI11 app and sets the action to run.
#pragma once

#include <functional>

#include <CLI/CLI.hpp>

namespace tachyon::cli {

using Action = std::function<int()>;

void add_inspect(CLI::App& app, Action& action);
void add_make_tiny_model(CLI::App& app, Action& action);
void add_logits(CLI::App& app, Action& action);
void add_accuracy(CLI::App& app, Action& action);  // numeric modes against exact
void add_generate(CLI::App& app, Action& action);
void add_bench(CLI::App& app, Action& action);    // speed against bandwidth and GEMM rate
void add_tokenizer_commands(CLI::App& app, Action& action);  // tokenize, detokenize
void add_chat_commands(CLI::App& app, Action& action);       // chat-prompt, parse-completion
void add_serve(CLI::App& app, Action& action);  // the OpenAI-compatible HTTP server

}  // namespace tachyon::cli
