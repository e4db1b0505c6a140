// A new pseudo-terminal on the sandbox's own devpts instance (mounted newinstance, so /dev/ptmx
// inside is not the host's), for a PTY spawn.
#pragma once

#include <cstdint>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::runtime::init {

struct Pty {
  UniqueFd master;  // goes to the daemon
  UniqueFd slave;   // becomes the command's 0-2 and controlling terminal
};

// Opens /dev/ptmx, unlocks it, sets the window size, and opens the slave through the master
// (TIOCGPTPEER: no path lookup, so no race with what sandbox code does to /dev/pts). The slave
// is handed to `uid` with group tty and mode 0620, as login(1) does, so the user's programs
// (and only they, and root) can reopen their terminal.
Result<Pty> openPty(uint16_t rows, uint16_t cols, uint32_t uid, uint32_t tty_gid);

}  // namespace declaw::runtime::init
