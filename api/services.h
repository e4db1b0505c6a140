// What the API handlers need from the daemon, as a small interface: handlers are pure functions
// of (request, Services), so routing and validation are unit-tested with a fake Services and no
// socket (STYLE rule 6). The daemon's registry implements it.
//
// Errors are Result errors carrying an errno; api/errors.h maps them to HTTP:
//   ENOENT 404 not_found · EPERM/EACCES 403 forbidden · EINVAL ENOTDIR EISDIR ENAMETOOLONG ELOOP
//   ENOTEMPTY EXDEV EBADF ENXIO EROFS 400 invalid_argument · EEXIST ENOTCONN EBUSY EOPNOTSUPP
//   409 conflict ·
//   ESRCH 409 conflict (sandbox not running) · ETIMEDOUT 408 timeout · E2BIG EFBIG 413 too_large ·
//   EDQUOT EAGAIN ENOMEM 429 rate_limited (over a configured limit; a sandbox at its pids or
//   memory limit) · ENOSPC 507 not_enough_space · ENOSYS 501 not_implemented ·
//   anything else 500 internal.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"

namespace declaw::api {

using Clock = std::chrono::system_clock;
using StringMap = std::map<std::string, std::string>;

// Who is calling, from SO_PEERCRED. Root (uid 0) sees every sandbox; others only their own.
struct Caller {
  uid_t uid = 0;
  gid_t gid = 0;
  pid_t pid = 0;
  bool isRoot() const { return uid == 0; }
};

// What a sandbox may use. 0 = no limit of that kind (only where the config allows it).
struct Resources {
  double cpu = 0;          // cores (CFS quota), e.g. 1.5
  uint64_t memory_mb = 0;  // memory cgroup limit; the sandbox's disk (tmpfs) is memory too
  uint64_t pids = 0;       // processes and threads
  uint64_t disk_mb = 0;    // the writable tmpfs holding /, /home/user and /tmp
};

// A sandbox's egress policy lists, validated, in canonical form and the client's order
// (netpolicy/policy.h has the semantics).
struct NetworkLists {
  std::vector<std::string> allow_out;
  std::vector<std::string> deny_out;
};

// PATCH .../network: what is present replaces, what is absent stays.
struct NetworkUpdate {
  std::optional<std::vector<std::string>> allow_out;
  std::optional<std::vector<std::string>> deny_out;
  std::optional<bool> allow_internet_access;
};

struct NetworkRefusals {
  uint64_t dns = 0;               // DNS queries the stub refused
  uint64_t proxy = 0;             // HTTP/TLS connections the egress proxy refused
  uint64_t firewall_packets = 0;  // packets the sandbox's nft chains dropped
};

struct NetworkInfo {
  NetworkLists lists;
  // Where the sandbox has a link (internet access); absent otherwise.
  std::optional<std::string> address;
  std::optional<std::string> gateway;
  std::optional<std::string> address6;
  std::optional<std::string> interface;  // the host end, dcw<key>
  NetworkRefusals refused;
};

struct CreateSandboxSpec {
  std::string template_name = "base";
  uint32_t timeout_s = 300;
  StringMap envs;  // default environment of every command
  StringMap metadata;
  bool allow_internet_access = false;
  // Without internet access: AF_INET/AF_INET6 sockets that reach only the sandbox's own lo
  // (docs/security.md, "Loopback without internet"). Fixed at create.
  bool loopback_inet = false;
  NetworkLists network;
  Resources resources;              // filled in by the API layer: what was asked, else the defaults
  std::string on_timeout = "kill";  // lifecycle: "kill" | "pause"
};

struct SandboxInfo {
  std::string sandbox_id;
  std::string template_id;
  StringMap metadata;
  StringMap envs;
  Clock::time_point started_at;
  Clock::time_point end_at;  // when the timeout kills it (or when it was killed)
  std::string state;         // "creating" | "running" | "paused" | "killed"
  uid_t owner_uid = 0;
  bool allow_internet_access = false;
  bool loopback_inet = false;
  NetworkInfo network;
  Resources resources;
  std::string on_timeout = "kill";
};

// What a sandbox uses now (GET .../metrics). Absent values: not measurable on this host.
struct SandboxMetrics {
  Clock::time_point timestamp;
  double cpu_cores_used = 0;   // average since the previous sample (or since start)
  double cpu_limit_cores = 0;  // 0: unlimited
  uint64_t cpu_usage_ns = 0;   // total
  uint64_t memory_used = 0;
  uint64_t memory_limit = 0;
  uint64_t pids = 0;
  uint64_t pids_limit = 0;
  uint64_t disk_used = 0;
  uint64_t disk_limit = 0;
  uint64_t oom_kills = 0;
  std::optional<uint64_t> net_rx_bytes;  // where the sandbox has a veth
  std::optional<uint64_t> net_tx_bytes;
};

// GET .../metrics/history: samples taken from start to end, both included; absent: open.
struct MetricsRange {
  std::optional<Clock::time_point> start;
  std::optional<Clock::time_point> end;
};

// The daemon's own counters, for GET /metrics (Prometheus text).
// A Prometheus histogram: cumulative counts per upper bound, then the +Inf count and the sum.
struct Histogram {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;  // cumulative, one per bound
  uint64_t count = 0;
  double sum = 0;
};

// One template's warm pool (GET /metrics).
struct PoolStats {
  std::string template_name;
  uint32_t target = 0;
  uint32_t ready = 0;
  uint64_t hits = 0;    // creates served from the pool
  uint64_t misses = 0;  // creates of this template built fresh
};

struct DaemonMetrics {
  std::map<std::string, uint64_t> sandboxes_by_state;  // running, paused
  uint64_t creates = 0;
  uint64_t create_failures = 0;
  uint64_t inits_forked = 0;         // sandbox inits the init zygote forked
  uint64_t inits_execed = 0;         // exec'd instead (no zygote, or it broke)
  uint64_t launch_ahead_ready = 0;   // inits launched ahead, waiting for a create
  uint64_t launch_ahead_hits = 0;    // creates that took one
  uint64_t launch_ahead_misses = 0;  // creates that launched their own (none was ready)
  uint64_t skeletons_used = 0;       // ... and found its skeleton written (skeleton.h)
  uint64_t skeletons_unused = 0;     // ... and did not use the one it had
  uint64_t kills = 0;
  uint64_t commands = 0;
  std::vector<double> command_seconds_bounds;    // histogram bucket upper bounds
  std::vector<uint64_t> command_seconds_counts;  // cumulative, one per bound
  double command_seconds_sum = 0;
  std::map<int, uint64_t> responses_by_status;
  uint64_t leftovers_cleaned = 0;
  // Where a create's time goes, by phase (docs/performance.md), and how long a process takes
  // to start (from the request to its exec).
  std::vector<std::pair<std::string, Histogram>> create_phase_seconds;
  Histogram exec_seconds;
  std::vector<PoolStats> pool;    // empty: no warm pool configured
  Histogram pool_refill_seconds;  // one pooled sandbox built
};

struct RunSpec {
  std::string cmd;  // run as /bin/bash -l -c CMD (an image's: /bin/bash -c CMD)
  // Or, when not empty, run directly: argv[0] looked up in PATH, no shell (cmd is then empty).
  std::vector<std::string> argv;
  StringMap envs;    // merged over the sandbox's envs
  std::string cwd;   // empty: the user's home
  std::string user;  // "user" | "root"; empty: the template's default (an image's User), else user
  std::string stdin_data;   // written to the command's stdin, then closed
  uint32_t timeout_s = 60;  // 0 = no command timeout (the sandbox timeout still applies)
};

struct RunResult {
  std::string stdout_data;  // raw bytes, at most the configured cap
  std::string stderr_data;
  int exit_code = -1;         // the exit status, or 128 + signal
  std::optional<int> signal;  // set when the process was killed by a signal
  int pid = 0;
  bool timed_out = false;
  bool stdout_truncated = false;
  bool stderr_truncated = false;
  bool oom_killed = false;  // the OOM killer struck in the sandbox while the command ran
};

// A process started through the API (foreground, background, streamed or on a PTY).
struct ProcessInfo {
  int pid = 0;      // inside the sandbox; also its process group and session id
  std::string cmd;  // as asked (an argv, shell-quoted); empty for an interactive PTY shell
  std::vector<std::string> argv;  // as asked, when the command was an argv
  std::string user;
  std::string cwd;
  Clock::time_point started_at;
  bool running = true;
  std::optional<Clock::time_point> ended_at;
  std::optional<int> exit_code;  // 128+N for a signal, 124 after a command timeout
  std::optional<int> signal;
  bool timed_out = false;
  bool is_pty = false;
  bool background = false;
  bool stdin_open = false;
  bool oom_killed = false;  // the OOM killer struck in the sandbox while it ran
  std::string error;        // why there is no exit code (the sandbox ended under the process)
};

// What to start: a command (RunSpec) and how it runs.
struct ProcessSpec {
  RunSpec run;              // run.cmd empty with pty: an interactive login shell
  bool background = false;  // reported in ProcessInfo; output goes to ring buffers
  bool stdin_open = false;  // keep stdin open after run.stdin_data for writeStdin
  bool pty = false;
  uint16_t rows = 24;
  uint16_t cols = 80;
};

// One event of a process's output, for a streaming response.
struct OutputEvent {
  enum class Kind { kStdout, kStderr, kPty, kLost, kExit, kEnd };
  Kind kind = Kind::kEnd;
  std::string data;         // kStdout, kStderr, kPty: raw bytes
  std::string stream;       // kLost: "stdout" | "stderr" | "pty"
  uint64_t lost_bytes = 0;  // kLost
  ProcessInfo process;      // kExit: the finished process
};

// A reader's position in a process's output. Events come in order per stream; stdout and
// stderr are not ordered against each other.
class ProcessWatch {
 public:
  virtual ~ProcessWatch() = default;
  virtual int pid() const = 0;
  // The next event, waiting at most `wait`; nullopt if nothing happened in time. kExit (the
  // process finished) or kEnd (not following, and the buffered output is read) comes last.
  virtual std::optional<OutputEvent> next(std::chrono::milliseconds wait) = 0;
};

struct FileEntry {
  std::string name;
  std::string path;
  std::string type;  // "file" | "dir" | "symlink" | "other"
  uint64_t size = 0;
  uint32_t mode = 0;  // permission bits (st_mode & 07777)
  std::string owner;  // "root" | "user" | the numeric uid
  std::string group;
  Clock::time_point modified_time;
  std::string symlink_target;  // for symlinks
};

// One event of a directory watch (GET .../files/watch).
struct WatchEvent {
  enum class Kind { kChange, kLost, kEnd };
  Kind kind = Kind::kEnd;
  std::string type;     // kChange: "create" | "write" | "remove" | "rename" | "chmod"
  std::string name;     // kChange: relative to the watched directory
  std::string reason;   // kEnd: "removed" | "sandbox_ended" | "error"
  std::string message;  // kEnd: what happened, in words
};

// A directory watch's events as they come. Ending the watch (destroying it) stops the watcher
// in the sandbox.
class DirWatch {
 public:
  virtual ~DirWatch() = default;
  // The next event, waiting at most `wait`; nullopt if nothing happened in time. kEnd is last.
  virtual std::optional<WatchEvent> next(std::chrono::milliseconds wait) = 0;
};

// A port of a sandbox, forwarded from the host (GET/POST .../ports/{port}).
struct PortInfo {
  uint16_t port = 0;
  std::string unix_socket;          // on the host, the sandbox owner's, mode 0600
  std::optional<std::string> host;  // "127.0.0.1:N" when a TCP listener was asked for
};

struct OpenedFile {
  UniqueFd fd;
  uint64_t size = 0;
};

// A template's layer, as stored.
struct TemplateLayer {
  std::string digest;   // of the blob as stored ("sha256:...")
  std::string diff_id;  // of the uncompressed tar
  std::string media_type;
  uint64_t size = 0;            // the blob's bytes
  uint64_t unpacked_bytes = 0;  // its files' bytes
};

// A template: a built-in (host-backed), an imported image, or a snapshot.
struct TemplateInfo {
  std::string name;
  std::string source;  // "builtin" | "import" | "snapshot"
  std::string digest;  // the manifest's, "" for a built-in
  uint64_t size = 0;   // the files of its layers, unpacked (shared layers counted in each)
  std::vector<TemplateLayer> layers;
  std::optional<Clock::time_point> created_at;  // absent for a built-in
  size_t sandboxes = 0;                         // live sandboxes made from it
  std::string base;                // the host-backed built-in at its bottom, "" for an image
  std::string parent;              // a snapshot's template
  std::optional<uid_t> owner_uid;  // who imported or snapshotted it
  // What applies from the image config: Env, WorkingDir, User (and declaw's reading of User).
  std::vector<std::string> env;
  std::string working_dir;
  std::string user;
  std::string default_user;  // "user" | "root": who commands run as when the request says none
  std::vector<std::string> repo_tags;
};

struct ImportSpec {
  std::string name;
  bool replace = false;
};

// The daemon's networking, where it is up.
struct HealthNetwork {
  std::string pool;
  std::optional<std::string> pool6;
  std::vector<std::string> dns_upstream;
  uint16_t proxy_port = 0;
};

struct HealthInfo {
  std::string version;
  std::map<std::string, bool> features;  // "user_namespaces", "seccomp", "pidfd", ...
  std::map<std::string, uint64_t> limits;
  size_t sandboxes_running = 0;
  std::string cgroup;              // "v1" | "v2" | "off": how resources are enforced
  uint64_t leftovers_cleaned = 0;  // sandboxes a previous daemon left, cleaned at start
  // Live restore: sandboxes a previous daemon left running, adopted at start; and those that
  // could not be verified or reattached, killed instead (also in leftovers_cleaned).
  uint64_t sandboxes_restored = 0;
  uint64_t restore_failures = 0;
  std::optional<HealthNetwork> network;
};

class Services {
 public:
  virtual ~Services() = default;

  virtual HealthInfo health() = 0;

  virtual Result<SandboxInfo> createSandbox(const Caller& caller,
                                            const CreateSandboxSpec& spec) = 0;
  // The caller's sandboxes (all for root), killed ones included while remembered; the API
  // layer filters, orders and pages them (api/list_paging.h).
  virtual std::vector<SandboxInfo> listSandboxes(const Caller& caller) = 0;
  virtual Result<SandboxInfo> getSandbox(const Caller& caller, const std::string& id) = 0;
  // Idempotent: killing a killed sandbox succeeds.
  virtual Result<void> killSandbox(const Caller& caller, const std::string& id) = 0;
  virtual Result<SandboxInfo> setTimeout(const Caller& caller, const std::string& id,
                                         uint32_t timeout_s) = 0;
  // The egress policy: PATCH replaces the parts present (validated by the API layer) and takes
  // effect for new connections; ENOTCONN (409) turning on internet for a sandbox made without it.
  virtual Result<SandboxInfo> updateNetwork(const Caller& caller, const std::string& id,
                                            const NetworkUpdate& update) = 0;

  // Runs in the foreground and returns when the command exits or times out.
  virtual Result<RunResult> runCommand(const Caller& caller, const std::string& id,
                                       const RunSpec& spec) = 0;

  // Freezes every process of the sandbox (the freezer cgroup); its timeout clock stops.
  // Commands and file calls answer ESRCH ("paused") until resumed. Idempotent.
  virtual Result<SandboxInfo> pauseSandbox(const Caller& caller, const std::string& id) = 0;
  virtual Result<SandboxInfo> resumeSandbox(const Caller& caller, const std::string& id) = 0;
  virtual Result<SandboxMetrics> sandboxMetrics(const Caller& caller, const std::string& id) = 0;
  // The samples the daemon took of the sandbox in `range`, oldest first (a bounded history,
  // docs/architecture.md); each sample's CPU use is the average since the one before it.
  virtual Result<std::vector<SandboxMetrics>> sandboxMetricsHistory(const Caller& caller,
                                                                    const std::string& id,
                                                                    const MetricsRange& range) = 0;
  virtual DaemonMetrics daemonMetrics() = 0;
  // Every answer the API gives, by HTTP status (for DaemonMetrics).
  virtual void countResponse(int /*status*/) {}

  // Starts a background, streamed or PTY process and returns once it runs. EDQUOT when the
  // sandbox runs max_processes API processes already.
  virtual Result<ProcessInfo> startProcess(const Caller& caller, const std::string& id,
                                           const ProcessSpec& spec) = 0;
  // Running processes and the most recently finished ones, oldest first.
  virtual Result<std::vector<ProcessInfo>> listProcesses(const Caller& caller,
                                                         const std::string& id) = 0;
  // ENOENT for a pid the API did not start (or has forgotten).
  virtual Result<ProcessInfo> getProcess(const Caller& caller, const std::string& id, int pid) = 0;
  // Output from the oldest byte still buffered; then live output when `follow`.
  virtual Result<std::unique_ptr<ProcessWatch>> watchProcess(const Caller& caller,
                                                             const std::string& id, int pid,
                                                             bool follow) = 0;
  // The process once finished; ETIMEDOUT if it still runs after `timeout`.
  virtual Result<ProcessInfo> waitProcess(const Caller& caller, const std::string& id, int pid,
                                          std::chrono::milliseconds timeout) = 0;
  // To the process group. ESRCH once the process has finished.
  virtual Result<void> signalProcess(const Caller& caller, const std::string& id, int pid,
                                     int signal) = 0;
  // Queued for the process; ESRCH when stdin is closed or the process finished, EDQUOT when
  // more than max_stdin_buffer_bytes are unread.
  virtual Result<void> writeStdin(const Caller& caller, const std::string& id, int pid,
                                  std::string data) = 0;
  // EOF once the queue is written. EINVAL on a PTY.
  virtual Result<void> closeStdin(const Caller& caller, const std::string& id, int pid) = 0;
  // EINVAL when the process has no terminal.
  virtual Result<void> resizePty(const Caller& caller, const std::string& id, int pid,
                                 uint16_t rows, uint16_t cols) = 0;

  // File operations run inside the sandbox as `user` ("user" | "root"); paths are absolute
  // sandbox paths, already normalised by the API layer.
  virtual Result<FileEntry> statPath(const Caller& caller, const std::string& id,
                                     const std::string& path, const std::string& user) = 0;
  virtual Result<std::vector<FileEntry>> listDir(const Caller& caller, const std::string& id,
                                                 const std::string& path, uint32_t depth,
                                                 const std::string& user) = 0;
  // true if created, false if it already existed as a directory.
  virtual Result<bool> makeDir(const Caller& caller, const std::string& id, const std::string& path,
                               const std::string& user) = 0;
  virtual Result<void> removePath(const Caller& caller, const std::string& id,
                                  const std::string& path, const std::string& user) = 0;
  virtual Result<FileEntry> renamePath(const Caller& caller, const std::string& id,
                                       const std::string& from, const std::string& to,
                                       const std::string& user) = 0;
  // Regular files only. The fd is the daemon's to read/write; it refers to the file inside.
  virtual Result<OpenedFile> openForRead(const Caller& caller, const std::string& id,
                                         const std::string& path, const std::string& user) = 0;
  // Creates parent directories; truncates.
  virtual Result<UniqueFd> openForWrite(const Caller& caller, const std::string& id,
                                        const std::string& path, const std::string& user) = 0;
  // Watches the directory (and, when recursive, every directory below it, up to
  // max_watch_dirs) as `user`. ENOTDIR for a file, E2BIG past the bound.
  virtual Result<std::unique_ptr<DirWatch>> watchDir(const Caller& caller, const std::string& id,
                                                     const std::string& path, bool recursive,
                                                     const std::string& user) = 0;

  // Ports (docs/api.md "Ports"): connections to a socket on the host reach 127.0.0.1:port in
  // the sandbox. forwardPort makes the forward if there is none (idempotent), with a TCP
  // listener on the host's loopback too when `listen` is given ("127.0.0.1:0"). ENOTCONN for a
  // sandbox that cannot have inet sockets; EINVAL for a listen address off the loopback;
  // EEXIST for a second, different one; EDQUOT past the forwards a sandbox may have.
  virtual Result<PortInfo> forwardPort(const Caller& caller, const std::string& id, uint16_t port,
                                       const std::optional<std::string>& listen) = 0;
  virtual Result<std::vector<PortInfo>> listPorts(const Caller& caller, const std::string& id) = 0;
  // ENOENT when the port is not forwarded.
  virtual Result<void> closePort(const Caller& caller, const std::string& id, uint16_t port) = 0;

  // Templates (docs/templates.md). Built-ins are listed with the rest and cannot be changed.
  virtual std::vector<TemplateInfo> listTemplates(const Caller& caller) = 0;
  virtual Result<TemplateInfo> getTemplate(const Caller& caller, const std::string& name) = 0;
  // EBUSY while a live sandbox uses it, or for a built-in; EPERM for another user's template.
  virtual Result<void> deleteTemplate(const Caller& caller, const std::string& name) = 0;
  // An unlinked file to stream an import's upload into (read and write), before importing it:
  // ENOSYS when this daemon cannot use image templates (the message says why).
  virtual Result<UniqueFd> openImportSpool(const Caller& caller) = 0;
  // Imports the image archive in `archive_fd` (read from offset 0). EINVAL for a bad archive,
  // EFBIG past a limit, EEXIST for a name that exists (without replace) or is being imported.
  virtual Result<TemplateInfo> importTemplate(const Caller& caller, const ImportSpec& spec,
                                              int archive_fd) = 0;
  // The template as an OCI archive in an unlinked file. EOPNOTSUPP for one on a built-in.
  virtual Result<OpenedFile> exportTemplate(const Caller& caller, const std::string& name) = 0;
  // Freezes the sandbox, captures its changes as a layer, thaws it, and publishes a template.
  virtual Result<TemplateInfo> snapshotSandbox(const Caller& caller, const std::string& id,
                                               const ImportSpec& spec) = 0;
};

// Limits the API layer enforces (the daemon's config fills them in).
struct Limits {
  uint64_t max_json_body_bytes = 16ull << 20;  // JSON request bodies (text file writes too)
  uint64_t max_upload_bytes = 1ull << 30;      // raw PUT bodies
  uint64_t max_template_bytes = 8ull << 30;    // an image archive (PUT /v1/templates/{name})
  uint64_t max_template_unpacked_bytes = 32ull << 30;  // its layers' files, unpacked
  uint64_t max_header_bytes = 16 * 1024;               // request line + headers
  uint64_t max_text_read_bytes = 16ull << 20;          // GET files (JSON); raw has no such cap
  uint32_t idle_timeout_s = 60;                        // a connection with no complete request
  uint32_t request_timeout_s = 30;                     // a request's header, or one upload chunk
  uint32_t max_connections = 64;
  uint32_t max_sandboxes = 64;
  uint64_t max_output_bytes = 8ull << 20;  // captured stdout/stderr per command, each
  uint32_t default_sandbox_timeout_s = 300;
  uint32_t max_sandbox_timeout_s = 86400;
  uint32_t default_command_timeout_s = 60;
  uint32_t max_list_depth = 16;
  uint32_t max_watch_dirs = 4096;                     // directories one recursive watch covers
  uint64_t output_buffer_bytes = 1ull << 20;          // ring per stream of a background process
  uint32_t max_processes = 128;                       // running API processes per sandbox
  uint32_t max_finished_processes = 64;               // finished ones remembered per sandbox
  uint64_t max_stdin_buffer_bytes = 1ull << 20;       // queued stdin a process has not read
  uint64_t max_buffered_output_bytes = 256ull << 20;  // all output buffers of one sandbox
  uint32_t max_wait_s = 3600;                         // GET .../wait?timeout=
  // resources= on create: what is used when not asked, and the most that may be asked.
  Resources default_resources{1.0, 2048, 1024, 1024};
  Resources max_resources{64, 65536, 65536, 65536};
  uint64_t max_metadata_entries = 64;
};

}  // namespace declaw::api
