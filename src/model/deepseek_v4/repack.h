// Weights repacked at load for the fast numerics: every FP8 linear, the compressors' BF16 projections and
// the BF16 head become int8 rows
// (WFormat::kI8, backends/cpu/linear_i8.h) that the integer dot-product kernels read, with a power-of-two
// scale per row and 32 columns. FP8 values within a factor 8 of their group's largest come through
// exactly and the rest within half a step; `tachyon accuracy` measures what that costs against exact,
// in the same budget as the int8 activations. The checkpoint files are not changed: the FP8 and BF16
// tensors stay mapped (official and exact numerics read them), and the int8 rows are extra memory.
#pragma once

#include <cstdint>

#include "model/deepseek_v4/context.h"
#include "model/deepseek_v4/weights.h"

namespace tachyon::dsv4 {

// Whether a context's numerics and kernels run the int8 rows: fast numerics and a kernel set with integer
// dot-product kernels (KernelTable::native_i8).
bool wants_int8_rows(const ModelContext& ctx);

// Repacks every tensor for_each_tensor marks int8_repack (TensorSlot) into ck.repacked and points
// Linear::i8 / ModelWeights::head_i8 at them, splitting rows across ops' threads. Once per checkpoint:
// a second call does nothing. Returns the bytes of int8 rows the checkpoint holds.
int64_t repack_int8(Checkpoint& ck, const ops::OpContext& ops);

// The bytes repack_int8 adds for a config (from the tensor listing; needs no checkpoint).
int64_t int8_repack_bytes(const ModelConfig& cfg);

}  // namespace tachyon::dsv4
