// What a directory watch's helper inside the sandbox (runtime/init/dir_watch.h) writes to the
// pipe whose other end the daemon reads (daemon/dir_watch.h): a stream of records, each a u32
// length and then a kind byte and a name. The daemon reads them as untrusted input (the helper
// runs as the sandbox's user, whose code may have taken it over): takeWatchRecord checks every
// length and kind, and the daemon ends the watch on the first malformed record.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace declaw::runtime {

enum class WatchRecordKind : uint8_t {
  // A change to an entry, `name` relative to the watched directory ("sub/file.txt").
  kCreate = 1,  // created, or moved in
  kWrite = 2,   // its contents changed
  kRemove = 3,  // removed
  kRename = 4,  // moved away (its new name, if inside the watch, comes as a kCreate)
  kChmod = 5,   // its mode, owner or times changed
  // Events were dropped (the kernel's inotify queue overflowed); name is empty.
  kLost = 10,
  // The watch is over: the watched directory was removed, or the helper hit an error (`name`
  // is then the message, such as the bound on watched directories). Always the last record.
  kEndRemoved = 11,
  kEndError = 12,
};

struct WatchRecord {
  WatchRecordKind kind = WatchRecordKind::kCreate;
  std::string name;
  bool operator==(const WatchRecord&) const = default;
};

// A record's bytes after its length: a kind byte and the name (at most this long).
inline constexpr size_t kMaxWatchRecordBytes = 8192;

std::string encodeWatchRecord(const WatchRecord& record);

enum class WatchTake { kRecord, kNeedMore, kMalformed };

// Takes the first record off the front of `buffer` into `out` when it is complete. kMalformed
// for a length out of bounds, an unknown kind, a name with a NUL, or a change with an empty
// name, an absolute one or one with a ".." component.
WatchTake takeWatchRecord(std::string& buffer, WatchRecord& out);

// "create", "write", "remove", "rename", "chmod" for the changes (docs/api.md); "" otherwise.
const char* watchChangeName(WatchRecordKind kind);

}  // namespace declaw::runtime
