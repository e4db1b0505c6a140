// `declawctl cp`: one side is ID:/path in a sandbox, the other a local path or "-". Both
// directions stream: uploads read the file in chunks as the request body, downloads write the
// body to the destination as it arrives.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <optional>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/format.h"
#include "clients/ctl/io_util.h"
#include "common/unique_fd.h"

namespace declaw::ctl {
namespace {

bool endsWithSlash(const std::string& path) { return !path.empty() && path.back() == '/'; }

bool isLocalDirectory(const std::string& path) {
  struct stat st = {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// The file a copy into `dir` creates: dir/basename(source), as cp(1) does.
Result<std::string> intoDirectory(std::string dir, const std::string& source_path) {
  std::string name = baseName(source_path);
  if (source_path == "-" || name.empty() || name == "." || name == "..") {
    return PlainError() << "cannot name the destination file in " << dir
                        << ": give a file path, not a directory";
  }
  if (!endsWithSlash(dir)) dir += '/';
  return dir + name;
}

int upload(const GlobalOptions& global, const std::string& local, const std::string& id,
           std::string remote) {
  // The local side fails first, before any request is made.
  auto source = openUploadSource(local);
  if (!source) return reportError(source.error());
  ApiClient api(global.socket_path);
  bool into_dir = endsWithSlash(remote);
  if (!into_dir) {
    // An existing directory receives the file under its own name. Any failure here (missing,
    // not ours, unreachable) is left for the upload itself to report.
    auto info = api.fileInfo(id, remote);
    into_dir = info && info->is_object() && info->value("type", nlohmann::json()) == "dir";
  }
  if (into_dir) {
    auto target = intoDirectory(remote, local);
    if (!target) return reportError(target.error());
    remote = *target;
  }
  auto entry = api.uploadFile(id, remote, source->fd.get(), source->size);
  if (!entry) return reportError(entry.error());
  if (global.json) printJson(*entry);
  return 0;
}

int download(const GlobalOptions& global, const std::string& id, const std::string& remote,
             std::string local) {
  const bool to_stdout = local == "-";
  if (!to_stdout && (endsWithSlash(local) || isLocalDirectory(local))) {
    auto target = intoDirectory(local, remote);
    if (!target) return reportError(target.error());
    local = *target;
  }

  // The destination is created only once declawd answers 2xx, so a failed request leaves no
  // empty file behind; a transfer that fails midway removes what it wrote.
  UniqueFd out;
  bool created = false;
  BodySink sink;
  sink.open = [&]() -> Result<void> {
    if (to_stdout) return Ok{};
    out.reset(::open(local.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666));
    if (!out) return ErrnoError() << local;
    created = true;
    return Ok{};
  };
  sink.write = [&](std::string_view bytes) -> Result<void> {
    auto r = writeFully(to_stdout ? STDOUT_FILENO : out.get(), bytes);
    if (!r)
      return PlainError() << (to_stdout ? std::string("stdout") : local) << ": "
                          << r.error().describe();
    return Ok{};
  };

  ApiClient api(global.socket_path);
  auto done = api.downloadFile(id, remote, sink);
  if (!done) {
    if (created) ::unlink(local.c_str());
    return reportError(done.error());
  }
  if (out && ::fsync(out.get()) != 0 && errno != EINVAL) {
    // Surfacing a late write error (NFS, full disk) is the point of checking close/fsync.
    Error e = ErrnoError() << local;
    ::unlink(local.c_str());
    return reportError(e);
  }
  return 0;
}

}  // namespace

int cmdCopy(const GlobalOptions& global, const std::string& src, const std::string& dst) {
  CopyEndpoint from = parseCopyEndpoint(src);
  CopyEndpoint to = parseCopyEndpoint(dst);
  if (from.sandbox_id.has_value() == to.sandbox_id.has_value()) {
    return reportError(PlainError() << "cp: exactly one of SRC and DST must be ID:/path");
  }
  const CopyEndpoint& remote = from.sandbox_id ? from : to;
  if (remote.path.empty()) {
    return reportError(PlainError() << "cp: missing path after '" << *remote.sandbox_id << ":'");
  }
  const CopyEndpoint& local = from.sandbox_id ? to : from;
  if (local.path.empty()) return reportError(PlainError() << "cp: empty local path");
  if (to.sandbox_id) return upload(global, from.path, *to.sandbox_id, to.path);
  return download(global, *from.sandbox_id, from.path, to.path);
}

}  // namespace declaw::ctl
