// Templates as people read them: the `template ls` table, the `template inspect` view, the
// import progress line and what a failed build step reports. Pure, like format.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "clients/ctl/requests.h"

namespace declaw::ctl {

// An archive smaller than this imports too fast for a progress bar to be worth drawing.
inline constexpr uint64_t kProgressMinBytes = uint64_t{16} << 20;

// The first 12 hex digits of a "sha256:..." digest, as docker shows image ids; "-" for null or
// anything that is not such a digest.
std::string shortDigest(const nlohmann::json& digest);

// The `template ls` table for a JSON array of TemplateInfo:
// NAME  SOURCE  DIGEST  LAYERS  SIZE  SANDBOXES  CREATED  FROM
// SIZE is the unpacked size ("-" for a built-in, which is the host's /usr); FROM is a snapshot's
// parent template, or for a snapshot of a built-in that built-in; "-" otherwise (a built-in
// included).
std::string formatTemplateTable(const nlohmann::json& templates);

// The `template inspect` view: one "field: value" line per TemplateInfo field, aligned; one
// `env` line per variable of the image config and one `layer N` line per layer (digest, size,
// unpacked size, media type).
std::string formatTemplateInfo(const nlohmann::json& info);

// Whether an import shows a progress bar: only on a terminal, and only for a big archive (for
// one of unknown size, from a pipe: once that much has gone out).
bool progressVisible(bool terminal, std::optional<uint64_t> total, uint64_t sent);

// One progress line, at most `columns` wide (a narrower terminal loses the bar first):
// "NAME  [##########..........]  50%  128MiB / 256MiB", or without a known total
// "NAME  128MiB sent".
std::string progressLine(std::string_view label, uint64_t sent, std::optional<uint64_t> total,
                         int columns);

// Why step `index` (0-based) of `count` failed, for "declawctl: build failed: ...":
// "step 2/3 (apt-get install x) exited with code 100", "... timed out after 60 s",
// "... was killed for lack of memory (exit code 137)".
std::string stepFailure(size_t index, size_t count, std::string_view cmd,
                        const CommandOutcome& outcome, int64_t timeout_s);

}  // namespace declaw::ctl
