# SPDX-License-Identifier: GPL-2.0
# Two nodes replicate, configured by drbdadm: ours with ours, ours Primary to a C Secondary, and a
# C Primary to ours, with protocols A, B and C (B with a data-integrity-alg, A over IPv6 between
# ours and C, and C with drbd-rs offering only protocol 86; 96 is resync's). They connect (Connected, both
# Inconsistent), skip the initial sync with new-current-uuid --clear-bitmap (UpToDate/UpToDate;
# before protocol 90, which cannot, a forced primary and a full sync), g1 becomes Primary (g2's
# primary is refused meanwhile, and its /dev/drbd0 cannot be opened), fio writes with
# verify=crc32c, and four jobs write into the same MiB at once (overlapping writes must reach
# both disks in the same order); the Secondary's backing disk then holds exactly the Primary's
# data. The roles switch over and the same holds the other way; then down on both. So each
# variant with C replicates both ways: the c-rs ones add a C node that starts (clears the bitmap,
# or at protocol 86 is the SyncSource of the full sync, and is Primary first).
#@ guests: 2
#@ disks: 64M
#@ timeout: 300
#@ variant: rs-rs-C g1=ours g2=ours proto=C
#@ variant: rs-rs-B-crc32c g1=ours g2=ours proto=B integrity=crc32c
#@ variant: rs-rs-A g1=ours g2=ours proto=A
#@ variant: rs-c-C g1=ours g2=c proto=C
#@ variant: rs-c-B-sha1 g1=ours g2=c proto=B integrity=sha1
#@ variant: rs-c-A-ipv6 g1=ours g2=c proto=A ipv6=1
#@ variant: c-rs-C g1=c g2=ours proto=C
#@ variant: rs-c-C-86 g1=ours g2=c proto=C pv=86
#@ variant: c-rs-C-86 g1=c g2=ours proto=C pv=86
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

# start_sampling / stop_sampling: the pe:, ua: and ap: counters of /proc/drbd, sampled into
# /tmp/counters meanwhile
start_sampling() {
	rm -f /tmp/stop-sampling
	while [ ! -e /tmp/stop-sampling ]; do
		grep -o 'pe:[0-9]* ua:[0-9]* ap:[0-9]*' /proc/drbd
		sleep 0.05
	done >/tmp/counters &
}

stop_sampling() {
	touch /tmp/stop-sampling
	wait
	sort /tmp/counters | uniq -c | sort -rn | head -5
}

# write ROUND: random and sequential writes with verification, then the checksum for the peer.
# With protocols B and C the counters show requests in flight during the random writes (ap:,
# and pe: for those the peer has to acknowledge), and they are back to 0 once all is done.
write_and_share() {
	start_sampling
	step "fio randwrite verify=crc32c" fio --name=rand$1 --filename=/dev/drbd0 --direct=1 \
		--ioengine=libaio --iodepth=8 --rw=randwrite --bs=4k --size=2M --verify=crc32c \
		--do_verify=1 --randrepeat=0
	stop_sampling
	# (with protocol A a write is done once written and sent: the samples rarely catch one)
	if [ "$drbdrs_proto" != A ]; then
		step "requests in flight (ap:)" grep -qv 'ap:0$' /tmp/counters
		step "writes the peer has to acknowledge (pe:)" grep -qv 'pe:0 ' /tmp/counters
	fi
	wait_for "nothing in flight" 10 grep -q 'pe:0 ua:0 ap:0 ' /proc/drbd
	/lib/drbd/drbdsetup-84 status r0 --statistics >/tmp/status
	cat /tmp/status
	step "status counts the writes" grep -q 'written:[1-9]' /tmp/status
	step "and what went to the peer" grep -q 'sent:[1-9]' /tmp/status
	step "fio 1M sequential with verify" fio --name=seq$1 --filename=/dev/drbd0 --direct=1 \
		--ioengine=psync --rw=write --bs=1M --size=4M --offset=16M --verify=crc32c
	# four writers into the same 1 MiB, 16 writes each in flight: overlapping writes must
	# reach both disks in the same order (the checksums below compare them)
	step "fio overlapping writes" fio --name=overlap$1 --filename=/dev/drbd0 --direct=1 \
		--ioengine=libaio --iodepth=16 --numjobs=4 --rw=randwrite --bsrange=4k-64k \
		--size=1M --offset=32M --io_size=1M --randrepeat=0 --group_reporting
	share sum$1 "$(primary_sum)"
	cat /proc/drbd
}

common() {
	step "load" load_drbd
	two_node_res r0 "net { protocol $drbdrs_proto; ${drbdrs_integrity:+data-integrity-alg $drbdrs_integrity;} }"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "Connected" 60 grep -q 'cs:Connected' /proc/drbd
	step "both Inconsistent" grep -q 'ds:Inconsistent/Inconsistent' /proc/drbd
	step "the protocol version of the variant" agreed_version
	barrier connected
}

g1() {
	if [ "${drbdrs_pv:-101}" -lt 90 ]; then
		# protocols before 90 cannot skip the initial sync (drbd_adm_new_c_uuid())
		expect_fail "no skipping the sync before protocol 90" \
			drbdadm new-current-uuid --clear-bitmap r0
		step "primary --force" drbdadm primary --force r0
		wait_for "the initial sync done" 120 synced
	else
		step "new-current-uuid --clear-bitmap" drbdadm new-current-uuid --clear-bitmap r0
		wait_for "UpToDate on both" 30 grep -q 'ds:UpToDate/UpToDate' /proc/drbd
		step "primary" drbdadm primary r0
	fi
	barrier primary
	write_and_share 1
	barrier written1
	step "secondary" drbdadm secondary r0
	barrier switched
	barrier primary2
	sum=$(fetch sum2)
	wait_for "g2's writes are on this disk" 60 same_as "$sum"
	barrier compared2
	# one node at a time: when both ask the other to disconnect at once, one `down` can fail
	# (C: a cluster-wide state change concurrent with the peer's fails the same way)
	barrier g2-down
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	wait_for "UpToDate on both" 120 grep -q 'ds:UpToDate/UpToDate' /proc/drbd
	barrier primary
	start_sampling
	step "peer is Primary" grep -q 'ro:Secondary/Primary' /proc/drbd
	expect_fail "a second primary is refused" drbdadm primary r0
	expect_fail "a Secondary cannot be opened" dd if=/dev/drbd0 of=/dev/null count=1
	barrier written1
	stop_sampling
	# protocol C: each write's P_WRITE_ACK is owed until it is on our disk
	if [ "$drbdrs_proto" = C ]; then
		step "acks owed to the peer (ua:)" grep -q 'ua:[1-9]' /tmp/counters
	fi
	wait_for "no ack owed" 10 grep -q 'pe:0 ua:0 ap:0 ' /proc/drbd
	sum=$(fetch sum1)
	wait_for "g1's writes are on this disk" 60 same_as "$sum"
	barrier switched
	wait_for "peer is Secondary" 30 grep -q 'ro:Secondary/Secondary' /proc/drbd
	step "primary" drbdadm primary r0
	barrier primary2
	write_and_share 2
	barrier compared2
	step "down" drbdadm down r0
	barrier g2-down
	step "unload" unload_drbd
}
