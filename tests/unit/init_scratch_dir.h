// A scratch directory for the tests of declaw-init's file code, removed (without following
// symlinks, with init's own removeTree) at the end.
#pragma once

#include <stdlib.h>

#include <catch2/catch.hpp>
#include <string>

#include "runtime/init/file_tree.h"

namespace declaw::runtime::init::testing {

struct ScratchDir {
  std::string path;
  ScratchDir() {
    char tmpl[] = "/tmp/declaw-init-unit-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    path = tmpl;
  }
  ~ScratchDir() { (void)removeTree(path); }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  std::string operator/(const std::string& name) const { return path + "/" + name; }
};

}  // namespace declaw::runtime::init::testing
