// Storage formats of cached attention entries (spec §3, §2.12).
//
//   kF32         every value as fp32 (any numerics; `exact` needs it)
//   kCompact     the official numerics' values, held exactly in fewer bytes:
//     KV entry (window and compressed): the nope dims as e4m3 codes, one ue8m0 scale byte per 64 of them,
//                  then the rope dims as fp32, padded to 8 bytes. head_dim 512 / rope 64: 448 + 7 + 256 + 1
//                  = 712 bytes (2048 as fp32).
//     indexer key: e2m1 nibbles (two per byte, low first), one ue8m0 scale byte per 32 values, padded to
//                  8 bytes. index_head_dim 128: 64 + 4 + 4 = 72 bytes (512 as fp32).
//   kCompactBf16 as kCompact with the rope dims rounded to bf16 (RNE): 448 + 7 + 128 + 1 = 584 bytes, the
//                  layout vLLM uses and the official bf16 data path's KV precision. The rounding changes
//                  results slightly against the fp32 reference, so it is opt-in.
//   The official FP8/FP4 simulations produce values of the form code x 2^k, so the compact formats lose
//   nothing there; encoding checks that and refuses values they cannot hold.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/status.h"
#include "model/deepseek_v4/context.h"

namespace tachyon::dsv4 {

enum class CacheFormat : uint8_t { kF32, kCompact, kCompactBf16 };

// "fp32", "fp8" (kCompact), "fp8-bf16rope" (kCompactBf16).
bool parse_cache_format(const char* name, CacheFormat* out);
const char* cache_format_name(CacheFormat f);
// The format that `--kv-cache-dtype name` selects under numerics `n`: "auto" is kCompact when `n` quantises
// both caches (their values then fit it exactly) and kF32 otherwise; the compact formats need such numerics.
Result<CacheFormat> choose_cache_format(std::string_view name, const Numerics& n);

int64_t kv_entry_bytes(CacheFormat f, int64_t head_dim, int64_t rope_dim);
int64_t indexer_entry_bytes(CacheFormat f, int64_t dim);

// Returns false (and leaves `out` partly written) when a value is not exactly representable.
bool kv_encode(CacheFormat f, const float* v, int64_t head_dim, int64_t rope_dim, uint8_t* out);
void kv_decode(const ops::OpContext& ctx, CacheFormat f, const uint8_t* in, int64_t head_dim, int64_t rope_dim,
               float* out);
bool indexer_encode(CacheFormat f, const float* v, int64_t dim, uint8_t* out);
void indexer_decode(CacheFormat f, const uint8_t* in, int64_t dim, float* out);

}  // namespace tachyon::dsv4
