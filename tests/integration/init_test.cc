// declaw-init against the real kernel: the sandbox it builds, the processes it starts, and what
// sandbox code can and cannot reach. Runs as root (user namespaces with uid maps).
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fstream>
#include <set>
#include <sstream>

#include "init_test_support.h"
#include "runtime/init/caps.h"

using namespace declaw;
using namespace declaw::runtime;
using namespace declaw::init_test;

namespace {

// Taken before any sandbox exists; the last test compares.
const int kDeclawMountsBefore = hostDeclawMounts();

std::set<std::string> lines(const std::string& text) {
  std::set<std::string> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) out.insert(line);
  return out;
}

bool hostHas(const char* path) {
  struct stat st {};
  return ::lstat(path, &st) == 0;
}

std::string capLine(const std::string& status, const std::string& name) {
  std::istringstream in(status);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(name + ":", 0) == 0) return line.substr(name.size() + 1);
  }
  return "?";
}

std::string hex16(uint64_t v) {
  char buf[17];
  (void)std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return std::string("\t") + buf;
}

}  // namespace

TEST_CASE("a launched init holds none of the launcher's other fds while it waits for release") {
  requireRoot();
  // Two launches at once, or the daemon's state-dir lock: a copy of either in a child that
  // waits would outlive the daemon (launcher.cc, closeAllBut).
  UniqueFd extra(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  REQUIRE(extra.valid());
  std::set<std::string> held;
  auto exe = openInitExecutable(DECLAW_INIT_PATH);
  REQUIRE(exe.ok());
  LaunchSpec spec;
  spec.sandbox_id = "sbx-fdcheck";
  spec.ids = IdRange{kTestIdBase + (kTestIdSlots - 1) * 65536, 65536};
  spec.init_exe_fd = exe->get();
  UniqueFd devnull(::open("/dev/null", O_RDWR | O_CLOEXEC));
  spec.devnull_fd = devnull.get();
  spec.before_exec = [&](pid_t pid) -> Result<void> {
    const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
    for (int i = 0; i < 400; ++i) {  // the child closes them first thing; up to 2 s for it to run
      held.clear();
      if (DIR* d = ::opendir(dir.c_str())) {
        while (dirent* e = ::readdir(d)) {
          if (e->d_name[0] != '.') held.insert(e->d_name);
        }
        ::closedir(d);
      }
      if (held.size() <= 4) break;
      ::usleep(5000);
    }
    return {};
  };
  auto launched = launchInit(spec);
  REQUIRE(launched.ok());
  CHECK(held.size() <= 4);  // the sync pipe, the control socket, init's binary, /dev/null
  CHECK(held.count(std::to_string(extra.get())) == 0);
  launched->control.reset();
  ::waitpid(launched->pid, nullptr, 0);
}

TEST_CASE("init builds the sandbox and reports Ready") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto r = sbx.run("echo hello");
  CHECK(r.out == "hello\n");
  CHECK(r.exitCode() == 0);
}

TEST_CASE("commands run as user 1000 by default and as namespace root when asked") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto user = sbx.run("id -u; id -g; id -G; id -un; pwd");
  CHECK(user.out == "1000\n1000\n1000\nuser\n/home/user\n");
  auto root = sbx.run("id -u; id -G; id -un; pwd", 0, true);
  CHECK(root.out == "0\n0\nroot\n/root\n");
}

TEST_CASE("the hostname is the configured one, in uname and in /etc") {
  requireRoot();
  InitConfig config = defaultConfig();
  TestSandbox sbx(config);
  REQUIRE(sbx.ready());
  auto r = sbx.run("hostname; cat /etc/hostname; grep -c \"127.0.1.1.$(hostname)\" /etc/hosts");
  CHECK(r.out == config.hostname + "\n" + config.hostname + "\n1\n");
}

TEST_CASE("the root holds only the planned entries") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  std::set<std::string> expected = {"bin",  "dev", "etc",  "home", "lib", "proc",
                                    "root", "run", "sbin", "tmp",  "usr", "var"};
  for (const char* extra : {"lib32", "lib64", "libx32"}) {
    if (hostHas((std::string("/") + extra).c_str())) expected.insert(extra);
  }
  auto r = sbx.run("ls -A /; echo --; ls -A /var; echo --; ls -A /run /root /home", 0, true);
  std::string out = r.out;
  auto first = out.substr(0, out.find("--\n"));
  CHECK(lines(first) == expected);
  CHECK(out.substr(out.find("--\n") + 3) == "tmp\n--\n/home:\nuser\n\n/root:\n\n/run:\n");
}

TEST_CASE("/etc/passwd and /etc/group are the generated ones") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto r = sbx.run("cat /etc/passwd; echo --; cat /etc/group; echo --; getent passwd user");
  CHECK(r.out ==
        "root:x:0:0:root:/root:/bin/bash\n"
        "user:x:1000:1000:user:/home/user:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
        "--\n"
        "root:x:0:\ntty:x:5:\nuser:x:1000:\nnogroup:x:65534:\n"
        "--\n"
        "user:x:1000:1000:user:/home/user:/bin/bash\n");
  auto resolv = sbx.run("grep -c nameserver /etc/resolv.conf");
  CHECK(resolv.out == "0\n");
}

TEST_CASE("nothing of the host's private state is visible in the sandbox") {
  requireRoot();
  const std::string marker = "declaw-init-test-marker-" + std::to_string(::getpid());
  const std::string host_root_marker = "/root/" + marker;
  const std::string host_tmp_marker = "/tmp/" + marker;
  { std::ofstream(host_root_marker) << "host secret"; }
  { std::ofstream(host_tmp_marker) << "host secret"; }
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  for (uint32_t uid : {1000u, 0u}) {
    auto r = sbx.run("for p in /root/" + marker + " /tmp/" + marker +
                         " /etc/shadow /etc/gshadow /run/declaw /var/lib /var/run /srv "
                         "/home/user/.bashrc /etc/sudoers /sys /dev/sda /dev/vda /dev/mem; do "
                         "test -e $p && echo LEAK $p; done; "
                         "grep -rl 'host secret' /root /tmp /home 2>/dev/null; true",
                     uid, true);
    CHECK(r.out == "");
  }
  ::unlink(host_root_marker.c_str());
  ::unlink(host_tmp_marker.c_str());
}

TEST_CASE(
    "root may write /usr, /etc and / (the overlay); user only its own dirs; the host sees none") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  const std::string marker = "declaw-init-test-" + std::to_string(::getpid());
  auto root = sbx.run("touch /usr/" + marker +
                          " && echo usr-ok; touch /etc/x && echo etc-ok; "
                          "touch /x && echo root-ok; stat -c '%U' /usr/bin/env",
                      0, true);
  CHECK(root.out == "usr-ok\netc-ok\nroot-ok\nroot\n");
  CHECK(::access(("/usr/" + marker).c_str(), F_OK) != 0);  // the host's /usr is untouched
  auto user = sbx.run(
      "touch /home/user/a /tmp/a /var/tmp/a /dev/shm/a && echo ok; touch /b 2>/dev/null || "
      "echo denied; touch /usr/b 2>/dev/null || echo usr-denied; "
      "stat -c '%a %U' /home/user /tmp /root; stat -f -c %T /tmp");
  CHECK(user.out == "ok\ndenied\nusr-denied\n755 user\n1777 root\n700 root\noverlayfs\n");
}

TEST_CASE("the root is the same built detached (6.15+) or through attach points (before)") {
  requireRoot();
  const bool detached = overlayTakesDetachedLayers();
  WARN("this kernel's overlayfs " << (detached ? "takes" : "refuses")
                                  << " detached layers: declawd builds roots "
                                  << (detached ? "detached" : "through attach points"));
  std::vector<RootfsBuild> builds = {RootfsBuild::kAttached};
  if (detached) builds.push_back(RootfsBuild::kDetached);
  std::vector<std::string> seen;
  for (RootfsBuild build : builds) {
    TestSandbox sbx(defaultConfig(), {}, build);
    REQUIRE(sbx.ready());
    auto r = sbx.run(
        "touch /x /usr/x /etc/x && echo written; ls -A / | tr '\\n' ' '; echo; "
        "stat -c '%a %U %n' /tmp /root /home/user /etc/hostname /usr/bin/env; "
        "stat -f -c %T / /usr",
        0, true);
    CHECK(r.exitCode() == 0);
    CHECK(r.out.rfind("written\n", 0) == 0);
    seen.push_back(r.out);
  }
  CHECK(::access("/usr/x", F_OK) != 0);  // the host's /usr is untouched either way
  if (seen.size() == 2) CHECK(seen[0] == seen[1]);
}

TEST_CASE("a root whose skeleton init wrote ahead is the root it builds whole") {
  requireRoot();
  if (!overlayTakesDetachedLayers()) {
    // Disks are made ahead only for detached builds: none here, and declawd writes none.
    CHECK(prepareDisk(1 << 20, kTestIdBase).error().code == ENOTSUP);
    WARN("this kernel's overlayfs refuses detached layers: no skeleton is written ahead");
    return;
  }
  const std::string probe =
      "touch /etc/x /x && echo written; ls -A / | tr '\\n' ' '; echo; ls -lA /etc | "
      "awk '{print $1, $3, $4, $5, $9, $10, $11}'; "
      "stat -c '%a %U %G %n' /tmp /root /home /home/user /var/tmp /run /etc /usr /dev /proc; "
      "md5sum /etc/profile /etc/nsswitch.conf /etc/ld.so.cache; id";
  std::vector<std::string> seen;
  for (bool skeleton : {false, true}) {
    const InitConfig config = defaultConfig();
    TestSandbox sbx(config, {}, RootfsBuild::kAuto, skeleton);
    REQUIRE(sbx.ready());
    CHECK(sbx.run("cat /etc/hostname").out == config.hostname + "\n");
    auto root = sbx.run(probe, 0, true);
    CHECK(root.exitCode() == 0);
    auto user = sbx.run("touch ~/a /tmp/a && echo user-ok; touch /etc/y 2>/dev/null || echo no");
    CHECK(user.out == "user-ok\nno\n");
    seen.push_back(root.out);
  }
  CHECK(seen[0] == seen[1]);
}

TEST_CASE("without the /usr overlay (a host whose /usr cannot be idmapped) /usr is read-only") {
  requireRoot();
  InitConfig config = defaultConfig();
  config.usr_mount = false;
  TestSandbox sbx(config);
  REQUIRE(sbx.ready());
  auto root = sbx.run("touch /usr/x 2>&1; touch /x && echo root-ok", 0, true);
  CHECK(root.out.find("Read-only file system") != std::string::npos);
  CHECK(root.out.find("root-ok\n") != std::string::npos);
}

TEST_CASE("a user process has no capabilities; namespace root has Docker's default set") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto user = sbx.run("grep -E '^(Cap|NoNewPrivs|Seccomp:)' /proc/self/status");
  const std::string zero = hex16(0);
  for (const char* name : {"CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"}) {
    INFO(name);
    CHECK(capLine(user.out, name) == zero);
  }
  CHECK(capLine(user.out, "NoNewPrivs") == "\t1");
  CHECK(capLine(user.out, "Seccomp") == "\t2");
  auto root = sbx.run("grep -E '^Cap' /proc/self/status", 0, true);
  const std::string docker = hex16(runtime::init::dockerDefaultCapMask());
  CHECK(docker == "\t00000000a80425fb");
  for (const char* name : {"CapPrm", "CapEff", "CapBnd"}) {
    INFO(name);
    CHECK(capLine(root.out, name) == docker);
  }
  CHECK(capLine(root.out, "CapAmb") == zero);
  CHECK(capLine(root.out, "CapInh") == zero);
  auto bare_root = sbx.run("grep -E '^Cap(Eff|Bnd)' /proc/self/status", 0, false);
  CHECK(capLine(bare_root.out, "CapEff") == zero);
  CHECK(capLine(bare_root.out, "CapBnd") == zero);
}

TEST_CASE("sandbox code cannot open /proc/1/exe, /proc/1/mem or /proc/1/root") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  const std::string probe =
      "for p in /proc/1/exe /proc/1/mem /proc/1/environ; do "
      "  if head -c1 $p >/dev/null 2>&1; then echo OPENED $p; fi; done; "
      "ls /proc/1/root/ >/dev/null 2>&1 && echo OPENED root; "
      "ls /proc/1/cwd/ >/dev/null 2>&1 && echo OPENED cwd; "
      // Namespace root may list /proc/1/fd (owned by it while init is non-dumpable, see
      // proc(5)), but following an entry takes a ptrace access check, which fails.
      "for fd in 0 3 4; do readlink /proc/1/fd/$fd && echo OPENED fd $fd; "
      "  head -c1 /proc/1/fd/$fd </dev/null >/dev/null 2>&1 && echo OPENED fd $fd; done; "
      "readlink /proc/1/exe && echo OPENED readlink; echo done";
  CHECK(sbx.run(probe).out == "done\n");
  CHECK(sbx.run(probe, 0, true).out == "done\n");
}

TEST_CASE("namespaces and mounts cannot be made from inside") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto r = sbx.run(
      "unshare -U true 2>/dev/null && echo UNSHARED; "
      "mount -t tmpfs none /mnt 2>/dev/null && echo MOUNTED; "
      "echo 1 > /proc/sys/kernel/ns_last_pid 2>/dev/null && echo PROCSYS; "
      "echo x > /proc/sysrq-trigger 2>/dev/null && echo SYSRQ; "
      "cat /proc/timer_list 2>/dev/null | head -c 1 | grep -q . && echo TIMERLIST; echo done",
      0, true);
  CHECK(r.out == "done\n");
}

TEST_CASE("the network namespace holds only lo, and lo is up") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto devs = sbx.run("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' '");
  CHECK(devs.out == "lo\n");
  auto link = sbx.run("ip -o link | cut -d: -f2,3 | cut -d'<' -f1,2 | cut -d'>' -f1");
  CHECK(link.out.find(" lo: <LOOPBACK,UP") != std::string::npos);
  CHECK(std::count(link.out.begin(), link.out.end(), '\n') == 1);
}

TEST_CASE("/dev holds the minimal device set, and ptys work") {
  requireRoot();
  TestSandbox sbx;
  REQUIRE(sbx.ready());
  auto r = sbx.run(
      "ls -A /dev | sort | tr '\\n' ' '; echo; head -c 4 /dev/zero | wc -c; "
      "stat -c %a /dev/shm; readlink /dev/ptmx; python3 -c 'import os; "
      "m, s = os.openpty(); print(os.ttyname(s))'");
  CHECK(r.out ==
        "fd full null ptmx pts random shm stderr stdin stdout tty urandom zero \n4\n1777\n"
        "pts/ptmx\n/dev/pts/0\n");
}
