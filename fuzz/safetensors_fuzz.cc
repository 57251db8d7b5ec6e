// libFuzzer target for the safetensors reader. Each input is used two ways:
//   1. as a whole file (8-byte little-endian header length, JSON header, data): every accepted
//      tensor must lie inside the data section, have nbytes = shape x dtype size, and not share
//      bytes with another;
//   2. as a header with a data section that is not there: [8-byte header length][header]
//      [8-byte data size]; the first bytes of a real checkpoint plus its data size are such an
//      input, so real headers seed it. Accepted tensors must lie inside the claimed data size, and
//      nothing may be allocated in proportion to what the header claims (the RSS limit catches it).
// Errors must be one line that names the file.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "io/safetensors.h"

namespace {

using tachyon::SafetensorsHeader;
using tachyon::TensorInfo;

const std::string kPath = "fuzz.safetensors";

void check_error(const tachyon::Status& st) {
  const std::string& m = st.message();
  if (m.rfind(kPath + ": ", 0) != 0 || m.find('\n') != std::string::npos) __builtin_trap();
}

// nbytes = product of the shape x dtype size, and no two tensors with data share a byte.
void check_tensors(const std::vector<TensorInfo>& tensors, uint64_t data_size) {
  std::vector<const TensorInfo*> spans;
  for (const TensorInfo& t : tensors) {
    uint64_t n = tachyon::dtype_size(t.dtype);
    for (int64_t d : t.shape) {
      if (d < 0 || __builtin_mul_overflow(n, uint64_t(d), &n)) __builtin_trap();
    }
    if (n != t.nbytes) __builtin_trap();
    uint64_t end = 0;
    if (__builtin_add_overflow(t.offset, uint64_t(t.nbytes), &end) || end > data_size) __builtin_trap();
    if (t.nbytes > 0) spans.push_back(&t);
  }
  std::sort(spans.begin(), spans.end(), [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  for (size_t i = 1; i < spans.size(); ++i)
    for (size_t k = 0; k < i; ++k)  // every earlier span, not just the previous one
      if (spans[k]->offset + spans[k]->nbytes > spans[i]->offset) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // 1. The whole input as a file.
  auto whole = tachyon::parse_safetensors(data, size, kPath);
  if (whole.is_ok()) {
    uint64_t hlen = 0;
    std::memcpy(&hlen, data, 8);
    const uint8_t* base = data + 8 + hlen;
    const uint64_t data_size = size - 8 - hlen;
    check_tensors(whole->tensors, data_size);
    for (const TensorInfo& t : whole->tensors)
      if (t.data != base + t.offset) __builtin_trap();
  } else {
    check_error(whole.status());
  }

  // 2. A header and the size of a data section that is not there.
  if (size < 16) return 0;
  uint64_t hlen = 0, data_size = 0;
  std::memcpy(&hlen, data, 8);
  if (hlen > size - 16) return 0;
  std::memcpy(&data_size, data + 8 + hlen, 8);
  const std::string_view header(reinterpret_cast<const char*>(data + 8), size_t(hlen));
  auto head = tachyon::parse_safetensors_header(header, data_size, kPath);
  if (head.is_ok()) {
    check_tensors(head->tensors, data_size);
    for (const TensorInfo& t : head->tensors)
      if (t.data != nullptr) __builtin_trap();
  } else {
    check_error(head.status());
  }
  return 0;
}
