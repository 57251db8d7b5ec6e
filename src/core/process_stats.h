// This process's resource figures as Prometheus' process collector exports them (memory, CPU time,
// file descriptors, start time), read from Linux's /proc and getrlimit.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"

namespace tachyon {

struct ProcessStats {
  int64_t resident_bytes = 0, virtual_bytes = 0;
  double cpu_seconds = 0;         // user + system
  double start_time_seconds = 0;  // since the Unix epoch
  int64_t open_fds = 0;
  int64_t max_fds = 0;  // the soft RLIMIT_NOFILE (unlimited: INT64_MAX)
};

// Reads /proc/self/stat, /proc/stat (boot time), /proc/self/fd and RLIMIT_NOFILE. An error names the
// file that could not be read or parsed.
Result<ProcessStats> read_process_stats();

// The fields of a /proc/<pid>/stat line that read_process_stats uses, in the kernel's units.
struct ProcStatFields {
  int64_t utime_ticks = 0, stime_ticks = 0, start_ticks = 0;  // clock ticks; start: since boot
  int64_t vsize_bytes = 0, rss_pages = 0;
};
// Parses a /proc/<pid>/stat line (the command name may hold spaces and parentheses).
Result<ProcStatFields> parse_proc_stat(std::string_view line);
// The boot time ("btime", seconds since the Unix epoch) from the text of /proc/stat.
Result<int64_t> parse_boot_time(std::string_view proc_stat);

}  // namespace tachyon
