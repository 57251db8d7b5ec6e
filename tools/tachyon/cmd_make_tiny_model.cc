#include "commands.h"
namespace tachyon::cli {
void add_make_tiny_model(CLI::App&, Action&) {}
}  // namespace tachyon::cli
