// Helpers shared by the unit and integration tests: temp folders, whole-file I/O, a minimal independent
// safetensors header parser (so tests do not check the reader with itself) and running the CLI.
#pragma once

#include <sys/wait.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace tachyon::testing {

namespace fs = std::filesystem;

// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "tachyon-test-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

inline std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  if (!f) throw std::runtime_error("cannot read " + p.string());
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), std::streamsize(bytes.size()));
  if (!f) throw std::runtime_error("cannot write " + p.string());
}

// A safetensors file split into its JSON header and its data section.
struct RawSafetensors {
  nlohmann::ordered_json header;
  std::string data;

  static RawSafetensors read(const fs::path& p) {
    const std::string bytes = read_file(p);
    uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    RawSafetensors r;
    r.header = nlohmann::ordered_json::parse(bytes.substr(8, n));
    r.data = bytes.substr(8 + n);
    return r;
  }
  // Writes the (possibly edited) header, padded to 8 bytes, followed by the data section.
  void write(const fs::path& p) const { write_with_header_text(p, header.dump()); }
  void write_with_header_text(const fs::path& p, std::string h) const {
    while (h.size() % 8) h.push_back(' ');
    const uint64_t n = h.size();
    std::string out(reinterpret_cast<const char*>(&n), 8);
    write_file(p, out + h + data);
  }
};

// Totals computed straight from the headers of a checkpoint's safetensors files.
struct HeaderTotals {
  int64_t tensor_count = 0;
  int64_t params = 0;        // elements; I8 (packed FP4) bytes count twice; E8M0 ".scale" tensors excluded
  int64_t active_params = 0; // params outside routed experts and mtp.*, plus k/E of the main routed experts
  std::map<std::string, uint64_t> bytes_by_dtype;
};

inline HeaderTotals header_totals(const fs::path& dir, int n_experts, int top_k) {
  HeaderTotals t;
  int64_t routed_main = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".safetensors") continue;
    const RawSafetensors st = RawSafetensors::read(e.path());
    for (auto it = st.header.begin(); it != st.header.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      const std::string& name = it.key();
      const std::string dtype = it.value()["dtype"];
      const uint64_t b = it.value()["data_offsets"][0], en = it.value()["data_offsets"][1];
      int64_t numel = 1;
      for (const auto& d : it.value()["shape"]) numel *= d.get<int64_t>();
      ++t.tensor_count;
      t.bytes_by_dtype[dtype] += en - b;
      const bool scale = dtype == "F8_E8M0" && name.size() > 6 && name.substr(name.size() - 6) == ".scale";
      if (scale) continue;
      const int64_t p = dtype == "I8" ? 2 * numel : numel;
      t.params += p;
      const bool routed = name.find(".ffn.experts.") != std::string::npos;
      const bool mtp = name.rfind("mtp.", 0) == 0;
      if (routed && !mtp) routed_main += p;
      if (!routed && !mtp) t.active_params += p;
    }
  }
  t.active_params += routed_main / n_experts * top_k;
  return t;
}

struct CliResult {
  int rc = -1;
  std::string out, err;
};

// Runs `tachyon <args>` (args are shell words, already quoted as needed) and captures stdout / stderr.
inline CliResult run_cli(const std::string& args) {
  TempDir io;
  const fs::path out = io.path() / "out", err = io.path() / "err";
  const std::string cmd = std::string("'") + TACHYON_BIN + "' " + args + " >'" + out.string() + "' 2>'" +
                          err.string() + "'";
  const int st = std::system(cmd.c_str());
  CliResult r;
  r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + (WIFSIGNALED(st) ? WTERMSIG(st) : 0);
  r.out = read_file(out);
  r.err = read_file(err);
  return r;
}

}  // namespace tachyon::testing
