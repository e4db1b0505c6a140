// declawctl's templates without a daemon: the command lines of `template ...` and `snapshot`, the
// request bodies of a build, the `template ls` table and `inspect` view, the import progress
// line, a failed step's report, and an archive of unknown length going out chunked.
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "clients/ctl/api_client.h"
#include "clients/ctl/cli.h"
#include "clients/ctl/http_client.h"
#include "clients/ctl/io_util.h"
#include "clients/ctl/requests.h"
#include "clients/ctl/template_format.h"
#include "common/unique_fd.h"
#include "ctl_test_support.h"

using nlohmann::json;
namespace ctl = declaw::ctl;
using declaw::UniqueFd;
using declaw::ctl::testing::command;
using declaw::ctl::testing::usageError;

namespace {

constexpr uint64_t kMiB = uint64_t{1} << 20;

ctl::BuildSpec buildOf(std::initializer_list<const char*> args) {
  auto line = command(args);
  CHECK(line.verb == ctl::Verb::kTemplateBuild);
  return line.build;
}

// A template as docs/api.md shows it, and the two other kinds.
json imported() {
  return json::parse(R"({"name": "py-tools", "source": "import",
      "digest": "sha256:4b1c0d9e2f3a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344",
      "size": 52428800, "layer_count": 2,
      "layers": [
        {"digest": "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
         "diff_id": "sha256:2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
         "media_type": "application/vnd.oci.image.layer.v1.tar+gzip", "size": 3145728,
         "unpacked_bytes": 7340032},
        {"digest": "sha256:aaaa", "diff_id": "sha256:aaaa",
         "media_type": "application/vnd.oci.image.layer.v1.tar", "size": 1024,
         "unpacked_bytes": 1024}],
      "created_at": "2026-12-06T18:20:00Z", "sandboxes": 1, "base": null, "parent": null,
      "owner_uid": 0,
      "config": {"env": ["PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=a b"],
                 "working_dir": "/app", "user": "1000", "default_user": "user"},
      "repo_tags": ["tools:latest"]})");
}

// declawd names a built-in as its own base.
json builtin() {
  return json::parse(R"({"name": "base", "source": "builtin", "digest": null, "size": 0,
      "layer_count": 0, "layers": [], "created_at": null, "sandboxes": 2, "base": "base",
      "parent": null, "owner_uid": null,
      "config": {"env": [], "working_dir": null, "user": null, "default_user": "user"},
      "repo_tags": []})");
}

json snapshotOfBuiltin() {
  json t = builtin();
  t["name"] = "base-plus";
  t["source"] = "snapshot";
  t["base"] = "base";
  t["size"] = 2048;
  t["layer_count"] = 1;
  t["created_at"] = "2026-12-06T18:21:00Z";
  t["sandboxes"] = 0;
  return t;
}

// Accepts one connection, reads a request whose body is chunked up to its last chunk, and
// answers 201 with a JSON body.
class ChunkedSink {
 public:
  ChunkedSink() {
    char dir_template[] = "/tmp/ctl_template_test.XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/s.sock";
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(listener_.get(), 1) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~ChunkedSink() {
    thread_.join();
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  const std::string& request() const { return request_; }

 private:
  void serve() {
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;
    char buf[65536];
    while (request_.find("\r\n0\r\n\r\n") == std::string::npos) {
      ssize_t n = ::read(conn.get(), buf, sizeof(buf));
      if (n <= 0) break;
      request_.append(buf, static_cast<size_t>(n));
    }
    std::string answer =
        "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n"
        "{\"name\": \"img\"}";
    (void)::send(conn.get(), answer.data(), answer.size(), MSG_NOSIGNAL);
  }

  std::string dir_;
  std::string path_;
  UniqueFd listener_;
  std::string request_;
  std::thread thread_;
};

// Accepts one connection, reads the request head, then never answers: it holds the connection
// until the client hangs up.
class SilentServer {
 public:
  SilentServer() {
    char dir_template[] = "/tmp/ctl_template_test.XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    path_ = dir_ + "/s.sock";
    listener_.reset(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path_.c_str(), sizeof(addr.sun_path) - 1);
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
    REQUIRE(::listen(listener_.get(), 1) == 0);
    thread_ = std::thread([this] { serve(); });
  }
  ~SilentServer() {
    thread_.join();
    ::close(ready_[0]);
    ::close(ready_[1]);
    ::unlink(path_.c_str());
    ::rmdir(dir_.c_str());
  }
  const std::string& path() const { return path_; }
  // Blocks until the request head is in.
  void waitForRequest() {
    char c;
    REQUIRE(::read(ready_[0], &c, 1) == 1);
  }

 private:
  void serve() {
    UniqueFd conn(::accept4(listener_.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!conn) return;
    std::string request;
    char buf[4096];
    ssize_t n;
    while (request.find("\r\n\r\n") == std::string::npos &&
           (n = ::read(conn.get(), buf, sizeof(buf))) > 0) {
      request.append(buf, static_cast<size_t>(n));
    }
    (void)!::write(ready_[1], "r", 1);
    while (::read(conn.get(), buf, sizeof(buf)) > 0) {
    }
  }

  std::string dir_;
  std::string path_;
  UniqueFd listener_;
  int ready_[2] = {-1, -1};
  bool piped_ = ::pipe2(ready_, O_CLOEXEC) == 0;
  std::thread thread_;
};

// The body of a chunked request, decoded.
std::string dechunk(const std::string& request) {
  std::string body;
  size_t pos = request.find("\r\n\r\n") + 4;
  for (;;) {
    size_t eol = request.find("\r\n", pos);
    size_t size = std::stoul(request.substr(pos, eol - pos), nullptr, 16);
    if (size == 0) return body;
    body += request.substr(eol + 2, size);
    pos = eol + 2 + size + 2;
  }
}

}  // namespace

TEST_CASE("template import takes a file or - and a name, and --replace") {
  auto line = command({"template", "import", "img.tar", "tools"});
  CHECK(line.verb == ctl::Verb::kTemplateImport);
  CHECK(line.templ.file == "img.tar");
  CHECK(line.templ.name == "tools");
  CHECK_FALSE(line.templ.replace);
  line = command({"template", "import", "-", "tools", "--replace"});
  CHECK(line.templ.file == "-");
  CHECK(line.templ.replace);
  usageError({"template", "import", "img.tar"});
  usageError({"template", "import"});
}

TEST_CASE("template ls, inspect, rm and export name what they work on") {
  CHECK(command({"template", "ls"}).verb == ctl::Verb::kTemplateList);
  CHECK(command({"--json", "template", "ls"}).json);
  CHECK(command({"template", "ls", "--json"}).json);
  auto inspect = command({"template", "inspect", "tools"});
  CHECK(inspect.verb == ctl::Verb::kTemplateInspect);
  CHECK(inspect.templ.name == "tools");
  auto rm = command({"template", "rm", "a", "b"});
  CHECK(rm.verb == ctl::Verb::kTemplateRemove);
  CHECK(rm.templ.names == std::vector<std::string>{"a", "b"});
  auto out = command({"template", "export", "tools"});
  CHECK(out.verb == ctl::Verb::kTemplateExport);
  CHECK(out.templ.output.empty());
  CHECK(command({"template", "export", "tools", "-o", "t.tar"}).templ.output == "t.tar");
  usageError({"template"});
  usageError({"template", "rm"});
  usageError({"template", "frobnicate"});
}

TEST_CASE("template export --json needs a file, since stdout carries the archive") {
  CHECK(usageError({"--json", "template", "export", "tools"}).find("--json needs -o FILE") !=
        std::string::npos);
  usageError({"template", "export", "tools", "-o", "-", "--json"});
  CHECK(command({"template", "export", "tools", "-o", "t.tar", "--json"}).json);
}

TEST_CASE("snapshot takes a sandbox and a name") {
  auto line = command({"snapshot", "sbx-1", "snap", "--replace"});
  CHECK(line.verb == ctl::Verb::kSnapshot);
  CHECK(line.id == "sbx-1");
  CHECK(line.templ.name == "snap");
  CHECK(line.templ.replace);
  CHECK(ctl::buildSnapshotRequest("snap", true) == json::parse(R"({"name": "snap",
                                                                   "replace": true})"));
  usageError({"snapshot", "sbx-1"});
}

TEST_CASE("template build keeps its steps in order and takes create's sandbox flags") {
  auto line = command({"template",
                       "build",
                       "tools",
                       "--from",
                       "python",
                       "--run",
                       "apt-get update",
                       "--env",
                       "K=V",
                       "--run",
                       "pip install x",
                       "--allow-out",
                       "pypi.org",
                       "--memory",
                       "512",
                       "--timeout",
                       "600",
                       "--step-timeout",
                       "120",
                       "--replace"});
  CHECK(line.templ.name == "tools");
  CHECK(line.templ.replace);
  const auto& spec = line.build;
  CHECK(spec.steps == std::vector<std::string>{"apt-get update", "pip install x"});
  CHECK(spec.step_timeout_s == 120);
  auto body = ctl::buildTemplateSandboxRequest(spec);
  REQUIRE(body.ok());
  CHECK(*body == json::parse(R"({"template": "python", "timeout": 600, "envs": {"K": "V"},
      "allow_internet_access": true, "resources": {"memory_mb": 512},
      "network": {"allow_out": ["pypi.org"]}})"));
}

TEST_CASE("a build's sandbox lives an hour unless told, and its steps run as root") {
  auto spec = buildOf({"template", "build", "tools", "--run", "true"});
  auto body = ctl::buildTemplateSandboxRequest(spec);
  REQUIRE(body.ok());
  CHECK(*body == json::parse(R"({"timeout": 3600})"));
  CHECK(ctl::buildStepRequest(spec, 0) ==
        json::parse(R"({"cmd": "true", "user": "root", "timeout": 0})"));
  spec = buildOf({"template", "build", "tools", "--run", "a", "--step-timeout", "0", "--run", "b"});
  CHECK(ctl::buildStepRequest(spec, 1) ==
        json::parse(R"({"cmd": "b", "user": "root", "timeout": 0})"));
  auto bad = buildOf({"template", "build", "tools", "--run", "x", "--env", "nokey"});
  CHECK_FALSE(ctl::buildTemplateSandboxRequest(bad).ok());
}

TEST_CASE("template build without steps, or with flags it does not have, is a usage error") {
  usageError({"template", "build", "tools"});
  usageError({"template", "build", "--run", "true"});
  usageError({"template", "build", "tools", "--run", "true", "--template", "python"});
  usageError({"template", "build", "tools", "--run", "true", "--on-timeout", "pause"});
  usageError({"template", "build", "tools", "--run", "true", "--step-timeout", "-1"});
  usageError({"template", "build", "tools", "--run", "true", "--timeout", "0"});
  CHECK(usageError({"template", "build", "tools", "--run", "true", "--no-internet", "--deny-out",
                    "1.2.3.4"})
            .find("drop --no-internet") != std::string::npos);
}

TEST_CASE("template ls shows built-ins, imports and snapshots in one table") {
  json list = json::array({builtin(), imported(), snapshotOfBuiltin()});
  list[2]["parent"] = nullptr;
  json snap = imported();
  snap["name"] = "py-tools-2";
  snap["source"] = "snapshot";
  snap["parent"] = "py-tools";
  snap["layer_count"] = 3;
  snap["sandboxes"] = 0;
  list.push_back(snap);
  CHECK(ctl::formatTemplateTable(list) ==
        "NAME        SOURCE    DIGEST        LAYERS  SIZE   SANDBOXES  CREATED               FROM\n"
        "base        builtin   -             0       -      2          -                     -\n"
        "py-tools    import    4b1c0d9e2f3a  2       50MiB  1          2026-12-06T18:20:00Z  -\n"
        "base-plus   snapshot  -             1       2KiB   0          2026-12-06T18:21:00Z  "
        "base\n"
        "py-tools-2  snapshot  4b1c0d9e2f3a  3       50MiB  0          2026-12-06T18:20:00Z  "
        "py-tools\n");
}

TEST_CASE("template inspect shows every field, one line per env entry and per layer") {
  CHECK(ctl::formatTemplateInfo(imported()) ==
        "name:          py-tools\n"
        "source:        import\n"
        "digest:        sha256:4b1c0d9e2f3a5b6c7d8e9f00112233445566778899aabbccddeeff0011223344\n"
        "size:          50MiB (52428800 bytes)\n"
        "created_at:    2026-12-06T18:20:00Z\n"
        "sandboxes:     1\n"
        "owner_uid:     0\n"
        "base:          -\n"
        "parent:        -\n"
        "working_dir:   /app\n"
        "user:          1000\n"
        "default_user:  user\n"
        "env:           PATH=/usr/local/bin:/usr/bin:/bin\n"
        "env:           GREETING=a b\n"
        "repo_tags:     tools:latest\n"
        "layer_count:   2\n"
        "layer 1:       sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08  "
        "3MiB, 7MiB unpacked, tar+gzip\n"
        "layer 2:       sha256:aaaa  1KiB, 1KiB unpacked, tar\n");
  std::string text = ctl::formatTemplateInfo(builtin());
  CHECK(text.find("digest:        -\n") != std::string::npos);
  CHECK(text.find("env:           -\n") != std::string::npos);
  CHECK(text.find("layer 1") == std::string::npos);
}

TEST_CASE("a digest is shown by its first 12 hex digits") {
  CHECK(ctl::shortDigest("sha256:0123456789abcdef") == "0123456789ab");
  CHECK(ctl::shortDigest(nullptr) == "-");
  CHECK(ctl::shortDigest("md5:0123456789abcdef") == "-");
  CHECK(ctl::shortDigest("sha256:0123") == "-");
}

TEST_CASE("the progress bar is for a terminal and a big archive") {
  CHECK_FALSE(ctl::progressVisible(false, 1024 * kMiB, 0));
  CHECK(ctl::progressVisible(true, 1024 * kMiB, 0));
  CHECK_FALSE(ctl::progressVisible(true, kMiB, kMiB));
  // From a pipe, once enough has gone out.
  CHECK_FALSE(ctl::progressVisible(true, std::nullopt, kMiB));
  CHECK(ctl::progressVisible(true, std::nullopt, 64 * kMiB));
}

TEST_CASE("the progress line fits the terminal, dropping the bar first") {
  CHECK(ctl::progressLine("tools", 128 * kMiB, 256 * kMiB, 80) ==
        "tools  [####################....................]  50%  128MiB / 256MiB");
  CHECK(ctl::progressLine("tools", 256 * kMiB, 256 * kMiB, 50) ==
        "tools  [##################]  100%  256MiB / 256MiB");
  CHECK(ctl::progressLine("tools", 64 * kMiB, 256 * kMiB, 30) == "tools  25%  64MiB / 256MiB");
  CHECK(ctl::progressLine("tools", 64 * kMiB, 256 * kMiB, 12) == "tools  25%  ");
  CHECK(ctl::progressLine("tools", 64 * kMiB, std::nullopt, 80) == "tools  64MiB sent");
}

TEST_CASE("a failed step says which, what it ran and how it ended") {
  ctl::CommandOutcome outcome;
  outcome.exit_code = 100;
  CHECK(ctl::stepFailure(1, 3, "apt-get install x", outcome, 0) ==
        "step 2/3 (apt-get install x) exited with code 100");
  outcome.exit_code = 124;
  outcome.timed_out = true;
  CHECK(ctl::stepFailure(0, 1, "sleep 99", outcome, 5) ==
        "step 1/1 (sleep 99) timed out after 5 s");
  outcome.timed_out = false;
  outcome.exit_code = 137;
  outcome.oom_killed = true;
  CHECK(ctl::stepFailure(0, 1, "x", outcome, 0) ==
        "step 1/1 (x) was killed for lack of memory (exit code 137)");
  outcome.oom_killed = false;
  std::string long_cmd(100, 'a');
  CHECK(ctl::stepFailure(0, 1, long_cmd + "\n", outcome, 0) ==
        "step 1/1 (" + std::string(60, 'a') + "...) exited with code 137");
}

TEST_CASE("a body of unknown length goes out chunked") {
  CHECK(ctl::formatRequestHead("PUT", "/v1/templates/x", "application/x-tar", std::nullopt) ==
        "PUT /v1/templates/x HTTP/1.1\r\nHost: declaw\r\nUser-Agent: declawctl\r\n"
        "Content-Type: application/x-tar\r\nTransfer-Encoding: chunked\r\n"
        "Connection: close\r\n\r\n");
}

TEST_CASE("an archive from a pipe is streamed chunked, and its progress is reported") {
  int pipe_fds[2];
  REQUIRE(::pipe2(pipe_fds, O_CLOEXEC) == 0);
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  std::string archive;
  for (int i = 0; i < 100000; ++i) archive += std::to_string(i) + ",";  // ~590 KB, > one read
  std::thread writer([&] {
    size_t off = 0;
    while (off < archive.size()) {
      ssize_t n = ::write(write_end.get(), archive.data() + off, archive.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    write_end.reset();
  });
  ChunkedSink server;
  std::vector<uint64_t> progress;
  ctl::RequestBody body;
  body.fd = read_end.get();
  body.chunked = true;
  body.progress = [&](uint64_t sent) { progress.push_back(sent); };
  auto info = ctl::ApiClient(server.path()).importTemplate("img", true, std::move(body));
  writer.join();
  REQUIRE(info.ok());
  CHECK((*info)["name"] == "img");
  CHECK(server.request().find("PUT /v1/templates/img?replace=true HTTP/1.1\r\n") == 0);
  CHECK(server.request().find("Transfer-Encoding: chunked\r\n") != std::string::npos);
  CHECK(server.request().find("Content-Length") == std::string::npos);
  CHECK(dechunk(server.request()) == archive);
  REQUIRE_FALSE(progress.empty());
  CHECK(progress.back() == archive.size());
  CHECK(std::is_sorted(progress.begin(), progress.end()));
}

TEST_CASE("an interruptible request ends at SIGINT even when no system call sees EINTR") {
  // The main thread blocks SIGINT, so the handler runs on another thread and the request's
  // blocked wait is never interrupted by it: only the wake-up pipe can end it, as it must when
  // the signal lands between two system calls of a request.
  ctl::installInterruptHandlers();
  sigset_t sigint, old_mask;
  sigemptyset(&sigint);
  sigaddset(&sigint, SIGINT);
  REQUIRE(::pthread_sigmask(SIG_BLOCK, &sigint, &old_mask) == 0);
  SilentServer server;
  std::thread signaller([&] {
    sigset_t unblocked;
    sigemptyset(&unblocked);
    sigaddset(&unblocked, SIGINT);
    ::pthread_sigmask(SIG_UNBLOCK, &unblocked, nullptr);
    server.waitForRequest();
    ::kill(::getpid(), SIGINT);  // delivered to this thread, the only one not blocking it
  });
  ctl::HttpClient client(server.path());
  client.setInterruptible(true);
  auto response = client.send("GET", "/v1/templates");
  signaller.join();
  // Cleanup: the flag and the pipe back as they were, for the tests after this one.
  const int signo = ctl::g_interrupted;
  ctl::g_interrupted = 0;
  char drain[16];
  while (::read(ctl::interruptWakeFd(), drain, sizeof(drain)) > 0) {
  }
  ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  REQUIRE_FALSE(response.ok());
  CHECK(response.error().message == "interrupted");
  CHECK(signo == SIGINT);
}

TEST_CASE("an interruptible request asked for after SIGINT does not start; cleanup still runs") {
  // A Ctrl-C that lands between a build's "[1/1] step" line and its request: the request must
  // not run the whole step. The kill that follows (not interruptible) must still go out.
  char dir_template[] = "/tmp/ctl_template_test.XXXXXX";
  REQUIRE(::mkdtemp(dir_template) != nullptr);
  const std::string dir = dir_template;
  const std::string path = dir + "/s.sock";
  UniqueFd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(listener.get(), 4) == 0);

  ctl::HttpClient client(path);
  client.setInterruptible(true);
  ctl::g_interrupted = SIGINT;
  auto skipped = client.send("GET", "/v1/templates");
  REQUIRE_FALSE(skipped.ok());
  CHECK(skipped.error().message == "interrupted");
  CHECK(UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC)).get() < 0);
  CHECK(errno == EAGAIN);  // it did not even connect

  std::string seen;
  std::thread server([&] {
    pollfd ready{listener.get(), POLLIN, 0};
    if (::poll(&ready, 1, 10000) != 1) return;
    UniqueFd conn(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    char buf[4096];
    ssize_t n;
    while (seen.find("\r\n\r\n") == std::string::npos &&
           (n = ::read(conn.get(), buf, sizeof(buf))) > 0) {
      seen.append(buf, static_cast<size_t>(n));
    }
    const std::string answer = "HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n";
    (void)!::write(conn.get(), answer.data(), answer.size());
  });
  client.setInterruptible(false);
  auto cleanup = client.send("DELETE", "/v1/sandboxes/sbx-1");
  server.join();
  ctl::g_interrupted = 0;
  ::unlink(path.c_str());
  ::rmdir(dir.c_str());
  REQUIRE(cleanup.ok());
  CHECK(cleanup->head.status == 204);
  CHECK(seen.rfind("DELETE /v1/sandboxes/sbx-1 ", 0) == 0);
}
