// Non-finite value scan of a checkpoint (see value_scan.h).
#include "io/value_scan.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include <fmt/format.h>

namespace tachyon {

namespace {

// Elements whose bits under kMask equal kMask are not numbers (all-ones exponent or NaN code).
template <typename U, U kMask>
int64_t count_masked(const uint8_t* p, int64_t n, int64_t* first) {
  constexpr int64_t kBlock = 4096;  // elements counted before the block is searched for its first one
  int64_t total = 0;
  for (int64_t b0 = 0; b0 < n; b0 += kBlock) {
    const int64_t m = std::min(kBlock, n - b0);
    const uint8_t* q = p + b0 * int64_t(sizeof(U));
    uint32_t c = 0;
    for (int64_t i = 0; i < m; ++i) {  // vectorises: unaligned loads, a compare and an add
      U u;
      std::memcpy(&u, q + i * int64_t(sizeof(U)), sizeof(U));
      c += uint32_t(U(u & kMask) == kMask);
    }
    if (c == 0) continue;
    if (total == 0)
      for (int64_t i = 0; i < m; ++i) {
        U u;
        std::memcpy(&u, q + i * int64_t(sizeof(U)), sizeof(U));
        if (U(u & kMask) == kMask) {
          *first = b0 + i;
          break;
        }
      }
    total += c;
  }
  return total;
}

struct Chunk {
  size_t tensor;      // index into the scanned list
  int64_t begin, n;   // elements
  int64_t count = 0, first = -1;
};

}  // namespace

bool value_scan_applies(DType t) {
  switch (t) {
    case DType::kBF16:
    case DType::kF16:
    case DType::kF32:
    case DType::kF8E4M3:
    case DType::kF8E8M0: return true;
    default: return false;
  }
}

int64_t count_nonfinite(DType t, const uint8_t* p, int64_t n, int64_t* first) {
  switch (t) {
    case DType::kBF16: return count_masked<uint16_t, 0x7f80>(p, n, first);
    case DType::kF16: return count_masked<uint16_t, 0x7c00>(p, n, first);
    case DType::kF32: return count_masked<uint32_t, 0x7f800000u>(p, n, first);
    case DType::kF8E4M3: return count_masked<uint8_t, 0x7f>(p, n, first);  // 0x7F and 0xFF
    case DType::kF8E8M0: return count_masked<uint8_t, 0xff>(p, n, first);
    default: return 0;
  }
}

ValueScan scan_values(const TensorStore& store, const ThreadPool* pool, const ScanProgress& progress) {
  std::vector<const TensorInfo*> ts;
  for (const auto& [name, t] : store.by_name())
    if (value_scan_applies(t->dtype) && t->nbytes > 0) ts.push_back(t);
  // File order, so the mapping is read front to back once.
  std::sort(ts.begin(), ts.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return std::tie(a->file, a->data) < std::tie(b->file, b->data);
  });
  constexpr uint64_t kChunkBytes = 8u << 20, kBatchBytes = 512u << 20;
  std::vector<Chunk> chunks;
  ValueScan out;
  for (size_t i = 0; i < ts.size(); ++i) {
    const int64_t es = int64_t(dtype_size(ts[i]->dtype)), n = int64_t(ts[i]->nbytes) / es;
    const int64_t per = std::max<int64_t>(1, int64_t(kChunkBytes) / es);
    for (int64_t b = 0; b < n; b += per) chunks.push_back({i, b, std::min(per, n - b)});
    out.bytes_scanned += ts[i]->nbytes;
  }
  out.tensors_scanned = int64_t(ts.size());
  auto scan = [&](int64_t c) {
    Chunk& k = chunks[size_t(c)];
    const TensorInfo& t = *ts[k.tensor];
    const int64_t es = int64_t(dtype_size(t.dtype));
    k.count = count_nonfinite(t.dtype, t.data + k.begin * es, k.n, &k.first);
  };
  uint64_t done = 0;
  for (size_t c0 = 0; c0 < chunks.size();) {
    size_t c1 = c0;
    uint64_t bytes = 0;
    while (c1 < chunks.size() && (c1 == c0 || bytes < kBatchBytes)) {
      bytes += uint64_t(chunks[c1].n) * dtype_size(ts[chunks[c1].tensor]->dtype);
      ++c1;
    }
    const int64_t n = int64_t(c1 - c0);
    auto body = [&](int64_t c) { scan(int64_t(c0) + c); };
    if (pool) pool->run_chunks(n, body);
    else
      for (int64_t c = 0; c < n; ++c) body(c);
    done += bytes;
    if (progress) progress(done, out.bytes_scanned);
    c0 = c1;
  }
  if (progress && chunks.empty()) progress(0, 0);
  // Chunks of one tensor are adjacent and in element order.
  for (const Chunk& k : chunks) {
    if (k.count == 0) continue;
    const TensorInfo& t = *ts[k.tensor];
    if (out.bad.empty() || out.bad.back().name != t.name) out.bad.push_back({t.name, t.dtype, 0, k.begin + k.first});
    out.bad.back().count += k.count;
  }
  std::sort(out.bad.begin(), out.bad.end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  return out;
}

std::string describe(const NonFiniteTensor& t) {
  return fmt::format("{} ({}): {} non-finite value{}, the first at element {}", t.name, dtype_name(t.dtype), t.count,
                     t.count == 1 ? "" : "s", t.first);
}

}  // namespace tachyon
