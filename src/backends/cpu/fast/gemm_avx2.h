// Many-token linear layers (prefill, large batches): weights decoded once into an L1-sized f32 panel and
// reused by every token tile, with the same per-output arithmetic as the register tiles of linear_avx2.cc.
#pragma once

#include <cstdint>

#include "backends/cpu/kernels.h"

namespace tachyon::cpu::fast {

// Whether gemm() handles this call (enough tokens to amortise the panel, and a shape it supports).
bool gemm_applies(int64_t m, const WeightView& w);
void gemm(const float* x, int64_t m, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);

}  // namespace tachyon::cpu::fast
