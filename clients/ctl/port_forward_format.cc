#include "clients/ctl/port_forward_format.h"

#include <algorithm>
#include <cctype>

namespace declaw::ctl {
namespace {

constexpr size_t kMaxPortDigits = 5;
constexpr unsigned long kMaxListenPort = 65535;

bool isPortNumber(std::string_view text) {
  if (text.empty() || text.size() > kMaxPortDigits) return false;
  if (!std::all_of(text.begin(), text.end(),
                   [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; })) {
    return false;
  }
  return std::stoul(std::string(text)) <= kMaxListenPort;
}

std::string line(const std::string& from, const nlohmann::json& port) {
  return "Forwarding from " + from + " -> " + port.dump() + "\n";
}

}  // namespace

Result<std::string> parseListenAddress(std::string_view text) {
  if (isPortNumber(text)) return "127.0.0.1:" + std::string(text);
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return PlainError() << "LISTEN '" << text
                        << "' is not PORT, HOST:PORT or [V6]:PORT (e.g. 18000, 127.0.0.1:18000)";
  }
  const std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (!isPortNumber(port)) {
    return PlainError() << "LISTEN '" << text << "': the port must be a number 0..65535";
  }
  const bool bracketed = host.front() == '[' && host.back() == ']' && host.size() > 2;
  if (!bracketed && host.find_first_of(":[]") != std::string_view::npos) {
    return PlainError() << "LISTEN '" << text << "': write an IPv6 address in brackets, [::1]:PORT";
  }
  return std::string(text);
}

std::string forwardingLines(const nlohmann::json& forward) {
  const nlohmann::json port = forward.value("port", nlohmann::json());
  std::string out;
  if (auto host = forward.find("host"); host != forward.end() && host->is_string()) {
    out += line(host->get<std::string>(), port);
  }
  if (auto sock = forward.find("unix_socket"); sock != forward.end() && sock->is_string()) {
    out += line(sock->get<std::string>(), port);
  }
  return out;
}

}  // namespace declaw::ctl
