// What every fuzz target shares: an invariant check that crashes (so libFuzzer saves the input
// as a reproducer) and small helpers to view the input.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

namespace declaw::fuzz {

// A broken invariant: print what and where, then abort() so libFuzzer records a crash.
[[noreturn]] inline void fail(const char* file, int line, const char* what,
                              const std::string& detail) {
  std::fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
  if (!detail.empty()) std::fprintf(stderr, "  %s\n", detail.c_str());
  std::abort();
}

inline std::string_view asText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

inline std::span<const uint8_t> asBytes(std::string_view text) {
  return {reinterpret_cast<const uint8_t*>(text.data()), text.size()};
}

// Printable, bounded: for messages about inputs that may be binary or huge.
inline std::string show(std::string_view text, size_t max = 200) {
  std::string out;
  for (size_t i = 0; i < text.size() && i < max; ++i) {
    auto c = static_cast<unsigned char>(text[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out.push_back(static_cast<char>(c));
    } else {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    }
  }
  if (text.size() > max) out += "...";
  return out;
}

}  // namespace declaw::fuzz

// FUZZ_CHECK(cond) or FUZZ_CHECK(cond, detail_string)
#define FUZZ_CHECK(cond, ...)                                                               \
  do {                                                                                      \
    if (!(cond)) ::declaw::fuzz::fail(__FILE__, __LINE__, #cond, std::string(__VA_ARGS__)); \
  } while (0)
