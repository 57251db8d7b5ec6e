#include "core/file_read.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace tachyon {

namespace {

const char* file_kind(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// Closes the descriptor on every path out of read_regular_file.
struct Fd {
  int fd;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

std::string format_byte_limit(uint64_t bytes) {
  constexpr uint64_t kMiB = 1ull << 20;
  if (bytes >= kMiB && bytes % kMiB == 0) return fmt::format("{} MiB", bytes / kMiB);
  return fmt::format("{} bytes", bytes);
}

Result<std::string> read_regular_file(const std::string& path, uint64_t max_bytes) {
  // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer.
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)};
  if (f.fd < 0) return error("{}: cannot open: {}", path, std::strerror(errno));
  struct stat st {};
  if (::fstat(f.fd, &st) != 0) return error("{}: cannot stat: {}", path, std::strerror(errno));
  if (!S_ISREG(st.st_mode))
    return error("{}: is {}, expected a regular file", path, file_kind(st.st_mode));
  const uint64_t size = uint64_t(st.st_size);
  if (size > max_bytes)
    return error("{}: {} bytes is over the {} limit for this file", path, size, format_byte_limit(max_bytes));
  std::string text;
  text.resize(size_t(size) + 1);  // one spare byte notices a file that grew since fstat
  size_t got = 0;
  while (got < text.size()) {
    const ssize_t n = ::read(f.fd, text.data() + got, text.size() - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      return error("{}: read error: {}", path, std::strerror(errno));
    }
    if (n == 0) break;
    got += size_t(n);
    if (got > max_bytes)
      return error("{}: grew past the {} limit for this file while being read", path, format_byte_limit(max_bytes));
    if (got == text.size() && text.size() <= max_bytes) text.resize(std::min<uint64_t>(text.size() * 2, max_bytes + 1));
  }
  text.resize(got);
  return text;
}

}  // namespace tachyon
