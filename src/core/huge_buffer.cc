#include "core/huge_buffer.h"

#include <sys/mman.h>

#include <utility>

#include "core/check.h"

namespace tachyon {

HugeBuffer::HugeBuffer(int64_t bytes) {
  TACHYON_CHECK(bytes > 0, "HugeBuffer: size must be positive");
  const size_t rounded = size_t((bytes + kHugePage - 1) / kHugePage * kHugePage);
  len_ = rounded + size_t(kHugePage);
  raw_ = mmap(nullptr, len_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  TACHYON_CHECK(raw_ != MAP_FAILED, "HugeBuffer: cannot map the buffer");
  const uintptr_t a = (reinterpret_cast<uintptr_t>(raw_) + uintptr_t(kHugePage) - 1) & ~uintptr_t(kHugePage - 1);
  data_ = reinterpret_cast<uint8_t*>(a);
  size_ = bytes;
  huge_ = madvise(data_, rounded, MADV_HUGEPAGE) == 0;
}

void HugeBuffer::release() {
  if (raw_) munmap(raw_, len_);
  raw_ = nullptr;
  data_ = nullptr;
  len_ = 0;
  size_ = 0;
  huge_ = false;
}

HugeBuffer::~HugeBuffer() { release(); }

HugeBuffer::HugeBuffer(HugeBuffer&& o) noexcept { *this = std::move(o); }

HugeBuffer& HugeBuffer::operator=(HugeBuffer&& o) noexcept {
  if (this != &o) {
    release();
    std::swap(raw_, o.raw_);
    std::swap(len_, o.len_);
    std::swap(data_, o.data_);
    std::swap(size_, o.size_);
    std::swap(huge_, o.huge_);
  }
  return *this;
}

}  // namespace tachyon
