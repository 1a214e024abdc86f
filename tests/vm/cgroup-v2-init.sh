#!/bin/busybox sh
# The init of the cgroup-v2-only VM (tests/it/cgroup_v2.rs builds the
# initramfs and boots it; scripts/test-cgroup-v2.sh is the one command).
#
# Stage 1 (no argument, PID 1 on the initramfs): pivot_root(2) refuses to
# leave the initramfs (rootfs can never be unmounted), and every container
# start pivots, so the whole tree is copied onto a tmpfs and switch_root
# moves there. Stage 2 ("checks") mounts what a v2-only distribution mounts
# (cgroup2 alone at /sys/fs/cgroup, no v1 hierarchy: the kernel was booted
# with cgroup_no_v1=all), runs glassbox as a student would, and writes one
# line per check to the second serial port (/dev/ttyS1), which qemu writes to
# a file on the host:
#   @@check NAME ok|fail DETAIL
#   @@trace-begin NAME / JSON lines / @@trace-end
#   @@done
# The host test reads that file; it never trusts this script's exit code.

if [ "$1" != checks ]; then
    /bin/busybox mkdir -p /dev /newroot /proc
    /bin/busybox mount -t devtmpfs dev /dev
    echo "@@vm-ready"
    /bin/busybox mount -t tmpfs -o size=700m,mode=755 root /newroot
    for d in bin lib lib64 usr etc modules init; do
        [ -e /$d ] && /bin/busybox cp -a /$d /newroot/
    done
    /bin/busybox umount /dev
    exec /bin/busybox switch_root /newroot /init checks
fi

export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox mkdir -p /proc /sys /dev /tmp /var/lib /run
/bin/busybox mount -t proc proc /proc
# The applets as commands (busybox finds itself through /proc/self/exe).
/bin/busybox --install -s /bin
mount -t sysfs sysfs /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t cgroup2 cgroup2 /sys/fs/cgroup
for m in llc stp bridge veth overlay; do
    insmod /modules/$m.ko || echo "insmod $m failed"
done
ip link set lo up
hostname v2-vm
stty -F /dev/ttyS1 raw -echo 2>/dev/null
exec 3>/dev/ttyS1

G="glassbox --root /var/lib/glassbox"
# (each line ends with the guest's uptime, to see where the time goes)
t() { cut -d' ' -f1 /proc/uptime; }
ok() { echo "@@check $1 ok ${2:-} [t=$(t)s]" >&3; }
fail() { echo "@@check $1 fail $2 [t=$(t)s]" | tr '\n' ' ' >&3; echo >&3; }
# one line of a file, or nothing
line() { tr '\n' ' ' <"$1" 2>/dev/null; }
id_of() { $G inspect "$1" | sed -n 's/.*"Id": "\([0-9a-f]*\)".*/\1/p' | head -1; }
status_of() { $G inspect "$1" | sed -n 's/.*"Status": "\([a-z]*\)".*/\1/p' | head -1; }
# waits up to $2 tenths of a second for "$1" (a command) to succeed
wait_until() {
    n=0
    while ! eval "$1"; do
        n=$((n + 1))
        [ $n -ge "$2" ] && return 1
        sleep 0.1
    done
}
trace_out() {
    echo "@@trace-begin $1" >&3
    cat "$2" >&3
    echo "@@trace-end" >&3
}

# The host really is v2 only.
if grep -q ' - cgroup ' /proc/self/mountinfo; then
    fail v2_only "a cgroup v1 hierarchy is mounted: $(grep ' - cgroup ' /proc/self/mountinfo | head -1)"
elif ! grep -q 'cgroup_no_v1=all' /proc/cmdline; then
    fail v2_only "the kernel was booted without cgroup_no_v1=all: $(cat /proc/cmdline)"
else
    ok v2_only "controllers: $(line /sys/fs/cgroup/cgroup.controllers)"
fi

if out=$($G setup 2>&1); then ok setup; else fail setup "$out"; fi

# The runtime's own steps, for the snapshot beside the v1 one (first, as
# there, so the layer is unpacked in it too).
if out=$($G --trace json --trace-file /tmp/hello.jsonl run --rm --network none busybox echo hello 2>&1) &&
    [ "$out" = hello ]; then
    ok hello_traced
else
    fail hello_traced "output: $out"
fi
trace_out hello /tmp/hello.jsonl

# Lesson 1, on the default bridge network.
if out=$($G run --rm busybox echo hello 2>&1) && [ "$out" = hello ]; then
    ok lesson1_hello
else
    fail lesson1_hello "output: $out"
fi

# --memory 16m and a memory hog: OOM-killed, and inspect says so (the
# shim reads it from memory.events before it removes the cgroup).
$G run -d --name hog --memory 16m --network none busybox tail /dev/zero >/tmp/hog.out 2>&1
if wait_until '[ "$(status_of hog)" = exited ]' 600; then
    if $G inspect hog | grep -q '"OOMKilled": true'; then
        ok oom_killed_in_inspect "$($G inspect hog | grep -E '"(OOMKilled|ExitCode)"' | tr -d ' \n')"
    else
        fail oom_killed_in_inspect "$($G inspect hog | tr -d '\n')"
    fi
else
    fail oom_killed_in_inspect "the hog did not exit in 60 s: $(status_of hog) $(line /tmp/hog.out)"
fi
$G rm -f hog >/dev/null 2>&1

# The same seen from outside while the container lives on: the kernel kills
# the hog (the biggest process), its shell survives, memory.events counts
# the kill, and inspect reports it once the container is killed.
$G run -d --name hog2 --memory 16m --network none busybox \
    sh -c 'tail /dev/zero; echo tail was killed; exec sleep 600' >/tmp/hog2.out 2>&1
d=/sys/fs/cgroup/glassbox/$(id_of hog2)
if wait_until '$G logs hog2 2>/dev/null | grep -q "tail was killed"' 600 &&
    grep -q '^oom_kill [1-9]' $d/memory.events; then
    events=$(line $d/memory.events)
    $G kill hog2 >/dev/null 2>&1
    wait_until '[ "$(status_of hog2)" = exited ]' 300
    if $G inspect hog2 | grep -q '"OOMKilled": true'; then
        ok oom_seen_in_memory_events "memory.events: $events"
    else
        fail oom_seen_in_memory_events "memory.events said $events but inspect: $($G inspect hog2 | grep OOMKilled)"
    fi
else
    fail oom_seen_in_memory_events "no oom_kill in $d/memory.events: $(line $d/memory.events); logs: $($G logs hog2 2>&1 | head -3)"
fi
$G rm -f hog2 >/dev/null 2>&1

# --pids-limit against a fork bomb: three shells fork sleeps until the
# kernel refuses; the container's init (a sleep) lives on. Seen from
# outside, pids.current stays at the limit and pids.events counts refusals.
$G run -d --name bomb --pids-limit 8 --network none busybox \
    sh -c 'b() { while true; do sleep 60 & done; }; b & b & b & exec sleep 600' >/tmp/bomb.out 2>&1
bomb=$(id_of bomb)
d=/sys/fs/cgroup/glassbox/$bomb
if wait_until "grep -q 'max [1-9]' $d/pids.events 2>/dev/null" 300; then
    cur=$(cat $d/pids.current)
    if [ "$(cat $d/pids.max)" = 8 ] && [ "$cur" -le 8 ] && [ "$(status_of bomb)" = running ] &&
        $G logs bomb 2>&1 | grep -q "can't fork"; then
        ok pids_limit_holds "pids.current=$cur $(line $d/pids.events)"
    else
        fail pids_limit_holds "pids.max=$(cat $d/pids.max) pids.current=$cur status $(status_of bomb) logs: $($G logs bomb 2>&1 | head -3)"
    fi
else
    fail pids_limit_holds "no refused fork in $d/pids.events: $(line $d/pids.events) (status $(status_of bomb); $(line /tmp/bomb.out))"
fi
$G rm -f bomb >/dev/null 2>&1

# --memory and --cpus 0.5 on a living container: memory.max and cpu.max are
# written, and the event explains cpu.max.
$G --trace json --trace-file /tmp/cpu.jsonl run -d --name half --memory 16m --cpus 0.5 \
    --network none busybox sleep 600 >/tmp/half.out 2>&1
half=$(id_of half)
d=/sys/fs/cgroup/glassbox/$half
max=$(cat $d/memory.max 2>/dev/null)
swap=$(cat $d/memory.swap.max 2>/dev/null)
if [ "$max" = 16777216 ] && [ "$swap" = 0 ]; then
    ok memory_max_written "memory.max=$max memory.swap.max=$swap"
else
    fail memory_max_written "memory.max '$max' memory.swap.max '$swap' ($(line /tmp/half.out))"
fi
# As under docker, the container reads its own limit in its read-only
# cgroup2 view (its cgroup namespace makes its cgroup the root).
inside=$($G --trace off exec half sh -c 'cat /sys/fs/cgroup/memory.max; touch /sys/fs/cgroup/x 2>&1' 2>&1 | tr '\n' ' ')
case "$inside" in
    "16777216 "*"Read-only file system"*) ok cgroupfs_inside "$inside" ;;
    *) fail cgroupfs_inside "inside the container: '$inside'" ;;
esac
cpumax=$(cat $d/cpu.max 2>/dev/null)
if [ "$cpumax" = "50000 100000" ]; then ok cpu_max_written; else fail cpu_max_written "cpu.max: '$cpumax' ($(line /tmp/half.out))"; fi
if grep '"action":"limit"' /tmp/cpu.jsonl | grep '"subject":"cpu.max"' | grep -q '0.5 CPUs'; then
    ok cpu_max_explained
else
    fail cpu_max_explained "no limit event for cpu.max saying 0.5 CPUs"
fi

# pause/unpause through cgroup.freeze, seen from outside: cgroup.events,
# the process's state, and a ticker whose log stops growing.
$G run -d --name tick --network none busybox \
    sh -c 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done' >/dev/null 2>&1
tick=$(id_of tick)
d=/sys/fs/cgroup/glassbox/$tick
pid=$($G inspect tick | sed -n 's/.*"Pid": \([0-9]*\).*/\1/p' | head -1)
wait_until '[ "$($G logs tick 2>/dev/null | wc -l)" -ge 2 ]' 300
$G --trace narrate --explain full --no-color pause tick >/tmp/pause.txt 2>&1
frozen=$(grep frozen $d/cgroup.events)
state=$(grep State /proc/$pid/status)
a=$($G logs tick | wc -l)
sleep 1.5
b=$($G logs tick | wc -l)
if [ "$(cat $d/cgroup.freeze)" = 1 ] && [ "$frozen" = "frozen 1" ] && [ "$a" = "$b" ] &&
    [ "$(status_of tick)" = paused ]; then
    ok pause_freezes "cgroup.events: $frozen; pid $pid $state; log stayed at $a lines"
else
    fail pause_freezes "cgroup.freeze=$(cat $d/cgroup.freeze) cgroup.events: $frozen; log $a -> $b; status $(status_of tick); $(line /tmp/pause.txt)"
fi
$G unpause tick >/tmp/unpause.txt 2>&1
sleep 1.5
c=$($G logs tick | wc -l)
if [ "$(grep frozen $d/cgroup.events)" = "frozen 0" ] && [ "$c" -gt "$b" ]; then
    ok unpause_thaws "log $b -> $c lines"
else
    fail unpause_thaws "cgroup.events: $(grep frozen $d/cgroup.events); log $b -> $c; $(line /tmp/unpause.txt)"
fi

# exec joins the container's cgroup: the exec'd command is in cgroup.procs,
# and so is the glassbox exec that started it.
$G exec tick sleep 30 >/dev/null 2>&1 &
execpid=$!
exec_in_cgroup() {
    for p in $(cat $d/cgroup.procs); do
        [ "$(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)" = "sleep 30 " ] && return 0
    done
    return 1
}
if wait_until exec_in_cgroup 300 && grep -q "^0::/glassbox/$tick\$" /proc/$execpid/cgroup; then
    ok exec_joins_cgroup "exec's process: $(cat /proc/$execpid/cgroup)"
else
    fail exec_joins_cgroup "cgroup.procs: $(line $d/cgroup.procs); exec pid $execpid: $(line /proc/$execpid/cgroup)"
fi

# The narration names the v2 files.
$G --trace narrate --explain full --no-color run --rm --network none --memory 16m --pids-limit 10 \
    --cpus 0.5 busybox true >/tmp/narrate.txt 2>&1
missing=
for f in memory.max pids.max cpu.max; do
    grep -q "$f" /tmp/narrate.txt || missing="$missing $f"
done
grep -q cgroup.freeze /tmp/pause.txt || missing="$missing cgroup.freeze"
# pause returns once the kernel says the freeze is complete, and says so.
{ grep -q 'confirm cgroup.events' /tmp/pause.txt && grep -q 'sets `frozen 1` in `cgroup.events`' /tmp/pause.txt; } ||
    missing="$missing cgroup.events"
if [ -z "$missing" ]; then
    ok narration_names_v2_files
else
    fail narration_names_v2_files "not named:$missing; pause said: $(grep -v '^ *$' /tmp/pause.txt | head -12)"
fi
grep -q -e memory.limit_in_bytes -e cfs_quota -e freezer.state /tmp/narrate.txt /tmp/pause.txt &&
    fail narration_names_v2_files "the narration names v1 files"

# rm leaves no cgroup behind.
$G rm -f tick half >/dev/null 2>&1
wait "$execpid" 2>/dev/null
left=$(find /sys/fs/cgroup -mindepth 1 -type d 2>/dev/null | grep glassbox)
if [ -z "$left" ] && [ ! -e /sys/fs/cgroup/glassbox ]; then
    ok rm_leaves_no_cgroup
else
    fail rm_leaves_no_cgroup "left: $left"
fi

# Rootless on the same v2-only machine: a student (uid 1000, subordinate
# ids 100000-165535) whose shell lives in a cgroup subtree delegated to
# them, as systemd delegates user@UID.service (here by chown, as an
# administrator would). glassbox makes its cgroups under that subtree, so
# limits and the freezer work without root.
chown 0:0 /usr/bin/newuidmap /usr/bin/newgidmap
chmod 4755 /usr/bin/newuidmap /usr/bin/newgidmap
mkdir -p /home/student /sys/fs/cgroup/student/shell
chown 1000:1000 /home/student
echo "+memory +pids +cpu" >/sys/fs/cgroup/cgroup.subtree_control
echo "+memory +pids +cpu" >/sys/fs/cgroup/student/cgroup.subtree_control
chown 1000:1000 /sys/fs/cgroup/student /sys/fs/cgroup/student/cgroup.procs \
    /sys/fs/cgroup/student/cgroup.subtree_control /sys/fs/cgroup/student/cgroup.threads
chown -R 1000:1000 /sys/fs/cgroup/student/shell
cat >/bin/as-student <<'EOS'
#!/bin/sh
echo $$ >/sys/fs/cgroup/student/shell/cgroup.procs
# (POSIXLY_CORRECT: su stops reading options at the user, so glassbox's
# own options reach glassbox)
POSIXLY_CORRECT=1 exec su -s /bin/sh student -c 'unset POSIXLY_CORRECT; export HOME=/home/student PATH=/bin:/sbin:/usr/bin:/usr/sbin; exec glassbox "$@"' sh "$@"
EOS
chmod 755 /bin/as-student
S=as-student
D=/sys/fs/cgroup/student/glassbox
rid_of() { $S inspect "$1" 2>/dev/null | sed -n 's/.*"Id": "\([0-9a-f]*\)".*/\1/p' | head -1; }
rstatus_of() { $S inspect "$1" 2>/dev/null | sed -n 's/.*"Status": "\([a-z]*\)".*/\1/p' | head -1; }
$S setup >/tmp/rsetup.out 2>&1
if out=$($S run --rm busybox sh -c 'echo hello; cat /proc/self/uid_map' 2>&1) &&
    echo "$out" | grep -q '^hello$' && echo "$out" | grep -q '^ *0 *1000 *1$' &&
    $S info | grep -q 'Mode: *rootless'; then
    ok rootless_hello "$(echo "$out" | tr -s ' \n' ' ')"
else
    fail rootless_hello "output: $out; setup: $(line /tmp/rsetup.out)"
fi
$S --trace json --trace-file /tmp/rhalf.jsonl run -d --name rhalf --memory 16m --cpus 0.5 --network none busybox sleep 600 >/tmp/rhalf.out 2>&1
rhalf=$(rid_of rhalf)
if [ -n "$rhalf" ] && [ "$(cat $D/$rhalf/memory.max 2>/dev/null)" = 16777216 ] &&
    [ "$(cat $D/$rhalf/cpu.max 2>/dev/null)" = "50000 100000" ] &&
    ! grep -q '"action":"unavailable"' /tmp/rhalf.jsonl; then
    ok rootless_limits_written "in $D/$rhalf: memory.max=$(cat $D/$rhalf/memory.max) cpu.max=$(cat $D/$rhalf/cpu.max)"
else
    fail rootless_limits_written "id '$rhalf' memory.max '$(cat $D/$rhalf/memory.max 2>&1)' ($(line /tmp/rhalf.out)) $(grep unavailable /tmp/rhalf.jsonl | head -1)"
fi
$S pause rhalf >/tmp/rpause.out 2>&1
if [ "$(cat $D/$rhalf/cgroup.freeze 2>/dev/null)" = 1 ] && [ "$(rstatus_of rhalf)" = paused ]; then
    ok rootless_pause_freezes "$(grep frozen $D/$rhalf/cgroup.events)"
else
    fail rootless_pause_freezes "cgroup.freeze '$(cat $D/$rhalf/cgroup.freeze 2>&1)' status $(rstatus_of rhalf); $(line /tmp/rpause.out)"
fi
$S run -d --name rhog --memory 16m --network none busybox tail /dev/zero >/tmp/rhog.out 2>&1
if wait_until '[ "$(rstatus_of rhog)" = exited ]' 600 && $S inspect rhog | grep -q '"OOMKilled": true'; then
    ok rootless_oom_killed "$($S inspect rhog | grep -E '"(OOMKilled|ExitCode)"' | tr -d ' \n')"
else
    fail rootless_oom_killed "status $(rstatus_of rhog): $($S inspect rhog 2>&1 | grep -E 'OOM|ExitCode' | tr -d '\n') $(line /tmp/rhog.out)"
fi
$S rm -f rhalf rhog >/dev/null 2>&1
if [ ! -e $D ] && [ -z "$(find /sys/fs/cgroup -mindepth 1 -type d | grep glassbox)" ]; then
    ok rootless_rm_leaves_no_cgroup
else
    fail rootless_rm_leaves_no_cgroup "left: $(find /sys/fs/cgroup -type d | grep glassbox | tr '\n' ' ')"
fi

echo "@@done" >&3
sync
poweroff -f
