// A sandbox's changes as an OCI layer: its overlayfs upper directories walked by fd (never by
// path, never following a symlink: the sandbox wrote them) and written as a tar by libarchive.
// overlayfs's whiteouts (0:0 character devices) become `.wh.<name>` members and its opaque
// directories (trusted.overlay.opaque=y) a `.wh..wh..opq` member, as the OCI image spec has
// them; overlayfs's own bookkeeping xattrs (trusted.overlay.*) are left out. Owners are the
// sandbox's: a host id base+N is written as N.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "image/digest.h"

namespace declaw::image {

struct UpperDir {
  int fd = -1;         // an open directory: the upper dir of one overlay
  std::string prefix;  // where that overlay is mounted in the sandbox: "" for /, "usr" for /usr
};

struct DiffResult {
  Digest digest = Digest::fromHex(std::string(64, '0'));  // of the tar: blob digest and diff_id
  uint64_t size = 0;
  uint64_t entries = 0;
};

struct DiffLimits {
  // The files' bytes the layer may hold. A sparse file's holes are written as zeros, so a
  // sandbox could make a tiny file of any apparent size: the daemon passes the sandbox's disk
  // size, which bounds every honest snapshot. EFBIG past it.
  uint64_t max_file_bytes = 0;
  // Set from elsewhere (the sandbox was killed): the walk stops with ECANCELED.
  const std::atomic<bool>* cancel = nullptr;
};

// Writes the layer to `out_fd` (from its current offset). `id_base`/`id_count`: the sandbox's
// host id range; an id outside it is written as 65534 (nobody), as the sandbox saw it. EINVAL
// for what a layer cannot hold: a name starting with ".wh." (it would read back as a deletion)
// or directories nested deeper than image::kMaxMemberDepth.
Result<DiffResult> writeLayerDiff(const std::vector<UpperDir>& uppers, uint32_t id_base,
                                  uint32_t id_count, int out_fd, const DiffLimits& limits);

}  // namespace declaw::image
