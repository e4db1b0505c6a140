// Pure daemon logic: the uid range pool, command environments, the config file.
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <fstream>
#include <mutex>
#include <set>

#include "daemon/command_env.h"
#include "daemon/config.h"
#include "daemon/id_pool.h"
#include "daemon/launch_ahead.h"
#include "daemon/output_buffer.h"
#include "daemon/templates.h"
#include "runtime/launcher.h"

using namespace declaw;

TEST_CASE("each live sandbox gets its own 65536-id range, reused after release") {
  daemon::IdPool pool(1u << 28, 3);
  auto a = pool.acquire();
  auto b = pool.acquire();
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a == 1u << 28);
  CHECK(*b == (1u << 28) + 65536);
  auto c = pool.acquire();
  REQUIRE(c);
  CHECK_FALSE(pool.acquire());  // exhausted
  pool.release(*b);
  CHECK(pool.acquire() == b);
  CHECK(pool.inUse() == 3);
}

TEST_CASE("only slot bases of the pool can be reserved") {
  daemon::IdPool pool(1000000, 2);
  CHECK_FALSE(pool.reserve(1000001));
  CHECK_FALSE(pool.reserve(999999));
  CHECK_FALSE(pool.reserve(1000000 + 2 * 65536));
  CHECK(pool.reserve(1000000 + 65536));
  CHECK(pool.inUse() == 1);
}

TEST_CASE("the id map line maps sandbox root to the range base") {
  CHECK(runtime::idMapLine({268435456, 65536}) == "0 268435456 65536\n");
}

TEST_CASE("an image's Env overrides the defaults, and sandbox and command envs override it") {
  auto env = daemon::commandEnvironment(
      "user", "/home/user", {"PATH=/opt/bin:/bin", "IMG=1", "A=image", "B=image", "=bad"},
      {{"B", "sandbox"}}, {{"A", "command"}});
  auto has = [&](const std::string& kv) {
    return std::find(env.begin(), env.end(), kv) != env.end();
  };
  CHECK(has("PATH=/opt/bin:/bin"));
  CHECK(has("IMG=1"));
  CHECK(has("A=command"));
  CHECK(has("B=sandbox"));
  CHECK(has("HOME=/home/user"));
  CHECK(std::none_of(env.begin(), env.end(), [](const std::string& s) { return s[0] == '='; }));
}

TEST_CASE("an image's User becomes root or user; other users run as user, with a note") {
  CHECK(daemon::defaultUserFor("") == "user");
  CHECK(daemon::defaultUserFor("root") == "root");
  CHECK(daemon::defaultUserFor("0") == "root");
  CHECK(daemon::defaultUserFor("0:0") == "root");
  CHECK(daemon::defaultUserFor("1000") == "user");
  CHECK(daemon::defaultUserFor("user:user") == "user");
  std::string note;
  CHECK(daemon::defaultUserFor("nginx", &note) == "user");
  CHECK(note.find("nginx") != std::string::npos);
}

TEST_CASE("command envs override sandbox envs, which override the defaults") {
  auto env = daemon::commandEnvironment("user", "/home/user", {},
                                        {{"A", "sandbox"}, {"HOME", "/x"}}, {{"A", "command"}});
  CHECK(std::find(env.begin(), env.end(), "A=command") != env.end());
  CHECK(std::find(env.begin(), env.end(), "HOME=/x") != env.end());
  CHECK(std::find(env.begin(), env.end(), "USER=user") != env.end());
  CHECK(std::find_if(env.begin(), env.end(),
                     [](const std::string& s) { return s.rfind("PATH=", 0) == 0; }) != env.end());
}

namespace {
std::string writeTemp(const std::string& text) {
  char path[] = "/tmp/declaw-config-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
  close(fd);
  return path;
}
}  // namespace

TEST_CASE("a config file sets limits and keeps the other defaults") {
  auto path = writeTemp(R"({"max_sandboxes": 3, "max_output_bytes": 1024})");
  daemon::Config c;
  REQUIRE(daemon::loadConfigFile(path, c));
  CHECK(c.limits.max_sandboxes == 3);
  CHECK(c.limits.max_output_bytes == 1024);
  CHECK(c.limits.idle_timeout_s == daemon::Config{}.limits.idle_timeout_s);
  unlink(path.c_str());
}

TEST_CASE("a config file with a typo or a wrong type is refused with the key named") {
  auto typo = writeTemp(R"({"max_sandboxs": 3})");
  daemon::Config c;
  auto r = daemon::loadConfigFile(typo, c);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("max_sandboxs") != std::string::npos);
  auto wrong = writeTemp(R"({"max_sandboxes": "many"})");
  auto r2 = daemon::loadConfigFile(wrong, c);
  REQUIRE_FALSE(r2);
  CHECK(r2.error().message.find("max_sandboxes") != std::string::npos);
  unlink(typo.c_str());
  unlink(wrong.c_str());
}

TEST_CASE("a config file's warm pool maps templates to counts, within bounds") {
  auto good = writeTemp(R"({"pool": {"python": 4, "base": 2}})");
  daemon::Config c;
  REQUIRE(daemon::loadConfigFile(good, c));
  CHECK(c.pool == std::map<std::string, uint32_t>{{"base", 2}, {"python", 4}});
  for (const char* bad :
       {R"({"pool": {"base": -1}})", R"({"pool": ["base"]})", R"({"pool": {"base": 65}})",
        R"({"pool": {"": 1}})", R"({"pool": {"a": 60, "b": 60}, "id_pool_slots": 100})"}) {
    auto path = writeTemp(bad);
    daemon::Config d;
    auto r = daemon::loadConfigFile(path, d);
    CHECK_FALSE(r);
    if (!r) CHECK(r.error().message.find("pool") != std::string::npos);
    unlink(path.c_str());
  }
  unlink(good.c_str());
}

TEST_CASE("launch_ahead is at most 16, and counts with the pool against the id ranges") {
  auto good = writeTemp(R"({"launch_ahead": 0})");
  daemon::Config c;
  REQUIRE(daemon::loadConfigFile(good, c));
  CHECK(c.launch_ahead == 0);
  CHECK(daemon::Config{}.launch_ahead == 2);
  for (const char* bad : {R"({"launch_ahead": 17})", R"({"launch_ahead": -1})",
                          R"({"launch_ahead": 10, "pool": {"base": 5}, "id_pool_slots": 15})"}) {
    INFO(bad);
    auto path = writeTemp(bad);
    daemon::Config d;
    auto r = daemon::loadConfigFile(path, d);
    CHECK_FALSE(r);
    if (!r) CHECK(r.error().message.find("launch_ahead") != std::string::npos);
    unlink(path.c_str());
  }
  unlink(good.c_str());
}

// --- inits launched ahead ---------------------------------------------------------------------

namespace {
// A stand-in for a launched init: a pidfd of a child that runs until killed (or exits at once,
// as one that died while it waited).
daemon::AheadInit fakeInit(const std::string& id, bool dead) {
  pid_t pid = ::fork();
  if (pid == 0) {
    if (!dead) ::pause();
    ::_exit(0);
  }
  daemon::AheadInit a;
  a.id = id;
  a.init.pid = pid;
  a.init.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (dead) {
    siginfo_t info{};
    ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);  // exited, not reaped
  }
  return a;
}

void endFake(daemon::AheadInit& a) {
  ::kill(a.init.pid, SIGKILL);
  ::waitpid(a.init.pid, nullptr, 0);
}

// A launch of fake inits "i1", "i2", ..., counted in `launched` (under `m`).
daemon::LaunchAhead::Launch countedLaunch(std::mutex& m, int& launched) {
  return [&m, &launched]() -> Result<daemon::AheadInit> {
    std::lock_guard lock(m);
    return fakeInit("i" + std::to_string(++launched), false);
  };
}

// Waits (5 s at most) until `ahead` holds n ready inits; how many it holds then.
size_t waitForReady(const daemon::LaunchAhead& ahead, size_t n) {
  for (int i = 0; i < 2500 && ahead.ready() != n; ++i) ::usleep(2000);
  return ahead.ready();
}
}  // namespace

TEST_CASE("launch ahead keeps its slots full, hands each out once, and discards what is left") {
  std::mutex m;
  int launched = 0;
  std::vector<std::string> discarded;
  bool next_dead = false;
  daemon::LaunchAhead ahead(
      2,
      [&]() -> Result<daemon::AheadInit> {
        std::lock_guard lock(m);
        const bool dead = next_dead;
        next_dead = false;
        return fakeInit("i" + std::to_string(++launched), dead);
      },
      [&](daemon::AheadInit& a) {
        endFake(a);
        std::lock_guard lock(m);
        discarded.push_back(a.id);
      });
  CHECK_FALSE(ahead.take());  // not started: nothing ready, a miss
  CHECK(ahead.misses() == 1);
  ahead.start();
  REQUIRE(waitForReady(ahead, 2) == 2);
  auto first = ahead.take();
  REQUIRE(first);
  CHECK(ahead.hits() == 1);
  REQUIRE(waitForReady(ahead, 2) == 2);  // refilled
  {
    std::lock_guard lock(m);
    CHECK(launched == 3);
    next_dead = true;  // the next one dies while it waits
  }
  auto second = ahead.take();
  REQUIRE(second);
  REQUIRE(waitForReady(ahead, 2) == 2);
  // Two ready, the older alive, the newer dead: a take skips and discards the dead one.
  auto third = ahead.take();
  REQUIRE(third);
  CHECK(third->id != "i4");
  auto fourth = ahead.take();  // i4 died; i5 may be ready by now, or not yet
  if (fourth) CHECK(fourth->id != "i4");
  {
    std::lock_guard lock(m);
    CHECK(discarded == std::vector<std::string>{"i4"});
  }
  // (Two fillers launch side by side: which id is ready first is theirs to say.)
  CHECK(std::set<std::string>{first->id, second->id, third->id}.size() == 3);
  for (auto* a : {&*first, &*second, &*third}) endFake(*a);
  if (fourth) endFake(*fourth);
  REQUIRE(waitForReady(ahead, 2) == 2);
  ahead.stop();  // discards the two ready ones
  std::lock_guard lock(m);
  CHECK(discarded.size() == 3);
  CHECK(ahead.ready() == 0);
}

TEST_CASE("launch ahead refills after a create's first command, or its settle time") {
  using Kind = daemon::LaunchAhead::Foreground::Kind;
  for (const bool command_comes : {true, false}) {
    std::mutex m;
    int launched = 0;
    daemon::LaunchAhead ahead(
        1, countedLaunch(m, launched), [&](daemon::AheadInit& a) { endFake(a); },
        std::chrono::hours(1), 0, std::chrono::milliseconds(400));
    ahead.start();
    REQUIRE(waitForReady(ahead, 1) == 1);
    std::optional<daemon::AheadInit> taken;
    const auto create_ended = std::chrono::steady_clock::now();
    {
      daemon::LaunchAhead::Foreground creating(&ahead, Kind::kCreate);
      taken = ahead.take();
      REQUIRE(taken);
    }
    ::usleep(100000);  // within the settle time: the new sandbox's first command may come
    CHECK(ahead.ready() == 0);
    if (command_comes) {
      {
        daemon::LaunchAhead::Foreground running(&ahead, Kind::kCommand);
        ::usleep(100000);  // a command of 100 ms: no refill meanwhile
        CHECK(ahead.ready() == 0);
      }
      // Its end ends the wait, well before the settle time would have.
      CHECK(waitForReady(ahead, 1) == 1);
      CHECK(std::chrono::steady_clock::now() - create_ended < std::chrono::milliseconds(400));
    } else {
      CHECK(waitForReady(ahead, 1) == 1);  // no command came: refilled once the settle time passed
      CHECK(std::chrono::steady_clock::now() - create_ended >= std::chrono::milliseconds(400));
    }
    {
      std::lock_guard lock(m);
      CHECK(launched == 2);
    }
    endFake(*taken);
    ahead.stop();
  }
}

TEST_CASE("launch ahead refills only once no create is under way, or after its deferral") {
  for (const bool long_create : {false, true}) {
    std::mutex m;
    int launched = 0;
    // A create that lasts longer than the deferral: the refill goes ahead anyway.
    const auto deferral = long_create ? std::chrono::milliseconds(30) : std::chrono::hours(1);
    daemon::LaunchAhead ahead(
        1, countedLaunch(m, launched), [&](daemon::AheadInit& a) { endFake(a); }, deferral);
    ahead.start();
    REQUIRE(waitForReady(ahead, 1) == 1);
    std::optional<daemon::AheadInit> taken;
    {
      daemon::LaunchAhead::Foreground creating(&ahead,
                                               daemon::LaunchAhead::Foreground::Kind::kCreate);
      taken = ahead.take();
      REQUIRE(taken);
      if (!long_create) {
        ::usleep(100000);  // a create of 100 ms: no refill meanwhile
        CHECK(ahead.ready() == 0);
        std::lock_guard lock(m);
        CHECK(launched == 1);
      } else {
        CHECK(waitForReady(ahead, 1) == 1);  // refilled while the create still runs
      }
    }
    CHECK(waitForReady(ahead, 1) == 1);  // and once it has ended, refilled in any case
    endFake(*taken);
    ahead.stop();
  }
  daemon::LaunchAhead::Foreground none(
      nullptr, daemon::LaunchAhead::Foreground::Kind::kCreate);  // no launch ahead (launch_ahead:
                                                                 // 0): nothing
}

// --- output buffers ---------------------------------------------------------------------------

TEST_CASE("a head buffer keeps the first bytes and counts the rest as dropped") {
  declaw::daemon::OutputBuffer b(declaw::daemon::OutputBuffer::Keep::kHead, 5);
  b.append("abc");
  b.append("defgh");
  CHECK(b.contents() == "abcde");
  CHECK(b.dropped() == 3);
  CHECK(b.written() == 8);
  CHECK(b.begin() == 0);
  CHECK(b.end() == 5);
}

TEST_CASE("a ring buffer keeps the last bytes at their absolute offsets") {
  declaw::daemon::OutputBuffer b(declaw::daemon::OutputBuffer::Keep::kTail, 4);
  b.append("ab");
  b.append("cdef");
  CHECK(b.contents() == "cdef");
  CHECK(b.begin() == 2);
  CHECK(b.end() == 6);
  CHECK(b.read(3, 2) == "de");
  CHECK(b.read(0, 10) == "cdef");  // a reader behind the ring starts at its oldest byte
  b.append("0123456789");          // more than the ring in one piece
  CHECK(b.contents() == "6789");
  CHECK(b.begin() == 12);
  CHECK(b.dropped() == 12);
}

TEST_CASE("a ring buffer fed gigabytes in small pieces keeps its bound and its offsets") {
  declaw::daemon::OutputBuffer b(declaw::daemon::OutputBuffer::Keep::kTail, 1000);
  std::string piece(333, 'x');
  uint64_t total = 0;
  for (int i = 0; i < 100000; ++i) {
    piece[0] = static_cast<char>('a' + i % 26);
    b.append(piece);
    total += piece.size();
  }
  CHECK(b.end() == total);
  CHECK(b.end() - b.begin() == 1000);
  CHECK(b.read(b.end() - 333, 1) == std::string(1, static_cast<char>('a' + 99999 % 26)));
}

TEST_CASE("a released buffer keeps nothing more but still counts") {
  declaw::daemon::OutputBuffer b(declaw::daemon::OutputBuffer::Keep::kHead, 100);
  b.append("abc");
  b.release();
  b.append("def");
  CHECK(b.contents().empty());
  CHECK(b.begin() == b.end());
  CHECK(b.written() == 6);
}

TEST_CASE("output shown in pieces is not cut inside a UTF-8 character") {
  using declaw::daemon::utf8SafeLength;
  CHECK(utf8SafeLength("abc") == 3);
  CHECK(utf8SafeLength("ab\xC3") == 2);             // first byte of a 2-byte character
  CHECK(utf8SafeLength("ab\xC3\xA9") == 4);         // complete
  CHECK(utf8SafeLength("a\xE2\x82") == 1);          // 2 of 3
  CHECK(utf8SafeLength("a\xF0\x9F\x98") == 1);      // 3 of 4
  CHECK(utf8SafeLength("a\xF0\x9F\x98\x80") == 5);  // complete emoji
  CHECK(utf8SafeLength("\xC3") == 1);               // nothing whole to show: all of it
  CHECK(utf8SafeLength("a\xff") == 2);              // invalid bytes are not held back
}

TEST_CASE("a ring buffer never holds more memory than its capacity, and wraps in order") {
  declaw::daemon::OutputBuffer b(declaw::daemon::OutputBuffer::Keep::kTail, 10000);
  std::string all;
  for (int i = 0; i < 5000; ++i) {
    std::string piece = std::to_string(i) + ",";
    b.append(piece);
    all += piece;
    CHECK(b.memoryBytes() <= 10000);
  }
  CHECK(b.contents() == all.substr(all.size() - 10000));
  // Read in contiguous pieces from an offset: the pieces put back together are the bytes.
  std::string pieces;
  for (uint64_t at = b.begin(); at < b.end();) {
    std::string_view piece = b.read(at, 777);
    REQUIRE_FALSE(piece.empty());
    pieces += piece;
    at += piece.size();
  }
  CHECK(pieces == b.contents());
}
