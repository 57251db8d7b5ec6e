// Random-weight DeepSeek-V4 checkpoints in the official layout, for tests and demos (`tachyon
// make-tiny-model`).
//
// Every tensor listed by for_each_tensor gets deterministic fp32 "master" values, which are then stored in
// the official format (spec §4):
//   FP8   e4m3 codes + one E8M0 byte per 128x128 tile, byte = 127 + e, e the smallest integer with
//         tile amax / 2^e <= 448 (an all-zero tile gets byte 127); zero is stored as +0
//   FP4   packed e2m1 (low nibble first) + one E8M0 byte per 32 inputs, block amax / 2^e <= 6
//   BF16  round to nearest even;  F32 raw;  I64 tid2eid rows of distinct expert ids in [0, E)
//
// Determinism: tensor `name` uses the seed splitmix64(seed ^ fnv1a64(name)); row r of a tensor has its own
// xoshiro256** stream seeded from (tensor seed, r), so the output does not depend on the thread count.
// Normal variates come from our own Box-Muller (std::normal_distribution is implementation-defined).
//
// The model is streamed to disk one tensor at a time: a quantised weight's scale bytes are computed with
// the weight and kept only until the scale tensor (which for_each_tensor lists right after it) is written.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "core/thread_pool.h"
#include "io/config.h"
#include "model/deepseek_v4/weights.h"

namespace tachyon::dsv4 {

// Named model shapes: "tiny", "mini-flash", "tiny-pro".
std::vector<std::string> preset_names();
Result<ModelConfig> preset_config(std::string_view name);

struct GenerateOptions {
  uint64_t seed = 0;
  int shards = 1;                            // 1: model.safetensors; K > 1: K shards + index
  std::vector<std::string> extra_files;      // copied into the output folder (tokenizer files)
};

// Writes config.json, the safetensors file(s) and `extra_files` into `out_dir` (created if needed). Old
// model*.safetensors files and a stale index in `out_dir` are removed first; config.json is written last,
// so a folder with a config.json holds a complete checkpoint.
Status generate_checkpoint(const ModelConfig& cfg, const std::string& out_dir, const GenerateOptions& opt,
                           const ThreadPool& pool);

// The fp32 master values behind a generated tensor, row-major over its logical shape ([N, K] with K the
// unpacked width for FP4; [n] for vectors). For tests that check the stored values against their masters.
// Not defined for scale tensors or tid2eid tables.
std::vector<float> generator_master(const TensorSlot& slot, uint64_t seed);

// Logical [rows, cols] of a slot's master values.
void generator_logical_shape(const TensorSlot& slot, int64_t* rows, int64_t* cols);

}  // namespace tachyon::dsv4
