// The daemon<->init control protocol decoders (runtime/protocol.h). Sandbox code may take
// declaw-init over, so everything init sends (kReady, kSetupFailed, kReply, kExited, and the
// entries of a stat or a listing) is hostile input to the daemon; init decodes the daemon's
// messages, which are fuzzed too.
//
// Input: one packet, as recvPacket would hand it over (type byte first); the same bytes are also
// decoded as a bare entry and an entry list (which travel without a type byte).
//
// Invariants: a decoder that accepts a packet accepts the packet its own encoder makes from the
// result, and that one re-encodes byte for byte (decode . encode is the identity on what decode
// produces); decoders never read out of bounds or allocate beyond the packet's size.
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "runtime/protocol.h"

namespace {

namespace rt = declaw::runtime;
using declaw::fuzz::show;

// decode(packet) ok => encode(decoded) decodes, and encodes to the same bytes again.
template <typename Message>
void roundTrip(std::string_view packet) {
  Message decoded;
  if (!rt::decode(packet, decoded)) return;
  const std::string encoded = rt::encode(decoded);
  FUZZ_CHECK(encoded.size() <= packet.size(), "canonical form is never longer");
  Message again;
  FUZZ_CHECK(rt::decode(encoded, again), show(encoded));
  FUZZ_CHECK(rt::encode(again) == encoded, show(encoded));
}

void checkEntries(std::string_view data) {
  rt::Entry entry;
  if (rt::decodeEntry(data, entry)) {
    const std::string encoded = rt::encodeEntry(entry);
    FUZZ_CHECK(encoded == data || (data.size() == encoded.size()),
               "an entry has one encoding but its type byte");
    rt::Entry again;
    FUZZ_CHECK(rt::decodeEntry(encoded, again) && rt::encodeEntry(again) == encoded);
    FUZZ_CHECK(entry.type >= rt::EntryType::kFile && entry.type <= rt::EntryType::kOther);
  }
  std::vector<rt::Entry> entries;
  if (rt::decodeEntries(data, entries)) {
    FUZZ_CHECK(entries.size() <= data.size(), "each entry takes bytes");
    const std::string encoded = rt::encodeEntries(entries);
    std::vector<rt::Entry> again;
    FUZZ_CHECK(rt::decodeEntries(encoded, again) && rt::encodeEntries(again) == encoded);
  }
}

void checkReader(std::string_view data) {
  // The reader stays failed after a failure, and reads past the end give zeros.
  rt::WireReader reader(data);
  (void)reader.strs();
  if (!reader.ok()) {
    FUZZ_CHECK(reader.u64() == 0 && reader.str().empty() && !reader.ok() && !reader.atEnd());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view packet = declaw::fuzz::asText(data, size);
  if (packet.size() > rt::kMaxPacketBytes) return 0;  // recvPacket refuses these
  // init -> daemon: hostile.
  roundTrip<rt::SetupFailed>(packet);
  roundTrip<rt::Reply>(packet);
  roundTrip<rt::Exited>(packet);
  checkEntries(packet);
  if (!packet.empty()) checkEntries(packet.substr(1));
  // daemon -> init.
  roundTrip<rt::InitConfig>(packet);
  roundTrip<rt::SpawnRequest>(packet);
  roundTrip<rt::SignalRequest>(packet);
  roundTrip<rt::FileOpRequest>(packet);
  checkReader(packet);
  return 0;
}
