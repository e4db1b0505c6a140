// The wire format of templates (docs/api.md "Templates"): TemplateInfo as JSON, and the
// request fields of imports and snapshots.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "api/paths.h"
#include "api/services.h"

namespace declaw::api {

nlohmann::json toJson(const TemplateInfo& info);

// The {name} of a template route: 400 naming the rule when it is not a valid name.
std::string validateTemplateName(const std::string& name, std::string_view field = "name");

// PUT /v1/templates/{name}?replace=true|false
ImportSpec parseImportSpec(const std::string& name, const Query& query);
// POST /v1/sandboxes/{id}/snapshots: {"name": "...", "replace": false}
ImportSpec parseSnapshotSpec(const nlohmann::json& body);

}  // namespace declaw::api
