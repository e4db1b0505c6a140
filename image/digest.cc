#include "image/digest.h"

#include <openssl/evp.h>

#include <cstdio>

namespace declaw::image {

namespace {
constexpr std::string_view kPrefix = "sha256:";
constexpr size_t kHexLength = 64;
}  // namespace

bool isSha256Hex(std::string_view hex) {
  if (hex.size() != kHexLength) return false;
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::optional<Digest> Digest::parse(std::string_view text) {
  if (text.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  if (!isSha256Hex(text.substr(kPrefix.size()))) return std::nullopt;
  return Digest(std::string(text));
}

Digest Digest::fromHex(std::string_view hex) {
  return Digest(std::string(kPrefix) + std::string(hex));
}

struct Sha256::Ctx {
  EVP_MD_CTX* md = nullptr;
  ~Ctx() { EVP_MD_CTX_free(md); }
};

Sha256::Sha256() : ctx_(std::make_unique<Ctx>()) {
  ctx_->md = EVP_MD_CTX_new();
  EVP_DigestInit_ex(ctx_->md, EVP_sha256(), nullptr);
}

Sha256::~Sha256() = default;

void Sha256::update(const void* data, size_t size) {
  if (size > 0) EVP_DigestUpdate(ctx_->md, data, size);
}

Digest Sha256::finish() {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  EVP_DigestFinal_ex(ctx_->md, out, &length);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  hex.reserve(2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    hex += kHex[out[i] >> 4];
    hex += kHex[out[i] & 0xf];
  }
  return Digest::fromHex(hex);
}

Digest sha256Of(std::string_view data) {
  Sha256 h;
  h.update(data);
  return h.finish();
}

}  // namespace declaw::image
