// The apply step for nft_plan.h: hands a libnftables JSON document to the kernel, one document
// being one transaction (all of it applies, or none). Deliberately thin: what to apply is
// decided, and unit-tested, in nft_plan.
//
// libnftables 1.0.6 (Debian 12) has no JSON input flag; as `nft -j` does, JSON output is turned
// on, which also makes nft_run_cmd_from_buffer parse its input as JSON (falling back to nft's own
// syntax for text that is not JSON, which is how run() takes "list table inet declaw").
//
// An NftContext works on the network namespace of the thread that created it (its netlink socket
// is made there) and is not thread-safe: the daemon applies from one thread, or serialises.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/result.h"
#include "common/unique_fd.h"

struct nft_ctx;  // libnftables; its header stays out of ours

namespace declaw::netpolicy {

class NftContext {
 public:
  static Result<NftContext> create();

  // Runs the JSON document. The Result carries nft's output (usually empty) or, on failure, its
  // error text (which names the failing command) as the message, with errno EINVAL.
  Result<std::string> apply(const nlohmann::json& document);
  // A command in nft's own syntax ("list table inet declaw"); output is JSON.
  Result<std::string> run(std::string_view command);

 private:
  struct Free {
    void operator()(nft_ctx* ctx) const;
  };
  explicit NftContext(std::unique_ptr<nft_ctx, Free> ctx) : ctx_(std::move(ctx)) {}
  Result<std::string> runBuffer(const std::string& buffer, std::string_view what);

  std::unique_ptr<nft_ctx, Free> ctx_;
};

// One-shot: a fresh context in the calling thread's network namespace.
Result<std::string> applyNft(const nlohmann::json& document);

// The same inside `netns` (netns.h), for tests: rules go only into namespaces they made.
Result<std::string> applyNftIn(BorrowedFd netns, const nlohmann::json& document);
Result<std::string> runNftIn(BorrowedFd netns, std::string_view command);

}  // namespace declaw::netpolicy
