// Scalar references of the row kernels: bf16 rows to f32, in-place add and scale, and weighted sums of
// rows (kernels.h).
#include "backends/cpu/kernels.h"
#include "core/dtype.h"

namespace tachyon::cpu::ref {

void widen_bf16(const uint16_t* src, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = tachyon::bf16_to_f32(src[i]);
}

void add(const float* x, int64_t n, float* y) {
  for (int64_t i = 0; i < n; ++i) y[i] += x[i];
}

void scale(float* x, int64_t n, float a) {
  for (int64_t i = 0; i < n; ++i) x[i] *= a;
}

void mix_rows(const float* const* rows, const float* w, int64_t n, int64_t d, float* out) {
  for (int64_t e = 0; e < d; ++e) {
    float acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) acc += w[i] * rows[i][e];
    out[e] = acc;
  }
}

}  // namespace tachyon::cpu::ref
