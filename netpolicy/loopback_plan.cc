#include "netpolicy/loopback_plan.h"

#include <string_view>

#include "netpolicy/nft_expr.h"

namespace declaw::netpolicy {

namespace {

using nftjson::json;

json inLoopbackTable(std::string_view name) {
  return {{"family", "inet"}, {"table", kLoopbackTable}, {"name", name}};
}

json dropChain(std::string_view name, std::string_view hook) {
  json c = inLoopbackTable(name);
  c["type"] = "filter";
  c["hook"] = hook;
  c["prio"] = 0;
  c["policy"] = "drop";
  return {{"chain", std::move(c)}};
}

json loopbackRule(std::string_view chain, std::string_view ifname_key) {
  return {{"rule",
           {{"family", "inet"},
            {"table", kLoopbackTable},
            {"chain", chain},
            {"expr", {nftjson::match(nftjson::meta(ifname_key), "==", "lo"), nftjson::accept()}}}}};
}

}  // namespace

json planLoopbackOnly() {
  using nftjson::add;
  return nftjson::document({
      add({{"table", {{"family", "inet"}, {"name", kLoopbackTable}}}}),
      add(dropChain("input", "input")),
      add(dropChain("output", "output")),
      add(dropChain("forward", "forward")),
      add(loopbackRule("input", "iifname")),
      add(loopbackRule("output", "oifname")),
  });
}

}  // namespace declaw::netpolicy
