// /proc readers for ProcessStats (see process_stats.h).
#include "core/process_stats.h"

#include <sys/resource.h>
#include <unistd.h>

#include <charconv>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

namespace tachyon {

namespace {

Result<std::string> read_text(const char* path) {
  std::ifstream f(path);
  if (!f) return error("cannot open {}", path);
  std::ostringstream s;
  s << f.rdbuf();
  if (f.bad()) return error("cannot read {}", path);
  return s.str();
}

bool to_int64(std::string_view s, int64_t* v) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), *v);
  return ec == std::errc() && end == s.data() + s.size();
}

}  // namespace

Result<ProcStatFields> parse_proc_stat(std::string_view line) {
  // "pid (comm) state ppid ...": comm is whatever the process named itself, so the fields start after
  // the last ')'. Counting from the state as field 0: utime 11, stime 12, starttime 19, vsize 20, rss 21.
  const size_t close = line.rfind(')');
  if (close == std::string_view::npos) return Status::error("/proc/self/stat: no ')' after the command name");
  std::vector<std::string_view> f;
  size_t i = close + 1;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\n')) ++i;
    const size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\n') ++i;
    if (i > start) f.push_back(line.substr(start, i - start));
  }
  if (f.size() < 22) return error("/proc/self/stat: {} fields after the command name, expected at least 22", f.size());
  ProcStatFields p;
  const std::pair<size_t, int64_t*> wanted[] = {
      {11, &p.utime_ticks}, {12, &p.stime_ticks}, {19, &p.start_ticks}, {20, &p.vsize_bytes}, {21, &p.rss_pages}};
  for (const auto& [at, out] : wanted)
    if (!to_int64(f[at], out)) return error("/proc/self/stat: field {} is '{}', not an integer", at + 3, f[at]);
  return p;
}

Result<int64_t> parse_boot_time(std::string_view proc_stat) {
  size_t at = 0;
  while (at < proc_stat.size()) {
    size_t end = proc_stat.find('\n', at);
    if (end == std::string_view::npos) end = proc_stat.size();
    const std::string_view line = proc_stat.substr(at, end - at);
    if (line.starts_with("btime ")) {
      int64_t v = 0;
      if (!to_int64(line.substr(6), &v)) return error("/proc/stat: btime '{}' is not an integer", line.substr(6));
      return v;
    }
    at = end + 1;
  }
  return Status::error("/proc/stat: no btime line");
}

Result<ProcessStats> read_process_stats() {
  TACHYON_ASSIGN_OR_RETURN(const std::string self_stat, read_text("/proc/self/stat"));
  TACHYON_ASSIGN_OR_RETURN(const ProcStatFields f, parse_proc_stat(self_stat));
  TACHYON_ASSIGN_OR_RETURN(const std::string sys_stat, read_text("/proc/stat"));
  TACHYON_ASSIGN_OR_RETURN(const int64_t boot, parse_boot_time(sys_stat));
  const long ticks = sysconf(_SC_CLK_TCK), page = sysconf(_SC_PAGESIZE);
  if (ticks <= 0 || page <= 0) return Status::error("sysconf: no clock tick rate or page size");
  ProcessStats s;
  s.resident_bytes = f.rss_pages * page;
  s.virtual_bytes = f.vsize_bytes;
  s.cpu_seconds = double(f.utime_ticks + f.stime_ticks) / double(ticks);
  s.start_time_seconds = double(boot) + double(f.start_ticks) / double(ticks);
  // The listing holds the descriptor that reads it, as Prometheus' collector counts too.
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec))
    ++s.open_fds;
  if (ec) return error("/proc/self/fd: {}", ec.message());
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return Status::error("getrlimit(RLIMIT_NOFILE) failed");
  s.max_fds = lim.rlim_cur == RLIM_INFINITY ? INT64_MAX : int64_t(lim.rlim_cur);
  return s;
}

}  // namespace tachyon
