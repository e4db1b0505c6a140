// The process verbs: `ps ID`, `logs ID PID [-f]`, `signal ID PID SIG`, `kill ID --pid PID...`.
#include <iostream>

#include "clients/ctl/api_client.h"
#include "clients/ctl/commands.h"
#include "clients/ctl/commands_internal.h"
#include "clients/ctl/event_output.h"
#include "clients/ctl/format.h"
#include "clients/ctl/signals.h"

namespace declaw::ctl {

int cmdProcessList(const GlobalOptions& global, const std::string& id) {
  ApiClient api(global.socket_path);
  auto processes = api.listProcesses(id);
  if (!processes) return reportError(processes.error());
  if (global.json) {
    printJson(*processes);
  } else {
    std::cout << formatProcessTable(*processes) << std::flush;
  }
  return 0;
}

int cmdLogs(const GlobalOptions& global, const std::string& id, int64_t pid, bool follow) {
  ApiClient api(global.socket_path);
  EventPrinter printer({.json_lines = global.json, .raw_terminal = false});
  // A reader that goes away (`| head`) ends us with SIGPIPE, as for any filter: the process
  // is not ours to stop.
  auto streamed = api.attachProcess(id, pid, follow, printer.handler());
  if (!streamed) return reportError(streamed.error());
  return 0;
}

int cmdSignal(const GlobalOptions& global, const std::string& id, int64_t pid, int signal) {
  ApiClient api(global.socket_path);
  if (auto r = api.signalProcess(id, pid, signalRequestValue(signal)); !r) {
    return reportError(r.error());
  }
  return 0;
}

int cmdKillProcesses(const GlobalOptions& global, const std::string& id,
                     const std::vector<int64_t>& pids) {
  ApiClient api(global.socket_path);
  int rc = 0;
  for (int64_t pid : pids) {
    if (auto r = api.killProcess(id, pid); !r) rc = reportError(r.error());
  }
  return rc;
}

}  // namespace declaw::ctl
