// Logging through spdlog. Tachyon code logs via these helpers so the sink and level are set in one place.
#pragma once

#include <spdlog/spdlog.h>

namespace tachyon {
// Configure the default logger: messages go to stderr, level from "trace|debug|info|warn|error|off".
void init_logging(const std::string& level = "info");
}  // namespace tachyon

#define TLOG_DEBUG(...) ::spdlog::debug(__VA_ARGS__)
#define TLOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define TLOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define TLOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
