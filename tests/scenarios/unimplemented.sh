# SPDX-License-Identifier: GPL-2.0
# Commands drbd-rs does not implement yet are refused with a DRBD error code, a message and a
# kernel log line, never ignored; commands on a minor get the C module's "unknown minor".
#@ guests: 1

g1() {
	step "load" load_drbd
	# drbdsetup-84 exits 10 when the kernel answers with an error code, and prints its text.
	/lib/drbd/drbdsetup-84 new-resource r0 >/tmp/out 2>&1
	expect "new-resource refused" 10 echo $?
	cat /tmp/out
	step "ERR_INVALID_REQUEST text" grep -q '(162) Invalid configuration request' /tmp/out
	step "info text" grep -q 'not implemented yet by drbd-rs' /tmp/out
	step "kernel log line" sh -c "dmesg | grep -q 'drbd: new-resource: not implemented yet'"
	expect_rc "new-minor refused" 10 /lib/drbd/drbdsetup-84 new-minor r0 0 0
	expect "primary on a minor that does not exist" "0: Failure: (127) Device minor not allocated
additional info from kernel:
unknown minor" /lib/drbd/drbdsetup-84 primary 0
	step "unload" unload_drbd
}
