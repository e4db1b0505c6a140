// declawd's templates: the built-ins (host-backed: base, python, node) and the template store
// in the data dir (image/store.h), behind one lookup for creates and the API's template routes.
#pragma once

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "api/services.h"
#include "common/result.h"
#include "image/importer.h"
#include "image/store.h"
#include "runtime/protocol.h"

namespace declaw::daemon {

// What a template gives a sandbox made from it, resolved at create and held for its life.
struct ResolvedTemplate {
  std::string name;
  runtime::RootKind kind = runtime::RootKind::kHost;
  std::string builtin;                          // kHost: "base" | "python" | "node"
  std::vector<std::string> layers;              // host paths of unpacked layers, topmost first
  std::vector<std::string> usr_layers;          // kHost: their usr/ dirs that exist, topmost first
  image::LayerPins pins;                        // the layers stay while the sandbox lives
  std::vector<std::string> env;                 // the image config's Env, "K=V"
  std::string working_dir;                      // "" : the user's home
  std::string default_user = "user";            // "user" | "root"
  std::optional<image::TemplateRecord> record;  // absent for a built-in
};

// What the host offers, found at start.
struct TemplateFeatures {
  bool images = false;  // layers in the data dir can be idmapped: image templates work
  std::string images_off_reason;
  bool writable_usr = false;  // the host's /usr can be idmapped: built-ins get a writable /usr
  std::string usr_off_reason;
};

class Templates {
 public:
  // Opens the store in `data_dir` and probes idmapped mounts of its layers and, where
  // `writable_usr` is asked for, of /usr.
  static Result<std::unique_ptr<Templates>> open(const std::string& data_dir, bool writable_usr);

  const TemplateFeatures& features() const { return features_; }
  image::TemplateStore& store() { return *store_; }
  static bool isBuiltin(const std::string& name);

  // EINVAL for an unknown name, or one `caller` may not see (a 400 on create); ENOSYS for an
  // image when images are off.
  Result<ResolvedTemplate> resolve(const std::string& name, const api::Caller& caller);

  // Who sees a template: root sees all; anyone else their own and root's (root's templates are
  // the machine's shared ones). Others' are not there for them, as others' sandboxes are not.
  static bool visibleTo(const image::TemplateRecord& record, const api::Caller& caller) {
    return caller.isRoot() || record.owner_uid == caller.uid || record.owner_uid == 0;
  }

  // The API's view, of what `caller` may see; `sandboxes` is filled in by the registry.
  std::vector<api::TemplateInfo> list(const api::Caller& caller) const;
  Result<api::TemplateInfo> info(const std::string& name, const api::Caller& caller) const;
  // The record of a template `caller` may see: ENOENT otherwise, as for an unknown one.
  Result<image::TemplateRecord> visibleRecord(const std::string& name,
                                              const api::Caller& caller) const;
  static api::TemplateInfo toInfo(const image::TemplateRecord& record);

  // A file for an upload to be spooled into, unlinked (O_TMPFILE in the store's tmp dir).
  Result<UniqueFd> openSpool() const;

 private:
  Templates(std::unique_ptr<image::TemplateStore> store, TemplateFeatures features)
      : store_(std::move(store)), features_(std::move(features)) {}
  std::unique_ptr<image::TemplateStore> store_;
  TemplateFeatures features_;
};

// declaw's reading of an image's User: "root", "0", "0:0" -> root; "", "user", "1000" ->
// user; anything else -> user, with the reason in `note`.
std::string defaultUserFor(const std::string& image_user, std::string* note = nullptr);

}  // namespace declaw::daemon
