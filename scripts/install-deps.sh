#!/usr/bin/env bash
# Installs declaw's build and test dependencies from Debian 12 packages. Idempotent: packages
# already present are left alone, and apt-get update runs only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config git
  libboost-dev libboost-system-dev
  libseccomp-dev seccomp libsystemd-dev
  libnl-3-dev libnl-route-3-dev libnftables-dev
  nlohmann-json3-dev libspdlog-dev libfmt-dev
  catch2 libcli11-dev libcap-dev
  python3 python3-pip python3-setuptools python3-wheel python3-httpx
  # run_code's kernel inside python/base sandboxes (they use the host's /usr).
  python3-ipykernel python3-jupyter-client
  curl iproute2 bubblewrap util-linux procps nftables
  # Templates: libarchive (every tar and compression), OpenSSL (sha256), and for the tests real
  # image tools and a static busybox to build images from.
  libarchive-dev libssl-dev zstd busybox-static umoci skopeo mmdebstrap
  # scripts/asan-build.sh: clang with libFuzzer and the sanitizer runtimes (Debian 12: clang 14),
  # and llvm-symbolizer (package llvm), without which sanitizer reports show bare addresses.
  clang libclang-rt-dev llvm
  # scripts/lint.sh: the C/C++ layout (.clang-format) and the Python SDK's static checks;
  # scripts/tidy.sh: clang-tidy (.clang-tidy).
  clang-format python3-pyflakes clang-tidy
  # packaging/deb/build.sh and the packaging.deb test: dpkg-buildpackage with debhelper and
  # dh-python (the SDK through pybuild's pyproject plugin), help2man for the man pages, lintian.
  dpkg-dev debhelper dh-python pybuild-plugin-pyproject help2man lintian
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# The API socket is group `declaw` (mode 0660): members may use the daemon.
getent group declaw >/dev/null || groupadd --system declaw

# The TypeScript SDK (clients/js): Node and npm, then its devDependencies (typescript,
# @types/node) exactly as its package-lock.json pins them (npm ci, a few seconds). Debian's nodejs
# and npm only where there is no npm yet: a NodeSource nodejs bundles its own npm, which Debian's
# npm package would conflict with.
if ! command -v npm >/dev/null; then
  echo "install-deps: installing nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
(cd "$(dirname "$0")/../clients/js" && npm ci --no-audit --no-fund --loglevel=error)

# tests/packaging_k8s (ctest packaging.kubernetes): the Kubernetes models' validators, exactly as
# its package-lock.json pins them. Skipped when node_modules was installed from this very lock
# file (the stamp), so a second run needs no registry.
k8s_test="$(dirname "$0")/../tests/packaging_k8s"
if ! cmp -s "$k8s_test/package-lock.json" "$k8s_test/node_modules/.declaw-installed-lock"; then
  (cd "$k8s_test" && npm ci --no-audit --no-fund --loglevel=error &&
    cp package-lock.json node_modules/.declaw-installed-lock)
fi
