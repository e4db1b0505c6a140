// The daemon<->init wire format: round trips, and malformed input (which sandbox code may send
// if it takes init over) is rejected rather than misread.
#include "runtime/protocol.h"

#include <catch2/catch.hpp>

using namespace declaw::runtime;

TEST_CASE("a spawn request survives encoding with every field intact") {
  SpawnRequest in;
  in.request_id = 42;
  in.argv = {"/bin/bash", "-l", "-c", "echo 'hi'\n"};
  in.env = {"A=1", std::string("B=\xff\x00z", 4)};
  in.cwd = "/home/user";
  in.uid = 1000;
  in.gid = 1000;
  in.keep_caps = true;
  SpawnRequest out;
  REQUIRE(decode(encode(in), out));
  CHECK(out.request_id == 42);
  CHECK(out.argv == in.argv);
  CHECK(out.env == in.env);
  CHECK(out.cwd == in.cwd);
  CHECK(out.uid == 1000);
  CHECK(out.keep_caps);
  CHECK_FALSE(out.pty);
}

TEST_CASE("a PTY spawn request keeps its terminal size") {
  SpawnRequest in;
  in.argv = {"/bin/bash"};
  in.pty = true;
  in.rows = 40;
  in.cols = 132;
  SpawnRequest out;
  REQUIRE(decode(encode(in), out));
  CHECK(out.pty);
  CHECK(out.rows == 40);
  CHECK(out.cols == 132);
}

TEST_CASE("a spawn request carries its fallback argv, or none") {
  SpawnRequest in;
  in.argv = {"/bin/bash", "-c", "echo hi"};
  in.fallback_argv = {"/bin/sh", "-c", "echo hi"};
  in.fallback_cwd = "/home/user";
  SpawnRequest out;
  REQUIRE(decode(encode(in), out));
  CHECK(out.argv == in.argv);
  CHECK(out.fallback_argv == in.fallback_argv);
  CHECK(out.fallback_cwd == "/home/user");
  CHECK_FALSE(out.search_path);
  in.fallback_argv.clear();
  REQUIRE(decode(encode(in), out));
  CHECK(out.fallback_argv.empty());
}

TEST_CASE("a spawn request says whether argv[0] is looked up in PATH") {
  SpawnRequest in;
  in.argv = {"python3", "-c", "print(1)"};
  in.search_path = true;
  SpawnRequest out;
  REQUIRE(decode(encode(in), out));
  CHECK(out.argv == in.argv);
  CHECK(out.search_path);
}

TEST_CASE("the init config carries the host facts the daemon probed, or none") {
  InitConfig in;
  in.sandbox_id = "sbx-abc";
  InitConfig out;
  REQUIRE(decode(encode(in), out));
  CHECK_FALSE(out.host.has_value());
  HostFacts facts;
  facts.set("/usr", {HostKind::kDirectory, "", 0755});
  facts.set("/lib", {HostKind::kSymlink, "usr/lib", 0777});
  facts.set("/etc/passwd", {HostKind::kFile, "", 0644});
  facts.set("/dev/null", {HostKind::kCharDevice, "", 0666});
  in.host = facts;
  REQUIRE(decode(encode(in), out));
  REQUIRE(out.host.has_value());
  CHECK(*out.host == facts);
  CHECK(out.host->at("/lib").symlink_target == "usr/lib");
}

TEST_CASE("host facts with a relative path, a bad kind or mode do not decode") {
  for (const auto& [path, entry] :
       std::vector<std::pair<std::string, HostEntry>>{{"etc/passwd", {HostKind::kFile, "", 0644}},
                                                      {"", {HostKind::kFile, "", 0644}},
                                                      {"/x", {HostKind::kFile, "", 010000}}}) {
    InitConfig in;
    in.host = HostFacts{};
    in.host->set(path, entry);
    InitConfig out;
    INFO(path);
    CHECK_FALSE(decode(encode(in), out));
  }
  InitConfig in;
  in.host = HostFacts{};
  in.host->set("/x", {HostKind::kFile, "", 0644});
  std::string packet = encode(in);
  // The kind byte sits after the path: 4-byte length, "/x".
  const size_t kind_at = packet.size() - (4 + 0) - 4 - 1;
  packet[kind_at] = 9;
  InitConfig out;
  CHECK_FALSE(decode(packet, out));
}

TEST_CASE("the init config carries the seccomp program byte for byte") {
  InitConfig in;
  in.sandbox_id = "sbx-abc";
  in.hostname = "sbx-abc";
  in.template_name = "python";
  in.root_kind = RootKind::kHost;
  in.usr_mount = true;
  in.skeleton = true;
  in.seccomp_bpf = {0, 1, 2, 255, 0};
  InitConfig out;
  REQUIRE(decode(encode(in), out));
  CHECK(out.seccomp_bpf == in.seccomp_bpf);
  CHECK(out.root_kind == RootKind::kHost);
  CHECK(out.usr_mount);
  CHECK(out.skeleton);
  CHECK(out.template_name == "python");
  in.root_kind = RootKind::kImage;
  in.usr_mount = false;
  in.skeleton = false;
  REQUIRE(decode(encode(in), out));
  CHECK(out.root_kind == RootKind::kImage);
  CHECK_FALSE(out.usr_mount);
  CHECK_FALSE(out.skeleton);
  // A root kind init does not know is refused, not guessed.
  std::string bad = encode(in);
  const size_t kind_at = bad.find("python") + std::string("python").size();
  bad[kind_at] = 7;
  CHECK_FALSE(decode(bad, out));
}

TEST_CASE("the init config carries the sandbox's network, or says it has none") {
  InitConfig in;
  in.sandbox_id = "sbx-net";
  in.seccomp_bpf = {1, 2, 3};
  InitConfig out;
  out.network = NetworkConfig{};  // decode must clear what the target held
  REQUIRE(decode(encode(in), out));
  CHECK_FALSE(out.network.has_value());

  NetworkConfig net;
  net.interface = "eth0";
  net.address = "198.18.0.6";
  net.prefix_len = 30;
  net.gateway = "198.18.0.5";
  net.nameserver = "198.18.0.5";
  net.address6 = "fd00:dc::6";
  net.prefix_len6 = 126;
  net.gateway6 = "fd00:dc::5";
  in.network = net;
  REQUIRE(decode(encode(in), out));
  REQUIRE(out.network.has_value());
  CHECK(*out.network == net);
  CHECK(out.network->hasIpv6());
  CHECK(out.seccomp_bpf == in.seccomp_bpf);
}

TEST_CASE("an init config with a network is rejected when truncated or its flag is not 0/1") {
  InitConfig in;
  in.network = NetworkConfig{"eth0", "198.18.0.2", 30, "198.18.0.1", "198.18.0.1", "", 126, ""};
  std::string wire = encode(in);
  for (size_t len = 0; len < wire.size(); ++len) {
    InitConfig out;
    CHECK_FALSE(decode(std::string_view(wire).substr(0, len), out));
  }
  InitConfig without;
  std::string flag_at_end = encode(without);
  flag_at_end.back() = 2;
  InitConfig out;
  CHECK_FALSE(decode(flag_at_end, out));
}

TEST_CASE("a reply, an exit report and a file op round trip") {
  Reply r{7, 2, "open /x", -5, std::string("p\0q", 3)};
  Reply r2;
  REQUIRE(decode(encode(r), r2));
  CHECK(r2.request_id == 7);
  CHECK(r2.error == 2);
  CHECK(r2.value == -5);
  CHECK(r2.payload == r.payload);

  Exited e{123, 9};
  Exited e2;
  REQUIRE(decode(encode(e), e2));
  CHECK(e2.pid == 123);
  CHECK(e2.wait_status == 9);

  FileOpRequest f;
  f.kind = FileOpKind::kRename;
  f.path = "/a";
  f.path2 = "/b";
  FileOpRequest f2;
  REQUIRE(decode(encode(f), f2));
  CHECK(f2.kind == FileOpKind::kRename);
  CHECK(f2.path2 == "/b");
}

TEST_CASE("entries round trip, alone and as a list") {
  Entry a{"a", "/a", EntryType::kSymlink, 3, 0777, 1000, 1000, 1700000000, "/etc/passwd"};
  Entry b{"b", "/b", EntryType::kDir, 0, 0755, 0, 0, 0, ""};
  Entry one;
  REQUIRE(decodeEntry(encodeEntry(a), one));
  CHECK(one.symlink_target == "/etc/passwd");
  CHECK(one.type == EntryType::kSymlink);
  std::vector<Entry> list;
  REQUIRE(decodeEntries(encodeEntries({a, b}), list));
  REQUIRE(list.size() == 2);
  CHECK(list[1].path == "/b");
}

TEST_CASE("a message of another type is not decoded as this one") {
  Exited e;
  CHECK_FALSE(decode(encode(Reply{}), e));
  CHECK_FALSE(decode("", e));
}

TEST_CASE("every truncation of a valid message is rejected") {
  SpawnRequest in;
  in.argv = {"/bin/true", "x"};
  in.env = {"A=B"};
  std::string wire = encode(in);
  for (size_t len = 0; len < wire.size(); ++len) {
    SpawnRequest out;
    CHECK_FALSE(decode(std::string_view(wire).substr(0, len), out));
  }
}

TEST_CASE("trailing bytes after a valid message are rejected") {
  Exited out;
  CHECK_FALSE(decode(encode(Exited{1, 0}) + "x", out));
}

TEST_CASE("a string length beyond the packet is rejected, not read past the end") {
  WireWriter w(MsgType::kSetupFailed);
  w.i32(1);
  w.u32(0xFFFFFFF0u);  // claims a 4 GiB message string
  SetupFailed out;
  CHECK_FALSE(decode(w.data(), out));
}

TEST_CASE("a list count larger than the data is rejected without allocating it") {
  WireWriter w;
  w.u32(0x7FFFFFFFu);
  std::vector<Entry> out;
  CHECK_FALSE(decodeEntries(w.data(), out));
}

TEST_CASE("an unknown file op kind is rejected") {
  FileOpRequest f;
  std::string wire = encode(f);
  wire[9] = 99;  // the kind byte follows the type byte and the 8-byte request id
  FileOpRequest out;
  CHECK_FALSE(decode(wire, out));
}

TEST_CASE("live restore: a held spawn, hold, attach and the held list round trip") {
  SpawnRequest spawn;
  spawn.argv = {"/bin/true"};
  spawn.hold = true;
  spawn.hold_stdin = true;
  spawn.note = R"({"cmd":"true"})";
  SpawnRequest spawned;
  REQUIRE(decode(encode(spawn), spawned));
  CHECK(spawned.hold);
  CHECK(spawned.hold_stdin);
  CHECK(spawned.note == spawn.note);

  ReleaseStdin release;
  REQUIRE(decode(encode(ReleaseStdin{.pid = 42}), release));
  CHECK(release.pid == 42);
  CHECK_FALSE(decode(encode(ReleaseStdin{.pid = 42}) + "x", release));

  CHECK(decodeHold(encodeHold()));
  CHECK_FALSE(decodeHold(encodeReady()));
  // The zygote's two messages carry nothing but their type (and fds).
  CHECK(decodeZygote(encodeZygote()));
  CHECK_FALSE(decodeZygote(encodeZygote() + "x"));
  CHECK_FALSE(decodeZygote(encodeLaunch()));
  CHECK(decodeLaunch(encodeLaunch()));
  CHECK_FALSE(decodeLaunch(encodeHold()));

  Attach attach;
  REQUIRE(decode(encode(Attach{}), attach));
  CHECK(attach.version == kProtocolVersion);

  Held in{.pid = 77, .exited = true, .wait_status = 9, .pty = false, .stdin = true, .note = "{}"};
  Held out;
  REQUIRE(decode(encode(in), out));
  CHECK(out.pid == 77);
  CHECK(out.exited);
  CHECK(out.wait_status == 9);
  CHECK_FALSE(out.pty);
  CHECK(out.stdin);
  CHECK(out.note == "{}");

  Attached done;
  REQUIRE(decode(encode(Attached{.version = kProtocolVersion, .held = 3}), done));
  CHECK(done.held == 3);
}

TEST_CASE("an attach answer of another protocol version is refused, its version still read") {
  // A later init might lay out the rest differently: only the version is read.
  Attached done;
  CHECK_FALSE(decode(encode(Attached{.version = kProtocolVersion + 1, .held = 3}), done));
  CHECK(done.version == kProtocolVersion + 1);
  std::string longer = encode(Attached{.version = kProtocolVersion + 1, .held = 0}) + "extra";
  CHECK_FALSE(decode(longer, done));
  CHECK(done.version == kProtocolVersion + 1);
}

TEST_CASE("a held process's note over its limit, or a truncated one, is refused") {
  Held big{.pid = 1,
           .exited = false,
           .wait_status = 0,
           .pty = false,
           .stdin = false,
           .note = std::string(kMaxNoteBytes + 1, 'x')};
  Held out;
  CHECK_FALSE(decode(encode(big), out));
  std::string packet = encode(Held{
      .pid = 1, .exited = false, .wait_status = 0, .pty = false, .stdin = false, .note = "abc"});
  CHECK_FALSE(decode(std::string_view(packet).substr(0, packet.size() - 1), out));
  SpawnRequest spawn;
  spawn.argv = {"/bin/true"};
  spawn.note = std::string(kMaxNoteBytes + 1, 'x');
  SpawnRequest spawned;
  CHECK_FALSE(decode(encode(spawn), spawned));
}
