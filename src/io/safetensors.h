// Safetensors reader over mmap: a single file or a sharded folder (model.safetensors.index.json).
//
// Every header is validated before any tensor is used: header length bound, well-formed JSON, known
// dtypes, offsets inside the file and non-overlapping, byte size = shape x dtype, no duplicate names,
// and (for folders) index and shards consistent. Every error names the file and the tensor.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"
#include "io/mmap_file.h"

namespace tachyon {

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;  // points into the mapped file (null in a header parsed on its own)
  size_t nbytes = 0;
  uint64_t offset = 0;  // where the data starts inside the file's data section (after the header)
  std::string file;  // path of the file holding it

  int64_t numel() const;
  std::string shape_str() const;  // "[128, 256]"
};

// Largest header we accept (the real V4-Pro shards have headers well under 1 MiB).
inline constexpr uint64_t kMaxSafetensorsHeader = 100ull << 20;
// Largest model.safetensors.index.json read (V4-Pro's lists ~150k tensors: about 16 MiB).
inline constexpr uint64_t kMaxSafetensorsIndexBytes = 64ull << 20;

// One file's header: its tensors, in header order, and its __metadata__.
struct SafetensorsHeader {
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> metadata;
};

// Parses and validates a header's JSON against a data section of `data_size` bytes: known dtypes,
// byte size = shape x dtype, offsets inside the data section and not overlapping, no duplicate names.
// Nothing is allocated in proportion to the shapes. The tensors' `data` stays null. `path` names the
// file in errors.
Result<SafetensorsHeader> parse_safetensors_header(std::string_view header_json, uint64_t data_size,
                                                   const std::string& path);
// The same for a whole file's bytes (8-byte little-endian header length, header, data); `data`
// points into `bytes`.
Result<SafetensorsHeader> parse_safetensors(const uint8_t* bytes, size_t size, const std::string& path);
// The weight map of a model.safetensors.index.json text: tensor name -> shard file name (a plain
// name inside the folder).
Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view json_text,
                                                                  const std::string& path);

class SafetensorsFile {
 public:
  static Result<std::unique_ptr<SafetensorsFile>> open(const std::string& path);
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::string& path() const { return file_->path(); }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  std::unique_ptr<MmapFile> file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// All tensors of a checkpoint folder (or one file), by name.
class TensorStore {
 public:
  // `path` is a folder (with model.safetensors.index.json, or *.safetensors files) or one .safetensors file.
  static Result<TensorStore> open(const std::string& path);

  const TensorInfo* find(const std::string& name) const;
  const std::map<std::string, const TensorInfo*>& by_name() const { return by_name_; }
  size_t size() const { return by_name_.size(); }
  const std::vector<std::string>& files() const { return file_paths_; }

 private:
  Status add_file(std::unique_ptr<SafetensorsFile> f);
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::vector<std::string> file_paths_;
  std::map<std::string, const TensorInfo*> by_name_;
};

// Writer used by the tiny-model generator, the logits command and tests. Tensors are written in the
// order given, with a header padded to a multiple of 8 and {"format": "pt"} metadata.
struct TensorSpec {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  size_t nbytes() const;
};
// Streaming form: fill(i, dst) writes the bytes of tensors[i] (nbytes() of them) into dst.
Status write_safetensors(const std::string& path, const std::vector<TensorSpec>& tensors,
                         const std::function<void(size_t, uint8_t*)>& fill);

struct TensorToWrite {
  std::string name;
  DType dtype;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};
Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors);

}  // namespace tachyon
