#include "image/snapshot.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

#include "common/io.h"
#include "image/image_archive.h"
#include "image/manifest.h"

namespace declaw::image {

namespace {

using nlohmann::ordered_json;

std::string rfc3339(time_t t) {
  char buf[32];
  struct tm tm {};
  ::gmtime_r(&t, &tm);
  // 0 would leave buf undefined; it cannot happen (any time_t's date fits in 32 bytes).
  if (std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) return {};
  return buf;
}

std::string architecture() {
  std::string platform = hostPlatform();
  return platform.substr(platform.find('/') + 1);
}

Result<void> writeWorkspaceFile(int wsfd, const std::string& name, const std::string& data) {
  UniqueFd fd(
      ::openat(wsfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (!fd) return ErrnoError() << "create " << name;
  return writeAll(fd.get(), data);
}

}  // namespace

Result<TemplateRecord> publishSnapshot(TemplateStore& store, Workspace& ws,
                                       const SnapshotRequest& req) {
  const size_t parent_layers = req.parent ? req.parent->layers.size() : 0;
  if (parent_layers + 1 > kMaxLayers) {
    return ErrnoError(EINVAL) << "template '" << req.parent_name << "' has " << parent_layers
                              << " layers, the most a template may have: a snapshot would add "
                                 "one more (export the changes you need into a new image)";
  }
  const int wsfd = ws.fd();
  // Unpacked through the import's own checks: the sandbox wrote these files.
  if (::mkdirat(wsfd, "layer", 0700) != 0 || ::mkdirat(wsfd, "layer/diff", 0755) != 0) {
    return ErrnoError() << "mkdir layer";
  }
  UniqueFd root(::openat(wsfd, "layer/diff", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  UniqueFd blob(::openat(wsfd, req.diff_file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!root || !blob) return ErrnoError() << "open the snapshot's layer";
  // The diff was bounded by the sandbox's disk when it was written; the same bounds again, as
  // for any layer: its files' bytes, its members (headers of 512 bytes at least), its stream.
  UnpackBudget budget{req.max_file_bytes, req.diff.size / 512 + 1, req.diff.size};
  auto unpacked = unpackLayerBlob(blob.get(), root.get(), budget);
  if (!unpacked) {
    return ErrnoError(unpacked.error().code)
           << "the sandbox's changes: " << unpacked.error().message;
  }
  if (!(unpacked->diff_id == req.diff.digest)) {
    return ErrnoError(EIO) << "the snapshot's layer changed between writing and reading it";
  }

  const time_t now = std::time(nullptr);
  ordered_json config;
  if (req.parent) {
    auto text = store.readBlob(req.parent->config_digest, kMaxJsonBytes);
    if (!text) return text.error();
    config = ordered_json::parse(*text, nullptr, /*allow_exceptions=*/false);
    if (config.is_discarded() || !config.is_object()) {
      return ErrnoError(EIO) << "the parent template's config is not JSON";
    }
  } else {
    config = ordered_json{{"created", rfc3339(now)},
                          {"architecture", architecture()},
                          {"os", "linux"},
                          {"config", ordered_json::object()},
                          {"rootfs", {{"type", "layers"}, {"diff_ids", ordered_json::array()}}}};
  }
  ordered_json diff_ids = ordered_json::array();
  if (req.parent) {
    for (const StoredLayer& l : req.parent->layers) diff_ids.push_back(l.diff_id.str());
  }
  diff_ids.push_back(req.diff.digest.str());
  config["rootfs"] = {{"type", "layers"}, {"diff_ids", diff_ids}};
  config["created"] = rfc3339(now);
  if (!config.contains("history") || !config["history"].is_array()) {
    config["history"] = ordered_json::array();
  }
  config["history"].push_back({{"created", rfc3339(now)},
                               {"created_by", "declaw snapshot of " + req.sandbox_id +
                                                  " (template " + req.parent_name + ")"}});
  const std::string config_json = config.dump();
  const Digest config_digest = sha256Of(config_json);

  Manifest manifest;
  manifest.media_type = std::string(media::kOciManifest);
  manifest.config =
      Descriptor{std::string(media::kOciConfig), config_digest, config_json.size(), ""};
  PublishRequest pub;
  pub.replace = req.replace;
  TemplateRecord& r = pub.record;
  if (req.parent) {
    r = *req.parent;
    for (const StoredLayer& l : r.layers) manifest.layers.push_back(l.blob);
  }
  const Descriptor layer{std::string(media::kOciLayer), req.diff.digest, req.diff.size, ""};
  manifest.layers.push_back(layer);
  r.layers.push_back(StoredLayer{layer, req.diff.digest, unpacked->stats.file_bytes});
  r.name = req.name;
  r.source = "snapshot";
  r.created_at = static_cast<int64_t>(now);
  r.owner_uid = req.owner_uid;
  r.base = req.parent ? req.parent->base : req.builtin;
  r.parent = req.parent_name;
  r.config_digest = config_digest;
  const std::string manifest_json = writeManifestJson(manifest);
  r.manifest_digest = sha256Of(manifest_json);
  if (auto x = writeWorkspaceFile(wsfd, "config", config_json); !x) return x.error();
  if (auto x = writeWorkspaceFile(wsfd, "manifest", manifest_json); !x) return x.error();
  pub.blob_files[config_digest] = "config";
  pub.blob_files[r.manifest_digest] = "manifest";
  pub.blob_files[req.diff.digest] = req.diff_file;
  pub.layer_dirs[req.diff.digest] = "layer";
  return store.publish(ws, std::move(pub));
}

}  // namespace declaw::image
