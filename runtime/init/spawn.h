// Starting a command for the daemon (a SpawnRequest) as a child of init.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <span>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "runtime/protocol.h"

namespace declaw::runtime::init {

// The number of fds a SpawnRequest carries: stdin, stdout, stderr (none for a PTY spawn).
inline constexpr size_t kSpawnFdCount = 3;
// A held spawn's extra fds: the stdout and stderr read ends, and with hold_stdin stdin's write end.
inline constexpr size_t kHeldFdCount = 2;

// The signals init ignores (main.cc), and so the only ones a spawned child must set back to the
// default: an ignored disposition survives execve, a handled one does not (signal(7)). One
// sigaction each instead of one per signal number: ~1 ms less per command on this machine kind.
inline constexpr int kSignalsInitIgnores[] = {SIGPIPE};

// EINVAL when the request cannot be run as asked: no argv, argv[0] not absolute (empty, with
// search_path), a NUL byte in a string, ids outside the sandbox, the wrong number of fds.
Result<void> validateSpawn(const SpawnRequest& request, size_t fd_count);

// The paths a search_path spawn tries in turn, as execvp(3) does: `command` itself when it has a
// slash, else each directory of PATH in `env` (the last PATH=, else /bin:/usr/bin; an empty
// entry is the cwd) joined with it. Paths longer than PATH_MAX are left out.
std::vector<std::string> commandCandidates(const std::string& command,
                                           const std::vector<std::string>& env);

struct SpawnedCommand {
  pid_t pid = -1;
  UniqueFd pty_master;  // PTY spawns: the terminal's master, for the daemon
};

// For a PTY spawn, first a new terminal (pty.h) whose slave plays the three fds and becomes the
// controlling terminal. fork; in the child: setsid, the three fds as 0-2, every other fd closed,
// default signal mask and dispositions, the request's identity (caps.h), chdir(cwd),
// execve(argv[0], argv, env) (with search_path, each of commandCandidates in turn).
// Returns the pid once execve succeeded (the child's close-on-exec error pipe reached EOF), or
// the errno and stage that failed; a failed child has _exit(127)ed and is left to the reaper.
// A search_path command that is not found (or not executable) is not a failed spawn: the child
// says so on its stderr and exits 127 (126), as a shell does, and its pid is returned.
Result<SpawnedCommand> spawnCommand(const SpawnRequest& request, std::span<const UniqueFd> stdio);

}  // namespace declaw::runtime::init
