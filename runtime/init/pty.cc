#include "runtime/init/pty.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

namespace declaw::runtime::init {

namespace {

// The slave keeps the group's write bit only, as devpts' mode=0620 does for new terminals.
constexpr mode_t kSlaveMode = 0620;

}  // namespace

Result<Pty> openPty(uint16_t rows, uint16_t cols, uint32_t uid, uint32_t tty_gid) {
  Pty pty;
  pty.master = UniqueFd(::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.master) return ErrnoError() << "open /dev/ptmx";
  int unlock = 0;
  if (::ioctl(pty.master.get(), TIOCSPTLCK, &unlock) != 0) return ErrnoError() << "unlockpt";
  winsize size{};
  size.ws_row = rows;
  size.ws_col = cols;
  if (::ioctl(pty.master.get(), TIOCSWINSZ, &size) != 0) return ErrnoError() << "TIOCSWINSZ";
  pty.slave = UniqueFd(::ioctl(pty.master.get(), TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC));
  if (!pty.slave) return ErrnoError() << "TIOCGPTPEER";
  if (::fchown(pty.slave.get(), uid, tty_gid) != 0) return ErrnoError() << "chown pty";
  if (::fchmod(pty.slave.get(), kSlaveMode) != 0) return ErrnoError() << "chmod pty";
  return pty;
}

}  // namespace declaw::runtime::init
