# SPDX-License-Identifier: GPL-2.0
# A hostile netlink client (tests/genl-abuse) sends malformed, truncated, oversized, unknown and
# random requests and a flood while other readers race it: each gets an answer, the kernel stays
# clean (lockdep included), drbd-utils still works.
#@ guests: 1
#@ timeout: 240

g1() {
	step "load" load_drbd
	# /proc/drbd and drbdsetup-84 readers race the hostile client for the configuration lock
	(while :; do cat /proc/drbd; /lib/drbd/drbdsetup-84 show; done >/dev/null 2>&1) &
	readers=$!
	step "hostile client: every request answered as expected" \
		/harness/bin/genl-abuse --flood 5000 --random 3000
	kill $readers
	step "drbdsetup-84 still served" /lib/drbd/drbdsetup-84 show
	expect "primary on a minor that does not exist" "0: Failure: (127) Device minor not allocated
additional info from kernel:
unknown minor" /lib/drbd/drbdsetup-84 primary 0
	step "unload" unload_drbd
}
