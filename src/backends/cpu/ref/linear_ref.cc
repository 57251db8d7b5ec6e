// Scalar reference GEMM over every weight format. Dequantises element by element from the definitions
// in core/dtype.h; slow but obviously right.
#include <algorithm>

#include "backends/cpu/kernels.h"
#include "backends/cpu/linear_i8.h"
#include "core/dtype.h"

namespace tachyon::cpu::ref {

void linear(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin, int64_t n_end) {
  const int64_t k = w.k;
  const float* fp8 = e4m3_table();  // every code decoded once, from e4m3_to_f32
  for (int64_t n = n_begin; n < n_end; ++n) {
    const int64_t row = w.row0 + n;
    for (int64_t i = 0; i < m; ++i) {
      const float* xi = x + i * k;
      float acc = 0.0f;
      switch (w.fmt) {
        case WFormat::kF32: {
          const float* wr = static_cast<const float*>(w.data) + row * k;
          for (int64_t j = 0; j < k; ++j) acc += xi[j] * wr[j];
          break;
        }
        case WFormat::kBF16: {
          const uint16_t* wr = static_cast<const uint16_t*>(w.data) + row * k;
          for (int64_t j = 0; j < k; ++j) acc += xi[j] * bf16_to_f32(wr[j]);
          break;
        }
        case WFormat::kFP8: {
          const uint8_t* wr = static_cast<const uint8_t*>(w.data) + row * k;
          const int64_t B = w.block, sk = (k + B - 1) / B;
          const uint8_t* srow = w.scale + (row / B) * sk;
          for (int64_t b0 = 0; b0 < k; b0 += B) {
            float part = 0.0f;
            for (int64_t j = b0; j < std::min(k, b0 + B); ++j) part += xi[j] * fp8[wr[j]];
            acc += part * e8m0_to_f32(srow[b0 / B]);
          }
          break;
        }
        case WFormat::kFP4: {
          const uint8_t* wr = static_cast<const uint8_t*>(w.data) + row * (k / 2);
          const uint8_t* srow = w.scale + row * (k / 32);
          for (int64_t b0 = 0; b0 < k; b0 += 32) {
            float part = 0.0f;
            for (int64_t j = b0; j < b0 + 32; ++j) part += xi[j] * e2m1_to_f32(fp4_nibble(wr, size_t(j)));
            acc += part * e8m0_to_f32(srow[b0 / 32]);
          }
          break;
        }
        case WFormat::kFP4G: {
          const uint8_t* wr = static_cast<const uint8_t*>(w.data) + row * (k / 2);
          const uint8_t* srow = w.scale + row * (k / 32);
          for (int64_t b0 = 0; b0 < k; b0 += 32) {
            float part = 0.0f;
            for (int64_t j = b0; j < b0 + 32; ++j) {
              const uint8_t byte = wr[fp4g_byte(j, k)];
              part += xi[j] * e2m1_to_f32(fp4g_high(j) ? uint8_t(byte >> 4) : uint8_t(byte & 15));
            }
            acc += part * e8m0_to_f32(srow[b0 / 32]);
          }
          break;
        }
        case WFormat::kI8: {
          const int64_t kp = (k + 31) / 32 * 32;
          const uint8_t* wr = static_cast<const uint8_t*>(w.data) + row * kp;
          const uint8_t* srow = w.scale + row * (kp / 32);
          for (int64_t b0 = 0; b0 < k; b0 += 32) {
            float part = 0.0f;
            for (int64_t j = b0; j < std::min(k, b0 + 32); ++j) part += xi[j] * float(int32_t(wr[i8_row_offset(j, kp)]) - 128);
            acc += part * e8m0_to_f32(srow[b0 / 32]);
          }
          break;
        }
      }
      y[i * w.n + n] = acc;
    }
  }
}

}  // namespace tachyon::cpu::ref
