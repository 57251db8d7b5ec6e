// Bounded reading of the small files a model folder holds (config.json, the safetensors index,
// tokenizer.json). The folder may come from anyone: a "file" can be a FIFO that never ends, a
// symlink to /dev/zero, or simply huge, so the type and size are checked before anything is read.
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"

namespace tachyon {

// The whole of `path` (symlinks followed). Refuses, before reading, anything that is not a regular
// file (a FIFO, a device, a directory or a socket; opening does not block on a FIFO) and files over
// `max_bytes`; a file that grows past `max_bytes` while being read is refused too.
Result<std::string> read_regular_file(const std::string& path, uint64_t max_bytes);

// "1 MiB", "64 MiB", or a byte count: for error messages about size limits.
std::string format_byte_limit(uint64_t bytes);

}  // namespace tachyon
