#include "image/image_archive.h"

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <nlohmann/json.hpp>

#include "common/io.h"
#include "image/layer_entry.h"

namespace declaw::image {

namespace {

constexpr size_t kCopyChunk = 256 * 1024;
constexpr int kMaxAliasHops = 8;
constexpr int kMaxIndexDepth = 2;  // an index may point at one more index (multi-platform)

using ArchivePtr = std::unique_ptr<archive, int (*)(archive*)>;

// gzip and zstd, decompressed by libarchive itself (zlib, libzstd), and nothing else:
// filter_all would also register lrzip, grzip and lzop, which libarchive runs as external
// programs found in PATH, as root, on the attacker's bytes. A filter libarchive can only offer
// through a program answers ARCHIVE_WARN: that is refused too.
Result<void> supportBuiltinFilters(archive* a) {
  if (archive_read_support_filter_gzip(a) != ARCHIVE_OK ||
      archive_read_support_filter_zstd(a) != ARCHIVE_OK) {
    return ErrnoError(ENOSYS) << "libarchive lacks built-in gzip or zstd support";
  }
  return {};
}

Error libarchiveError(archive* a, const std::string& doing) {
  const char* what = archive_error_string(a);
  int err = archive_errno(a);
  if (err == ENOSPC || err == EIO || err == ENOMEM) {
    return ErrnoError(err) << doing << ": " << (what ? what : "read error");
  }
  return ErrnoError(EINVAL) << doing << ": " << (what ? what : "unreadable archive");
}

// "a/b/../c" style alias targets, relative to the member's directory.
std::optional<std::string> aliasTarget(const std::string& member, const std::string& link,
                                       bool relative_to_member) {
  std::string joined = link;
  if (relative_to_member && !link.empty() && link.front() != '/') {
    auto slash = member.rfind('/');
    joined = (slash == std::string::npos ? "" : member.substr(0, slash + 1)) + link;
  }
  // Resolve ".." textually: the names only index members, nothing is opened by them.
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= joined.size()) {
    size_t end = joined.find('/', start);
    if (end == std::string::npos) end = joined.size();
    std::string part = joined.substr(start, end - start);
    start = end + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.push_back(part);
  }
  std::string out;
  for (const std::string& p : parts) out += (out.empty() ? "" : "/") + p;
  return out;
}

Result<std::string> readSaved(int workspace_fd, const SavedMember& m, const std::string& what) {
  if (m.size > kMaxJsonBytes) {
    return ErrnoError(EFBIG) << what << " is larger than " << (kMaxJsonBytes >> 20) << " MiB";
  }
  UniqueFd fd(::openat(workspace_fd, m.file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << what;
  return readAll(fd.get(), kMaxJsonBytes);
}

// The blob a descriptor names, in an OCI layout, checked against its digest and size.
Result<const SavedMember*> ociBlob(const ArchiveContents& c, const Descriptor& d,
                                   const std::string& what) {
  const std::string name = "blobs/sha256/" + std::string(d.digest.hex());
  const SavedMember* m = c.find(name);
  if (m == nullptr)
    return ErrnoError(EINVAL) << what << " " << d.digest.str() << " is not in the archive";
  if (!(m->digest == d.digest)) {
    return ErrnoError(EINVAL) << what << " " << name << " does not match its digest: its sha256 is "
                              << m->digest.str();
  }
  if (m->size != d.size) {
    return ErrnoError(EINVAL) << what << " " << d.digest.str() << " is " << m->size
                              << " bytes, its descriptor says " << d.size;
  }
  return m;
}

std::string layerTypeByMagic(int workspace_fd, const SavedMember& m) {
  UniqueFd fd(::openat(workspace_fd, m.file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
  unsigned char magic[4] = {};
  if (fd && ::pread(fd.get(), magic, sizeof magic, 0) == sizeof magic) {
    if (magic[0] == 0x1f && magic[1] == 0x8b) return std::string(media::kOciLayerGzip);
    if (magic[0] == 0x28 && magic[1] == 0xb5 && magic[2] == 0x2f && magic[3] == 0xfd) {
      return std::string(media::kOciLayerZstd);
    }
  }
  return std::string(media::kOciLayer);
}

Result<ResolvedImage> resolveOci(const ArchiveContents& c, int ws) {
  ResolvedImage image;
  image.source = "oci";
  auto index_text = readSaved(ws, *c.find("index.json"), "index.json");
  if (!index_text) return index_text.error();
  auto entries = parseIndex(*index_text);
  if (!entries) return entries.error();
  auto chosen = chooseManifest(*entries, hostPlatform());
  if (!chosen) return chosen.error();
  Descriptor d = *chosen;
  for (int depth = 0; isIndexType(d.media_type); ++depth) {
    if (depth >= kMaxIndexDepth) return ErrnoError(EINVAL) << "the index nests too deeply";
    auto blob = ociBlob(c, d, "index");
    if (!blob) return blob.error();
    auto text = readSaved(ws, **blob, "index " + d.digest.str());
    if (!text) return text.error();
    auto nested = parseIndex(*text);
    if (!nested) return nested.error();
    auto next = chooseManifest(*nested, hostPlatform());
    if (!next) return next.error();
    d = *next;
  }
  if (!d.media_type.empty() && !isManifestType(d.media_type)) {
    return ErrnoError(EINVAL) << "the index points at '" << d.media_type
                              << "', not an image manifest";
  }
  auto manifest_blob = ociBlob(c, d, "manifest");
  if (!manifest_blob) return manifest_blob.error();
  auto manifest_text = readSaved(ws, **manifest_blob, "the manifest");
  if (!manifest_text) return manifest_text.error();
  auto manifest = parseManifest(*manifest_text);
  if (!manifest) return manifest.error();
  auto config_blob = ociBlob(c, manifest->config, "config");
  if (!config_blob) return config_blob.error();
  auto config_text = readSaved(ws, **config_blob, "the image config");
  if (!config_text) return config_text.error();
  auto config = parseConfig(*config_text);
  if (!config) return config.error();
  if (auto r = checkImage(*manifest, *config); !r) return r.error();
  for (size_t i = 0; i < manifest->layers.size(); ++i) {
    auto blob = ociBlob(c, manifest->layers[i], "layer " + std::to_string(i));
    if (!blob) return blob.error();
    image.layers.push_back(LayerRef{manifest->layers[i], config->diff_ids[i], (*blob)->file});
  }
  image.manifest_json = std::move(*manifest_text);
  image.manifest_digest = d.digest;
  image.manifest = std::move(*manifest);
  image.config_json = std::move(*config_text);
  image.config = std::move(*config);
  return image;
}

Result<ResolvedImage> resolveDocker(const ArchiveContents& c, int ws) {
  ResolvedImage image;
  image.source = "docker";
  auto text = readSaved(ws, *c.find("manifest.json"), "manifest.json");
  if (!text) return text.error();
  auto docker = parseDockerManifest(*text);
  if (!docker) return docker.error();
  auto config_name = normalizeMemberPath(docker->config_path);
  const SavedMember* config_member = config_name ? c.find(*config_name) : nullptr;
  if (config_member == nullptr) {
    return ErrnoError(EINVAL) << "manifest.json names the config '" << docker->config_path
                              << "', which is not in the archive";
  }
  auto config_text = readSaved(ws, *config_member, "the image config");
  if (!config_text) return config_text.error();
  auto config = parseConfig(*config_text);
  if (!config) return config.error();
  // docker save names its config after the config's sha256 ("<hex>.json" or blobs/sha256/<hex>).
  Manifest manifest;
  manifest.media_type = std::string(media::kOciManifest);
  manifest.config =
      Descriptor{std::string(media::kOciConfig), config_member->digest, config_member->size, ""};
  for (size_t i = 0; i < docker->layer_paths.size(); ++i) {
    auto name = normalizeMemberPath(docker->layer_paths[i]);
    const SavedMember* m = name ? c.find(*name) : nullptr;
    if (m == nullptr) {
      return ErrnoError(EINVAL) << "manifest.json names the layer '" << docker->layer_paths[i]
                                << "', which is not in the archive";
    }
    manifest.layers.push_back(Descriptor{layerTypeByMagic(ws, *m), m->digest, m->size, ""});
  }
  if (auto r = checkImage(manifest, *config); !r) return r.error();
  for (size_t i = 0; i < manifest.layers.size(); ++i) {
    auto name = normalizeMemberPath(docker->layer_paths[i]);
    image.layers.push_back(LayerRef{manifest.layers[i], config->diff_ids[i], c.find(*name)->file});
  }
  image.manifest_json = writeManifestJson(manifest);
  image.manifest_digest = sha256Of(image.manifest_json);
  image.manifest = std::move(manifest);
  image.config_json = std::move(*config_text);
  image.config = std::move(*config);
  image.repo_tags = std::move(docker->repo_tags);
  return image;
}

// libarchive read callback for the inner (tar) reader: pulls the decompressed bytes of the
// outer (raw format) reader and hashes them on the way.
struct InnerSource {
  archive* outer = nullptr;
  Sha256* hash = nullptr;
  UnpackBudget* budget = nullptr;
  std::vector<char> buffer = std::vector<char>(kCopyChunk);
  bool over_budget = false;
};

la_ssize_t innerRead(archive* inner, void* data, const void** out) {
  auto* src = static_cast<InnerSource*>(data);
  la_ssize_t n = archive_read_data(src->outer, src->buffer.data(), src->buffer.size());
  if (n < 0) {
    archive_set_error(inner, EINVAL, "%s", archive_error_string(src->outer));
    return -1;
  }
  if (static_cast<uint64_t>(n) > src->budget->stream_bytes_left) {
    src->over_budget = true;
    archive_set_error(inner, EFBIG, "the layer is past the image's unpacked size limit");
    return -1;
  }
  src->budget->stream_bytes_left -= static_cast<uint64_t>(n);
  src->hash->update(src->buffer.data(), static_cast<size_t>(n));
  *out = src->buffer.data();
  return n;
}

}  // namespace

const SavedMember* ArchiveContents::find(const std::string& name) const {
  std::string current = name;
  for (int hop = 0; hop <= kMaxAliasHops; ++hop) {
    if (auto it = members.find(current); it != members.end()) return &it->second;
    auto alias = aliases.find(current);
    if (alias == aliases.end()) return nullptr;
    current = alias->second;
  }
  return nullptr;
}

Result<ArchiveContents> saveArchiveMembers(int archive_fd, int workspace_fd, uint64_t max_bytes) {
  ArchivePtr a(archive_read_new(), archive_read_free);
  if (auto r = supportBuiltinFilters(a.get()); !r) return r.error();
  archive_read_support_format_tar(a.get());
  if (archive_read_open_fd(a.get(), archive_fd, kCopyChunk) != ARCHIVE_OK) {
    return libarchiveError(a.get(), "not an image archive (a tar)");
  }
  ArchiveContents contents;
  std::vector<char> buffer(kCopyChunk);
  size_t count = 0;
  uint64_t total = 0;
  for (;;) {
    archive_entry* entry = nullptr;
    int rc = archive_read_next_header(a.get(), &entry);
    if (rc == ARCHIVE_EOF) break;
    if (rc < ARCHIVE_WARN) {
      return libarchiveError(
          a.get(), count == 0 ? "not an image archive (a tar)" : "reading the image archive");
    }
    if (++count > kMaxArchiveMembers) {
      return ErrnoError(EINVAL) << "the archive has more than " << kMaxArchiveMembers << " members";
    }
    const char* raw_name = archive_entry_pathname(entry);
    auto name = normalizeMemberPath(raw_name ? raw_name : "");
    if (!name) return name.error();
    if (name->empty()) continue;
    if (contents.members.count(*name) || contents.aliases.count(*name)) {
      return ErrnoError(EINVAL) << "the archive has the member '" << *name << "' twice";
    }
    if (const char* hard = archive_entry_hardlink(entry)) {
      auto target = aliasTarget(*name, hard, /*relative_to_member=*/false);
      if (target) contents.aliases[*name] = *target;
      continue;
    }
    const mode_t type = archive_entry_filetype(entry);
    if (type == S_IFLNK) {
      const char* link = archive_entry_symlink(entry);
      auto target = aliasTarget(*name, link ? link : "", /*relative_to_member=*/true);
      if (target) contents.aliases[*name] = *target;
      continue;
    }
    if (type != S_IFREG) continue;  // directories, and anything else, name no blob
    SavedMember saved;
    saved.file = "m" + std::to_string(count);
    UniqueFd out(::openat(workspace_fd, saved.file.c_str(),
                          O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!out) return ErrnoError() << "create " << saved.file << " in the import's workspace";
    Sha256 hash;
    for (;;) {
      la_ssize_t n = archive_read_data(a.get(), buffer.data(), buffer.size());
      if (n < 0) return libarchiveError(a.get(), "reading '" + *name + "'");
      if (n == 0) break;
      // A compressed outer archive may unpack to far more than was uploaded.
      if (static_cast<uint64_t>(n) > max_bytes - total) {
        return ErrnoError(EFBIG) << "the archive's members hold more than " << max_bytes
                                 << " bytes (max_template_bytes)";
      }
      total += static_cast<uint64_t>(n);
      hash.update(buffer.data(), static_cast<size_t>(n));
      if (auto w = writeAll(out.get(), buffer.data(), static_cast<size_t>(n)); !w) return w.error();
      saved.size += static_cast<uint64_t>(n);
    }
    saved.digest = hash.finish();
    contents.members.emplace(*name, std::move(saved));
  }
  if (count == 0) return ErrnoError(EINVAL) << "not an image archive: the tar is empty";
  return contents;
}

Result<ResolvedImage> resolveImage(const ArchiveContents& contents, int workspace_fd) {
  if (contents.find("index.json") != nullptr) return resolveOci(contents, workspace_fd);
  if (contents.find("manifest.json") != nullptr) return resolveDocker(contents, workspace_fd);
  return ErrnoError(EINVAL) << "not an image archive: it has neither index.json (an OCI image "
                               "layout) nor manifest.json (docker save)";
}

Result<LayerUnpackResult> unpackLayerBlob(int blob_fd, int root_fd, UnpackBudget& budget) {
  ArchivePtr outer(archive_read_new(), archive_read_free);
  if (auto r = supportBuiltinFilters(outer.get()); !r) return r.error();
  archive_read_support_format_raw(outer.get());
  if (archive_read_open_fd(outer.get(), blob_fd, kCopyChunk) != ARCHIVE_OK) {
    return libarchiveError(outer.get(), "opening the layer");
  }
  archive_entry* raw = nullptr;
  if (archive_read_next_header(outer.get(), &raw) != ARCHIVE_OK) {
    return libarchiveError(outer.get(), "decompressing the layer");
  }
  Sha256 hash;
  InnerSource source{outer.get(), &hash, &budget};
  ArchivePtr inner(archive_read_new(), archive_read_free);
  archive_read_support_format_tar(inner.get());
  if (archive_read_open(inner.get(), &source, nullptr, innerRead, nullptr) != ARCHIVE_OK) {
    if (source.over_budget)
      return ErrnoError(EFBIG) << "the layer is past the image's unpacked size limit";
    return libarchiveError(inner.get(), "the layer is not a tar");
  }
  auto stats = unpackLayer(inner.get(), root_fd, budget);
  if (!stats) {
    if (source.over_budget)
      return ErrnoError(EFBIG) << "the layer is past the image's unpacked size limit";
    return stats.error();
  }
  // The diff_id covers the whole uncompressed stream, past the tar's end marker too.
  std::vector<char> rest(kCopyChunk);
  for (;;) {
    la_ssize_t n = archive_read_data(outer.get(), rest.data(), rest.size());
    if (n < 0) return libarchiveError(outer.get(), "decompressing the layer");
    if (n == 0) break;
    if (static_cast<uint64_t>(n) > budget.stream_bytes_left) {
      return ErrnoError(EFBIG) << "the layer is past the image's unpacked size limit";
    }
    budget.stream_bytes_left -= static_cast<uint64_t>(n);
    hash.update(rest.data(), static_cast<size_t>(n));
  }
  return LayerUnpackResult{hash.finish(), *stats};
}

std::string writeManifestJson(const Manifest& m) {
  using nlohmann::ordered_json;
  auto descriptor = [](const Descriptor& d) {
    return ordered_json{{"mediaType", d.media_type}, {"digest", d.digest.str()}, {"size", d.size}};
  };
  ordered_json layers = ordered_json::array();
  for (const Descriptor& d : m.layers) layers.push_back(descriptor(d));
  ordered_json doc{{"schemaVersion", 2},
                   {"mediaType", media::kOciManifest},
                   {"config", descriptor(m.config)},
                   {"layers", layers}};
  return doc.dump();
}

}  // namespace declaw::image
