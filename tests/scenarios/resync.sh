# SPDX-License-Identifier: GPL-2.0
# Resync, configured by drbdadm, with protocol C (and C at protocol version 86 or 96): ours with
# ours, ours as SyncSource for a C SyncTarget, and a C SyncSource for ours; protocols B and A
# between ours and C. g1 is a
# forced Primary with data before g2 is up: the handshake decides a full sync, the bitmaps are
# exchanged, and g2 receives every block (SyncSource/SyncTarget in /proc/drbd, "Resync done" in
# the log, the same data on both). Then g2 disconnects, g1 writes exactly 4 MiB, g2 connects
# again: only those 4 MiB resync, and the data is the same again. Both nodes query their status
# in a loop during the full sync, which must still end; at the end both go down at the same
# moment, each asking the other to disconnect. The protocol B variants configure csums-alg and
# verify-alg on both nodes (before, a C peer refused the connection: "Different verify-alg
# settings"): the SyncTarget then asks with checksums (C in rs-c-B, drbd-rs in c-rs-B), and g1
# rewrites its 4 MiB with the same data, so that the SyncSource finds every checksum equal, as
# both nodes log; g1 then verifies the pair
# and finds a block changed under g2, which resyncs when g2 connects again. Handlers log each
# call: before-resync-source on the SyncSource, before- and after-resync-target on the
# SyncTarget, for every resync, with the peer's address; out-of-sync on both after a verify
# that found a block. The full sync pauses on the way: g2 runs pause-sync (PausedSyncT, flag u
# in /proc/drbd; g1 PausedSyncS with flag p) and no block moves until resume-sync; the
# pause is counted in "Resync done (... paused N sec ...)".
#@ guests: 2
#@ disks: 64M
#@ timeout: 300
#@ variant: rs-rs g1=ours g2=ours proto=C
#@ variant: rs-c g1=ours g2=c proto=C
#@ variant: c-rs g1=c g2=ours proto=C
#@ variant: rs-c-B g1=ours g2=c proto=B csums=1
#@ variant: c-rs-B g1=c g2=ours proto=B csums=1
#@ variant: rs-c-A g1=ours g2=c proto=A
#@ variant: c-rs-A g1=c g2=ours proto=A
#@ variant: rs-c-86 g1=ours g2=c proto=C pv=86
#@ variant: c-rs-96 g1=c g2=ours proto=C pv=96
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

# Status queries while the sync runs, as a monitoring agent makes them: netlink status
# commands and dumps must change nothing (they once reset SyncSource/SyncTarget to Connected).
poll_status() {
	while [ ! -e /tmp/stop-polling ]; do
		drbdadm cstate r0 && drbdadm dstate r0 && /lib/drbd/drbdsetup-84 status r0 &&
			/lib/drbd/drbdsetup-84 show r0 >/dev/null && echo polled >>/tmp/polled
	done >/dev/null 2>&1
}

common() {
	step "load" load_drbd
	algs=${drbdrs_csums:+csums-alg sha1; verify-alg crc32c;}
	log_helpers
	local h=""
	for name in before-resync-target after-resync-target before-resync-source out-of-sync; do
		h="$h $name \"/tmp/helper $name\";"
	done
	two_node_res r0 "net { protocol $drbdrs_proto; $algs } disk { c-max-rate 100M; c-fill-target 2048; }
		handlers { $h }"
	step "create-md" drbdadm --force create-md r0
}

# both nodes, in a csums variant: the SyncTarget asked with checksums, and the SyncSource found
# every block of the 4 MiB written again with the same data equal (nothing transferred)
equal_checksums() {
	[ -n "$drbdrs_csums" ] || return 0
	step "every checksum of the 4 MiB equal" sh -c \
		"dmesg | grep -q '100 % had equal checksums, eliminated: 4096K; transferred 0K total 4096K'"
}

# In a csums variant g1 runs an online verify of the pair (drbd-rs in rs-c-B, C in c-rs-B) and
# g2 is its target: all in sync; then one block changes under g2 (on its backing disk) and a
# second verify finds it, on both nodes, as C reports it; a drbd-rs node shows the verify's
# progress in /proc/drbd. When g2 connects again, that block (and only that one) resyncs. Both
# verifies go from 0 (a verify goes on where the last one stopped) to 16 MiB (--stop: each
# 4 KiB block is a round trip, slow under TCG).
verify_rounds() {
	[ -n "$drbdrs_csums" ] || return 0
	local role=$1
	if [ "$DRBD_MODULE" = ours ]; then
		while [ ! -e /tmp/stop-watching ]; do
			grep -h 'verified:' /proc/drbd
			sleep 0.2
		done >>/tmp/verified 2>/dev/null &
	fi
	[ "$role" = source ] && step "verify" drbdadm -- --start=0 --stop=16M verify r0
	wait_for "online verify done" 120 sh -c "dmesg | grep -q 'Online verify done'"
	step "nothing out of sync" sh -c "! dmesg | grep -q 'block out of sync!'"
	barrier verified
	[ "$role" = target ] && step "a block changed under the target" \
		dd if=/dev/urandom of=/dev/vda bs=4k count=1 seek=2048 oflag=direct
	barrier changed
	[ "$role" = source ] && step "verify again" drbdadm -- --start=0 --stop=16M verify r0
	wait_for "online verify done again" 120 \
		sh -c "[ \$(dmesg | grep -c 'Online verify done') -ge 2 ]"
	touch /tmp/stop-watching
	wait
	dmesg | grep -E 'verify|Verify|Out of sync' | tail -6
	step "the block found" sh -c "dmesg | grep -q 'Out of sync: start=16384, size=8 (sectors)'"
	step "and counted" sh -c "dmesg | grep -q 'Online verify found 1 4k block out of sync!'"
	wait_for "the out-of-sync handler ran" 30 sh -c "grep -q '^out-of-sync res=r0 minor=0 ' /tmp/helpers.log"
	[ "$DRBD_MODULE" = ours ] && step "verify progress in /proc/drbd" grep -m1 'verified:' /tmp/verified
	barrier verified-again
	# g1, Primary, starts a new data generation when g2 goes; the block is in both bitmaps
	[ "$role" = target ] && step "disconnect after the verify" drbdadm disconnect r0
	barrier verify-disconnected
	[ "$role" = target ] && step "connect again" drbdadm connect r0
	wait_for "the block found resynced" 60 synced
	step "only that block" sh -c "dmesg | grep -q 'will sync 4 KB \[1 bits set\]'"
	[ "$role" = target ] && wait_for "the data equal again" 30 same_as "$(fetch sum2)"
	barrier block-resynced
}

g1() {
	step "up" drbdadm up r0
	step "primary --force" drbdadm primary --force r0
	step "data before the peer comes" fio --name=fill --filename=/dev/drbd0 --direct=1 \
		--ioengine=psync --rw=write --bs=1M --size=24M --verify=crc32c --do_verify=0
	barrier filled
	poll_status &
	barrier paused
	wait_for "the peer's pause" 30 grep -q 'cs:PausedSyncS ro:Primary/Secondary ds:UpToDate/Inconsistent [ABC] r-p-.' /proc/drbd
	barrier pause-seen
	wait_for "full sync done" 240 synced
	touch /tmp/stop-polling
	wait
	step "status polled during the sync" test -s /tmp/polled
	step "the protocol version of the variant" agreed_version
	dmesg | grep -E 'drbd.*(sync|Sync|bitmap)' | tail -8
	share sum1 "$(primary_sum)"
	barrier synced1
	barrier disconnected
	wait_for "peer gone" 30 grep -Eq 'cs:(WFConnection|Unconnected)' /proc/drbd
	if [ -n "$drbdrs_csums" ]; then
		# the same data again: out of sync by the bitmap, equal by checksum
		dd if=/dev/drbd0 of=/tmp/same bs=4k count=1024 skip=2048 iflag=direct 2>/dev/null
		step "write 4 MiB (the same data) while disconnected" dd if=/tmp/same of=/dev/drbd0 \
			bs=4k count=1024 seek=2048 oflag=direct
	else
		step "write 4 MiB while disconnected" dd if=/dev/urandom of=/dev/drbd0 bs=4k \
			count=1024 seek=2048 oflag=direct
	fi
	expect "4 MiB out of sync" 4096 sh -c "sed -n 's/.*oos:\([0-9]*\).*/\1/p' /proc/drbd"
	share sum2 "$(primary_sum)"
	barrier written
	wait_for "resync of the changes done" 120 synced
	dmesg | grep -E 'drbd.*(sync|Sync|bitmap|checksums)' | tail -8
	equal_checksums
	step "before-resync-source ran for both resyncs, with the peer's address" sh -c \
		"[ \$(grep -c '^before-resync-source res=r0 minor=0 vol=0 af=ipv4 addr=10.0.0.2\$' /tmp/helpers.log) -eq 2 ]"
	barrier synced2
	verify_rounds source
	# both nodes go down at the same moment: each asks the other to disconnect (before protocol
	# 100 one at a time: the request is a per-volume one then, and a C node that grants it
	# while its own `down` is demoting tears down only that volume; its connection still looks
	# established, so its own disconnect asks a peer that is gone and fails with -10, "State
	# change was refused by peer node", as it would between two C nodes)
	barrier down
	[ "${drbdrs_pv:-101}" -ge 100 ] || barrier g2-down
	step "down, with the peer going down too" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	barrier filled
	step "up" drbdadm up r0
	poll_status &
	wait_for "the full sync runs" 60 grep -q 'cs:SyncTarget' /proc/drbd
	step "pause-sync" drbdadm pause-sync r0
	step "paused here" grep -q 'cs:PausedSyncT ro:Secondary/Primary ds:Inconsistent/UpToDate [ABC] r--u-.' /proc/drbd
	sleep 1
	oos=$(sed -n 's/.*oos:\([0-9]*\).*/\1/p' /proc/drbd)
	sleep 2
	expect "no block moved while paused" "$oos" sh -c "sed -n 's/.*oos:\([0-9]*\).*/\1/p' /proc/drbd"
	barrier paused
	barrier pause-seen
	step "resume-sync" drbdadm resume-sync r0
	wait_for "full sync done" 240 synced
	step "the pause counted" sh -c "dmesg | grep -q 'Resync done (total [0-9]* sec; paused [1-9][0-9]* sec'"
	touch /tmp/stop-polling
	wait
	step "the protocol version of the variant" agreed_version
	sum=$(fetch sum1)
	wait_for "every block arrived" 30 same_as "$sum"
	barrier synced1
	step "disconnect" drbdadm disconnect r0
	barrier disconnected
	barrier written
	step "connect" drbdadm connect r0
	wait_for "resync of the changes done" 120 synced
	step "only the 4 MiB were resynced" sh -c \
		"dmesg | grep -q 'Began resync as SyncTarget (will sync 4096 KB \[1024 bits set\])'"
	equal_checksums
	sum=$(fetch sum2)
	wait_for "the changes arrived" 30 same_as "$sum"
	step "before-resync-target ran for both resyncs, with the peer's address" sh -c \
		"[ \$(grep -c '^before-resync-target res=r0 minor=0 vol=0 af=ipv4 addr=10.0.0.1\$' /tmp/helpers.log) -eq 2 ]"
	wait_for "after-resync-target ran for both" 30 sh -c \
		"[ \$(grep -c '^after-resync-target res=r0 minor=0 ' /tmp/helpers.log) -eq 2 ]"
	barrier synced2
	verify_rounds target
	barrier down
	step "down, with the peer going down too" drbdadm down r0
	[ "${drbdrs_pv:-101}" -ge 100 ] || barrier g2-down
	step "unload" unload_drbd
}
