#include "image/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <nlohmann/json.hpp>

#include "common/fs_at.h"
#include "common/io.h"

namespace declaw::image {

namespace {

using nlohmann::json;
using nlohmann::ordered_json;

constexpr mode_t kPrivateDir = 0700;
constexpr size_t kMaxRecordBytes = 1 << 20;  // checked when publishing, so every record reads
constexpr const char* kBlobs = "blobs/sha256";
constexpr const char* kLayers = "layers/sha256";
constexpr const char* kTemplates = "templates";
constexpr const char* kTmp = "tmp";
constexpr const char* kRecordSuffix = ".json";

Result<void> makeDir(int dirfd, const std::string& path) {
  std::string walked;
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    walked += (walked.empty() ? "" : "/") + path.substr(start, end - start);
    start = end + 1;
    if (::mkdirat(dirfd, walked.c_str(), kPrivateDir) != 0 && errno != EEXIST) {
      return ErrnoError() << "mkdir " << walked;
    }
  }
  return {};
}

std::vector<std::string> namesIn(int dirfd, const std::string& path) {
  std::vector<std::string> out;
  int fd = ::openat(dirfd, path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return out;
  DIR* d = ::fdopendir(fd);
  if (d == nullptr) {
    ::close(fd);
    return out;
  }
  while (dirent* e = ::readdir(d)) {
    std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  ::closedir(d);
  return out;
}

bool existsAt(int dirfd, const std::string& path) {
  struct stat st {};
  return ::fstatat(dirfd, path.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0;
}

Result<void> writeFileAtomically(int dirfd, const std::string& path, const std::string& data) {
  const std::string tmp = path + ".tmp";
  UniqueFd fd(
      ::openat(dirfd, tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError() << "create " << tmp;
  if (auto r = writeAll(fd.get(), data); !r) return r;
  if (::fsync(fd.get()) != 0) return ErrnoError() << "fsync " << tmp;
  if (::renameat(dirfd, tmp.c_str(), dirfd, path.c_str()) != 0) {
    return ErrnoError() << "rename " << tmp;
  }
  return {};
}

std::string recordPath(const std::string& name) {
  return std::string(kTemplates) + "/" + name + kRecordSuffix;
}

}  // namespace

std::string encodeRecord(const TemplateRecord& r) {
  ordered_json layers = ordered_json::array();
  for (const StoredLayer& l : r.layers) {
    layers.push_back(ordered_json{{"media_type", l.blob.media_type},
                                  {"digest", l.blob.digest.str()},
                                  {"size", l.blob.size},
                                  {"diff_id", l.diff_id.str()},
                                  {"unpacked_bytes", l.unpacked_bytes}});
  }
  ordered_json doc{{"name", r.name},
                   {"source", r.source},
                   {"created_at", r.created_at},
                   {"owner_uid", r.owner_uid},
                   {"base", r.base},
                   {"parent", r.parent},
                   {"manifest_digest", r.manifest_digest.str()},
                   {"config_digest", r.config_digest.str()},
                   {"layers", layers},
                   {"env", r.env},
                   {"working_dir", r.working_dir},
                   {"user", r.user},
                   {"repo_tags", r.repo_tags}};
  return doc.dump(2) + "\n";
}

Result<TemplateRecord> decodeRecord(const std::string& text) {
  json doc = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) return ErrnoError(EINVAL) << "not a JSON object";
  try {
    TemplateRecord r;
    r.name = doc.at("name").get<std::string>();
    r.source = doc.at("source").get<std::string>();
    r.created_at = doc.at("created_at").get<int64_t>();
    r.owner_uid = doc.at("owner_uid").get<uid_t>();
    r.base = doc.at("base").get<std::string>();
    r.parent = doc.at("parent").get<std::string>();
    auto digest = [](const json& j) -> Digest {
      auto d = Digest::parse(j.get<std::string>());
      if (!d) throw std::runtime_error("bad digest");
      return *d;
    };
    r.manifest_digest = digest(doc.at("manifest_digest"));
    r.config_digest = digest(doc.at("config_digest"));
    for (const json& l : doc.at("layers")) {
      StoredLayer layer;
      layer.blob.media_type = l.at("media_type").get<std::string>();
      layer.blob.digest = digest(l.at("digest"));
      layer.blob.size = l.at("size").get<uint64_t>();
      layer.diff_id = digest(l.at("diff_id"));
      layer.unpacked_bytes = l.at("unpacked_bytes").get<uint64_t>();
      r.layers.push_back(std::move(layer));
    }
    r.env = doc.at("env").get<std::vector<std::string>>();
    r.working_dir = doc.at("working_dir").get<std::string>();
    r.user = doc.at("user").get<std::string>();
    r.repo_tags = doc.at("repo_tags").get<std::vector<std::string>>();
    if (!templateNameProblem(r.name).empty()) return ErrnoError(EINVAL) << "bad name";
    return r;
  } catch (const std::exception& e) {
    return ErrnoError(EINVAL) << "malformed template record: " << e.what();
  }
}

// --- Workspace -----------------------------------------------------------------------------

Workspace::Workspace(std::string path, UniqueFd fd) : path_(std::move(path)), fd_(std::move(fd)) {}

Workspace::~Workspace() {
  auto [parent, name] = splitParent(path_);
  UniqueFd dir(::open(parent.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  fd_.reset();
  if (dir) (void)removeTreeAt(dir.get(), name);
}

// --- LayerPins -----------------------------------------------------------------------------

LayerPins::LayerPins(TemplateStore* store, std::vector<Digest> diff_ids)
    : store_(store), diff_ids_(std::move(diff_ids)) {
  if (store_ != nullptr) store_->addPins(diff_ids_);
}

LayerPins::~LayerPins() { release(); }

LayerPins::LayerPins(LayerPins&& other) noexcept
    : store_(std::exchange(other.store_, nullptr)), diff_ids_(std::move(other.diff_ids_)) {}

LayerPins& LayerPins::operator=(LayerPins&& other) noexcept {
  if (this != &other) {
    release();
    store_ = std::exchange(other.store_, nullptr);
    diff_ids_ = std::move(other.diff_ids_);
  }
  return *this;
}

void LayerPins::release() {
  if (store_ != nullptr) store_->unpin(diff_ids_);
  store_ = nullptr;
  diff_ids_.clear();
}

// --- TemplateStore -------------------------------------------------------------------------

TemplateStore::TemplateStore(std::string data_dir, UniqueFd dir)
    : data_dir_(std::move(data_dir)), dir_(std::move(dir)) {}

TemplateStore::NameLease::~NameLease() {
  std::lock_guard lock(store_->mutex_);
  store_->reserved_names_.erase(name_);
}

Result<std::unique_ptr<TemplateStore>> TemplateStore::open(const std::string& data_dir) {
  if (::mkdir(data_dir.c_str(), kPrivateDir) != 0 && errno != EEXIST) {
    return ErrnoError() << "create data dir " << data_dir;
  }
  UniqueFd dir(::open(data_dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!dir) return ErrnoError() << "open data dir " << data_dir;
  // Layers keep the image's setuid files and owners: no one but root may reach them.
  if (::fchown(dir.get(), 0, 0) != 0 || ::fchmod(dir.get(), kPrivateDir) != 0) {
    return ErrnoError() << "make " << data_dir << " root's, mode 0700";
  }
  for (const char* sub : {kBlobs, kLayers, kTemplates, kTmp}) {
    if (auto r = makeDir(dir.get(), sub); !r) return r.error();
  }
  for (const std::string& left : namesIn(dir.get(), kTmp)) {
    UniqueFd tmp(::openat(dir.get(), kTmp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (tmp) (void)removeTreeAt(tmp.get(), left);
  }
  for (const std::string& name : namesIn(dir.get(), kTemplates)) {
    if (name.size() > 4 && name.substr(name.size() - 4) == ".tmp") {
      (void)::unlinkat(dir.get(), (std::string(kTemplates) + "/" + name).c_str(), 0);
    }
  }
  std::unique_ptr<TemplateStore> store(new TemplateStore(data_dir, std::move(dir)));
  store->collectGarbage();  // what a crash between a record's removal and its layers' left
  return store;
}

Result<std::unique_ptr<Workspace>> TemplateStore::newWorkspace(const std::string& purpose) {
  uint64_t n;
  {
    std::lock_guard lock(mutex_);
    n = next_workspace_++;
  }
  const std::string name = purpose + "-" + std::to_string(::getpid()) + "-" + std::to_string(n);
  const std::string rel = std::string(kTmp) + "/" + name;
  if (::mkdirat(dir_.get(), rel.c_str(), kPrivateDir) != 0) return ErrnoError() << "mkdir " << rel;
  UniqueFd fd(::openat(dir_.get(), rel.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << rel;
  return std::make_unique<Workspace>(data_dir_ + "/" + rel, std::move(fd));
}

Result<std::unique_ptr<TemplateStore::NameLease>> TemplateStore::reserveName(
    const std::string& name) {
  std::lock_guard lock(mutex_);
  if (!reserved_names_.insert(name).second) {
    return ErrnoError(EEXIST) << "template '" << name << "' is being imported or snapshotted";
  }
  return std::make_unique<NameLease>(this, name);
}

Result<TemplateRecord> TemplateStore::publish(Workspace& ws, PublishRequest req) {
  std::lock_guard lock(mutex_);
  const std::string record_path = recordPath(req.record.name);
  if (!req.replace && existsAt(dir_.get(), record_path)) {
    return ErrnoError(EEXIST) << "template '" << req.record.name
                              << "' exists (delete it first, or import with replace)";
  }
  for (const StoredLayer& layer : req.record.layers) {
    const std::string dest = std::string(kLayers) + "/" + std::string(layer.diff_id.hex());
    if (existsAt(dir_.get(), dest)) continue;
    auto it = req.layer_dirs.find(layer.diff_id);
    if (it == req.layer_dirs.end()) {
      return ErrnoError(EIO) << "layer " << layer.diff_id.str() << " is neither new nor stored";
    }
    if (::renameat(ws.fd(), it->second.c_str(), dir_.get(), dest.c_str()) != 0) {
      return ErrnoError() << "publish layer " << layer.diff_id.str();
    }
  }
  for (const auto& [digest, file] : req.blob_files) {
    const std::string dest = std::string(kBlobs) + "/" + std::string(digest.hex());
    if (existsAt(dir_.get(), dest)) continue;
    if (::renameat(ws.fd(), file.c_str(), dir_.get(), dest.c_str()) != 0) {
      return ErrnoError() << "publish blob " << digest.str();
    }
  }
  const std::string encoded = encodeRecord(req.record);
  if (encoded.size() > kMaxRecordBytes) {
    return ErrnoError(EINVAL) << "the template's record would take " << encoded.size()
                              << " bytes: its image config's Env, WorkingDir, User and RepoTags "
                                 "may take at most "
                              << (kMaxRecordBytes >> 20) << " MiB";
  }
  if (auto r = writeFileAtomically(dir_.get(), record_path, encoded); !r) return r.error();
  collectGarbageLocked();  // a replaced template's layers, if nothing else has them
  return req.record;
}

std::vector<TemplateRecord> TemplateStore::listLocked() const {
  std::vector<TemplateRecord> out;
  for (const std::string& file : namesIn(dir_.get(), kTemplates)) {
    const size_t suffix = std::string(kRecordSuffix).size();
    if (file.size() <= suffix || file.substr(file.size() - suffix) != kRecordSuffix) continue;
    UniqueFd fd(::openat(dir_.get(), (std::string(kTemplates) + "/" + file).c_str(),
                         O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) continue;
    auto text = readAll(fd.get(), kMaxRecordBytes);
    if (!text) continue;
    auto record = decodeRecord(*text);
    if (record && record->name + kRecordSuffix == file) out.push_back(std::move(*record));
  }
  return out;
}

std::vector<TemplateRecord> TemplateStore::list() const {
  std::lock_guard lock(mutex_);
  return listLocked();
}

Result<TemplateRecord> TemplateStore::get(const std::string& name) const {
  if (!templateNameProblem(name).empty()) {
    return ErrnoError(ENOENT) << "template '" << name << "' not found";
  }
  std::lock_guard lock(mutex_);
  UniqueFd fd(::openat(dir_.get(), recordPath(name).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ENOENT) return ErrnoError(ENOENT) << "template '" << name << "' not found";
    return ErrnoError() << "open template " << name;
  }
  auto text = readAll(fd.get(), kMaxRecordBytes);
  if (!text) return text.error();
  return decodeRecord(*text);
}

Result<void> TemplateStore::remove(const std::string& name, const std::function<bool()>& in_use) {
  std::lock_guard lock(mutex_);
  const std::string path = recordPath(name);
  if (!templateNameProblem(name).empty() || !existsAt(dir_.get(), path)) {
    return ErrnoError(ENOENT) << "template '" << name << "' not found";
  }
  if (reserved_names_.count(name)) {
    return ErrnoError(EBUSY) << "template '" << name << "' is being imported or snapshotted";
  }
  if (in_use && in_use()) {
    return ErrnoError(EBUSY) << "template '" << name << "' is used by a live sandbox";
  }
  if (::unlinkat(dir_.get(), path.c_str(), 0) != 0) return ErrnoError() << "remove " << path;
  collectGarbageLocked();
  return {};
}

bool TemplateStore::hasLayer(const Digest& diff_id) const {
  return existsAt(dir_.get(), std::string(kLayers) + "/" + std::string(diff_id.hex()) + "/diff");
}

std::optional<Digest> TemplateStore::knownDiffId(const Digest& blob_digest) const {
  std::lock_guard lock(mutex_);
  for (const TemplateRecord& r : listLocked()) {
    for (const StoredLayer& l : r.layers) {
      if (l.blob.digest == blob_digest) return l.diff_id;
    }
  }
  return std::nullopt;
}

std::string TemplateStore::layerPath(const Digest& diff_id) const {
  return data_dir_ + "/" + kLayers + "/" + std::string(diff_id.hex()) + "/diff";
}

Result<UniqueFd> TemplateStore::openBlob(const Digest& digest) const {
  const std::string path = std::string(kBlobs) + "/" + std::string(digest.hex());
  UniqueFd fd(::openat(dir_.get(), path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open blob " << digest.str();
  return fd;
}

Result<std::string> TemplateStore::readBlob(const Digest& digest, size_t max_bytes) const {
  auto fd = openBlob(digest);
  if (!fd) return fd.error();
  return readAll(fd->get(), max_bytes);
}

void TemplateStore::addPins(const std::vector<Digest>& diff_ids) {
  std::lock_guard lock(mutex_);
  for (const Digest& d : diff_ids) ++pins_[d];
}

void TemplateStore::unpin(const std::vector<Digest>& diff_ids) {
  std::lock_guard lock(mutex_);
  bool freed = false;
  for (const Digest& d : diff_ids) {
    auto it = pins_.find(d);
    if (it == pins_.end()) continue;
    if (--it->second == 0) {
      pins_.erase(it);
      freed = true;
    }
  }
  if (freed) collectGarbageLocked();
}

size_t TemplateStore::collectGarbage() {
  std::lock_guard lock(mutex_);
  return collectGarbageLocked();
}

size_t TemplateStore::collectGarbageLocked() {
  std::set<std::string> layers_used;
  std::set<std::string> blobs_used;
  for (const TemplateRecord& r : listLocked()) {
    blobs_used.insert(std::string(r.manifest_digest.hex()));
    blobs_used.insert(std::string(r.config_digest.hex()));
    for (const StoredLayer& l : r.layers) {
      layers_used.insert(std::string(l.diff_id.hex()));
      blobs_used.insert(std::string(l.blob.digest.hex()));
    }
  }
  // A pin holds a layer (by diff_id) or a blob (by digest): both are sha256 names.
  for (const auto& [d, count] : pins_) {
    layers_used.insert(std::string(d.hex()));
    blobs_used.insert(std::string(d.hex()));
  }
  size_t removed = 0;
  UniqueFd layers(::openat(dir_.get(), kLayers, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (layers) {
    for (const std::string& name : namesIn(dir_.get(), kLayers)) {
      if (layers_used.count(name)) continue;
      if (removeTreeAt(layers.get(), name)) ++removed;
    }
  }
  UniqueFd blobs(::openat(dir_.get(), kBlobs, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (blobs) {
    for (const std::string& name : namesIn(dir_.get(), kBlobs)) {
      if (blobs_used.count(name)) continue;
      if (::unlinkat(blobs.get(), name.c_str(), 0) == 0) ++removed;
    }
  }
  return removed;
}

}  // namespace declaw::image
