// Text of /proc/<pid>/mountinfo (proc(5)), shared by init's mount code and cgroup detection.
#pragma once

#include <string>
#include <string_view>

namespace declaw {

// mountinfo escapes space, tab, newline and backslash in paths as \ooo (octal).
inline std::string unescapeMountinfo(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    auto octal = [&](size_t k) { return s[i + k] >= '0' && s[i + k] <= '7'; };
    if (s[i] == '\\' && i + 3 < s.size() && octal(1) && octal(2) && octal(3)) {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
      continue;
    }
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace declaw
