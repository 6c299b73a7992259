# SPDX-License-Identifier: GPL-2.0
# A hostile peer (tests/wire-abuse) on g2 connects to g1's drbd-rs, which waits for its peer,
# and answers g1's own connection attempts: garbage, truncated and oversized headers, wrong
# first packets, incompatible or malformed P_CONNECTION_FEATURES and P_PROTOCOL, random noise.
# Each connection is dropped with a kernel log line; no oops, no hang; the node keeps waiting,
# its disk keeps serving I/O, and down ends it cleanly.
#@ guests: 2
#@ disks: 64M
#@ module: g1=ours g2=ours
#@ timeout: 300

g1() {
	step "load" load_drbd
	two_node_res r0 "net { connect-int 1; ping-timeout 5; }"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	step "primary" drbdadm primary --force r0
	barrier up
	# I/O while the peer misbehaves
	step "I/O during the abuse" dd if=/dev/urandom of=/dev/drbd0 bs=64k count=200 oflag=direct
	barrier abused
	dmesg | grep 'drbd: r0:' | sort | uniq -c | sort -rn | head -20
	step "dropped with a log line" sh -c "dmesg | grep -Eq 'drbd: r0: (Error receiving initial packet|connecting failed)'"
	step "still waiting for its peer" grep -Eq 'cs:(WFConnection|Unconnected)' /proc/drbd
	step "disk still serves reads" dd if=/dev/drbd0 of=/dev/null bs=64k count=200 iflag=direct
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	barrier up
	step "hostile peer" /harness/bin/wire-abuse 10.0.0.1:7789 10.0.0.2:7789 --rounds 24
	barrier abused
}
