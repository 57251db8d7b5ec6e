// The storage format of a weight matrix and a view of its rows: what the model's typed weights bind to
// and what the ops and kernels read. One definition for every layer.
#pragma once

#include <cstdint>

namespace tachyon {

// Storage format of a weight matrix W, logically [n, k] (row n is one output feature).
enum class WFormat : uint8_t {
  kBF16,  // bf16 [n, k]
  kF32,   // f32  [n, k]
  kFP8,   // e4m3 [n, k] with E8M0 scales [ceil(n/block), ceil(k/block)] over the full matrix
  kFP4,   // packed e2m1 [n, k/2] (two values a byte) with E8M0 scales [n, k/32]
  kI8,    // int8 rows made at load (backends/cpu/linear_i8.h): bytes q + 128 [n, kp], kp = k rounded up
          // to 32 (padding q = 0), columns in groups of 512 (cpu::i8_row_offset), with E8M0 scales
          // [n, kp/32] per 32 columns: W[r, j] = q * 2^(e - 127)
  kFP4G,  // kFP4's values and scales with each row's bytes in groups of 512 columns (cpu::fp4g_byte), made
          // at load for the integer FP4 kernel
};

// A view of rows [row0, row0 + n) of a weight matrix with `k` columns (row0 matters for FP8 scale tiles).
struct WeightView {
  WFormat fmt = WFormat::kF32;
  int64_t n = 0, k = 0;
  const void* data = nullptr;       // points at row 0 of the FULL matrix
  const uint8_t* scale = nullptr;   // E8M0 scales of the full matrix
  int64_t row0 = 0;
  int block = 128;                  // FP8 scale tile edge
};

// Bytes of one weight row (without its scales).
inline int64_t row_bytes(const WeightView& w) {
  switch (w.fmt) {
    case WFormat::kF32: return 4 * w.k;
    case WFormat::kBF16: return 2 * w.k;
    case WFormat::kFP8: return w.k;
    case WFormat::kFP4: return w.k / 2;
    case WFormat::kI8: return (w.k + 31) / 32 * 32;
    case WFormat::kFP4G: return w.k / 2;
  }
  return w.k;
}

}  // namespace tachyon
