// An anonymous mapping aligned to 2 MiB and advised for transparent huge pages: large buffers that are
// streamed end to end (weights repacked at load, the bandwidth probe) then cost one TLB entry per 2 MiB.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tachyon {

inline constexpr int64_t kHugePage = int64_t(2) << 20;

class HugeBuffer {
 public:
  HugeBuffer() = default;
  // At least `bytes` (> 0), zero-filled by the kernel as pages are first touched. Aborts if the mapping fails.
  explicit HugeBuffer(int64_t bytes);
  ~HugeBuffer();
  HugeBuffer(HugeBuffer&& o) noexcept;
  HugeBuffer& operator=(HugeBuffer&& o) noexcept;
  HugeBuffer(const HugeBuffer&) = delete;
  HugeBuffer& operator=(const HugeBuffer&) = delete;

  uint8_t* data() const { return data_; }
  int64_t size() const { return size_; }
  // Whether madvise(MADV_HUGEPAGE) accepted the range (the kernel may still back it with small pages).
  bool huge() const { return huge_; }

 private:
  void release();
  void* raw_ = nullptr;
  size_t len_ = 0;
  uint8_t* data_ = nullptr;
  int64_t size_ = 0;
  bool huge_ = false;
};

}  // namespace tachyon
