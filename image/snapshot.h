// Publishing a snapshot: a sandbox's changes (a layer tar written by layer_diff.h into a
// workspace) become a template that is its parent's layers plus this one. The layer is
// unpacked through the same checks as an imported one, and the config is the parent's with
// the new diff_id and a history entry added (for a host-backed built-in parent, a minimal
// config of declaw's own).
#pragma once

#include <optional>
#include <string>

#include "common/result.h"
#include "image/layer_diff.h"
#include "image/store.h"

namespace declaw::image {

struct SnapshotRequest {
  std::string name;
  uid_t owner_uid = 0;
  bool replace = false;
  std::string sandbox_id;
  std::string parent_name;               // the template the sandbox was made from
  std::optional<TemplateRecord> parent;  // nullopt when that is a built-in
  std::string builtin;                   // the built-in at the bottom ("" for an image)
  std::string diff_file;                 // the layer tar, in the workspace
  DiffResult diff;
  uint64_t max_file_bytes = 0;  // what the diff was allowed (the sandbox's disk)
};

// EINVAL when the parent already has kMaxLayers layers (the message says what to do instead).
Result<TemplateRecord> publishSnapshot(TemplateStore& store, Workspace& workspace,
                                       const SnapshotRequest& request);

}  // namespace declaw::image
