// declawctl: a thin command line over the declawd API (docs/api.md). The command line is parsed
// by cli.cc into a plain value; this file only runs the verb it names.
#include <exception>
#include <iostream>

#include "clients/ctl/cli.h"
#include "clients/ctl/commands.h"

namespace {

using declaw::ctl::CommandLine;
using declaw::ctl::Verb;

int runVerb(const CommandLine& line) {
  namespace ctl = declaw::ctl;
  ctl::GlobalOptions global{ctl::resolveSocketPath(line.socket_flag), line.json};
  switch (line.verb) {
    case Verb::kCreate:
      return ctl::cmdCreate(global, line.sandbox);
    case Verb::kList:
      return ctl::cmdList(global, line.states, line.metadata, line.all);
    case Verb::kInfo:
      return ctl::cmdInfo(global, line.id);
    case Verb::kKill:
      if (!line.pids.empty()) return ctl::cmdKillProcesses(global, line.id, line.pids);
      return ctl::cmdKill(global, line.ids);
    case Verb::kExec:
      return ctl::cmdExec(global, line.id, line.exec);
    case Verb::kRun:
      return ctl::cmdRun(global, line.sandbox, line.exec);
    case Verb::kCopy:
      return ctl::cmdCopy(global, line.src, line.dst);
    case Verb::kWatch:
      return ctl::cmdWatch(global, line.id, line.path, line.recursive, line.user);
    case Verb::kPortForward:
      return ctl::cmdPortForward(global, line.id, line.port, line.listen);
    case Verb::kRunCode:
      return ctl::cmdRunCode(global, line.id, line.code);
    case Verb::kTimeout:
      return ctl::cmdSetTimeout(global, line.id, line.seconds);
    case Verb::kPs:
      return ctl::cmdProcessList(global, line.id);
    case Verb::kLogs:
      return ctl::cmdLogs(global, line.id, line.pid, line.follow);
    case Verb::kSignal:
      return ctl::cmdSignal(global, line.id, line.pid, line.signal);
    case Verb::kPause:
      return ctl::cmdPause(global, line.ids);
    case Verb::kResume:
      return ctl::cmdResume(global, line.ids);
    case Verb::kStats:
      return ctl::cmdStats(global, line.ids, line.stream);
    case Verb::kNetwork:
      return ctl::cmdNetwork(global, line.id, line.network);
    case Verb::kTemplateImport:
      return ctl::cmdTemplateImport(global, line.templ.file, line.templ.name, line.templ.replace);
    case Verb::kTemplateList:
      return ctl::cmdTemplateList(global);
    case Verb::kTemplateInspect:
      return ctl::cmdTemplateInspect(global, line.templ.name);
    case Verb::kTemplateRemove:
      return ctl::cmdTemplateRemove(global, line.templ.names);
    case Verb::kTemplateExport:
      return ctl::cmdTemplateExport(global, line.templ.name, line.templ.output);
    case Verb::kTemplateBuild:
      return ctl::cmdTemplateBuild(global, line.templ.name, line.build, line.templ.replace);
    case Verb::kSnapshot:
      return ctl::cmdSnapshot(global, line.id, line.templ.name, line.templ.replace);
  }
  return declaw::ctl::kUsageExitCode;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    auto parsed = declaw::ctl::parseCommandLine(argc, argv);
    std::cout << parsed.out << std::flush;
    std::cerr << parsed.err << std::flush;
    if (!parsed.command) return parsed.exit_code;
    return runVerb(*parsed.command);
  } catch (const std::exception& e) {
    // A bug or an allocation failure; `run` has already killed its sandbox while unwinding.
    std::cerr << "declawctl: " << e.what() << "\n";
    return declaw::ctl::kErrorExitCode;
  }
}
