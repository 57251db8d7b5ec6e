#include "cli_util.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "model/deepseek_v4/cache_codec.h"
#include "model/deepseek_v4/repack.h"

namespace tachyon::cli {

int fail(const Status& st) {
  std::string m = st.message();
  for (char& ch : m)
    if (ch == '\n') ch = ' ';
  std::fprintf(stderr, "tachyon: error: %s\n", m.c_str());
  return 1;
}

void action_on(CLI::App* c, Action& action, Action fn) {
  c->callback([&action, fn]() { action = fn; });
}

Status parse_token_list(const std::string& text, std::vector<int32_t>* out) {
  out->clear();
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) return error("--tokens: empty entry in '{}'", text);
    item = item.substr(b, e - b + 1);
    char* end = nullptr;
    errno = 0;
    long long v = std::strtoll(item.c_str(), &end, 10);
    if (*end != '\0' || errno != 0 || v < 0 || v > INT32_MAX) return error("--tokens: '{}' is not a token id", item);
    out->push_back(int32_t(v));
  }
  return Status::ok();
}

Status read_json_file(const std::string& path, nlohmann::json* out) {
  std::ifstream in(path);
  if (!in) return error("{}: cannot open", path);
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    *out = nlohmann::json::parse(ss.str());
  } catch (const nlohmann::json::exception& e) {
    return error("{}: malformed JSON: {}", path, e.what());
  }
  return Status::ok();
}

Status token_ids_from_json(const nlohmann::json& ids, const std::string& path, std::vector<int32_t>* out) {
  if (!ids.is_array()) return error("{}: expected a JSON array of token ids", path);
  out->clear();
  for (const auto& v : ids) {
    if (!v.is_number_integer() || v.get<int64_t>() < 0 || v.get<int64_t>() > INT32_MAX)
      return error("{}: {} is not a token id", path, v.dump());
    out->push_back(int32_t(v.get<int64_t>()));
  }
  return Status::ok();
}

Status read_token_file(const std::string& path, std::vector<int32_t>* out) {
  nlohmann::json j;
  if (Status st = read_json_file(path, &j); !st.is_ok()) return st;
  return token_ids_from_json(j, path, out);
}

std::vector<uint8_t> floats_to_bytes(const std::vector<float>& v) {
  std::vector<uint8_t> b(v.size() * sizeof(float));
  if (!v.empty()) std::memcpy(b.data(), v.data(), b.size());
  return b;
}

}  // namespace tachyon::cli

namespace tachyon::cli {

Result<ModelSession> open_model(const std::string& dir, int threads, const std::string& numerics,
                                const std::string& kv_cache_dtype, const std::string& isa_name,
                                const std::vector<int32_t>& tokens) {
  ModelSession m;
  TACHYON_ASSIGN_OR_RETURN(m.ck, dsv4::load_checkpoint(dir));
  const int vocab = m.ck->config.vocab_size;
  for (int32_t t : tokens)
    if (t < 0 || t >= vocab) return error("token id {} is outside the vocabulary [0, {})", t, vocab);
  m.pool = std::make_unique<ThreadPool>(threads);
  TACHYON_ASSIGN_OR_RETURN(const cpu::Isa isa, cpu::choose_isa(isa_name, cpu::detect_cpu_features()));
  m.ctx.ops = ops::OpContext::make(*m.pool, isa);
  if (!dsv4::Numerics::parse(numerics, m.ctx.ops.k->native_i8, &m.ctx.numerics))
    return error("unknown numerics '{}' (auto, official, fast or exact)", numerics);
  TACHYON_ASSIGN_OR_RETURN(const dsv4::CacheFormat format, dsv4::choose_cache_format(kv_cache_dtype, m.ctx.numerics));
  m.model = std::make_unique<dsv4::Model>(*m.ck, format);
  if (dsv4::wants_int8_rows(m.ctx)) m.repacked_bytes = dsv4::repack_int8(*m.ck, m.ctx.ops);
  return m;
}

CLI::Option* add_numerics_option(CLI::App* c, std::string* numerics) {
  return c
      ->add_option("--numerics", *numerics,
                   "auto (fast where the CPU kernels multiply int8 activations with integer instructions, else "
                   "official), official (the reference's FP8 quantisation points), fast (int8 activations: "
                   "closer to exact than official, see `tachyon accuracy`) or exact (fp32)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "official", "fast", "exact"}));
}

CLI::Option* add_kv_cache_dtype_option(CLI::App* c, std::string* dtype) {
  return c
      ->add_option("--kv-cache-dtype", *dtype,
                   "Attention cache entries: auto (fp8 under official numerics), fp32, fp8 (exact, 712 B at V4 "
                   "sizes) or fp8-bf16rope (vLLM's 584 B layout, rope dims rounded to bf16)")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "fp32", "fp8", "fp8-bf16rope"}));
}

CLI::Option* add_isa_option(CLI::App* c, std::string* isa) {
  return c
      ->add_option("--isa", *isa,
                   "CPU kernels: auto (TACHYON_ISA if set, else the best this CPU runs), scalar, avx2, avx512 or "
                   "avx512-vnni; a set the CPU lacks is refused")
      ->capture_default_str();
}

}  // namespace tachyon::cli
