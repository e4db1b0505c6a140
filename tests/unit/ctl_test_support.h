// Command lines for declawctl's unit tests: parse one as `declawctl ARGS...` and require that it
// parses, or that it is a usage error.
#pragma once

#include <catch2/catch.hpp>
#include <initializer_list>
#include <string>
#include <vector>

#include "clients/ctl/cli.h"

namespace declaw::ctl::testing {

inline ParsedArgs parse(std::initializer_list<const char*> args) {
  std::vector<const char*> argv = {"declawctl"};
  argv.insert(argv.end(), args.begin(), args.end());
  return parseCommandLine(static_cast<int>(argv.size()), argv.data());
}

// The command line, which must parse.
inline CommandLine command(std::initializer_list<const char*> args) {
  auto parsed = parse(args);
  INFO(parsed.err);
  REQUIRE(parsed.command.has_value());
  return *parsed.command;
}

// The usage error, which there must be.
inline std::string usageError(std::initializer_list<const char*> args) {
  auto parsed = parse(args);
  REQUIRE_FALSE(parsed.command.has_value());
  CHECK(parsed.exit_code == kUsageExitCode);
  return parsed.err;
}

}  // namespace declaw::ctl::testing
