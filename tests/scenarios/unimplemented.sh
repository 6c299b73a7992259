# SPDX-License-Identifier: GPL-2.0
# Commands drbd-rs does not implement yet are refused with a DRBD error code, a message and a
# kernel log line, never ignored.
#@ guests: 1

g1() {
	step "load" load_drbd
	step "new-resource" /lib/drbd/drbdsetup-84 new-resource r0
	step "new-minor" /lib/drbd/drbdsetup-84 new-minor r0 0 0
	# drbdsetup-84 exits 10 when the kernel answers with an error code, and prints its text.
	/lib/drbd/drbdsetup-84 invalidate-remote 0 >/tmp/out 2>&1
	expect "invalidate-remote refused" 10 echo $?
	cat /tmp/out
	step "ERR_INVALID_REQUEST text" grep -q '(162) Invalid configuration request' /tmp/out
	step "info text" grep -q 'not implemented yet by drbd-rs' /tmp/out
	step "kernel log line" sh -c "dmesg | grep -q 'drbd: invalidate-remote: not implemented yet'"
	# verify is implemented: without a connection it is a refused state change (exit 11), as in C
	/lib/drbd/drbdsetup-84 verify 0 >/tmp/out 2>&1
	expect "verify without a connection refused" 11 echo $?
	step "SS_NEED_CONNECTION" grep -q 'Need a connection to start verify or resync' /tmp/out
	step "still unconfigured" grep -qx ' 0: cs:Unconfigured' /proc/drbd
	step "down" /lib/drbd/drbdsetup-84 down r0
	step "unload" unload_drbd
}
