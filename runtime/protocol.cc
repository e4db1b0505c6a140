#include "runtime/protocol.h"

#include <cstring>

namespace declaw::runtime {

namespace {
// A list longer than this is malformed, whatever its bytes say.
constexpr uint32_t kMaxListItems = 1 << 20;
}  // namespace

void WireWriter::u32(uint32_t v) {
  char b[4];
  std::memcpy(b, &v, 4);
  buf_.append(b, 4);
}

void WireWriter::u64(uint64_t v) {
  char b[8];
  std::memcpy(b, &v, 8);
  buf_.append(b, 8);
}

void WireWriter::str(std::string_view s) {
  u32(static_cast<uint32_t>(s.size()));
  buf_.append(s);
}

void WireWriter::strs(const std::vector<std::string>& v) {
  u32(static_cast<uint32_t>(v.size()));
  for (const auto& s : v) str(s);
}

bool WireReader::take(size_t n) {
  if (!ok_ || data_.size() - pos_ < n) {
    ok_ = false;
    return false;
  }
  return true;
}

uint8_t WireReader::u8() {
  if (!take(1)) return 0;
  return static_cast<uint8_t>(data_[pos_++]);
}

uint32_t WireReader::u32() {
  if (!take(4)) return 0;
  uint32_t v;
  std::memcpy(&v, data_.data() + pos_, 4);
  pos_ += 4;
  return v;
}

uint64_t WireReader::u64() {
  if (!take(8)) return 0;
  uint64_t v;
  std::memcpy(&v, data_.data() + pos_, 8);
  pos_ += 8;
  return v;
}

std::string WireReader::str() {
  uint32_t n = u32();
  if (!take(n)) return {};
  std::string s(data_.substr(pos_, n));
  pos_ += n;
  return s;
}

std::vector<std::string> WireReader::strs() {
  uint32_t n = u32();
  std::vector<std::string> v;
  if (n > kMaxListItems || n > data_.size() - pos_) {  // each item takes >= 4 bytes
    ok_ = false;
    return v;
  }
  v.reserve(n);
  for (uint32_t i = 0; i < n && ok_; ++i) v.push_back(str());
  return v;
}

MsgType peekType(std::string_view packet) {
  return packet.empty() ? MsgType{0} : static_cast<MsgType>(packet[0]);
}

namespace {

// Checks the type byte and returns a reader positioned after it.
bool open(std::string_view packet, MsgType type, WireReader& r) {
  if (peekType(packet) != type) return false;
  r = WireReader(packet.substr(1));
  return true;
}

void writeEntry(WireWriter& w, const Entry& e) {
  w.str(e.name);
  w.str(e.path);
  w.u8(static_cast<uint8_t>(e.type));
  w.u64(e.size);
  w.u32(e.mode);
  w.u32(e.uid);
  w.u32(e.gid);
  w.i64(e.mtime_sec);
  w.str(e.symlink_target);
}

void readEntry(WireReader& r, Entry& e) {
  e.name = r.str();
  e.path = r.str();
  uint8_t type = r.u8();
  e.type = (type >= 1 && type <= 4) ? static_cast<EntryType>(type) : EntryType::kOther;
  e.size = r.u64();
  e.mode = r.u32();
  e.uid = r.u32();
  e.gid = r.u32();
  e.mtime_sec = r.i64();
  e.symlink_target = r.str();
}

}  // namespace

namespace {

// At most this many host entries in a config: the fixed paths and the host's /etc, with room.
constexpr uint32_t kMaxHostEntries = 16384;

void writeHostFacts(WireWriter& w, const HostFacts& facts) {
  w.u32(static_cast<uint32_t>(facts.entries.size()));
  for (const auto& [path, entry] : facts.entries) {
    w.str(path);
    w.u8(static_cast<uint8_t>(entry.kind));
    w.str(entry.symlink_target);
    w.u32(entry.mode);
  }
}

bool readHostFacts(WireReader& r, HostFacts& facts) {
  const uint32_t count = r.u32();
  if (!r.ok() || count > kMaxHostEntries) return false;
  for (uint32_t i = 0; i < count; ++i) {
    std::string path = r.str();
    const uint8_t kind = r.u8();
    HostEntry entry;
    entry.symlink_target = r.str();
    entry.mode = r.u32();
    if (!r.ok() || kind > static_cast<uint8_t>(HostKind::kOther) || path.empty() ||
        path[0] != '/' || entry.mode > 07777) {
      return false;
    }
    entry.kind = static_cast<HostKind>(kind);
    facts.entries[std::move(path)] = std::move(entry);
  }
  return true;
}

}  // namespace

std::string encode(const InitConfig& m) {
  WireWriter w(MsgType::kConfig);
  w.str(m.sandbox_id);
  w.str(m.hostname);
  w.str(m.template_name);
  w.u8(static_cast<uint8_t>(m.root_kind));
  w.u8(m.usr_mount ? 1 : 0);
  w.u8(m.skeleton ? 1 : 0);
  w.u32(m.user_uid);
  w.u32(m.user_gid);
  w.str(
      std::string_view(reinterpret_cast<const char*>(m.seccomp_bpf.data()), m.seccomp_bpf.size()));
  w.u8(m.network ? 1 : 0);
  if (m.network) {
    const NetworkConfig& n = *m.network;
    w.str(n.interface);
    w.str(n.address);
    w.u32(n.prefix_len);
    w.str(n.gateway);
    w.str(n.nameserver);
    w.str(n.address6);
    w.u32(n.prefix_len6);
    w.str(n.gateway6);
  }
  w.u8(m.host ? 1 : 0);
  if (m.host) writeHostFacts(w, *m.host);
  return w.data();
}

bool decode(std::string_view packet, InitConfig& m) {
  WireReader r("");
  if (!open(packet, MsgType::kConfig, r)) return false;
  m.sandbox_id = r.str();
  m.hostname = r.str();
  m.template_name = r.str();
  uint8_t kind = r.u8();
  if (kind > static_cast<uint8_t>(RootKind::kImage)) return false;
  m.root_kind = static_cast<RootKind>(kind);
  uint8_t usr_mount = r.u8();
  if (usr_mount > 1) return false;
  m.usr_mount = usr_mount == 1;
  uint8_t skeleton = r.u8();
  if (skeleton > 1) return false;
  m.skeleton = skeleton == 1;
  m.user_uid = r.u32();
  m.user_gid = r.u32();
  std::string bpf = r.str();
  m.seccomp_bpf.assign(bpf.begin(), bpf.end());
  uint8_t has_network = r.u8();
  if (has_network > 1) return false;
  m.network.reset();
  if (has_network == 1) {
    NetworkConfig n;
    n.interface = r.str();
    n.address = r.str();
    n.prefix_len = r.u32();
    n.gateway = r.str();
    n.nameserver = r.str();
    n.address6 = r.str();
    n.prefix_len6 = r.u32();
    n.gateway6 = r.str();
    m.network = std::move(n);
  }
  const uint8_t has_host = r.u8();
  if (has_host > 1) return false;
  m.host.reset();
  if (has_host == 1) {
    HostFacts facts;
    if (!readHostFacts(r, facts)) return false;
    m.host = std::move(facts);
  }
  return r.atEnd();
}

std::string encode(const SkeletonRequest& m) {
  WireWriter w(MsgType::kSkeleton);
  w.u32(m.user_uid);
  w.u32(m.user_gid);
  writeHostFacts(w, m.host);
  return w.data();
}

bool decode(std::string_view packet, SkeletonRequest& m) {
  WireReader r("");
  if (!open(packet, MsgType::kSkeleton, r)) return false;
  m.user_uid = r.u32();
  m.user_gid = r.u32();
  HostFacts facts;
  if (!readHostFacts(r, facts)) return false;
  m.host = std::move(facts);
  return r.atEnd();
}

std::string encode(const SpawnRequest& m) {
  WireWriter w(MsgType::kSpawn);
  w.u64(m.request_id);
  w.strs(m.argv);
  w.strs(m.env);
  w.str(m.cwd);
  w.u32(m.uid);
  w.u32(m.gid);
  w.u8(m.keep_caps ? 1 : 0);
  w.u8(m.pty ? 1 : 0);
  w.u32(m.rows);
  w.u32(m.cols);
  w.strs(m.fallback_argv);
  w.str(m.fallback_cwd);
  w.u8(m.search_path ? 1 : 0);
  w.u8(m.hold ? 1 : 0);
  w.u8(m.hold_stdin ? 1 : 0);
  w.str(m.note);
  return w.data();
}

bool decode(std::string_view packet, SpawnRequest& m) {
  WireReader r("");
  if (!open(packet, MsgType::kSpawn, r)) return false;
  m.request_id = r.u64();
  m.argv = r.strs();
  m.env = r.strs();
  m.cwd = r.str();
  m.uid = r.u32();
  m.gid = r.u32();
  m.keep_caps = r.u8() != 0;
  m.pty = r.u8() != 0;
  uint32_t rows = r.u32();
  uint32_t cols = r.u32();
  if (rows > UINT16_MAX || cols > UINT16_MAX) return false;
  m.rows = static_cast<uint16_t>(rows);
  m.cols = static_cast<uint16_t>(cols);
  m.fallback_argv = r.strs();
  m.fallback_cwd = r.str();
  m.search_path = r.u8() != 0;
  m.hold = r.u8() != 0;
  m.hold_stdin = r.u8() != 0;
  m.note = r.str();
  return r.atEnd() && m.note.size() <= kMaxNoteBytes;
}

std::string encode(const SignalRequest& m) {
  WireWriter w(MsgType::kSignal);
  w.u64(m.request_id);
  w.i32(m.pid);
  w.i32(m.signal);
  w.u8(m.group ? 1 : 0);
  return w.data();
}

bool decode(std::string_view packet, SignalRequest& m) {
  WireReader r("");
  if (!open(packet, MsgType::kSignal, r)) return false;
  m.request_id = r.u64();
  m.pid = r.i32();
  m.signal = r.i32();
  m.group = r.u8() != 0;
  return r.atEnd();
}

std::string encode(const FileOpRequest& m) {
  WireWriter w(MsgType::kFileOp);
  w.u64(m.request_id);
  w.u8(static_cast<uint8_t>(m.kind));
  w.str(m.path);
  w.str(m.path2);
  w.u32(m.uid);
  w.u32(m.gid);
  w.u32(m.depth);
  w.u32(m.mode);
  return w.data();
}

bool decode(std::string_view packet, FileOpRequest& m) {
  WireReader r("");
  if (!open(packet, MsgType::kFileOp, r)) return false;
  m.request_id = r.u64();
  uint8_t kind = r.u8();
  if (kind < 1 || kind > static_cast<uint8_t>(FileOpKind::kWatch)) return false;
  m.kind = static_cast<FileOpKind>(kind);
  m.path = r.str();
  m.path2 = r.str();
  m.uid = r.u32();
  m.gid = r.u32();
  m.depth = r.u32();
  m.mode = r.u32();
  return r.atEnd();
}

std::string encodeReady() { return WireWriter(MsgType::kReady).data(); }

std::string encodeHold() { return WireWriter(MsgType::kHold).data(); }

bool decodeHold(std::string_view packet) {
  WireReader r("");
  return open(packet, MsgType::kHold, r) && r.atEnd();
}

std::string encodeZygote() { return WireWriter(MsgType::kZygote).data(); }

bool decodeZygote(std::string_view packet) {
  WireReader r("");
  return open(packet, MsgType::kZygote, r) && r.atEnd();
}

std::string encodeLaunch() { return WireWriter(MsgType::kLaunch).data(); }

bool decodeLaunch(std::string_view packet) {
  WireReader r("");
  return open(packet, MsgType::kLaunch, r) && r.atEnd();
}

std::string encode(const Attach& m) {
  WireWriter w(MsgType::kAttach);
  w.u32(m.version);
  return w.data();
}

bool decode(std::string_view packet, Attach& m) {
  WireReader r("");
  if (!open(packet, MsgType::kAttach, r)) return false;
  m.version = r.u32();
  return r.atEnd();
}

std::string encode(const ReleaseStdin& m) {
  WireWriter w(MsgType::kReleaseStdin);
  w.i32(m.pid);
  return w.data();
}

bool decode(std::string_view packet, ReleaseStdin& m) {
  WireReader r("");
  if (!open(packet, MsgType::kReleaseStdin, r)) return false;
  m.pid = r.i32();
  return r.atEnd();
}

std::string encode(const Held& m) {
  WireWriter w(MsgType::kHeld);
  w.i32(m.pid);
  w.u8(m.exited ? 1 : 0);
  w.i32(m.wait_status);
  w.u8(m.pty ? 1 : 0);
  w.u8(m.stdin ? 1 : 0);
  w.str(m.note);
  return w.data();
}

bool decode(std::string_view packet, Held& m) {
  WireReader r("");
  if (!open(packet, MsgType::kHeld, r)) return false;
  m.pid = r.i32();
  m.exited = r.u8() != 0;
  m.wait_status = r.i32();
  m.pty = r.u8() != 0;
  m.stdin = r.u8() != 0;
  m.note = r.str();
  return r.atEnd() && m.note.size() <= kMaxNoteBytes;
}

std::string encode(const Attached& m) {
  WireWriter w(MsgType::kAttached);
  w.u32(m.version);
  w.u32(m.held);
  return w.data();
}

bool decode(std::string_view packet, Attached& m) {
  WireReader r("");
  if (!open(packet, MsgType::kAttached, r)) return false;
  m.version = r.u32();
  if (!r.ok() || m.version != kProtocolVersion) return false;
  m.held = r.u32();
  return r.atEnd();
}

std::string encode(const SetupFailed& m) {
  WireWriter w(MsgType::kSetupFailed);
  w.i32(m.error);
  w.str(m.message);
  return w.data();
}

bool decode(std::string_view packet, SetupFailed& m) {
  WireReader r("");
  if (!open(packet, MsgType::kSetupFailed, r)) return false;
  m.error = r.i32();
  m.message = r.str();
  return r.atEnd();
}

std::string encode(const Reply& m) {
  WireWriter w(MsgType::kReply);
  w.u64(m.request_id);
  w.i32(m.error);
  w.str(m.message);
  w.i64(m.value);
  w.str(m.payload);
  return w.data();
}

bool decode(std::string_view packet, Reply& m) {
  WireReader r("");
  if (!open(packet, MsgType::kReply, r)) return false;
  m.request_id = r.u64();
  m.error = r.i32();
  m.message = r.str();
  m.value = r.i64();
  m.payload = r.str();
  return r.atEnd();
}

std::string encode(const Exited& m) {
  WireWriter w(MsgType::kExited);
  w.i32(m.pid);
  w.i32(m.wait_status);
  return w.data();
}

bool decode(std::string_view packet, Exited& m) {
  WireReader r("");
  if (!open(packet, MsgType::kExited, r)) return false;
  m.pid = r.i32();
  m.wait_status = r.i32();
  return r.atEnd();
}

std::string encodeEntry(const Entry& e) {
  WireWriter w;
  writeEntry(w, e);
  return w.data();
}

std::string encodeEntries(const std::vector<Entry>& es) {
  WireWriter w;
  w.u32(static_cast<uint32_t>(es.size()));
  for (const auto& e : es) writeEntry(w, e);
  return w.data();
}

bool decodeEntry(std::string_view data, Entry& e) {
  WireReader r(data);
  readEntry(r, e);
  return r.atEnd();
}

bool decodeEntries(std::string_view data, std::vector<Entry>& es) {
  WireReader r(data);
  uint32_t n = r.u32();
  if (n > kMaxListItems) return false;
  es.clear();
  for (uint32_t i = 0; i < n && r.ok(); ++i) {
    Entry e;
    readEntry(r, e);
    es.push_back(std::move(e));
  }
  return r.atEnd();
}

}  // namespace declaw::runtime
