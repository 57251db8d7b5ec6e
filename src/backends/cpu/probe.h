// Machine probes for `tachyon bench`: the memory read bandwidth that decode speed is compared with.
// (The GEMM rate probe runs the ops-level linear, so it lives with the bench runner.)
#pragma once

#include <cstdint>

#include "backends/cpu/kernel_table.h"
#include "core/thread_pool.h"

namespace tachyon::cpu {

struct BandwidthProbe {
  double gbs = 0;         // best run: bytes / seconds / 1e9
  int64_t bytes = 0;      // buffer size read per run
  int threads = 0;
  int runs = 0;
  uint64_t checksum = 0;  // sum of the buffer (keeps the reads alive)
};

// Multi-threaded streaming read of a freshly allocated buffer of `bytes` (each thread reads its own
// contiguous slice, first-touched by that thread), best of `runs`, with the read loop of `kernels`.
BandwidthProbe measure_read_bandwidth(const ThreadPool& pool, int64_t bytes, int runs, const KernelTable& kernels);

}  // namespace tachyon::cpu
