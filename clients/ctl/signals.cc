#include "clients/ctl/signals.h"

#include <array>
#include <cctype>
#include <csignal>
#include <utility>

namespace declaw::ctl {
namespace {

// signal(7), the standard signals. IOT, CLD and POLL are the old aliases of ABRT, CHLD and IO.
constexpr std::array<std::pair<std::string_view, int>, 34> kSignals = {{
    {"HUP", SIGHUP},   {"INT", SIGINT},       {"QUIT", SIGQUIT}, {"ILL", SIGILL},
    {"TRAP", SIGTRAP}, {"ABRT", SIGABRT},     {"BUS", SIGBUS},   {"FPE", SIGFPE},
    {"KILL", SIGKILL}, {"USR1", SIGUSR1},     {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
    {"PIPE", SIGPIPE}, {"ALRM", SIGALRM},     {"TERM", SIGTERM}, {"STKFLT", SIGSTKFLT},
    {"CHLD", SIGCHLD}, {"CONT", SIGCONT},     {"STOP", SIGSTOP}, {"TSTP", SIGTSTP},
    {"TTIN", SIGTTIN}, {"TTOU", SIGTTOU},     {"URG", SIGURG},   {"XCPU", SIGXCPU},
    {"XFSZ", SIGXFSZ}, {"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH},
    {"IO", SIGIO},     {"PWR", SIGPWR},       {"SYS", SIGSYS},   {"IOT", SIGIOT},
    {"CLD", SIGCHLD},  {"POLL", SIGPOLL},
}};

std::string upper(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

}  // namespace

Result<int> parseSignal(std::string_view text) {
  auto bad = [&] {
    return PlainError() << "unknown signal '" << text << "' (a name such as TERM or SIGKILL, or a "
                        << "number " << kMinSignal << ".." << kMaxSignal << ")";
  };
  if (text.empty()) return bad();
  if (std::isdigit(static_cast<unsigned char>(text.front()))) {
    int value = 0;
    for (char c : text) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || value > kMaxSignal) return bad();
      value = value * 10 + (c - '0');
    }
    if (value < kMinSignal || value > kMaxSignal) return bad();
    return value;
  }
  std::string name = upper(text);
  if (name.rfind("SIG", 0) == 0) name.erase(0, 3);
  for (const auto& [known, number] : kSignals) {
    if (known == name) return number;
  }
  return bad();
}

std::string signalName(int number) {
  for (const auto& [name, value] : kSignals) {
    if (value == number) return std::string(name);  // the first, canonical name
  }
  return std::to_string(number);
}

nlohmann::json signalRequestValue(int number) {
  std::string name = signalName(number);
  if (!name.empty() && !std::isdigit(static_cast<unsigned char>(name.front()))) return name;
  return number;
}

}  // namespace declaw::ctl
