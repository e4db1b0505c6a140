#include "image/template_name.h"

namespace declaw::image {

std::string templateNameProblem(const std::string& name) {
  if (name.empty()) return "a template name cannot be empty";
  if (name.size() > kMaxTemplateNameBytes) {
    return "a template name has at most " + std::to_string(kMaxTemplateNameBytes) + " characters";
  }
  auto alnum = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
  };
  if (!alnum(name.front())) return "a template name starts with a letter or a digit";
  for (char c : name) {
    if (!alnum(c) && c != '.' && c != '_' && c != '-') {
      return "a template name has only letters, digits, '.', '_' and '-'";
    }
  }
  return "";
}

}  // namespace declaw::image
