// declaw-init's plan for the sandbox root, read as a value without root: which mounts, in which
// order, with which flags, and what never makes it in.
#include <sys/mount.h>

#include <algorithm>
#include <catch2/catch.hpp>

#include "runtime/init/caps.h"
#include "runtime/init/etc_files.h"
#include "runtime/init/mount_plan.h"

using namespace declaw::runtime;
using namespace declaw::runtime::init;

namespace {

HostEntry dir() { return {HostKind::kDirectory, "", 0755}; }
HostEntry file() { return {HostKind::kFile, "", 0644}; }
HostEntry symlinkTo(const std::string& target) { return {HostKind::kSymlink, target, 0777}; }
HostEntry device() { return {HostKind::kCharDevice, "", 0666}; }

// A Debian 12 host: merged /usr, no lib32/libx32, a few /etc entries, a kernel without kcore.
HostFacts debianHost() {
  HostFacts h;
  h.set("/usr", dir());
  h.set("/bin", symlinkTo("usr/bin"));
  h.set("/sbin", symlinkTo("usr/sbin"));
  h.set("/lib", symlinkTo("usr/lib"));
  h.set("/lib64", symlinkTo("usr/lib64"));
  for (const char* f : {"ld.so.cache", "nsswitch.conf", "profile", "passwd", "shadow", "group",
                        "gshadow", "sudoers", "hosts", "resolv.conf", "machine-id"}) {
    h.set(std::string("/etc/") + f, file());
  }
  h.set("/etc/localtime", symlinkTo("/usr/share/zoneinfo/Etc/UTC"));
  h.set("/etc/os-release", symlinkTo("../usr/lib/os-release"));
  for (const char* d :
       {"ssl", "alternatives", "python3", "python3.11", "ssh", "sudoers.d", "systemd", "cron.d"}) {
    h.set(std::string("/etc/") + d, dir());
  }
  for (const char* d : {"null", "zero", "full", "random", "urandom", "tty"}) {
    h.set(std::string("/dev/") + d, device());
  }
  h.set("/proc/keys", file());
  h.set("/proc/timer_list", file());
  h.set("/proc/acpi", dir());
  h.set("/proc/sys", dir());
  h.set("/proc/bus", dir());
  h.set("/proc/sysrq-trigger", file());
  return h;
}

InitConfig config() {
  InitConfig c;
  c.sandbox_id = "sbx-abc";
  c.hostname = "sbx-abc";
  c.template_name = "base";
  c.root_kind = RootKind::kHost;
  c.usr_mount = false;
  c.user_uid = 1000;
  c.user_gid = 1000;
  c.seccomp_bpf.assign(8 * 4, 0);
  return c;
}

std::vector<std::string> described(const std::vector<MountStep>& steps) {
  std::vector<std::string> out;
  out.reserve(steps.size());
  for (const auto& s : steps) out.push_back(describe(s));
  return out;
}

std::vector<MountStep> plan(const HostFacts& host = debianHost()) {
  auto steps = planRootfs(config(), host);
  REQUIRE(steps.ok());
  return *steps;
}

long indexOf(const std::vector<std::string>& lines, const std::string& line) {
  auto it = std::find(lines.begin(), lines.end(), line);
  return it == lines.end() ? -1 : it - lines.begin();
}

bool mentions(const std::vector<MountStep>& steps, const std::string& text) {
  return std::any_of(steps.begin(), steps.end(), [&](const MountStep& s) {
    return s.target.find(text) != std::string::npos || s.source.find(text) != std::string::npos;
  });
}

}  // namespace

TEST_CASE("the plan starts by attaching the root overlay the daemon built") {
  auto lines = described(plan());
  REQUIRE_FALSE(lines.empty());
  CHECK(lines[0] == "attach mount 0 -> /");
  CHECK(std::count(lines.begin(), lines.end(), "attach mount 0 -> /") == 1);
}

TEST_CASE("/usr is the daemon's overlay where it sent one, else a read-only bind of the host's") {
  auto lines = described(plan());
  CHECK(indexOf(lines, "mkdir /usr 0755 0:0") >= 0);
  CHECK(indexOf(lines, "bind ro rec /usr -> /usr [nosuid,nodev]") >= 0);
  CHECK(indexOf(lines, "attach mount 1 -> /usr") < 0);

  InitConfig c = config();
  c.usr_mount = true;
  auto steps = planRootfs(c, debianHost());
  REQUIRE(steps.ok());
  auto with_overlay = described(*steps);
  CHECK(indexOf(with_overlay, "attach mount 1 -> /usr") >
        indexOf(with_overlay, "mkdir /usr 0755 0:0"));
  CHECK(indexOf(with_overlay, "bind ro rec /usr -> /usr [nosuid,nodev]") < 0);
}

TEST_CASE(
    "an image root keeps its own /usr and /etc: only names, resolver and accounts are added") {
  InitConfig c = config();
  c.root_kind = RootKind::kImage;
  c.template_name = "my-image";
  HostFacts no_usr = debianHost();
  no_usr.set("/usr", HostEntry{});  // an image needs nothing of the host's /usr
  auto steps = planRootfs(c, no_usr);
  REQUIRE(steps.ok());
  auto lines = described(*steps);
  CHECK(lines[0] == "attach mount 0 -> /");
  CHECK(indexOf(lines, "accounts /etc/passwd") >= 0);
  CHECK(indexOf(lines, "accounts /etc/group") >= 0);
  for (const char* generated : {"hosts", "hostname", "resolv.conf"}) {
    INFO(generated);
    CHECK(indexOf(lines, std::string("write /etc/") + generated + " 0644") >= 0);
  }
  for (const MountStep& s : *steps) {
    INFO(describe(s));
    CHECK_FALSE(s.kind == StepKind::kCopyFile);
    CHECK_FALSE((s.kind == StepKind::kBind && s.source_root == SourceRoot::kHost &&
                 s.source.rfind("/dev/", 0) != 0));
    CHECK(s.target != "/usr");
    CHECK(s.target.rfind("/lib", 0) != 0);
    CHECK(s.target != "/bin");
  }
  CHECK(indexOf(lines, "mkdir /home/user 0755 1000:1000") >= 0);
  CHECK(indexOf(lines, "proc /proc [nosuid,nodev,noexec]") >= 0);
}

TEST_CASE("accounts the image lacks are added, by name, and its own lines are kept") {
  const std::string required =
      "root:x:0:0:root:/root:/bin/bash\nuser:x:1000:1000::/home/user:/bin/sh\n";
  CHECK(mergeAccounts("", required) == required);
  CHECK(mergeAccounts("root:x:0:0:root:/root:/bin/ash\nnode:x:1000:1000::/home/node:/bin/sh",
                      required) ==
        "root:x:0:0:root:/root:/bin/ash\nnode:x:1000:1000::/home/node:/bin/sh\n"
        "user:x:1000:1000::/home/user:/bin/sh\n");
  CHECK(mergeAccounts("user:x:1000:1000:someone:/home/user:/bin/zsh\nroot:x:0:0::/root:/bin/sh\n",
                      required) ==
        "user:x:1000:1000:someone:/home/user:/bin/zsh\nroot:x:0:0::/root:/bin/sh\n");
  // A name that only starts like one of ours is not ours.
  CHECK(mergeAccounts("username:x:5:5::/:/bin/sh\n", "user:x:1000:1000::/home/user:/bin/sh\n") ==
        "username:x:5:5::/:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n");
}

TEST_CASE("merged-/usr links are recreated and missing top-level dirs skipped") {
  auto steps = plan();
  auto lines = described(steps);
  CHECK(indexOf(lines, "symlink /bin -> usr/bin") >= 0);
  CHECK(indexOf(lines, "symlink /lib64 -> usr/lib64") >= 0);
  CHECK_FALSE(mentions(steps, "lib32"));
  CHECK_FALSE(mentions(steps, "libx32"));
}

TEST_CASE("on a split-/usr host the top-level lib dirs are bound read-only") {
  HostFacts host = debianHost();
  host.set("/lib64", dir());
  auto lines = described(plan(host));
  CHECK(indexOf(lines, "mkdir /lib64 0755 0:0") >= 0);
  CHECK(indexOf(lines, "bind ro rec /lib64 -> /lib64 [nosuid,nodev]") >= 0);
}

TEST_CASE("/etc holds allow-listed host files, generated files, and no secrets") {
  auto steps = plan();
  auto lines = described(steps);
  CHECK(indexOf(lines, "copy /etc/ld.so.cache -> /etc/ld.so.cache") >= 0);
  CHECK(indexOf(lines, "copy /etc/profile -> /etc/profile (id -u from $EUID)") >= 0);
  CHECK(indexOf(lines, "symlink /etc/localtime -> /usr/share/zoneinfo/Etc/UTC") >= 0);
  CHECK(indexOf(lines, "symlink /etc/os-release -> ../usr/lib/os-release") >= 0);
  CHECK(indexOf(lines, "bind ro rec /etc/ssl -> /etc/ssl [nosuid,nodev]") >= 0);
  CHECK(indexOf(lines, "bind ro rec /etc/python3 -> /etc/python3 [nosuid,nodev]") >= 0);
  CHECK(indexOf(lines, "bind ro rec /etc/python3.11 -> /etc/python3.11 [nosuid,nodev]") >= 0);
  for (const char* generated : {"passwd", "group", "hosts", "hostname", "resolv.conf"}) {
    INFO(generated);
    CHECK(indexOf(lines, std::string("write /etc/") + generated + " 0644") >= 0);
    CHECK(indexOf(lines, std::string("copy /etc/") + generated + " -> /etc/" + generated) < 0);
  }
  for (const char* secret : {"shadow", "sudoers", "ssh", "machine-id", "systemd", "cron.d"}) {
    INFO(secret);
    CHECK_FALSE(mentions(steps, secret));
  }
}

TEST_CASE("/etc/profile's root test is answered from bash's $EUID, and nothing else changes") {
  const std::string debian =
      "if [ \"$(id -u)\" -eq 0 ]; then\n  PATH=\"/usr/local/sbin:/usr/sbin\"\nfi\n"
      "if [ \"${PS1-}\" ]; then\n  if [ \"$(id -u)\" -eq 0 ]; then PS1='# '; fi\nfi\n";
  const std::string rewritten = answerIdFromEuid(debian);
  CHECK(rewritten ==
        "if [ \"${EUID:-$(id -u)}\" -eq 0 ]; then\n  PATH=\"/usr/local/sbin:/usr/sbin\"\nfi\n"
        "if [ \"${PS1-}\" ]; then\n  if [ \"${EUID:-$(id -u)}\" -eq 0 ]; then PS1='# '; fi\nfi\n");
  // Only the quoted test as Debian writes it; other uses of id, and text without it, stay.
  CHECK(answerIdFromEuid("x=$(id -u)\nid -u\n") == "x=$(id -u)\nid -u\n");
  CHECK(answerIdFromEuid("").empty());
  CHECK(answerIdFromEuid("\"$(id -u)\"\"$(id -u)\"") ==
        "\"${EUID:-$(id -u)}\"\"${EUID:-$(id -u)}\"");
}

TEST_CASE("nothing but /usr, /etc's allow-list and device nodes comes from the host") {
  for (const MountStep& s : plan()) {
    bool from_host = (s.kind == StepKind::kBind && s.source_root == SourceRoot::kHost) ||
                     s.kind == StepKind::kCopyFile;
    if (!from_host) continue;
    INFO(describe(s));
    bool allowed = s.source == "/usr" || s.source.rfind("/etc/", 0) == 0 ||
                   s.source.rfind("/dev/", 0) == 0 || s.source.rfind("/lib", 0) == 0;
    CHECK(allowed);
    for (const char* never : {"/root", "/home", "/var", "/run", "/srv", "/tmp", "/sys"}) {
      CHECK(s.source.rfind(never, 0) != 0);
    }
  }
}

TEST_CASE("/home/user, /root, /tmp, /var/tmp and /run get their owners, modes and sizes") {
  auto lines = described(plan());
  CHECK(indexOf(lines, "mkdir /home/user 0755 1000:1000") >= 0);
  CHECK(indexOf(lines, "mkdir /root 0700 0:0") >= 0);
  CHECK(indexOf(lines, "mkdir /tmp 1777 0:0") >= 0);
  for (const auto& line : lines) CHECK(line.rfind("tmpfs /tmp ", 0) != 0);  // /tmp is on /
  CHECK(indexOf(lines, "mkdir /var/tmp 1777 0:0") >= 0);
  CHECK(indexOf(lines, "mkdir /run 0755 0:0") >= 0);
}

TEST_CASE("/dev is a small tmpfs with bound device nodes, a private devpts and shm") {
  auto lines = described(plan());
  CHECK(indexOf(lines, "tmpfs /dev size=1048576,mode=0755 [nosuid,noexec]") >= 0);
  for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
    INFO(node);
    long touch = indexOf(lines, std::string("touch /dev/") + node + " 0666");
    long bind =
        indexOf(lines, std::string("bind /dev/") + node + " -> /dev/" + node + " [nosuid,noexec]");
    CHECK(touch >= 0);
    CHECK(bind > touch);
  }
  CHECK(indexOf(lines,
                "devpts /dev/pts newinstance,ptmxmode=0666,mode=0620,gid=5 "
                "[nosuid,noexec]") >= 0);
  CHECK(indexOf(lines, "symlink /dev/ptmx -> pts/ptmx") >= 0);
  CHECK(indexOf(lines, "tmpfs /dev/shm size=67108864,mode=1777 [nosuid,nodev,noexec]") >= 0);
  CHECK(indexOf(lines, "symlink /dev/fd -> /proc/self/fd") >= 0);
  CHECK(indexOf(lines, "symlink /dev/stderr -> /proc/self/fd/2") >= 0);
}

TEST_CASE("/proc is new, and masked as Docker does with what the kernel has") {
  auto lines = described(plan());
  long proc = indexOf(lines, "proc /proc [nosuid,nodev,noexec]");
  long dev_null = indexOf(lines, "bind /dev/null -> /dev/null [nosuid,noexec]");
  REQUIRE(proc >= 0);
  CHECK(dev_null < proc);  // the masks bind the new /dev/null
  CHECK(indexOf(lines, "bind (new root) /dev/null -> /proc/keys [nosuid,nodev,noexec]") > proc);
  CHECK(indexOf(lines, "bind (new root) /dev/null -> /proc/timer_list [nosuid,nodev,noexec]") >
        proc);
  CHECK(indexOf(lines, "tmpfs /proc/acpi size=4k,mode=0555 [ro,nosuid,nodev,noexec]") > proc);
  CHECK(indexOf(lines, "bind ro rec (new root) /proc/sys -> /proc/sys [nosuid,nodev,noexec]") >
        proc);
  CHECK(indexOf(lines,
                "bind ro rec (new root) /proc/sysrq-trigger -> /proc/sysrq-trigger "
                "[nosuid,nodev,noexec]") > proc);
  CHECK(indexOf(lines, "bind (new root) /dev/null -> /proc/kcore [nosuid,nodev,noexec]") < 0);
}

TEST_CASE("every mount is nosuid, and every writable one but /dev is nodev") {
  for (const MountStep& s : plan()) {
    if (s.kind == StepKind::kMkdir || s.kind == StepKind::kTouch || s.kind == StepKind::kSymlink ||
        s.kind == StepKind::kCopyFile || s.kind == StepKind::kWriteFile ||
        s.kind == StepKind::kAccounts || s.kind == StepKind::kAttach) {
      continue;
    }
    INFO(describe(s));
    CHECK((s.flags & MS_NOSUID) != 0);
    bool writable = !(s.readonly || (s.flags & MS_RDONLY));
    if (writable && s.kind == StepKind::kTmpfs && s.target != "/dev") {
      CHECK((s.flags & MS_NODEV) != 0);
    }
  }
}

TEST_CASE("the plan refuses a host without /usr (to bind) or /dev/null") {
  HostFacts no_usr = debianHost();
  no_usr.set("/usr", HostEntry{});
  CHECK(planRootfs(config(), no_usr).error().code == ENOENT);
  InitConfig overlay = config();
  overlay.usr_mount = true;  // the daemon's overlay already holds the host's /usr
  CHECK(planRootfs(overlay, no_usr).ok());
  HostFacts no_null = debianHost();
  no_null.set("/dev/null", file());
  CHECK(planRootfs(config(), no_null).error().code == ENOENT);
}

TEST_CASE("the skeleton and the plan without it make the whole plan, in its order") {
  const std::vector<std::string> whole = described(plan());
  auto skeleton = planSkeleton(config(), debianHost());
  REQUIRE(skeleton.ok());
  InitConfig with = config();
  with.skeleton = true;
  auto rest = planRootfs(with, debianHost());
  REQUIRE(rest.ok());
  // Only what needs nothing of the create: directories, links and /etc copies, outside /dev.
  for (const MountStep& s : *skeleton) {
    CHECK((s.kind == StepKind::kMkdir || s.kind == StepKind::kSymlink ||
           s.kind == StepKind::kCopyFile));
    CHECK(s.target.rfind("/dev/", 0) != 0);
    CHECK(s.target.find("sbx-abc") == std::string::npos);
  }
  CHECK_FALSE(mentions(*skeleton, "hostname"));
  CHECK_FALSE(mentions(*skeleton, "resolv.conf"));
  CHECK(mentions(*skeleton, "/etc/profile"));
  CHECK(mentions(*skeleton, "/home/user"));
  // Each step is in exactly one of the two, and each part keeps the whole plan's order.
  std::vector<std::string> a = described(*skeleton);
  std::vector<std::string> b = described(*rest);
  CHECK(a.size() + b.size() == whole.size());
  size_t i = 0;
  size_t j = 0;
  for (const std::string& line : whole) {
    if (i < a.size() && a[i] == line) {
      ++i;
    } else if (j < b.size() && b[j] == line) {
      ++j;
    }
  }
  CHECK(i == a.size());
  CHECK(j == b.size());
  // The mounts stay in the plan, and /dev's own entries too (its tmpfs would hide them).
  CHECK(indexOf(b, "attach mount 0 -> /") == 0);
  CHECK(mentions(*rest, "/dev/pts"));
  CHECK(mentions(*rest, "/etc/hostname"));
}

TEST_CASE("an image's root has no skeleton, and a skeleton needs valid ids") {
  InitConfig image = config();
  image.root_kind = RootKind::kImage;
  auto skeleton = planSkeleton(image, debianHost());
  REQUIRE_FALSE(skeleton.ok());
  CHECK(skeleton.error().code == EINVAL);
  image.skeleton = true;
  auto valid = validateConfig(image, rootFdCount(image));
  REQUIRE_FALSE(valid.ok());
  CHECK(valid.error().code == EINVAL);
  InitConfig bad = config();
  bad.user_uid = 0;
  CHECK_FALSE(planSkeleton(bad, debianHost()).ok());
}

TEST_CASE("the generated /etc files say exactly what the sandbox is") {
  InitConfig c = config();
  c.user_uid = 1001;
  c.user_gid = 1002;
  auto files = generatedEtcFiles(c);
  REQUIRE(files.size() == 5);
  CHECK(files[0].name == "passwd");
  CHECK(files[0].contents ==
        "root:x:0:0:root:/root:/bin/bash\n"
        "user:x:1001:1002:user:/home/user:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n");
  CHECK(files[1].contents == "root:x:0:\ntty:x:5:\nuser:x:1002:\nnogroup:x:65534:\n");
  CHECK(files[2].contents ==
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\tsbx-abc\n");
  CHECK(files[3].contents == "sbx-abc\n");
  CHECK(files[4].name == "resolv.conf");
  CHECK(files[4].contents.find("nameserver") == std::string::npos);
}

TEST_CASE("configs the plan cannot build safely are refused with EINVAL") {
  CHECK(validateConfig(config(), 1).ok());
  auto refused = [](auto mutate, size_t fds = 1) {
    InitConfig c = config();
    mutate(c);
    auto r = validateConfig(c, fds);
    return !r.ok() && r.error().code == EINVAL;
  };
  CHECK(refused([](InitConfig&) {}, 0));  // no root to attach
  CHECK(refused([](InitConfig&) {}, 2));
  CHECK(refused([](InitConfig& c) { c.usr_mount = true; }, 1));
  CHECK_FALSE(refused([](InitConfig& c) { c.usr_mount = true; }, 2));
  CHECK(refused(
      [](InitConfig& c) {
        c.root_kind = RootKind::kImage;
        c.usr_mount = true;
      },
      2));
  CHECK_FALSE(refused(
      [](InitConfig& c) {
        c.root_kind = RootKind::kImage;
        c.template_name = "any-image.name";
      },
      1));
  CHECK(refused([](InitConfig& c) { c.template_name = "windows"; }));
  CHECK(refused([](InitConfig& c) { c.hostname = "a\n127.0.0.1 bank"; }));
  CHECK(refused([](InitConfig& c) { c.hostname = ""; }));
  CHECK(refused([](InitConfig& c) { c.hostname = std::string(64, 'a'); }));
  CHECK(refused([](InitConfig& c) { c.user_uid = 0; }));
  CHECK(refused([](InitConfig& c) { c.user_uid = 65534; }));
  CHECK(refused([](InitConfig& c) { c.user_gid = 5; }));
  CHECK(refused([](InitConfig& c) { c.seccomp_bpf.clear(); }));
  CHECK(refused([](InitConfig& c) { c.seccomp_bpf.resize(7); }));
  CHECK(templateRequirement("python") == "/usr/bin/python3");
  CHECK(templateRequirement("base").empty());
}

TEST_CASE("capability masks: Docker's set for root that keeps caps, nothing otherwise") {
  CHECK(dockerDefaultCapMask() == 0xa80425fbULL);
  CHECK((dockerDefaultCapMask() & (1ULL << CAP_SYS_ADMIN)) == 0);
  CHECK((dockerDefaultCapMask() & (1ULL << CAP_SYS_PTRACE)) == 0);
  CHECK(capMaskFor(Identity{0, 0, true}) == dockerDefaultCapMask());
  CHECK(capMaskFor(Identity{0, 0, false}) == 0);
  CHECK(capMaskFor(Identity{1000, 1000, true}) == 0);
}
