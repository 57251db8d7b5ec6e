// Instruction-set choice (see isa.h).
#include "backends/cpu/isa.h"

#include <cstdlib>

namespace tachyon::cpu {

namespace {
constexpr Isa kAll[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512, Isa::kAvx512Vnni};
}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
    case Isa::kAvx512Vnni: return "avx512-vnni";
  }
  return "?";
}

bool isa_supported(Isa isa, const CpuFeatures& f) {
  const bool avx2 = f.avx2 && f.f16c;
  const bool avx512 = avx2 && f.avx512f && f.avx512bw && f.avx512vl;
  switch (isa) {
    case Isa::kScalar: return true;
    case Isa::kAvx2: return avx2;
    case Isa::kAvx512: return avx512;
    case Isa::kAvx512Vnni: return avx512 && f.avx512vnni && f.avx512bf16;
  }
  return false;
}

std::vector<Isa> supported_isas(const CpuFeatures& f) {
  std::vector<Isa> out;
  for (Isa isa : kAll)
    if (isa_supported(isa, f)) out.push_back(isa);
  return out;
}

Isa best_isa(const CpuFeatures& f) { return supported_isas(f).back(); }

Result<Isa> choose_isa(std::string_view requested, const CpuFeatures& f) {
  std::string name(requested);
  std::string origin = "--isa";
  if (name.empty() || name == "auto") {
    const char* env = std::getenv("TACHYON_ISA");
    if (env == nullptr || *env == '\0' || std::string_view(env) == "auto") return best_isa(f);
    name = env;
    origin = "TACHYON_ISA";
  }
  std::string known;
  for (Isa isa : kAll) {
    if (name == isa_name(isa)) {
      if (isa_supported(isa, f)) return isa;
      return error("{} {}: this CPU cannot run it (it can run: {})", origin, name, [&] {
        std::string s;
        for (Isa ok : supported_isas(f)) s += std::string(s.empty() ? "" : ", ") + isa_name(ok);
        return s;
      }());
    }
    known += std::string(known.empty() ? "" : ", ") + isa_name(isa);
  }
  return error("{} '{}': unknown instruction set (auto, {})", origin, name, known);
}

}  // namespace tachyon::cpu
