// The plans against the real nf_tables: each document goes through `nft -j -f` inside a fresh
// user + network namespace made for the test (unshare -rn), so the kernel validates every
// expression and reference while the host's ruleset is never touched. `nft -c` alone would not
// do: its check mode stops before the kernel and accepts, say, masquerade in a filter chain.
// Where nft is not installed or user namespaces are off, the test says so and passes.
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "netpolicy/nft_plan.h"

using namespace declaw::netpolicy;

namespace {

std::string readFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

bool commandWorks(const std::string& command) { return std::system(command.c_str()) == 0; }

class TempDir {
 public:
  TempDir() {
    char pattern[] = "/tmp/declaw-nft-test.XXXXXX";
    path_ = mkdtemp(pattern) ? pattern : "";
  }
  ~TempDir() {
    if (!path_.empty()) std::system(("rm -rf '" + path_ + "'").c_str());
  }
  const std::string& path() const { return path_; }
  std::string write(const std::string& name, const nlohmann::json& doc) const {
    std::string file = path_ + "/" + name;
    std::ofstream(file) << doc.dump();
    return file;
  }

 private:
  std::string path_;
};

}  // namespace

TEST_CASE("the kernel accepts every plan, in a throwaway network namespace") {
  if (!commandWorks("command -v nft >/dev/null 2>&1")) {
    WARN("nft is not installed: kernel validation skipped (apt-get install nftables)");
    return;
  }
  if (!commandWorks("unshare --user --map-root-user --net true >/dev/null 2>&1")) {
    WARN("cannot create a user + network namespace: kernel validation skipped");
    return;
  }
  TempDir dir;
  REQUIRE_FALSE(dir.path().empty());

  TableConfig config;
  config.pool4 = cidrLiteral("198.18.0.0/16");
  config.pool6 = cidrLiteral("fd00:dc::/64");
  config.proxy_port = 3128;
  config.boundaries = Boundaries::defaults();
  config.boundaries.always_denied.add(config.pool4);
  config.boundaries.always_denied.add(*config.pool6);
  auto pool = AddressPool::create(config.pool4, config.pool6);
  REQUIRE(pool.ok());
  auto pool4_only = AddressPool::create(config.pool4);
  REQUIRE(pool4_only.ok());
  auto decider = [&](std::vector<std::string> allow, std::vector<std::string> deny) {
    auto p = parsePolicy({true, std::move(allow), std::move(deny)});
    REQUIRE(p.ok());
    return Decider(*p, config.boundaries);
  };
  SandboxNet a{"aaa111", pool->leaseFor(1)};
  SandboxNet b{"bbb222", pool4_only->leaseFor(2)};
  const IpAddress resolved[] = {ipLiteral("198.19.0.10"), ipLiteral("2001:db8::10")};
  Boundaries grown = config.boundaries;
  grown.always_denied.add(cidrLiteral("203.0.113.7"));

  std::vector<std::string> steps = {
      dir.write("create.json", planTableCreate(config)),
      dir.write("add_a.json",
                *planSandboxAdd(config, a, decider({"allowed.test", "10.1.0.0/16", "::/0"}, {}))),
      dir.write("add_b.json", *planSandboxAdd(config, b, decider({}, {"198.19.0.0/16"}))),
      dir.write("resolved_a.json", *planResolvedAdd(a.key, resolved, 60)),
      dir.write("update_a.json",
                *planSandboxUpdate(config, a, decider({"1.1.1.1"}, {"ALL_TRAFFIC", "evil.test"}))),
      dir.write("update_b.json", *planSandboxUpdate(config, b, decider({"ALL_TRAFFIC"}, {}))),
      dir.write("boundaries.json", planBoundariesUpdate(grown)),
      // Created again over a live table: the add/delete/add start replaces it whole.
      dir.write("recreate.json", planTableCreate(config)),
      dir.write("add_a_again.json", *planSandboxAdd(config, a, decider({"allowed.test"}, {}))),
  };
  std::string removal = dir.write("remove_a.json", *planSandboxRemove(a.key));
  std::string drop_table = dir.write("delete.json", planTableDelete());

  std::string script = "set -e; cd '" + dir.path() + "'; ";
  for (const auto& step : steps) script += "echo " + step + " >&2; nft -j -f " + step + "; ";
  script += "nft list ruleset > live.txt; ";
  script += "echo remove >&2; nft -j -f " + removal + "; nft list ruleset > removed.txt; ";
  script += "echo delete >&2; nft -j -f " + drop_table + "; nft list ruleset > deleted.txt";
  std::string command = "unshare --user --map-root-user --net sh -c \"" + script + "\" 2>'" +
                        dir.path() + "/errors.txt'";
  int rc = std::system(command.c_str());
  INFO("nft said:\n" << readFile(dir.path() + "/errors.txt"));
  REQUIRE(rc == 0);

  std::string live = readFile(dir.path() + "/live.txt");
  INFO("live ruleset:\n" << live);
  // "dcw*" reached the kernel as a wildcard, not a literal asterisk ("dcw\*").
  CHECK(live.find("iifname \"dcw*\" drop") != std::string::npos);
  CHECK(live.find("\"dcwaaa111\" : jump sbx_aaa111_fwd") != std::string::npos);
  CHECK(live.find("tcp dport { 80, 443 } redirect to :3128") != std::string::npos);
  // The refuse chain as the kernel holds it (level info is printed, warn, the default, is not).
  CHECK(live.find("limit rate 10/second burst 20 packets log prefix \"declaw sbx-aaa111 refused: "
                  "\" level info") != std::string::npos);
  CHECK(live.find("counter name \"sbx_aaa111_dropped\" drop") != std::string::npos);
  CHECK(live.find("goto sbx_aaa111_refuse") != std::string::npos);
  CHECK(live.find("ip saddr 198.18.0.0/16 oifname != \"dcw*\" masquerade") != std::string::npos);
  CHECK(live.find("sbx_bbb222") == std::string::npos);  // recreate removed b
  std::string removed = readFile(dir.path() + "/removed.txt");
  CHECK(removed.find("sbx_") == std::string::npos);
  CHECK(removed.find("dcwaaa111") == std::string::npos);
  CHECK(removed.find("table inet declaw") != std::string::npos);
  CHECK(readFile(dir.path() + "/deleted.txt").find("declaw") == std::string::npos);
}
