# SPDX-License-Identifier: GPL-2.0
# Requests the module cannot carry out are refused with a DRBD error code, a message and a
# kernel log line, never ignored; `wait-connect` on a minor without a peer waits its timeout.
#@ guests: 1

g1() {
	step "load" load_drbd
	step "new-resource" /lib/drbd/drbdsetup-84 new-resource r0
	step "new-minor" /lib/drbd/drbdsetup-84 new-minor r0 0 0
	# drbdsetup-84 exits 10 for an error code, 11 for a refused state change, and prints the
	# text; as in C, invalidate-remote needs a disk and verify a connection
	/lib/drbd/drbdsetup-84 invalidate-remote 0 >/tmp/out 2>&1
	expect "invalidate-remote without a disk refused" 10 echo $?
	cat /tmp/out
	step "ERR_NO_DISK" grep -q '(138) Device does not have a disk-config' /tmp/out
	/lib/drbd/drbdsetup-84 verify 0 >/tmp/out 2>&1
	expect "verify without a connection refused" 11 echo $?
	cat /tmp/out
	step "SS_NEED_CONNECTION" grep -q 'Need a connection to start verify or resync' /tmp/out
	step "kernel log line" sh -c \
		"dmesg | grep -q 'drbd0: State change failed: Need a connection to start verify or resync'"
	# check_net_options(): allow-two-primaries needs protocol C, on-congestion protocol A
	/lib/drbd/drbdsetup-84 connect r0 ipv4:127.0.0.1:7788 ipv4:127.0.0.1:7799 --protocol=A \
		--allow-two-primaries >/tmp/out 2>&1
	expect "two primaries without protocol C refused" 10 echo $?
	cat /tmp/out
	step "ERR_NOT_PROTO_C" grep -q '(139) ' /tmp/out
	/lib/drbd/drbdsetup-84 connect r0 ipv4:127.0.0.1:7788 ipv4:127.0.0.1:7799 --protocol=C \
		--on-congestion=pull-ahead >/tmp/out 2>&1
	expect "on-congestion without protocol A refused" 10 echo $?
	cat /tmp/out
	step "ERR_CONG_NOT_PROTO_A" grep -q '(155) ' /tmp/out
	# wait-connect asks get-timeout-type, then waits for a connection event until its timeout
	step "connect to no one" /lib/drbd/drbdsetup-84 connect r0 ipv4:127.0.0.1:7788 \
		ipv4:127.0.0.1:7799 --protocol=C
	wait_for "WFConnection" 10 grep -q 'cs:WFConnection' /proc/drbd
	local t0=$(date +%s)
	/lib/drbd/drbdsetup-84 wait-connect 0 --wfc-timeout=2 >/tmp/out 2>&1
	expect "wait-connect timed out" 5 echo $?
	cat /tmp/out
	step "wait-connect waited for its timeout" test $(($(date +%s) - t0)) -ge 2
	step "no error from the kernel" sh -c "! grep -q 'additional info from kernel\|error' /tmp/out"
	step "still waiting" grep -q 'cs:WFConnection' /proc/drbd
	step "down" /lib/drbd/drbdsetup-84 down r0
	step "unload" unload_drbd
}
