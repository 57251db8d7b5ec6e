// The /proc readers behind the process_* metrics: the parsers on hand-written lines, and the live
// figures of this test process (memory, file descriptors, CPU time, start time) against what the test
// itself does.
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/process_stats.h"

namespace tachyon {
namespace {

// A stat line with the given command name: state S, then fields 4.. numbered by their position (so
// field k holds k * 10), except utime 14, stime 15, starttime 22, vsize 23 and rss 24.
std::string stat_line(const std::string& comm) {
  std::string s = "4242 (";
  s.append(comm).append(") S");
  for (int k = 4; k <= 52; ++k) {
    int64_t v = k * 10;
    if (k == 14) v = 700;
    if (k == 15) v = 55;
    if (k == 22) v = 123456;
    if (k == 23) v = 987654321;
    if (k == 24) v = 2500;
    s.append(" ").append(std::to_string(v));
  }
  return s + "\n";
}

TEST(ProcessStats, ParsesStatFieldsWhateverTheCommandName) {
  for (const std::string comm : {"tachyon", "a b", "x) (y", ")", "((("}) {
    auto p = parse_proc_stat(stat_line(comm));
    ASSERT_TRUE(p.is_ok()) << comm << ": " << p.status().message();
    EXPECT_EQ(p->utime_ticks, 700) << comm;
    EXPECT_EQ(p->stime_ticks, 55) << comm;
    EXPECT_EQ(p->start_ticks, 123456) << comm;
    EXPECT_EQ(p->vsize_bytes, 987654321) << comm;
    EXPECT_EQ(p->rss_pages, 2500) << comm;
  }
}

TEST(ProcessStats, RejectsMalformedStatLines) {
  EXPECT_FALSE(parse_proc_stat("4242 tachyon S 1 2 3").is_ok());  // no parentheses
  EXPECT_FALSE(parse_proc_stat("4242 (t) S 1 2 3 4 5").is_ok());   // too few fields
  std::string bad = stat_line("t");
  bad.replace(bad.find(" 2500 "), 6, " 25x0 ");
  const auto r = parse_proc_stat(bad);
  ASSERT_FALSE(r.is_ok());
  EXPECT_NE(r.status().message().find("field 24"), std::string::npos) << r.status().message();
}

TEST(ProcessStats, ReadsBootTime) {
  auto b = parse_boot_time("cpu  1 2 3\ncpu0 1 2 3\nintr 5\nbtime 1700000123\nprocesses 9\n");
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ(*b, 1700000123);
  EXPECT_FALSE(parse_boot_time("cpu 1 2 3\n").is_ok());
  EXPECT_FALSE(parse_boot_time("btime soon\n").is_ok());
}

TEST(ProcessStats, LiveFiguresArePlausibleAndFollowTheProcess) {
  auto a = read_process_stats();
  ASSERT_TRUE(a.is_ok()) << a.status().message();
  EXPECT_GT(a->resident_bytes, 0);
  EXPECT_GE(a->virtual_bytes, a->resident_bytes);
  EXPECT_GE(a->open_fds, 3);  // stdin, stdout, stderr at least
  EXPECT_GE(a->max_fds, a->open_fds);
  rlimit lim{};
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &lim), 0);
  if (lim.rlim_cur != RLIM_INFINITY) {
    EXPECT_EQ(a->max_fds, int64_t(lim.rlim_cur));
  }

  // Three more descriptors show up, and go again when closed.
  std::vector<int> fds;
  for (int i = 0; i < 3; ++i) fds.push_back(open("/proc/self/stat", O_RDONLY));
  for (int fd : fds) ASSERT_GE(fd, 0);
  auto b = read_process_stats();
  ASSERT_TRUE(b.is_ok()) << b.status().message();
  EXPECT_EQ(b->open_fds, a->open_fds + 3);
  for (int fd : fds) close(fd);
  auto c = read_process_stats();
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  EXPECT_EQ(c->open_fds, a->open_fds);

  // Touching 64 MiB raises the resident size by most of it.
  std::vector<char> big(size_t(64) << 20, 1);
  auto d = read_process_stats();
  ASSERT_TRUE(d.is_ok()) << d.status().message();
  EXPECT_GT(d->resident_bytes, c->resident_bytes + (int64_t(32) << 20)) << int(big[big.size() / 2]);

  // CPU time grows while the process computes: 0.2 s of busy work by the C library's own clock (a
  // different source) shows up, less a few clock ticks of rounding.
  const std::clock_t c0 = std::clock();
  volatile double x = 0;
  while (double(std::clock() - c0) / CLOCKS_PER_SEC < 0.2)
    for (int i = 0; i < 1000; ++i) x = x + std::sqrt(double(i));
  auto e = read_process_stats();
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  EXPECT_GE(e->cpu_seconds, a->cpu_seconds + 0.15);

  // The process started before now, and not long ago (this test binary runs for seconds).
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_LE(a->start_time_seconds, now + 0.02);  // one clock tick of rounding
  EXPECT_GT(a->start_time_seconds, now - 600);
  EXPECT_EQ(e->start_time_seconds, a->start_time_seconds);
}

}  // namespace
}  // namespace tachyon
