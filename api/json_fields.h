// Typed access to the fields of a JSON request object. Every failure is an ApiError(400) whose
// message names the field ("'timeout' must be an integer"), as docs/api.md promises. A field
// that is absent or null counts as not given, so clients may send `"envs": null` for "default".
#pragma once

#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "api/services.h"

namespace declaw::api {

// The body of a JSON request as an object. Over max_bytes: ApiError(413). An empty body is {}
// when empty_is_object, else 400. Malformed JSON or not an object: 400.
nlohmann::json parseJsonObject(std::string_view body, uint64_t max_bytes, bool empty_is_object);

// The field's value, or nullptr when absent or null.
const nlohmann::json* findField(const nlohmann::json& object, std::string_view name);

std::optional<std::string> stringField(const nlohmann::json& object, std::string_view name);
std::optional<bool> boolField(const nlohmann::json& object, std::string_view name);
// An integer (not 1.5, not "1") in [min, max].
std::optional<uint64_t> integerField(const nlohmann::json& object, std::string_view name,
                                     uint64_t min, uint64_t max);

// What a string -> string object may hold.
struct StringMapRules {
  size_t max_entries = 0;
  size_t max_key_bytes = 0;
  size_t max_value_bytes = 0;
  bool keys_are_env_names = false;  // [A-Za-z_][A-Za-z0-9_]*, so never "=" or NUL
};
// A string -> string object. Keys are non-empty; keys and values hold no NUL byte.
std::optional<StringMap> stringMapField(const nlohmann::json& object, std::string_view name,
                                        const StringMapRules& rules);

// [A-Za-z_][A-Za-z0-9_]*: a name the shell can use and that an environment entry can hold.
bool isEnvName(std::string_view name);

}  // namespace declaw::api
