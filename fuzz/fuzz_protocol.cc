// The daemon<->init control protocol decoders (runtime/protocol.h). Sandbox code may take
// declaw-init over, so everything init sends (kReady, kSetupFailed, kReply, kExited, and the
// entries of a stat or a listing) is hostile input to the daemon; init decodes the daemon's
// messages, which are fuzzed too.
//
// Input: one packet, as recvPacket would hand it over (type byte first); the same bytes are also
// decoded as a bare entry and an entry list (which travel without a type byte), and as the
// records a directory watch writes to its pipe.
//
// Invariants: a decoder that accepts a packet accepts the packet its own encoder makes from the
// result, and that one re-encodes byte for byte (decode . encode is the identity on what decode
// produces); decoders never read out of bounds or allocate beyond the packet's size.
#include <string>
#include <string_view>
#include <vector>

#include "fuzz/fuzz_check.h"
#include "runtime/protocol.h"
#include "runtime/watch_wire.h"

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

// A directory watch's records (runtime/watch_wire.h), as the daemon reads them off the pipe:
// every record taken re-encodes to the bytes it came from, a change's name is relative, and
// the buffer only shrinks.
void checkWatchRecords(std::string_view data) {
  std::string buffer(data);
  for (;;) {
    const std::string before = buffer;
    rt::WatchRecord record;
    const rt::WatchTake take = rt::takeWatchRecord(buffer, record);
    if (take != rt::WatchTake::kRecord) {
      FUZZ_CHECK(buffer == before, "a refused or short record takes nothing");
      return;
    }
    const std::string encoded = rt::encodeWatchRecord(record);
    FUZZ_CHECK(before.compare(0, encoded.size(), encoded) == 0, show(encoded));
    FUZZ_CHECK(buffer.size() + encoded.size() == before.size());
    if (*rt::watchChangeName(record.kind) != '\0') {
      const std::string& name = record.name;
      FUZZ_CHECK(!name.empty() && name.front() != '/' && name != ".." &&
                     name.rfind("../", 0) != 0 && name.find("/../") == std::string::npos,
                 show(name));
    }
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
  roundTrip<rt::Held>(packet);
  roundTrip<rt::Attached>(packet);
  checkEntries(packet);
  if (!packet.empty()) checkEntries(packet.substr(1));
  // daemon -> init.
  roundTrip<rt::InitConfig>(packet);
  roundTrip<rt::SpawnRequest>(packet);
  roundTrip<rt::SignalRequest>(packet);
  roundTrip<rt::FileOpRequest>(packet);
  roundTrip<rt::Attach>(packet);
  roundTrip<rt::ReleaseStdin>(packet);
  checkReader(packet);
  checkWatchRecords(packet);
  return 0;
}
