# SPDX-License-Identifier: GPL-2.0
# resync-after: two resources on two disks, r1 resyncing after r0. g1 becomes Primary of both
# with fresh meta data, so both need a full sync; r1's waits, paused by the dependency (the `a`
# flag on a node, the peer's pause `p` on the other), until r0's is done, then runs. A
# dependency loop is refused (ERR_RESYNC_AFTER_CYCLE), as by C.
#@ guests: 2
#@ disks: 16M 16M
#@ timeout: 240
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

# res NAME MINOR DISK PORT OPTIONS: a resource of the pair
res() {
	cat >"/etc/drbd.d/$1.res" <<-EOT
	resource $1 {
		device /dev/drbd$2;
		disk $3;
		meta-disk internal;
		net { protocol C; }
		$5
		on g1 { address 10.0.0.1:$4; }
		on g2 { address 10.0.0.2:$4; }
	}
	EOT
}

# minor_is N PATTERN: whether the status line of minor N in /proc/drbd matches PATTERN (ERE)
minor_is() {
	grep "^ *$1: cs:" /proc/drbd | grep -Eq "$2"
}

common() {
	step "load" load_drbd
	# r0 slow enough to see r1 wait for it
	res r0 0 /dev/vda 7789 "disk { c-max-rate 2M; }"
	res r1 1 /dev/vdb 7790 "disk { c-max-rate 100M; resync-after r0; }"
	step "create-md" drbdadm --force create-md all
	step "up" drbdadm up all
	wait_for "both Connected" 60 sh -c "[ \$(grep -c 'cs:Connected' /proc/drbd) -eq 2 ]"
	/lib/drbd/drbdsetup-84 disk-options 0 --resync-after=1 >/tmp/out 2>&1
	expect "a loop refused" 10 echo $?
	cat /tmp/out
	step "ERR_RESYNC_AFTER_CYCLE" grep -q '(133) ' /tmp/out
	barrier connected
}

# both nodes: r1 waits, paused (a: by its dependency here, p: by the peer's), while r0
# resyncs; r1's resync ends after r0's
waits() {
	wait_for "r0 resyncing" 30 minor_is 0 'cs:Sync'
	wait_for "r1 paused after r0" 30 minor_is 1 'cs:PausedSync[ST] .* r(a.|-p)'
	grep '^ *1: cs:' /proc/drbd
	wait_for "r0 done" 120 minor_is 0 'cs:Connected .*UpToDate/UpToDate'
	wait_for "r1 done" 120 minor_is 1 'cs:Connected .*UpToDate/UpToDate'
	cat /proc/drbd
	dmesg | grep -E 'drbd[01]: (Resync done|Began resync)'
	step "r1 done after r0" sh -c \
		"dmesg | grep -E 'drbd[01]: Resync done' | tail -1 | grep -q 'drbd1: Resync done'"
}

g1() {
	step "primary --force r0 and r1" drbdadm primary --force all
	waits
	barrier done
	step "down" drbdadm down all
	step "unload" unload_drbd
}

g2() {
	waits
	barrier done
	step "down" drbdadm down all
	step "unload" unload_drbd
}
