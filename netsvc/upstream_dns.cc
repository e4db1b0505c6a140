#include "netsvc/upstream_dns.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace declaw::netsvc {
namespace {

using netpolicy::DnsRcode;
using netpolicy::DnsType;

constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kFlagTc = 0x0200;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kOpcodeMask = 0x7800;
constexpr uint16_t kRcodeMask = 0x000f;
constexpr uint16_t kTypeCname = 5;
constexpr uint16_t kTypeOpt = 41;
constexpr uint8_t kPointerMask = 0xc0;

uint16_t read16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}
uint32_t read32(std::span<const uint8_t> b, size_t at) {
  return (uint32_t{read16(b, at)} << 16) | read16(b, at + 2);
}
void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

// Reads the (possibly compressed) name at `pos` into `out` (lowercase, dot-joined) and sets
// `next` to the first byte after it in the message. Pointers must go strictly backwards.
Result<void> readName(std::span<const uint8_t> m, size_t pos, std::string& out, size_t& next) {
  out.clear();
  bool jumped = false;
  size_t jumps = 0;
  size_t wire = 0;
  for (;;) {
    if (pos >= m.size()) return PlainError() << "name runs past the message";
    uint8_t len = m[pos];
    if ((len & kPointerMask) == kPointerMask) {
      if (pos + 1 >= m.size()) return PlainError() << "pointer runs past the message";
      size_t target = read16(m, pos) & 0x3fff;
      if (target >= pos) return PlainError() << "compression pointer does not point backwards";
      if (++jumps > kMaxDnsPointerJumps) return PlainError() << "too many compression pointers";
      if (!jumped) next = pos + 2;
      jumped = true;
      pos = target;
      continue;
    }
    if (len & kPointerMask) return PlainError() << "reserved label type";
    wire += 1 + len;
    if (wire > netpolicy::kMaxDnsNameWireLength) return PlainError() << "name too long";
    if (len == 0) {
      if (!jumped) next = pos + 1;
      return Ok{};
    }
    if (pos + 1 + len > m.size()) return PlainError() << "label runs past the message";
    if (!out.empty()) out.push_back('.');
    for (size_t i = 0; i < len; ++i) out.push_back(lower(static_cast<char>(m[pos + 1 + i])));
    pos += 1 + len;
  }
}

struct Record {
  std::string owner;
  uint16_t type = 0;
  uint32_t ttl = 0;
  std::string cname_target;  // for CNAME
  IpAddress address;         // for A and AAAA
};

}  // namespace

Result<SocketAddress> SocketAddress::parse(std::string_view text) {
  std::string_view host = text;
  std::optional<std::string_view> port;
  if (text.starts_with('[')) {
    size_t close = text.find(']');
    if (close == std::string_view::npos) return PlainError() << "unclosed '[' in '" << text << "'";
    host = text.substr(1, close - 1);
    std::string_view rest = text.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return PlainError() << "junk after ']' in '" << text << "'";
      port = rest.substr(1);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    // One colon: IPv4 with a port. More: a bare IPv6 address.
    size_t colon = text.find(':');
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  auto address = IpAddress::parse(host);
  if (!address) return PlainError() << "'" << text << "': " << address.error().message;
  SocketAddress out{*address, kDefaultDnsPort};
  if (port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port->data(), port->data() + port->size(), value);
    if (port->empty() || ec != std::errc() || end != port->data() + port->size() || value == 0 ||
        value > 65535) {
      return PlainError() << "bad port in '" << text << "'";
    }
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

std::string SocketAddress::toString() const {
  std::string host = address.isV4() ? address.toString() : "[" + address.toString() + "]";
  return host + ":" + std::to_string(port);
}

std::vector<SocketAddress> parseResolvConf(std::string_view text) {
  std::vector<SocketAddress> out;
  while (!text.empty()) {
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    auto skipBlanks = [&] {
      while (!line.empty() && (line.front() == ' ' || line.front() == '\t')) line.remove_prefix(1);
    };
    skipBlanks();
    if (!line.starts_with("nameserver")) continue;
    line.remove_prefix(std::string_view("nameserver").size());
    if (line.empty() || (line.front() != ' ' && line.front() != '\t')) continue;
    skipBlanks();
    size_t end = line.find_first_of(" \t\r#;");
    std::string_view value = line.substr(0, end);
    if (auto address = IpAddress::parse(value)) out.push_back({*address, kDefaultDnsPort});
  }
  return out;
}

Result<std::vector<uint8_t>> buildUpstreamQuery(uint16_t id, std::string_view name,
                                                uint16_t qtype) {
  std::vector<uint8_t> out;
  put16(out, id);
  put16(out, kFlagRd);
  put16(out, 1);  // one question
  put16(out, 0);
  put16(out, 0);
  put16(out, 1);  // the OPT record
  size_t wire = 1;
  while (!name.empty()) {
    size_t dot = name.find('.');
    std::string_view label = name.substr(0, dot);
    name = dot == std::string_view::npos ? std::string_view() : name.substr(dot + 1);
    if (label.empty() || label.size() > netpolicy::kMaxDnsLabelLength) {
      return PlainError() << "name has an empty or overlong label";
    }
    wire += 1 + label.size();
    if (wire > netpolicy::kMaxDnsNameWireLength) return PlainError() << "name too long";
    out.push_back(static_cast<uint8_t>(label.size()));
    out.insert(out.end(), label.begin(), label.end());
  }
  out.push_back(0);
  put16(out, qtype);
  put16(out, netpolicy::kDnsClassIn);
  // OPT (RFC 6891): root owner, type 41, class = payload size, ttl = 0, no options.
  out.push_back(0);
  put16(out, kTypeOpt);
  put16(out, kUpstreamEdnsPayload);
  put16(out, 0);
  put16(out, 0);
  put16(out, 0);
  return out;
}

Result<UpstreamAnswer> parseUpstreamResponse(std::span<const uint8_t> m, uint16_t id,
                                             std::string_view name, uint16_t qtype) {
  if (m.size() < netpolicy::kDnsHeaderSize) return PlainError() << "response shorter than header";
  if (read16(m, 0) != id) return PlainError() << "response id does not match";
  uint16_t flags = read16(m, 2);
  if (!(flags & kFlagQr)) return PlainError() << "not a response";
  if (flags & kOpcodeMask) return PlainError() << "response opcode is not QUERY";
  if (read16(m, 4) != 1) return PlainError() << "response does not echo one question";
  uint16_t ancount = read16(m, 6);

  std::string qname;
  size_t pos = 0;
  auto question = readName(m, netpolicy::kDnsHeaderSize, qname, pos);
  if (!question) return PlainError() << "question: " << question.error().message;
  if (pos + 4 > m.size()) return PlainError() << "question runs past the message";
  if (qname != name || read16(m, pos) != qtype || read16(m, pos + 2) != netpolicy::kDnsClassIn) {
    return PlainError() << "response answers another question";
  }
  pos += 4;

  UpstreamAnswer answer;
  answer.rcode = static_cast<DnsRcode>(flags & kRcodeMask);
  answer.truncated = (flags & kFlagTc) != 0;

  std::vector<Record> records;
  for (uint16_t i = 0; i < ancount; ++i) {
    Record r;
    auto owner = readName(m, pos, r.owner, pos);
    if (!owner) {
      // A truncated response may end mid-record; what came before stands.
      if (answer.truncated) break;
      return PlainError() << "answer " << i << ": " << owner.error().message;
    }
    if (pos + 10 > m.size()) {
      if (answer.truncated) break;
      return PlainError() << "answer " << i << " runs past the message";
    }
    r.type = read16(m, pos);
    uint16_t rclass = read16(m, pos + 2);
    r.ttl = read32(m, pos + 4);
    uint16_t rdlength = read16(m, pos + 8);
    pos += 10;
    if (pos + rdlength > m.size()) {
      if (answer.truncated) break;
      return PlainError() << "answer " << i << " data runs past the message";
    }
    auto rdata = m.subspan(pos, rdlength);
    if (rclass == netpolicy::kDnsClassIn) {
      if (r.type == static_cast<uint16_t>(DnsType::kA) && rdlength == 4) {
        r.address = IpAddress::v4(std::span<const uint8_t, 4>(rdata.data(), 4));
        records.push_back(std::move(r));
      } else if (r.type == static_cast<uint16_t>(DnsType::kAAAA) && rdlength == 16) {
        r.address = IpAddress::v6(std::span<const uint8_t, 16>(rdata.data(), 16));
        records.push_back(std::move(r));
      } else if (r.type == kTypeCname) {
        size_t ignored = 0;
        auto target = readName(m, pos, r.cname_target, ignored);
        if (!target) return PlainError() << "CNAME target: " << target.error().message;
        records.push_back(std::move(r));
      }
    }
    pos += rdlength;
  }

  // Follow the chain from the asked name; only records owned by a name on it count.
  std::string current(name);
  bool any = false;
  uint32_t ttl = UINT32_MAX;
  for (size_t hop = 0; hop <= kMaxCnameChain; ++hop) {
    const Record* cname = nullptr;
    for (const Record& r : records) {
      if (r.owner != current) continue;
      if (r.type == kTypeCname) {
        cname = &r;
      } else if (r.type == qtype && answer.addresses.size() < kMaxAnswerAddresses) {
        if (std::find(answer.addresses.begin(), answer.addresses.end(), r.address) ==
            answer.addresses.end()) {
          answer.addresses.push_back(r.address);
        }
        ttl = std::min(ttl, r.ttl);
        any = true;
      }
    }
    if (any || !cname) break;
    ttl = std::min(ttl, cname->ttl);
    current = cname->cname_target;
    if (hop == kMaxCnameChain) answer.addresses.clear();
  }
  answer.ttl = any ? ttl : 0;
  return answer;
}

}  // namespace declaw::netsvc
