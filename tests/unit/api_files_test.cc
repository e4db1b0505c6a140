// The file routes and raw uploads of api::Router, over FakeServices.
#include "api_test_helpers.h"

namespace declaw::api::testing {
namespace {

using nlohmann::json;

const std::string kFiles = kSandbox + "/files";

FileEntry fileEntry(const std::string& path) {
  FileEntry entry;
  entry.name = path.substr(path.rfind('/') + 1);
  entry.path = path;
  entry.type = "file";
  entry.size = 5;
  entry.mode = 0644;
  entry.owner = "user";
  entry.group = "user";
  return entry;
}

TEST_CASE("file paths are normalised before they reach Services", "[api][files]") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"/home/user/a.txt", "/home/user/a.txt"},
      {"a.txt", "/home/user/a.txt"},
      {"~", "/home/user"},
      {"~/a/./b", "/home/user/a/b"},
      {"../../../../etc/passwd", "/etc/passwd"},
      {"/..%2F..%2Fetc", "/etc"},
      {"//tmp///x/", "/tmp/x"},
      {"/my%20file+2", "/my file 2"},
      {"/a%2Bb", "/a+b"},
  };
  for (const auto& [query, expected] : cases) {
    Api api;
    const Response response = api.call("GET", kFiles + "/info?path=" + query);
    INFO(query << " -> " << response.body);
    CHECK(response.status == 200);
    CHECK(api.services.last_path == expected);
  }
}

TEST_CASE("a missing, empty, NUL-holding or too long path is a 400 naming it", "[api][files]") {
  for (const std::string& query : std::vector<std::string>{
           "", "?path=", "?path=/a%00b", "?user=root", "?path=/" + std::string(4096, 'a'),
           "?path=%zz", "?path=/a&path=/b"}) {
    Api api;
    const Response response = api.call("GET", kFiles + "/info" + query);
    INFO(query.substr(0, 40) << " -> " << response.body.substr(0, 200));
    CHECK(response.status == 400);
    CHECK(errorCode(response) == "invalid_argument");
    CHECK(api.services.calls.empty());
  }
}

TEST_CASE("the file user defaults to user, may be root, and nothing else", "[api][files]") {
  Api api;
  api.call("GET", kFiles + "/info?path=/a");
  CHECK(api.services.last_user == "user");
  api.call("GET", kFiles + "/info?path=/a&user=root");
  CHECK(api.services.last_user == "root");
  const Response response = api.call("GET", kFiles + "/info?path=/a&user=nobody");
  CHECK(response.status == 400);
  CHECK(mentions(response, "'user'"));
}

TEST_CASE("a text read answers the path and the content", "[api][files]") {
  Api api;
  api.services.file_content = "hello\n";
  const Response response = api.call("GET", kFiles + "?path=~/a.txt");
  REQUIRE(response.status == 200);
  CHECK(jsonOf(response) == json{{"path", "/home/user/a.txt"}, {"content", "hello\n"}});
}

TEST_CASE("a text read of bytes that are not UTF-8 adds content_base64", "[api][files]") {
  Api api;
  api.services.file_content = std::string("\x80x", 2);
  const json body = jsonOf(api.call("GET", kFiles + "?path=/bin.dat"));
  CHECK(body.at("content") == "\xEF\xBF\xBDx");
  CHECK(body.at("content_base64") == "gHg=");
}

TEST_CASE("a text read over max_text_read_bytes is a 413, even if the file grew after open",
          "[api][files]") {
  Api api;
  api.limits.max_text_read_bytes = 4;
  api.services.file_content = "12345";
  CHECK(api.call("GET", kFiles + "?path=/a").status == 413);

  api.services.file_content = "1234567";
  api.services.reported_size = 2;
  CHECK(api.call("GET", kFiles + "?path=/a").status == 413);
}

TEST_CASE("a text read of a missing file is a 404 naming the sandbox", "[api][files]") {
  Api api;
  api.services.failures["openForRead"] = ErrnoError(ENOENT) << "open /a";
  const Response response = api.call("GET", kFiles + "?path=/a");
  CHECK(response.status == 404);
  CHECK(mentions(response, "open /a"));
  CHECK(jsonOf(response).at("error").at("sandbox_id") == kId);
}

TEST_CASE("a raw read hands the session the fd and size to stream", "[api][files]") {
  Api api;
  api.services.file_content = std::string("\0\1\2", 3);
  const Response response = api.call("GET", kFiles + "/raw?path=/blob");
  REQUIRE(response.status == 200);
  CHECK(response.content_type == "application/octet-stream");
  CHECK(response.file.valid());
  CHECK(response.file_size == 3);
  CHECK(response.body.empty());
  CHECK(readMemFile(response.file) == std::string("\0\1\2", 3));
}

TEST_CASE("a raw read of a directory is the 400 Services reports", "[api][files]") {
  Api api;
  api.services.failures["openForRead"] = ErrnoError(EISDIR) << "open /tmp";
  CHECK(api.call("GET", kFiles + "/raw?path=/tmp").status == 400);
}

TEST_CASE("a text write stores content and answers the entry", "[api][files]") {
  Api api;
  api.services.entry = fileEntry("/home/user/a.txt");
  const Response response = api.call("POST", kFiles + "?path=a.txt", json{{"content", "hi"}});
  REQUIRE(response.status == 200);
  CHECK(api.services.writtenBytes() == "hi");
  CHECK(api.services.last_path == "/home/user/a.txt");
  CHECK(jsonOf(response).at("permissions") == "rw-r--r--");
}

TEST_CASE("a text write of content_base64 stores the exact bytes", "[api][files]") {
  Api api;
  REQUIRE(api.call("POST", kFiles + "?path=/b", json{{"content_base64", "AP8K"}}).status == 200);
  CHECK(api.services.writtenBytes() == std::string("\x00\xff\n", 3));
}

TEST_CASE("a text write needs exactly one valid content field", "[api][files]") {
  for (const json& body : {json::object(), json{{"content", "a"}, {"content_base64", "YQ=="}},
                           json{{"content_base64", "not base64!"}}, json{{"content", 5}}}) {
    Api api;
    const Response response = api.call("POST", kFiles + "?path=/a", body);
    INFO(body.dump());
    CHECK(response.status == 400);
    CHECK(mentions(response, "'content"));
    CHECK_FALSE(api.services.called("openForWrite"));
  }
}

TEST_CASE("a text write on a full disk is a 507", "[api][files]") {
  Api api;
  api.services.failures["openForWrite"] = ErrnoError(ENOSPC) << "open /a";
  CHECK(api.call("POST", kFiles + "?path=/a", json{{"content", "x"}}).status == 507);
}

TEST_CASE("remove answers 204, and / cannot be removed", "[api][files]") {
  Api api;
  const Response response = api.call("DELETE", kFiles + "?path=/tmp/x");
  CHECK(response.status == 204);
  CHECK(response.body.empty());
  CHECK(api.services.last_path == "/tmp/x");

  Api root;
  CHECK(root.call("DELETE", kFiles + "?path=/tmp/../..").status == 400);
  CHECK_FALSE(root.services.called("removePath"));
}

TEST_CASE("removing a missing path is a 404", "[api][files]") {
  Api api;
  api.services.failures["removePath"] = ErrnoError(ENOENT) << "remove /x";
  CHECK(api.call("DELETE", kFiles + "?path=/x").status == 404);
}

TEST_CASE("rename normalises new_path and answers the new entry", "[api][files]") {
  Api api;
  api.services.entry = fileEntry("/home/user/b");
  const Response response =
      api.call("PATCH", kFiles + "?path=/home/user/a", json{{"new_path", "b"}});
  REQUIRE(response.status == 200);
  CHECK(api.services.last_path == "/home/user/a");
  CHECK(api.services.last_new_path == "/home/user/b");
  CHECK(jsonOf(response).at("name") == "b");
  CHECK(mentions(api.call("PATCH", kFiles + "?path=/a", "{}"), "'new_path'"));
  CHECK(mentions(api.call("PATCH", kFiles + "?path=/a", json{{"new_path", ""}}), "'new_path'"));
}

TEST_CASE("list depth defaults to 1 and must be 1 .. max_list_depth", "[api][files]") {
  Api api;
  api.services.listing = {fileEntry("/a/x"), fileEntry("/a/y")};
  const Response response = api.call("GET", kFiles + "/list?path=/a");
  REQUIRE(response.status == 200);
  CHECK(api.services.last_depth == 1);
  CHECK(jsonOf(response).at("entries").size() == 2);
  api.call("GET", kFiles + "/list?path=/a&depth=16");
  CHECK(api.services.last_depth == 16);
  for (const std::string& depth :
       std::vector<std::string>{"0", "17", "-1", "1.5", "abc", "", "99999999999999999999"}) {
    INFO(depth);
    CHECK(mentions(api.call("GET", kFiles + "/list?path=/a&depth=" + depth), "'depth'"));
  }
}

TEST_CASE("a listing with file names that are not UTF-8 is still valid JSON", "[api][files]") {
  Api api;
  api.services.listing = {fileEntry(std::string("/a/\xff\xfe"))};
  const Response response = api.call("GET", kFiles + "/list?path=/a");
  REQUIRE(response.status == 200);
  CHECK(jsonOf(response).at("entries")[0].at("name") == "\xEF\xBF\xBD\xEF\xBF\xBD");
}

TEST_CASE("info describes a symlink with its target", "[api][files]") {
  Api api;
  api.services.entry = fileEntry("/l");
  api.services.entry.type = "symlink";
  api.services.entry.symlink_target = "/etc/passwd";
  const json entry = jsonOf(api.call("GET", kFiles + "/info?path=/l"));
  CHECK(entry.at("type") == "symlink");
  CHECK(entry.at("symlink_target") == "/etc/passwd");
}

TEST_CASE("exists is false for ENOENT and ENOTDIR, an error for anything else", "[api][files]") {
  Api api;
  CHECK(jsonOf(api.call("GET", kFiles + "/exists?path=/a")) == json{{"exists", true}});
  api.services.failures["statPath"] = ErrnoError(ENOENT) << "stat";
  CHECK(jsonOf(api.call("GET", kFiles + "/exists?path=/a")) == json{{"exists", false}});
  api.services.failures["statPath"] = ErrnoError(ENOTDIR) << "stat";
  CHECK(jsonOf(api.call("GET", kFiles + "/exists?path=/file/x")) == json{{"exists", false}});
  api.services.failures["statPath"] = ErrnoError(EACCES) << "stat";
  CHECK(api.call("GET", kFiles + "/exists?path=/root/x").status == 403);
}

TEST_CASE("exists on an unknown sandbox is a 404, not false", "[api][files]") {
  Api api;
  api.services.failures["statPath"] = ErrnoError(ENOENT) << "sandbox sbx-x not found";
  api.services.failures["getSandbox"] = ErrnoError(ENOENT) << "sandbox sbx-x not found";
  CHECK(api.call("GET", kFiles + "/exists?path=/a").status == 404);
}

TEST_CASE("mkdir is 201 when created, 200 when it was already a directory, 409 on a file",
          "[api][files]") {
  Api api;
  Response created = api.call("POST", kFiles + "/mkdir?path=/d");
  CHECK(created.status == 201);
  CHECK(jsonOf(created) == json{{"created", true}});
  api.services.make_dir_creates = false;
  Response existed = api.call("POST", kFiles + "/mkdir?path=/d");
  CHECK(existed.status == 200);
  CHECK(jsonOf(existed) == json{{"created", false}});
  api.services.failures["makeDir"] = ErrnoError(EEXIST) << "mkdir /d";
  CHECK(api.call("POST", kFiles + "/mkdir?path=/d").status == 409);
}

TEST_CASE("only PUT .../files/raw is an upload", "[api][upload]") {
  CHECK(Router::isUpload("PUT", kFiles + "/raw?path=/a"));
  CHECK(Router::isUpload("PUT", "/v1/sandboxes/not-an-id/files/raw"));  // beginUpload says 404
  CHECK_FALSE(Router::isUpload("GET", kFiles + "/raw?path=/a"));
  CHECK_FALSE(Router::isUpload("POST", kFiles + "/raw?path=/a"));
  CHECK_FALSE(Router::isUpload("PUT", kFiles + "?path=/a"));
  CHECK_FALSE(Router::isUpload("PUT", kSandbox));
  CHECK_FALSE(Router::isUpload("PUT", "/v1/sandboxes/%zz/files/raw"));
}

TEST_CASE("an upload opens the destination and tells the session where to stream",
          "[api][upload]") {
  Api api;
  auto begun = api.router.beginUpload(
      api.caller, Request{"PUT", kFiles + "/raw?path=up.bin&user=root", "", ""}, 3);
  REQUIRE(std::holds_alternative<Upload>(begun));
  Upload& upload = std::get<Upload>(begun);
  CHECK(upload.sink.valid());
  CHECK(upload.sandbox_id == kId);
  CHECK(upload.path == "/home/user/up.bin");
  CHECK(upload.user == "root");
  CHECK(upload.caller.uid == 1000);
  REQUIRE(writeAll(upload.sink.get(), "abc").ok());
  CHECK(api.services.writtenBytes() == "abc");

  api.services.entry = fileEntry("/home/user/up.bin");
  const Response done = api.router.finishUpload(upload, 3);
  CHECK(done.status == 200);
  CHECK(api.services.calls.back() == "statPath");
  CHECK(api.services.last_user == "root");
  CHECK(jsonOf(done).at("path") == "/home/user/up.bin");
}

TEST_CASE("an upload declared over max_upload_bytes is a 413 before anything is opened",
          "[api][upload]") {
  Api api;
  api.limits.max_upload_bytes = 10;
  auto begun =
      api.router.beginUpload(api.caller, Request{"PUT", kFiles + "/raw?path=/a", "", ""}, 11);
  REQUIRE(std::holds_alternative<Response>(begun));
  CHECK(std::get<Response>(begun).status == 413);
  CHECK(api.services.calls.empty());

  Upload upload;
  upload.sandbox_id = kId;
  CHECK(api.router.finishUpload(upload, 11).status == 413);
}

TEST_CASE("an upload to a bad id, a bad path or an unwritable file answers an error",
          "[api][upload]") {
  Api api;
  auto bad_id = api.router.beginUpload(
      api.caller, Request{"PUT", "/v1/sandboxes/x/files/raw?path=/a", "", ""}, 0);
  CHECK(std::get<Response>(bad_id).status == 404);
  auto bad_path = api.router.beginUpload(api.caller, Request{"PUT", kFiles + "/raw", "", ""}, 0);
  CHECK(std::get<Response>(bad_path).status == 400);
  api.services.failures["openForWrite"] = ErrnoError(EACCES) << "open /etc/x";
  auto denied =
      api.router.beginUpload(api.caller, Request{"PUT", kFiles + "/raw?path=/etc/x", "", ""}, 0);
  const Response& response = std::get<Response>(denied);
  CHECK(response.status == 403);
  CHECK(jsonOf(response).at("error").at("sandbox_id") == kId);
  auto not_upload =
      api.router.beginUpload(api.caller, Request{"GET", kFiles + "/raw?path=/a", "", ""}, 0);
  CHECK(std::get<Response>(not_upload).status == 500);
}

TEST_CASE("finishing an upload whose file vanished reports the stat error", "[api][upload]") {
  Api api;
  api.services.failures["statPath"] = ErrnoError(ENOENT) << "stat /a";
  Upload upload;
  upload.sandbox_id = kId;
  upload.path = "/a";
  const Response response = api.router.finishUpload(upload, 0);
  CHECK(response.status == 404);
  CHECK(jsonOf(response).at("error").at("sandbox_id") == kId);
}

TEST_CASE("a raw PUT that the session buffered is written in one go", "[api][upload]") {
  Api api;
  api.limits.max_json_body_bytes = 2;  // raw bodies are held to max_upload_bytes instead
  REQUIRE(api.call("PUT", kFiles + "/raw?path=/a", std::string("\0raw", 4)).status == 200);
  CHECK(api.services.writtenBytes() == std::string("\0raw", 4));
  api.limits.max_upload_bytes = 3;
  CHECK(api.call("PUT", kFiles + "/raw?path=/a", "four").status == 413);
}

WatchEvent change(std::string type, std::string name) {
  WatchEvent e;
  e.kind = WatchEvent::Kind::kChange;
  e.type = std::move(type);
  e.name = std::move(name);
  return e;
}

TEST_CASE("a watch answers start, its changes, lost and end as SSE", "[api][files]") {
  Api api;
  WatchEvent lost;
  lost.kind = WatchEvent::Kind::kLost;
  WatchEvent end;
  end.reason = "removed";
  end.message = "the watched directory was removed";
  api.services.watch_events = {change("create", "a.txt"), std::nullopt, lost,
                               change("write", "sub/b"), end};
  Response response = api.call("GET", kFiles + "/watch?path=~/w&recursive=true&user=root");
  REQUIRE(response.status == 200);
  CHECK(response.content_type == "text/event-stream");
  CHECK(api.services.last_path == "/home/user/w");
  CHECK(api.services.last_user == "root");
  CHECK(api.services.last_recursive);
  REQUIRE(response.stream);
  std::string body;
  for (int i = 0; i < 20; ++i) {
    auto piece = response.stream->next(std::chrono::milliseconds(0));
    if (!piece) break;
    body += *piece;
  }
  CHECK(response.stream->keepAlive() == ": keep-alive\n\n");
  CHECK(body ==
        "event: start\ndata: {\"path\":\"/home/user/w\"}\n\n"
        "event: fs\ndata: {\"name\":\"a.txt\",\"type\":\"create\"}\n\n"
        "event: lost\ndata: {\"reason\":\"overflow\"}\n\n"
        "event: fs\ndata: {\"name\":\"sub/b\",\"type\":\"write\"}\n\n"
        "event: end\ndata: {\"message\":\"the watched directory was removed\","
        "\"reason\":\"removed\"}\n\n");
}

TEST_CASE("a watch is not recursive unless asked; bad flags and paths are 400s", "[api][files]") {
  Api api;
  CHECK(api.call("GET", kFiles + "/watch?path=/tmp").status == 200);
  CHECK_FALSE(api.services.last_recursive);
  CHECK(api.services.last_user == "user");
  Response bad = api.call("GET", kFiles + "/watch?path=/tmp&recursive=yes");
  CHECK(bad.status == 400);
  CHECK(bad.body.find("'recursive' must be true or false, not 'yes'") != std::string::npos);
  CHECK(api.call("GET", kFiles + "/watch").status == 400);
  CHECK(api.call("GET", kFiles + "/watch?path=/tmp&user=nobody").status == 400);
  CHECK(api.call("POST", kFiles + "/watch?path=/tmp").status == 405);
}

TEST_CASE("watch errors map as file errors: missing 404, a file 400, over the bound 413",
          "[api][files]") {
  const std::vector<std::pair<int, int>> cases = {
      {ENOENT, 404}, {ENOTDIR, 400}, {E2BIG, 413}, {EACCES, 403}, {ESRCH, 409}};
  for (const auto& [code, status] : cases) {
    Api api;
    api.services.failures["watchDir"] = ErrnoError(code) << "watch /x";
    CHECK(api.call("GET", kFiles + "/watch?path=/x").status == status);
  }
}

TEST_CASE("ports: GET forwards, POST adds a TCP listener, DELETE ends it", "[api][ports]") {
  Api api;
  api.services.port_info = PortInfo{8000, "/run/declaw/ports/sbx/8000.sock", std::nullopt};
  Response got = api.call("GET", kSandbox + "/ports/8000");
  REQUIRE(got.status == 200);
  CHECK(jsonOf(got) == json{{"port", 8000},
                            {"unix_socket", "/run/declaw/ports/sbx/8000.sock"},
                            {"host", nullptr}});
  CHECK(api.services.last_port == 8000);
  CHECK_FALSE(api.services.last_listen.has_value());
  api.services.port_info.host = "127.0.0.1:40000";
  CHECK(jsonOf(api.call("POST", kSandbox + "/ports/8000", "{}"))["host"] == "127.0.0.1:40000");
  CHECK(api.services.last_listen == "127.0.0.1:0");  // the default
  api.call("POST", kSandbox + "/ports/8000", R"({"listen": "[::1]:9000"})");
  CHECK(api.services.last_listen == "[::1]:9000");
  CHECK(api.call("DELETE", kSandbox + "/ports/8000").status == 204);
  CHECK(jsonOf(api.call("GET", kSandbox + "/ports"))["ports"].size() == 1);
}

TEST_CASE("a port is 1..65535; refusals map to their statuses", "[api][ports]") {
  Api api;
  for (const char* bad : {"0", "65536", "abc", "-1", "123456", "8o"}) {
    INFO(bad);
    CHECK(api.call("GET", kSandbox + "/ports/" + bad).status == 400);
  }
  CHECK(api.call("POST", kSandbox + "/ports/80", R"({"listen": 5})").status == 400);
  api.services.failures["forwardPort"] = ErrnoError(ENOTCONN) << "no inet sockets";
  CHECK(api.call("GET", kSandbox + "/ports/80").status == 409);
  api.services.failures["forwardPort"] = ErrnoError(EDQUOT) << "too many";
  CHECK(api.call("GET", kSandbox + "/ports/80").status == 429);
  api.services.failures["closePort"] = ErrnoError(ENOENT) << "not forwarded";
  CHECK(api.call("DELETE", kSandbox + "/ports/80").status == 404);
}

}  // namespace
}  // namespace declaw::api::testing
