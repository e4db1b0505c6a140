#include "api/template_wire.h"

#include "api/errors.h"
#include "api/json_fields.h"
#include "api/text.h"
#include "api/wire.h"
#include "image/template_name.h"

namespace declaw::api {

nlohmann::json toJson(const TemplateInfo& t) {
  nlohmann::json layers = nlohmann::json::array();
  for (const TemplateLayer& l : t.layers) {
    layers.push_back({{"digest", l.digest},
                      {"diff_id", l.diff_id},
                      {"media_type", l.media_type},
                      {"size", l.size},
                      {"unpacked_bytes", l.unpacked_bytes}});
  }
  auto orNull = [](const std::string& s) {
    return s.empty() ? nlohmann::json() : nlohmann::json(s);
  };
  return {
      {"name", t.name},
      {"source", t.source},
      {"digest", orNull(t.digest)},
      {"size", t.size},
      {"layer_count", t.layers.size()},
      {"layers", layers},
      {"created_at", t.created_at ? nlohmann::json(formatTime(*t.created_at)) : nlohmann::json()},
      {"sandboxes", t.sandboxes},
      {"base", orNull(t.base)},
      {"parent", orNull(t.parent)},
      {"owner_uid", t.owner_uid ? nlohmann::json(*t.owner_uid) : nlohmann::json()},
      {"config",
       {{"env", t.env},
        {"working_dir", orNull(t.working_dir)},
        {"user", orNull(t.user)},
        {"default_user", t.default_user}}},
      {"repo_tags", t.repo_tags}};
}

std::string validateTemplateName(const std::string& name, std::string_view field) {
  if (std::string problem = image::templateNameProblem(name); !problem.empty()) {
    throw badRequest("'" + std::string(field) + "' " + quoteInput(name) + ": " + problem);
  }
  return name;
}

ImportSpec parseImportSpec(const std::string& name, const Query& query) {
  ImportSpec spec;
  spec.name = validateTemplateName(name);
  spec.replace = query.flag("replace").value_or(false);
  return spec;
}

ImportSpec parseSnapshotSpec(const nlohmann::json& body) {
  ImportSpec spec;
  auto name = stringField(body, "name");
  if (!name) throw badRequest("'name' is required: the name of the template to make");
  spec.name = validateTemplateName(*name);
  spec.replace = boolField(body, "replace").value_or(false);
  return spec;
}

}  // namespace declaw::api
