#!/usr/bin/env bash
# Installs a built tree (cmake --install) plus the systemd units, tmpfiles.d entry and the
# `declaw` group. Run as root from the repository root after building into build/.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake --install build >/dev/null
getent group declaw >/dev/null || groupadd --system declaw
install -Dm644 packaging/systemd/declawd.service /etc/systemd/system/declawd.service
# Optional (socket activation): systemctl enable --now declawd.socket
install -Dm644 packaging/systemd/declawd.socket /etc/systemd/system/declawd.socket
install -Dm644 packaging/tmpfiles.d/declaw.conf /usr/lib/tmpfiles.d/declaw.conf
if [ -d /run/systemd/system ]; then
  systemd-tmpfiles --create /usr/lib/tmpfiles.d/declaw.conf || true
  systemctl daemon-reload
  echo "installed; start with: systemctl enable --now declawd"
else
  echo "installed (no systemd running: start /usr/local/sbin/declawd by hand)"
fi
