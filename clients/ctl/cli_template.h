// The command line of `template import|ls|inspect|rm|export|build` and `snapshot`, for cli.cc's
// parser. Internal to the parser, like cli_flags.h.
#pragma once

#include <CLI/CLI.hpp>
#include <optional>

#include "clients/ctl/cli.h"
#include "clients/ctl/cli_flags.h"

namespace declaw::ctl::cli {

// Adds the verbs to app; CLI11 writes their arguments into line and into this object, which must
// therefore stay where it is until the parse is over.
class TemplateVerbs {
 public:
  TemplateVerbs(CLI::App& app, CommandLine& line);
  TemplateVerbs(const TemplateVerbs&) = delete;
  TemplateVerbs& operator=(const TemplateVerbs&) = delete;

  // After a successful parse: whether one of these verbs was given.
  bool given() const;

  // Sets line.verb and line.build for the verb given; a usage error for arguments that do not
  // fit together.
  std::optional<ParsedArgs> resolve(CommandLine& line) const;

 private:
  CLI::App* template_ = nullptr;
  CLI::App* import_ = nullptr;
  CLI::App* list_ = nullptr;
  CLI::App* inspect_ = nullptr;
  CLI::App* remove_ = nullptr;
  CLI::App* export_ = nullptr;
  CLI::App* build_ = nullptr;
  CLI::App* snapshot_ = nullptr;
  SandboxFlags build_flags_;
  std::vector<std::string> steps_;
  int64_t step_timeout_s_ = 0;
};

}  // namespace declaw::ctl::cli
