#include "clients/ctl/http_parse.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <optional>

namespace declaw::ctl {
namespace {

std::string toLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits off the next line (without "\n" and a trailing "\r").
std::string_view nextLine(std::string_view& rest) {
  size_t nl = rest.find('\n');
  std::string_view line = rest.substr(0, nl);
  rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

Result<uint64_t> parseDecimal(std::string_view s) {
  if (s.empty()) return PlainError() << "empty number";
  uint64_t value = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return PlainError() << "bad number '" << s << "'";
    if (value > (std::numeric_limits<uint64_t>::max() - 9) / 10) {
      return PlainError() << "number too large '" << s << "'";
    }
    value = value * 10 + static_cast<uint64_t>(c - '0');
  }
  return value;
}

Result<uint64_t> parseHex(std::string_view s) {
  if (s.empty()) return PlainError() << "empty chunk size";
  uint64_t value = 0;
  for (char c : s) {
    int digit;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return PlainError() << "bad chunk size '" << s << "'";
    }
    if (value > (std::numeric_limits<uint64_t>::max() >> 4)) {
      return PlainError() << "chunk size too large";
    }
    value = (value << 4) | static_cast<uint64_t>(digit);
  }
  return value;
}

}  // namespace

const std::string* ResponseHead::header(std::string_view lower_name) const {
  for (const auto& [name, value] : headers) {
    if (name == lower_name) return &value;
  }
  return nullptr;
}

size_t findHeadEnd(std::string_view buffer) {
  size_t crlf = buffer.find("\r\n\r\n");
  size_t lf = buffer.find("\n\n");
  size_t end = std::string_view::npos;
  if (crlf != std::string_view::npos) end = crlf + 4;
  if (lf != std::string_view::npos && (end == std::string_view::npos || lf + 2 < end)) {
    end = lf + 2;
  }
  return end;
}

Result<ResponseHead> parseResponseHead(std::string_view head) {
  std::string_view rest = head;
  std::string_view status_line = nextLine(rest);
  // "HTTP/1.1 200 OK": the version, one space, three digits, then an optional reason.
  if (status_line.substr(0, 7) != "HTTP/1." || status_line.size() < 12 || status_line[8] != ' ' ||
      (status_line.size() > 12 && status_line[12] != ' ')) {
    return PlainError() << "bad status line '" << status_line.substr(0, 80) << "'";
  }
  auto code = parseDecimal(status_line.substr(9, 3));
  if (!code || *code < 100) {
    return PlainError() << "bad status line '" << status_line.substr(0, 80) << "'";
  }
  ResponseHead out;
  out.status = static_cast<int>(*code);
  if (status_line.size() > 13) out.reason = std::string(status_line.substr(13));

  while (!rest.empty()) {
    std::string_view line = nextLine(rest);
    if (line.empty()) break;
    if (line.front() == ' ' || line.front() == '\t') {
      return PlainError() << "folded header lines are not supported";
    }
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      return PlainError() << "bad header line '" << line.substr(0, 80) << "'";
    }
    out.headers.emplace_back(toLower(line.substr(0, colon)),
                             std::string(trim(line.substr(colon + 1))));
  }
  return out;
}

Result<BodyFraming> bodyFraming(const ResponseHead& head, std::string_view method) {
  if (method == "HEAD" || head.status < 200 || head.status == 204 || head.status == 304) {
    return BodyFraming{BodyKind::kNone, 0};
  }
  if (const std::string* te = head.header("transfer-encoding")) {
    // We never ask for other codings, so anything but plain "chunked" is a protocol error.
    if (toLower(*te) != "chunked") {
      return PlainError() << "unsupported transfer-encoding '" << *te << "'";
    }
    return BodyFraming{BodyKind::kChunked, 0};
  }
  std::optional<uint64_t> length;
  for (const auto& [name, value] : head.headers) {
    if (name != "content-length") continue;
    auto parsed = parseDecimal(value);
    if (!parsed) return PlainError() << "bad content-length: " << parsed.error().message;
    if (length && *length != *parsed) return PlainError() << "conflicting content-length headers";
    length = *parsed;
  }
  if (length) return BodyFraming{*length == 0 ? BodyKind::kNone : BodyKind::kLength, *length};
  return BodyFraming{BodyKind::kUntilClose, 0};
}

Result<void> ChunkedDecoder::feed(std::string_view input, std::string& out) {
  while (!input.empty() && state_ != State::kDone) {
    if (state_ == State::kData) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, input.size()));
      out.append(input.substr(0, take));
      input.remove_prefix(take);
      remaining_ -= take;
      if (remaining_ == 0) state_ = State::kDataEnd;
      continue;
    }
    // Every other state reads a line: the size line, the CRLF after data, trailer lines.
    size_t nl = input.find('\n');
    size_t take = nl == std::string_view::npos ? input.size() : nl;
    if (line_.size() + take > kMaxChunkLineBytes) return PlainError() << "chunk line too long";
    line_.append(input.substr(0, take));
    if (nl == std::string_view::npos) return Ok{};
    input.remove_prefix(nl + 1);
    std::string line = std::move(line_);
    line_.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (auto r = onLine(line); !r) return r;
  }
  return Ok{};
}

Result<void> ChunkedDecoder::onLine(std::string_view line) {
  switch (state_) {
    case State::kSize: {
      auto size = parseHex(trim(line.substr(0, line.find(';'))));
      if (!size) return size.error();
      remaining_ = *size;
      state_ = remaining_ == 0 ? State::kTrailer : State::kData;
      return Ok{};
    }
    case State::kDataEnd:
      if (!line.empty()) return PlainError() << "missing CRLF after chunk data";
      state_ = State::kSize;
      return Ok{};
    case State::kTrailer:
      if (line.empty()) state_ = State::kDone;
      return Ok{};
    case State::kData:
    case State::kDone:
      break;
  }
  return Ok{};
}

}  // namespace declaw::ctl
