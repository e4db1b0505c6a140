// The control protocol between declawd and declaw-init, over one SOCK_SEQPACKET socketpair per
// sandbox (init's end is fd kControlFd). Every packet is one message: a MsgType byte followed by
// fields written with WireWriter. fds travel alongside with SCM_RIGHTS.
//
// Trust: the daemon treats everything init sends as untrusted input (sandbox code may have taken
// init over); every decode is bounds-checked and fails cleanly on malformed data.
//
//   daemon -> init                          init -> daemon
//   kSkeleton + fd [upper dir]              kReply (error 0: written)
//            (an init launched ahead, before its config, at most once)
//   kConfig (first but for kSkeleton, once) kReady | kSetupFailed (once, after setup)
//   kSpawn   + fds [stdin, stdout, stderr]  kReply (same request_id; fds for opens and the
//            (none for a PTY spawn)           master of a PTY spawn)
//   kSignal                                 kExited (for every spawned pid, when reaped)
//   kFileOp
//   kHold    + fd [listening socket]        (no answer)
//   kAttach  (first, on a new connection)   kHeld per held process + fds, then kAttached
//   kReleaseStdin                           (no answer)
//
// The zygote (docs/architecture.md, "The init zygote"): declawd starts one declaw-init without
// new namespaces and sends it kZygote instead of a config; from then on that process only forks
// sandbox inits, one per request, each of which goes on as a fresh init would after exec:
//
//   daemon -> zygote                        zygote -> daemon
//   kZygote (first, once)                   (no answer)
//   kLaunch  + fds [control, sync]          kReply: value = the new init's pid, fd [its pidfd]
//
// Live restore (docs/architecture.md, "Live restore"): after kHold, init outlives its control
// socket. When the daemon goes, init keeps serving its children (reaping, holding their output
// pipes) and waits on the listening socket for the next daemon, which sends kAttach first.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "runtime/host_facts.h"

namespace declaw::runtime {

// The control socket's fd number inside declaw-init (0-2 are /dev/null until the first spawn).
inline constexpr int kControlFd = 3;
// The version of this protocol. A daemon attaching to the init of an earlier daemon reads the
// version in kAttached first (its layout never changes) and adopts the sandbox only when it is
// this one: anything else might be misread.
inline constexpr uint32_t kProtocolVersion = 1;
// The largest packet either side sends or accepts.
inline constexpr size_t kMaxPacketBytes = 256 * 1024;
// Every sandbox has this many uids and as many gids: its user namespace maps ids
// 0..kIdsPerSandbox-1 to a range of host ids (the daemon's id pool hands the ranges out), and
// init refuses a request for any id beyond.
inline constexpr uint32_t kIdsPerSandbox = 65536;

enum class MsgType : uint8_t {
  kConfig = 1,
  kSpawn = 2,
  kSignal = 3,
  kFileOp = 4,
  kHold = 5,
  kAttach = 6,
  kReleaseStdin = 7,
  kZygote = 8,
  kLaunch = 9,
  kReady = 10,
  kSetupFailed = 11,
  kReply = 12,
  kExited = 13,
  kHeld = 14,
  kAttached = 15,
  kSkeleton = 16,
};

// --- daemon -> init -------------------------------------------------------------------------

// The sandbox end of its veth, which the daemon created (and moved into the sandbox's network
// namespace) before sending the InitConfig. Addresses are text (inet_pton forms); init validates
// them (runtime/init/net_if.h) before touching anything.
struct NetworkConfig {
  std::string interface = "eth0";
  std::string address;  // "198.18.0.2"
  uint32_t prefix_len = 30;
  std::string gateway;     // "198.18.0.1": the host end, the default route's next hop
  std::string nameserver;  // written to resolv.conf; empty = no name server
  // IPv6 when address6 is set (with gateway6); otherwise IPv6 is disabled on the interface.
  std::string address6;  // "fd00:dc::2"
  uint32_t prefix_len6 = 126;
  std::string gateway6;  // "fd00:dc::1"

  bool hasIpv6() const { return !address6.empty(); }
  bool operator==(const NetworkConfig&) const = default;
};

// Where the sandbox's root comes from. The daemon builds it (runtime/rootfs.h) and sends it
// with the InitConfig as detached mounts: the root overlay, then (kHost with usr_mount) /usr.
enum class RootKind : uint8_t {
  // A host-backed built-in (base, python, node, and snapshots of them): init adds the host's
  // /usr, the lib links, the host's allow-listed /etc and declaw's accounts.
  kHost = 0,
  // An image: its own /usr and /etc; init adds generated hosts/hostname/resolv.conf and the
  // accounts declaw needs where the image lacks them.
  kImage = 1,
};

// How declaw-init builds the sandbox. Sent once, right after exec, with the root's mount fds.
struct InitConfig {
  std::string sandbox_id;
  std::string hostname;
  // For a built-in, which one: "base" | "python" | "node" (python = base + a python3 check).
  std::string template_name;
  RootKind root_kind = RootKind::kHost;
  // kHost: /usr is the second fd (an overlay over the host's /usr); false: init binds the
  // host's /usr read-only (a host whose /usr cannot be idmapped).
  bool usr_mount = false;
  // kHost: the root's upper dir already holds the built-in's skeleton (its directories, links
  // and /etc copies: planSkeleton in runtime/init/mount_plan.h), written by the daemon before
  // the create took this init; the plan leaves those steps out.
  bool skeleton = false;
  uint32_t user_uid = 1000;  // "user" inside the sandbox
  uint32_t user_gid = 1000;
  std::vector<uint8_t> seccomp_bpf;  // struct sock_filter[], installed by init before serving
  // Absent: the network namespace keeps only lo (allow_internet_access=false).
  std::optional<NetworkConfig> network;
  // For a built-in's root: what the host has at the paths its plan uses, probed by the daemon
  // (once for many sandboxes, again when the host's /etc changes). Absent: init probes itself.
  std::optional<HostFacts> host;
};

struct SpawnRequest {
  uint64_t request_id = 0;
  // argv[0] is the absolute path to exec; with search_path, a program name looked up in the
  // env's PATH (or a path with a slash, relative to cwd), as execvp(3) would.
  std::vector<std::string> argv;
  std::vector<std::string> env;  // "K=V"
  std::string cwd;
  uint32_t uid = 0;  // inside the sandbox
  uint32_t gid = 0;
  bool keep_caps = false;  // true for namespace root: keeps Docker's default capability set
  // On a new pseudo-terminal of the sandbox's devpts instead of the three fds: the request then
  // carries no fds and the reply carries the terminal's master.
  bool pty = false;
  uint16_t rows = 24;
  uint16_t cols = 80;
  // Exec'd instead when argv[0] does not exist (ENOENT): an image without bash gets /bin/sh.
  std::vector<std::string> fallback_argv;
  // The directory to start in when `cwd` cannot be entered (empty: none, the spawn fails): a
  // default cwd (an image's WorkingDir) the user may not enter gives way to the user's home.
  std::string fallback_cwd;
  // argv[0] is a command as a user typed it: looked up in PATH; a command that is not found or
  // cannot be executed exits 127 or 126 with a line on its stderr, as a shell's would.
  bool search_path = false;
  // Live restore: init keeps copies of the daemon's ends of the output (two more fds after
  // the three: the read ends of stdout and stderr; for a PTY, a copy of the master), so that
  // the process can go on writing while no daemon runs, and hands them to the next daemon
  // with `note` (kHeld). Init never reads them.
  bool hold = false;
  // With hold, one fd more: the write end of stdin, which init keeps until kReleaseStdin (the
  // daemon closed stdin on purpose) or the exit, so stdin outlives the daemon too.
  bool hold_stdin = false;
  std::string note;  // opaque to init: the daemon's record of the process (at most kMaxNoteBytes)
};

// kReleaseStdin: the daemon closed a held process's stdin; init drops its copy (EOF for the
// process). Unknown pids are ignored.
struct ReleaseStdin {
  int32_t pid = 0;
};

inline constexpr size_t kMaxNoteBytes = 16 * 1024;

// kAttach: the first message on a connection to a held init's listening socket.
struct Attach {
  uint32_t version = kProtocolVersion;
};

struct SignalRequest {
  uint64_t request_id = 0;
  int32_t pid = 0;  // as spawned (a process-group leader: spawn does setsid())
  int32_t signal = 0;
  bool group = true;  // kill(-pid) rather than kill(pid)
};

enum class FileOpKind : uint8_t {
  kOpenRead = 1,   // reply: fd (O_RDONLY, regular files only), size
  kOpenWrite = 2,  // reply: fd (O_WRONLY|O_TRUNC, created with parents, regular files only)
  kStat = 3,       // reply: one entry (lstat: symlinks are reported, not followed)
  kList = 4,       // reply: fd of a memfd holding encoded entries (see encodeEntries)
  kMkdir = 5,      // with parents; reply value 1 if created, 0 if it existed as a directory
  kRemove = 6,     // recursive; does not follow symlinks
  kRename = 7,     // path -> path2
  // A directory watch (runtime/init/dir_watch.h): reply: the read end of a pipe of watch
  // records (runtime/watch_wire.h). `depth` is the most directories it may watch: 1 watches
  // the directory alone, more watches its subdirectories too, as they appear.
  kWatch = 8,
};

struct FileOpRequest {
  uint64_t request_id = 0;
  FileOpKind kind = FileOpKind::kStat;
  std::string path;     // absolute, inside the sandbox
  std::string path2;    // rename target
  uint32_t uid = 1000;  // the op runs as this user inside the sandbox
  uint32_t gid = 1000;
  uint32_t depth = 1;    // kList; kWatch: the most directories to watch
  uint32_t mode = 0644;  // kOpenWrite (new files), kMkdir uses 0755
};

// --- init -> daemon -------------------------------------------------------------------------

// kSkeleton: write a built-in's skeleton (runtime/init/mount_plan.h, planSkeleton) into the
// upper dir that comes with it, planned from `host` for a user with these ids.
struct SkeletonRequest {
  uint32_t user_uid = 1000;
  uint32_t user_gid = 1000;
  HostFacts host;
};

struct SetupFailed {
  int32_t error = 0;  // errno
  std::string message;
};

struct Reply {
  uint64_t request_id = 0;
  int32_t error = 0;    // errno; 0 = success
  std::string message;  // context for errors ("open /x")
  int64_t value = 0;    // spawn: pid; open: file size; mkdir: 1 created / 0 existed
  std::string payload;  // kStat: encoded entry
};

struct Exited {
  int32_t pid = 0;
  int32_t wait_status = 0;  // as from waitpid()
};

// kHeld: one process init holds for the daemon, with its fds (pty: [master]; else [stdout
// read end, stderr read end] and, with `stdin`, stdin's write end). `exited`: it ended while no
// daemon listened, with `wait_status`.
struct Held {
  int32_t pid = 0;
  bool exited = false;
  int32_t wait_status = 0;
  bool pty = false;
  bool stdin = false;
  std::string note;
};

// kAttached: the end of the list; `version` is always the first field.
struct Attached {
  uint32_t version = kProtocolVersion;
  uint32_t held = 0;  // how many kHeld came before
};

enum class EntryType : uint8_t { kFile = 1, kDir = 2, kSymlink = 3, kOther = 4 };

struct Entry {
  std::string name;
  std::string path;
  EntryType type = EntryType::kOther;
  uint64_t size = 0;
  uint32_t mode = 0;  // st_mode & 07777
  uint32_t uid = 0;   // inside the sandbox
  uint32_t gid = 0;
  int64_t mtime_sec = 0;
  std::string symlink_target;
};

// --- encoding -------------------------------------------------------------------------------

class WireWriter {
 public:
  explicit WireWriter(MsgType type) { buf_.push_back(static_cast<char>(type)); }
  WireWriter() = default;  // for payloads without a type byte
  void u8(uint8_t v) { buf_.push_back(static_cast<char>(v)); }
  void u32(uint32_t v);
  void u64(uint64_t v);
  void i32(int32_t v) { u32(static_cast<uint32_t>(v)); }
  void i64(int64_t v) { u64(static_cast<uint64_t>(v)); }
  void str(std::string_view s);
  void strs(const std::vector<std::string>& v);
  const std::string& data() const { return buf_; }

 private:
  std::string buf_;
};

// Bounds-checked reader; after any failed read ok() stays false and reads return zero values.
class WireReader {
 public:
  explicit WireReader(std::string_view data) : data_(data) {}
  uint8_t u8();
  uint32_t u32();
  uint64_t u64();
  int32_t i32() { return static_cast<int32_t>(u32()); }
  int64_t i64() { return static_cast<int64_t>(u64()); }
  std::string str();
  std::vector<std::string> strs();
  bool ok() const { return ok_; }
  bool atEnd() const { return ok_ && pos_ == data_.size(); }

 private:
  bool take(size_t n);
  std::string_view data_;
  size_t pos_ = 0;
  bool ok_ = true;
};

// The type byte of a packet, or 0 when empty.
MsgType peekType(std::string_view packet);

std::string encode(const InitConfig& m);
std::string encode(const SkeletonRequest& m);
std::string encode(const SpawnRequest& m);
std::string encode(const SignalRequest& m);
std::string encode(const FileOpRequest& m);
std::string encodeReady();
std::string encodeHold();
bool decodeHold(std::string_view packet);
std::string encodeZygote();
bool decodeZygote(std::string_view packet);
std::string encodeLaunch();
bool decodeLaunch(std::string_view packet);
std::string encode(const Attach& m);
std::string encode(const ReleaseStdin& m);
std::string encode(const Held& m);
std::string encode(const Attached& m);
std::string encode(const SetupFailed& m);
std::string encode(const Reply& m);
std::string encode(const Exited& m);
std::string encodeEntry(const Entry& e);                  // no type byte
std::string encodeEntries(const std::vector<Entry>& es);  // no type byte

// Each decode returns false on any malformed, short or over-long input (and the type byte must
// match). Strings are limited by kMaxPacketBytes through the packet size.
bool decode(std::string_view packet, InitConfig& m);
bool decode(std::string_view packet, SkeletonRequest& m);
bool decode(std::string_view packet, SpawnRequest& m);
bool decode(std::string_view packet, SignalRequest& m);
bool decode(std::string_view packet, FileOpRequest& m);
bool decode(std::string_view packet, SetupFailed& m);
bool decode(std::string_view packet, Reply& m);
bool decode(std::string_view packet, Exited& m);
bool decode(std::string_view packet, Attach& m);
bool decode(std::string_view packet, ReleaseStdin& m);
bool decode(std::string_view packet, Held& m);
// Reads the version even when the rest is of another layout (then returns false).
bool decode(std::string_view packet, Attached& m);
bool decodeEntry(std::string_view data, Entry& e);
bool decodeEntries(std::string_view data, std::vector<Entry>& es);

}  // namespace declaw::runtime
