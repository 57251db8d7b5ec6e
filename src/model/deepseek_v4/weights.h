// Typed DeepSeek-V4 weights (spec §4). One function, for_each_tensor, lists every official tensor with
// its name, shape and dtype and binds it to its field; loading, validation, the tiny-model generator and
// `tachyon inspect` all run through it.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/huge_buffer.h"
#include "core/status.h"
#include "core/weight_view.h"
#include "io/config.h"
#include "io/safetensors.h"

namespace tachyon::dsv4 {

// A bound tensor: points into the mapped checkpoint.
struct TensorRef {
  const TensorInfo* info = nullptr;
  template <typename T>
  const T* data() const { return reinterpret_cast<const T*>(info->data); }
  int64_t dim(int i) const { return info->shape[size_t(i)]; }
  explicit operator bool() const { return info != nullptr; }
};

// A weight repacked at load for the fast numerics' integer kernels (repack.h, backends/cpu/linear_i8.h):
// int8 rows (WFormat::kI8: codes [n, kp] then E8M0 scales [n, kp / 32], in one buffer), or FP4 codes in
// groups (kFP4G: codes [n, kp / 2]; the scales are the checkpoint's own, `fp4_scales`).
struct I8Rows {
  HugeBuffer buf;
  WFormat fmt = WFormat::kI8;
  int64_t n = 0, kp = 0;  // kp: columns per row
  const uint8_t* fp4_scales = nullptr;
  uint8_t* codes() const { return buf.data(); }
  const uint8_t* scales() const { return fmt == WFormat::kI8 ? buf.data() + n * kp : fp4_scales; }
};

// A linear layer y = W x with W logically [n, k] stored as `fmt` (FP8 scale tiles of `block`, the
// config's weight_block_size).
struct Linear {
  WFormat fmt = WFormat::kBF16;
  int64_t n = 0, k = 0;
  int block = 128;  // FP8 scale tile
  TensorRef weight, scale;
  const I8Rows* i8 = nullptr;  // the same weight as int8 rows, once repack_int8 has made them
};

struct HcWeights {  // hyper-connection mixing around one sublayer (spec §2.2)
  TensorRef fn;     // [(2+hc)*hc, hc*D] f32
  TensorRef base;   // [(2+hc)*hc] f32
  TensorRef scale;  // [3] f32
};
struct HcHeadWeights {  // final stream mix (spec §2.8)
  TensorRef fn;     // [hc, hc*D] f32
  TensorRef base;   // [hc] f32
  TensorRef scale;  // [1] f32
};

struct CompressorWeights {  // spec §2.4
  Linear wkv, wgate;        // [c*d, D] bf16
  TensorRef ape;            // [r, c*d] f32
  TensorRef norm;           // [d] bf16
};

struct IndexerWeights {  // spec §2.5
  Linear wq_b;           // [IH*ID, Q] fp8
  Linear weights_proj;   // [IH, D] bf16
  CompressorWeights compressor;
};

struct AttentionWeights {  // spec §2.3
  Linear wq_a;             // [Q, D]
  TensorRef q_norm;        // [Q]
  Linear wq_b;             // [H*hd, Q]
  Linear wkv;              // [hd, D]
  TensorRef kv_norm;       // [hd]
  Linear wo_a;             // [G*R, H*hd/G] (used as bf16, spec §2.3)
  Linear wo_b;             // [D, G*R]
  TensorRef attn_sink;     // [H] f32
  CompressorWeights compressor;  // ratio > 0
  IndexerWeights indexer;        // ratio == 4
};

struct ExpertWeights {  // clamped SwiGLU expert
  Linear w1, w3;        // [I, D]
  Linear w2;            // [D, I]
};

struct MoEWeights {  // spec §2.7
  Linear gate;       // [E, D] bf16
  TensorRef bias;    // [E] f32 (learned layers)
  TensorRef tid2eid; // [V, topk] i64 (hash layers)
  std::vector<ExpertWeights> experts;
  ExpertWeights shared;
};

struct LayerWeights {
  TensorRef attn_norm, ffn_norm;  // [D] bf16
  HcWeights hc_attn, hc_ffn;
  AttentionWeights attn;
  MoEWeights ffn;
};

struct MtpWeights {  // spec §2.9
  LayerWeights block;
  Linear e_proj, h_proj;  // [D, D] fp8
  TensorRef enorm, hnorm, norm;  // [D] bf16
  HcHeadWeights hc_head;
};

struct ModelWeights {
  TensorRef embed;  // [V, D] bf16
  TensorRef head;   // [V, D] bf16
  const I8Rows* head_i8 = nullptr;  // the head as int8 rows, once repack_int8 has made them
  TensorRef norm;   // [D] bf16
  HcHeadWeights hc_head;
  std::vector<LayerWeights> layers;
  std::vector<MtpWeights> mtp;  // 0 or 1
};

// What a tensor is, for accounting.
enum class TensorRole : uint8_t { kWeight, kScale, kTable };

struct TensorSlot {
  std::string name;
  DType dtype;                 // the official dtype
  std::vector<int64_t> shape;  // as stored
  TensorRole role = TensorRole::kWeight;
  bool packed_fp4 = false;     // I8 bytes holding two e2m1 values each
  bool routed_expert = false;  // part of a routed expert (not active for every token)
  bool mtp = false;            // part of the MTP module
  TensorRef* bind = nullptr;   // where the loaded tensor goes (null when only listing)
  // The fast numerics repack this tensor (repack.h): every FP8 linear (weight and scale), the compressors'
  // BF16 projections and the BF16 head into int8 rows; FP4 codes (not their scales) into groups. `linear` is its layer when binding (null when
  // only listing, and for the head).
  bool int8_repack = false;
  Linear* linear = nullptr;

  int64_t logical_params() const;  // elements, x2 for packed FP4; 0 for scales
  size_t nbytes() const;
  // Bytes once repacked (int8_repack): a weight [n, k] becomes n x kp codes and n x kp / 32 scales
  // (kp = k rounded up to 32), its FP8 scale tensor none; else nbytes().
  size_t repacked_nbytes() const;
};

// Sizes `w`'s vectors from the config and visits every official tensor. When `w` is null, only lists.
void for_each_tensor(const ModelConfig& cfg, ModelWeights* w, const std::function<void(TensorSlot&)>& visit);

// A loaded checkpoint: config, mapped tensors and the typed weights pointing into them.
struct Checkpoint {
  ModelConfig config;
  TensorStore store;
  ModelWeights weights;
  // Safetensors does not align tensor data. Tensors with elements wider than a byte whose mapped
  // address is misaligned are copied here once at load, so kernels may load them as their type.
  std::deque<TensorInfo> realigned;
  std::vector<std::unique_ptr<uint64_t[]>> realigned_data;
  // Weights repacked into int8 rows (repack.h), which Linear::i8 and ModelWeights::head_i8 point at.
  std::deque<I8Rows> repacked;
};

// Loads `dir` (config.json + safetensors) and checks every tensor against for_each_tensor. Errors name
// every missing, unexpected, mis-shaped or mis-typed tensor (up to a limit), one per line after the first.
Result<std::unique_ptr<Checkpoint>> load_checkpoint(const std::string& dir);

}  // namespace tachyon::dsv4
