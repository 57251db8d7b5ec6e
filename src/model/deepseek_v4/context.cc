#include "model/deepseek_v4/context.h"

namespace tachyon::dsv4 {

bool Numerics::parse(std::string_view name, Numerics* out) {
  if (name == "official") *out = official();
  else if (name == "exact") *out = exact();
  else return false;
  return true;
}

}  // namespace tachyon::dsv4
