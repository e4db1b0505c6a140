#include "netpolicy/kernel/netns.h"

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <string>

namespace declaw::netpolicy {

namespace {

struct ThreadJob {
  int netns = -1;  // -1: unshare a new namespace instead of joining one
  const std::function<Result<void>()>* fn = nullptr;
  std::optional<Result<void>> result;
};

void* threadMain(void* arg) {
  auto* job = static_cast<ThreadJob*>(arg);
  int rc = job->netns >= 0 ? ::setns(job->netns, CLONE_NEWNET) : ::unshare(CLONE_NEWNET);
  if (rc != 0) {
    job->result.emplace(ErrnoError()
                        << (job->netns >= 0 ? "setns(CLONE_NEWNET)" : "unshare(CLONE_NEWNET)"));
    return nullptr;
  }
  job->result.emplace((*job->fn)());
  return nullptr;
}

// pthreads rather than std::thread: its creation failure is an errno, not an exception.
Result<void> runOnThread(ThreadJob& job) {
  pthread_t thread;
  if (int err = ::pthread_create(&thread, nullptr, threadMain, &job); err != 0) {
    return ErrnoError(err) << "pthread_create";
  }
  ::pthread_join(thread, nullptr);
  return std::move(*job.result);
}

}  // namespace

Result<UniqueFd> createNetns() {
  UniqueFd out;
  std::function<Result<void>()> keep = [&]() -> Result<void> {
    out = UniqueFd(::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC));
    if (!out) return ErrnoError() << "open /proc/thread-self/ns/net";
    return {};
  };
  ThreadJob job;
  job.fn = &keep;
  if (auto r = runOnThread(job); !r) return r.error();
  return out;
}

Result<UniqueFd> openNetnsOf(pid_t pid, int pidfd) {
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << path;
  if (pidfd >= 0 && ::syscall(SYS_pidfd_send_signal, pidfd, 0, nullptr, 0) != 0) {
    return ErrnoError() << "process " << pid << " ended while its netns was opened";
  }
  return fd;
}

Result<void> runInNetns(BorrowedFd netns, const std::function<Result<void>()>& fn) {
  if (netns.get() < 0) return ErrnoError(EBADF) << "runInNetns: no namespace fd";
  ThreadJob job;
  job.netns = netns.get();
  job.fn = &fn;
  return runOnThread(job);
}

}  // namespace declaw::netpolicy
