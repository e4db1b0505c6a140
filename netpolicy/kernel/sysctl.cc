#include "netpolicy/kernel/sysctl.h"

#include <fcntl.h>

#include "common/io.h"
#include "common/unique_fd.h"

namespace declaw::netpolicy {

namespace {

constexpr std::string_view kProcSys = "/proc/sys/";
constexpr size_t kMaxSysctlBytes = 4096;

std::string fullPath(std::string_view path) { return std::string(kProcSys) + std::string(path); }

std::string trimmed(std::string value) {
  while (!value.empty() && (value.back() == '\n' || value.back() == ' ')) value.pop_back();
  return value;
}

Result<void> writeValue(std::string_view path, std::string_view value) {
  const std::string full = fullPath(path);
  UniqueFd fd(::open(full.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return ErrnoError() << "open " << full;
  if (auto r = writeAll(fd.get(), value); !r) {
    return ErrnoError(r.error().code) << "write " << value << " to " << full;
  }
  return {};
}

}  // namespace

Result<std::string> readSysctl(std::string_view path) {
  auto value = readFile(fullPath(path), kMaxSysctlBytes);
  if (!value) return value.error();
  return trimmed(std::move(*value));
}

Result<SysctlChange> setSysctl(std::string_view path, std::string_view value) {
  auto previous = readSysctl(path);
  if (!previous) return previous.error();
  SysctlChange change{std::string(path), std::move(*previous), std::string(value), false};
  if (change.previous == change.written) return change;
  if (auto r = writeValue(path, value); !r) return r.error();
  change.changed = true;
  return change;
}

Result<void> applySysctl(const SysctlSetting& setting) {
  auto r = setSysctl(setting.path, setting.value);
  if (!r && r.error().code == ENOENT && setting.missing_ok) return {};
  if (!r) return r.error();
  return {};
}

Result<void> restoreSysctl(const SysctlChange& change) {
  if (!change.changed) return {};
  auto now = readSysctl(change.path);
  if (!now) return now.error();
  if (*now != change.written) return {};
  return writeValue(change.path, change.previous);
}

Result<SysctlChange> enableIpv4Forwarding() { return setSysctl(kIpv4ForwardSysctl, "1"); }

}  // namespace declaw::netpolicy
