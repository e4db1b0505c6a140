// A sandbox's changes as an OCI layer: its overlayfs upper directories walked by fd (never by
// path, never following a symlink: the sandbox wrote them) and written as a tar by libarchive.
// overlayfs's whiteouts (0:0 character devices) become `.wh.<name>` members and its opaque
// directories (trusted.overlay.opaque=y) a `.wh..wh..opq` member, as the OCI image spec has
// them; overlayfs's own bookkeeping xattrs (trusted.overlay.*) are left out. Owners are the
// sandbox's: a host id base+N is written as N.
#pragma once

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

// Writes the layer to `out_fd` (from its current offset). `id_base`/`id_count`: the sandbox's
// host id range; an id outside it is written as 65534 (nobody), as the sandbox saw it.
Result<DiffResult> writeLayerDiff(const std::vector<UpperDir>& uppers, uint32_t id_base,
                                  uint32_t id_count, int out_fd);

}  // namespace declaw::image
