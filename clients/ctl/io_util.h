// Blocking fd helpers for declawctl (EINTR-retrying full reads and writes, a spool file for
// stdin). Kept here rather than linking common/io.cc so the CLI builds on headers alone.
#pragma once

#include <csignal>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::ctl {

// Set by a SIGINT/SIGTERM handler when the user wants out; blocking calls that see EINTR while it
// is set give up with an "interrupted" error instead of retrying.
extern volatile std::sig_atomic_t g_interrupted;

// Installs handlers (without SA_RESTART) that set g_interrupted on SIGINT and SIGTERM, so a
// blocked request returns and the caller can clean up (`run` kills its sandbox). They also write
// a byte to a pipe whose read end is interruptWakeFd().
void installInterruptHandlers();

// Readable once SIGINT or SIGTERM came (after installInterruptHandlers(); -1 before). A wait that
// polls it with its own fd cannot miss a signal that lands between two system calls, which
// EINTR alone would not report (the next blocking call would wait for the daemon's answer).
int interruptWakeFd();

// Writes all of data to fd, retrying EINTR and short writes.
Result<void> writeFully(int fd, std::string_view data);

// Reads fd to EOF; more than max_bytes is an E2BIG error.
Result<std::string> readFully(int fd, size_t max_bytes);

// A file of known size to stream from.
struct SizedFile {
  UniqueFd fd;
  uint64_t size = 0;
};

// Opens a local file for upload. "-" is stdin: a regular file is used in place; a pipe or tty is
// first spooled to an unlinked temporary file (under $TMPDIR or /tmp) to learn its size, since
// the upload is sent with a Content-Length.
Result<SizedFile> openUploadSource(const std::string& path);

// A local file to stream as a request body without holding or spooling it.
struct StreamSource {
  UniqueFd fd;
  std::optional<uint64_t> size;  // nullopt: a pipe or terminal, read to EOF as it comes
};

// Opens path ("-": stdin) for streaming: a regular file (stdin redirected from one too, from its
// current position) has a size; anything else but a directory is read as it comes.
Result<StreamSource> openStreamSource(const std::string& path);

}  // namespace declaw::ctl
