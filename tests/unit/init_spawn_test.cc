// declaw-init's checks of a spawn request and its PATH lookup for argv commands, without root.
#include <catch2/catch.hpp>
#include <climits>

#include "runtime/init/spawn.h"

using namespace declaw::runtime;
using namespace declaw::runtime::init;

namespace {

using Strings = std::vector<std::string>;

SpawnRequest argvRequest(Strings argv) {
  SpawnRequest r;
  r.argv = std::move(argv);
  r.search_path = true;
  r.env = {"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/user"};
  return r;
}

}  // namespace

TEST_CASE("a command name is looked up in each PATH directory in order") {
  CHECK(commandCandidates("python3", {"HOME=/root", "PATH=/opt/py/bin:/usr/bin"}) ==
        Strings{"/opt/py/bin/python3", "/usr/bin/python3"});
}

TEST_CASE("the last PATH of the environment counts; without one, execvp's default") {
  CHECK(commandCandidates("ls", {"PATH=/a", "PATH=/b"}) == Strings{"/b/ls"});
  CHECK(commandCandidates("ls", {"HOME=/root"}) == Strings{"/bin/ls", "/usr/bin/ls"});
}

TEST_CASE("an empty PATH entry is the working directory, as for execvp") {
  CHECK(commandCandidates("tool", {"PATH=/usr/bin::/bin:"}) ==
        Strings{"/usr/bin/tool", "tool", "/bin/tool", "tool"});
  CHECK(commandCandidates("tool", {"PATH="}) == Strings{"tool"});
}

TEST_CASE("a command with a slash is the one path, not looked up") {
  CHECK(commandCandidates("./run.sh", {"PATH=/usr/bin"}) == Strings{"./run.sh"});
  CHECK(commandCandidates("/usr/bin/env", {"PATH=/bin"}) == Strings{"/usr/bin/env"});
  CHECK(commandCandidates("bin/x", {"PATH=/bin"}) == Strings{"bin/x"});
}

TEST_CASE("a candidate longer than PATH_MAX is left out") {
  const std::string long_dir = "/" + std::string(PATH_MAX, 'd');
  CHECK(commandCandidates("x", {"PATH=" + long_dir + ":/bin"}) == Strings{"/bin/x"});
}

TEST_CASE("an argv command needs a name but not an absolute path; a plain spawn needs one") {
  CHECK(validateSpawn(argvRequest({"python3", "-c", "1"}), kSpawnFdCount));
  CHECK(validateSpawn(argvRequest({"./a.out"}), kSpawnFdCount));
  auto empty = validateSpawn(argvRequest({""}), kSpawnFdCount);
  REQUIRE_FALSE(empty);
  CHECK(empty.error().code == EINVAL);
  CHECK_FALSE(validateSpawn(argvRequest({}), kSpawnFdCount));

  SpawnRequest plain = argvRequest({"bash"});
  plain.search_path = false;
  auto relative = validateSpawn(plain, kSpawnFdCount);
  REQUIRE_FALSE(relative);
  CHECK(relative.error().message.find("absolute") != std::string::npos);
}

TEST_CASE("an argv command has no fallback and no NUL bytes") {
  SpawnRequest r = argvRequest({"true"});
  r.fallback_argv = {"/bin/sh", "-c", "true"};
  CHECK_FALSE(validateSpawn(r, kSpawnFdCount));
  CHECK_FALSE(validateSpawn(argvRequest({"echo", std::string("a\0b", 3)}), kSpawnFdCount));
}
