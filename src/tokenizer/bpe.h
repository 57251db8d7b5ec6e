// The BPE model of a Hugging Face tokenizer.json: vocabulary, ranked merges, and the merge loop,
// with a bounded, thread-safe cache of results for repeated pieces.
//
// Merging follows HF `tokenizers` (models/bpe/word.rs): repeatedly merge the adjacent pair with the
// lowest merge rank, leftmost first. For byte-level models a piece's initial symbols are its bytes
// (each byte stands for one character of the GPT-2 byte-to-unicode alphabet), so no mapped string is
// built on the hot path.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/status.h"

namespace tachyon::tok {

// A fast 64-bit hash for short strings (8 bytes per multiply), used by the vocabulary and the cache.
inline uint64_t hash_bytes(std::string_view s) {
  constexpr uint64_t kMul = 0x9E3779B97F4A7C15ULL;
  uint64_t h = s.size() * kMul;
  size_t i = 0;
  for (; i + 8 <= s.size(); i += 8) {
    uint64_t w;
    __builtin_memcpy(&w, s.data() + i, 8);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  if (i < s.size()) {
    uint64_t w = 0;
    __builtin_memcpy(&w, s.data() + i, s.size() - i);
    h = (h ^ w) * kMul;
    h ^= h >> 29;
  }
  return h ^ (h >> 32);
}

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return size_t(hash_bytes(s)); }
};
using Vocab = std::unordered_map<std::string, int32_t, StringHash, std::equal_to<>>;

struct BpeOptions {
  std::optional<std::string> unk_token;
  std::string continuing_subword_prefix;
  std::string end_of_word_suffix;
  bool fuse_unk = false;
  bool byte_fallback = false;  // unknown characters become <0xNN> byte tokens
  bool ignore_merges = false;  // a piece that is itself in the vocabulary is emitted whole
};

// Bounded cache piece -> ids, split into independently locked shards. Each shard is an
// open-addressing table whose slots point into one byte arena holding key bytes followed by ids,
// so a hit costs about two cache misses. A full shard is cleared (simple, and keeps the cache
// adapting to the current text).
class BpeCache {
 public:
  explicit BpeCache(size_t capacity);
  bool get(std::string_view key, std::vector<int32_t>* out) const;  // appends on a hit
  void put(std::string_view key, const int32_t* ids, size_t n);

 private:
  static constexpr size_t kShards = 16;
  struct Slot {
    uint64_t hash = 0;  // 0: empty (stored hashes have their low bit set)
    uint32_t offset = 0;
    uint16_t key_len = 0;
    uint16_t n_ids = 0;
  };
  struct Shard {
    mutable std::mutex mu;
    std::vector<Slot> slots;  // power-of-two size, at most half full
    std::string arena;
    size_t count = 0;
  };
  const Slot* find(const Shard& s, uint64_t h, std::string_view key) const;
  size_t per_shard_;
  size_t arena_limit_;
  std::unique_ptr<Shard[]> shards_;
};

class BpeModel {
 public:
  // `merges` in rank order. Fails when a merge names a token that is not in `vocab`, or when its
  // merged token is not in `vocab`.
  static Result<std::unique_ptr<BpeModel>> build(Vocab vocab,
                                                 const std::vector<std::pair<std::string, std::string>>& merges,
                                                 BpeOptions options, bool byte_level);

  // Appends the ids of one pre-tokenized piece (raw UTF-8 bytes; byte-level mapping applied inside).
  void tokenize(std::string_view piece, std::vector<int32_t>* out) const;
  // The merge loop alone, no cache (for tests and benchmarks).
  void tokenize_uncached(std::string_view piece, std::vector<int32_t>* out) const;

  const Vocab& vocab() const { return vocab_; }
  bool byte_level() const { return byte_level_; }

  static constexpr size_t kCacheCapacity = 1 << 16;
  static constexpr size_t kMaxCachedPieceBytes = 256;
  static constexpr int kSmallWord = 24;  // words up to this many symbols use the quadratic scan

 private:
  struct Merge {
    int32_t rank;
    int32_t new_id;
  };
  // Open-addressing table (pair of ids) -> Merge; far cheaper to probe than std::unordered_map.
  class MergeTable {
   public:
    void init(size_t n);
    bool insert(uint64_t key, Merge m);  // false when the key is already present
    const Merge* find(uint64_t key) const {
      for (size_t i = slot(key);; i = (i + 1) & mask_) {
        if (entries_[i].key == key) return &entries_[i].merge;
        if (entries_[i].key == kEmpty) return nullptr;
      }
    }

   private:
    static constexpr uint64_t kEmpty = ~uint64_t(0);
    struct Entry {
      uint64_t key;
      Merge merge;
    };  // 16 bytes: one cache miss per probe
    size_t slot(uint64_t key) const { return size_t((key * 0x9E3779B97F4A7C15ULL) >> shift_); }
    std::vector<Entry> entries_;
    size_t mask_ = 0;
    int shift_ = 64;
  };
  static uint64_t pair_key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  const Merge* find_merge(int32_t a, int32_t b) const { return merges_.find(pair_key(a, b)); }
  void merge_small(std::vector<int32_t>* syms) const;
  void initial_symbols(std::string_view piece, std::vector<int32_t>* syms) const;
  void merge_symbols(std::vector<int32_t>* syms) const;
  void add_unknown(std::vector<int32_t>* syms, std::optional<int32_t>* pending_unk) const;

  BpeModel() : cache_(kCacheCapacity) {}
  Vocab vocab_;
  MergeTable merges_;
  BpeOptions options_;
  std::optional<int32_t> unk_id_;
  bool byte_level_ = false;
  bool simple_bytes_ = false;     // byte-level with no prefix/suffix/byte_fallback: fast initial symbols
  int32_t byte_to_id_[256] = {};  // byte-level: id of each byte's character, -1 when absent
  mutable BpeCache cache_;
};

}  // namespace tachyon::tok
