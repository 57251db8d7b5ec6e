// Many-token AVX-512 linear layers (prefill, large batches): weights decoded once into a panel in the
// order of linear_layout.h and reused by every token tile, with exactly the per-output arithmetic of
// the register tiles in linear_avx512.cc.
#pragma once

#include <cstdint>

#include "backends/cpu/avx512/linear_layout.h"

namespace tachyon::cpu::avx512 {

// Whether gemm() handles m tokens of this weight (enough tokens to amortise the panel).
bool gemm_applies(int64_t m, const WeightView& w);
// Rows [n_begin, n_end) for m tokens whose activations repack_x has put in xp [m, L.kp].
void gemm(const float* xp, int64_t m, const Layout& L, const WeightView& w, float* y, int64_t n_begin, int64_t n_end);

}  // namespace tachyon::cpu::avx512
