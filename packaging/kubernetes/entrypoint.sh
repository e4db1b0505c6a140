#!/bin/sh
# declawd's entrypoint in the container image (Containerfile): prepares the container's cgroup,
# then execs declawd with the arguments it was given.
#
# On cgroup v2 a container usually has a cgroup namespace of its own: /proc/self/cgroup says
# "0::/" and /sys/fs/cgroup is the container's cgroup. declawd takes a cgroup at the root of a
# mount for the host's root cgroup, which may enable controllers while holding processes, and
# does not move itself; but a namespace root is not the host's root, and "no internal
# processes" (cgroup-v2.rst, 2-4-3) refuses to enable cpu, memory and pids for its children
# while processes sit in it (EBUSY). So every process of the container's cgroup moves into the
# leaf "daemon" first, the name declawd itself uses for this (runtime/cgroup_layout.h,
# kDaemonLeaf): declawd then sees its cgroup as that leaf and delegates from its parent, as it
# does after a restart on a host. cgroup v1, or a container without a cgroup namespace: nothing
# to do (declawd moves itself where it must).
set -eu
cgroup=/sys/fs/cgroup
if [ -f "$cgroup/cgroup.controllers" ] && [ "$(cat /proc/self/cgroup)" = "0::/" ]; then
  mkdir -p "$cgroup/daemon"
  # Processes may come and go while we move them (a probe's curl): move until none is left.
  for _ in 1 2 3 4 5; do
    pids=$(cat "$cgroup/cgroup.procs")
    [ -z "$pids" ] && break
    for pid in $pids; do
      echo "$pid" >"$cgroup/daemon/cgroup.procs" 2>/dev/null || true
    done
  done
fi
exec /usr/local/sbin/declawd "$@"
