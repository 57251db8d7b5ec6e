// BPE merge loop and cache. See bpe.h.
#include "tokenizer/bpe.h"

#include <algorithm>
#include <cstring>
#include <functional>

#include <fmt/format.h>

#include "tokenizer/byte_level.h"
#include "tokenizer/utf8.h"

namespace tachyon::tok {

BpeCache::BpeCache(size_t capacity)
    : per_shard_(std::max<size_t>(8, capacity / kShards)), arena_limit_(per_shard_ * 64), shards_(new Shard[kShards]) {
  size_t n_slots = 16;
  while (n_slots < 2 * per_shard_) n_slots <<= 1;
  for (size_t i = 0; i < kShards; ++i) shards_[i].slots.resize(n_slots);
}

const BpeCache::Slot* BpeCache::find(const Shard& s, uint64_t h, std::string_view key) const {
  const size_t mask = s.slots.size() - 1;
  for (size_t i = size_t(h) & mask;; i = (i + 1) & mask) {
    const Slot& slot = s.slots[i];
    if (slot.hash == 0) return &slot;
    if (slot.hash == h && slot.key_len == key.size() &&
        std::memcmp(s.arena.data() + slot.offset, key.data(), key.size()) == 0)
      return &slot;
  }
}

bool BpeCache::get(std::string_view key, std::vector<int32_t>* out) const {
  const uint64_t h = hash_bytes(key) | 1;
  const Shard& s = shards_[h >> 60];
  std::lock_guard<std::mutex> lock(s.mu);
  const Slot* slot = find(s, h, key);
  if (slot->hash == 0) return false;
  const size_t old = out->size();
  out->resize(old + slot->n_ids);
  std::memcpy(out->data() + old, s.arena.data() + slot->offset + slot->key_len, slot->n_ids * sizeof(int32_t));
  return true;
}

void BpeCache::put(std::string_view key, const int32_t* ids, size_t n) {
  if (key.size() > UINT16_MAX || n > UINT16_MAX) return;
  const uint64_t h = hash_bytes(key) | 1;
  Shard& s = shards_[h >> 60];
  std::lock_guard<std::mutex> lock(s.mu);
  const size_t bytes = key.size() + n * sizeof(int32_t);
  if (s.count >= per_shard_ || s.arena.size() + bytes > arena_limit_) {
    std::fill(s.slots.begin(), s.slots.end(), Slot{});
    s.arena.clear();
    s.count = 0;
  }
  Slot* slot = const_cast<Slot*>(find(s, h, key));
  if (slot->hash != 0) return;  // another thread got there first
  *slot = Slot{h, uint32_t(s.arena.size()), uint16_t(key.size()), uint16_t(n)};
  s.arena.append(key);
  s.arena.append(reinterpret_cast<const char*>(ids), n * sizeof(int32_t));
  ++s.count;
}

void BpeModel::MergeTable::init(size_t n) {
  size_t cap = 16;
  shift_ = 60;
  while (cap < 2 * n) cap <<= 1, --shift_;
  entries_.assign(cap, Entry{kEmpty, Merge{0, 0}});
  mask_ = cap - 1;
}

bool BpeModel::MergeTable::insert(uint64_t key, Merge m) {
  for (size_t i = slot(key);; i = (i + 1) & mask_) {
    if (entries_[i].key == key) return false;
    if (entries_[i].key == kEmpty) {
      entries_[i] = Entry{key, m};
      return true;
    }
  }
}

Result<std::unique_ptr<BpeModel>> BpeModel::build(Vocab vocab,
                                                  const std::vector<std::pair<std::string, std::string>>& merges,
                                                  BpeOptions options, bool byte_level) {
  std::unique_ptr<BpeModel> m(new BpeModel());
  m->vocab_ = std::move(vocab);
  m->options_ = std::move(options);
  m->byte_level_ = byte_level;
  const size_t prefix_len = m->options_.continuing_subword_prefix.size();
  m->merges_.init(merges.size());
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const auto& [a, b] = merges[rank];
    auto ia = m->vocab_.find(a), ib = m->vocab_.find(b);
    if (ia == m->vocab_.end()) return error("merge #{} ('{}' '{}'): '{}' is not in the vocabulary", rank, a, b, a);
    if (ib == m->vocab_.end()) return error("merge #{} ('{}' '{}'): '{}' is not in the vocabulary", rank, a, b, b);
    // HF: the merged token drops the right part's continuing-subword prefix.
    std::string merged = a + (prefix_len > 0 && b.compare(0, prefix_len, m->options_.continuing_subword_prefix) == 0
                                  ? b.substr(prefix_len)
                                  : b);
    auto im = m->vocab_.find(merged);
    if (im == m->vocab_.end())
      return error("merge #{} ('{}' '{}'): merged token '{}' is not in the vocabulary", rank, a, b, merged);
    // The first occurrence of a pair keeps its (lower) rank, as in HF.
    m->merges_.insert(pair_key(ia->second, ib->second), Merge{int32_t(rank), im->second});
  }
  if (m->options_.unk_token) {
    auto it = m->vocab_.find(*m->options_.unk_token);
    if (it != m->vocab_.end()) m->unk_id_ = it->second;
  }
  m->simple_bytes_ = byte_level && prefix_len == 0 && m->options_.end_of_word_suffix.empty() &&
                     !m->options_.byte_fallback;
  for (int b = 0; b < 256; ++b) {
    std::string ch;
    append_code_point(byte_to_code_point(uint8_t(b)), &ch);
    auto it = m->vocab_.find(ch);
    m->byte_to_id_[b] = it == m->vocab_.end() ? -1 : it->second;
  }
  return m;
}

// HF merge_word: an unknown character becomes the unk token (consecutive ones fused when fuse_unk),
// or is dropped when the model has no unk token.
void BpeModel::add_unknown(std::vector<int32_t>* syms, std::optional<int32_t>* pending_unk) const {
  if (!unk_id_) return;
  if (pending_unk->has_value() && !options_.fuse_unk) syms->push_back(**pending_unk);
  *pending_unk = *unk_id_;
}

void BpeModel::initial_symbols(std::string_view piece, std::vector<int32_t>* syms) const {
  std::optional<int32_t> pending_unk;
  auto known = [&](int32_t id) {
    if (pending_unk) syms->push_back(*pending_unk);
    pending_unk.reset();
    syms->push_back(id);
  };
  if (simple_bytes_) {
    for (char c : piece) {
      const int32_t id = byte_to_id_[uint8_t(c)];
      if (id >= 0) known(id);
      else add_unknown(syms, &pending_unk);
    }
  } else {
    const std::string mapped = byte_level_ ? bytes_to_byte_level(piece) : std::string(piece);
    std::string s;
    for (size_t i = 0; i < mapped.size();) {
      size_t len = 0;
      decode_code_point(mapped, i, &len);
      s.clear();
      if (i > 0) s += options_.continuing_subword_prefix;
      s.append(mapped, i, len);
      if (i + len == mapped.size()) s += options_.end_of_word_suffix;
      i += len;
      if (auto it = vocab_.find(s); it != vocab_.end()) {
        known(it->second);
        continue;
      }
      if (options_.byte_fallback) {
        std::vector<int32_t> bytes;
        for (char c : s) {
          auto it = vocab_.find(fmt::format("<0x{:02X}>", uint8_t(c)));
          if (it == vocab_.end()) break;
          bytes.push_back(it->second);
        }
        if (bytes.size() == s.size()) {
          for (int32_t id : bytes) known(id);
          continue;
        }
      }
      add_unknown(syms, &pending_unk);
    }
  }
  if (pending_unk) syms->push_back(*pending_unk);
}

// Short words: scan for the lowest-rank adjacent pair (leftmost on ties) and merge it, which picks
// the same merges as the heap below.
void BpeModel::merge_small(std::vector<int32_t>* syms) const {
  std::vector<int32_t>& s = *syms;
  constexpr int32_t kNone = INT32_MAX;
  int32_t rank[kSmallWord], next_id[kSmallWord];
  size_t n = s.size();
  auto score = [&](size_t i) {
    const Merge* m = find_merge(s[i], s[i + 1]);
    rank[i] = m ? m->rank : kNone;
    next_id[i] = m ? m->new_id : -1;
  };
  for (size_t i = 0; i + 1 < n; ++i) score(i);
  while (n > 1) {
    size_t best = 0;
    for (size_t i = 1; i + 1 < n; ++i)
      if (rank[i] < rank[best]) best = i;
    if (rank[best] == kNone) break;
    s[best] = next_id[best];
    for (size_t i = best + 1; i + 1 < n; ++i) {
      s[i] = s[i + 1];
      rank[i] = rank[i + 1];
      next_id[i] = next_id[i + 1];
    }
    --n;
    if (best > 0) score(best - 1);
    if (best + 1 < n) score(best);
  }
  s.resize(n);
}

// HF Word::merge_all: a min-heap of (rank, position) over adjacent pairs, with lazy invalidation.
void BpeModel::merge_symbols(std::vector<int32_t>* syms) const {
  const int n = int(syms->size());
  if (n < 2) return;
  if (n <= kSmallWord) return merge_small(syms);
  struct Node {
    int32_t id, prev, next;
  };
  struct Cand {
    int32_t rank, pos, new_id;
    bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
  };
  thread_local std::vector<Node> nodes;
  thread_local std::vector<Cand> heap;  // min-heap through std::greater
  nodes.resize(size_t(n));
  heap.clear();
  auto push = [](const Cand& c) {
    heap.push_back(c);
    std::push_heap(heap.begin(), heap.end(), std::greater<Cand>());
  };
  for (int i = 0; i < n; ++i) nodes[size_t(i)] = {(*syms)[size_t(i)], i - 1, i + 1 < n ? i + 1 : -1};
  for (int i = 0; i + 1 < n; ++i)
    if (const Merge* m = find_merge(nodes[size_t(i)].id, nodes[size_t(i + 1)].id)) push({m->rank, i, m->new_id});
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), std::greater<Cand>());
    const Cand top = heap.back();
    heap.pop_back();
    Node& cur = nodes[size_t(top.pos)];
    if (cur.id < 0 || cur.next < 0) continue;  // removed, or now the last symbol
    const Node& right = nodes[size_t(cur.next)];
    const Merge* m = find_merge(cur.id, right.id);
    if (m == nullptr || m->new_id != top.new_id) continue;  // stale entry
    const int32_t removed = cur.next;
    cur.id = top.new_id;
    cur.next = right.next;
    nodes[size_t(removed)].id = -1;
    if (cur.next >= 0) nodes[size_t(cur.next)].prev = top.pos;
    if (cur.prev >= 0)
      if (const Merge* pm = find_merge(nodes[size_t(cur.prev)].id, cur.id)) push({pm->rank, cur.prev, pm->new_id});
    if (cur.next >= 0)
      if (const Merge* nm = find_merge(cur.id, nodes[size_t(cur.next)].id)) push({nm->rank, top.pos, nm->new_id});
  }
  size_t w = 0;
  for (int i = 0; i >= 0; i = nodes[size_t(i)].next) (*syms)[w++] = nodes[size_t(i)].id;
  syms->resize(w);
}

void BpeModel::tokenize_uncached(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  if (options_.ignore_merges) {
    auto it = byte_level_ ? vocab_.find(bytes_to_byte_level(piece)) : vocab_.find(piece);
    if (it != vocab_.end()) {
      out->push_back(it->second);
      return;
    }
  }
  thread_local std::vector<int32_t> syms;
  syms.clear();
  initial_symbols(piece, &syms);
  merge_symbols(&syms);
  out->insert(out->end(), syms.begin(), syms.end());
}

void BpeModel::tokenize(std::string_view piece, std::vector<int32_t>* out) const {
  if (piece.empty()) return;
  if (piece.size() == 1 && simple_bytes_ && byte_to_id_[uint8_t(piece[0])] >= 0) {
    out->push_back(byte_to_id_[uint8_t(piece[0])]);
    return;
  }
  const bool cacheable = piece.size() <= kMaxCachedPieceBytes;
  if (cacheable && cache_.get(piece, out)) return;
  const size_t before = out->size();
  tokenize_uncached(piece, out);
  if (cacheable) cache_.put(piece, out->data() + before, out->size() - before);
}

}  // namespace tachyon::tok
