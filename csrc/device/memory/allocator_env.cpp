#include "csrc/device/memory/allocator_env.h"

#include <c10/util/Exception.h>

#include <charconv>
#include <cstdlib>
#include <string>

namespace torch_aie {

uint64_t bytes_from_env(const char* name, uint64_t fallback, bool allow_zero) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') {
    return fallback;
  }
  const std::string value(text);
  uint64_t bytes = 0;
  const auto [end, err] = std::from_chars(value.data(), value.data() + value.size(), bytes);
  TORCH_CHECK(err == std::errc() && end == value.data() + value.size() && (allow_zero || bytes > 0), name, "='",
              value, "' is not a ", allow_zero ? "non-negative" : "positive", " number of bytes");
  return bytes;
}

}  // namespace torch_aie
