// A template written back as an OCI image layout in a tar (what `skopeo copy oci-archive:`
// reads): oci-layout, index.json naming the template, and its blobs exactly as stored, so an
// export imported again has the same digests. libarchive writes the tar (pax).
#pragma once

#include "common/result.h"
#include "image/store.h"

namespace declaw::image {

// EOPNOTSUPP for a template built on a host-backed built-in (it has no image of its own to
// give). Writes to `out_fd` from its current offset.
Result<uint64_t> exportTemplate(const TemplateStore& store, const TemplateRecord& record,
                                int out_fd);

}  // namespace declaw::image
