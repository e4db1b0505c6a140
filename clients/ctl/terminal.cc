#include "clients/ctl/terminal.h"

#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>

#include "clients/ctl/io_util.h"

namespace declaw::ctl {
namespace {

// Process-wide because signal handlers must reach them: the terminal in raw mode and its saved
// settings, and where window changes are announced.
struct termios g_saved_termios = {};
volatile std::sig_atomic_t g_raw_fd = -1;
volatile std::sig_atomic_t g_winch_fd = -1;

constexpr int kSignalExitBase = 128;

void restoreSavedTermios() {
  int fd = g_raw_fd;
  if (fd >= 0) ::tcsetattr(fd, TCSANOW, &g_saved_termios);
}

void onTerminalSignal(int signo) {
  restoreSavedTermios();
  if (g_interrupted != 0) ::_exit(kSignalExitBase + signo);  // asked twice: leave now
  g_interrupted = signo;
}

void onWindowChange(int) {
  int saved_errno = errno;
  int fd = g_winch_fd;
  if (fd >= 0) {
    char wake = 'w';
    [[maybe_unused]] ssize_t n = ::write(fd, &wake, 1);
  }
  errno = saved_errno;
}

}  // namespace

std::optional<TerminalSize> terminalSize(int fd) {
  struct winsize ws = {};
  if (::ioctl(fd, TIOCGWINSZ, &ws) != 0 || ws.ws_row == 0 || ws.ws_col == 0) return std::nullopt;
  return TerminalSize{ws.ws_row, ws.ws_col};
}

Result<void> TerminalRawMode::enter(int fd) {
  if (active_) return Ok{};
  struct termios saved = {};
  if (::tcgetattr(fd, &saved) != 0) return ErrnoError() << "read the terminal's settings";
  struct termios raw = saved;
  ::cfmakeraw(&raw);
  g_saved_termios = saved;
  g_raw_fd = fd;  // from here a signal restores the saved settings
  if (::tcsetattr(fd, TCSANOW, &raw) != 0) {
    g_raw_fd = -1;
    return ErrnoError() << "put the terminal in raw mode";
  }
  active_ = true;
  return Ok{};
}

void TerminalRawMode::restore() {
  if (!active_) return;
  active_ = false;
  int fd = g_raw_fd;
  g_raw_fd = -1;
  // TCSADRAIN: what the remote program printed last reaches the screen in its own mode.
  if (fd >= 0) ::tcsetattr(fd, TCSADRAIN, &g_saved_termios);
}

void installTerminalSignalHandlers() {
  struct sigaction sa = {};
  sa.sa_handler = onTerminalSignal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: the blocked stream read must return EINTR
  for (int signo : {SIGINT, SIGTERM, SIGHUP}) ::sigaction(signo, &sa, nullptr);
  (void)::signal(SIGPIPE, SIG_IGN);
}

void notifyWindowChanges(int wake_fd) {
  g_winch_fd = wake_fd;
  struct sigaction sa = {};
  sa.sa_handler = wake_fd >= 0 ? onWindowChange : SIG_DFL;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;  // a window change is no reason to abandon a blocked read
  ::sigaction(SIGWINCH, &sa, nullptr);
}

}  // namespace declaw::ctl
