#include "api/routes.h"

#include <algorithm>

namespace declaw::api {

namespace {

struct Captures {
  std::string sandbox_id;
  std::string pid;
  std::string name;
};

// Matches segments against a pattern such as "/v1/sandboxes/{id}/commands/{pid}".
bool matchPattern(std::string_view pattern, const std::vector<std::string>& segments,
                  Captures& captures) {
  pattern.remove_prefix(1);  // the leading "/"
  size_t index = 0;
  while (!pattern.empty()) {
    const size_t slash = pattern.find('/');
    const std::string_view part = pattern.substr(0, slash);
    pattern = slash == std::string_view::npos ? std::string_view() : pattern.substr(slash + 1);
    if (index >= segments.size()) return false;
    const std::string& segment = segments[index++];
    if (part == "{id}") {
      if (segment.empty()) return false;
      captures.sandbox_id = segment;
    } else if (part == "{pid}") {
      if (segment.empty()) return false;
      captures.pid = segment;
    } else if (part == "{name}" || part == "{port}") {
      if (segment.empty()) return false;
      captures.name = segment;
    } else if (part != segment) {
      return false;
    }
  }
  return index == segments.size();
}

}  // namespace

RouteLookup findRoute(std::span<const Route> routes, std::string_view method,
                      const std::vector<std::string>& segments) {
  RouteLookup lookup;
  std::vector<std::string_view> allowed;
  for (const Route& route : routes) {
    Captures captures;
    if (!matchPattern(route.pattern, segments, captures)) continue;
    if (route.method == method) {
      lookup.route = &route;
      lookup.sandbox_id = std::move(captures.sandbox_id);
      lookup.pid = std::move(captures.pid);
      lookup.name = std::move(captures.name);
      return lookup;
    }
    if (std::find(allowed.begin(), allowed.end(), route.method) == allowed.end()) {
      allowed.push_back(route.method);
    }
  }
  for (std::string_view allowed_method : allowed) {
    if (!lookup.allowed_methods.empty()) lookup.allowed_methods += ", ";
    lookup.allowed_methods += allowed_method;
  }
  return lookup;
}

}  // namespace declaw::api
