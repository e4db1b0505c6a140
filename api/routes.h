// Matching a request path against a route table such as {"GET", "/v1/sandboxes/{id}", ...}:
// "{id}", "{pid}", "{name}" and "{port}" capture one segment, everything else is literal. The table
// itself lives in router.cc.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "api/handlers.h"

namespace declaw::api {

struct Route {
  std::string_view method;
  std::string_view pattern;
  Handler handler;
};

struct RouteLookup {
  const Route* route = nullptr;  // null: no route for this method (see allowed_methods)
  std::string sandbox_id;        // the {id} segment, as sent (not yet validated)
  std::string pid;               // the {pid} segment
  std::string name;              // the {name} segment (a template) or the {port} one
  // When route is null: the methods the path does accept ("GET, DELETE"), so a 405; empty
  // when no pattern matches the path at all, so a 404.
  std::string allowed_methods;
};

// The first route (in table order) whose pattern matches and whose method is `method`.
RouteLookup findRoute(std::span<const Route> routes, std::string_view method,
                      const std::vector<std::string>& segments);

}  // namespace declaw::api
