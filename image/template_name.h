// Template names: what a user types, a URL path segment and a file name can all hold.
#pragma once

#include <cstddef>
#include <string>

namespace declaw::image {

inline constexpr size_t kMaxTemplateNameBytes = 128;

// "" when `name` is valid (1-128 of letters, digits, '.', '_', '-', starting with a letter or a
// digit), else why not, for a 400.
std::string templateNameProblem(const std::string& name);

}  // namespace declaw::image
