// declawctl's command line: what each verb and flag turns into, and which command lines are
// usage errors (exit 2, before any request).
#include <catch2/catch.hpp>
#include <initializer_list>
#include <string>
#include <vector>

#include "clients/ctl/cli.h"
#include "ctl_test_support.h"

namespace ctl = declaw::ctl;

using declaw::ctl::testing::command;
using declaw::ctl::testing::parse;
using declaw::ctl::testing::usageError;

TEST_CASE("plain exec waits for the command with the default timeout") {
  auto line = command({"exec", "sbx-1", "--", "echo", "a b"});
  CHECK(line.verb == ctl::Verb::kExec);
  CHECK(line.id == "sbx-1");
  CHECK(line.exec.mode == ctl::ExecMode::kWait);
  CHECK(line.exec.argv == std::vector<std::string>{"echo", "a b"});
  CHECK_FALSE(line.exec.timeout_s.has_value());
  CHECK(ctl::commandTimeout(line.exec) == 60);
}

TEST_CASE("the words after -- reach the command as they are, brackets and all") {
  auto line = command({"exec", "sbx-1", "--", "printf", "[%s]", "[a,b]", "[]", "--", "-x"});
  CHECK(line.exec.argv == std::vector<std::string>{"printf", "[%s]", "[a,b]", "[]", "--", "-x"});
  CHECK(command({"run", "--", "echo", "[x]"}).exec.argv == std::vector<std::string>{"echo", "[x]"});
}

TEST_CASE("exec -d, -i and -it select the mode; -it needs no command") {
  CHECK(command({"exec", "-d", "sbx-1", "--", "sleep", "9"}).exec.mode == ctl::ExecMode::kDetach);
  CHECK(command({"exec", "--detach", "sbx-1", "--", "x"}).exec.mode == ctl::ExecMode::kDetach);
  CHECK(command({"exec", "-i", "sbx-1", "--", "cat"}).exec.mode == ctl::ExecMode::kInteractive);
  auto terminal = command({"exec", "-it", "sbx-1"});
  CHECK(terminal.exec.mode == ctl::ExecMode::kTerminal);
  CHECK(terminal.exec.argv.empty());
  CHECK(command({"exec", "-ti", "sbx-1", "--", "top"}).exec.mode == ctl::ExecMode::kTerminal);
  CHECK(command({"exec", "-i", "-t", "sbx-1"}).exec.mode == ctl::ExecMode::kTerminal);
}

TEST_CASE("--buffered, and --json, which is one buffered document, wait for the whole output") {
  CHECK(command({"exec", "--buffered", "sbx-1", "--", "ls"}).exec.mode == ctl::ExecMode::kBuffered);
  CHECK(command({"--json", "exec", "sbx-1", "--", "ls"}).exec.mode == ctl::ExecMode::kBuffered);
  CHECK(command({"run", "--json", "--", "ls"}).exec.mode == ctl::ExecMode::kBuffered);
  CHECK(command({"run", "--buffered", "--", "ls"}).exec.mode == ctl::ExecMode::kBuffered);
  CHECK(command({"--json", "exec", "-d", "sbx-1", "--", "ls"}).exec.mode == ctl::ExecMode::kDetach);
  usageError({"exec", "--buffered", "-i", "sbx-1", "--", "cat"});
  usageError({"exec", "--buffered", "-d", "sbx-1", "--", "ls"});
}

TEST_CASE("exec flags reach the spec, and --timeout is known to have been given") {
  auto line = command({"exec", "--user", "root", "--cwd", "/tmp", "--env", "A=1", "--env", "B=2",
                       "--timeout", "0", "-d", "sbx-1", "--", "sleep 100"});
  CHECK(line.exec.user == "root");
  CHECK(line.exec.cwd == "/tmp");
  CHECK(line.exec.envs == std::vector<std::string>{"A=1", "B=2"});
  CHECK(line.exec.timeout_s == 0);
}

TEST_CASE("exec modes that contradict each other are usage errors") {
  CHECK(usageError({"exec", "-d", "-i", "sbx-1", "--", "cat"}).find("excludes") !=
        std::string::npos);
  CHECK(usageError({"exec", "-t", "sbx-1", "--", "cat"}).find("requires") != std::string::npos);
  usageError({"exec", "-d", "-it", "sbx-1"});
  usageError({"exec", "-i", "--stdin", "sbx-1", "--", "cat"});
  CHECK(usageError({"--json", "exec", "-i", "sbx-1", "--", "cat"}) ==
        "declawctl exec: --json cannot be combined with -i or -it\n"
        "Run with --help for more information.\n");
}

TEST_CASE("exec without a command is a usage error unless it opens a terminal") {
  CHECK(usageError({"exec", "sbx-1"}) ==
        "declawctl exec: no command given (put it after --)\n"
        "Run with --help for more information.\n");
  usageError({"exec", "-d", "sbx-1"});
  usageError({"exec", "-i", "sbx-1"});
  usageError({"exec"});
}

TEST_CASE("ps, logs and signal take a sandbox and a pid") {
  auto ps = command({"ps", "sbx-1", "--json"});
  CHECK(ps.verb == ctl::Verb::kPs);
  CHECK(ps.id == "sbx-1");
  CHECK(ps.json);

  auto logs = command({"logs", "sbx-1", "12"});
  CHECK(logs.verb == ctl::Verb::kLogs);
  CHECK(logs.pid == 12);
  CHECK_FALSE(logs.follow);
  CHECK(command({"logs", "-f", "sbx-1", "12"}).follow);
  CHECK(command({"logs", "sbx-1", "12", "--follow"}).follow);

  auto signal = command({"signal", "sbx-1", "12", "SIGTERM"});
  CHECK(signal.verb == ctl::Verb::kSignal);
  CHECK(signal.pid == 12);
  CHECK(signal.signal == 15);
  CHECK(command({"signal", "sbx-1", "12", "9"}).signal == 9);
}

TEST_CASE("a bad pid or signal is a usage error") {
  CHECK(usageError({"logs", "sbx-1", "0"}).find("'0' is not a process id") != std::string::npos);
  usageError({"logs", "sbx-1", "twelve"});
  usageError({"logs", "sbx-1"});
  CHECK(usageError({"signal", "sbx-1", "12", "SIGFOO"}).find("unknown signal 'SIGFOO'") !=
        std::string::npos);
  usageError({"signal", "sbx-1", "12"});
}

TEST_CASE("kill kills sandboxes, or with --pid processes of one sandbox") {
  auto sandboxes = command({"kill", "sbx-1", "sbx-2"});
  CHECK(sandboxes.ids == std::vector<std::string>{"sbx-1", "sbx-2"});
  CHECK(sandboxes.pids.empty());
  auto processes = command({"kill", "sbx-1", "--pid", "12", "--pid", "13"});
  CHECK(processes.id == "sbx-1");
  CHECK(processes.pids == std::vector<int64_t>{12, 13});
  usageError({"kill", "sbx-1", "sbx-2", "--pid", "12"});
  usageError({"kill", "sbx-1", "--pid", "0"});
}

TEST_CASE("a bare number given to kill is never taken for a sandbox") {
  CHECK(usageError({"kill", "sbx-1", "12"}) ==
        "declawctl kill: '12' is not a sandbox id; to kill process 12 use `kill ID --pid 12`\n"
        "Run with --help for more information.\n");
}

TEST_CASE("run keeps its --env for the sandbox and its --timeout for the command") {
  auto line = command(
      {"run", "--template", "python", "--env", "A=1", "--timeout", "5", "--", "python3", "-V"});
  CHECK(line.verb == ctl::Verb::kRun);
  CHECK(line.sandbox.template_id == "python");
  CHECK(line.sandbox.envs == std::vector<std::string>{"A=1"});
  CHECK_FALSE(line.sandbox.timeout_s.has_value());
  CHECK(line.exec.timeout_s == 5);
  CHECK(line.exec.mode == ctl::ExecMode::kWait);
}

TEST_CASE("--help prints help and exits 0, per verb too") {
  auto top = parse({"--help"});
  CHECK_FALSE(top.command.has_value());
  CHECK(top.exit_code == 0);
  CHECK(top.out.find("logs") != std::string::npos);
  auto exec = parse({"exec", "--help"});
  CHECK(exec.exit_code == 0);
  CHECK(exec.out.find("exec -it ID [-- CMD]") != std::string::npos);
  for (const char* verb :
       {"ps", "logs", "signal", "kill", "run", "cp", "pause", "resume", "stats"}) {
    INFO(verb);
    auto help = parse({verb, "--help"});
    CHECK(help.exit_code == 0);
    CHECK(help.out.find("Usage: declawctl " + std::string(verb)) != std::string::npos);
  }
}

TEST_CASE("--template offers the built-ins and every template declawd has") {
  auto help = parse({"create", "--help"});
  CHECK(help.out.find("base (default), python, node, or any of `template ls`") !=
        std::string::npos);
  CHECK(command({"create", "--template", "my-image.1"}).sandbox.template_id == "my-image.1");
}

TEST_CASE("global options work before and after the verb") {
  auto line = command({"--socket", "/tmp/s.sock", "ls", "--json"});
  CHECK(line.verb == ctl::Verb::kList);
  CHECK(line.socket_flag == "/tmp/s.sock");
  CHECK(line.json);
  CHECK(command({"info", "sbx-1", "--socket", "/x"}).socket_flag == "/x");
}

TEST_CASE("an unknown verb or flag is a usage error") {
  usageError({"frobnicate"});
  usageError({"ps", "sbx-1", "--bogus"});
  usageError({});
}

TEST_CASE("create takes limits and what to do at the timeout; unset ones are not sent") {
  auto line = command({"create", "--cpu", "1.5", "--memory", "512", "--pids", "256", "--disk",
                       "1024", "--on-timeout", "pause"});
  CHECK(line.verb == ctl::Verb::kCreate);
  CHECK(line.sandbox.resources.cpu == 1.5);
  CHECK(line.sandbox.resources.memory_mb == 512);
  CHECK(line.sandbox.resources.pids == 256);
  CHECK(line.sandbox.resources.disk_mb == 1024);
  CHECK(line.sandbox.on_timeout == "pause");
  auto plain = command({"create"});
  CHECK_FALSE(plain.sandbox.resources.cpu.has_value());
  CHECK_FALSE(plain.sandbox.resources.memory_mb.has_value());
  CHECK(plain.sandbox.on_timeout.empty());
}

TEST_CASE("run takes the same limits for its sandbox, but no --on-timeout") {
  auto line = command({"run", "--memory", "64", "--cpu", "0.5", "--", "python3", "-V"});
  CHECK(line.sandbox.resources.memory_mb == 64);
  CHECK(line.sandbox.resources.cpu == 0.5);
  CHECK(line.exec.argv == std::vector<std::string>{"python3", "-V"});
  usageError({"run", "--on-timeout", "pause", "--", "true"});
}

TEST_CASE("a limit that is not a positive number is a usage error that names the flag") {
  CHECK(usageError({"create", "--memory", "1g"}).find("'1g' is not a number of MiB") !=
        std::string::npos);
  CHECK(usageError({"create", "--memory", "1g"}).find("--memory") != std::string::npos);
  usageError({"create", "--memory", "0"});
  usageError({"create", "--pids", "-5"});
  usageError({"run", "--disk", "1.5", "--", "true"});
  CHECK(usageError({"create", "--cpu", "-1"}).find("is not a number of cores") !=
        std::string::npos);
  usageError({"create", "--cpu", "nan"});
  usageError({"create", "--cpu", "two"});
  usageError({"create", "--on-timeout", "stop"});
}

TEST_CASE("pause and resume take one or more sandboxes") {
  auto pause = command({"pause", "sbx-1", "sbx-2"});
  CHECK(pause.verb == ctl::Verb::kPause);
  CHECK(pause.ids == std::vector<std::string>{"sbx-1", "sbx-2"});
  auto resume = command({"--json", "resume", "sbx-1"});
  CHECK(resume.verb == ctl::Verb::kResume);
  CHECK(resume.ids == std::vector<std::string>{"sbx-1"});
  CHECK(resume.json);
  usageError({"pause"});
  usageError({"resume"});
}

TEST_CASE("stats streams every live sandbox by default; --no-stream samples once") {
  auto all = command({"stats"});
  CHECK(all.verb == ctl::Verb::kStats);
  CHECK(all.ids.empty());
  CHECK(all.stream);
  auto once = command({"stats", "--no-stream", "sbx-1", "sbx-2"});
  CHECK_FALSE(once.stream);
  CHECK(once.ids == std::vector<std::string>{"sbx-1", "sbx-2"});
  CHECK(command({"stats", "--json"}).json);
}

TEST_CASE("ls --state accepts paused") {
  CHECK(command({"ls", "--state", "paused"}).states == std::vector<std::string>{"paused"});
}

TEST_CASE("watch takes a sandbox and a directory; -r and --user are optional") {
  auto plain = command({"watch", "sbx-1", "/home/user/w"});
  CHECK(plain.verb == ctl::Verb::kWatch);
  CHECK(plain.id == "sbx-1");
  CHECK(plain.path == "/home/user/w");
  CHECK_FALSE(plain.recursive);
  CHECK(plain.user.empty());
  auto full = command({"--json", "watch", "-r", "--user", "root", "sbx-1", "/etc"});
  CHECK(full.recursive);
  CHECK(full.user == "root");
  CHECK(full.json);
  CHECK(command({"watch", "sbx-1", "w", "--recursive"}).recursive);
}

TEST_CASE("watch without its directory, or as an unknown user, is a usage error") {
  usageError({"watch"});
  usageError({"watch", "sbx-1"});
  usageError({"watch", "sbx-1", "/a", "/b"});
  usageError({"watch", "--user", "nobody", "sbx-1", "/a"});
}

TEST_CASE("ls lists live sandboxes; ls -a killed ones too") {
  CHECK_FALSE(command({"ls"}).all);
  CHECK(command({"ls", "-a"}).all);
  CHECK(command({"ls", "--all", "--meta", "k=v"}).all);
}

TEST_CASE("port-forward without LISTEN asks for a free port on 127.0.0.1") {
  auto line = command({"port-forward", "sbx-1", "8000"});
  CHECK(line.verb == ctl::Verb::kPortForward);
  CHECK(line.id == "sbx-1");
  CHECK(line.port == 8000);
  CHECK(line.listen == "127.0.0.1:0");
}

TEST_CASE("port-forward's LISTEN is a port on 127.0.0.1, or an address with its port") {
  CHECK(command({"port-forward", "sbx-1", "8000", "18000"}).listen == "127.0.0.1:18000");
  CHECK(command({"port-forward", "sbx-1", "8000", "127.0.0.2:18000"}).listen == "127.0.0.2:18000");
  CHECK(command({"port-forward", "sbx-1", "8000", "[::1]:18000"}).listen == "[::1]:18000");
  CHECK(command({"--json", "port-forward", "sbx-1", "8000"}).json);
}

TEST_CASE("port-forward with a port out of range or a malformed LISTEN is a usage error") {
  usageError({"port-forward", "sbx-1"});
  usageError({"port-forward", "sbx-1", "0"});
  usageError({"port-forward", "sbx-1", "65536"});
  usageError({"port-forward", "sbx-1", "http"});
  usageError({"port-forward", "sbx-1", "8000", "70000"});
  usageError({"port-forward", "sbx-1", "8000", "localhost"});
  usageError({"port-forward", "sbx-1", "8000", "::1:18000"});
  usageError({"port-forward", "sbx-1", "8000", "127.0.0.1:x"});
  usageError({"port-forward", "sbx-1", "8000", "18000", "extra"});
}

TEST_CASE("run-code reads its code from the argument, or stdin; context and timeout default") {
  auto line = command({"run-code", "sbx-1", "print(1)"});
  CHECK(line.verb == ctl::Verb::kRunCode);
  CHECK(line.id == "sbx-1");
  CHECK(line.code.code == "print(1)");
  CHECK(line.code.code_given);
  CHECK(line.code.context.empty());
  CHECK(line.code.timeout_s == 300);
  auto piped = command({"run-code", "--context", "c1", "--timeout", "2.5", "sbx-1"});
  CHECK_FALSE(piped.code.code_given);
  CHECK(piped.code.context == "c1");
  CHECK(piped.code.timeout_s == 2.5);
  CHECK(command({"run-code", "sbx-1", "-"}).code.code == "-");
  usageError({"run-code"});
  usageError({"run-code", "sbx-1", "--timeout", "-1", "x"});
}
