#include "runtime/init/mount_plan.h"

#include <linux/filter.h>

#include <cerrno>
#include <cstdio>

#include "runtime/init/etc_files.h"
#include "runtime/init/net_if.h"

namespace declaw::runtime::init {

namespace {

// Top-level entries that are symlinks into /usr on a merged-/usr host (Debian 12) and
// directories on older layouts.
constexpr const char* kRootLibDirs[] = {"/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"};

// Host device nodes bound into /dev: a user namespace cannot mknod(2) devices (only the initial
// user namespace may create device nodes; see user_namespaces(7)), but it can bind existing ones.
constexpr const char* kDeviceNodes[] = {"null", "zero", "full", "random", "urandom", "tty"};

// Docker's masked /proc paths (moby oci/defaults.go): files get /dev/null bound over them,
// directories an empty read-only tmpfs.
constexpr const char* kProcMasked[] = {"kcore",       "keys",        "timer_list",
                                       "timer_stats", "sched_debug", "latency_stats",
                                       "acpi",        "scsi",        "asound"};
// Docker's read-only /proc paths: bound onto themselves, read-only.
constexpr const char* kProcReadOnly[] = {"bus", "fs", "irq", "sys", "sysrq-trigger"};

struct TemplateInfo {
  const char* name;
  const char* required;  // a binary that must exist in the built root, or ""
};
constexpr TemplateInfo kTemplates[] = {
    {"base", ""},
    {"python", "/usr/bin/python3"},
    {"node", "/usr/bin/node"},
};

constexpr unsigned long kNoSuidDev = MS_NOSUID | MS_NODEV;
constexpr unsigned long kProcFlags = MS_NOSUID | MS_NODEV | MS_NOEXEC;

MountStep mkdir(std::string target, uint32_t mode, uint32_t uid = 0, uint32_t gid = 0) {
  MountStep s;
  s.kind = StepKind::kMkdir;
  s.target = std::move(target);
  s.mode = mode;
  s.uid = uid;
  s.gid = gid;
  return s;
}

MountStep tmpfs(std::string name, std::string target, unsigned long flags, std::string data) {
  MountStep s;
  s.kind = StepKind::kTmpfs;
  s.source = std::move(name);
  s.target = std::move(target);
  s.flags = flags;
  s.data = std::move(data);
  return s;
}

MountStep bind(std::string source, std::string target, bool readonly, bool recursive,
               unsigned long flags, SourceRoot root = SourceRoot::kHost) {
  MountStep s;
  s.kind = StepKind::kBind;
  s.source = std::move(source);
  s.target = std::move(target);
  s.readonly = readonly;
  s.recursive = recursive;
  s.flags = flags;
  s.source_root = root;
  return s;
}

MountStep symlink(std::string link_contents, std::string target) {
  MountStep s;
  s.kind = StepKind::kSymlink;
  s.source = std::move(link_contents);
  s.target = std::move(target);
  return s;
}

MountStep touch(std::string target, uint32_t mode) {
  MountStep s;
  s.kind = StepKind::kTouch;
  s.target = std::move(target);
  s.mode = mode;
  return s;
}

std::string tmpfsData(uint64_t size, const char* mode) {
  return "size=" + std::to_string(size) + ",mode=" + mode;
}

// A host directory bound read-only, or a host symlink recreated; anything else is skipped.
void mirrorHostDir(const HostFacts& host, const std::string& path, std::vector<MountStep>& out) {
  HostEntry e = host.at(path);
  if (e.kind == HostKind::kSymlink) {
    out.push_back(symlink(e.symlink_target, path));
  } else if (e.kind == HostKind::kDirectory) {
    out.push_back(mkdir(path, 0755));
    out.push_back(bind(path, path, /*readonly=*/true, /*recursive=*/true, kNoSuidDev));
  }
}

MountStep attach(std::string target, int fd_index) {
  MountStep s;
  s.kind = StepKind::kAttach;
  s.target = std::move(target);
  s.fd_index = fd_index;
  return s;
}

MountStep writeFile(std::string target, std::string contents, uint32_t mode) {
  MountStep s;
  s.kind = StepKind::kWriteFile;
  s.target = std::move(target);
  s.contents = std::move(contents);
  s.mode = mode;
  return s;
}

void planUsrAndLibs(const InitConfig& config, const HostFacts& host, std::vector<MountStep>& out) {
  out.push_back(mkdir("/usr", 0755));
  if (config.usr_mount) {
    out.push_back(attach("/usr", 1));  // an overlay over the host's /usr: root may write
  } else {
    out.push_back(bind("/usr", "/usr", /*readonly=*/true, /*recursive=*/true, kNoSuidDev));
  }
  for (const char* dir : kRootLibDirs) mirrorHostDir(host, dir, out);
}

// An image keeps its own /etc: only what must be this sandbox's (its names, its resolver) is
// written, and declaw's accounts are added where the image lacks them.
void planImageEtc(const InitConfig& config, std::vector<MountStep>& out) {
  out.push_back(mkdir("/etc", 0755));
  for (const GeneratedFile& file : generatedEtcFiles(config)) {
    MountStep s = writeFile("/etc/" + file.name, file.contents, file.mode);
    if (file.name == "passwd" || file.name == "group") s.kind = StepKind::kAccounts;
    out.push_back(std::move(s));
  }
}

void planEtc(const InitConfig& config, const HostFacts& host, std::vector<MountStep>& out) {
  out.push_back(mkdir("/etc", 0755));
  for (const char* name : etcCopiedFiles()) {
    const std::string path = std::string("/etc/") + name;
    HostEntry e = host.at(path);
    if (e.kind == HostKind::kSymlink) {
      out.push_back(symlink(e.symlink_target, path));
    } else if (e.kind == HostKind::kFile) {
      MountStep s;
      s.kind = StepKind::kCopyFile;
      s.source = path;
      s.target = path;
      s.id_from_euid = path == "/etc/profile";
      out.push_back(std::move(s));
    }
  }
  for (const char* name : etcBoundDirs()) mirrorHostDir(host, std::string("/etc/") + name, out);
  for (const std::string& name : host.namesIn("/etc")) {
    for (const char* prefix : etcBoundDirPrefixes()) {
      if (name.rfind(prefix, 0) == 0) mirrorHostDir(host, "/etc/" + name, out);
    }
  }
  for (const GeneratedFile& file : generatedEtcFiles(config)) {
    MountStep s;
    s.kind = StepKind::kWriteFile;
    s.target = "/etc/" + file.name;
    s.contents = file.contents;
    s.mode = file.mode;
    out.push_back(std::move(s));
  }
  out.push_back(symlink("../proc/self/mounts", "/etc/mtab"));
}

void planWritableDirs(const InitConfig& config, std::vector<MountStep>& out) {
  out.push_back(mkdir("/home", 0755));
  out.push_back(mkdir("/home/user", 0755, config.user_uid, config.user_gid));
  out.push_back(mkdir("/root", 0700));
  // In the root overlay, whose upper is the disk: one size bounds all the sandbox can write.
  out.push_back(mkdir("/tmp", 01777));
  out.push_back(mkdir("/var", 0755));
  out.push_back(mkdir("/var/tmp", 01777));
  out.push_back(mkdir("/run", 0755));
}

void planDev(const HostFacts& host, std::vector<MountStep>& out) {
  out.push_back(mkdir("/dev", 0755));
  // No MS_NODEV: the bound device nodes must work. noexec: nothing in /dev is a program.
  out.push_back(
      tmpfs("declaw-dev", "/dev", MS_NOSUID | MS_NOEXEC, tmpfsData(kDevTmpfsBytes, "0755")));
  for (const char* node : kDeviceNodes) {
    const std::string path = std::string("/dev/") + node;
    if (host.at(path).kind != HostKind::kCharDevice) continue;
    out.push_back(touch(path, 0666));
    out.push_back(bind(path, path, /*readonly=*/false, /*recursive=*/false, MS_NOSUID | MS_NOEXEC));
  }
  out.push_back(mkdir("/dev/pts", 0755));
  // newinstance: a private pts namespace, not the host's ptys (devpts(5)); gid=5 is our tty group.
  MountStep pts;
  pts.kind = StepKind::kDevpts;
  pts.source = "devpts";
  pts.target = "/dev/pts";
  pts.flags = MS_NOSUID | MS_NOEXEC;
  pts.data = "newinstance,ptmxmode=0666,mode=0620,gid=" + std::to_string(kTtyGid);
  out.push_back(std::move(pts));
  out.push_back(symlink("pts/ptmx", "/dev/ptmx"));
  out.push_back(mkdir("/dev/shm", 01777));
  out.push_back(tmpfs("declaw-shm", "/dev/shm", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                      tmpfsData(kShmTmpfsBytes, "1777")));
  out.push_back(symlink("/proc/self/fd", "/dev/fd"));
  out.push_back(symlink("/proc/self/fd/0", "/dev/stdin"));
  out.push_back(symlink("/proc/self/fd/1", "/dev/stdout"));
  out.push_back(symlink("/proc/self/fd/2", "/dev/stderr"));
}

void planProc(const HostFacts& host, std::vector<MountStep>& out) {
  out.push_back(mkdir("/proc", 0555));
  MountStep proc;
  proc.kind = StepKind::kProc;
  proc.source = "proc";
  proc.target = "/proc";
  proc.flags = kProcFlags;
  out.push_back(std::move(proc));
  // The new proc shows the same kernel as the host's, so the host's /proc says what exists.
  for (const char* name : kProcMasked) {
    const std::string path = std::string("/proc/") + name;
    HostKind kind = host.at(path).kind;
    if (kind == HostKind::kDirectory) {
      out.push_back(tmpfs("declaw-mask", path, kProcFlags | MS_RDONLY, "size=4k,mode=0555"));
    } else if (kind != HostKind::kMissing) {
      out.push_back(bind("/dev/null", path, /*readonly=*/false, /*recursive=*/false, kProcFlags,
                         SourceRoot::kNewRoot));
    }
  }
  for (const char* name : kProcReadOnly) {
    const std::string path = std::string("/proc/") + name;
    if (host.at(path).kind == HostKind::kMissing) continue;
    out.push_back(
        bind(path, path, /*readonly=*/true, /*recursive=*/true, kProcFlags, SourceRoot::kNewRoot));
  }
}

void appendFlag(std::string& out, unsigned long flags, unsigned long flag, const char* name) {
  if ((flags & flag) == 0) return;
  if (!out.empty()) out += ",";
  out += name;
}

}  // namespace

std::string describe(const MountStep& s) {
  std::string flags;
  appendFlag(flags, s.flags, MS_RDONLY, "ro");
  appendFlag(flags, s.flags, MS_NOSUID, "nosuid");
  appendFlag(flags, s.flags, MS_NODEV, "nodev");
  appendFlag(flags, s.flags, MS_NOEXEC, "noexec");
  const std::string suffix = flags.empty() ? "" : " [" + flags + "]";
  char mode[16];
  (void)std::snprintf(mode, sizeof mode, "%04o", s.mode);
  switch (s.kind) {
    case StepKind::kAttach:
      return "attach mount " + std::to_string(s.fd_index) + " -> " + s.target;
    case StepKind::kAccounts:
      return "accounts " + s.target;
    case StepKind::kTmpfs:
      return "tmpfs " + s.target + " " + s.data + suffix;
    case StepKind::kProc:
      return "proc " + s.target + suffix;
    case StepKind::kDevpts:
      return "devpts " + s.target + " " + s.data + suffix;
    case StepKind::kBind:
      return std::string("bind") + (s.readonly ? " ro" : "") + (s.recursive ? " rec" : "") +
             (s.source_root == SourceRoot::kNewRoot ? " (new root)" : "") + " " + s.source +
             " -> " + s.target + suffix;
    case StepKind::kMkdir:
      return "mkdir " + s.target + " " + mode + " " + std::to_string(s.uid) + ":" +
             std::to_string(s.gid);
    case StepKind::kTouch:
      return "touch " + s.target + " " + mode;
    case StepKind::kSymlink:
      return "symlink " + s.target + " -> " + s.source;
    case StepKind::kCopyFile:
      return "copy " + s.source + " -> " + s.target + (s.id_from_euid ? " (id -u from $EUID)" : "");
    case StepKind::kWriteFile:
      return "write " + s.target + " " + mode;
  }
  return "?";
}

std::string mergeAccounts(const std::string& existing, const std::string& required) {
  auto nameOf = [](const std::string& line) { return line.substr(0, line.find(':')); };
  std::vector<std::string> have;
  size_t start = 0;
  while (start < existing.size()) {
    size_t end = existing.find('\n', start);
    if (end == std::string::npos) end = existing.size();
    have.push_back(nameOf(existing.substr(start, end - start)));
    start = end + 1;
  }
  std::string out = existing;
  if (!out.empty() && out.back() != '\n') out += '\n';
  start = 0;
  while (start < required.size()) {
    size_t end = required.find('\n', start);
    if (end == std::string::npos) end = required.size();
    const std::string line = required.substr(start, end - start);
    start = end + 1;
    if (line.empty()) continue;
    bool found = false;
    for (const std::string& name : have) found = found || name == nameOf(line);
    if (!found) out += line + "\n";
  }
  return out;
}

size_t rootFdCount(const InitConfig& config) {
  return config.root_kind == RootKind::kHost && config.usr_mount ? 2 : 1;
}

std::string templateRequirement(const std::string& template_name) {
  for (const TemplateInfo& t : kTemplates) {
    if (template_name == t.name) return t.required;
  }
  return "";
}

Result<void> validateConfig(const InitConfig& c, size_t fd_count) {
  if (c.root_kind == RootKind::kHost) {
    bool known = false;
    for (const TemplateInfo& t : kTemplates) known = known || c.template_name == t.name;
    if (!known) return ErrnoError(EINVAL) << "unknown template '" << c.template_name << "'";
  } else if (c.usr_mount) {
    return ErrnoError(EINVAL) << "an image root has no separate /usr mount";
  } else if (c.skeleton) {
    return ErrnoError(EINVAL) << "only a built-in's root comes with a skeleton";
  }
  if (fd_count != rootFdCount(c)) {
    return ErrnoError(EINVAL) << "the config needs " << rootFdCount(c) << " root mount fds, got "
                              << fd_count;
  }
  if (!isValidHostname(c.hostname)) return ErrnoError(EINVAL) << "invalid hostname";
  auto valid_id = [](uint32_t id) { return id >= 1 && id < kNobodyId; };
  if (!valid_id(c.user_uid) || !valid_id(c.user_gid) || c.user_gid == kTtyGid) {
    return ErrnoError(EINVAL) << "user uid/gid must be in 1..65533 and gid not " << kTtyGid;
  }
  if (c.seccomp_bpf.empty() || c.seccomp_bpf.size() % sizeof(sock_filter) != 0) {
    return ErrnoError(EINVAL) << "no valid seccomp filter: the sandbox never runs without one";
  }
  if (c.network) {
    if (auto plan = planNetwork(*c.network); !plan) return plan.error();
  }
  return {};
}

std::vector<std::string> hostPathsToProbe() {
  std::vector<std::string> paths = {"/usr"};
  for (const char* dir : kRootLibDirs) paths.push_back(dir);
  for (const char* node : kDeviceNodes) paths.push_back(std::string("/dev/") + node);
  for (const char* name : kProcMasked) paths.push_back(std::string("/proc/") + name);
  for (const char* name : kProcReadOnly) paths.push_back(std::string("/proc/") + name);
  return paths;
}

bool isSkeletonStep(const MountStep& step) {
  switch (step.kind) {
    case StepKind::kMkdir:
    case StepKind::kSymlink:
    case StepKind::kCopyFile:
      return step.target.rfind("/dev/", 0) != 0;
    default:
      return false;
  }
}

namespace {

Result<std::vector<MountStep>> planAll(const InitConfig& config, const HostFacts& host) {
  const bool host_backed = config.root_kind == RootKind::kHost;
  if (host_backed && !config.usr_mount && host.at("/usr").kind != HostKind::kDirectory) {
    return ErrnoError(ENOENT) << "the host has no /usr directory";
  }
  if (host.at("/dev/null").kind != HostKind::kCharDevice) {
    return ErrnoError(ENOENT) << "the host has no /dev/null device";
  }
  std::vector<MountStep> steps;
  steps.push_back(attach("/", 0));  // the daemon's overlay: the template's layers, the disk
  if (host_backed) {
    planUsrAndLibs(config, host, steps);
    planEtc(config, host, steps);
  } else {
    planImageEtc(config, steps);
  }
  planWritableDirs(config, steps);
  planDev(host, steps);  // before /proc: the masks bind the new /dev/null
  planProc(host, steps);
  return steps;
}

}  // namespace

Result<std::vector<MountStep>> planRootfs(const InitConfig& config, const HostFacts& host) {
  auto steps = planAll(config, host);
  if (!steps || !config.skeleton) return steps;
  if (config.root_kind != RootKind::kHost) {
    return ErrnoError(EINVAL) << "only a built-in's root comes with a skeleton";
  }
  std::erase_if(*steps, isSkeletonStep);
  return steps;
}

Result<std::vector<MountStep>> planSkeleton(const InitConfig& config, const HostFacts& host) {
  if (config.root_kind != RootKind::kHost) {
    return ErrnoError(EINVAL) << "only a built-in's root has a skeleton";
  }
  auto valid_id = [](uint32_t id) { return id >= 1 && id < kNobodyId; };
  if (!valid_id(config.user_uid) || !valid_id(config.user_gid) || config.user_gid == kTtyGid) {
    return ErrnoError(EINVAL) << "user uid/gid must be in 1..65533 and gid not " << kTtyGid;
  }
  InitConfig whole = config;
  whole.skeleton = false;
  auto steps = planAll(whole, host);
  if (!steps) return steps;
  std::erase_if(*steps, [](const MountStep& s) { return !isSkeletonStep(s); });
  return steps;
}

}  // namespace declaw::runtime::init
