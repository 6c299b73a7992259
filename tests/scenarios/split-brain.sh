# SPDX-License-Identifier: GPL-2.0
# Split brain and its manual recovery, as the DRBD user's guide describes it. A pair in sync is
# cut (g1 disconnects), both nodes become Primary in turn and write different data, and g1
# connects again: both detect the split brain ("Split-Brain detected but unresolved, dropping
# connection!"), run the initial-split-brain and split-brain handlers, and stay StandAlone.
# Then g2 gives its changes up (`connect --discard-my-data`), g1 connects again, and g2 is
# resynced from g1: full sync, the same data on both, both UpToDate. The pair fences as
# Pacemaker would (`fencing resource-only`): each promotion while split asks fence-peer, whose
# answer 4 outdates the peer, and the SyncSource of the recovery calls unfence-peer once both
# are UpToDate again. `outdate` marks g2's disk Outdated while StandAlone and changes nothing while
# Connected (C answers "nothing to do", which drbdsetup reports as success). Then, connected,
# `invalidate` on g2 and `invalidate-remote` on g1 each resync g2 from g1 in full (StartingSyncT/
# StartingSyncS, a cluster-wide state change); `wait-connect` and `wait-sync` wait for them.
# Last (g2 with drbd-rs), a split brain the after-sb policies resolve: g2, Primary with fewer
# changes, connects under `after-sb-0pri discard-least-changes; after-sb-1pri
# call-pri-lost-after-sb`, gives its role up and becomes SyncTarget of g1.
#@ guests: 2
#@ disks: 32M
#@ timeout: 240
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

# res_file [NET]: the resource, with NET (after-sb policies) in its net section
res_file() {
	local h=""
	for name in split-brain initial-split-brain unfence-peer pri-lost-after-sb; do
		h="$h $name \"/tmp/helper $name\";"
	done
	two_node_res r0 "net { protocol C; connect-int 1; ping-int 1; $1 }
		disk { c-max-rate 100M; fencing resource-only; }
		handlers { $h fence-peer \"/tmp/helper fence-peer 4\"; }"
}

# the last round's policies: the node with fewer changes loses, a Primary loser gives its role up
policies() {
	res_file "after-sb-0pri discard-least-changes; after-sb-1pri call-pri-lost-after-sb;"
}

common() {
	step "load" load_drbd
	log_helpers
	res_file
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "Connected" 60 grep -q 'cs:Connected' /proc/drbd
}

# WRITER: this node's changes while split: 1 MiB of its own, at its own offset
diverge() {
	step "primary while split (the peer fenced)" drbdadm primary r0
	step "fence-peer outdated the peer" grep -q 'ds:UpToDate/Outdated' /proc/drbd
	step "write while split" dd if=/dev/urandom of=/dev/drbd0 bs=64k count=16 seek=$1 oflag=direct
	step "secondary" drbdadm secondary r0
}

# full_syncs ROLE: how many resyncs of the whole device this node began as ROLE
full_syncs() {
	dmesg | grep -c "Began resync as $1 (will sync $(($(cat /sys/block/drbd0/size) / 2)) KB"
}

# resynced_in_full ROLE N: whether this node began N full resyncs as ROLE and is in sync again
resynced_in_full() {
	[ "$(full_syncs "$1")" -eq "$2" ] && synced
}

# both nodes: the split brain found, the handlers run, StandAlone
detected() {
	wait_for "split brain detected" 30 sh -c \
		"dmesg | grep -q 'Split-Brain detected but unresolved, dropping connection!'"
	wait_for "StandAlone" 30 grep -q 'cs:StandAlone' /proc/drbd
	step "initial-split-brain ran" grep -q '^initial-split-brain res=r0 minor=0 ' /tmp/helpers.log
	step "split-brain ran" grep -q '^split-brain res=r0 minor=0 ' /tmp/helpers.log
}

g1() {
	step "skip the initial sync" drbdadm new-current-uuid --clear-bitmap r0
	wait_for "UpToDate on both" 30 grep -q 'ds:UpToDate/UpToDate' /proc/drbd
	barrier in-sync
	step "disconnect" drbdadm disconnect r0
	barrier split
	diverge 0
	barrier written
	step "connect again" drbdadm connect r0
	detected
	share sum "$(backing_sum)"
	barrier detected
	barrier discarding
	step "connect, keeping our data" drbdadm connect r0
	step "wait-connect" /lib/drbd/drbdsetup-84 wait-connect 0 --wfc-timeout=60
	wait_for "resynced" 120 synced
	step "g1's data won" sh -c "dmesg | grep -q 'Began resync as SyncSource'"
	wait_for "unfence-peer ran" 30 grep -q '^unfence-peer res=r0 .* addr=10.0.0.2$' /tmp/helpers.log
	barrier recovered
	barrier invalidated
	local n=$(full_syncs SyncSource)
	step "invalidate-remote while Connected" drbdadm invalidate-remote r0
	wait_for "full sync to g2" 120 resynced_in_full SyncSource $((n + 1))
	barrier invalidated-remote

	# split once more: g2 Primary with fewer changes, g1 Secondary with more (the C module
	# 8.4.11 as g2 fails to give its role up in the handshake and runs pri-lost-after-sb:
	# not with it)
	if [ "$(fetch g2module)" = c ]; then
		step "down" drbdadm down r0
		step "unload" unload_drbd
		return
	fi
	step "disconnect" drbdadm disconnect r0
	barrier split2
	diverge 32
	barrier written2
	policies
	step "connect with after-sb policies" drbdadm connect r0
	wait_for "resolved: resynced" 120 synced
	step "g1's data won again" test "$(dmesg | grep -c 'Began resync as SyncSource')" -ge 2
	share sum2 "$(backing_sum)"
	barrier resolved
	step "down" drbdadm down r0
	step "unload" unload_drbd
}

g2() {
	barrier in-sync
	barrier split
	wait_for "peer gone" 30 grep -q 'cs:WFConnection' /proc/drbd
	diverge 16
	barrier written
	detected
	step "outdate while StandAlone" drbdadm outdate r0
	step "Outdated" grep -q 'ro:Secondary/Unknown ds:Outdated/' /proc/drbd
	barrier detected
	step "connect, discarding our data" drbdadm connect --discard-my-data r0
	barrier discarding
	wait_for "resynced" 120 synced
	step "our data discarded" sh -c "dmesg | grep -q 'Began resync as SyncTarget'"
	wait_for "the same data as g1" 30 same_as "$(fetch sum)"
	# C answers SS_NOTHING_TO_DO (sanitize_state() makes Outdated UpToDate while connected)
	step "outdate while Connected: nothing to do" /lib/drbd/drbdsetup-84 outdate 0
	step "still UpToDate" synced
	/lib/drbd/drbdsetup-84 status r0 --verbose --statistics >/tmp/status 2>&1
	cat /tmp/status
	step "status: the peer's role" grep -q '^  [^ ].* role:Secondary' /tmp/status
	step "status: the peer's disk" grep -q 'replication:Established peer-disk:UpToDate' /tmp/status
	barrier recovered
	local n=$(full_syncs SyncTarget)
	step "invalidate while Connected" drbdadm invalidate r0
	step "wait-sync" /lib/drbd/drbdsetup-84 wait-sync 0 --wfc-timeout=120
	wait_for "full sync from g1" 30 resynced_in_full SyncTarget $((n + 1))
	barrier invalidated
	barrier invalidated-remote
	step "full sync from g1 again" resynced_in_full SyncTarget $((n + 2))
	step "still the same data as g1" same_as "$(fetch sum)"
	share g2module "$DRBD_MODULE"
	if [ "$DRBD_MODULE" = c ]; then
		step "down" drbdadm down r0
		step "unload" unload_drbd
		return
	fi

	barrier split2
	wait_for "peer gone" 30 grep -Eq 'cs:(WFConnection|Unconnected)' /proc/drbd
	step "disconnect" drbdadm disconnect r0
	step "primary while split (the peer fenced)" drbdadm primary r0
	step "fewer changes while split" dd if=/dev/urandom of=/dev/drbd0 bs=64k count=2 seek=48 \
		oflag=direct
	barrier written2
	policies
	step "connect with after-sb policies, as Primary" drbdadm connect r0
	wait_for "split brain resolved" 60 sh -c \
		"dmesg | grep -q 'Split-Brain detected, [0-9] primaries, automatically solved'"
	wait_for "resynced from g1" 120 synced
	step "gave the Primary role up" sh -c \
		"dmesg | grep -q 'Successfully gave up primary role.'"
	step "Secondary" grep -q 'ro:Secondary/Secondary' /proc/drbd
	step "no pri-lost-after-sb" sh -c "! grep -q pri-lost-after-sb /tmp/helpers.log"
	step "g1's data" same_as "$(fetch sum2)"
	barrier resolved
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
