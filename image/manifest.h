// The JSON documents of an image archive, parsed into plain values: the OCI index and
// manifest, the image config, and `docker save`'s manifest.json. Pure functions of bytes (the
// fuzz target fuzz/fuzz_image_manifest.cc feeds them anything); EINVAL with a message that
// names the problem, for a 400.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "image/digest.h"

namespace declaw::image {

// The JSON documents of an archive (index, manifests, config, docker's manifest.json) are read
// into memory: none may be larger than this.
inline constexpr size_t kMaxJsonBytes = 4 << 20;
// Layers of one image: overlayfs stacks at most 500, the kernel's mount data holds about 200 of
// our lower paths, and Docker refuses more than 127. Snapshots stop here too.
inline constexpr size_t kMaxLayers = 100;

namespace media {
inline constexpr std::string_view kOciIndex = "application/vnd.oci.image.index.v1+json";
inline constexpr std::string_view kOciManifest = "application/vnd.oci.image.manifest.v1+json";
inline constexpr std::string_view kOciConfig = "application/vnd.oci.image.config.v1+json";
inline constexpr std::string_view kOciLayer = "application/vnd.oci.image.layer.v1.tar";
inline constexpr std::string_view kOciLayerGzip = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr std::string_view kOciLayerZstd = "application/vnd.oci.image.layer.v1.tar+zstd";
inline constexpr std::string_view kDockerManifestList =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr std::string_view kDockerManifest =
    "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr std::string_view kDockerConfig = "application/vnd.docker.container.image.v1+json";
inline constexpr std::string_view kDockerLayer = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr std::string_view kDockerLayerGzip =
    "application/vnd.docker.image.rootfs.diff.tar.gzip";
}  // namespace media

struct Descriptor {
  std::string media_type;
  Digest digest = Digest::fromHex(std::string(64, '0'));
  uint64_t size = 0;
  std::string platform;  // "linux/amd64" where an index says; else empty
};

struct Manifest {
  std::string media_type;  // OCI or Docker v2
  Descriptor config;
  std::vector<Descriptor> layers;  // base first
};

// What declaw uses of an image config (the rest is kept byte for byte in the store).
struct ImageConfig {
  std::vector<std::string> env;  // "K=V", in order
  std::string working_dir;
  std::string user;
  std::string os;
  std::string architecture;
  std::vector<Digest> diff_ids;  // the uncompressed layers, base first
};

// `docker save` (legacy layout): the config and layer members named by path in the archive.
struct DockerImage {
  std::string config_path;
  std::vector<std::string> layer_paths;
  std::vector<std::string> repo_tags;
};

// This machine's platform in OCI terms ("linux/amd64").
std::string hostPlatform();

bool isKnownLayerType(std::string_view media_type);
bool isIndexType(std::string_view media_type);
bool isManifestType(std::string_view media_type);

// The descriptors an index lists (manifests or nested indexes).
Result<std::vector<Descriptor>> parseIndex(std::string_view json);
// Of an index's entries, the one image manifest for `platform`: the only entry, or the one
// whose platform matches. EINVAL naming the platforms on offer when none or several match.
Result<Descriptor> chooseManifest(const std::vector<Descriptor>& entries,
                                  const std::string& platform);
Result<Manifest> parseManifest(std::string_view json);
Result<ImageConfig> parseConfig(std::string_view json);
Result<DockerImage> parseDockerManifest(std::string_view json);

// Checks that a config fits its manifest: as many diff_ids as layers, at most kMaxLayers, and
// an OS (Linux) and architecture (this machine's) that run here, where they are given.
Result<void> checkImage(const Manifest& manifest, const ImageConfig& config);

}  // namespace declaw::image
