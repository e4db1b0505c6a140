// declaw-init's life: setup refusals, processes (spawn, signals, exits, orphans), malformed
// input, and the end: when the daemon's end of the control socket closes, the whole sandbox dies
// and nothing is left on the host.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>

#include "common/io.h"
#include "init_test_support.h"

using namespace declaw;
using namespace declaw::runtime;
using namespace declaw::init_test;

namespace {

const int kDeclawMountsAtStart = hostDeclawMounts();

SpawnRequest command(std::vector<std::string> argv, uint32_t uid = 1000) {
  SpawnRequest r;
  r.argv = std::move(argv);
  r.env = {"PATH=/usr/bin:/bin"};
  r.cwd = "/";
  r.uid = uid;
  r.gid = uid;
  return r;
}

// Init ends by itself within the timeout (without the control socket being closed).
bool initExitsBySelf(TestSandbox& sbx) {
  pollfd p{sbx.pidfd(), POLLIN, 0};
  return ::poll(&p, 1, 10000) == 1;
}

}  // namespace

TEST_CASE("setup refuses a config without a seccomp filter") {
  requireRoot();
  InitConfig config = defaultConfig();
  config.seccomp_bpf.clear();
  TestSandbox sbx(config);
  auto failure = sbx.setupFailure();
  REQUIRE(failure.has_value());
  CHECK(failure->error == EINVAL);
  CHECK_THAT(failure->message, Catch::Contains("seccomp"));
  CHECK(initExitsBySelf(sbx));
}

TEST_CASE("setup refuses unknown templates and unsafe hostnames") {
  requireRoot();
  InitConfig unknown = defaultConfig();
  unknown.template_name = "windows";
  TestSandbox a(unknown);
  auto fa = a.setupFailure();
  REQUIRE(fa.has_value());
  CHECK(fa->error == EINVAL);
  InitConfig bad_host = defaultConfig();
  bad_host.hostname = "evil\n1.2.3.4 bank.example";
  TestSandbox b(bad_host);
  auto fb = b.setupFailure();
  REQUIRE(fb.has_value());
  CHECK(fb->error == EINVAL);
}

TEST_CASE("the python template starts where /usr/bin/python3 exists") {
  requireRoot();
  InitConfig config = defaultConfig();
  config.template_name = "python";
  TestSandbox sbx(config);
  if (::access("/usr/bin/python3", X_OK) == 0) {
    REQUIRE(sbx.ready());
    CHECK(sbx.run("python3 -c 'print(6*7)'").out == "42\n");
  } else {
    auto failure = sbx.setupFailure();
    REQUIRE(failure.has_value());
    CHECK(failure->error == ENOENT);
  }
}

TEST_CASE("exit codes and signals come back as wait statuses") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  CHECK(sbx.run("exit 7").exitCode() == 7);
  auto killed = sbx.run("kill -TERM $$");
  CHECK(WIFSIGNALED(killed.wait_status));
  CHECK(WTERMSIG(killed.wait_status) == SIGTERM);
}

TEST_CASE("spawn failures are answered with the errno of the failing stage") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto missing = sbx.spawn(command({"/usr/bin/no-such-binary"}));
  CHECK(missing.error == ENOENT);
  CHECK_THAT(missing.message, Catch::Contains("execve"));
  SpawnRequest bad_cwd = command({"/bin/true"});
  bad_cwd.cwd = "/no/such/dir";
  auto cwd = sbx.spawn(bad_cwd);
  CHECK(cwd.error == EINVAL);  // a bad cwd is bad input, not "no such sandbox"
  CHECK_THAT(cwd.message, Catch::Contains("cwd /no/such/dir: No such file or directory"));
  CHECK(sbx.spawn(command({"relative"})).error == EINVAL);
  CHECK(sbx.spawn(command({"/bin/true"}, 70000)).error == EINVAL);
  // Still serving, and the failed children were reaped without an Exited report.
  CHECK(sbx.run("echo alive").out == "alive\n");
}

TEST_CASE("a signal reaches the spawned process group, and never init") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto reply = sbx.spawn(command({"/bin/bash", "-c", "sleep 100 & sleep 100; wait"}));
  REQUIRE(reply.error == 0);
  auto pid = static_cast<int32_t>(reply.value);
  CHECK(sbx.signal(pid, SIGTERM).error == 0);
  int status = sbx.waitExited(pid);
  CHECK(WIFSIGNALED(status));
  CHECK(WTERMSIG(status) == SIGTERM);
  CHECK(sbx.signal(1, SIGKILL).error == EINVAL);
  CHECK(sbx.signal(0, SIGKILL).error == EINVAL);
  CHECK(sbx.signal(-1, SIGKILL).error == EINVAL);
  // The whole group got SIGTERM, the background sleep too: soon nobody is left to signal.
  int probe = 0;
  for (int i = 0; i < 200 && (probe = sbx.signal(pid, 0).error) == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  CHECK(probe == ESRCH);
  CHECK(sbx.run("echo alive").out == "alive\n");
}

TEST_CASE("orphans are reaped by init and leave no zombies") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  REQUIRE(sbx.run("(sleep 0.2 >/dev/null 2>&1 &); exit 0").exitCode() == 0);
  // The orphan's parent is init now. Once it has exited (the sleep is gone), nothing may be
  // left as a zombie; a moment of grace covers an exit that is just being reaped.
  auto zombies = sbx.run(
      "for i in $(seq 200); do "
      "  z=$(cat /proc/[0-9]*/stat 2>/dev/null | awk '$3 == \"Z\"' | wc -l); "
      "  s=$(cat /proc/[0-9]*/comm 2>/dev/null | grep -c '^sleep$'); "
      "  [ $z = 0 ] && [ $s = 0 ] && break; sleep 0.05; done; echo $z $s");
  CHECK(zombies.out == "0 0\n");
}

TEST_CASE("malformed messages are ignored and init keeps serving") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  sbx.sendRaw("");
  sbx.sendRaw(std::string("\x63garbage"));
  sbx.sendRaw(std::string(1, static_cast<char>(MsgType::kSpawn)) + "\x01\x02");
  sbx.sendRaw(std::string(1, static_cast<char>(MsgType::kFileOp)) + std::string(40, '\xff'));
  sbx.sendRaw(encode(InitConfig{}));  // a second config is not a request
  sbx.sendRaw(encodeReady());         // nor is a message init itself sends
  CHECK(sbx.run("echo alive").out == "alive\n");
}

TEST_CASE("once Ready, init holds no host fd and its root is the sandbox's") {
  requireRoot();
  InitConfig config = defaultConfig();
  TestSandbox sbx(config);
  REQUIRE(sbx.ready());
  const std::string proc = "/proc/" + std::to_string(sbx.initPid());
  std::vector<std::string> targets;
  for (int fd = 0; fd < 64; ++fd) {
    char buf[256];
    ssize_t n = ::readlink((proc + "/fd/" + std::to_string(fd)).c_str(), buf, sizeof buf);
    if (n > 0) targets.emplace_back(buf, static_cast<size_t>(n));
  }
  REQUIRE(targets.size() == 5);
  CHECK(targets[0] == "/dev/null");
  CHECK(targets[1] == "/dev/null");
  CHECK(targets[2] == "/dev/null");
  CHECK_THAT(targets[3], Catch::StartsWith("socket:"));
  CHECK(targets[4] == "anon_inode:[signalfd]");
  auto hostname = readFile(proc + "/root/etc/hostname", 4096);
  REQUIRE(hostname.ok());
  CHECK(*hostname == config.hostname + "\n");
  auto via_cwd = readFile(proc + "/cwd/etc/hostname", 4096);
  REQUIRE(via_cwd.ok());
  CHECK(*via_cwd == config.hostname + "\n");
}

TEST_CASE("closing the control socket kills the whole sandbox") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  REQUIRE(sbx.spawn(command({"/bin/sleep", "1000"})).error == 0);
  REQUIRE(sbx.spawn(command({"/bin/sleep", "1000"}, 0)).error == 0);
  // An orphan in its own session, which no process group kill would reach.
  REQUIRE(sbx.run("setsid sleep 1000 >/dev/null 2>&1 < /dev/null & exit 0").exitCode() == 0);
  CHECK(processesWithTestIds().size() >= 4);
  int status = sbx.closeControlAndWait();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(processesWithTestIds().empty());
}

TEST_CASE("after the sandboxes, nothing of them is left on the host") {
  requireRoot();
  {
    TestSandbox sbx;
    REQUIRE(sbx.ready());
    REQUIRE(sbx.run("sleep 1000 >/dev/null 2>&1 & exit 0").exitCode() == 0);
  }
  CHECK(hostDeclawMounts() == kDeclawMountsAtStart);
  CHECK(processesWithTestIds().empty());
}
