#include "model/deepseek_v4/cache_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "core/dtype.h"

namespace tachyon::dsv4 {

namespace {
constexpr int64_t kFp8Block = 64, kFp4Block = 32;
int64_t cdiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t pad8(int64_t n) { return cdiv(n, 8) * 8; }

// The smallest power-of-two scale whose range (code_max times it) holds the largest |v[j]| of
// [j0, j1); code 0 for an all-zero block.
uint8_t scale_code(const float* v, int64_t j0, int64_t j1, float code_max) {
  float amax = 0.0f;
  for (int64_t j = j0; j < j1; ++j) amax = std::max(amax, std::fabs(v[j]));
  return amax > 0.0f ? e8m0_ceil(amax / code_max) : uint8_t(0);
}
}  // namespace

bool parse_cache_format(const char* name, CacheFormat* out) {
  for (CacheFormat f : {CacheFormat::kF32, CacheFormat::kCompact, CacheFormat::kCompactBf16})
    if (std::strcmp(name, cache_format_name(f)) == 0) {
      *out = f;
      return true;
    }
  return false;
}

Result<CacheFormat> choose_cache_format(std::string_view name, const Numerics& n) {
  const bool quantised = n.kv_quant && n.indexer_quant;
  CacheFormat f = quantised ? CacheFormat::kCompact : CacheFormat::kF32;
  if (name != "auto" && !parse_cache_format(std::string(name).c_str(), &f))
    return error("unknown kv cache dtype '{}' (auto, fp32, fp8, fp8-bf16rope)", name);
  if (f != CacheFormat::kF32 && !quantised)
    return error("kv cache dtype '{}' needs official or fast numerics (exact numerics keep fp32 entries)",
                 cache_format_name(f));
  return f;
}

const char* cache_format_name(CacheFormat f) {
  switch (f) {
    case CacheFormat::kF32: return "fp32";
    case CacheFormat::kCompact: return "fp8";
    case CacheFormat::kCompactBf16: return "fp8-bf16rope";
  }
  return "?";
}

namespace {
int64_t rope_bytes(CacheFormat f) { return f == CacheFormat::kCompactBf16 ? 2 : 4; }
}  // namespace

int64_t kv_entry_bytes(CacheFormat f, int64_t hd, int64_t rd) {
  if (f == CacheFormat::kF32) return hd * int64_t(sizeof(float));
  const int64_t nope = hd - rd;
  return pad8(nope + cdiv(nope, kFp8Block) + rope_bytes(f) * rd);
}

int64_t indexer_entry_bytes(CacheFormat f, int64_t d) {
  if (f == CacheFormat::kF32) return d * int64_t(sizeof(float));
  return pad8(cdiv(d, 2) + cdiv(d, kFp4Block));
}

bool kv_encode(CacheFormat f, const float* v, int64_t hd, int64_t rd, uint8_t* out) {
  if (f == CacheFormat::kF32) {
    std::memcpy(out, v, size_t(hd) * sizeof(float));
    return true;
  }
  const int64_t nope = hd - rd, nblocks = cdiv(nope, kFp8Block);
  uint8_t* scales = out + nope;
  for (int64_t b = 0; b < nblocks; ++b) {
    const int64_t j0 = b * kFp8Block, j1 = std::min(nope, j0 + kFp8Block);
    scales[b] = scale_code(v, j0, j1, 448.0f);
    const float s = e8m0_to_f32(scales[b]);
    for (int64_t j = j0; j < j1; ++j) {
      out[j] = f32_to_e4m3(v[j] / s);
      if (e4m3_to_f32(out[j]) * s != v[j]) return false;
    }
  }
  uint8_t* rope = scales + nblocks;
  if (f == CacheFormat::kCompactBf16) {
    for (int64_t j = 0; j < rd; ++j) {
      const uint16_t b = f32_to_bf16(v[nope + j]);  // rounds: the format's documented precision
      std::memcpy(rope + 2 * j, &b, 2);
    }
  } else {
    std::memcpy(rope, v + nope, size_t(rd) * sizeof(float));
  }
  std::fill(rope + rope_bytes(f) * rd, out + kv_entry_bytes(f, hd, rd), uint8_t(0));
  return true;
}

void kv_decode(const ops::OpContext& ctx, CacheFormat f, const uint8_t* in, int64_t hd, int64_t rd, float* out) {
  if (f == CacheFormat::kF32) {
    std::memcpy(out, in, size_t(hd) * sizeof(float));
    return;
  }
  const int64_t nope = hd - rd, nblocks = cdiv(nope, kFp8Block);
  const uint8_t* scales = in + nope;
  ops::decode_fp8(ctx, in, scales, nope, kFp8Block, out);
  const uint8_t* rope = scales + nblocks;
  if (f == CacheFormat::kCompactBf16) {
    for (int64_t j = 0; j < rd; ++j) {
      uint16_t b;
      std::memcpy(&b, rope + 2 * j, 2);
      out[nope + j] = bf16_to_f32(b);
    }
  } else {
    std::memcpy(out + nope, rope, size_t(rd) * sizeof(float));
  }
}

bool indexer_encode(CacheFormat f, const float* v, int64_t d, uint8_t* out) {
  if (f == CacheFormat::kF32) {
    std::memcpy(out, v, size_t(d) * sizeof(float));
    return true;
  }
  const int64_t nblocks = cdiv(d, kFp4Block);
  uint8_t* scales = out + cdiv(d, 2);
  std::fill(out, out + indexer_entry_bytes(f, d), uint8_t(0));
  for (int64_t b = 0; b < nblocks; ++b) {
    const int64_t j0 = b * kFp4Block, j1 = std::min(d, j0 + kFp4Block);
    scales[b] = scale_code(v, j0, j1, 6.0f);
    const float s = e8m0_to_f32(scales[b]);
    for (int64_t j = j0; j < j1; ++j) {
      const uint8_t nib = f32_to_e2m1(v[j] / s);
      if (e2m1_to_f32(nib) * s != v[j]) return false;
      out[j >> 1] |= uint8_t((j & 1) ? nib << 4 : nib);
    }
  }
  return true;
}

void indexer_decode(CacheFormat f, const uint8_t* in, int64_t d, float* out) {
  if (f == CacheFormat::kF32) {
    std::memcpy(out, in, size_t(d) * sizeof(float));
    return;
  }
  ops::decode_fp4_row(in, d, out);  // the layout above: d / 2 code bytes, then d / 32 scales
}

}  // namespace tachyon::dsv4
