#include "commands.h"
namespace tachyon::cli {
void add_tokenizer_commands(CLI::App&, Action&) {}
}  // namespace tachyon::cli
