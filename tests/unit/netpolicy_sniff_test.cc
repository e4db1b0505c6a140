// Reading the destination name from the first bytes of a connection: TLS SNI and HTTP Host.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "netpolicy/sniff.h"
#include "tests/unit/netpolicy_tls_samples.h"

using namespace declaw::netpolicy;
using namespace declaw::testing;
using Bytes = std::vector<uint8_t>;

namespace {

Bytes fromHex(const char* hex) {
  Bytes out;
  for (size_t i = 0; hex[i] && hex[i + 1]; i += 2) {
    out.push_back(static_cast<uint8_t>(std::stoi(std::string(hex + i, 2), nullptr, 16)));
  }
  return out;
}

Bytes bytes(std::string_view s) { return Bytes(s.begin(), s.end()); }

void put16(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 8));
  b.push_back(static_cast<uint8_t>(v));
}

void put24(Bytes& b, size_t v) {
  b.push_back(static_cast<uint8_t>(v >> 16));
  put16(b, v & 0xffff);
}

// An extension: type, length, data.
Bytes extension(uint16_t type, const Bytes& data) {
  Bytes b;
  put16(b, type);
  put16(b, data.size());
  b.insert(b.end(), data.begin(), data.end());
  return b;
}

// server_name extension data with the given host_name entries.
Bytes serverNames(const std::vector<std::string>& names) {
  Bytes list;
  for (const auto& n : names) {
    list.push_back(0);
    put16(list, n.size());
    list.insert(list.end(), n.begin(), n.end());
  }
  Bytes b;
  put16(b, list.size());
  b.insert(b.end(), list.begin(), list.end());
  return b;
}

struct Hello {
  size_t session_id_len = 32;
  size_t cipher_bytes = 4;
  size_t compression_len = 1;
  bool with_extensions = true;
  Bytes extensions;
  Bytes trailing;  // after the ClientHello, in the same record
};

// A ClientHello body in one record, with the fields a test wants broken.
Bytes clientHello(const Hello& h) {
  Bytes body = {0x03, 0x03};
  body.insert(body.end(), 32, 0xaa);  // random
  body.push_back(static_cast<uint8_t>(h.session_id_len));
  body.insert(body.end(), h.session_id_len, 0x11);
  put16(body, h.cipher_bytes);
  body.insert(body.end(), h.cipher_bytes, 0x13);
  body.push_back(static_cast<uint8_t>(h.compression_len));
  body.insert(body.end(), h.compression_len, 0);
  if (h.with_extensions) {
    put16(body, h.extensions.size());
    body.insert(body.end(), h.extensions.begin(), h.extensions.end());
  }
  Bytes hs = {1};
  put24(hs, body.size());
  hs.insert(hs.end(), body.begin(), body.end());
  hs.insert(hs.end(), h.trailing.begin(), h.trailing.end());
  Bytes record = {22, 3, 1};
  put16(record, hs.size());
  record.insert(record.end(), hs.begin(), hs.end());
  return record;
}

Bytes withSni(const std::vector<std::string>& names) {
  Hello h;
  h.extensions = extension(0, serverNames(names));
  return clientHello(h);
}

// Re-frames a single-record ClientHello as two records split at `at` bytes of payload.
Bytes splitRecord(const Bytes& one, size_t at) {
  Bytes payload(one.begin() + 5, one.end());
  Bytes out = {22, 3, 1};
  put16(out, at);
  out.insert(out.end(), payload.begin(), payload.begin() + static_cast<ptrdiff_t>(at));
  Bytes second = {22, 3, 1};
  put16(second, payload.size() - at);
  second.insert(second.end(), payload.begin() + static_cast<ptrdiff_t>(at), payload.end());
  out.insert(out.end(), second.begin(), second.end());
  return out;
}

SniffResult tls(const Bytes& b) { return sniffTlsServerName(b); }
SniffResult http(std::string_view s) { return sniffHttpHost(bytes(s)); }

}  // namespace

TEST_CASE("SNI is read from real ClientHellos, lowercased") {
  auto r13 = tls(fromHex(kClientHelloTls13));
  CHECK(r13.status == SniffStatus::kFound);
  CHECK(r13.host == "a.example.test");
  auto r12 = tls(fromHex(kClientHelloTls12));
  CHECK(r12.status == SniffStatus::kFound);
  CHECK(r12.host == "allowed.test");
  CHECK(tls(fromHex(kClientHelloNoSni)).status == SniffStatus::kNoName);
}

TEST_CASE("every proper prefix of a ClientHello asks for more bytes") {
  for (const char* sample : {kClientHelloTls13, kClientHelloTls12, kClientHelloNoSni}) {
    Bytes full = fromHex(sample);
    for (size_t n = 0; n < full.size(); ++n) {
      INFO(n);
      CHECK(tls(Bytes(full.begin(), full.begin() + static_cast<ptrdiff_t>(n))).status ==
            SniffStatus::kNeedMore);
    }
  }
}

TEST_CASE("a ClientHello split over two records is reassembled") {
  Bytes full = fromHex(kClientHelloTls13);
  for (size_t at : {1u, 3u, 4u, 100u, 200u}) {
    Bytes split = splitRecord(full, at);
    auto r = tls(split);
    INFO(at);
    CHECK(r.status == SniffStatus::kFound);
    CHECK(r.host == "a.example.test");
    CHECK(tls(Bytes(split.begin(), split.end() - 1)).status == SniffStatus::kNeedMore);
  }
}

TEST_CASE("records after the ClientHello (0-RTT data) are not read") {
  Bytes b = fromHex(kClientHelloTls13);
  for (uint8_t x : {23, 3, 3, 0, 3, 1, 2, 3}) b.push_back(x);
  CHECK(tls(b).host == "a.example.test");
}

TEST_CASE("what is not a TLS ClientHello is refused as soon as a byte shows it") {
  struct Case {
    Bytes data;
    const char* reason;
  };
  Bytes zero_len = {22, 3, 1, 0, 0};
  Bytes huge_record = {22, 3, 1, 0x40, 0x01};
  Bytes server_hello = {22, 3, 3, 0, 4, 2, 0, 0, 0};
  Bytes huge_hello = {22, 3, 1, 0, 4, 1, 0, 0x40, 0x01};
  Bytes alert_first = {21, 3, 3, 0, 2, 2, 40};
  const Case cases[] = {
      {bytes("G"), "not a TLS handshake record"},
      {bytes("GET / HTTP/1.1\r\n"), "not a TLS handshake record"},
      {{22, 2}, "not a TLS record version"},
      {{22, 3, 9, 0, 1}, "not a TLS record version"},
      {zero_len, "bad TLS record length"},
      {huge_record, "bad TLS record length"},
      {server_hello, "first handshake is not ClientHello"},
      {huge_hello, "ClientHello too large"},
      {alert_first, "not a TLS handshake record"},
  };
  for (const auto& c : cases) {
    INFO(c.reason);
    auto r = tls(c.data);
    CHECK(r.status == SniffStatus::kInvalid);
    CHECK(r.reason == c.reason);
  }
}

TEST_CASE("malformed or ambiguous ClientHellos are refused") {
  Hello long_session;
  long_session.session_id_len = 33;
  Hello odd_suites;
  odd_suites.cipher_bytes = 3;
  Hello no_compression;
  no_compression.compression_len = 0;
  Hello trailing;
  trailing.extensions = extension(0, serverNames({"a.test"}));
  trailing.trailing = {1, 0, 0, 0};
  Hello twice;
  twice.extensions = extension(0, serverNames({"allowed.test"}));
  Bytes again = extension(0, serverNames({"blocked.test"}));
  twice.extensions.insert(twice.extensions.end(), again.begin(), again.end());
  Hello short_ext;
  short_ext.extensions = {0, 0, 0, 9, 0};
  Hello bad_list;
  bad_list.extensions = extension(0, {0, 9, 0, 0, 1, 'a'});

  struct Case {
    Bytes data;
    const char* reason;
  };
  const Case cases[] = {
      {clientHello(long_session), "malformed ClientHello session id"},
      {clientHello(odd_suites), "malformed ClientHello cipher suites"},
      {clientHello(no_compression), "malformed ClientHello compression methods"},
      {clientHello(trailing), "data after the ClientHello"},
      {clientHello(twice), "more than one server_name extension"},
      {withSni({"allowed.test", "blocked.test"}), "more than one host_name in server_name"},
      {clientHello(short_ext), "malformed ClientHello extension"},
      {clientHello(bad_list), "malformed server_name list"},
      {withSni({std::string("a\0.test", 7)}),
       "SNI host contains a character not allowed in a host name"},
      {withSni({"a test"}), "SNI host contains a character not allowed in a host name"},
      {withSni({std::string(300, 'a')}), "SNI host is empty or too long"},
  };
  for (const auto& c : cases) {
    INFO(c.reason);
    auto r = tls(c.data);
    CHECK(r.status == SniffStatus::kInvalid);
    CHECK(r.reason == c.reason);
  }
}

TEST_CASE("hand-built ClientHellos: names, none, and IP literals for the caller to judge") {
  CHECK(tls(withSni({"Allowed.Test."})).host == "allowed.test");
  CHECK(tls(withSni({"198.19.0.10"})).host == "198.19.0.10");
  Hello none;
  none.with_extensions = false;
  CHECK(tls(clientHello(none)).status == SniffStatus::kNoName);
  Hello others;
  others.extensions = extension(43, {2, 3, 4});
  CHECK(tls(clientHello(others)).status == SniffStatus::kNoName);
}

// Found by fuzz_sniff: "a.." lost one dot and came out as the name "a.", which the policy then
// normalised to "a". Only the one trailing dot of a fully qualified name may be dropped.
TEST_CASE("a host with an empty label is refused in SNI and in Host") {
  for (const char* name : {"allowed.test..", ".allowed.test", "allowed..test", "..", "..."}) {
    INFO(name);
    auto by_sni = tls(withSni({name}));
    CHECK(by_sni.status == SniffStatus::kInvalid);
    CHECK(by_sni.reason == "SNI host has an empty label");
    auto by_host = http("GET / HTTP/1.1\r\nHost: " + std::string(name) + "\r\n\r\n");
    CHECK(by_host.status == SniffStatus::kInvalid);
    CHECK(by_host.reason == "Host header: host has an empty label");
  }
  CHECK(tls(withSni({"allowed.test."})).host == "allowed.test");
}

TEST_CASE("the Host header is found case-insensitively, its port stripped") {
  struct Case {
    const char* request;
    const char* host;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: Allowed.Test:8080\r\nUser-Agent: x\r\n\r\n", "allowed.test"},
      {"GET / HTTP/1.1\r\nhost:allowed.test\r\n\r\n", "allowed.test"},
      {"GET / HTTP/1.1\r\nHOST: \t allowed.test. \t\r\n\r\n", "allowed.test"},
      {"GET / HTTP/1.1\nHost: allowed.test\n\n", "allowed.test"},
      {"POST /x?y HTTP/1.0\r\nX-Host: evil.test\r\nHost: a.test\r\n\r\nbody", "a.test"},
      {"GET / HTTP/1.1\r\nHost: [2001:DB8::1]:80\r\n\r\n", "2001:db8::1"},
      {"GET / HTTP/1.1\r\nHost: 198.19.0.10\r\n\r\n", "198.19.0.10"},
      {"GET http://Allowed.test:80/x HTTP/1.1\r\nHost: allowed.test\r\n\r\n", "allowed.test"},
      {"GET HTTPS://allowed.test HTTP/1.1\r\n\r\n", "allowed.test"},
      {"CONNECT allowed.test:443 HTTP/1.1\r\nHost: allowed.test:443\r\n\r\n", "allowed.test"},
      {"OPTIONS * HTTP/1.1\r\nHost: allowed.test\r\n\r\n", "allowed.test"},
  };
  for (const auto& c : cases) {
    INFO(c.request);
    auto r = http(c.request);
    CHECK(r.status == SniffStatus::kFound);
    CHECK(r.host == c.host);
  }
}

TEST_CASE("every proper prefix of a request asks for more bytes") {
  std::string request = "GET /index.html HTTP/1.1\r\nHost: allowed.test\r\nAccept: */*\r\n\r\n";
  for (size_t n = 0; n < request.size(); ++n) {
    INFO(n);
    CHECK(http(request.substr(0, n)).status == SniffStatus::kNeedMore);
  }
}

TEST_CASE("a request without Host has no name") {
  CHECK(http("GET / HTTP/1.0\r\n\r\n").status == SniffStatus::kNoName);
  CHECK(http("GET / HTTP/1.0\r\nAccept: */*\r\n\r\n").status == SniffStatus::kNoName);
}

TEST_CASE("requests the server could read differently are refused") {
  struct Case {
    std::string request;
    const char* reason;
  };
  const Case cases[] = {
      {"GET / HTTP/1.1\r\nHost: allowed.test\r\nHost: blocked.test\r\n\r\n",
       "duplicate Host header"},
      {"GET / HTTP/1.1\r\nHost: allowed.test\r\nhOsT: allowed.test\r\n\r\n",
       "duplicate Host header"},
      {"GET / HTTP/1.1\r\nHost : blocked.test\r\n\r\n", "malformed header name"},
      {"GET / HTTP/1.1\r\nX: y\r\n Host: blocked.test\r\n\r\n", "obsolete line folding"},
      {"GET / HTTP/1.1\r\nHost: allowed.test\rHost: blocked.test\r\n\r\n", "bare CR in header"},
      {"GET http://blocked.test/ HTTP/1.1\r\nHost: allowed.test\r\n\r\n",
       "Host header and request target name different hosts"},
      {"GET http://allowed.test@blocked.test/ HTTP/1.1\r\n\r\n", "userinfo in request target"},
      {"GET ftp://blocked.test/ HTTP/1.1\r\n\r\n",
       "request target is neither a path nor an http(s) URL"},
      {"GET blocked.test HTTP/1.1\r\n\r\n", "request target is neither a path nor an http(s) URL"},
      {"GET / HTTP/1.1\r\nHost: allowed.test:80x\r\n\r\n", "Host header: bad port in host"},
      {"GET / HTTP/1.1\r\nHost: allowed.test:123456\r\n\r\n", "Host header: bad port in host"},
      {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n",
       "Host header: host contains a character not allowed in a host name"},
      {"GET / HTTP/1.1\r\nHost: a%2e.test\r\n\r\n",
       "Host header: host contains a character not allowed in a host name"},
      {"GET / HTTP/1.1\r\nHost:\r\n\r\n", "Host header: host is empty or too long"},
      {"GET / HTTP/1.1\r\nHost: [::1\r\n\r\n", "Host header: unclosed '[' in host"},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", "malformed header line"},
      {"GET /  HTTP/1.1\r\n\r\n", "malformed request line"},
      {"GET / HTTP/1.1 x\r\n\r\n", "malformed request line"},
      {"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", "not HTTP/1.x"},
      {"SSH-2.0-OpenSSH_9.2p1\r\n", "not an HTTP request"},
      {"\x16\x03\x01", "not an HTTP request"},
      {" GET / HTTP/1.1", "not an HTTP request"},
      {std::string(40, 'A'), "not an HTTP request"},
      {"GET /" + std::string(kMaxHttpHeadBytes, 'a'), "HTTP request head too large"},
  };
  for (const auto& c : cases) {
    INFO(c.request);
    auto r = http(c.request);
    CHECK(r.status == SniffStatus::kInvalid);
    CHECK(r.reason == c.reason);
  }
}
