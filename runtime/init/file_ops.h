// The file API's operations (FileOpRequest), run inside the sandbox as the requesting user.
//
// Each request gets its own helper process, forked from init: it keeps only fds 0-3 (3 is the
// control socket), takes the request's uid/gid exactly as a spawned command would (caps.h),
// becomes non-dumpable, performs the op with paths resolved by the kernel in the sandbox's root
// (so "..", symlinks and /proc/self/root stay inside), sends the Reply itself on fd 3 and exits.
// SOCK_SEQPACKET keeps its reply whole next to init's own messages.
#pragma once

#include <sys/types.h>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/protocol.h"

namespace declaw::runtime::init {

// Forks the helper. Returns its pid (init reaps it like any other child, without reporting it)
// or the fork error, which init answers itself.
Result<pid_t> startFileOpHelper(const FileOpRequest& request);

// The op, performed in the calling process with its current credentials: the Reply to send,
// and the fd to pass along with it (kOpenRead, kOpenWrite, kList). Exposed for unit tests.
struct FileOpResult {
  Reply reply;
  UniqueFd fd;
};
FileOpResult performFileOp(const FileOpRequest& request);

}  // namespace declaw::runtime::init
