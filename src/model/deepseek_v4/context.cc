#include "model/deepseek_v4/context.h"

namespace tachyon::dsv4 {

bool Numerics::parse(std::string_view name, bool int8_kernels, Numerics* out) {
  if (name == "auto") {
    *out = int8_kernels ? fast() : official();
    return true;
  }
  return parse(name, out);
}

bool Numerics::parse(std::string_view name, Numerics* out) {
  if (name == "official") *out = official();
  else if (name == "exact") *out = exact();
  else if (name == "fast") *out = fast();
  else return false;
  return true;
}

}  // namespace tachyon::dsv4
