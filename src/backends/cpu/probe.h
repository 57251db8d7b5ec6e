// Machine probes for `tachyon bench`: the memory read bandwidth and the peak multiply-add rate that its
// roofline compares the model's steps with. (The GEMM rate probe runs the ops-level linear, so it lives
// with the bench runner.)
//
// Both run on every thread of the pool at once, each thread on its own: a chunk per thread, and each
// chunk waits until all have started, so that no thread takes two. A run lasts from the first thread's
// start to the last thread's end (the pool's hand-off is not counted); the best of the runs is kept.
#pragma once

#include <cstdint>

#include "backends/cpu/kernel_table.h"
#include "core/thread_pool.h"

namespace tachyon::cpu {

struct BandwidthProbe {
  double gbs = 0;           // best run: bytes / seconds / 1e9
  int64_t bytes = 0;        // buffer read per run
  int threads = 0;          // threads that read, each its own slice
  int runs = 0;
  bool huge_pages = false;  // madvise(MADV_HUGEPAGE) accepted the buffer (transparent huge pages)
  // Share of the buffer the kernel backed with huge pages once written (/proc/self/smaps AnonHugePages of
  // its mapping), or -1 where that cannot be read.
  double huge_fraction = -1;
  uint64_t checksum = 0;    // sum of the buffer (keeps the reads alive)
};

// Streaming read of a freshly mapped buffer of `bytes` (at least 32 KiB; 2 MiB aligned and advised for
// transparent huge pages, so that the reads are not held back by 4 KiB page walks): each thread reads the
// slice it wrote first (slices cut on 2 MiB boundaries when the buffer is large enough), with the read
// loop of `kernels` (the widest vectors of the set). Word i of the buffer holds i * 0x9E3779B97F4A7C15.
BandwidthProbe measure_read_bandwidth(const ThreadPool& pool, int64_t bytes, int runs, const KernelTable& kernels);

struct PeakProbe {
  double gflops = 0;              // best run, every thread together: FLOPs / seconds / 1e9
  const char* instruction = "";   // what was measured (KernelTable::peak_instruction)
  int threads = 0;
  int runs = 0;
  int64_t rounds = 0;             // of kernels.peak_fma per thread and run
  double checksum = 0;            // sum of the accumulators (keeps the work alive)
};

// The peak rate of the multiply-add instruction the set's GEMM uses (kernels.peak_fma: independent
// register accumulators, no memory operands), on every thread at once, each run about `seconds` long.
PeakProbe measure_peak_flops(const ThreadPool& pool, int runs, const KernelTable& kernels, double seconds = 0.05);
// The same for the integer dot product of the set's int8 FP4 kernel (fast numerics): vpdpbusd when
// kernels.native_i8, in operations (2 per multiply-add) per second; otherwise an empty probe (gflops 0,
// no instruction).
PeakProbe measure_peak_i8(const ThreadPool& pool, int runs, const KernelTable& kernels, double seconds = 0.05);

}  // namespace tachyon::cpu
