#include "netpolicy/dns_message.h"

namespace declaw::netpolicy {
namespace {

// Header flag bits (RFC 1035 section 4.1.1), in the 16-bit flags word.
constexpr uint16_t kFlagQr = 0x8000;
constexpr uint16_t kOpcodeMask = 0x7800;
constexpr uint16_t kFlagRd = 0x0100;
constexpr uint16_t kFlagRa = 0x0080;
constexpr uint16_t kRcodeMask = 0x000f;
// The top two bits of a length octet: 00 label, 11 pointer, 01 and 10 reserved (RFC 6891).
constexpr uint8_t kLabelTypeMask = 0xc0;
// A compression pointer to offset 12, where the question name starts in every response here.
constexpr uint16_t kPointerToQuestion = 0xc000 | kDnsHeaderSize;
// Answer record: name pointer, type, class, ttl, rdlength.
constexpr size_t kRecordFixedSize = 2 + 2 + 2 + 4 + 2;

uint16_t read16(std::span<const uint8_t> b, size_t at) {
  return static_cast<uint16_t>((b[at] << 8) | b[at + 1]);
}

void put16(std::vector<uint8_t>& out, uint16_t v) {
  out.push_back(static_cast<uint8_t>(v >> 8));
  out.push_back(static_cast<uint8_t>(v));
}

void put32(std::vector<uint8_t>& out, uint32_t v) {
  put16(out, static_cast<uint16_t>(v >> 16));
  put16(out, static_cast<uint16_t>(v));
}

bool isLabelByte(uint8_t c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

void putHeader(std::vector<uint8_t>& out, uint16_t id, bool rd, DnsRcode rcode, uint16_t qdcount,
               uint16_t ancount) {
  put16(out, id);
  put16(out, static_cast<uint16_t>(kFlagQr | (rd ? kFlagRd : 0) | kFlagRa |
                                   static_cast<uint16_t>(rcode)));
  put16(out, qdcount);
  put16(out, ancount);
  put16(out, 0);  // nscount
  put16(out, 0);  // arcount
}

bool typeWants(uint16_t qtype, const IpAddress& a) {
  if (qtype == static_cast<uint16_t>(DnsType::kAny)) return true;
  if (qtype == static_cast<uint16_t>(DnsType::kA)) return a.isV4();
  if (qtype == static_cast<uint16_t>(DnsType::kAAAA)) return !a.isV4();
  return false;
}

}  // namespace

std::optional<uint16_t> peekDnsId(std::span<const uint8_t> message) {
  if (message.size() < 2) return std::nullopt;
  return read16(message, 0);
}

Result<DnsQuery> parseDnsQuery(std::span<const uint8_t> m) {
  if (m.size() < kDnsHeaderSize) return PlainError() << "DNS message shorter than its header";
  uint16_t flags = read16(m, 2);
  if (flags & kFlagQr) return PlainError() << "DNS message is a response, not a query";
  if (flags & kOpcodeMask) return PlainError() << "DNS opcode is not QUERY";
  if (flags & kRcodeMask) return PlainError() << "DNS query carries an rcode";
  if (read16(m, 4) != 1) return PlainError() << "DNS query must have exactly one question";
  if (read16(m, 6) != 0 || read16(m, 8) != 0) {
    return PlainError() << "DNS query carries answer or authority records";
  }
  if (read16(m, 10) > 1) return PlainError() << "DNS query has more than one additional record";

  DnsQuery q;
  q.id = read16(m, 0);
  q.recursion_desired = (flags & kFlagRd) != 0;
  size_t pos = kDnsHeaderSize;
  size_t wire_length = 0;
  while (true) {
    if (pos >= m.size()) return PlainError() << "DNS name runs past the message";
    uint8_t len = m[pos];
    if ((len & kLabelTypeMask) == kLabelTypeMask) {
      return PlainError() << "compression pointer in a DNS query name";
    }
    if (len & kLabelTypeMask) return PlainError() << "reserved DNS label type";
    wire_length += 1 + len;
    if (wire_length > kMaxDnsNameWireLength) {
      return PlainError() << "DNS name longer than " << kMaxDnsNameWireLength << " octets";
    }
    ++pos;
    if (len == 0) break;
    if (pos + len > m.size()) return PlainError() << "DNS label runs past the message";
    if (!q.name.empty()) q.name.push_back('.');
    for (size_t i = 0; i < len; ++i) {
      uint8_t c = m[pos + i];
      if (!isLabelByte(c)) return PlainError() << "DNS label contains a byte outside [A-Za-z0-9_-]";
      q.name.push_back(static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    }
    pos += len;
  }
  // (len & kLabelTypeMask) above caps a label at 63 octets; kMaxDnsLabelLength documents it.
  static_assert(kMaxDnsLabelLength == static_cast<uint8_t>(~kLabelTypeMask));
  if (pos + 4 > m.size()) return PlainError() << "DNS question is missing its type or class";
  q.qtype = read16(m, pos);
  q.qclass = read16(m, pos + 2);
  pos += 4;
  q.question_wire.assign(m.begin() + kDnsHeaderSize, m.begin() + static_cast<ptrdiff_t>(pos));
  return q;
}

std::vector<uint8_t> buildDnsHeaderOnly(uint16_t id, DnsRcode rcode) {
  std::vector<uint8_t> out;
  putHeader(out, id, false, rcode, 0, 0);
  return out;
}

std::vector<uint8_t> buildDnsError(const DnsQuery& query, DnsRcode rcode) {
  std::vector<uint8_t> out;
  putHeader(out, query.id, query.recursion_desired, rcode, 1, 0);
  out.insert(out.end(), query.question_wire.begin(), query.question_wire.end());
  return out;
}

std::vector<uint8_t> buildDnsAnswer(const DnsQuery& query, std::span<const IpAddress> addresses,
                                    uint32_t ttl, size_t max_size) {
  std::vector<uint8_t> records;
  uint16_t count = 0;
  size_t size = kDnsHeaderSize + query.question_wire.size();
  for (const IpAddress& a : addresses) {
    if (!typeWants(query.qtype, a)) continue;
    auto rdata = a.bytes();
    size_t record_size = kRecordFixedSize + rdata.size();
    if (size + record_size > max_size) break;
    size += record_size;
    put16(records, kPointerToQuestion);
    put16(records, static_cast<uint16_t>(a.isV4() ? DnsType::kA : DnsType::kAAAA));
    put16(records, kDnsClassIn);
    put32(records, ttl);
    put16(records, static_cast<uint16_t>(rdata.size()));
    records.insert(records.end(), rdata.begin(), rdata.end());
    ++count;
  }
  std::vector<uint8_t> out;
  putHeader(out, query.id, query.recursion_desired, DnsRcode::kNoError, 1, count);
  out.insert(out.end(), query.question_wire.begin(), query.question_wire.end());
  out.insert(out.end(), records.begin(), records.end());
  return out;
}

}  // namespace declaw::netpolicy
