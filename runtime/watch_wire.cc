#include "runtime/watch_wire.h"

#include <cstring>
#include <string_view>

namespace declaw::runtime {

namespace {

constexpr size_t kLengthBytes = 4;

bool isChange(WatchRecordKind kind) {
  return kind >= WatchRecordKind::kCreate && kind <= WatchRecordKind::kChmod;
}

bool knownKind(uint8_t kind) {
  const auto k = static_cast<WatchRecordKind>(kind);
  return isChange(k) || k == WatchRecordKind::kLost || k == WatchRecordKind::kEndRemoved ||
         k == WatchRecordKind::kEndError;
}

// Relative, without "." or ".." components or empty ones: a name the daemon can pass on as
// naming something under the watched directory.
bool isRelativeName(std::string_view name) {
  if (name.empty() || name.front() == '/' || name.back() == '/') return false;
  size_t start = 0;
  while (start <= name.size()) {
    size_t slash = name.find('/', start);
    if (slash == std::string_view::npos) slash = name.size();
    const std::string_view part = name.substr(start, slash - start);
    if (part.empty() || part == "." || part == "..") return false;
    start = slash + 1;
  }
  return true;
}

}  // namespace

std::string encodeWatchRecord(const WatchRecord& record) {
  const uint32_t length = static_cast<uint32_t>(1 + record.name.size());
  std::string out(kLengthBytes, '\0');
  std::memcpy(out.data(), &length, kLengthBytes);
  out.push_back(static_cast<char>(record.kind));
  out.append(record.name);
  return out;
}

WatchTake takeWatchRecord(std::string& buffer, WatchRecord& out) {
  if (buffer.size() < kLengthBytes) return WatchTake::kNeedMore;
  uint32_t length = 0;
  std::memcpy(&length, buffer.data(), kLengthBytes);
  if (length < 1 || length > kMaxWatchRecordBytes) return WatchTake::kMalformed;
  if (buffer.size() - kLengthBytes < length) return WatchTake::kNeedMore;
  const auto kind = static_cast<uint8_t>(buffer[kLengthBytes]);
  std::string name = buffer.substr(kLengthBytes + 1, length - 1);
  if (!knownKind(kind) || name.find('\0') != std::string::npos) return WatchTake::kMalformed;
  const auto k = static_cast<WatchRecordKind>(kind);
  if (isChange(k) && !isRelativeName(name)) return WatchTake::kMalformed;
  if (!isChange(k) && k != WatchRecordKind::kEndError && !name.empty()) {
    return WatchTake::kMalformed;
  }
  buffer.erase(0, kLengthBytes + length);
  out.kind = k;
  out.name = std::move(name);
  return WatchTake::kRecord;
}

const char* watchChangeName(WatchRecordKind kind) {
  switch (kind) {
    case WatchRecordKind::kCreate:
      return "create";
    case WatchRecordKind::kWrite:
      return "write";
    case WatchRecordKind::kRemove:
      return "remove";
    case WatchRecordKind::kRename:
      return "rename";
    case WatchRecordKind::kChmod:
      return "chmod";
    default:
      return "";
  }
}

}  // namespace declaw::runtime
