#include "runtime/init/etc_files.h"

namespace declaw::runtime::init {

namespace {

constexpr const char* kCopiedFiles[] = {
    "ld.so.cache", "ld.so.conf",     "nsswitch.conf", "profile",    "bash.bashrc", "localtime",
    "os-release",  "debian_version", "inputrc",       "mime.types", "host.conf",   "login.defs",
    "environment", "shells",         "protocols",     "services",
};

constexpr const char* kBoundDirs[] = {
    "ld.so.conf.d", "ssl", "ca-certificates", "alternatives", "profile.d", "terminfo",
};

constexpr const char* kBoundDirPrefixes[] = {"python3"};

constexpr std::string_view kIdTest = "\"$(id -u)\"";
constexpr std::string_view kIdFromEuid = "\"${EUID:-$(id -u)}\"";

// RFC 1123 labels allow 63 bytes; HOST_NAME_MAX is 64 with the terminator.
constexpr size_t kMaxHostnameBytes = 63;

std::string passwd(const InitConfig& c) {
  std::string out = "root:x:0:0:root:/root:/bin/bash\n";
  out += "user:x:" + std::to_string(c.user_uid) + ":" + std::to_string(c.user_gid) +
         ":user:/home/user:/bin/bash\n";
  out += "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n";
  return out;
}

std::string group(const InitConfig& c) {
  std::string out = "root:x:0:\n";
  out += "tty:x:" + std::to_string(kTtyGid) + ":\n";
  out += "user:x:" + std::to_string(c.user_gid) + ":\n";
  out += "nogroup:x:65534:\n";
  return out;
}

std::string hosts(const InitConfig& c) {
  std::string out = "127.0.0.1\tlocalhost\n";
  out += "::1\tlocalhost ip6-localhost ip6-loopback\n";
  out += "127.0.1.1\t" + c.hostname + "\n";
  return out;
}

std::string resolvConf(const InitConfig& c) {
  if (!c.network || c.network->nameserver.empty()) {
    return "# declaw: this sandbox has no network access, so no name server is configured.\n";
  }
  // The DNS stub in declawd, on the sandbox's gateway: it answers only names the policy allows.
  return "# declaw: the name server is declawd's DNS stub on this sandbox's gateway.\n"
         "nameserver " +
         c.network->nameserver + "\n";
}

}  // namespace

std::string answerIdFromEuid(std::string profile) {
  for (size_t at = profile.find(kIdTest); at != std::string::npos;
       at = profile.find(kIdTest, at + kIdFromEuid.size())) {
    profile.replace(at, kIdTest.size(), kIdFromEuid);
  }
  return profile;
}

std::span<const char* const> etcCopiedFiles() { return kCopiedFiles; }
std::span<const char* const> etcBoundDirs() { return kBoundDirs; }
std::span<const char* const> etcBoundDirPrefixes() { return kBoundDirPrefixes; }

std::vector<GeneratedFile> generatedEtcFiles(const InitConfig& config) {
  return {
      {"passwd", passwd(config), 0644},
      {"group", group(config), 0644},
      {"hosts", hosts(config), 0644},
      {"hostname", config.hostname + "\n", 0644},
      {"resolv.conf", resolvConf(config), 0644},
  };
}

bool isValidHostname(std::string_view name) {
  if (name.empty() || name.size() > kMaxHostnameBytes) return false;
  if (name.front() == '-' || name.front() == '.') return false;
  for (char ch : name) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '-' || ch == '.';
    if (!ok) return false;
  }
  return true;
}

}  // namespace declaw::runtime::init
