#include "api/json_fields.h"

#include <algorithm>

#include "api/errors.h"

namespace declaw::api {

namespace {

std::string fieldName(std::string_view name) { return "'" + std::string(name) + "'"; }

bool hasNul(std::string_view text) { return text.find('\0') != std::string_view::npos; }

}  // namespace

nlohmann::json parseJsonObject(std::string_view body, uint64_t max_bytes, bool empty_is_object) {
  if (body.size() > max_bytes) {
    throw tooLarge("request body is larger than " + std::to_string(max_bytes) + " bytes");
  }
  if (body.empty()) {
    if (empty_is_object) return nlohmann::json::object();
    throw badRequest("request body must be a JSON object");
  }
  nlohmann::json parsed;
  try {
    parsed = nlohmann::json::parse(body);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for a number beyond a double ("1E400"; found by fuzzing).
    throw badRequest(std::string("malformed JSON: ") + e.what());
  }
  if (!parsed.is_object()) throw badRequest("request body must be a JSON object");
  return parsed;
}

const nlohmann::json* findField(const nlohmann::json& object, std::string_view name) {
  auto it = object.find(name);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

std::optional<std::string> stringField(const nlohmann::json& object, std::string_view name) {
  const nlohmann::json* value = findField(object, name);
  if (!value) return std::nullopt;
  if (!value->is_string()) throw badRequest(fieldName(name) + " must be a string");
  return value->get<std::string>();
}

std::optional<bool> boolField(const nlohmann::json& object, std::string_view name) {
  const nlohmann::json* value = findField(object, name);
  if (!value) return std::nullopt;
  if (!value->is_boolean()) throw badRequest(fieldName(name) + " must be true or false");
  return value->get<bool>();
}

std::optional<uint64_t> integerField(const nlohmann::json& object, std::string_view name,
                                     uint64_t min, uint64_t max) {
  const nlohmann::json* value = findField(object, name);
  if (!value) return std::nullopt;
  if (!value->is_number_integer()) throw badRequest(fieldName(name) + " must be an integer");
  const bool in_range = value->is_number_unsigned()
                            ? value->get<uint64_t>() >= min && value->get<uint64_t>() <= max
                            : value->get<int64_t>() >= 0 &&
                                  static_cast<uint64_t>(value->get<int64_t>()) >= min &&
                                  static_cast<uint64_t>(value->get<int64_t>()) <= max;
  if (!in_range) {
    throw badRequest(fieldName(name) + " must be between " + std::to_string(min) + " and " +
                     std::to_string(max));
  }
  return value->is_number_unsigned() ? value->get<uint64_t>()
                                     : static_cast<uint64_t>(value->get<int64_t>());
}

std::optional<StringMap> stringMapField(const nlohmann::json& object, std::string_view name,
                                        const StringMapRules& rules) {
  const nlohmann::json* value = findField(object, name);
  if (!value) return std::nullopt;
  if (!value->is_object()) throw badRequest(fieldName(name) + " must be an object of strings");
  if (value->size() > rules.max_entries) {
    throw badRequest(fieldName(name) + " has more than " + std::to_string(rules.max_entries) +
                     " entries");
  }
  StringMap map;
  for (const auto& [key, entry] : value->items()) {
    const std::string entry_name = std::string(name) + "." + key;
    if (key.empty()) throw badRequest(fieldName(name) + " has an empty key");
    if (key.size() > rules.max_key_bytes) {
      throw badRequest(fieldName(name) + " has a key longer than " +
                       std::to_string(rules.max_key_bytes) + " bytes");
    }
    if (rules.keys_are_env_names && !isEnvName(key)) {
      throw badRequest(fieldName(name) + " key " + quoteInput(key) +
                       " is not a variable name ([A-Za-z_][A-Za-z0-9_]*)");
    }
    if (hasNul(key)) throw badRequest(fieldName(name) + " has a key with a NUL byte");
    if (!entry.is_string()) throw badRequest(fieldName(entry_name) + " must be a string");
    const auto& text = entry.get_ref<const std::string&>();
    if (text.size() > rules.max_value_bytes) {
      throw badRequest(fieldName(entry_name) + " is longer than " +
                       std::to_string(rules.max_value_bytes) + " bytes");
    }
    if (hasNul(text)) throw badRequest(fieldName(entry_name) + " must not contain NUL bytes");
    map.emplace(key, text);
  }
  return map;
}

bool isEnvName(std::string_view name) {
  if (name.empty() || (name[0] >= '0' && name[0] <= '9')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace declaw::api
