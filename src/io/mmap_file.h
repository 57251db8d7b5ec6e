// Read-only memory-mapped regular file (anything else, such as a FIFO or a device, is refused without
// blocking). Move-only; unmaps on destruction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"

namespace tachyon {

class MmapFile {
 public:
  static Result<std::unique_ptr<MmapFile>> open(const std::string& path);
  ~MmapFile();
  MmapFile(const MmapFile&) = delete;
  MmapFile& operator=(const MmapFile&) = delete;

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }
  // Drops the whole pages inside [p, p + n) (a range of this kind of mapping) from the process: the next
  // read maps them from the file (or the page cache) again. For data read once at load and kept in
  // another form, so that it stops counting as resident.
  static void drop_pages(const void* p, size_t n);

 private:
  MmapFile() = default;
  std::string path_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace tachyon
