// Host from the head of an HTTP/1.x request (RFC 9112 sections 2.2, 3, 3.2 and 5).
//
// Lines may end in CRLF or a bare LF, as RFC 9112 section 2.2 lets servers accept and nginx
// does; a CR anywhere else is refused, so the proxy and the server split lines alike.
#include <algorithm>
#include <optional>
#include <string_view>

#include "netpolicy/sniff.h"
#include "netpolicy/sniff_host.h"

namespace declaw::netpolicy {
namespace {

constexpr size_t kMaxMethodLength = 32;
constexpr size_t kMaxHostLength = 253;
constexpr size_t kMaxPortDigits = 5;

SniffResult invalid(std::string reason) { return {SniffStatus::kInvalid, {}, std::move(reason)}; }

// RFC 9110 section 5.6.2.
bool isTchar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool isDigit(char c) { return c >= '0' && c <= '9'; }

bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

std::string_view trimOws(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "host", "host:port", "[v6]" or "[v6]:port" -> the host, cleaned; nullopt when malformed.
std::optional<std::string> hostOfAuthority(std::string_view authority, std::string& reason) {
  std::string_view host = authority;
  std::string_view port;
  if (authority.starts_with('[')) {
    size_t close = authority.find(']');
    if (close == std::string_view::npos) {
      reason = "unclosed '[' in host";
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    std::string_view rest = authority.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') {
        reason = "junk after ']' in host";
        return std::nullopt;
      }
      port = rest.substr(1);
    }
  } else if (size_t colon = authority.find(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (port.size() > kMaxPortDigits || !std::all_of(port.begin(), port.end(), isDigit)) {
    reason = "bad port in host";
    return std::nullopt;
  }
  std::string out;
  if (!cleanSniffedHost(host, out, reason)) return std::nullopt;
  return out;
}

// The next line of `head` from `pos`, without its terminator; nullopt when a bare CR appears.
std::optional<std::string_view> nextLine(std::string_view head, size_t& pos) {
  size_t lf = std::min(head.find('\n', pos), head.size());
  std::string_view line = head.substr(pos, lf - pos);
  pos = lf + 1;
  if (line.ends_with('\r')) line.remove_suffix(1);
  if (line.find('\r') != std::string_view::npos) return std::nullopt;
  return line;
}

// Whether `data` can still become a request line: a method token, then a space.
bool plausibleStart(std::string_view data) {
  size_t n = std::min(data.size(), kMaxMethodLength + 1);
  for (size_t i = 0; i < n; ++i) {
    if (data[i] == ' ') return i > 0;
    if (!isTchar(data[i])) return false;
  }
  return data.size() <= kMaxMethodLength;
}

}  // namespace

bool cleanSniffedHost(std::string_view raw, std::string& out, std::string& reason) {
  if (raw.ends_with('.')) raw.remove_suffix(1);
  if (raw.empty() || raw.size() > kMaxHostLength) {
    reason = "host is empty or too long";
    return false;
  }
  // Only the one trailing dot of a fully qualified name may go: "a..", ".a", "a..b" and "..." have
  // empty labels, which no resolver reads as the name the policy would judge (found by fuzzing).
  if (raw.starts_with('.') || raw.ends_with('.') || raw.find("..") != std::string_view::npos) {
    reason = "host has an empty label";
    return false;
  }
  bool v6 = raw.find(':') != std::string_view::npos;
  out.clear();
  for (char c : raw) {
    char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    bool ok =
        v6 ? (isDigit(lower) || (lower >= 'a' && lower <= 'f') || lower == ':' || lower == '.')
           : (isDigit(lower) || (lower >= 'a' && lower <= 'z') || lower == '-' || lower == '_' ||
              lower == '.');
    if (!ok) {
      reason = "host contains a character not allowed in a host name";
      return false;
    }
    out.push_back(lower);
  }
  return true;
}

SniffResult sniffHttpHost(std::span<const uint8_t> data) {
  std::string_view text(reinterpret_cast<const char*>(data.data()), data.size());
  if (!plausibleStart(text)) return invalid("not an HTTP request");
  size_t end = text.find("\n\r\n");
  size_t end_lf = text.find("\n\n");
  end = std::min(end == std::string_view::npos ? end : end + 3,
                 end_lf == std::string_view::npos ? end_lf : end_lf + 2);
  if (end > kMaxHttpHeadBytes) {  // npos, no end yet, is larger too
    if (text.size() >= kMaxHttpHeadBytes) return invalid("HTTP request head too large");
    return {SniffStatus::kNeedMore, {}, {}};
  }
  std::string_view head = text.substr(0, end);
  size_t pos = 0;

  // Request line: method SP request-target SP HTTP-version.
  auto request_line = nextLine(head, pos);
  if (!request_line) return invalid("bare CR in request line");
  size_t sp1 = request_line->find(' ');
  size_t sp2 = request_line->find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || request_line->find(' ', sp2 + 1) != std::string_view::npos) {
    return invalid("malformed request line");
  }
  std::string_view method = request_line->substr(0, sp1);
  std::string_view target = request_line->substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = request_line->substr(sp2 + 1);
  if (version.size() != 8 || !version.starts_with("HTTP/1.") || !isDigit(version.back())) {
    return invalid("not HTTP/1.x");
  }
  // The authority in the target, when it has one: the server uses it over Host (RFC 9112 3.2.2).
  std::optional<std::string> target_host;
  std::string reason;
  if (target.empty()) return invalid("empty request target");
  if (target.front() != '/' && target != "*") {
    std::string_view authority = target;
    if (method != "CONNECT") {
      size_t scheme_end = target.find("://");
      if (scheme_end == std::string_view::npos ||
          !(equalsIgnoreCase(target.substr(0, scheme_end), "http") ||
            equalsIgnoreCase(target.substr(0, scheme_end), "https"))) {
        return invalid("request target is neither a path nor an http(s) URL");
      }
      authority = target.substr(scheme_end + 3);
      authority = authority.substr(0, authority.find_first_of("/?#"));
    }
    if (authority.find('@') != std::string_view::npos) return invalid("userinfo in request target");
    target_host = hostOfAuthority(authority, reason);
    if (!target_host) return invalid("request target: " + reason);
  }

  std::optional<std::string> host;
  while (pos < head.size()) {
    auto line = nextLine(head, pos);
    if (!line) return invalid("bare CR in header");
    if (line->empty()) break;
    if (line->front() == ' ' || line->front() == '\t') return invalid("obsolete line folding");
    size_t colon = line->find(':');
    if (colon == std::string_view::npos || colon == 0) return invalid("malformed header line");
    std::string_view name = line->substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), isTchar)) {
      return invalid("malformed header name");  // includes "Host :"
    }
    if (!equalsIgnoreCase(name, "host")) continue;
    if (host) return invalid("duplicate Host header");
    host = hostOfAuthority(trimOws(line->substr(colon + 1)), reason);
    if (!host) return invalid("Host header: " + reason);
  }
  if (host && target_host && *host != *target_host) {
    return invalid("Host header and request target name different hosts");
  }
  if (host) return {SniffStatus::kFound, std::move(*host), {}};
  if (target_host) return {SniffStatus::kFound, std::move(*target_host), {}};
  return {SniffStatus::kNoName, {}, "request without Host"};
}

}  // namespace declaw::netpolicy
