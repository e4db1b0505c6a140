// The JSON documents of an image archive (image/manifest.h) and the names of layer members
// (image/layer_entry.h): an image archive is written by an attacker, and these decide what the
// daemon reads and where it writes.
//
// Input: bytes, read as each document kind (index.json, a manifest, a config, docker's
// manifest.json) and as a member name (with a second line as a hard link target).
//
// Invariants: a parse either fails with EINVAL/EFBIG and a message or gives values that hold
// their rules (digests are valid sha256 names; at most kMaxLayers layers; layer media types are
// known ones); a normalised member path is relative, has no "." or ".." component, no empty
// component, and is within the length limits; normalising it again changes nothing; a member's
// classification never names a path outside the layer.
#include <sys/stat.h>

#include <string>
#include <string_view>

#include "fuzz/fuzz_check.h"
#include "image/layer_entry.h"
#include "image/manifest.h"

namespace {

namespace img = declaw::image;
using declaw::fuzz::show;

void checkDigest(const img::Digest& d) {
  FUZZ_CHECK(img::Digest::parse(d.str()).has_value(), show(d.str()));
}

void checkPath(const std::string& path) {
  FUZZ_CHECK(path.size() <= img::kMaxMemberPathBytes, show(path));
  if (path.empty()) return;
  FUZZ_CHECK(path.front() != '/' && path.back() != '/', show(path));
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    std::string_view part(path.data() + start, end - start);
    FUZZ_CHECK(!part.empty() && part != "." && part != "..", show(path));
    FUZZ_CHECK(part.size() <= img::kMaxMemberNameBytes, show(path));
    start = end + 1;
  }
  auto again = img::normalizeMemberPath(path);
  FUZZ_CHECK(again.ok() && *again == path, "normalising is idempotent: " + show(path));
}

void checkErrorCode(int code) {
  FUZZ_CHECK(code == EINVAL || code == EFBIG || code == ENAMETOOLONG, std::to_string(code));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = declaw::fuzz::asText(data, size);

  if (auto index = img::parseIndex(text)) {
    for (const img::Descriptor& d : *index) checkDigest(d.digest);
    if (auto chosen = img::chooseManifest(*index, "linux/amd64")) checkDigest(chosen->digest);
  } else {
    checkErrorCode(index.error().code);
  }
  if (auto manifest = img::parseManifest(text)) {
    FUZZ_CHECK(manifest->layers.size() <= img::kMaxLayers);
    checkDigest(manifest->config.digest);
    for (const img::Descriptor& d : manifest->layers) {
      checkDigest(d.digest);
      FUZZ_CHECK(img::isKnownLayerType(d.media_type), show(d.media_type));
    }
    if (auto config = img::parseConfig(text)) (void)img::checkImage(*manifest, *config);
  } else {
    checkErrorCode(manifest.error().code);
  }
  if (auto config = img::parseConfig(text)) {
    for (const img::Digest& d : config->diff_ids) checkDigest(d);
    for (const std::string& e : config->env) {
      FUZZ_CHECK(!e.empty() && e.front() != '=' && e.find('\0') == std::string::npos, show(e));
    }
  } else {
    checkErrorCode(config.error().code);
  }
  if (auto docker = img::parseDockerManifest(text)) {
    FUZZ_CHECK(docker->layer_paths.size() <= img::kMaxLayers);
    FUZZ_CHECK(!docker->config_path.empty());
  } else {
    checkErrorCode(docker.error().code);
  }

  // As a member: the first line is its name, the second a link target, the third byte its type.
  const size_t nl = text.find('\n');
  img::RawMember member;
  member.name = std::string(text.substr(0, nl));
  if (nl != std::string_view::npos) {
    std::string_view rest = text.substr(nl + 1);
    const size_t nl2 = rest.find('\n');
    const std::string link(rest.substr(0, nl2));
    const unsigned char kind = rest.size() > (nl2 == std::string_view::npos ? 0 : nl2 + 1)
                                   ? static_cast<unsigned char>(rest.back())
                                   : 0;
    static constexpr mode_t kTypes[] = {S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO,
                                        S_IFCHR, S_IFBLK, S_IFSOCK};
    member.type = kTypes[kind % 7];
    if (kind & 0x80) {
      member.hardlink = link;
    } else if (member.type == S_IFLNK) {
      member.symlink = link;
    }
    member.rdev_major = kind & 0x10 ? 1 : 0;
  }
  if (auto entry = img::classifyMember(member)) {
    checkPath(entry->path);
    if (entry->kind == img::EntryKind::kHardlink) {
      checkPath(entry->link);
      FUZZ_CHECK(!entry->link.empty() && entry->link != entry->path);
    }
    if (entry->kind == img::EntryKind::kWhiteout) FUZZ_CHECK(!entry->path.empty());
  } else {
    checkErrorCode(entry.error().code);
  }
  return 0;
}
