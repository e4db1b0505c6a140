#include "api/text.h"

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace declaw::api {

namespace {

constexpr std::string_view kReplacementChar = "\xEF\xBF\xBD";  // U+FFFD
constexpr std::string_view kBase64Alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

// The WHATWG UTF-8 decoder (encoding.spec.whatwg.org, "UTF-8 decoder"): calls on_valid for each
// well-formed sequence and on_invalid for each maximal invalid subsequence. Stops early when a
// callback returns false.
template <typename OnValid, typename OnInvalid>
void scanUtf8(std::string_view bytes, OnValid on_valid, OnInvalid on_invalid) {
  size_t i = 0;
  while (i < bytes.size()) {
    const size_t start = i;
    const auto lead = static_cast<uint8_t>(bytes[i++]);
    int needed = 0;
    uint8_t lower = 0x80;
    uint8_t upper = 0xBF;
    if (lead <= 0x7F) {
      needed = 0;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      needed = 1;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      needed = 2;
      if (lead == 0xE0) lower = 0xA0;  // overlong
      if (lead == 0xED) upper = 0x9F;  // surrogates
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      needed = 3;
      if (lead == 0xF0) lower = 0x90;  // overlong
      if (lead == 0xF4) upper = 0x8F;  // above U+10FFFF
    } else {
      if (!on_invalid()) return;
      continue;
    }
    bool ok = true;
    for (int seen = 0; seen < needed; ++seen) {
      if (i >= bytes.size()) {
        ok = false;
        break;
      }
      const auto b = static_cast<uint8_t>(bytes[i]);
      if (b < lower || b > upper) {
        ok = false;  // b is not consumed: it starts the next sequence
        break;
      }
      lower = 0x80;
      upper = 0xBF;
      ++i;
    }
    if (!(ok ? on_valid(bytes.substr(start, i - start)) : on_invalid())) return;
  }
}

}  // namespace

bool isValidUtf8(std::string_view bytes) {
  bool valid = true;
  scanUtf8(
      bytes, [](std::string_view) { return true; },
      [&] {
        valid = false;
        return false;
      });
  return valid;
}

std::string replaceInvalidUtf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  scanUtf8(
      bytes,
      [&](std::string_view sequence) {
        out.append(sequence);
        return true;
      },
      [&] {
        out.append(kReplacementChar);
        return true;
      });
  return out;
}

std::string base64Encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3) {
    const uint32_t n = static_cast<uint8_t>(bytes[i]) << 16 |
                       static_cast<uint8_t>(bytes[i + 1]) << 8 | static_cast<uint8_t>(bytes[i + 2]);
    out += kBase64Alphabet[n >> 18 & 63];
    out += kBase64Alphabet[n >> 12 & 63];
    out += kBase64Alphabet[n >> 6 & 63];
    out += kBase64Alphabet[n & 63];
  }
  const size_t rest = bytes.size() - i;
  if (rest > 0) {
    uint32_t n = static_cast<uint8_t>(bytes[i]) << 16;
    if (rest == 2) n |= static_cast<uint8_t>(bytes[i + 1]) << 8;
    out += kBase64Alphabet[n >> 18 & 63];
    out += kBase64Alphabet[n >> 12 & 63];
    out += rest == 2 ? kBase64Alphabet[n >> 6 & 63] : '=';
    out += '=';
  }
  return out;
}

std::optional<std::string> base64Decode(std::string_view text) {
  static const std::array<int8_t, 256> kValues = [] {
    std::array<int8_t, 256> values{};
    values.fill(-1);
    for (size_t i = 0; i < kBase64Alphabet.size(); ++i) {
      values[static_cast<uint8_t>(kBase64Alphabet[i])] = static_cast<int8_t>(i);
    }
    return values;
  }();
  if (text.size() % 4 == 0 && !text.empty()) {
    if (text.back() == '=') text.remove_suffix(1);
    if (text.back() == '=') text.remove_suffix(1);
  }
  if (text.size() % 4 == 1) return std::nullopt;
  std::string out;
  out.reserve(text.size() / 4 * 3 + 2);
  uint32_t acc = 0;
  int bits = 0;
  for (char c : text) {
    const int8_t v = kValues[static_cast<uint8_t>(c)];
    if (v < 0) return std::nullopt;
    acc = (acc << 6 | static_cast<uint32_t>(v)) & 0xFFFFFF;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>(acc >> bits & 0xFF);
    }
  }
  return out;
}

void putBytes(nlohmann::json& object, const std::string& key, std::string_view bytes) {
  if (isValidUtf8(bytes)) {
    object[key] = std::string(bytes);
    return;
  }
  object[key] = replaceInvalidUtf8(bytes);
  object[key + "_base64"] = base64Encode(bytes);
}

}  // namespace declaw::api
