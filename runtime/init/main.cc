// declaw-init: PID 1 of every sandbox. The daemon's launcher (runtime/launcher.h) started it as
// root of fresh user, mount, pid, net, uts, ipc and cgroup namespaces, still seeing the host's
// mounts, with /dev/null on 0-2 and the control socket on fd 3.
//
//   1. read the InitConfig (the first message on fd 3)
//   2. the sandbox end of its veth, when the config has a network (net_if.h)
//   3. attach the root the daemon built (its overlay mounts come with the config), add /dev,
//      /proc and the rest (plan, then apply), and pivot_root into it
//   4. hostname, loopback up
//   5. non-dumpable, no_new_privs, the daemon's seccomp filter
//   6. Ready, then serve requests (server.h) until the daemon goes away
// Or, told so instead of 1., the zygote (zygote.h), which forks inits that start at 1.
// Any setup failure is reported as SetupFailed{errno, what} and ends init.
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <optional>
#include <utility>

#include "common/io.h"
#include "runtime/init/caps.h"
#include "runtime/init/hardening.h"
#include "runtime/init/host_facts.h"
#include "runtime/init/mount_plan.h"
#include "runtime/init/mounts.h"
#include "runtime/init/net_if.h"
#include "runtime/init/net_lo.h"
#include "runtime/init/server.h"
#include "runtime/init/spawn.h"
#include "runtime/init/zygote.h"
#include "runtime/protocol.h"

namespace declaw::runtime::init {
namespace {

// Exit codes when nothing can be reported to the daemon.
constexpr int kExitNoControlSocket = 2;
constexpr int kExitDaemonGone = 3;
constexpr int kExitSetupFailed = 4;
// The umask of the commands init starts (and of nothing during setup, which sets modes exactly).
constexpr mode_t kCommandUmask = 022;

bool controlFdIsSeqpacket() {
  struct stat st {};
  if (::fstat(kControlFd, &st) != 0 || !S_ISSOCK(st.st_mode)) return false;
  int type = 0;
  socklen_t len = sizeof type;
  return ::getsockopt(kControlFd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_SEQPACKET;
}

// 0-2 were the host's /dev/null; from now on they are the sandbox's.
Result<void> reopenStdio() {
  UniqueFd null(::open("/dev/null", O_RDWR | O_CLOEXEC));
  if (!null) return ErrnoError() << "open /dev/null";
  for (int fd = 0; fd <= 2; ++fd) {
    if (::dup2(null.get(), fd) < 0) return ErrnoError() << "dup2 /dev/null";
  }
  return {};
}

Result<void> buildRoot(const InitConfig& config, std::span<const UniqueFd> root_fds) {
  auto plan = planRootfs(config, config.host ? *config.host : probeHost());
  if (!plan) return plan.error();
  if (auto r = makeMountsPrivate(); !r) return r;
  if (auto r = applyRootfsPlan(*plan, kStagingDir, root_fds); !r) return r;
  if (auto r = pivotInto(kStagingDir); !r) return r;
  const std::string needed =
      config.root_kind == RootKind::kHost ? templateRequirement(config.template_name) : "";
  if (!needed.empty() && ::access(needed.c_str(), X_OK) != 0) {
    return ErrnoError() << "template " << config.template_name << " needs " << needed;
  }
  return reopenStdio();
}

// The part of setup that needs nothing of the config, and changes nothing an init launched ahead
// shares with the host while it waits. An init the zygote forked does it before
// it waits for its config, so it overlaps the daemon's root build (or, launched ahead, happens
// before a create takes it); an exec'd init does it with the rest (it may become the zygote,
// which must keep the host's namespaces as they are).
bool g_prepared = false;
Result<void> prepare() {
  if (g_prepared) return {};
  // The daemon moved us into the sandbox's cgroup after clone() made our cgroup namespace (it
  // does so before we run), so that namespace's root is still the daemon's cgroup and
  // /proc/self/cgroup would show the path to ours. A new one is rooted here
  // (cgroup_namespaces(7)): the sandbox sees only "/".
  if (::unshare(CLONE_NEWCGROUP) != 0) return ErrnoError() << "unshare cgroup namespace";
  // (Mounts stay slaves of the host's until the root is built: an init launched ahead may wait
  // for hours, and must neither miss the host's unmounts, keeping their filesystems busy, nor
  // copy /etc from a view older than the daemon's host facts.)
  // The namespace's own lo (eth0's IPv6 sysctls, set later, name eth0 and "default" only).
  if (auto r = bringUpLoopback(); !r) return r;
  // No process of the sandbox will ever hold more than Docker's set (caps.h): init's bounding
  // set says so too, and what each command's start drops gets shorter. (The bounding set limits
  // what an exec or capset may gain; init's own capabilities, which setup uses, stay.)
  if (CredsFailure f = limitBoundingSet(dockerDefaultCapMask())) {
    return ErrnoError(f.error) << f.what;
  }
  g_prepared = true;
  return {};
}

// The ids of the skeleton this init wrote into its upper dir (kSkeleton), if it wrote one.
std::optional<std::pair<uint32_t, uint32_t>> g_skeleton_ids;

// kSkeleton: a built-in's skeleton into the upper dir that came with it (launched ahead, so
// before a create takes this init; the config then says skeleton).
Result<void> writeSkeleton(const SkeletonRequest& request, int upper) {
  if (g_skeleton_ids) return ErrnoError(EALREADY) << "a skeleton was written already";
  InitConfig config;
  config.root_kind = RootKind::kHost;
  config.user_uid = request.user_uid;
  config.user_gid = request.user_gid;
  auto steps = planSkeleton(config, request.host);
  if (!steps) return steps.error();
  if (auto r = applyRootfsPlan(*steps, "/proc/self/fd/" + std::to_string(upper), {}); !r) {
    return r;
  }
  g_skeleton_ids = std::make_pair(request.user_uid, request.user_gid);
  return {};
}

Result<void> setUp(const InitConfig& config, std::span<const UniqueFd> root_fds) {
  if (auto r = validateConfig(config, root_fds.size()); !r) return r;
  if (config.skeleton && g_skeleton_ids != std::make_pair(config.user_uid, config.user_gid)) {
    return ErrnoError(EINVAL) << "the config counts on a skeleton this init did not write";
  }
  if (auto r = prepare(); !r) return r;
  // Before the root is built: its /proc has /proc/sys read-only, and the IPv6 stance is a sysctl.
  if (config.network) {
    if (auto r = configureNetwork(*config.network); !r) return r;
  }
  ::umask(0);
  if (auto r = buildRoot(config, root_fds); !r) return r;
  if (::sethostname(config.hostname.data(), config.hostname.size()) != 0) {
    return ErrnoError() << "sethostname";
  }
  // No host fd survives setup: whatever the build opened is closed, so nothing but 0-3 can
  // lead back to the host's tree (the root and cwd are the sandbox's since pivot_root).
  if (::close_range(kControlFd + 1, ~0U, 0) != 0) return ErrnoError() << "close_range";
  ::umask(kCommandUmask);
  if (auto r = setNotDumpable(); !r) return r;
  return installSeccomp(config.seccomp_bpf);
}

void reportSetupFailure(const Error& error) {
  SetupFailed failed{error.code != 0 ? error.code : EIO, error.message};
  (void)sendPacket(kControlFd, encode(failed));
}

// `may_become_zygote`: declawd may send kZygote instead of a config, once, to the first process
// it starts (zygote.h); an init the zygote forked takes only a config.
int initMain(bool may_become_zygote) {
  // Kernels before 6.x name a process exec'd with execveat(fd, "", AT_EMPTY_PATH) after the fd
  // number; host tools and leak checks look for "declaw-init".
  ::prctl(PR_SET_NAME, "declaw-init", 0, 0, 0);
  if (!controlFdIsSeqpacket()) return kExitNoControlSocket;
  // init never writes to a closed pipe (sendmsg uses MSG_NOSIGNAL); this makes sure of it.
  // Spawned commands get default dispositions back (spawn.cc): ignore nothing else here
  // without adding it to kSignalsInitIgnores.
  for (int sig : kSignalsInitIgnores) (void)::signal(sig, SIG_IGN);
  // Failing here is reported once the config is in (setUp runs prepare() again).
  if (!may_become_zygote) (void)prepare();
  auto packet = recvPacket(kControlFd, kMaxPacketBytes);
  if (!packet) return kExitDaemonGone;
  // An init launched ahead writes the built-ins' skeleton first (exec'd or forked alike).
  if (peekType(packet->data) == MsgType::kSkeleton) {
    SkeletonRequest request;
    Result<void> written = ErrnoError(EINVAL) << "malformed skeleton request";
    if (decode(packet->data, request) && packet->fds.size() == 1) {
      written = writeSkeleton(request, packet->fds[0].get());
    }
    packet->fds.clear();
    Reply reply;
    if (!written) {
      reply.error = written.error().code != 0 ? written.error().code : EIO;
      reply.message = written.error().message;
    }
    if (auto r = sendPacket(kControlFd, encode(reply)); !r) return kExitDaemonGone;
    may_become_zygote = false;  // it is an init now, whatever comes next
    packet = recvPacket(kControlFd, kMaxPacketBytes);
    if (!packet) return kExitDaemonGone;
  }
  if (may_become_zygote && decodeZygote(packet->data) && packet->fds.empty()) {
    return runZygote([] { return initMain(false); });
  }
  InitConfig config;
  if (!decode(packet->data, config)) {
    reportSetupFailure(ErrnoError(EINVAL) << "malformed InitConfig");
    return kExitSetupFailed;
  }
  // The config carries the root's mounts (runtime/rootfs.h); setUp closes them with the rest.
  if (auto r = setUp(config, packet->fds); !r) {
    reportSetupFailure(r.error());
    return kExitSetupFailed;
  }
  // setUp's close_range closed them: forget the numbers, which the signalfd may reuse.
  for (UniqueFd& fd : packet->fds) (void)fd.release();
  // After setUp's close_range: the signalfd is the one fd init adds. Setup started no child,
  // so no SIGCHLD can have been missed.
  auto server = Server::create();
  if (!server) {
    reportSetupFailure(server.error());
    return kExitSetupFailed;
  }
  if (auto r = sendPacket(kControlFd, encodeReady()); !r) return kExitDaemonGone;
  return server->run();
}

}  // namespace
}  // namespace declaw::runtime::init

int main() { return declaw::runtime::init::initMain(/*may_become_zygote=*/true); }
