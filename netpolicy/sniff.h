// The destination name a client states in the first bytes of a connection: the SNI host name of
// a TLS ClientHello (RFC 8446 section 4.1.2, RFC 6066 section 3) or the Host header of an
// HTTP/1.x request (RFC 9112 section 3.2). The egress proxy calls these on what it has read so
// far and reads more while the answer is kNeedMore; it never decrypts or alters anything.
//
// Where two parsers could disagree about the name, the bytes are refused (kInvalid), since the
// proxy's reading must be the one the server acts on: duplicate Host headers, a Host header
// and an absolute-form request target naming different hosts, whitespace before a header's
// colon, obsolete line folding, more than one server_name extension or host name.
//
// What no reading of the first bytes can stop, without TLS interception: domain fronting. A
// client may name an allowed host in SNI and another host behind the same CDN in the encrypted
// HTTP Host header (or in an Encrypted ClientHello's inner SNI, whose outer SNI is read here).
// An allowed name is trusted as far as the servers that answer for it.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace declaw::netpolicy {

// A ClientHello is at most this large (one handshake message, possibly over several records);
// today's, with post-quantum key shares, are under 2 KiB.
inline constexpr size_t kMaxClientHelloBytes = 16 * 1024;
// The request line and headers of an HTTP request must fit here.
inline constexpr size_t kMaxHttpHeadBytes = 8 * 1024;

enum class SniffStatus {
  kNeedMore,  // what is there is a valid prefix: read more and ask again
  kFound,     // host holds the name
  kNoName,    // a valid ClientHello without SNI, or a request without Host
  kInvalid,   // not this protocol, malformed, ambiguous or over the limit; reason says which
};

struct SniffResult {
  SniffStatus status = SniffStatus::kNeedMore;
  // Lowercased, one trailing dot and any ":port" removed, IPv6 brackets removed. It may be an
  // IP literal (curl http://1.2.3.4/ sends Host: 1.2.3.4): the caller tells names from addresses.
  std::string host;
  std::string reason;
};

SniffResult sniffTlsServerName(std::span<const uint8_t> data);
SniffResult sniffHttpHost(std::span<const uint8_t> data);

}  // namespace declaw::netpolicy
