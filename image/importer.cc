#include "image/importer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ctime>

#include "image/image_archive.h"

namespace declaw::image {

Result<TemplateRecord> importImage(TemplateStore& store, const ImportRequest& req,
                                   const ImportLimits& limits) {
  if (std::string problem = templateNameProblem(req.name); !problem.empty()) {
    return ErrnoError(EINVAL) << problem;
  }
  auto lease = store.reserveName(req.name);
  if (!lease) return lease.error();
  if (!req.replace && store.get(req.name)) {
    return ErrnoError(EEXIST) << "template '" << req.name
                              << "' exists (delete it first, or import with replace)";
  }
  auto ws = store.newWorkspace("import");
  if (!ws) return ws.error();
  const int wsfd = (*ws)->fd();

  auto contents = saveArchiveMembers(req.archive_fd, wsfd, limits.max_archive_bytes);
  if (!contents) return contents.error();
  auto image = resolveImage(*contents, wsfd);
  if (!image) return image.error();

  std::vector<Digest> diff_ids;
  for (const LayerRef& l : image->layers) diff_ids.push_back(l.diff_id);
  LayerPins pins = store.pin(diff_ids);  // layers we find stored stay until we publish

  PublishRequest pub;
  pub.replace = req.replace;
  TemplateRecord& r = pub.record;
  r.name = req.name;
  r.source = "import";
  r.created_at = static_cast<int64_t>(std::time(nullptr));
  r.owner_uid = req.owner_uid;
  r.manifest_digest = image->manifest_digest;
  r.config_digest = image->manifest.config.digest;
  r.env = image->config.env;
  r.working_dir = image->config.working_dir;
  r.user = image->config.user;
  r.repo_tags = image->repo_tags;

  UnpackBudget budget{limits.max_unpacked_bytes, limits.max_entries,
                      limits.max_unpacked_bytes + (1ull << 30)};
  for (size_t i = 0; i < image->layers.size(); ++i) {
    const LayerRef& ref = image->layers[i];
    StoredLayer stored{ref.blob, ref.diff_id, 0};
    // A blob some template already has, unpacked to this very diff_id, need not be unpacked
    // again: its bytes are the same (same digest) and the store checked them once.
    auto known = store.knownDiffId(ref.blob.digest);
    const bool reuse = known && *known == ref.diff_id && store.hasLayer(ref.diff_id);
    const bool seen = pub.layer_dirs.count(ref.diff_id) > 0;  // twice in one image
    if (!reuse && !seen) {
      const std::string dir = "layer-" + std::to_string(i);
      if (::mkdirat(wsfd, dir.c_str(), 0700) != 0 ||
          ::mkdirat(wsfd, (dir + "/diff").c_str(), 0755) != 0) {
        return ErrnoError() << "mkdir " << dir;
      }
      UniqueFd root(
          ::openat(wsfd, (dir + "/diff").c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
      UniqueFd blob(::openat(wsfd, ref.file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
      if (!root || !blob) return ErrnoError() << "open layer " << i;
      auto unpacked = unpackLayerBlob(blob.get(), root.get(), budget);
      if (!unpacked) {
        return ErrnoError(unpacked.error().code) << "layer " << i << " (" << ref.blob.digest.str()
                                                 << "): " << unpacked.error().message;
      }
      if (!(unpacked->diff_id == ref.diff_id)) {
        return ErrnoError(EINVAL) << "layer " << i << " (" << ref.blob.digest.str()
                                  << "): its uncompressed sha256 is " << unpacked->diff_id.str()
                                  << ", the config's diff_id is " << ref.diff_id.str();
      }
      stored.unpacked_bytes = unpacked->stats.file_bytes;
      pub.layer_dirs[ref.diff_id] = dir;
    } else if (reuse) {
      for (const TemplateRecord& other : store.list()) {
        for (const StoredLayer& l : other.layers) {
          if (l.diff_id == ref.diff_id) stored.unpacked_bytes = l.unpacked_bytes;
        }
      }
    } else {
      for (const StoredLayer& l : r.layers) {
        if (l.diff_id == ref.diff_id) stored.unpacked_bytes = l.unpacked_bytes;
      }
    }
    pub.blob_files[ref.blob.digest] = ref.file;
    r.layers.push_back(std::move(stored));
  }

  // The manifest and config as blobs: the export gives these very bytes back.
  for (const auto& [digest, text, name] :
       {std::tuple{image->manifest_digest, &image->manifest_json, std::string("manifest")},
        std::tuple{image->manifest.config.digest, &image->config_json, std::string("config")}}) {
    UniqueFd fd(
        ::openat(wsfd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!fd) return ErrnoError() << "create " << name;
    if (::write(fd.get(), text->data(), text->size()) != static_cast<ssize_t>(text->size())) {
      return ErrnoError() << "write " << name;
    }
    pub.blob_files[digest] = name;
  }
  return store.publish(**ws, std::move(pub));
}

}  // namespace declaw::image
