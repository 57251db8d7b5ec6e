// What a forward call needs besides weights and state: the op context (threads, kernel choice), the
// numeric mode, an optional trace hook that receives named intermediates and optional profile counters.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "model/deepseek_v4/profile.h"
#include "ops/ops.h"

namespace tachyon::dsv4 {

// Which of the official quantisation points are simulated (golden README "Numeric modes").
struct Numerics {
  bool act_quant = true;      // FP8 activations before every FP8/FP4-stored linear (not wo_a)
  bool kv_quant = true;       // FP8 simulation of the cached KV nope dims (blocks of 64)
  bool indexer_quant = true;  // FP4 simulation of indexer queries and keys (after the Hadamard)
  // With act_quant: int8 activations (per token and 32 columns) instead of FP8 ones, so that FP4 weights
  // multiply them with integer dot products. Finer than FP8 e4m3; `tachyon accuracy` measures it.
  bool act_int8 = false;

  static Numerics official() { return {}; }
  static Numerics exact() { return {false, false, false, false}; }
  static Numerics fast() { return {true, true, true, true}; }
  static bool parse(std::string_view name, Numerics* out);
  // parse, plus "auto": the fastest mode that meets the acceptance rule (its logits deviate from exact no
  // more than official's; `tachyon accuracy` measures it and the tests check it): fast where the kernel
  // set multiplies int8 activations with integer instructions (there it is faster), else official.
  static bool parse(std::string_view name, bool int8_kernels, Numerics* out);
  std::string_view name() const { return act_int8 ? "fast" : act_quant ? "official" : "exact"; }
};

// Receives named intermediates ("layer2.attn_out", "final_streams", ...). Rows follow the batch's
// token order. Implementations must not keep the pointers.
class Trace {
 public:
  virtual ~Trace() = default;
  virtual void tensor(std::string_view name, const float* data, const std::vector<int64_t>& shape) = 0;
  virtual void ids(std::string_view name, const int32_t* data, const std::vector<int64_t>& shape) = 0;
};

struct ModelContext {
  ops::OpContext ops;
  Numerics numerics;
  Trace* trace = nullptr;
  Profile* profile = nullptr;  // per-op-family timers and traffic counters (profile.h), or none
};

}  // namespace tachyon::dsv4
