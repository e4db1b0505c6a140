#include "clients/ctl/sse_parse.h"

namespace declaw::ctl {
namespace {

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

}  // namespace

Result<void> SseParser::feed(std::string_view bytes, std::vector<SseEvent>& out) {
  while (!bytes.empty()) {
    if (after_cr_) {
      after_cr_ = false;
      if (bytes.front() == '\n') {
        bytes.remove_prefix(1);
        continue;
      }
    }
    size_t end = bytes.find_first_of("\r\n");
    size_t take = end == std::string_view::npos ? bytes.size() : end;
    if (data_.size() + line_.size() + take > kMaxSseEventBytes) {
      return PlainError() << "server-sent event over " << kMaxSseEventBytes << " bytes";
    }
    line_.append(bytes.substr(0, take));
    if (end == std::string_view::npos) return Ok{};
    after_cr_ = bytes[end] == '\r';
    bytes.remove_prefix(end + 1);
    std::string line = std::move(line_);
    line_.clear();
    onLine(line, out);
  }
  return Ok{};
}

// The standard's "process the field" steps for the fields a client without reconnection needs.
void SseParser::onLine(std::string_view line, std::vector<SseEvent>& out) {
  if (first_line_) {
    first_line_ = false;
    if (line.substr(0, kUtf8Bom.size()) == kUtf8Bom) line.remove_prefix(kUtf8Bom.size());
  }
  if (line.empty()) {
    // Dispatch. An event without data lines (only `event:`, or nothing) is dropped.
    if (!data_.empty()) {
      data_.pop_back();  // the "\n" after the last data line
      SseEvent event;
      if (!type_.empty()) event.type = std::move(type_);
      event.data = std::move(data_);
      event.id = last_id_;
      out.push_back(std::move(event));
    }
    type_.clear();
    data_.clear();
    return;
  }
  if (line.front() == ':') return;  // a comment (": keep-alive")

  size_t colon = line.find(':');
  std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "event") {
    type_ = std::string(value);
  } else if (field == "data") {
    data_.append(value);
    data_ += '\n';
  } else if (field == "id") {
    if (value.find('\0') == std::string_view::npos) last_id_ = std::string(value);
  }
  // `retry:` and unknown fields are ignored: declawctl does not reconnect on its own.
}

}  // namespace declaw::ctl
