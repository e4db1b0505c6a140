// Content digests as OCI uses them ("sha256:<64 lowercase hex>"), and an incremental SHA-256
// (OpenSSL's EVP interface: the library made for it, and already on every Debian machine).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace declaw::image {

// A validated "sha256:<hex>" digest. Only sha256 is accepted: it is what every image tool
// writes, and a second algorithm would be a second way to name one blob.
class Digest {
 public:
  // nullopt unless `text` is "sha256:" followed by exactly 64 lowercase hex digits.
  static std::optional<Digest> parse(std::string_view text);
  static Digest fromHex(std::string_view hex);  // hex must be valid (64 lowercase digits)

  const std::string& str() const { return text_; }  // "sha256:ab12..."
  std::string_view hex() const { return std::string_view(text_).substr(7); }
  bool operator==(const Digest& other) const { return text_ == other.text_; }
  bool operator<(const Digest& other) const { return text_ < other.text_; }

 private:
  explicit Digest(std::string text) : text_(std::move(text)) {}
  std::string text_;
};

bool isSha256Hex(std::string_view hex);

class Sha256 {
 public:
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;

  void update(const void* data, size_t size);
  void update(std::string_view data) { update(data.data(), data.size()); }
  // The digest of everything so far; the hasher cannot be used afterwards.
  Digest finish();

 private:
  struct Ctx;
  std::unique_ptr<Ctx> ctx_;
};

Digest sha256Of(std::string_view data);

}  // namespace declaw::image
