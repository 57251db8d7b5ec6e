// Small helpers shared by the CLI commands: error reporting, token lists, byte views.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "commands.h"
#include "core/status.h"

namespace tachyon::cli {

// Prints "tachyon: error: <message>" on one line and returns 1.
int fail(const Status& st);
// Sets `action` to `fn` when subcommand `c` is chosen.
void action_on(CLI::App* c, Action& action, Action fn);
// "0,12,7" -> ids.
Status parse_token_list(const std::string& text, std::vector<int32_t>* out);
// A JSON array of ids in a file.
Status read_token_file(const std::string& path, std::vector<int32_t>* out);
std::vector<uint8_t> floats_to_bytes(const std::vector<float>& v);

}  // namespace tachyon::cli
