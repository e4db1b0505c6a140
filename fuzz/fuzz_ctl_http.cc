// declawctl's side of HTTP: the response head parser, body framing, the chunked decoder and the
// Server-Sent Events parser (clients/ctl/http_parse.h, sse_parse.h). A hostile or broken daemon
// (or anything listening on DECLAW_SOCKET) controls these bytes.
//
// Input: the bytes of a response, as the socket would deliver them.
//
// Invariants: the incremental parsers give the same result however the bytes are split (all at
// once, one byte at a time, or at pseudo-random points), since the socket splits them anywhere;
// the chunked decoder inverts a chunked encoding of any body; a parsed head has a 3-digit status
// and lower-case header names.
#include <string>
#include <string_view>
#include <vector>

#include "clients/ctl/http_parse.h"
#include "clients/ctl/sse_parse.h"
#include "fuzz/fuzz_check.h"

namespace {

using declaw::ctl::ChunkedDecoder;
using declaw::ctl::SseEvent;
using declaw::ctl::SseParser;

// Split points: a small xorshift seeded from the input, so a crash reproduces from its file.
class Splitter {
 public:
  explicit Splitter(std::string_view seed_from) {
    for (char c : seed_from.substr(0, 64)) state_ = state_ * 131 + static_cast<uint8_t>(c);
    if (state_ == 0) state_ = 1;
  }
  size_t next(size_t most) {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return 1 + static_cast<size_t>(state_ % most);
  }

 private:
  uint64_t state_ = 0x9e3779b97f4a7c15ull;
};

enum class Split { kWhole, kBytes, kRandom };

std::vector<std::string_view> pieces(std::string_view data, Split split) {
  std::vector<std::string_view> out;
  Splitter splitter(data);
  while (!data.empty()) {
    size_t n = split == Split::kWhole   ? data.size()
               : split == Split::kBytes ? 1
                                        : std::min(data.size(), splitter.next(17));
    out.push_back(data.substr(0, n));
    data.remove_prefix(n);
  }
  return out;
}

struct ChunkedOutcome {
  bool ok = true;
  bool done = false;
  std::string body;
  bool operator==(const ChunkedOutcome&) const = default;
};

ChunkedOutcome decodeChunked(std::string_view data, Split split) {
  ChunkedDecoder decoder;
  ChunkedOutcome outcome;
  for (std::string_view piece : pieces(data, split)) {
    if (!decoder.feed(piece, outcome.body)) {
      outcome.ok = false;
      break;
    }
    if (decoder.done()) break;  // as http_client stops reading
  }
  outcome.done = decoder.done();
  return outcome;
}

struct SseOutcome {
  bool ok = true;
  std::vector<std::string> events;  // type, data and id flattened for comparison
  bool operator==(const SseOutcome&) const = default;
};

SseOutcome parseSse(std::string_view data, Split split) {
  SseParser parser;
  SseOutcome outcome;
  std::vector<SseEvent> events;
  for (std::string_view piece : pieces(data, split)) {
    if (!parser.feed(piece, events)) {
      outcome.ok = false;
      break;
    }
  }
  for (const SseEvent& e : events) {
    outcome.events.push_back(e.type + '\0' + e.data + '\0' + e.id);
  }
  return outcome;
}

void checkHead(std::string_view data) {
  const size_t end = declaw::ctl::findHeadEnd(data);
  if (end == std::string_view::npos) return;
  FUZZ_CHECK(end <= data.size());
  auto head = declaw::ctl::parseResponseHead(data.substr(0, end));
  if (!head) return;
  FUZZ_CHECK(head->status >= 100 && head->status <= 999, std::to_string(head->status));
  for (const auto& [name, value] : head->headers) {
    FUZZ_CHECK(!name.empty() && name.find(':') == std::string::npos, name);
    for (char c : name) FUZZ_CHECK(!(c >= 'A' && c <= 'Z'), name);
  }
  for (const char* method : {"GET", "HEAD", "POST"}) {
    auto framing = declaw::ctl::bodyFraming(*head, method);
    if (!framing) continue;
    if (std::string_view(method) == "HEAD") {
      FUZZ_CHECK(framing->kind == declaw::ctl::BodyKind::kNone);
    }
    if (framing->kind == declaw::ctl::BodyKind::kChunked) {
      // The body as the client would decode it, checked for split independence below too.
      (void)decodeChunked(data.substr(end), Split::kWhole);
    }
  }
}

// A chunked encoding of `body` with chunk sizes drawn from the input, and extensions/trailers
// sometimes, decodes back to `body`.
void checkChunkedRoundTrip(std::string_view body) {
  Splitter splitter(body);
  std::string encoded;
  std::string_view rest = body;
  while (!rest.empty()) {
    const size_t n = std::min(rest.size(), splitter.next(40));
    char size[32];
    std::snprintf(size, sizeof size, n % 2 ? "%zx" : "%zX", n);
    encoded += size;
    if (n % 3 == 0) encoded += ";ext=1";
    encoded += "\r\n";
    encoded.append(rest.substr(0, n));
    encoded += "\r\n";
    rest.remove_prefix(n);
  }
  encoded += body.size() % 2 ? "0\r\nX-Trailer: y\r\n\r\n" : "0\r\n\r\n";
  for (Split split : {Split::kWhole, Split::kRandom}) {
    ChunkedOutcome outcome = decodeChunked(encoded, split);
    FUZZ_CHECK(outcome.ok && outcome.done, declaw::fuzz::show(encoded));
    FUZZ_CHECK(outcome.body == body, declaw::fuzz::show(outcome.body));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text = declaw::fuzz::asText(data, size);
  checkHead(text);

  const ChunkedOutcome chunked = decodeChunked(text, Split::kWhole);
  FUZZ_CHECK(decodeChunked(text, Split::kBytes) == chunked, "chunked: bytewise differs");
  FUZZ_CHECK(decodeChunked(text, Split::kRandom) == chunked, "chunked: split differs");

  const SseOutcome sse = parseSse(text, Split::kWhole);
  FUZZ_CHECK(parseSse(text, Split::kBytes) == sse, "sse: bytewise differs");
  FUZZ_CHECK(parseSse(text, Split::kRandom) == sse, "sse: split differs");

  checkChunkedRoundTrip(text);
  return 0;
}
