# SPDX-License-Identifier: GPL-2.0
# Helpers for scenario scripts, sourced in every guest before the scenario.
# A scenario defines one shell function per guest (g1, g2, g3) and, optionally, `common`, which
# every guest runs first. See Documentation/testing.rst.

GUEST=$drbdrs_guest
# The drbd.ko this guest uses: "ours" (drbd-rs) or "c" (the in-tree C module).
DRBD_MODULE=$drbdrs_module

# Control channel to the harness (second serial port): barriers and results.
exec 3<>/dev/ttyS1
stty -F /dev/ttyS1 raw -echo 2>/dev/null

_ctl() { echo "$*" >&3; }

# Prints a line to the log, tagged with the guest and its uptime (the kernel's clock) so that it
# stands out among kernel messages and shows what took how long.
say() {
	local up
	read -r up _ </proc/uptime
	echo "[$GUEST $up] $*"
}

# fail MESSAGE: ends this guest's part with a failure.
fail() {
	say "FAIL: $*"
	_ctl "FAIL $*"
	harness_finish 1
}

# step DESCRIPTION COMMAND [ARG...]: runs a command that must succeed; shows its output.
step() {
	local desc=$1 out rc
	shift
	say "step: $desc"
	out=$("$@" 2>&1)
	rc=$?
	[ -n "$out" ] && printf '%s\n' "$out"
	[ $rc -eq 0 ] || fail "$desc (exit $rc): $*: $(printf '%s' "$out" | grep . | head -1)"
	_ctl "STEP $desc"
}

# expect DESCRIPTION EXPECTED COMMAND [ARG...]: the command's output (stdout and stderr) must be
# exactly EXPECTED; its exit status does not matter (use for refused commands).
expect() {
	local desc=$1 want=$2 got
	shift 2
	say "expect: $desc"
	got=$("$@" 2>&1)
	printf '%s\n' "$got"
	[ "$got" = "$want" ] || fail "$desc: expected [$want] got [$got]"
	_ctl "STEP $desc"
}

# expect_rc DESCRIPTION RC COMMAND [ARG...]: the command must exit with RC.
expect_rc() {
	local desc=$1 want=$2 rc
	shift 2
	say "expect exit $want: $desc"
	"$@" 2>&1
	rc=$?
	[ $rc -eq "$want" ] || fail "$desc: expected exit $want, got $rc: $*"
	_ctl "STEP $desc"
}

# expect_fail DESCRIPTION COMMAND [ARG...]: the command must fail (any non-zero exit status).
expect_fail() {
	local desc=$1
	shift
	say "expect failure: $desc"
	! "$@" 2>&1 || fail "$desc: succeeded: $*"
	_ctl "STEP $desc"
}

# What /proc/drbd says of the first device, for a failure message (CI shows only those).
drbd_brief() {
	local st
	st=$(grep -m1 -o 'cs:.*' /proc/drbd 2>/dev/null) &&
		echo " [$st $(grep -m1 -o 'oos:[0-9]*' /proc/drbd)]"
}

# wait_for DESCRIPTION SECONDS COMMAND [ARG...]: polls until the command succeeds.
wait_for() {
	local desc=$1 t=$2 i=0
	shift 2
	say "wait: $desc"
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -gt $((t * 5)) ] && fail "timeout after ${t}s: $desc$(drbd_brief)"
		[ $((i % 150)) -eq 0 ] && say "still waiting: $desc$(drbd_brief)"
		sleep 0.2
	done
	_ctl "STEP $desc"
}

# _ask REQUEST: sends a request to the harness and prints its answer. Under load the serial
# line has lost the head of an answer: a line that is no answer is logged and the request made
# again (AGAIN REQUEST), which the harness answers as it did.
_ask() {
	local reply n=0
	_ctl "$1"
	while read -r reply <&3; do
		case "$reply" in
		"GO "* | "VAL "* | ABORT) break ;;
		esac
		say "control channel: garbled answer '$reply' to '$1'" >&2
		n=$((n + 1))
		[ $n -ge 3 ] && break
		_ctl "AGAIN $1"
	done
	echo "$reply"
}

# barrier NAME: waits until every guest of the scenario has reached NAME.
barrier() {
	local reply
	say "barrier: $1"
	reply=$(_ask "BARRIER $1")
	[ "$reply" = "GO $1" ] || fail "barrier $1: harness answered '$reply'"
}

# two_node_res NAME [SECTIONS [DISK]]: writes /etc/drbd.d/NAME.res, a resource replicated
# between g1 and g2 on /dev/drbd0 over DISK (/dev/vda by default) with internal meta data;
# SECTIONS (e.g. "net { protocol A; }") go into the resource. Over IPv6 when drbdrs_ipv6 is set
# (a variant's ipv6=1).
two_node_res() {
	local a1=10.0.0.1 a2=10.0.0.2
	if [ -n "$drbdrs_ipv6" ]; then
		a1="ipv6 [fd00::1]" a2="ipv6 [fd00::2]"
	fi
	cat >"/etc/drbd.d/$1.res" <<-EOT
	resource $1 {
		device /dev/drbd0;
		disk ${3:-/dev/vda};
		meta-disk internal;
		$2
		on g1 { address $a1:7789; }
		on g2 { address $a2:7789; }
	}
	EOT
}

# log_helpers: writes /tmp/helper, a handler for drbd.conf's `handlers` section: `/tmp/helper
# NAME [EXIT]` appends NAME and the environment drbdadm gives handlers to /tmp/helpers.log, as
# `NAME res=R minor=M vol=V af=AF addr=ADDR`, and exits with EXIT, or with the number in
# /tmp/NAME.exit if that exists (0 by default).
log_helpers() {
	cat >/tmp/helper <<-'EOT'
	#!/bin/sh
	echo "$1 res=$DRBD_RESOURCE minor=$DRBD_MINOR vol=$DRBD_VOLUME af=$DRBD_PEER_AF addr=$DRBD_PEER_ADDRESS" >>/tmp/helpers.log
	[ -e "/tmp/$1.exit" ] && exit "$(cat "/tmp/$1.exit")"
	exit "${2:-0}"
	EOT
	chmod +x /tmp/helper
}

# load_drbd [PARAM=VALUE...]: loads this guest's drbd.ko; drbd-rs offers protocol versions up
# to drbdrs_pv if set (a variant's pv=N). (kmod's tools by path: busybox sh would run its own
# applets of the same names.)
load_drbd() {
	case "$DRBD_MODULE" in
	ours) /sbin/insmod /lib/modules/drbd-rs/drbd.ko \
		${drbdrs_pv:+protocol_version_max=$drbdrs_pv} "$@" ;;
	c) /sbin/modprobe drbd "$@" ;;
	*) fail "unknown module '$DRBD_MODULE'" ;;
	esac
}

unload_drbd() {
	/sbin/rmmod drbd
}

# show84 ARG...: runs drbdsetup-84 and prints the command, its output and its exit status, for
# scenarios that compare outputs.
show84() {
	echo "== drbdsetup-84 $*"
	/lib/drbd/drbdsetup-84 "$@" 2>&1
	echo "rc=$?"
}

# show_proc: prints /proc/drbd with the module-specific srcversion masked.
show_proc() {
	echo "== /proc/drbd"
	sed 's/^srcversion: .*/srcversion: -/' /proc/drbd
}

# compare_with_c FUNCTION: runs FUNCTION with the in-tree C module loaded, then with drbd-rs
# loaded, and fails unless both print the same. Leaves drbd-rs loaded.
compare_with_c() {
	step "load the C module" /sbin/modprobe drbd
	"$1" >/tmp/c.out 2>&1
	step "unload the C module" /sbin/rmmod drbd
	step "load drbd-rs" /sbin/insmod /lib/modules/drbd-rs/drbd.ko
	"$1" >/tmp/ours.out 2>&1
	cat /tmp/ours.out
	step "same output as with the C module" diff -u /tmp/c.out /tmp/ours.out
}

# fio from the host's root (mounted read-only on /host): its libraries are too big to copy.
fio() {
	# absolute symlinks on the host (/lib64/ld-linux...) would resolve in the guest: use real paths
	/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path \
		/host/usr/lib/x86_64-linux-gnu:/host/usr/lib/x86_64-linux-gnu/ceph /host/usr/bin/fio "$@"
}

# host_run PROGRAM ARG...: runs a program of the host's root (mkfs.ext4, say), as fio above.
host_run() {
	/host/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2 --library-path \
		/host/usr/lib/x86_64-linux-gnu "$@"
}

# dms ARG...: dmsetup from the host's root, making its device nodes itself (no udev here)
dms() {
	DM_DISABLE_UDEV=1 host_run /host/sbin/dmsetup --noudevsync "$@"
}

# primary_sum: the md5 of /dev/drbd0 as the Primary sees it.
primary_sum() {
	md5sum </dev/drbd0 | cut -d' ' -f1
}

# backing_sum [DISK]: the md5 of the same range of this node's backing disk (/dev/vda unless
# given), its page cache dropped first: the module wrote underneath it.
backing_sum() {
	echo 3 >/proc/sys/vm/drop_caches
	# (dd: busybox head reads a pipe in small pieces, four times slower under TCG)
	dd if="${1:-/dev/vda}" bs=1M count=$(($(cat /sys/block/drbd0/size) * 512)) iflag=count_bytes \
		2>/dev/null | md5sum | cut -d' ' -f1
}

# same_as SUM [DISK]: whether this node's backing disk holds the data of checksum SUM.
same_as() {
	[ "$(backing_sum "$2")" = "$1" ]
}

# agreed_version: with drbdrs_pv set, whether the handshake agreed on that protocol version.
agreed_version() {
	[ -z "$drbdrs_pv" ] ||
		dmesg | grep -q "Agreed network protocol version $drbdrs_pv\$"
}

# synced: Connected and UpToDate on both sides.
synced() {
	grep -q 'cs:Connected ro:[A-Za-z]*/[A-Za-z]* ds:UpToDate/UpToDate' /proc/drbd
}

# share KEY VALUE / fetch KEY: pass a value (a checksum, say) between guests; fetch waits until
# some guest has shared KEY.
share() { _ctl "SET $1 $2"; }
fetch() {
	local reply
	reply=$(_ask "GET $1")
	case "$reply" in
	"VAL "*) echo "${reply#VAL }" ;;
	*) fail "fetch $1: harness answered '$reply'" ;;
	esac
}

# power_cut: the harness kills this guest at once (no shutdown, nothing flushed) and boots it
# again with the same disks; the scenario's function runs again with $drbdrs_boot one higher.
power_cut() {
	say "power cut"
	_ctl "POWERCUT"
	sleep 600
}

harness_finish() {
	_ctl "RESULT $1"
	sync
	poweroff -f
}

harness_run() {
	if command -v common >/dev/null; then common; fi
	if command -v "$1" >/dev/null; then "$1"; fi
	harness_finish 0
}
