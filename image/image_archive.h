// Reading an image archive: an OCI image layout in a tar (`skopeo copy ... oci-archive:`,
// `podman save --format oci-archive`, `buildah push`) or a `docker save` archive. The outer tar
// is read once, front to back (its members may come in any order); every member's bytes go to a
// file of their own in the import's workspace while their sha256 is taken, so nothing is held
// whole in memory and no member name ever becomes a path on disk. Then the JSON documents are
// parsed and every blob is checked against the digest and size its descriptor gives.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "image/digest.h"
#include "image/layer_unpack.h"
#include "image/manifest.h"

namespace declaw::image {

// Members an archive may have (blobs, JSON, directories): an OCI layout has a few per layer.
inline constexpr size_t kMaxArchiveMembers = 10000;

// One member of the outer archive, saved in the workspace.
struct SavedMember {
  std::string file;  // its file's name in the workspace ("m17")
  Digest digest = Digest::fromHex(std::string(64, '0'));
  uint64_t size = 0;
};

struct ArchiveContents {
  std::map<std::string, SavedMember> members;  // by normalised member name
  std::map<std::string, std::string> aliases;  // symlinks and hard links: name -> target name
  // The member `name`, through at most a few aliases; nullptr when absent.
  const SavedMember* find(const std::string& name) const;
};

// Reads the archive at `archive_fd` (tar, plain or gzip/zstd) into `workspace_fd`. EINVAL when
// it is not a tar (the message says what libarchive found), has duplicate members or too many;
// EFBIG when its members hold more than `max_bytes` (a compressed archive can be a bomb too).
Result<ArchiveContents> saveArchiveMembers(int archive_fd, int workspace_fd, uint64_t max_bytes);

// A layer as the image names it, not yet unpacked.
struct LayerRef {
  Descriptor blob;  // media type, digest and size of the blob as stored
  Digest diff_id = Digest::fromHex(std::string(64, '0'));  // what the config says
  std::string file;                                        // the blob's file in the workspace
};

// The image an archive holds, every blob checked against its descriptor.
struct ResolvedImage {
  std::string source;         // "oci" | "docker"
  std::string manifest_json;  // the manifest as stored (docker save: one declaw writes)
  Digest manifest_digest = Digest::fromHex(std::string(64, '0'));
  Manifest manifest;
  std::string config_json;
  ImageConfig config;
  std::vector<LayerRef> layers;        // base first
  std::vector<std::string> repo_tags;  // docker save's RepoTags, for information
};

Result<ResolvedImage> resolveImage(const ArchiveContents& contents, int workspace_fd);

// Unpacks a layer blob (tar, gzip or zstd: libarchive detects which, and decompresses with its
// built-in zlib/libzstd, never an external program) into the empty directory
// `root_fd` and returns the sha256 of the uncompressed tar, to compare with the diff_id.
// The uncompressed stream counts against budget.stream_bytes_left.
struct LayerUnpackResult {
  Digest diff_id = Digest::fromHex(std::string(64, '0'));
  UnpackStats stats;
};
Result<LayerUnpackResult> unpackLayerBlob(int blob_fd, int root_fd, UnpackBudget& budget);

// The OCI manifest declaw writes for an image that came without one (docker save) or that it
// made (a snapshot): canonical JSON of `manifest`.
std::string writeManifestJson(const Manifest& manifest);

}  // namespace declaw::image
