#include "backends/cpu/probe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/check.h"
#include "core/huge_buffer.h"

namespace tachyon::cpu {

namespace {

using clock_type = std::chrono::steady_clock;

// One pass of body(chunk) on every thread of the pool at once. Each chunk waits until every chunk has
// started before it runs body, so no thread takes two; a pool that runs the chunks inline (nested or
// concurrent use) stops waiting after a second, and they then run one after another. Returns the span
// from the first body's start to the last body's end, in seconds.
template <typename Body>
double on_every_thread(const ThreadPool& pool, const Body& body) {
  const int64_t n = pool.size();
  std::atomic<int64_t> arrived{0};
  std::vector<clock_type::time_point> start(static_cast<size_t>(n)), end(static_cast<size_t>(n));
  pool.run_chunks(n, [&](int64_t c) {
    arrived.fetch_add(1, std::memory_order_acq_rel);
    const auto deadline = clock_type::now() + std::chrono::seconds(1);
    while (arrived.load(std::memory_order_acquire) < n && clock_type::now() < deadline) {
    }
    start[size_t(c)] = clock_type::now();
    body(c);
    end[size_t(c)] = clock_type::now();
  });
  return std::chrono::duration<double>(*std::max_element(end.begin(), end.end()) -
                                       *std::min_element(start.begin(), start.end()))
      .count();
}

// AnonHugePages of the mapping that holds `addr`, in bytes, from /proc/self/smaps; -1 if not found.
int64_t anon_huge_bytes(const void* addr) {
  std::ifstream in("/proc/self/smaps");
  const uintptr_t a = reinterpret_cast<uintptr_t>(addr);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-') {  // a mapping's first line: "lo-hi perms ..."
      inside = lo <= a && a < hi;
      continue;
    }
    if (inside && line.rfind("AnonHugePages:", 0) == 0) return std::stoll(line.substr(14)) * 1024;
  }
  return -1;
}

}  // namespace

BandwidthProbe measure_read_bandwidth(const ThreadPool& pool, int64_t bytes, int runs, const KernelTable& kernels) {
  BandwidthProbe r;
  const int64_t n = pool.size();
  const int64_t words = std::max<int64_t>(bytes / 8, 4096);
  r.bytes = words * 8;
  r.runs = std::max(runs, 1);
  const HugeBuffer buf(r.bytes);
  r.huge_pages = buf.huge();
  uint64_t* data = reinterpret_cast<uint64_t*>(buf.data());
  // Slice s is [cut(s), cut(s + 1)): on huge-page boundaries when every thread gets at least one.
  const int64_t unit = words >= n * (kHugePage / 8) ? kHugePage / 8 : 512;
  auto cut = [&](int64_t s) { return s >= n ? words : words * s / n / unit * unit; };

  // First touch: each thread writes its slice and keeps it.
  std::vector<std::thread::id> owner(static_cast<size_t>(n));
  on_every_thread(pool, [&](int64_t c) {
    owner[size_t(c)] = std::this_thread::get_id();
    for (int64_t i = cut(c); i < cut(c + 1); ++i) data[i] = uint64_t(i) * 0x9E3779B97F4A7C15ull;
  });
  const int64_t huge = anon_huge_bytes(data);
  if (huge >= 0) r.huge_fraction = std::min(1.0, double(huge) / double(r.bytes));
  std::vector<std::thread::id> distinct = owner;
  std::sort(distinct.begin(), distinct.end());
  r.threads = int(std::unique(distinct.begin(), distinct.end()) - distinct.begin());

  for (int run = 0; run < r.runs; ++run) {
    std::atomic<uint64_t> sum{0};
    std::unique_ptr<std::atomic<bool>[]> taken(new std::atomic<bool>[size_t(n)]);
    for (int64_t s = 0; s < n; ++s) taken[size_t(s)] = false;
    const double sec = on_every_thread(pool, [&](int64_t c) {
      // The slice this thread wrote; any slice not yet taken if that one is gone (it never is when the
      // pool runs one chunk per thread).
      const auto me = std::this_thread::get_id();
      int64_t s = std::find(owner.begin(), owner.end(), me) - owner.begin();
      if (s >= n || taken[size_t(s)].exchange(true)) {
        for (s = 0; s < n && taken[size_t(s)].exchange(true); ++s) {
        }
      }
      if (s < n) sum.fetch_add(kernels.stream_sum(data + cut(s), cut(s + 1) - cut(s)), std::memory_order_relaxed);
    });
    r.gbs = std::max(r.gbs, double(r.bytes) / sec / 1e9);
    r.checksum = sum.load();
  }
  return r;
}

namespace {

PeakProbe measure_peak(const ThreadPool& pool, int runs, int64_t (*kernel)(int64_t, float*), const char* name,
                       double seconds) {
  PeakProbe r;
  r.instruction = name;
  r.threads = pool.size();
  r.runs = std::max(runs, 1);
  // Rounds for about `seconds` a run, from a short timed call on this thread.
  float sink = 0;
  int64_t rounds = 1 << 14;
  for (;;) {
    const auto t0 = clock_type::now();
    kernel(rounds, &sink);
    const double t = std::chrono::duration<double>(clock_type::now() - t0).count();
    if (t >= 2e-3 || rounds >= (int64_t(1) << 34)) {
      rounds = std::clamp<int64_t>(int64_t(double(rounds) * seconds / std::max(t, 1e-9)), 1024, int64_t(1) << 34);
      break;
    }
    rounds *= 8;
  }
  r.rounds = rounds;
  std::vector<int64_t> flops(static_cast<size_t>(r.threads));
  std::vector<float> sinks(static_cast<size_t>(r.threads));
  for (int run = 0; run < r.runs; ++run) {
    const double sec = on_every_thread(pool, [&](int64_t c) { flops[size_t(c)] = kernel(rounds, &sinks[size_t(c)]); });
    double total = 0;
    for (int64_t f : flops) total += double(f);
    r.gflops = std::max(r.gflops, total / sec / 1e9);
  }
  for (float s : sinks) r.checksum += double(s);
  return r;
}

}  // namespace

PeakProbe measure_peak_flops(const ThreadPool& pool, int runs, const KernelTable& kernels, double seconds) {
  return measure_peak(pool, runs, kernels.peak_fma, kernels.peak_instruction, seconds);
}

PeakProbe measure_peak_i8(const ThreadPool& pool, int runs, const KernelTable& kernels, double seconds) {
  if (!kernels.native_i8) return {};
  return measure_peak(pool, runs, avx512::peak_vpdpbusd, avx512::kPeakI8Instruction, seconds);
}

}  // namespace tachyon::cpu
