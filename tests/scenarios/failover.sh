# SPDX-License-Identifier: GPL-2.0
# Protocol C failover, three rounds: a fresh replicated pair (g1 Primary), a writer on g1 that
# records each write the moment it is acknowledged, and the link cut at a random moment while
# it writes. g2 notices the peer is gone, is promoted, and must hold every write g1 had
# acknowledged before the cut. Then both go down, the link comes back, and the next round
# starts from new meta data. Round 3 fences as Pacemaker does (`fencing resource-only`, a
# fence-peer handler): g1, Primary, calls fence-peer when the link goes, and the handler's
# exit code 5 (peer unreachable) marks the peer Outdated; g2 cannot be promoted while its
# handler fails (exit code 1: refused, "Refusing to be Primary while peer is not outdated"),
# and is promoted without --force once it answers 5. Round 4 fences with
# `resource-and-stonith`: g1's I/O is frozen when the link goes (s in /proc/drbd) and stays
# frozen while its handler fails (no write completes), until `resume-io`; g2's handler
# answers 7 (peer stonithed), and g2, promoted, is suspended and resumed by hand
# (`suspend-io` holds a write back until `resume-io`).
#@ guests: 2
#@ disks: 64M
#@ timeout: 400
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

# the 4 KiB block number I of round R: its text, padded
block() {
	printf '%-4095s\n' "round $1 block $2"
}

# writes blocks 0, 1, 2, ... each after the previous one was acknowledged
writer() {
	i=0
	while :; do
		block "$1" $i | dd of=/dev/drbd0 bs=4096 count=1 seek=$i oflag=direct 2>/dev/null || break
		echo $i >/tmp/acked.new && mv /tmp/acked.new /tmp/acked
		i=$((i + 1))
	done
}

pair() {
	local fencing=""
	log_helpers
	case $1 in
	3) fencing='disk { fencing resource-only; } handlers { fence-peer "/tmp/helper fence-peer 5"; }' ;;
	4) fencing='disk { fencing resource-and-stonith; }
		handlers { fence-peer "/tmp/helper fence-peer 7"; }' ;;
	esac
	two_node_res r0 "net { protocol C; ping-int 1; ping-timeout 5; connect-int 1; } $fencing"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "Connected" 60 grep -q 'cs:Connected' /proc/drbd
}

common() {
	step "load" load_drbd
}

# round 4 on g1: I/O frozen when the link went, and kept frozen by the failing handler
frozen() {
	wait_for "I/O frozen while fencing" 30 grep -q 'ds:UpToDate/DUnknown C s' /proc/drbd
	wait_for "the handler failed" 30 sh -c "dmesg | grep -q 'fence-peer helper broken, returned 1'"
	sleep 1
	local before
	before=$(cat /tmp/acked)
	sleep 2
	[ "$(cat /tmp/acked)" = "$before" ] || fail "round 4: writes completed while frozen"
	_ctl "STEP round 4: no write completed while frozen"
	step "resume-io" drbdadm resume-io r0
	step "resumed in /proc/drbd" grep -q 'ds:UpToDate/DUnknown C r' /proc/drbd
	wait_for "the writes go on" 30 sh -c "[ \$(cat /tmp/acked) -gt $before ]"
}

# round 4 on g2, promoted: suspend-io holds a write back until resume-io
suspended() {
	step "suspend-io" drbdadm suspend-io r0
	step "suspended in /proc/drbd" grep -q ' C s' /proc/drbd
	dd if=/dev/zero of=/dev/drbd0 bs=4096 count=1 seek=1000 oflag=direct 2>/dev/null &
	local dpid=$!
	sleep 2
	kill -0 $dpid 2>/dev/null || fail "round 4: a write completed while suspended"
	_ctl "STEP round 4: the write held while suspended"
	step "resume-io" drbdadm resume-io r0
	wait_for "the held write done" 30 sh -c "! kill -0 $dpid 2>/dev/null"
	wait $dpid || fail "round 4: the held write failed"
}

g1() {
	for r in 1 2 3 4; do
		pair $r
		barrier "connected$r"
		step "skip the initial sync" drbdadm new-current-uuid --clear-bitmap r0
		wait_for "UpToDate on both" 30 grep -q 'ds:UpToDate/UpToDate' /proc/drbd
		step "primary" drbdadm primary r0
		[ $r = 4 ] && echo 1 >/tmp/fence-peer.exit
		echo -1 >/tmp/acked
		writer $r &
		wpid=$!
		# a random moment 1 to 4 s into the writes
		sleep $((1 + $(od -An -N1 -tu1 /dev/urandom) % 4))
		acked=$(cat /tmp/acked)
		ip link set eth0 down
		say "round $r: cut the link after block $acked was acknowledged"
		share "acked$r" "$acked"
		wait_for "peer gone" 30 grep -Eq 'cs:(WFConnection|Unconnected|NetworkFailure)' /proc/drbd
		if [ $r = 3 ]; then
			wait_for "the peer fenced" 30 grep -q 'ds:UpToDate/Outdated' /proc/drbd
			step "fence-peer ran with the peer's address" \
				grep -q '^fence-peer res=r0 .* af=ipv4 addr=10.0.0.2$' /tmp/helpers.log
			step "its answer logged" sh -c \
				"dmesg | grep -q 'fence-peer helper returned 5 (peer is unreachable, assumed to be dead)'"
		fi
		[ $r = 4 ] && frozen
		kill $wpid 2>/dev/null
		wait $wpid 2>/dev/null
		barrier "checked$r"
		step "down" drbdadm down r0
		ip link set eth0 up
		barrier "down$r"
	done
	step "unload" unload_drbd
}

g2() {
	for r in 1 2 3 4; do
		pair $r
		barrier "connected$r"
		acked=$(fetch "acked$r")
		wait_for "peer gone" 30 grep -Eq 'cs:(WFConnection|Unconnected|NetworkFailure)' /proc/drbd
		if [ $r = 3 ]; then
			echo 1 >/tmp/fence-peer.exit
			expect_rc "no promotion while fence-peer fails" 11 drbdadm primary r0
			step "fence-peer was asked" grep -q '^fence-peer res=r0 ' /tmp/helpers.log
			step "its failure logged" sh -c "dmesg | grep -q 'fence-peer helper broken, returned 1'"
			rm /tmp/fence-peer.exit
		fi
		step "promote the survivor" drbdadm primary r0
		[ $r -ge 3 ] && step "the peer outdated by fence-peer" grep -q 'ro:Primary/Unknown ds:UpToDate/Outdated' /proc/drbd
		[ $r = 4 ] && step "stonithed" sh -c "dmesg | grep -q 'fence-peer helper returned 7 (peer was stonithed)'"
		i=0
		while [ $i -le "$acked" ]; do
			got=$(dd if=/dev/drbd0 bs=4096 count=1 skip=$i 2>/dev/null | head -c 40 | tr -d ' \n')
			[ "$got" = "round${r}block$i" ] || fail "round $r: acknowledged block $i lost: '$got'"
			i=$((i + 1))
		done
		_ctl "STEP round $r: all $((acked + 1)) acknowledged writes are on the survivor"
		[ $r = 4 ] && suspended
		barrier "checked$r"
		step "down" drbdadm down r0
		barrier "down$r"
	done
	step "unload" unload_drbd
}
