#include "init_test_support.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>

#include "runtime/init/host_facts.h"
#include "runtime/init_client.h"
#include "runtime/rootfs.h"
#include "runtime/seccomp_policy.h"

namespace declaw::init_test {

using namespace declaw::runtime;

namespace {

constexpr uint64_t kRootBytes = 256ull << 20;
constexpr size_t kMaxOutputBytes = 16 << 20;
constexpr int kHighFd = 64;

int msLeft(std::chrono::steady_clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  return left.count() > 0 ? static_cast<int>(left.count()) : 0;
}

}  // namespace

void requireRoot() {
  if (::geteuid() != 0) {
    FAIL(
        "init_test must run as root: it launches declaw-init in new user namespaces and "
        "writes uid/gid maps. Run it with sudo (ctest -L integration as root).");
  }
}

InitConfig defaultConfig() {
  static std::vector<uint8_t> bpf = [] {
    auto program = buildSeccompProgram(SeccompOptions{});
    if (!program) FAIL("buildSeccompProgram: " << program.error().describe());
    return *program;
  }();
  static int counter = 0;
  InitConfig c;
  c.sandbox_id = "sbx-inittest" + std::to_string(++counter);
  c.hostname = c.sandbox_id;
  c.template_name = "base";
  c.root_kind = RootKind::kHost;
  c.usr_mount = true;
  c.user_uid = 1000;
  c.user_gid = 1000;
  c.seccomp_bpf = bpf;
  return c;
}

int hostDeclawMounts() {
  std::ifstream in("/proc/self/mountinfo");
  std::string line;
  int count = 0;
  while (std::getline(in, line)) count += line.find("declaw") != std::string::npos ? 1 : 0;
  return count;
}

std::vector<pid_t> processesWithTestIds() {
  std::vector<pid_t> found;
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return found;
  while (dirent* ent = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(ent->d_name, &end, 10);
    if (*end != '\0' || pid <= 0) continue;
    std::ifstream status(std::string("/proc/") + ent->d_name + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("Uid:", 0) != 0) continue;
      uint64_t uid = std::strtoull(line.c_str() + 4, nullptr, 10);
      if (uid >= kTestIdBase && uid < kTestIdBase + uint64_t{kTestIdSlots} * 65536) {
        found.push_back(static_cast<pid_t>(pid));
      }
      break;
    }
  }
  ::closedir(proc);
  return found;
}

int RunResult::exitCode() const { return WIFEXITED(wait_status) ? WEXITSTATUS(wait_status) : -1; }

std::string readWhole(int fd) {
  ::lseek(fd, 0, SEEK_SET);
  auto data = readAll(fd, kMaxOutputBytes);
  REQUIRE(data.ok());
  return *data;
}

TestSandbox::TestSandbox(const InitConfig& config, const BeforeConfig& before_config,
                         RootfsBuild build, bool skeleton) {
  static uint32_t slot = 0;
  LaunchSpec spec;
  spec.sandbox_id = config.sandbox_id;
  spec.ids = IdRange{kTestIdBase + (slot++ % kTestIdSlots) * 65536, 65536};
  auto exe = openInitExecutable(DECLAW_INIT_PATH);
  if (!exe) FAIL("cannot open " << DECLAW_INIT_PATH << ": " << exe.error().describe());
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  REQUIRE(devnull.valid());
  // launchInit's child dup2()s the control socket onto fd 3 before execveat(init_exe_fd): an
  // exe fd (or /dev/null fd) that happens to be 0-3 would be clobbered. Keep ours out of the way.
  exe = UniqueFd(::fcntl(exe->get(), F_DUPFD_CLOEXEC, kHighFd));
  devnull = UniqueFd(::fcntl(devnull.get(), F_DUPFD_CLOEXEC, kHighFd));
  REQUIRE((exe->valid() && devnull.valid()));
  spec.init_exe_fd = exe->get();
  spec.devnull_fd = devnull.get();
  auto launched = launchInit(spec);
  if (!launched) FAIL("launchInit: " << launched.error().describe());
  init_ = std::move(*launched);
  if (before_config) {
    try {
      before_config(init_);
    } catch (...) {  // a failed REQUIRE: no destructor will run, so init is reaped here
      closeControlAndWait();
      throw;
    }
  }
  // The root as declawd builds it: an overlay over an empty lower and /usr over the host's,
  // both on a disk tmpfs, made in this process's own mount namespace.
  static const bool kInPrivateMounts = [] {
    auto r = enterPrivateMountNamespace();
    if (!r) FAIL("enterPrivateMountNamespace: " << r.error().describe());
    return true;
  }();
  (void)kInPrivateMounts;
  // The attach points' parent, removed when the test program ends (each build removes its own
  // attach points, so it is empty by then).
  struct WorkDir {
    std::string path;
    WorkDir() {
      char pattern[] = "/tmp/declaw-init-test-mnt.XXXXXX";
      if (::mkdtemp(pattern) != nullptr) path = pattern;
    }
    ~WorkDir() {
      if (!path.empty()) ::rmdir(path.c_str());
    }
  };
  static const WorkDir kWorkDir;
  REQUIRE_FALSE(kWorkDir.path.empty());
  const std::string& work_dir = kWorkDir.path;
  RootfsSpec rootfs;
  rootfs.sandbox_id = config.sandbox_id;
  rootfs.disk_bytes = kRootBytes;
  rootfs.host_usr = config.usr_mount;
  rootfs.userns_fd = init_.userns.get();
  rootfs.id_base = spec.ids.host_base;
  rootfs.build = build;
  std::optional<PreparedDisk> prepared;
  if (skeleton) {
    auto disk = prepareDisk(kRootBytes, spec.ids.host_base);
    if (!disk) {
      closeControlAndWait();
      FAIL("prepareDisk: " << disk.error().describe());
    }
    UniqueFd upper(::openat(disk->dir.get(), kDiskUpper, O_PATH | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(upper.valid());
    SkeletonRequest request{config.user_uid, config.user_gid,
                            config.host ? *config.host : init::probeHost()};
    auto written = InitClient::writeSkeleton(init_.control.get(), request, upper.get(), kTimeout);
    if (!written) {
      closeControlAndWait();
      FAIL("writeSkeleton: " << written.error().describe());
    }
    prepared = std::move(*disk);
    rootfs.prepared = &*prepared;
  }
  auto built = buildRootfs(rootfs, work_dir);
  if (!built) {
    closeControlAndWait();
    FAIL("buildRootfs: " << built.error().describe());
  }
  std::vector<int> fds = {built->root.get()};
  if (built->usr) fds.push_back(built->usr.get());
  InitConfig sent_config = config;
  sent_config.skeleton = skeleton;
  auto sent = sendPacket(init_.control.get(), encode(sent_config), fds);
  REQUIRE(sent.ok());
}

TestSandbox::~TestSandbox() {
  if (!waited_) closeControlAndWait();
}

int TestSandbox::closeControlAndWait() {
  waited_ = true;
  init_.control.reset();
  pollfd p{init_.pidfd.get(), POLLIN, 0};
  if (::poll(&p, 1, static_cast<int>(std::chrono::milliseconds(kTimeout).count())) != 1) {
    ::syscall(SYS_pidfd_send_signal, init_.pidfd.get(), SIGKILL, nullptr, 0);
  }
  int status = -1;
  ::waitpid(init_.pid, &status, 0);
  return status;
}

Packet TestSandbox::receive() {
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  for (;;) {
    pollfd p{init_.control.get(), POLLIN, 0};
    int n = ::poll(&p, 1, msLeft(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n == 0) FAIL("no message from declaw-init within the timeout");
    auto packet = recvPacket(init_.control.get(), kMaxPacketBytes);
    if (!packet) {
      // Say how init ended, if it did: its exit code tells which setup stage had no socket.
      siginfo_t info{};
      ::waitid(P_PID, static_cast<id_t>(init_.pid), &info, WEXITED | WNOHANG | WNOWAIT);
      FAIL("control socket: " << packet.error().describe() << " (init code " << info.si_code
                              << ", status " << info.si_status << ")");
    }
    return std::move(*packet);
  }
}

bool TestSandbox::ready() {
  if (!first_) first_ = receive();
  if (peekType(first_->data) == MsgType::kSetupFailed) {
    SetupFailed f;
    REQUIRE(decode(first_->data, f));
    UNSCOPED_INFO("SetupFailed: " << f.message << " (errno " << f.error << ")");
    return false;
  }
  return peekType(first_->data) == MsgType::kReady;
}

std::optional<SetupFailed> TestSandbox::setupFailure() {
  if (!first_) first_ = receive();
  SetupFailed f;
  if (!decode(first_->data, f)) return std::nullopt;
  return f;
}

ReplyWithFds TestSandbox::awaitReply(uint64_t id) {
  for (;;) {
    if (auto it = replies_.find(id); it != replies_.end()) {
      ReplyWithFds r = std::move(it->second);
      replies_.erase(it);
      return r;
    }
    Packet packet = receive();
    switch (peekType(packet.data)) {
      case MsgType::kReply: {
        ReplyWithFds r;
        REQUIRE(decode(packet.data, r.reply));
        r.fds = std::move(packet.fds);
        replies_[r.reply.request_id] = std::move(r);
        break;
      }
      case MsgType::kExited: {
        Exited e;
        REQUIRE(decode(packet.data, e));
        exits_[e.pid] = e.wait_status;
        break;
      }
      default:
        FAIL("unexpected message type " << static_cast<int>(peekType(packet.data)));
    }
  }
}

Reply TestSandbox::spawn(SpawnRequest request) {
  // The caller's fds are attached by run(); a bare spawn gets /dev/null for all three.
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  request.request_id = next_id_++;
  int fds[3] = {devnull.get(), devnull.get(), devnull.get()};
  REQUIRE(sendPacket(init_.control.get(), encode(request), fds).ok());
  return awaitReply(request.request_id).reply;
}

int TestSandbox::waitExited(int32_t pid) {
  while (exits_.count(pid) == 0) {
    Packet packet = receive();
    if (peekType(packet.data) == MsgType::kExited) {
      Exited e;
      REQUIRE(decode(packet.data, e));
      exits_[e.pid] = e.wait_status;
    } else {
      ReplyWithFds r;
      REQUIRE(decode(packet.data, r.reply));
      r.fds = std::move(packet.fds);
      replies_[r.reply.request_id] = std::move(r);
    }
  }
  int status = exits_[pid];
  exits_.erase(pid);
  return status;
}

RunResult TestSandbox::run(const std::string& script, uint32_t uid, bool keep_caps) {
  auto in = makePipe();
  auto out = makePipe();
  auto err = makePipe();
  REQUIRE((in.ok() && out.ok() && err.ok()));
  SpawnRequest r;
  r.request_id = next_id_++;
  r.argv = {"/bin/bash", "-l", "-c", script};
  const std::string home = uid == 0 ? "/root" : "/home/user";
  r.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=" + home,
           "LANG=C"};
  r.cwd = home;
  r.uid = uid;
  r.gid = uid;
  r.keep_caps = keep_caps;
  int fds[3] = {in->read.get(), out->write.get(), err->write.get()};
  REQUIRE(sendPacket(init_.control.get(), encode(r), fds).ok());
  in->read.reset();
  in->write.reset();  // stdin: EOF
  out->write.reset();
  err->write.reset();
  ReplyWithFds reply = awaitReply(r.request_id);
  INFO("spawn reply: " << reply.reply.message);
  REQUIRE(reply.reply.error == 0);
  RunResult result;
  pollfd p[2] = {{out->read.get(), POLLIN, 0}, {err->read.get(), POLLIN, 0}};
  std::string* sinks[2] = {&result.out, &result.err};
  auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (p[0].fd >= 0 || p[1].fd >= 0) {
    int n = ::poll(p, 2, msLeft(deadline));
    if (n == 0) FAIL("command output did not end within the timeout: " << script);
    for (int i = 0; i < 2; ++i) {
      if (p[i].fd < 0 || p[i].revents == 0) continue;
      char buf[4096];
      ssize_t got = ::read(p[i].fd, buf, sizeof buf);
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else {
        p[i].fd = -1;
      }
    }
  }
  result.wait_status = waitExited(static_cast<int32_t>(reply.reply.value));
  return result;
}

ReplyWithFds TestSandbox::fileOp(FileOpRequest request) {
  request.request_id = next_id_++;
  REQUIRE(sendPacket(init_.control.get(), encode(request)).ok());
  return awaitReply(request.request_id);
}

Reply TestSandbox::signal(int32_t pid, int signal, bool group) {
  SignalRequest r;
  r.request_id = next_id_++;
  r.pid = pid;
  r.signal = signal;
  r.group = group;
  REQUIRE(sendPacket(init_.control.get(), encode(r)).ok());
  return awaitReply(r.request_id).reply;
}

void TestSandbox::sendRaw(const std::string& data) {
  REQUIRE(sendPacket(init_.control.get(), data).ok());
}

}  // namespace declaw::init_test
