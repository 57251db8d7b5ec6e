#include "io/safetensors.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

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
Result<json> parse_header(const std::string& path, const char* begin, size_t len) {
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
    h = json::parse(begin, begin + len, cb);
  } catch (const json::exception& e) {
    return error("{}: malformed safetensors header JSON: {}", path, e.what());
  }
  if (!dup.empty()) return error("{}: tensor '{}': duplicate name in safetensors header", path, dup);
  if (!h.is_object()) return error("{}: safetensors header is not a JSON object", path);
  return h;
}

bool checked_mul(uint64_t a, uint64_t b, uint64_t* out) { return !__builtin_mul_overflow(a, b, out); }

}  // namespace

Result<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  TACHYON_ASSIGN_OR_RETURN(std::unique_ptr<MmapFile> mf, MmapFile::open(path));
  const size_t fsize = mf->size();
  if (fsize < 8) return error("{}: truncated safetensors file ({} bytes, need at least 8)", path, fsize);
  uint64_t hlen = 0;
  std::memcpy(&hlen, mf->data(), 8);  // little-endian host
  if (hlen > kMaxSafetensorsHeader)
    return error("{}: safetensors header length {} exceeds the {} byte limit", path, hlen, kMaxSafetensorsHeader);
  if (hlen > fsize - 8)
    return error("{}: safetensors header length {} runs past the end of the file ({} bytes)", path, hlen, fsize);
  TACHYON_ASSIGN_OR_RETURN(json h, parse_header(path, reinterpret_cast<const char*>(mf->data() + 8), hlen));

  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
  const uint8_t* base = mf->data() + 8 + hlen;
  const uint64_t data_size = fsize - 8 - hlen;
  struct Span {
    uint64_t b, e;
    std::string name;
  };
  std::vector<Span> spans;
  for (auto it = h.begin(); it != h.end(); ++it) {
    const std::string& name = it.key();
    const json& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) return error("{}: __metadata__ is not an object", path);
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) return error("{}: __metadata__ value '{}' is not a string", path, m.key());
        f->metadata_[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    auto bad = [&](const std::string& what) { return error("{}: tensor '{}': {}", path, name, what); };
    if (!v.is_object()) return bad("header entry is not an object");
    if (!v.contains("dtype") || !v["dtype"].is_string()) return bad("missing or non-string 'dtype'");
    auto dt = dtype_from_name(v["dtype"].get<std::string>());
    if (!dt) return bad(fmt::format("unsupported dtype '{}'", v["dtype"].get<std::string>()));
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
    uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e) return bad(fmt::format("data_offsets [{}, {}] are reversed", b, e));
    if (e > data_size)
      return bad(fmt::format("data_offsets [{}, {}] run past the end of the data ({} bytes; file truncated?)", b, e,
                             data_size));
    uint64_t expect = 0;
    if (!checked_mul(numel, dtype_size(t.dtype), &expect)) return bad("byte size overflows");
    if (e - b != expect)
      return bad(fmt::format("byte size {} does not match shape {} x {} ({} bytes)", e - b, t.shape_str(),
                             dtype_name(t.dtype), expect));
    t.data = base + b;
    t.nbytes = size_t(e - b);
    spans.push_back({b, e, name});
    f->tensors_.push_back(std::move(t));
  }
  std::sort(spans.begin(), spans.end(), [](const Span& a, const Span& b) { return a.b < b.b; });
  for (size_t i = 1; i < spans.size(); ++i) {
    if (spans[i].b < spans[i - 1].e && spans[i].e > spans[i].b && spans[i - 1].e > spans[i - 1].b)
      return error("{}: tensor '{}': data_offsets [{}, {}] overlap tensor '{}' [{}, {}]", path, spans[i].name,
                   spans[i].b, spans[i].e, spans[i - 1].name, spans[i - 1].b, spans[i - 1].e);
  }
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
    json j;
    {
      FILE* fp = std::fopen(ipath.c_str(), "rb");
      if (!fp) return error("{}: cannot open", ipath);
      std::string text;
      char buf[65536];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof buf, fp)) > 0) text.append(buf, n);
      std::fclose(fp);
      try {
        j = json::parse(text);
      } catch (const json::exception& e) {
        return error("{}: malformed JSON: {}", ipath, e.what());
      }
    }
    if (!j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      return error("{}: missing 'weight_map' object", ipath);
    std::map<std::string, std::string> wmap;
    std::set<std::string> shard_names;
    for (auto it = j["weight_map"].begin(); it != j["weight_map"].end(); ++it) {
      if (!it.value().is_string()) return error("{}: tensor '{}': shard name is not a string", ipath, it.key());
      std::string shard = it.value().get<std::string>();
      if (shard.empty() || shard.find('/') != std::string::npos || shard.find("..") != std::string::npos)
        return error("{}: tensor '{}': invalid shard file name '{}'", ipath, it.key(), shard);
      wmap[it.key()] = shard;
      shard_names.insert(shard);
    }
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
