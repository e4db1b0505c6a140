// Bytes as JSON text: UTF-8 validation with U+FFFD replacement, and base64. Command output and
// file contents keep every byte (docs/api.md): a JSON string carries valid UTF-8, and when the
// bytes were not valid UTF-8 a *_base64 field carries them exactly.
#pragma once

#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>

namespace declaw::api {

// Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF.
bool isValidUtf8(std::string_view bytes);

// Valid UTF-8 copied as is; every maximal invalid subsequence replaced by U+FFFD, as the WHATWG
// Encoding Standard and Python's bytes.decode("utf-8", "replace") do.
std::string replaceInvalidUtf8(std::string_view bytes);

// RFC 4648 base64 with padding.
std::string base64Encode(std::string_view bytes);
// Standard alphabet; padding optional; whitespace or any other byte is an error (nullopt).
std::optional<std::string> base64Decode(std::string_view text);

// Sets object[key] to the bytes as a UTF-8 string and, if they were not valid UTF-8,
// object[key + "_base64"] to their base64.
void putBytes(nlohmann::json& object, const std::string& key, std::string_view bytes);

}  // namespace declaw::api
