#include "daemon/templates.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "runtime/rootfs.h"

namespace declaw::daemon {

namespace {

constexpr const char* kBuiltins[] = {"base", "python", "node"};

bool isDir(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

api::TemplateInfo builtinInfo(const std::string& name) {
  api::TemplateInfo t;
  t.name = name;
  t.source = "builtin";
  t.default_user = "user";
  return t;
}

}  // namespace

std::string defaultUserFor(const std::string& image_user, std::string* note) {
  const std::string user = image_user.substr(0, image_user.find(':'));
  if (user == "root" || user == "0") return "root";
  if (user.empty() || user == "user" || user == "1000") return "user";
  if (note != nullptr) {
    *note = "the image's User '" + image_user +
            "' is not one of declaw's users (user, root): commands run as user";
  }
  return "user";
}

bool Templates::isBuiltin(const std::string& name) {
  for (const char* b : kBuiltins) {
    if (name == b) return true;
  }
  return false;
}

Result<std::unique_ptr<Templates>> Templates::open(const std::string& data_dir, bool writable_usr) {
  auto store = image::TemplateStore::open(data_dir);
  if (!store) return store.error();
  TemplateFeatures f;
  if (auto r = runtime::probeIdmappedMount(data_dir + "/layers"); r) {
    f.images = true;
  } else {
    f.images_off_reason = "the data dir " + data_dir + " cannot be idmapped (" +
                          r.error().describe() + "): image templates need a filesystem that " +
                          "supports idmapped mounts (ext4, xfs, btrfs; tmpfs from 6.3)";
  }
  if (!writable_usr) {
    f.usr_off_reason =
        "\"builtin_usr\": \"read-only\" in the config: built-in templates get a "
        "read-only /usr";
  } else if (auto r = runtime::probeIdmappedMount("/usr"); r) {
    f.writable_usr = true;
  } else {
    f.usr_off_reason = "the host's /usr cannot be idmapped (" + r.error().describe() +
                       "): built-in templates get a read-only /usr";
  }
  return std::unique_ptr<Templates>(new Templates(std::move(*store), std::move(f)));
}

Result<image::TemplateRecord> Templates::visibleRecord(const std::string& name,
                                                       const api::Caller& caller) const {
  auto record = store_->get(name);
  if (!record) return record.error();
  if (!visibleTo(*record, caller))
    return ErrnoError(ENOENT) << "template '" << name << "' not found";
  return record;
}

Result<ResolvedTemplate> Templates::resolve(const std::string& name, const api::Caller& caller) {
  ResolvedTemplate t;
  t.name = name;
  if (isBuiltin(name)) {
    t.builtin = name;
    return t;
  }
  auto record = visibleRecord(name, caller);
  if (!record) {
    if (record.error().code == ENOENT) {
      return ErrnoError(EINVAL) << "unknown template '" << name
                                << "' (GET /v1/templates lists them)";
    }
    return record.error();
  }
  if (!features_.images) return ErrnoError(ENOSYS) << features_.images_off_reason;
  // Its layers, and its blobs too: a snapshot or an export of the sandbox needs them after the
  // template itself is replaced or deleted.
  std::vector<image::Digest> diff_ids = {record->manifest_digest, record->config_digest};
  for (auto it = record->layers.rbegin(); it != record->layers.rend(); ++it) {
    diff_ids.push_back(it->diff_id);
    diff_ids.push_back(it->blob.digest);
    const std::string path = store_->layerPath(it->diff_id);
    t.layers.push_back(path);
    if (!record->base.empty() && isDir(path + "/usr")) t.usr_layers.push_back(path + "/usr");
  }
  t.pins = store_->pin(std::move(diff_ids));
  // Pinned now; a layer removed between get() and pin() would show here.
  for (const std::string& path : t.layers) {
    if (!isDir(path)) return ErrnoError(ENOENT) << "template '" << name << "' lost a layer";
  }
  if (record->base.empty()) {
    t.kind = runtime::RootKind::kImage;
  } else {
    t.builtin = record->base;
  }
  t.env = record->env;
  t.working_dir = record->working_dir;
  t.default_user = defaultUserFor(record->user);
  t.record = std::move(*record);
  return t;
}

api::TemplateInfo Templates::toInfo(const image::TemplateRecord& r) {
  api::TemplateInfo t;
  t.name = r.name;
  t.source = r.source;
  t.digest = r.manifest_digest.str();
  for (const image::StoredLayer& l : r.layers) {
    t.layers.push_back(api::TemplateLayer{l.blob.digest.str(), l.diff_id.str(), l.blob.media_type,
                                          l.blob.size, l.unpacked_bytes});
    t.size += l.unpacked_bytes;
  }
  t.created_at = api::Clock::from_time_t(static_cast<time_t>(r.created_at));
  t.base = r.base;
  t.parent = r.parent;
  t.owner_uid = r.owner_uid;
  t.env = r.env;
  t.working_dir = r.working_dir;
  t.user = r.user;
  t.default_user = defaultUserFor(r.user);
  t.repo_tags = r.repo_tags;
  return t;
}

std::vector<api::TemplateInfo> Templates::list(const api::Caller& caller) const {
  std::vector<api::TemplateInfo> out;
  for (const char* b : kBuiltins) out.push_back(builtinInfo(b));
  for (const image::TemplateRecord& r : store_->list()) {
    if (visibleTo(r, caller)) out.push_back(toInfo(r));
  }
  return out;
}

Result<api::TemplateInfo> Templates::info(const std::string& name,
                                          const api::Caller& caller) const {
  if (isBuiltin(name)) return builtinInfo(name);
  auto record = visibleRecord(name, caller);
  if (!record) return record.error();
  return toInfo(*record);
}

Result<UniqueFd> Templates::openSpool() const {
  if (!features_.images) return ErrnoError(ENOSYS) << features_.images_off_reason;
  const std::string tmp = store_->dataDir() + "/tmp";
  UniqueFd fd(::open(tmp.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError() << "create a spool file in " << tmp;
  return fd;
}

}  // namespace declaw::daemon
