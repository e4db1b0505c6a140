// An import from start to publish: the archive (a file the API streamed the upload into) is
// read into a workspace, resolved and checked, each new layer unpacked and its diff_id checked
// against the config, and the template published. Any failure leaves nothing behind: the
// workspace goes, and the store changes only in publish().
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/result.h"
#include "image/store.h"

namespace declaw::image {

struct ImportLimits {
  uint64_t max_archive_bytes = 8ull << 30;    // the outer archive's members, decompressed
  uint64_t max_unpacked_bytes = 32ull << 30;  // all layers' files, declared sizes
  uint64_t max_entries = 2'000'000;           // all layers' members
};

struct ImportRequest {
  std::string name;
  uid_t owner_uid = 0;
  bool replace = false;
  int archive_fd = -1;  // read from its current offset
};

// Errors: EINVAL (a bad archive: the message says what), EFBIG (past a limit), EEXIST (the
// name exists and !replace, or is being imported), anything else from the host (ENOSPC, EIO).
Result<TemplateRecord> importImage(TemplateStore& store, const ImportRequest& request,
                                   const ImportLimits& limits);

}  // namespace declaw::image
