# SPDX-License-Identifier: GPL-2.0
# A hostile peer (tests/wire-abuse) on g2 against g1's drbd-rs, a Primary, in two phases.
# First, while g1 waits for its peer, g2 connects to it and answers g1's own connection attempts:
# garbage, truncated and oversized headers, wrong first packets, incompatible or malformed
# P_CONNECTION_FEATURES and P_PROTOCOL, random noise. Each connection is dropped with a kernel
# log line; no oops, no hang; the node keeps waiting, its disk keeps serving I/O.
# Then, while g1 keeps writing, g2 connects properly 15 times: each time it completes the
# handshake as a well-behaved Secondary (no resync), acknowledges the replicated writes,
# barriers and pings for a moment, then turns hostile in one way: P_DATA beyond the end, of an
# odd size, announcing 64 MiB, or cut short; a made-up write ack, a wrong barrier ack; an
# unknown packet, a meta packet on the data socket, an invalid P_STATE, noise on either socket;
# silence (the ping timeout must catch it); a garbage state change request; packets for a
# volume that does not exist; pings answered but no write acknowledged (the request timeout,
# ko-count × timeout, must catch it); writes of zero bytes (acknowledged, no I/O). The node drops
# the connection (or shrugs the abuse off), g1's writes all complete, the node waits for its peer
# again, I/O still works.
# Third, g1 detaches while connected and attaches a smaller disk; the peer writes where the old
# disk's data went on and the new one's meta data lies: refused by the size of the disk attached
# now. Fourth, with ko-count set to 0 while connected (at once), the peer stops reading in the
# middle of a stream of writes: the node waits for it, as configured, and `disconnect` (which
# asks the peer) and `down` still work. Fifth, the peer refuses 16 writes with P_NEG_ACK (as a
# peer whose disk failed them): the node keeps it and has exactly those 64 KiB out of sync.
#@ guests: 2
#@ disks: 64M 32M
#@ module: g1=ours g2=ours
#@ timeout: 540

# writer: small direct writes on /dev/drbd0 until /tmp/stop-writing exists, so that there is
# replication traffic to attack; a failed write is noted in /tmp/write-failed, and
# /tmp/writer-done says the writer stopped. (Writes wait for the peer's acks: while it is
# abusive or silent they stall until the node drops the connection.)
writer() {
	i=0
	while [ ! -e /tmp/stop-writing ]; do
		dd if=/dev/urandom of=/dev/drbd0 bs=4k count=64 seek=$((i % 64 * 64)) \
			oflag=direct 2>/dev/null || echo "dd $i failed" >>/tmp/write-failed
		i=$((i + 1))
		sleep 0.1
	done
	touch /tmp/writer-done
}

g1() {
	step "load" load_drbd
	two_node_res r0 "net { connect-int 1; ping-int 2; ping-timeout 5; ko-count 2; }"
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

	# Second phase: a peer that connects properly and then misbehaves, while g1 writes
	writer &
	barrier writing
	barrier connected-abused
	touch /tmp/stop-writing
	wait_for "the writer's last writes completed" 60 test -e /tmp/writer-done
	wait
	# what the node said, without timestamps, most frequent first
	dmesg | grep 'drbd: r0' | sed 's/^\[[^]]*\] //' | sort | uniq -c | sort -rn | head -40
	# each of the 16 connections ended with "Connection closed" (more if g2 had to try again)
	wait_for "every connection closed" 30 sh -c "[ \$(dmesg | grep -c 'drbd: r0: Connection closed') -ge 16 ]"
	# lines the node logs without rate limit (the other errors' lines may be suppressed)
	step "writes beyond the end refused" \
		sh -c "dmesg | grep -q 'drbd: r0/0: peer wrote beyond the end of the device'"
	step "writes of odd sizes refused" \
		sh -c "dmesg | grep -q 'drbd: r0: peer sent a write of invalid size'"
	step "a 64 MiB header refused" \
		sh -c "dmesg | grep -q 'drbd: r0: receiver: packet length 67108864 above'"
	step "noise on the data socket refused" \
		sh -c "dmesg | grep -q 'drbd: r0: receiver: wrong magic value'"
	step "the silent peer caught by the ping timeout" \
		sh -c "dmesg | grep -q 'drbd: r0: PingAck did not arrive in time'"
	step "the peer without acks caught by the request timeout" \
		sh -c "dmesg | grep -q 'drbd: r0: Remote failed to finish a request within .* ko-count (2) \* timeout (60 \* 0.1s)'"
	cat /tmp/write-failed 2>/dev/null
	step "no write of g1 failed" test ! -e /tmp/write-failed
	wait_for "waiting for its peer again" 30 grep -Eq 'cs:(WFConnection|Unconnected)' /proc/drbd
	cat /proc/drbd
	step "writes still work" dd if=/dev/urandom of=/dev/drbd0 bs=64k count=100 oflag=direct
	step "reads still work" dd if=/dev/drbd0 of=/dev/null bs=64k count=200 iflag=direct

	# Third phase: a smaller disk attached under a connected peer
	step "secondary" drbdadm secondary r0
	step "create-md on the smaller disk" drbdmeta --force 9 v08 /dev/vdb internal create-md
	barrier stale-connect
	wait_for "connected to the peer" 30 grep -q 'cs:Connected' /proc/drbd
	step "detach while connected" drbdadm detach r0
	step "attach the smaller disk while connected" \
		/lib/drbd/drbdsetup-84 attach 0 /dev/vdb /dev/vdb internal
	size=$(cat /sys/block/drbd0/size)
	say "the new disk holds $size sectors of data"
	share stale-sector "$size"
	barrier stale-attached
	barrier stale-written
	step "the write into the new disk's meta data refused" sh -c "dmesg | \
		grep -q 'drbd: r0/0: peer wrote beyond the end of the device (sector $size + 4096 bytes > $size sectors)'"
	wait_for "waiting for its peer again" 30 grep -Eq 'cs:(WFConnection|Unconnected)' /proc/drbd
	step "detach the smaller disk" drbdadm detach r0
	step "its meta data intact" drbdmeta --force 9 v08 /dev/vdb internal dump-md

	# Fourth phase: ko-count 0, and a peer that stops reading
	step "attach the first disk again" drbdadm attach r0
	step "primary" drbdadm primary --force r0
	barrier reading-connect
	wait_for "connected to the peer" 30 grep -q 'cs:Connected' /proc/drbd
	step "ko-count 0 while connected" /lib/drbd/drbdsetup-84 net-options \
		ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789 --ko-count=0
	# 1 MiB writes, 32 in flight, for 30 s: they stall once the peer stops reading, and go on
	# without it after the disconnect
	fio --name=stall --filename=/dev/drbd0 --rw=write --bs=1M --ioengine=libaio --iodepth=32 \
		--direct=1 --time_based --runtime=30 >/tmp/fio-stall 2>&1 &
	barrier stop-reading
	# ko-count 2 × timeout 6 s would have dropped the peer after 12 s
	sleep 16
	step "still connected after 16 s: ko-count 0 took effect at once" grep -q 'cs:Connected' /proc/drbd
	# a graceful disconnect asks the peer, which does not read: it must not wait forever (it
	# gives the peer `timeout`, 6 s, longer than drbdadm waits for drbdsetup: call it directly)
	step "disconnect while the peer does not read" timeout 30 \
		/lib/drbd/drbdsetup-84 disconnect ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789
	step "the peer given up" sh -c "dmesg | grep -q 'drbd: r0: the peer took no data for 6000 ms'"
	wait_for "the stalled writes completed" 60 grep -q 'WRITE:' /tmp/fio-stall
	wait
	step "without a failed write" sh -c "! grep -q 'err=' /tmp/fio-stall || grep -q 'err= 0' /tmp/fio-stall"
	barrier reading-done

	# Fifth phase: writes the peer refuses (P_NEG_ACK) stay out of sync on the node
	step "a clean bitmap" drbdadm new-current-uuid --clear-bitmap r0
	step "connect" drbdadm connect r0
	barrier neg-connect
	wait_for "connected to the peer" 30 grep -q 'cs:Connected' /proc/drbd
	step "nothing out of sync" grep -q 'oos:0$' /proc/drbd
	barrier neg-acking
	step "64 KiB written, the peer refuses them" \
		dd if=/dev/urandom of=/dev/drbd0 bs=4k count=16 seek=1024 oflag=direct
	grep oos: /proc/drbd
	step "the refused writes out of sync" grep -q 'oos:64$' /proc/drbd
	step "the peer kept" grep -q 'cs:Connected' /proc/drbd
	barrier neg-done
	step "secondary" drbdadm secondary r0
	step "down" timeout 30 drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	barrier up
	step "hostile peer" /harness/bin/wire-abuse 10.0.0.1:7789 10.0.0.2:7789 --rounds 12
	barrier abused
	barrier writing
	step "peer hostile once connected" \
		/harness/bin/wire-abuse 10.0.0.1:7789 10.0.0.2:7789 --connected-rounds 16
	barrier connected-abused

	/harness/bin/wire-abuse 10.0.0.1:7789 10.0.0.2:7789 --stale-size /tmp/go-stale \
		>/tmp/stale.out 2>&1 &
	barrier stale-connect
	barrier stale-attached
	fetch stale-sector >/tmp/go-stale.tmp && mv /tmp/go-stale.tmp /tmp/go-stale
	wait $!
	rc=$?
	cat /tmp/stale.out
	step "a write beyond the new disk: connection dropped" test $rc -eq 0
	barrier stale-written

	# only now: the node is attached and Primary again
	barrier reading-connect
	/harness/bin/wire-abuse 10.0.0.1:7789 10.0.0.2:7789 --stop-reading /tmp/go-stop \
		>/tmp/stop.out 2>&1 &
	barrier stop-reading
	touch /tmp/go-stop
	wait $!
	rc=$?
	cat /tmp/stop.out
	step "the peer that stopped reading: connection taken down by the node" test $rc -eq 0
	barrier reading-done

	/harness/bin/wire-abuse 10.0.0.1:7789 10.0.0.2:7789 --neg-ack /tmp/go-neg \
		>/tmp/neg.out 2>&1 &
	barrier neg-connect
	touch /tmp/go-neg
	wait_for "the peer refuses writes" 30 grep -q 'refusing writes now' /tmp/neg.out
	barrier neg-acking
	barrier neg-done
	touch /tmp/go-neg.done
	wait $!
	rc=$?
	cat /tmp/neg.out
	step "the node kept the peer that refused its writes" test $rc -eq 0
}
