#!/usr/bin/env bash
# packaging.deb: the Debian packages (packaging/deb) install, run, upgrade and purge.
#
#   tests/packaging/deb_test.sh BUILD_DIR
#
# Builds declaw and python3-declaw from BUILD_DIR's binaries (packaging/deb/build.sh --prebuilt:
# seconds, not a C++ build), then works in a throwaway root: an overlay whose lower layer is this
# machine's / (read-only to it) and whose upper layer is a tmpfs, in a mount and network namespace
# of the test's own (it re-executes itself under unshare). dpkg runs chrooted there against the
# machine's own package database, so the packages' dependencies are checked for real, and
# everything they write vanishes with the namespace: this machine's root is never touched.
#
# In that root: install version N; check files, modes, conffile, unit, group, man pages,
# completion and the Python module; start declawd as the installed unit's ExecStart says (the
# conffile as shipped) and create, exec in and kill a sandbox with the installed declawctl; leave
# a sandbox (a file, a background command) running and stop the daemon; edit the conffile;
# upgrade to N+1 (the same packages with a higher version: what dpkg does on an upgrade does not
# depend on what changed inside); start N+1's daemon and check it adopted the sandbox (live
# restore) and reads the kept edit; remove (conffile and templates stay); purge (they go).
set -euo pipefail
if [ "$(id -u)" != 0 ]; then
  echo "deb_test.sh: needs root (mounts, chroot, declawd)" >&2
  exit 1
fi
# The work dir belongs to this outer process, which removes it once the namespace (and so every
# mount below it) is gone: a removal never has a bind of /dev or /sys below it to walk into.
if [ -z "${DECLAW_DEB_TEST_WORK:-}" ]; then
  work=$(mktemp -d /tmp/declaw-deb-test.XXXXXX)
  status=0
  DECLAW_DEB_TEST_WORK=$work unshare --mount --net --propagation private "$0" "$@" || status=$?
  rm -rf --one-file-system "$work"
  exit "$status"
fi
build=$(realpath "${1:?usage: deb_test.sh BUILD_DIR}")
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$DECLAW_DEB_TEST_WORK
root=$work/root
cgroup=${work##*/}
daemon_pid=
started=$SECONDS

fail() {
  echo "FAIL: $*" >&2
  exit 1
}
step() { echo "--- $* ($((SECONDS - started)) s)"; }
# in_root CMD...: CMD in the throwaway root, with a service's clean environment.
in_root() {
  chroot "$root" env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}
cleanup() {
  local status=$?
  # Every step of the cleanup runs, whatever the one before it returned.
  set +e
  [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null
  # A sandbox left running for live restore outlives its daemon: a failed run kills it here.
  kill_cgroup_processes
  remove_cgroups || true
  # The mounts (overlay, tmpfs, binds) go with this mount namespace; the outer process then
  # removes the work dir.
  umount -R "$root" 2>/dev/null || true
  umount -R "$work/layers" 2>/dev/null || true
  [ "$status" = 0 ] && echo "packaging.deb: passed in $((SECONDS - started)) s"
  exit "$status"
}
trap cleanup EXIT

# --- cgroups: declawd makes its subtree (cgroup_subtree, "declaw" as shipped) under its own
# cgroup. Each daemon here runs in a cgroup named after the work dir, in every hierarchy, so the
# shipped name never meets another daemon's; integration.zz_leaks checks it is gone (the ledger).
cgroup_mounts() { findmnt -n -l -t cgroup,cgroup2 -o TARGET; }
enter_cgroups() {
  local mount
  for mount in $(cgroup_mounts); do
    mkdir -p "$mount/$cgroup"
    # cpuset refuses tasks until cpus and mems are set; declawd does not use it.
    echo "$BASHPID" >"$mount/$cgroup/cgroup.procs" 2>/dev/null || true
  done
}
# kill_cgroup_processes: SIGKILL to every process left under the test's cgroups, until none is.
kill_cgroup_processes() {
  local mount pids _
  for _ in $(seq 50); do
    pids=$(for mount in $(cgroup_mounts); do
      if [ -d "$mount/$cgroup" ]; then
        find "$mount/$cgroup" -name cgroup.procs -exec cat {} + 2>/dev/null || true
      fi
    done | sort -u)
    [ -n "$pids" ] || return 0
    # shellcheck disable=SC2086  # one pid per word
    kill -KILL $pids 2>/dev/null || true
    sleep 0.1
  done
}
remove_cgroups() {
  local mount status=0
  for mount in $(cgroup_mounts); do
    [ -d "$mount/$cgroup" ] || continue
    find "$mount/$cgroup" -depth -type d -exec rmdir {} \; 2>/dev/null || status=1
  done
  return "$status"
}
if [ -n "${DECLAW_TEST_CGROUP_LEDGER:-}" ]; then echo "$cgroup" >>"$DECLAW_TEST_CGROUP_LEDGER"; fi

# start_daemon: declawd as the installed unit starts it, in the root; waits for its socket.
start_daemon() {
  local exec_start
  exec_start=$(sed -n 's/^ExecStart=//p' "$root/lib/systemd/system/declawd.service")
  [ -n "$exec_start" ] || fail "declawd.service has no ExecStart"
  : >"$work/declawd.log"
  # The root is made the root of a mount namespace (pivot_root), not only chroot'ed into: declawd
  # enters a mount namespace of its own first thing, after which /proc/self/exe of a binary
  # below a chroot names it from the namespace's root ($root/usr/sbin/declawd), and declawd would
  # not find declaw-init beside its own path as it does on a real root. The process stays
  # declawd's (each step execs the next), so $! is its pid.
  # shellcheck disable=SC2086  # the unit's command line, split as systemd splits it (no quotes)
  (enter_cgroups && exec unshare --mount --propagation private sh -c '
    cd "$1" && pivot_root . mnt && umount -l /mnt && shift &&
      exec chroot . env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "$@"' sh "$root" $exec_start) \
    >>"$work/declawd.log" 2>&1 &
  daemon_pid=$!
  local _
  for _ in $(seq 200); do
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/declawd.log"; fail "declawd exited"; }
    in_root declawctl ls >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  cat "$work/declawd.log"
  fail "declawd did not answer within 20 s"
}
# stop_daemon [--keep-sandboxes]: SIGTERM, exit 0, no cgroup left behind; with
# --keep-sandboxes the live-restore sandboxes (and so their cgroups) stay for the next daemon.
stop_daemon() {
  kill -TERM "$daemon_pid"
  local status=0
  wait "$daemon_pid" || status=$?
  daemon_pid=
  [ "$status" = 0 ] || { cat "$work/declawd.log"; fail "declawd exited $status on SIGTERM"; }
  [ "${1:-}" = --keep-sandboxes ] && return 0
  remove_cgroups || fail "declawd left cgroups behind under $cgroup"
}
# sandbox_round_trip: create, exec, kill through the installed declawctl.
sandbox_round_trip() {
  local id out
  id=$(in_root declawctl create) || { cat "$work/declawd.log"; fail "declawctl create"; }
  out=$(in_root declawctl exec "$id" -- sh -c 'echo hello from "$(id -un)"')
  [ "$out" = "hello from user" ] || fail "exec in $id printed: $out"
  local status=0
  in_root declawctl exec "$id" -- sh -c 'exit 7' || status=$?
  [ "$status" = 7 ] || fail "exec exited $status, not the command's 7"
  in_root declawctl kill "$id" >/dev/null
  in_root declawctl ls --json | grep -q "$id" && fail "$id is still listed after kill"
  echo "sandbox $id: created, ran a command, killed"
}

# --- version N, built from this build's binaries, and N+1: the same packages relabelled.
step "build the packages (packaging/deb/build.sh --prebuilt $build)"
DEB_BUILD_OPTIONS="noautodbgsym nocheck" \
  "$repo/packaging/deb/build.sh" --prebuilt "$build" --out "$work/debs" --no-lintian >/dev/null
version=$(dpkg-deb -f "$work"/debs/declaw_*.deb Version)
next=$version+pkgtest1
mkdir -p "$work/next"
for deb in "$work"/debs/*.deb; do
  dpkg-deb -R "$deb" "$work/unpacked"
  sed -i "s/^Version: .*/Version: $next/" "$work/unpacked/DEBIAN/control"
  dpkg-deb -b "$work/unpacked" "$work/next/" >/dev/null
  rm -rf "$work/unpacked"
done

step "make the throwaway root (overlay over /, tmpfs upper)"
mkdir -p "$work/layers" "$root"
mount -t tmpfs -o mode=0755 tmpfs "$work/layers"
mkdir "$work/layers/upper" "$work/layers/work"
mount -t overlay overlay \
  -o "lowerdir=/,upperdir=$work/layers/upper,workdir=$work/layers/work" "$root"
for dir in dev proc sys; do mount --rbind "/$dir" "$root/$dir"; done
for dir in run tmp; do mount -t tmpfs -o mode=0755 tmpfs "$root/$dir"; done
chmod 1777 "$root/tmp"
cp -r "$work/debs" "$work/next" "$root/tmp/"
# What a machine without declaw looks like: none of what the packages create exists yet.
if in_root dpkg-query -W -f '${Status}' declaw 2>/dev/null | grep -q installed; then
  fail "declaw is installed on this machine: the test needs a machine without it"
fi
in_root sh -c 'getent group declaw >/dev/null && groupdel declaw || true'
rm -rf "$root/etc/declaw" "$root/var/lib/declaw"
# Minimal images tell dpkg to skip docs and man pages (path-exclude): not here, they are checked.
for cfg in "$root"/etc/dpkg/dpkg.cfg.d/*; do
  if [ -f "$cfg" ] && grep -q '^path-exclude' "$cfg"; then rm -f "$cfg"; fi
done
# Nothing starts services here (no systemd runs in the root), and nothing may.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 755 "$root/usr/sbin/policy-rc.d"

step "install $version"
in_root dpkg -i "/tmp/debs/declaw_${version}_$(dpkg --print-architecture).deb" \
  "/tmp/debs/python3-declaw_${version}_all.deb" </dev/null >"$work/dpkg.log" 2>&1 ||
  { cat "$work/dpkg.log"; fail "dpkg -i $version"; }
# mode owner path: every file the package must ship, as it must ship it.
while read -r mode owner path; do
  [ -e "$root$path" ] || fail "$path is not installed"
  [ "$(stat -c '%a %U:%G' "$root$path")" = "$mode $owner" ] ||
    fail "$path is $(stat -c '%a %U:%G' "$root$path"), not $mode $owner"
done <<'EOF'
755 root:root /usr/sbin/declawd
755 root:root /usr/bin/declawctl
755 root:root /usr/libexec/declaw/declaw-init
644 root:root /etc/declaw/config.json
644 root:root /lib/systemd/system/declawd.service
644 root:root /usr/lib/tmpfiles.d/declaw.conf
644 root:root /usr/share/man/man8/declawd.8.gz
644 root:root /usr/share/man/man1/declawctl.1.gz
644 root:root /usr/share/bash-completion/completions/declawctl
644 root:root /usr/share/doc/declaw/README.md
644 root:root /usr/share/doc/declaw/copyright
644 root:root /usr/lib/python3/dist-packages/declaw/__init__.py
EOF
for unit in "$repo"/packaging/systemd/*.service "$repo"/packaging/systemd/*.socket; do
  [ -e "$unit" ] || continue
  [ -f "$root/lib/systemd/system/${unit##*/}" ] || fail "unit ${unit##*/} is not installed"
done
grep -rn /usr/local "$root/lib/systemd/system/declawd"* && fail "a unit still names /usr/local"
# A declawd.socket is enabled and started, but an upgrade restarts only the service (debian/rules,
# override_dh_installsystemd).
if [ -e "$repo/packaging/systemd/declawd.socket" ]; then
  postinst=$root/var/lib/dpkg/info/declaw.postinst
  grep -q "enable 'declawd.socket'" "$postinst" || fail "the postinst does not enable declawd.socket"
  grep -q "deb-systemd-invoke start 'declawd.socket'" "$postinst" ||
    fail "the postinst does not start declawd.socket"
  grep -q "deb-systemd-invoke \$_dh_action 'declawd.service'" "$postinst" ||
    fail "the postinst does not restart declawd.service on upgrade"
fi
grep -q '^ExecStart=/usr/sbin/declawd .*--config /etc/declaw/config.json' \
  "$root/lib/systemd/system/declawd.service" || fail "the unit does not start /usr/sbin/declawd \
with the conffile"
in_root dpkg-query -W -f '${Conffiles}\n' declaw | grep -q '^ /etc/declaw/config.json ' ||
  fail "/etc/declaw/config.json is not a conffile"
in_root getent group declaw >/dev/null || fail "postinst did not create the group declaw"
[ "$(stat -c '%a %U' "$root/run/declaw")" = "755 root" ] ||
  fail "postinst did not make /run/declaw from tmpfiles.d"
for page in man8/declawd.8 man1/declawctl.1; do
  zcat "$root/usr/share/man/$page.gz" | grep -q '^\.TH' || fail "$page is not a man page"
done
zcat "$root/usr/share/man/man8/declawd.8.gz" | grep -q 'state\\-dir' ||
  fail "declawd.8 does not document --state-dir (help2man read no options)"
zcat "$root/usr/share/man/man1/declawctl.1.gz" | grep -q 'DECLAW_SOCKET' ||
  fail "declawctl.1 lacks its ENVIRONMENT section"
# The completion, as bash runs it: `declawctl <TAB>` offers the verbs, `declawctl exec --<TAB>`
# that verb's options (both read from the installed declawctl's --help).
completions=$(in_root bash -c 'source /usr/share/bash-completion/completions/declawctl
  COMP_WORDS=(declawctl ""); COMP_CWORD=1; _declawctl; echo "${COMPREPLY[*]}"
  COMP_WORDS=(declawctl exec --); COMP_CWORD=2; _declawctl; echo "${COMPREPLY[*]}"')
for verb in create ls exec kill run template; do
  grep -qw -- "$verb" <<<"$(sed -n 1p <<<"$completions")" ||
    fail "completion of 'declawctl ' lacks $verb: $completions"
done
grep -qw -- --cwd <<<"$(sed -n 2p <<<"$completions")" ||
  fail "completion of 'declawctl exec --' lacks --cwd: $completions"
where=$(in_root python3 -c 'import declaw; print(declaw.__file__, declaw.Sandbox.__name__)')
[ "$where" = "/usr/lib/python3/dist-packages/declaw/__init__.py Sandbox" ] ||
  fail "python3 imports declaw as: $where"

step "run the installed declawd with the conffile as shipped"
start_daemon
# (stat in the root: the group declaw exists only in the root's /etc/group)
socket_mode=$(in_root stat -c '%a %G' /run/declaw/declaw.sock)
[ "$socket_mode" = "660 declaw" ] || fail "the socket is $socket_mode, not 660 declaw"
sandbox_round_trip
stop_daemon

step "live restore: a sandbox of $version's declawd, its file and background command"
# An upgrade stops the old daemon and starts the new one (under systemd, the postinst's restart);
# with live_restore (on by default) a sandbox without internet access outlives the first and
# the second adopts it.
start_daemon
kept=$(in_root declawctl create --no-internet) || { cat "$work/declawd.log"; fail "create"; }
in_root declawctl exec "$kept" -- sh -c 'echo kept across the upgrade >/home/user/kept.txt' ||
  fail "writing a file in $kept"
beat_pid=$(in_root declawctl exec -d "$kept" -- \
  sh -c 'while :; do date +%s%N >/home/user/beat; sleep 0.1; done') ||
  fail "starting a background command in $kept"
stop_daemon --keep-sandboxes

step "edit the conffile, upgrade to $next with $kept running"
sed -i 's/"max_sandboxes": [0-9]*/"max_sandboxes": 1/' "$root/etc/declaw/config.json"
grep -q '"max_sandboxes": 1' "$root/etc/declaw/config.json" || fail "could not edit the conffile"
cp "$root/etc/declaw/config.json" "$work/edited.json"
in_root dpkg -i "/tmp/next/declaw_${next}_$(dpkg --print-architecture).deb" \
  "/tmp/next/python3-declaw_${next}_all.deb" </dev/null >"$work/dpkg.log" 2>&1 ||
  { cat "$work/dpkg.log"; fail "dpkg -i $next"; }
[ "$(in_root dpkg-query -W -f '${Version}' declaw)" = "$next" ] || fail "declaw is not at $next"
cmp -s "$work/edited.json" "$root/etc/declaw/config.json" ||
  fail "the upgrade did not keep the edited conffile"
for leftover in "$root"/etc/declaw/config.json.dpkg-*; do
  [ ! -e "$leftover" ] || fail "the upgrade left ${leftover#"$root"} beside the conffile"
done
start_daemon
step "live restore: $next's declawd adopted $kept"
in_root declawctl ls --json | grep -q "\"$kept\"" ||
  { cat "$work/declawd.log"; fail "$kept is not listed by the new daemon"; }
out=$(in_root declawctl exec "$kept" -- cat /home/user/kept.txt) ||
  { cat "$work/declawd.log"; fail "exec in the adopted $kept"; }
[ "$out" = "kept across the upgrade" ] || fail "$kept's file reads: $out"
# The background command still runs: in the new daemon's process table, and its heartbeat moves.
in_root declawctl ps "$kept" | awk -v pid="$beat_pid" '$1 == pid && $3 == "running" { found = 1 }
  END { exit !found }' || fail "process $beat_pid is not running in $kept: $(in_root declawctl ps "$kept")"
beat=$(in_root declawctl exec "$kept" -- cat /home/user/beat)
sleep 0.5
[ "$(in_root declawctl exec "$kept" -- cat /home/user/beat)" != "$beat" ] ||
  fail "the background command in $kept stopped beating"
in_root declawctl kill "$kept" >/dev/null
echo "sandbox $kept: adopted by $next's declawd with its file and background command"
# The new daemon reads the kept edit: one sandbox at most.
id=$(in_root declawctl create)
if in_root declawctl create >"$work/second.out" 2>&1; then
  fail "a second sandbox was created past max_sandboxes 1 (the edit is not read)"
fi
grep -qi "429\|limit\|too many" "$work/second.out" || fail "second create: $(cat "$work/second.out")"
in_root declawctl kill "$id" >/dev/null
sandbox_round_trip
stop_daemon

step "remove, then purge"
mkdir -p "$root/var/lib/declaw/templates-kept-on-remove"
in_root dpkg --remove declaw python3-declaw </dev/null >"$work/dpkg.log" 2>&1 ||
  { cat "$work/dpkg.log"; fail "dpkg --remove"; }
for path in /usr/sbin/declawd /usr/bin/declawctl /usr/libexec/declaw /lib/systemd/system/declawd.service \
  /usr/lib/python3/dist-packages/declaw; do
  [ ! -e "$root$path" ] || fail "$path is still there after remove"
done
[ -f "$root/etc/declaw/config.json" ] || fail "remove took the conffile (only purge may)"
[ -d "$root/var/lib/declaw" ] || fail "remove took the template store (only purge may)"
in_root dpkg --purge declaw python3-declaw </dev/null >"$work/dpkg.log" 2>&1 ||
  { cat "$work/dpkg.log"; fail "dpkg --purge"; }
for path in /etc/declaw /var/lib/declaw /run/declaw; do
  [ ! -e "$root$path" ] || fail "$path is still there after purge"
done
status=$(in_root dpkg-query -W -f '${db:Status-Abbrev}' declaw 2>/dev/null || true)
case $status in
  "" | un* | pn*) ;;
  *) fail "dpkg says declaw is '$status' after purge" ;;
esac
step "done"
