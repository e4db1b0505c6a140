#include "image/manifest.h"

#include <sys/utsname.h>

#include <nlohmann/json.hpp>

namespace declaw::image {

namespace {

using nlohmann::json;

Result<json> parseJson(std::string_view text, const char* what) {
  if (text.size() > kMaxJsonBytes) {
    return ErrnoError(EFBIG) << what << " is larger than " << (kMaxJsonBytes >> 20) << " MiB";
  }
  json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return ErrnoError(EINVAL) << what << " is not valid JSON";
  if (!doc.is_object() && !doc.is_array()) {
    return ErrnoError(EINVAL) << what << " is not a JSON object";
  }
  return doc;
}

// The string member `key` of `obj`; "" when absent; EINVAL when present and not a string.
Result<std::string> stringField(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return std::string();
  if (!it->is_string()) return ErrnoError(EINVAL) << where << "." << key << " is not a string";
  return it->get<std::string>();
}

Result<Digest> digestField(const json& obj, const char* key, const std::string& where) {
  auto text = stringField(obj, key, where);
  if (!text) return text.error();
  auto digest = Digest::parse(*text);
  if (!digest) {
    return ErrnoError(EINVAL) << where << "." << key << " '" << text->substr(0, 80)
                              << "' is not a sha256 digest";
  }
  return *digest;
}

Result<Descriptor> parseDescriptor(const json& obj, const std::string& where) {
  if (!obj.is_object()) return ErrnoError(EINVAL) << where << " is not an object";
  Descriptor d;
  auto media_type = stringField(obj, "mediaType", where);
  if (!media_type) return media_type.error();
  d.media_type = *media_type;
  auto digest = digestField(obj, "digest", where);
  if (!digest) return digest.error();
  d.digest = *digest;
  auto size = obj.find("size");
  if (size == obj.end() || !size->is_number_unsigned()) {
    return ErrnoError(EINVAL) << where << ".size is missing or not a non-negative integer";
  }
  d.size = size->get<uint64_t>();
  if (auto platform = obj.find("platform"); platform != obj.end() && platform->is_object()) {
    auto os = stringField(*platform, "os", where + ".platform");
    auto arch = stringField(*platform, "architecture", where + ".platform");
    if (!os) return os.error();
    if (!arch) return arch.error();
    d.platform = *os + "/" + *arch;
  }
  return d;
}

Result<std::vector<std::string>> stringList(const json& obj, const char* key,
                                            const std::string& where) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return out;
  if (!it->is_array()) return ErrnoError(EINVAL) << where << "." << key << " is not a list";
  for (const json& item : *it) {
    if (!item.is_string()) {
      return ErrnoError(EINVAL) << where << "." << key << " holds a non-string";
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

}  // namespace

std::string hostPlatform() {
  struct utsname u {};
  ::uname(&u);
  std::string machine = u.machine;
  if (machine == "x86_64") return "linux/amd64";
  if (machine == "aarch64") return "linux/arm64";
  return "linux/" + machine;
}

bool isKnownLayerType(std::string_view t) {
  return t == media::kOciLayer || t == media::kOciLayerGzip || t == media::kOciLayerZstd ||
         t == media::kDockerLayer || t == media::kDockerLayerGzip;
}

bool isIndexType(std::string_view t) {
  return t == media::kOciIndex || t == media::kDockerManifestList;
}

bool isManifestType(std::string_view t) {
  return t == media::kOciManifest || t == media::kDockerManifest;
}

Result<std::vector<Descriptor>> parseIndex(std::string_view text) {
  auto doc = parseJson(text, "index.json");
  if (!doc) return doc.error();
  if (!doc->is_object()) return ErrnoError(EINVAL) << "index.json is not a JSON object";
  auto manifests = doc->find("manifests");
  if (manifests == doc->end() || !manifests->is_array()) {
    return ErrnoError(EINVAL) << "index.json has no manifests list";
  }
  std::vector<Descriptor> out;
  size_t i = 0;
  for (const json& entry : *manifests) {
    auto d = parseDescriptor(entry, "index.json manifests[" + std::to_string(i++) + "]");
    if (!d) return d.error();
    out.push_back(std::move(*d));
  }
  return out;
}

Result<Descriptor> chooseManifest(const std::vector<Descriptor>& entries,
                                  const std::string& platform) {
  if (entries.empty()) return ErrnoError(EINVAL) << "the index lists no image";
  if (entries.size() == 1) return entries.front();
  const Descriptor* found = nullptr;
  std::string offered;
  for (const Descriptor& d : entries) {
    offered += (offered.empty() ? "" : ", ") + (d.platform.empty() ? "(no platform)" : d.platform);
    if (d.platform != platform) continue;
    if (found != nullptr) {
      return ErrnoError(EINVAL) << "the index lists several images for " << platform;
    }
    found = &d;
  }
  if (found == nullptr) {
    return ErrnoError(EINVAL) << "the index lists no image for " << platform << " (it has "
                              << offered << ")";
  }
  return *found;
}

Result<Manifest> parseManifest(std::string_view text) {
  auto doc = parseJson(text, "the manifest");
  if (!doc) return doc.error();
  if (!doc->is_object()) return ErrnoError(EINVAL) << "the manifest is not a JSON object";
  Manifest m;
  auto media_type = stringField(*doc, "mediaType", "manifest");
  if (!media_type) return media_type.error();
  // The OCI spec makes mediaType optional in a manifest; its absence means OCI.
  m.media_type = media_type->empty() ? std::string(media::kOciManifest) : *media_type;
  if (!isManifestType(m.media_type)) {
    return ErrnoError(EINVAL) << "the manifest's mediaType '" << m.media_type
                              << "' is not an image manifest";
  }
  auto config = doc->find("config");
  if (config == doc->end()) return ErrnoError(EINVAL) << "the manifest has no config";
  auto c = parseDescriptor(*config, "manifest.config");
  if (!c) return c.error();
  m.config = std::move(*c);
  auto layers = doc->find("layers");
  if (layers == doc->end() || !layers->is_array()) {
    return ErrnoError(EINVAL) << "the manifest has no layers list";
  }
  if (layers->size() > kMaxLayers) {
    return ErrnoError(EINVAL) << "the image has " << layers->size() << " layers; at most "
                              << kMaxLayers << " are supported";
  }
  size_t i = 0;
  for (const json& entry : *layers) {
    const std::string where = "manifest.layers[" + std::to_string(i++) + "]";
    auto d = parseDescriptor(entry, where);
    if (!d) return d.error();
    if (!isKnownLayerType(d->media_type)) {
      return ErrnoError(EINVAL) << where << " has media type '" << d->media_type
                                << "', which is not a tar layer (plain, gzip or zstd)";
    }
    m.layers.push_back(std::move(*d));
  }
  return m;
}

Result<ImageConfig> parseConfig(std::string_view text) {
  auto doc = parseJson(text, "the image config");
  if (!doc) return doc.error();
  if (!doc->is_object()) return ErrnoError(EINVAL) << "the image config is not a JSON object";
  ImageConfig c;
  auto os = stringField(*doc, "os", "config");
  auto arch = stringField(*doc, "architecture", "config");
  if (!os) return os.error();
  if (!arch) return arch.error();
  c.os = *os;
  c.architecture = *arch;
  if (auto it = doc->find("config"); it != doc->end() && !it->is_null()) {
    if (!it->is_object()) return ErrnoError(EINVAL) << "config.config is not an object";
    auto env = stringList(*it, "Env", "config.config");
    if (!env) return env.error();
    for (const std::string& e : *env) {
      if (e.empty() || e.front() == '=' || e.find('\0') != std::string::npos) {
        return ErrnoError(EINVAL) << "config.config.Env has an invalid entry '" << e.substr(0, 80)
                                  << "'";
      }
    }
    c.env = std::move(*env);
    auto workdir = stringField(*it, "WorkingDir", "config.config");
    auto user = stringField(*it, "User", "config.config");
    if (!workdir) return workdir.error();
    if (!user) return user.error();
    c.working_dir = *workdir;
    c.user = *user;
  }
  auto rootfs = doc->find("rootfs");
  if (rootfs == doc->end() || !rootfs->is_object()) {
    return ErrnoError(EINVAL) << "the image config has no rootfs";
  }
  auto type = stringField(*rootfs, "type", "config.rootfs");
  if (!type) return type.error();
  if (*type != "layers") {
    return ErrnoError(EINVAL) << "config.rootfs.type is '" << *type << "', not 'layers'";
  }
  auto ids = stringList(*rootfs, "diff_ids", "config.rootfs");
  if (!ids) return ids.error();
  for (const std::string& id : *ids) {
    auto d = Digest::parse(id);
    if (!d) {
      return ErrnoError(EINVAL) << "config.rootfs.diff_ids has '" << id.substr(0, 80)
                                << "', not a sha256 digest";
    }
    c.diff_ids.push_back(*d);
  }
  return c;
}

Result<DockerImage> parseDockerManifest(std::string_view text) {
  auto doc = parseJson(text, "manifest.json");
  if (!doc) return doc.error();
  if (!doc->is_array()) return ErrnoError(EINVAL) << "manifest.json is not a list";
  if (doc->size() != 1) {
    return ErrnoError(EINVAL) << "the archive holds " << doc->size()
                              << " images; import one image at a time";
  }
  const json& entry = doc->front();
  if (!entry.is_object()) return ErrnoError(EINVAL) << "manifest.json[0] is not an object";
  DockerImage image;
  auto config = stringField(entry, "Config", "manifest.json[0]");
  if (!config) return config.error();
  if (config->empty()) return ErrnoError(EINVAL) << "manifest.json[0] names no Config";
  image.config_path = *config;
  auto layers = stringList(entry, "Layers", "manifest.json[0]");
  if (!layers) return layers.error();
  if (layers->size() > kMaxLayers) {
    return ErrnoError(EINVAL) << "the image has " << layers->size() << " layers; at most "
                              << kMaxLayers << " are supported";
  }
  image.layer_paths = std::move(*layers);
  auto tags = stringList(entry, "RepoTags", "manifest.json[0]");
  if (!tags) return tags.error();
  image.repo_tags = std::move(*tags);
  return image;
}

Result<void> checkImage(const Manifest& manifest, const ImageConfig& config) {
  if (config.diff_ids.size() != manifest.layers.size()) {
    return ErrnoError(EINVAL) << "the config lists " << config.diff_ids.size() << " diff_ids for "
                              << manifest.layers.size() << " layers";
  }
  if (manifest.layers.size() > kMaxLayers) {
    return ErrnoError(EINVAL) << "the image has " << manifest.layers.size() << " layers; at most "
                              << kMaxLayers << " are supported";
  }
  if (!config.os.empty() && config.os != "linux") {
    return ErrnoError(EINVAL) << "the image is for " << config.os << ", not linux";
  }
  const std::string host = hostPlatform();
  if (!config.architecture.empty() && "linux/" + config.architecture != host) {
    return ErrnoError(EINVAL) << "the image is for " << config.architecture
                              << "; this machine runs " << host.substr(host.find('/') + 1);
  }
  return {};
}

}  // namespace declaw::image
