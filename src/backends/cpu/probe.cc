#include "backends/cpu/probe.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>

#include "backends/cpu/kernels.h"

namespace tachyon::cpu {

BandwidthProbe measure_read_bandwidth(const ThreadPool& pool, int64_t bytes, int runs, const KernelTable& kernels) {
  BandwidthProbe r;
  r.threads = pool.size();
  const int64_t words = std::max<int64_t>(bytes / 8, 4096);
  r.bytes = words * 8;
  r.runs = std::max(runs, 1);
  std::unique_ptr<uint64_t[]> buf(new uint64_t[size_t(words)]);  // uninitialised: pages not yet touched
  uint64_t* data = buf.get();
  const int64_t n_threads = r.threads;
  auto slice = [&](int64_t c, int64_t* b, int64_t* e) {
    *b = words * c / n_threads;
    *e = words * (c + 1) / n_threads;
  };
  pool.parallel_for(n_threads, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      int64_t b, e;
      slice(c, &b, &e);
      for (int64_t i = b; i < e; ++i) data[i] = uint64_t(i) * 0x9E3779B97F4A7C15ull;
    }
  });
  for (int run = 0; run < r.runs; ++run) {
    std::atomic<uint64_t> sum{0};
    const auto t0 = std::chrono::steady_clock::now();
    pool.parallel_for(n_threads, 1, [&](int64_t c0, int64_t c1) {
      uint64_t s = 0;
      for (int64_t c = c0; c < c1; ++c) {
        int64_t b, e;
        slice(c, &b, &e);
        s += kernels.stream_sum(data + b, e - b);
      }
      sum.fetch_add(s, std::memory_order_relaxed);
    });
    const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    r.gbs = std::max(r.gbs, double(r.bytes) / sec / 1e9);
    r.checksum = sum.load();
  }
  return r;
}

}  // namespace tachyon::cpu
