// The template store: a content-addressed directory in the persistent data dir (`data_dir`,
// default /var/lib/declaw), so templates survive a reboot while runtime state stays in
// /run/declaw:
//
//   data_dir/              0700: layers hold the image's setuid files, owned by any uid
//     blobs/sha256/<hex>   blobs as imported (layers as compressed, configs, manifests), so an
//                          export gives back the same bytes and the same digests
//     layers/sha256/<hex>/diff   a layer unpacked (overlayfs form), named by its diff_id and
//                          shared by every template that has it
//     templates/<name>.json      a template: its manifest, config and layers, in order
//     tmp/<workspace>/     imports in progress; removed when they end, and at start
//
// An import works in a workspace and publishes with renames under the store's lock: a template
// is visible whole or not at all, and a failed import leaves nothing. A layer or blob is
// removed when no template uses it and no live sandbox or running import has it pinned.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "image/digest.h"
#include "image/manifest.h"
#include "image/template_name.h"

namespace declaw::image {

struct StoredLayer {
  Descriptor blob;  // as stored in blobs/ (what the manifest lists)
  Digest diff_id = Digest::fromHex(std::string(64, '0'));
  uint64_t unpacked_bytes = 0;
};

struct TemplateRecord {
  std::string name;
  std::string source;      // "import" | "snapshot"
  int64_t created_at = 0;  // unix seconds
  uid_t owner_uid = 0;
  std::string base;    // "" for a standalone image, else the host-backed built-in below
  std::string parent;  // a snapshot's template, for information
  Digest manifest_digest = Digest::fromHex(std::string(64, '0'));
  Digest config_digest = Digest::fromHex(std::string(64, '0'));
  std::vector<StoredLayer> layers;  // base first
  std::vector<std::string> env;     // the image config's Env
  std::string working_dir;
  std::string user;
  std::vector<std::string> repo_tags;
};

std::string encodeRecord(const TemplateRecord& record);
Result<TemplateRecord> decodeRecord(const std::string& text);

// A directory under tmp/ for one import or snapshot, removed with everything in it on
// destruction (after a publish, what is left is what the store already had).
class Workspace {
 public:
  Workspace(std::string path, UniqueFd fd);
  ~Workspace();
  Workspace(const Workspace&) = delete;
  Workspace& operator=(const Workspace&) = delete;
  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  UniqueFd fd_;
};

// What an import or snapshot hands to publish(): the blobs and unpacked layers in its
// workspace, by name there.
struct PublishRequest {
  TemplateRecord record;  // name, source, owner, base, parent, layers, config fields
  std::map<Digest, std::string> blob_files;  // digest -> file in the workspace
  std::map<Digest, std::string> layer_dirs;  // diff_id -> directory in the workspace
  bool replace = false;
};

class TemplateStore;

// Holds layers (by diff_id) and blobs (by digest) against garbage collection while alive (a
// sandbox: its template's layers, manifest, config and layer blobs; an import).
class LayerPins {
 public:
  LayerPins() = default;
  LayerPins(TemplateStore* store, std::vector<Digest> diff_ids);
  ~LayerPins();
  LayerPins(LayerPins&& other) noexcept;
  LayerPins& operator=(LayerPins&& other) noexcept;
  LayerPins(const LayerPins&) = delete;
  LayerPins& operator=(const LayerPins&) = delete;

 private:
  void release();
  TemplateStore* store_ = nullptr;
  std::vector<Digest> diff_ids_;
};

class TemplateStore {
 public:
  // Creates the layout (0700) and removes what interrupted imports left in tmp/.
  static Result<std::unique_ptr<TemplateStore>> open(const std::string& data_dir);

  const std::string& dataDir() const { return data_dir_; }
  Result<std::unique_ptr<Workspace>> newWorkspace(const std::string& purpose);

  // Reserves a name for an import or snapshot in progress: EEXIST while another one runs for
  // it (409 "being imported"). The reservation ends with the returned object.
  class NameLease {
   public:
    NameLease(TemplateStore* store, std::string name) : store_(store), name_(std::move(name)) {}
    ~NameLease();
    NameLease(const NameLease&) = delete;
    NameLease& operator=(const NameLease&) = delete;

   private:
    TemplateStore* store_;
    std::string name_;
  };
  Result<std::unique_ptr<NameLease>> reserveName(const std::string& name);

  // Publishes atomically. EEXIST if the name exists and !replace; EINVAL for a record over
  // 1 MiB (an image config's Env and the like). The layers named in the record must be in the
  // request's layer_dirs or already in the store.
  Result<TemplateRecord> publish(Workspace& workspace, PublishRequest request);

  std::vector<TemplateRecord> list() const;
  Result<TemplateRecord> get(const std::string& name) const;
  // ENOENT when unknown. `in_use` is asked under the store lock: EBUSY when it says so.
  Result<void> remove(const std::string& name, const std::function<bool()>& in_use);

  bool hasLayer(const Digest& diff_id) const;
  // The diff_id of a blob some template already has unpacked, so an import can skip it.
  std::optional<Digest> knownDiffId(const Digest& blob_digest) const;
  std::string layerPath(const Digest& diff_id) const;  // .../layers/sha256/<hex>/diff
  Result<UniqueFd> openBlob(const Digest& digest) const;
  Result<std::string> readBlob(const Digest& digest, size_t max_bytes) const;

  LayerPins pin(std::vector<Digest> diff_ids) { return LayerPins(this, std::move(diff_ids)); }
  // Removes layers and blobs that no template uses and nothing pins. Returns how many.
  size_t collectGarbage();

 private:
  friend class LayerPins;
  explicit TemplateStore(std::string data_dir, UniqueFd dir);
  void unpin(const std::vector<Digest>& diff_ids);
  void addPins(const std::vector<Digest>& diff_ids);
  std::vector<TemplateRecord> listLocked() const;
  size_t collectGarbageLocked();

  std::string data_dir_;
  UniqueFd dir_;
  mutable std::mutex mutex_;
  std::set<std::string> reserved_names_;
  std::map<Digest, size_t> pins_;
  uint64_t next_workspace_ = 0;
};

}  // namespace declaw::image
