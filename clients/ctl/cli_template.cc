#include "clients/ctl/cli_template.h"

namespace declaw::ctl::cli {
namespace {

constexpr const char* kBuildFooter =
    "Creates a sandbox from --from, runs each --run step in it in order as root (with the\n"
    "--env values as the sandbox's environment), then snapshots it as NAME and kills it.\n"
    "A step that exits non-zero fails the build: its output and exit code are printed, the\n"
    "sandbox is killed and nothing is published.\n"
    "Example: declawctl template build tools --from base --internet \\\n"
    "           --run 'pip install requests' --run 'mkdir -p /opt/app'";

constexpr const char* kNameHelp =
    "Template name: 1..128 letters, digits, '.', '_', '-', starting with a letter or digit";

}  // namespace

TemplateVerbs::TemplateVerbs(CLI::App& app, CommandLine& line) {
  template_ = app.add_subcommand("template",
                                 "Image templates: import, list, inspect, remove, export, build");
  template_->require_subcommand(1);
  template_->fallthrough();  // --json and --socket after `template import ...` too

  import_ = template_->add_subcommand(
      "import", "Import an OCI or docker-save image archive (a tar) as template NAME");
  import_->add_option("file", line.templ.file, "The archive, or - to read it from stdin")
      ->required();
  import_->add_option("name", line.templ.name, kNameHelp)->required();
  import_->add_flag("--replace", line.templ.replace,
                    "Replace a template of that name (its sandboxes keep running on the old one)");

  list_ = template_->add_subcommand("ls", "List templates, the built-ins first");

  inspect_ = template_->add_subcommand("inspect", "Show one template: layers, image config");
  inspect_->add_option("name", line.templ.name, "Template name")->required();

  remove_ = template_->add_subcommand(
      "rm", "Delete templates (refused while a sandbox uses one, and for built-ins)");
  remove_->add_option("name", line.templ.names, "Template names")->required();

  export_ = template_->add_subcommand(
      "export", "Write a template as an OCI image archive (a tar) to stdout or -o FILE");
  export_->add_option("name", line.templ.name, "Template name")->required();
  export_->add_option("-o,--output", line.templ.output,
                      "Write the archive to this file instead of stdout");

  build_ = template_->add_subcommand(
      "build", "Build template NAME: run steps in a sandbox from --from, then snapshot it");
  build_->footer(kBuildFooter);
  build_->add_option("name", line.templ.name, kNameHelp)->required();
  build_flags_.add(build_, SandboxFlagsFor::kBuild);
  build_->add_option("--run", steps_, "A step: a shell command line run as root (repeatable)")
      ->allow_extra_args(false)
      ->required();
  build_
      ->add_option("--step-timeout", step_timeout_s_,
                   "Seconds each step may take, 0 = no limit but --timeout (default 0)")
      ->check(seconds("SECONDS"));
  build_->add_flag("--replace", line.templ.replace, "Replace a template of that name");

  snapshot_ = app.add_subcommand(
      "snapshot", "Save a sandbox's root as template NAME; the sandbox runs on unchanged");
  snapshot_->add_option("sandbox", line.id, "Sandbox id")->required();
  snapshot_->add_option("name", line.templ.name, kNameHelp)->required();
  snapshot_->add_flag("--replace", line.templ.replace, "Replace a template of that name");
}

bool TemplateVerbs::given() const { return *template_ || *snapshot_; }

std::optional<ParsedArgs> TemplateVerbs::resolve(CommandLine& line) const {
  if (*snapshot_) {
    line.verb = Verb::kSnapshot;
  } else if (*import_) {
    line.verb = Verb::kTemplateImport;
  } else if (*list_) {
    line.verb = Verb::kTemplateList;
  } else if (*inspect_) {
    line.verb = Verb::kTemplateInspect;
  } else if (*remove_) {
    line.verb = Verb::kTemplateRemove;
  } else if (*export_) {
    line.verb = Verb::kTemplateExport;
    // stdout carries the archive, so there is no room for a JSON document on it.
    if (line.json && (line.templ.output.empty() || line.templ.output == "-")) {
      return usageError("template export", "--json needs -o FILE (stdout carries the archive)");
    }
  } else if (*build_) {
    line.verb = Verb::kTemplateBuild;
    line.build.sandbox = build_flags_.resolve(build_);
    if (auto bad = rulesWithoutInternet(line.build.sandbox)) {
      return usageError("template build", *bad);
    }
    line.build.steps = steps_;
    if (build_->count("--step-timeout") > 0) line.build.step_timeout_s = step_timeout_s_;
  }
  return std::nullopt;
}

}  // namespace declaw::ctl::cli
