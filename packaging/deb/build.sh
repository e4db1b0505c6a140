#!/usr/bin/env bash
# Builds the Debian packages declaw and python3-declaw (docs/packaging.md) and checks them with
# lintian. Run from anywhere in the repository:
#
#   packaging/deb/build.sh [--out DIR] [--prebuilt BUILD_DIR] [--no-lintian]
#
# The tree's files (tracked and untracked-but-not-ignored, as they are in the work tree) are
# copied to DIR/work/declaw-VERSION with packaging/deb/debian as its debian/, and
# `dpkg-buildpackage -us -uc -b` runs there: the repository itself never holds build output.
# The .deb, .changes and .buildinfo files land in DIR (default: build-deb/, ignored by git).
#
# --prebuilt BUILD_DIR: package the binaries already built in BUILD_DIR (a configured and built
# CMake tree, e.g. build/) instead of compiling: debian/rules then only runs `cmake --install`.
# The packaging test uses it; a release is built without it. The work dir keeps a fixed path so
# that ccache (when installed) hits on a rebuild: -ffile-prefix-map names it.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
out=$repo/build-deb
prebuilt=
lintian=1
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    --prebuilt) prebuilt=$(realpath "$2"); shift 2 ;;
    --no-lintian) lintian=0; shift ;;
    *) echo "usage: $0 [--out DIR] [--prebuilt BUILD_DIR] [--no-lintian]" >&2; exit 2 ;;
  esac
done
mkdir -p "$out"
out=$(realpath "$out")

version=$(dpkg-parsechangelog -l "$repo/packaging/deb/debian/changelog" -S Version)
cmake_version=$(sed -n 's/^project(declaw VERSION \([0-9.]*\).*/\1/p' "$repo/CMakeLists.txt")
if [ "${version%%[-+~]*}" != "$cmake_version" ]; then
  echo "build.sh: packaging/deb/debian/changelog is at $version but CMakeLists.txt at" \
    "$cmake_version: add a changelog entry" >&2
  exit 1
fi
if [ -n "$prebuilt" ] && [ ! -x "$prebuilt/bin/declawd" ]; then
  echo "build.sh: $prebuilt/bin/declawd does not exist: build the tree first" >&2
  exit 1
fi

work=$out/work
src=$work/declaw-$version
rm -rf "$work"
mkdir -p "$src"
# The work tree as it is (so uncommitted changes are packaged too); deleted files are skipped.
(cd "$repo" && git ls-files -z --cached --others --exclude-standard |
  tar --null --files-from=- --ignore-failed-read --warning=no-failed-read -cf - |
  tar -C "$src" -xf -)
rm -rf "$src/debian"
cp -a "$repo/packaging/deb/debian" "$src/debian"

if command -v ccache >/dev/null; then
  # dh points HOME into the build dir: keep the caller's cache.
  export CCACHE_DIR=${CCACHE_DIR:-$(ccache -k cache_dir 2>/dev/null || echo "$HOME/.cache/ccache")}
  export CCACHE_BASEDIR=$src CCACHE_NOHASHDIR=1
fi
export DECLAW_PREBUILT_BUILD=$prebuilt
log=$out/dpkg-buildpackage.log
echo "build.sh: dpkg-buildpackage in $src${prebuilt:+ (binaries of $prebuilt)}, log in $log"
# Debian's tools only (the Build-Depends): a python3 of pyenv or a cmake in /usr/local ahead in
# the caller's PATH would build against what the package does not depend on (pybuild would run
# pyenv's python3.11, which has no `build` module).
if ! (cd "$src" && PATH=/usr/sbin:/usr/bin:/sbin:/bin dpkg-buildpackage -us -uc -b -Jauto) \
  >"$log" 2>&1; then
  tail -n 60 "$log" >&2
  echo "build.sh: dpkg-buildpackage failed (log: $log)" >&2
  exit 1
fi
changes=$work/declaw_${version}_$(dpkg-architecture -q DEB_HOST_ARCH).changes
mv "$work"/*.deb "$work"/*.buildinfo "$changes" "$out"/
rm -rf "$work"
changes=$out/${changes##*/}

if [ "$lintian" = 1 ]; then
  # Errors and warnings fail; overrides are in debian/*.lintian-overrides, each with its reason.
  lintian --fail-on error,warning --tag-display-limit 0 "$changes"
  echo "build.sh: lintian: no errors or warnings"
fi
ls -1 "$out"/*.deb
