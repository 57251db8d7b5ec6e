#include "commands.h"
namespace tachyon::cli {
void add_generate(CLI::App&, Action&) {}
}  // namespace tachyon::cli
