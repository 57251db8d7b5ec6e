// Scans a checkpoint's tensors for stored values that are not numbers: NaN or infinity in BF16, F16 and
// F32, the NaN codes of FP8 e4m3 (0x7F, 0xFF) and the NaN scale of E8M0 (0xFF). Packed FP4 experts
// (stored as I8/U8 bytes; e2m1 has no such codes) and the integer tables are skipped.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/thread_pool.h"
#include "io/safetensors.h"

namespace tachyon {

struct NonFiniteTensor {
  std::string name;
  DType dtype = DType::kF32;
  int64_t count = 0;  // elements that are not numbers
  int64_t first = 0;  // flat index of the first of them
};

struct ValueScan {
  std::vector<NonFiniteTensor> bad;  // by tensor name
  int64_t tensors_scanned = 0;
  uint64_t bytes_scanned = 0;
};

// Whether tensors of this dtype can hold non-finite codes (and so are scanned).
bool value_scan_applies(DType t);

// The elements of n values of dtype t at p (any alignment) that are not numbers: returns their count
// and sets *first to the index of the first one (left alone when there is none).
int64_t count_nonfinite(DType t, const uint8_t* p, int64_t n, int64_t* first);

// Reads every scanned tensor once, in file order, split into chunks that `pool`'s threads share (pool
// may be null). progress(done, total), in bytes, is called on the calling thread between batches of
// chunks and once at the end.
using ScanProgress = std::function<void(uint64_t done, uint64_t total)>;
ValueScan scan_values(const TensorStore& store, const ThreadPool* pool, const ScanProgress& progress = {});

// "NAME (BF16): 12 non-finite values, the first at element 40".
std::string describe(const NonFiniteTensor& t);

}  // namespace tachyon
