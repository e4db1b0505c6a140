// SNI from a TLS ClientHello. Layout (RFC 8446 section 4.1.2, RFC 6066 section 3):
//   record:     type(1)=22  legacy_version(2)=3.x  length(2)<=2^14  fragment
//   handshake:  msg_type(1)=1  length(3)  body  -- may span several records
//   body:       legacy_version(2) random(32) session_id<0..32> cipher_suites<2..2^16-2>
//               compression_methods<1..2^8-1> [extensions<0..2^16-1>]
//   server_name extension (type 0): ServerNameList<1..2^16-1> of
//               name_type(1)=0 host_name<1..2^16-1>
#include <cstring>
#include <vector>

#include "netpolicy/sniff.h"
#include "netpolicy/sniff_host.h"

namespace declaw::netpolicy {
namespace {

constexpr uint8_t kContentHandshake = 22;
constexpr uint8_t kHandshakeClientHello = 1;
constexpr uint8_t kTlsMajorVersion = 3;
constexpr uint8_t kMaxTlsMinorVersion = 4;  // TLS 1.3's legacy fields say 3.3; 3.4 is tolerated
constexpr size_t kRecordHeaderSize = 5;
constexpr size_t kMaxRecordPayload = 16 * 1024;  // 2^14, RFC 8446 section 5.1
constexpr size_t kHandshakeHeaderSize = 4;
constexpr size_t kRandomSize = 32;
constexpr size_t kMaxSessionIdSize = 32;
constexpr uint16_t kExtServerName = 0;
constexpr uint8_t kNameTypeHostName = 0;

SniffResult invalid(std::string reason) { return {SniffStatus::kInvalid, {}, std::move(reason)}; }

// A bounds-checked reader over the ClientHello body: every read fails once past the end.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> b) : b_(b) {}
  bool u8(size_t& v) { return read(1, v); }
  bool u16(size_t& v) { return read(2, v); }
  bool skip(size_t n) {
    if (b_.size() - pos_ < n) return false;
    pos_ += n;
    return true;
  }
  bool bytes(size_t n, std::span<const uint8_t>& out) {
    if (b_.size() - pos_ < n) return false;
    out = b_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool atEnd() const { return pos_ == b_.size(); }

 private:
  bool read(size_t n, size_t& v) {
    if (b_.size() - pos_ < n) return false;
    v = 0;
    for (size_t i = 0; i < n; ++i) v = (v << 8) | b_[pos_ + i];
    pos_ += n;
    return true;
  }
  std::span<const uint8_t> b_;
  size_t pos_ = 0;
};

// Reads the server_name extension's data into `host_out`; false with `reason` when malformed.
bool readServerName(std::span<const uint8_t> data, std::span<const uint8_t>& host_out,
                    std::string& reason) {
  Reader r(data);
  size_t list_len = 0;
  if (!r.u16(list_len) || list_len != data.size() - 2 || list_len == 0) {
    reason = "malformed server_name list";
    return false;
  }
  bool have_host = false;
  while (!r.atEnd()) {
    size_t type = 0, len = 0;
    std::span<const uint8_t> name;
    if (!r.u8(type) || !r.u16(len) || len == 0 || !r.bytes(len, name)) {
      reason = "malformed server_name entry";
      return false;
    }
    if (type != kNameTypeHostName) continue;
    if (have_host) {
      reason = "more than one host_name in server_name";
      return false;
    }
    have_host = true;
    host_out = name;
  }
  if (!have_host) reason = "server_name without a host_name";
  return have_host;
}

SniffResult parseClientHello(std::span<const uint8_t> body) {
  Reader r(body);
  size_t version = 0, session_len = 0, suites_len = 0, compression_len = 0;
  if (!r.u16(version) || (version >> 8) != kTlsMajorVersion) {
    return invalid("ClientHello version is not 3.x");
  }
  if (!r.skip(kRandomSize) || !r.u8(session_len) || session_len > kMaxSessionIdSize ||
      !r.skip(session_len)) {
    return invalid("malformed ClientHello session id");
  }
  if (!r.u16(suites_len) || suites_len < 2 || suites_len % 2 != 0 || !r.skip(suites_len)) {
    return invalid("malformed ClientHello cipher suites");
  }
  if (!r.u8(compression_len) || compression_len < 1 || !r.skip(compression_len)) {
    return invalid("malformed ClientHello compression methods");
  }
  if (r.atEnd()) return {SniffStatus::kNoName, {}, "ClientHello without extensions"};
  size_t extensions_len = 0;
  std::span<const uint8_t> extensions;
  if (!r.u16(extensions_len) || !r.bytes(extensions_len, extensions) || !r.atEnd()) {
    return invalid("ClientHello extensions do not fill the message");
  }
  Reader ext(extensions);
  std::span<const uint8_t> host;
  bool have_sni = false;
  while (!ext.atEnd()) {
    size_t type = 0, len = 0;
    std::span<const uint8_t> data;
    if (!ext.u16(type) || !ext.u16(len) || !ext.bytes(len, data)) {
      return invalid("malformed ClientHello extension");
    }
    if (type != kExtServerName) continue;
    if (have_sni) return invalid("more than one server_name extension");
    std::string reason;
    if (!readServerName(data, host, reason)) return invalid(reason);
    have_sni = true;
  }
  if (!have_sni) return {SniffStatus::kNoName, {}, "ClientHello without server_name"};
  std::string raw(reinterpret_cast<const char*>(host.data()), host.size());
  std::string cleaned, reason;
  if (!cleanSniffedHost(raw, cleaned, reason)) return invalid("SNI " + reason);
  return {SniffStatus::kFound, std::move(cleaned), {}};
}

}  // namespace

SniffResult sniffTlsServerName(std::span<const uint8_t> data) {
  // Gather the handshake bytes record by record until the ClientHello is complete.
  std::vector<uint8_t> handshake;
  size_t pos = 0;
  while (true) {
    if (data.size() - pos < kRecordHeaderSize) {
      // Judge the header bytes that have arrived, so non-TLS streams fail at once.
      if (data.size() > pos && data[pos] != kContentHandshake) {
        return invalid("not a TLS handshake record");
      }
      if (data.size() > pos + 1 && data[pos + 1] != kTlsMajorVersion) {
        return invalid("not a TLS record version");
      }
      return {SniffStatus::kNeedMore, {}, {}};
    }
    if (data[pos] != kContentHandshake) return invalid("not a TLS handshake record");
    if (data[pos + 1] != kTlsMajorVersion || data[pos + 2] > kMaxTlsMinorVersion) {
      return invalid("not a TLS record version");
    }
    size_t record_len = (size_t{data[pos + 3]} << 8) | data[pos + 4];
    if (record_len == 0 || record_len > kMaxRecordPayload) return invalid("bad TLS record length");
    if (data.size() - pos - kRecordHeaderSize < record_len) return {SniffStatus::kNeedMore, {}, {}};
    const uint8_t* payload = data.data() + pos + kRecordHeaderSize;
    handshake.insert(handshake.end(), payload, payload + record_len);
    pos += kRecordHeaderSize + record_len;

    if (handshake[0] != kHandshakeClientHello) return invalid("first handshake is not ClientHello");
    if (handshake.size() < kHandshakeHeaderSize) continue;
    size_t body_len = (size_t{handshake[1]} << 16) | (size_t{handshake[2]} << 8) | handshake[3];
    if (body_len > kMaxClientHelloBytes) return invalid("ClientHello too large");
    size_t have = handshake.size() - kHandshakeHeaderSize;
    if (have < body_len) continue;
    // Bytes after the ClientHello in its last record would be a second handshake message: a
    // client must wait for the ServerHello first.
    if (have > body_len) return invalid("data after the ClientHello");
    return parseClientHello(std::span<const uint8_t>(handshake).subspan(kHandshakeHeaderSize));
  }
}

}  // namespace declaw::netpolicy
