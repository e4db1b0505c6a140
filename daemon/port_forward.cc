#include "daemon/port_forward.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <system_error>

#include "netpolicy/kernel/netns.h"

namespace declaw::daemon {

namespace {

constexpr int kBacklog = 64;
constexpr size_t kCopyBytes = 32 * 1024;
// Relays of every forward of the daemon together (each is two threads): a bound on what local
// users can make the root daemon hold, whatever their sandboxes and forwards.
std::atomic<size_t> relays_in_all{0};
// Listeners of a forward, each with a quota of its own: anyone on the host may connect to a
// TCP listener, and must not use up the owner's unix socket's.
constexpr size_t kUnixSlot = 0;
constexpr size_t kTcpSlot = 1;
// How long a connect into the sandbox may take: on loopback it is immediate, unless the
// listener's backlog is full (a paused sandbox).
constexpr int kConnectTimeoutS = 10;

Result<uint16_t> parsePort(const std::string& text) {
  if (text.empty() || text.size() > 5 ||
      text.find_first_not_of("0123456789") != std::string::npos) {
    return ErrnoError(EINVAL) << "port '" << text << "' must be 0..65535";
  }
  const unsigned long value = std::stoul(text);
  if (value > 65535) return ErrnoError(EINVAL) << "port '" << text << "' must be 0..65535";
  return static_cast<uint16_t>(value);
}

bool sendAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// One direction of a connection: until `from` ends (or `to` fails), then `to` is half-closed.
void copyOneWay(int from, int to) {
  std::vector<char> buffer(kCopyBytes);
  for (;;) {
    const ssize_t n = ::read(from, buffer.data(), buffer.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || !sendAll(to, buffer.data(), static_cast<size_t>(n))) break;
  }
  ::shutdown(to, SHUT_WR);
}

Result<std::string> boundAddress(int fd) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    return ErrnoError() << "getsockname";
  }
  std::array<char, INET6_ADDRSTRLEN> host{};
  if (addr.ss_family == AF_INET) {
    const auto* in = reinterpret_cast<const sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &in->sin_addr, host.data(), host.size());
    return std::string(host.data()) + ":" + std::to_string(ntohs(in->sin_port));
  }
  const auto* in6 = reinterpret_cast<const sockaddr_in6*>(&addr);
  ::inet_ntop(AF_INET6, &in6->sin6_addr, host.data(), host.size());
  return "[" + std::string(host.data()) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

}  // namespace

Result<ListenAddress> parseListenAddress(const std::string& text) {
  std::string host;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const size_t close = text.find("]:");
    if (close == std::string::npos) {
      return ErrnoError(EINVAL) << "listen address '" << text << "' must be [::1]:PORT";
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    const size_t colon = text.rfind(':');
    if (colon == std::string::npos) {
      return ErrnoError(EINVAL) << "listen address '" << text << "' must be HOST:PORT";
    }
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
    if (host.find(':') != std::string::npos) {
      return ErrnoError(EINVAL) << "listen address '" << text
                                << "': an IPv6 address goes in brackets, [::1]:PORT";
    }
  }
  auto number = parsePort(port);
  if (!number) return number.error();
  ListenAddress out;
  out.port = *number;
  if (host == "localhost") host = "127.0.0.1";
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1 && (ntohl(v4.s_addr) >> 24) == 127) {
    out.family = AF_INET;
  } else if (::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6)) {
    out.family = AF_INET6;
  } else {
    return ErrnoError(EINVAL) << "listen address '" << text
                              << "' is not on the host's loopback (127.0.0.0/8 or ::1): a "
                                 "forward never listens beyond it";
  }
  out.host = host;
  return out;
}

struct PortForward::Shared : std::enable_shared_from_this<PortForward::Shared> {
  UniqueFd netns;
  UniqueFd stop;  // an eventfd, readable once the forward ends
  uint16_t port = 0;
  std::mutex mutex;
  std::condition_variable idle;
  bool stopping = false;
  size_t active = 0;                         // relays running
  std::array<size_t, 2> active_by_slot{};    // by listener (kUnixSlot, kTcpSlot)
  std::vector<std::pair<int, int>> sockets;  // of the running relays: shut down at the end

  // A socket connected to 127.0.0.1:port in the sandbox, made on a thread in its namespace.
  Result<UniqueFd> connectInside() const {
    return netpolicy::inNetns<UniqueFd>(netns, [this]() -> Result<UniqueFd> {
      UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
      if (!fd) return ErrnoError() << "socket";
      const timeval timeout{kConnectTimeoutS, 0};
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
      sockaddr_in addr{};
      addr.sin_family = AF_INET;
      addr.sin_port = htons(port);
      addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
        return ErrnoError() << "connect to 127.0.0.1:" << port << " in the sandbox";
      }
      // The timeout was for the connect: a slow reader inside must not cut the stream.
      const timeval none{0, 0};
      ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
      return fd;
    });
  }

  void relay(UniqueFd client, size_t slot) {
    auto upstream = connectInside();
    {
      std::lock_guard lock(mutex);
      if (upstream && !stopping) sockets.emplace_back(client.get(), upstream->get());
    }
    if (upstream && !stopped()) {
      const int inside = upstream->get();
      std::optional<std::thread> back;
      try {
        back.emplace([&] { copyOneWay(inside, client.get()); });
      } catch (const std::system_error&) {
        // Out of threads: this connection is refused, the daemon goes on.
      }
      if (back) {
        copyOneWay(client.get(), inside);
        back->join();
      }
    }
    finished(slot, client.get(), upstream ? upstream->get() : -1);
  }

  void finished(size_t slot, int client, int inside) {
    --relays_in_all;
    std::lock_guard lock(mutex);
    std::erase(sockets, std::pair<int, int>(client, inside));
    --active;
    --active_by_slot.at(slot);
    idle.notify_all();
  }

  bool stopped() {
    std::lock_guard lock(mutex);
    return stopping;
  }

  void acceptLoop(int listener, size_t slot) {
    for (;;) {
      std::array<pollfd, 2> fds{{{listener, POLLIN, 0}, {stop.get(), POLLIN, 0}}};
      if (::poll(fds.data(), fds.size(), -1) < 0) {
        if (errno == EINTR) continue;
        return;
      }
      if ((fds[1].revents & POLLIN) != 0) return;
      if ((fds[0].revents & POLLIN) == 0) continue;
      UniqueFd client(::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC));
      if (!client) continue;
      {
        std::lock_guard lock(mutex);
        if (stopping || active_by_slot.at(slot) >= kMaxConnections) continue;  // refused
        if (relays_in_all.fetch_add(1) >= kMaxConnectionsInAll) {
          --relays_in_all;
          continue;
        }
        ++active;
        ++active_by_slot.at(slot);
      }
      // Detached: it holds this state alive, and the forward's end waits for `active` to drop.
      const int fd = client.get();
      try {
        std::thread([self = shared_from_this(), slot, owned = std::move(client)]() mutable {
          self->relay(std::move(owned), slot);
        }).detach();
      } catch (const std::system_error&) {
        finished(slot, fd, -1);  // out of threads: refused (the lambda closed the client)
      }
    }
  }
};

PortForward::PortForward(std::shared_ptr<Shared> shared, uint16_t port, int dir_fd,
                         std::string socket_name, std::string socket_path)
    : shared_(std::move(shared)),
      port_(port),
      dir_fd_(dir_fd),
      socket_name_(std::move(socket_name)),
      socket_path_(std::move(socket_path)) {}

Result<std::unique_ptr<PortForward>> PortForward::start(UniqueFd netns, uint16_t port, int dir_fd,
                                                        const std::string& socket_name,
                                                        const std::string& socket_path, uid_t uid,
                                                        gid_t gid) {
  if (socket_path.size() >= sizeof(sockaddr_un::sun_path)) {
    return ErrnoError(ENAMETOOLONG) << "socket path " << socket_path << " is too long";
  }
  UniqueFd dir(::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0));
  if (!dir) return ErrnoError() << "dup";
  // Bound through the directory's fd, which the checks were made on, not its path again.
  const std::string bind_path = "/proc/self/fd/" + std::to_string(dir.get()) + "/" + socket_name;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  if (bind_path.size() >= sizeof addr.sun_path) {
    return ErrnoError(ENAMETOOLONG) << "socket path " << bind_path << " is too long";
  }
  std::memcpy(addr.sun_path, bind_path.c_str(), bind_path.size() + 1);
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return ErrnoError() << "socket";
  ::unlinkat(dir.get(), socket_name.c_str(), 0);  // a forward's leftover (its sandbox is gone)
  // The directory is root's: nobody can swap the name between bind and the chmod/chown, and
  // until then the socket is root's (umask 022: no one else may connect).
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) {
    return ErrnoError() << "bind " << socket_path;
  }
  if (::fchmodat(dir.get(), socket_name.c_str(), 0600, 0) != 0 ||
      ::fchownat(dir.get(), socket_name.c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) != 0 ||
      ::listen(listener.get(), kBacklog) != 0) {
    auto error = ErrnoError() << "set up " << socket_path;
    ::unlinkat(dir.get(), socket_name.c_str(), 0);
    return error;
  }
  auto shared = std::make_shared<Shared>();
  shared->netns = std::move(netns);
  shared->port = port;
  shared->stop = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!shared->stop) return ErrnoError() << "eventfd";
  std::unique_ptr<PortForward> forward(
      new PortForward(std::move(shared), port, dir.release(), socket_name, socket_path));
  try {
    forward->startAcceptor(std::move(listener), kUnixSlot);
  } catch (const std::system_error& e) {
    return ErrnoError(EAGAIN) << "start the forward's thread: " << e.what();
  }
  return forward;
}

void PortForward::startAcceptor(UniqueFd listener, size_t slot) {
  acceptors_.emplace_back(
      [shared = shared_, fd = std::move(listener), slot] { shared->acceptLoop(fd.get(), slot); });
}

Result<std::string> PortForward::listenTcp(const ListenAddress& address) {
  std::lock_guard lock(mutex_);
  if (tcp_address_) {
    if (address.port == 0 ||
        (tcp_asked_ && tcp_asked_->host == address.host && tcp_asked_->port == address.port)) {
      return *tcp_address_;
    }
    return ErrnoError(EEXIST) << "port " << port_ << " is already forwarded from " << *tcp_address_;
  }
  UniqueFd listener(::socket(address.family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener) return ErrnoError() << "socket";
  const int on = 1;
  ::setsockopt(listener.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
  sockaddr_storage storage{};
  socklen_t len = 0;
  if (address.family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(address.port);
    ::inet_pton(AF_INET, address.host.c_str(), &in->sin_addr);
    len = sizeof *in;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(address.port);
    ::inet_pton(AF_INET6, address.host.c_str(), &in6->sin6_addr);
    len = sizeof *in6;
  }
  if (::bind(listener.get(), reinterpret_cast<const sockaddr*>(&storage), len) != 0 ||
      ::listen(listener.get(), kBacklog) != 0) {
    return ErrnoError() << "listen on " << address.host << ":" << address.port;
  }
  auto bound = boundAddress(listener.get());
  if (!bound) return bound.error();
  try {
    startAcceptor(std::move(listener), kTcpSlot);
  } catch (const std::system_error& e) {
    return ErrnoError(EAGAIN) << "start the forward's thread: " << e.what();
  }
  tcp_address_ = *bound;
  tcp_asked_ = address;
  return *bound;
}

std::optional<std::string> PortForward::tcpAddress() const {
  std::lock_guard lock(mutex_);
  return tcp_address_;
}

PortForward::~PortForward() {
  {
    std::lock_guard lock(shared_->mutex);
    shared_->stopping = true;
    for (const auto& [client, inside] : shared_->sockets) {
      ::shutdown(client, SHUT_RDWR);
      ::shutdown(inside, SHUT_RDWR);
    }
  }
  const uint64_t one = 1;
  (void)!::write(shared_->stop.get(), &one, sizeof one);
  for (auto& acceptor : acceptors_) acceptor.join();
  {
    std::unique_lock lock(shared_->mutex);
    shared_->idle.wait(lock, [this] { return shared_->active == 0; });
  }
  ::unlinkat(dir_fd_.get(), socket_name_.c_str(), 0);
}

}  // namespace declaw::daemon

namespace declaw::daemon {

namespace {

constexpr mode_t kPortsDirMode = 0711;
constexpr uint32_t kDefaultUnprivilegedPortStart = 1024;

// The first port anyone may bind, as the kernel says for the daemon's network namespace.
uint32_t unprivilegedPortStart() {
  std::ifstream in("/proc/sys/net/ipv4/ip_unprivileged_port_start");
  uint32_t port = kDefaultUnprivilegedPortStart;
  if (!(in >> port)) return kDefaultUnprivilegedPortStart;
  return port;
}

// Removes what is in `dir` (a previous daemon's sockets, one level of directories), never
// following a symlink.
void emptyDirectory(int dir) {
  UniqueFd copy(::fcntl(dir, F_DUPFD_CLOEXEC, 0));
  if (!copy) return;
  DIR* stream = ::fdopendir(copy.get());
  if (stream == nullptr) return;
  copy.release();
  std::vector<std::string> names;
  while (dirent* ent = ::readdir(stream)) {
    const std::string name = ent->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  ::closedir(stream);
  for (const std::string& name : names) {
    if (::unlinkat(dir, name.c_str(), 0) == 0) continue;
    UniqueFd sub(::openat(dir, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) continue;
    DIR* inner = ::fdopendir(sub.get());
    if (inner == nullptr) continue;
    const int inner_fd = sub.release();
    std::vector<std::string> files;
    while (dirent* ent = ::readdir(inner)) {
      const std::string file = ent->d_name;
      if (file != "." && file != "..") files.push_back(file);
    }
    for (const std::string& file : files) ::unlinkat(inner_fd, file.c_str(), 0);
    ::closedir(inner);
    ::unlinkat(dir, name.c_str(), AT_REMOVEDIR);
  }
}

// mkdirat + open, refusing anything but a directory of root's (no symlink followed).
Result<UniqueFd> rootDirectory(int parent, const std::string& name, const std::string& path) {
  if (::mkdirat(parent, name.c_str(), kPortsDirMode) != 0 && errno != EEXIST) {
    return ErrnoError() << "mkdir " << path;
  }
  UniqueFd fd(::openat(parent, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << path;
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0 || st.st_uid != 0 || (st.st_mode & 022) != 0) {
    return ErrnoError(EPERM) << path << " is not a directory of root's that only root may change";
  }
  if ((st.st_mode & 07777) != kPortsDirMode) ::fchmod(fd.get(), kPortsDirMode);
  return fd;
}

}  // namespace

Result<PortsRoot> PortsRoot::open(const std::string& state_dir) {
  UniqueFd state(::open(state_dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (!state) return ErrnoError() << "open " << state_dir;
  PortsRoot root;
  root.path = state_dir + "/ports";
  auto fd = rootDirectory(state.get(), "ports", root.path);
  if (!fd) return fd.error();
  root.fd = std::move(*fd);
  emptyDirectory(root.fd.get());
  return root;
}

api::PortInfo PortTable::infoOf(const PortForward& forward) {
  api::PortInfo info;
  info.port = forward.port();
  info.unix_socket = forward.socketPath();
  info.host = forward.tcpAddress();
  return info;
}

Result<int> PortTable::directory() {
  if (dir_) return dir_.get();
  if (root_ == nullptr) return ErrnoError(ENOSYS) << "ports are not available on this daemon";
  auto fd = rootDirectory(root_->fd.get(), sandbox_id_, root_->path + "/" + sandbox_id_);
  if (!fd) return fd.error();
  dir_ = std::move(*fd);
  return dir_.get();
}

Result<api::PortInfo> PortTable::forward(uint16_t port, const std::optional<std::string>& listen,
                                         uid_t owner, gid_t group, bool privileged,
                                         const std::function<Result<UniqueFd>()>& open_netns) {
  std::optional<ListenAddress> address;
  if (listen) {
    auto parsed = parseListenAddress(*listen);
    if (!parsed) return parsed.error();
    const uint32_t first_unprivileged = unprivilegedPortStart();
    if (!privileged && parsed->port != 0 && parsed->port < first_unprivileged) {
      return ErrnoError(EACCES) << "listen port " << parsed->port << " is below "
                                << first_unprivileged
                                << " (net.ipv4.ip_unprivileged_port_start): only root may "
                                   "forward from it; ask for port 0 or a higher one";
    }
    address = *parsed;
  }
  std::lock_guard lock(mutex_);
  if (closed_) return ErrnoError(ESRCH) << "sandbox " << sandbox_id_ << " is not running";
  auto it = forwards_.find(port);
  if (it == forwards_.end()) {
    if (forwards_.size() >= kMaxForwards) {
      return ErrnoError(EDQUOT) << "sandbox " << sandbox_id_ << " forwards " << kMaxForwards
                                << " ports already";
    }
    auto dir = directory();
    if (!dir) return dir.error();
    auto netns = open_netns();
    if (!netns) return netns.error();
    const std::string name = std::to_string(port) + ".sock";
    auto made = PortForward::start(std::move(*netns), port, *dir, name,
                                   root_->path + "/" + sandbox_id_ + "/" + name, owner, group);
    if (!made) return made.error();
    it = forwards_.emplace(port, std::move(*made)).first;
  }
  if (address) {
    if (auto tcp = it->second->listenTcp(*address); !tcp) return tcp.error();
  }
  return infoOf(*it->second);
}

std::vector<api::PortInfo> PortTable::list() const {
  std::lock_guard lock(mutex_);
  std::vector<api::PortInfo> out;
  for (const auto& [port, forward] : forwards_) out.push_back(infoOf(*forward));
  return out;
}

Result<void> PortTable::close(uint16_t port) {
  std::unique_ptr<PortForward> gone;
  {
    std::lock_guard lock(mutex_);
    auto it = forwards_.find(port);
    if (it == forwards_.end()) {
      return ErrnoError(ENOENT) << "port " << port << " of sandbox " << sandbox_id_
                                << " is not forwarded";
    }
    gone = std::move(it->second);
    forwards_.erase(it);
  }
  return {};  // `gone` ends its connections as it goes
}

void PortTable::closeAll() {
  std::map<uint16_t, std::unique_ptr<PortForward>> gone;
  UniqueFd dir;
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
    gone.swap(forwards_);
    dir = std::move(dir_);
  }
  gone.clear();
  if (dir && root_ != nullptr) ::unlinkat(root_->fd.get(), sandbox_id_.c_str(), AT_REMOVEDIR);
}

}  // namespace declaw::daemon
