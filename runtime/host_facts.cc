#include "runtime/host_facts.h"

namespace declaw::runtime {

HostEntry HostFacts::at(const std::string& path) const {
  auto it = entries.find(path);
  return it == entries.end() ? HostEntry{} : it->second;
}

std::vector<std::string> HostFacts::namesIn(const std::string& dir) const {
  std::vector<std::string> names;
  const std::string prefix = dir + "/";
  for (auto it = entries.lower_bound(prefix); it != entries.end(); ++it) {
    if (it->first.compare(0, prefix.size(), prefix) != 0) break;
    std::string rest = it->first.substr(prefix.size());
    if (!rest.empty() && rest.find('/') == std::string::npos) names.push_back(rest);
  }
  return names;
}

}  // namespace declaw::runtime
