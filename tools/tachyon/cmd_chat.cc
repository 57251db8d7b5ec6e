#include "commands.h"
namespace tachyon::cli {
void add_chat_commands(CLI::App&, Action&) {}
}  // namespace tachyon::cli
