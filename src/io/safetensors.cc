#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/file_read.h"
#include "io/printable.h"

namespace tachyon {

namespace fs = std::filesystem;
using json = nlohmann::json;

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

std::string TensorInfo::shape_str() const { return fmt::format("[{}]", fmt::join(shape, ", ")); }

namespace {

// Parses the JSON header, rejecting duplicate top-level keys (nlohmann keeps only the last one).
Result<json> parse_header_json(const std::string& path, std::string_view text) {
  std::set<std::string> seen;
  std::string dup;
  json::parser_callback_t cb = [&](int depth, json::parse_event_t ev, json& parsed) {
    if (depth == 1 && ev == json::parse_event_t::key) {
      const std::string& k = parsed.get_ref<const std::string&>();
      if (!seen.insert(k).second && dup.empty()) dup = k;
    }
    return true;
  };
  json h;
  try {
    h = json::parse(text.begin(), text.end(), cb);
  } catch (const json::exception& e) {
    return error("{}: malformed safetensors header JSON: {}", path, e.what());
  }
  if (!dup.empty()) return error("{}: tensor '{}': duplicate name in safetensors header", path, printable(dup));
  if (!h.is_object()) return error("{}: safetensors header is not a JSON object", path);
  return h;
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

// One tensor's header entry, checked against the data section.
Result<TensorInfo> parse_entry(const std::string& path, const std::string& name, const json& v, uint64_t data_size) {
  auto bad = [&](const std::string& what) { return error("{}: tensor '{}': {}", path, printable(name), what); };
  if (has_control_char(name)) return bad("the name has a control character");
  if (!v.is_object()) return bad("header entry is not an object");
  if (!v.contains("dtype") || !v["dtype"].is_string()) return bad("missing or non-string 'dtype'");
  auto dt = dtype_from_name(v["dtype"].get<std::string>());
  if (!dt) return bad(fmt::format("unsupported dtype '{}'", printable(v["dtype"].get<std::string>())));
  if (!v.contains("shape") || !v["shape"].is_array()) return bad("missing or non-array 'shape'");
  if (!v.contains("data_offsets") || !v["data_offsets"].is_array() || v["data_offsets"].size() != 2)
    return bad("'data_offsets' must be an array of two integers");
  TensorInfo t;
  t.name = name;
  t.dtype = *dt;
  t.file = path;
  uint64_t numel = 1;
  for (const json& d : v["shape"]) {
    if (!d.is_number_unsigned()) return bad("shape entries must be non-negative integers");
    uint64_t dv = d.get<uint64_t>();
    if (dv > (1ull << 40) || !checked_mul(numel, dv, &numel)) return bad("shape is too large");
    t.shape.push_back(int64_t(dv));
  }
  const json& off = v["data_offsets"];
  if (!off[0].is_number_unsigned() || !off[1].is_number_unsigned())
    return bad("'data_offsets' must be non-negative integers");
  const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
  if (b > e) return bad(fmt::format("data_offsets [{}, {}] are reversed", b, e));
  if (e > data_size)
    return bad(fmt::format("data_offsets [{}, {}] run past the end of the data ({} bytes; file truncated?)", b, e,
                           data_size));
  uint64_t expect = 0;
  if (!checked_mul(numel, dtype_size(t.dtype), &expect)) return bad("byte size overflows");
  if (e - b != expect)
    return bad(fmt::format("byte size {} does not match shape {} x {} ({} bytes)", e - b, t.shape_str(),
                           dtype_name(t.dtype), expect));
  t.offset = b;
  t.nbytes = size_t(e - b);
  return t;
}

// Tensors with data may not share bytes (empty ones may sit anywhere).
Status check_no_overlap(const std::string& path, const std::vector<TensorInfo>& tensors) {
  std::vector<const TensorInfo*> spans;
  for (const TensorInfo& t : tensors)
    if (t.nbytes > 0) spans.push_back(&t);
  std::sort(spans.begin(), spans.end(), [](const TensorInfo* a, const TensorInfo* b) { return a->offset < b->offset; });
  // Sorted by start, a span overlaps an earlier one iff it starts before the furthest end so far.
  const TensorInfo* furthest = nullptr;
  for (const TensorInfo* t : spans) {
    if (furthest != nullptr && t->offset < furthest->offset + furthest->nbytes)
      return error("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", path, t->name, t->offset,
                   t->offset + t->nbytes, furthest->name, furthest->offset, furthest->offset + furthest->nbytes);
    if (furthest == nullptr || t->offset + t->nbytes > furthest->offset + furthest->nbytes) furthest = t;
  }
  return Status::ok();
}

}  // namespace

Result<SafetensorsHeader> parse_safetensors_header(std::string_view header_json, uint64_t data_size,
                                                   const std::string& path) {
  TACHYON_ASSIGN_OR_RETURN(json h, parse_header_json(path, header_json));
  SafetensorsHeader out;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return error("{}: __metadata__ is not an object", path);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string())
          return error("{}: __metadata__ value '{}' is not a string", path, printable(m.key()));
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    TACHYON_ASSIGN_OR_RETURN(TensorInfo t, parse_entry(path, name, v, data_size));
    out.tensors.push_back(std::move(t));
  }
  TACHYON_RETURN_IF_ERROR(check_no_overlap(path, out.tensors));
  return out;
}

Result<SafetensorsHeader> parse_safetensors(const uint8_t* bytes, size_t size, const std::string& path) {
  if (size < 8) return error("{}: truncated safetensors file ({} bytes, need at least 8)", path, size);
  uint64_t hlen = 0;
  std::memcpy(&hlen, bytes, 8);  // little-endian host
  if (hlen > kMaxSafetensorsHeader)
    return error("{}: safetensors header length {} exceeds the {} byte limit", path, hlen, kMaxSafetensorsHeader);
  if (hlen > size - 8)
    return error("{}: safetensors header length {} runs past the end of the file ({} bytes)", path, hlen, size);
  const std::string_view header(reinterpret_cast<const char*>(bytes + 8), size_t(hlen));
  TACHYON_ASSIGN_OR_RETURN(SafetensorsHeader h, parse_safetensors_header(header, size - 8 - hlen, path));
  const uint8_t* base = bytes + 8 + hlen;
  for (TensorInfo& t : h.tensors) t.data = base + t.offset;
  return h;
}

Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view json_text,
                                                                  const std::string& ipath) {
  json j;
  try {
    j = json::parse(json_text.begin(), json_text.end());
  } catch (const json::exception& e) {
    return error("{}: malformed JSON: {}", ipath, e.what());
  }
  if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
    return error("{}: missing 'weight_map' object", ipath);
  std::map<std::string, std::string> wmap;
  for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
    const std::string name = printable(it.key());
    if (has_control_char(it.key())) return error("{}: tensor '{}': the name has a control character", ipath, name);
    if (!it.value().is_string()) return error("{}: tensor '{}': shard name is not a string", ipath, name);
    std::string shard = it.value().get<std::string>();
    if (shard.empty() || shard.find('/') != std::string::npos || shard.find("..") != std::string::npos ||
        has_control_char(shard))
      return error("{}: tensor '{}': invalid shard file name '{}'", ipath, name, printable(shard));
    wmap[it.key()] = std::move(shard);
  }
  return wmap;
}

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  TACHYON_ASSIGN_OR_RETURN(std::unique_ptr<MmapFile> mf, MmapFile::open(path));
  TACHYON_ASSIGN_OR_RETURN(SafetensorsHeader h, parse_safetensors(mf->data(), mf->size(), path));
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  f->tensors_ = std::move(h.tensors);
  f->metadata_ = std::move(h.metadata);
  f->file_ = std::move(mf);
  return f;
}

Status TensorStore::add_file(std::unique_ptr<SafetensorsFile> f) {
  for (const TensorInfo& t : f->tensors()) {
    auto [it, inserted] = by_name_.emplace(t.name, &t);
    if (!inserted)
      return error("tensor '{}' appears in both {} and {}", t.name, it->second->file, t.file);
  }
  file_paths_.push_back(f->path());
  files_.push_back(std::move(f));
  return Status::ok();
}

Result<TensorStore> TensorStore::open(const std::string& path) {
  TensorStore store;
  std::error_code ec;
  if (!fs::exists(path, ec)) return error("{}: no such file or directory", path);
  if (!fs::is_directory(path, ec)) {
    TACHYON_ASSIGN_OR_RETURN(auto f, SafetensorsFile::open(path));
    TACHYON_RETURN_IF_ERROR(store.add_file(std::move(f)));
    return store;
  }
  fs::path dir(path);
  fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index, ec)) {
    const std::string ipath = index.string();
    TACHYON_ASSIGN_OR_RETURN(std::string text, read_regular_file(ipath, kMaxSafetensorsIndexBytes));
    TACHYON_ASSIGN_OR_RETURN(const auto wmap, parse_safetensors_index(text, ipath));
    std::set<std::string> shard_names;
    for (const auto& [name, shard] : wmap) shard_names.insert(shard);
    for (const std::string& shard : shard_names) {
      fs::path sp = dir / shard;
      if (!fs::exists(sp, ec))
        return error("{}: shard '{}' listed in the index does not exist", ipath, shard);
      TACHYON_ASSIGN_OR_RETURN(auto f, SafetensorsFile::open(sp.string()));
      for (const TensorInfo& t : f->tensors()) {
        auto w = wmap.find(t.name);
        if (w == wmap.end())
          return error("{}: tensor '{}' in shard {} is not listed in the index", ipath, t.name, shard);
        if (w->second != shard)
          return error("{}: tensor '{}' is in shard {} but the index says {}", ipath, t.name, shard, w->second);
      }
      TACHYON_RETURN_IF_ERROR(store.add_file(std::move(f)));
    }
    for (const auto& [name, shard] : wmap) {
      if (!store.by_name_.count(name))
        return error("{}: tensor '{}' is listed in the index but missing from shard {}", ipath, name, shard);
    }
    return store;
  }
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file() && e.path().extension() == ".safetensors") files.push_back(e.path());
  if (ec) return error("{}: cannot list directory: {}", path, ec.message());
  if (files.empty()) return error("{}: no .safetensors files and no model.safetensors.index.json", path);
  std::sort(files.begin(), files.end());
  for (const fs::path& p : files) {
    TACHYON_ASSIGN_OR_RETURN(auto f, SafetensorsFile::open(p.string()));
    TACHYON_RETURN_IF_ERROR(store.add_file(std::move(f)));
  }
  return store;
}

const TensorInfo* TensorStore::find(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second;
}

size_t TensorSpec::nbytes() const {
  size_t n = dtype_size(dtype);
  for (int64_t d : shape) n *= size_t(d);
  return n;
}

Status write_safetensors(const std::string& path, const std::vector<TensorSpec>& tensors,
                         const std::function<void(size_t, uint8_t*)>& fill) {
  json h = json::object();
  h["__metadata__"] = {{"format", "pt"}};
  uint64_t off = 0;
  for (const TensorSpec& t : tensors) {
    uint64_t n = t.nbytes();
    h[t.name] = {{"dtype", std::string(dtype_name(t.dtype))}, {"shape", t.shape}, {"data_offsets", {off, off + n}}};
    off += n;
  }
  std::string hs = h.dump();
  while (hs.size() % 8) hs.push_back(' ');
  FILE* fp = std::fopen(path.c_str(), "wb");
  if (!fp) return error("{}: cannot create", path);
  uint64_t hlen = hs.size();
  bool ok = std::fwrite(&hlen, 8, 1, fp) == 1 && std::fwrite(hs.data(), 1, hs.size(), fp) == hs.size();
  std::vector<uint8_t> buf;
  for (size_t i = 0; ok && i < tensors.size(); ++i) {
    buf.assign(tensors[i].nbytes(), 0);
    fill(i, buf.data());
    ok = buf.empty() || std::fwrite(buf.data(), 1, buf.size(), fp) == buf.size();
  }
  if (std::fclose(fp) != 0) ok = false;
  if (!ok) return error("{}: write failed", path);
  return Status::ok();
}

Status write_safetensors(const std::string& path, const std::vector<TensorToWrite>& tensors) {
  std::vector<TensorSpec> specs;
  for (const auto& t : tensors) {
    specs.push_back({t.name, t.dtype, t.shape});
    if (specs.back().nbytes() != t.bytes.size())
      return error("{}: tensor '{}': {} bytes given for shape of {} bytes", path, t.name, t.bytes.size(),
                   specs.back().nbytes());
  }
  return write_safetensors(path, specs, [&](size_t i, uint8_t* dst) {
    if (!tensors[i].bytes.empty()) std::memcpy(dst, tensors[i].bytes.data(), tensors[i].bytes.size());
  });
}

}  // namespace tachyon
