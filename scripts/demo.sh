#!/usr/bin/env bash
# README command 1: installs dependencies, builds, starts declawd (unless one already answers on
# the socket) and runs the network-exfiltration scenario (examples/network_exfiltration.py, with
# the Python SDK; examples/network_exfiltration.sh does the same with declawctl).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/install-deps.sh
./scripts/build.sh
export DECLAW_SOCKET=${DECLAW_SOCKET:-/run/declaw/declaw.sock}
export DECLAWCTL="$PWD/build/bin/declawctl"
started=""
if ! "$DECLAWCTL" ls >/dev/null 2>&1; then
  mkdir -p "$(dirname "$DECLAW_SOCKET")"
  ./build/bin/declawd --socket "$DECLAW_SOCKET" --state-dir "$(dirname "$DECLAW_SOCKET")" \
    --log-level warn &
  started=$!
  trap 'kill -TERM $started; wait $started' EXIT
  for _ in $(seq 100); do "$DECLAWCTL" ls >/dev/null 2>&1 && break; sleep 0.1; done
fi
PYTHONPATH=clients/python python3 examples/network_exfiltration.py
