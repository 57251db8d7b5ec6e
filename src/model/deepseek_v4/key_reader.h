// KeyReader: the attention keys of one sequence's tokens within a call, for attention_forward.
#pragma once

#include <algorithm>
#include <cstdint>
#include <unordered_map>
#include <vector>

#include "model/deepseek_v4/layers.h"

namespace tachyon::dsv4 {

// The attention keys of one sequence's tokens within a call, as fp32 rows. kF32 entries are read where
// they lie. A single token (decode) decodes the compact entries it reads into scratch rows. Several
// tokens (prefill chunks, speculative verification) read mostly the same entries, and a window entry or
// a compressed block never changes once stored, so each is decoded once per call: a window ring keyed
// by position and a map of compressed blocks hold the decoded rows while the tokens go by.
class KeyReader {
 public:
  KeyReader(const LayerEnv& env, int64_t hd)
      : env_(env), hd_(hd), compact_(env.pools.format() != CacheFormat::kF32), window_(env.cfg.sliding_window) {}

  void start(const SequenceState& seq, int64_t n_tokens) {
    seq_ = &seq;
    keep_ = compact_ && n_tokens > 1;
    slot_pos_.assign(size_t(window_), -1);
    blocks_.clear();
  }
  // Before each token's keys (at most n_keys of them): rows handed out for earlier tokens may go now.
  // The map keeps up to kMaxBlocks rows, or twice what one token reads (a ratio-128 layer reads every
  // block), so that a token whose blocks alone pass the bound does not empty it every time.
  void next_token(int64_t n_keys) {
    used_ = 0;
    if (compact_ && !keep_ && int64_t(scratch_.size()) < n_keys * hd_) scratch_.resize(size_t(n_keys * hd_));
    if (blocks_.size() >= std::max(kMaxBlocks, 2 * size_t(n_keys))) blocks_.clear();
  }
  const float* window(int64_t pos) {
    if (!keep_) return env_.pools.window_get(env_.ctx.ops, *seq_, env_.layer, pos, scratch_row());
    if (ring_.empty()) ring_.resize(size_t(window_ * hd_));  // [window, hd]
    const size_t slot = size_t(pos % window_);
    float* row = &ring_[slot * size_t(hd_)];
    if (slot_pos_[slot] != pos) {
      env_.pools.window_get(env_.ctx.ops, *seq_, env_.layer, pos, row);
      slot_pos_[slot] = pos;
    }
    return row;
  }
  const float* compressed(int64_t j) {
    if (!keep_) return env_.pools.compressed_get(env_.ctx.ops, *seq_, env_.layer, j, scratch_row());
    auto [it, fresh] = blocks_.try_emplace(j);
    std::vector<float>& row = it->second;  // [hd]
    if (fresh) {
      row.resize(size_t(hd_));
      env_.pools.compressed_get(env_.ctx.ops, *seq_, env_.layer, j, row.data());
    }
    return row.data();
  }

 private:
  static constexpr size_t kMaxBlocks = 4096;
  float* scratch_row() { return compact_ ? &scratch_[size_t(used_++ * hd_)] : nullptr; }
  const LayerEnv& env_;
  const int64_t hd_;
  const bool compact_;
  const int64_t window_;
  const SequenceState* seq_ = nullptr;
  bool keep_ = false;                                   // decoded rows kept across the call's tokens
  std::vector<float> scratch_;                          // [n_keys, hd] this token's rows (one-token spans)
  int64_t used_ = 0;
  std::vector<float> ring_;                             // [window, hd] decoded window entries
  std::vector<int64_t> slot_pos_;                       // [window] the position each ring slot holds, or -1
  std::unordered_map<int64_t, std::vector<float>> blocks_;  // compressed block -> [hd]
};

}  // namespace tachyon::dsv4
