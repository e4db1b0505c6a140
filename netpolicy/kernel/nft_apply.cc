#include "netpolicy/kernel/nft_apply.h"

#include <nftables/libnftables.h>

#include "netpolicy/kernel/netns.h"

namespace declaw::netpolicy {

void NftContext::Free::operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }

Result<NftContext> NftContext::create() {
  std::unique_ptr<nft_ctx, Free> ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return ErrnoError(ENOMEM) << "nft_ctx_new";
  // Output and errors into memory, for the Result, never onto the daemon's stdout/stderr.
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    return ErrnoError(ENOMEM) << "nft_ctx_buffer_output/error";
  }
  nft_ctx_output_set_flags(ctx.get(), NFT_CTX_OUTPUT_JSON);
  return NftContext(std::move(ctx));
}

Result<std::string> NftContext::runBuffer(const std::string& buffer, std::string_view what) {
  int rc = nft_run_cmd_from_buffer(ctx_.get(), buffer.c_str());
  // The buffers are reset by each run: read both before returning.
  const char* out = nft_ctx_get_output_buffer(ctx_.get());
  const char* err = nft_ctx_get_error_buffer(ctx_.get());
  std::string output = out != nullptr ? out : "";
  std::string errors = err != nullptr ? err : "";
  if (rc != 0) {
    while (!errors.empty() && errors.back() == '\n') errors.pop_back();
    return ErrnoError(EINVAL) << "nft " << what << ": "
                              << (errors.empty() ? "failed without a message" : errors);
  }
  return output;
}

Result<std::string> NftContext::apply(const nlohmann::json& document) {
  return runBuffer(document.dump(), "apply");
}

Result<std::string> NftContext::run(std::string_view command) {
  return runBuffer(std::string(command), std::string("'") + std::string(command) + "'");
}

Result<std::string> applyNft(const nlohmann::json& document) {
  auto ctx = NftContext::create();
  if (!ctx) return ctx.error();
  return ctx->apply(document);
}

Result<std::string> applyNftIn(BorrowedFd netns, const nlohmann::json& document) {
  return inNetns<std::string>(netns, [&] { return applyNft(document); });
}

Result<std::string> runNftIn(BorrowedFd netns, std::string_view command) {
  return inNetns<std::string>(netns, [&]() -> Result<std::string> {
    auto ctx = NftContext::create();
    if (!ctx) return ctx.error();
    return ctx->run(command);
  });
}

}  // namespace declaw::netpolicy
