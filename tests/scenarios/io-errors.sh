# SPDX-License-Identifier: GPL-2.0
# Local disk errors on a Primary, injected with device-mapper: g1's backing device is a dm
# device whose table is switched to the `error` target. With `on-io-error call-local-io-error`
# and the whole disk failing, a read that fails locally is served by the peer (the application
# sees the right data), the local-io-error helper runs (announced on the events group: UH,
# UH-post), and the disk is detached (Failed, then
# Diskless, as the peer sees too; the meta data writes of the detach fail as well); writes go
# on through the peer. With the disk healthy again it is attached under the connection and
# resynced. Then (drbd-rs on g1) the disk stops answering: after disk-timeout it is given up,
# I/O goes to the peer, a detach waits for the stuck write (other commands do not), and the disk
# is attached again once it answers. Then with `pass_on` and the data area failing (not the meta data), a failing read
# is again served by the peer, the disk becomes Inconsistent and stays attached, and a write
# whose local part fails succeeds (the peer has it); when the peer goes down then, the
# Primary has no UpToDate data anywhere and calls pri-on-incon-degr. The same checks hold with
# the C module on either node.
#@ guests: 2
#@ disks: 16M
#@ timeout: 300
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c
#@ variant: c-rs g1=c g2=ours
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

# table LINE...: switches g1's backing device d0 to the table of these lines
table() {
	dms suspend d0 && printf '%s\n' "$@" | dms load d0 && dms resume d0
}
total() { cat /sys/block/vda/size; }
healthy() { table "0 $(total) linear /dev/vda 0"; }
# failing: every sector fails, the meta data's too
failing() { table "0 $(total) error"; }
# data_failing: the data area fails, the meta data at its end does not
data_failing() {
	local data
	data=$(cat /sys/block/drbd0/size)
	table "0 $data error" "$data $(($(total) - data)) linear /dev/vda $data"
}

common() {
	step "load" load_drbd
	log_helpers
	disk=/dev/vda
	if [ "$GUEST" = g1 ]; then
		step "dm device over vda" dms create d0 --table "0 $(cat /sys/block/vda/size) linear /dev/vda 0"
		disk=/dev/mapper/d0
	fi
	two_node_res r0 "net { protocol C; }
		disk { on-io-error call-local-io-error; }
		handlers {
			local-io-error \"/tmp/helper local-io-error\";
			pri-on-incon-degr \"/tmp/helper pri-on-incon-degr\";
		}" "$disk"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "connected" 30 grep -q 'cs:Connected' /proc/drbd
	barrier connected
}

# sum_at MIB COUNT: the md5 of COUNT MiB of /dev/drbd0 from MIB MiB on, read directly
sum_at() {
	dd if=/dev/drbd0 bs=1M skip="$1" count="$2" iflag=direct 2>/dev/null | md5sum
}

# dead_disk: a write sticks at the suspended dm device. After disk-timeout (1 s) the disk is
# Failed, told to the peer, and new reads and writes go to the peer; a detach waits for the
# stuck write (interruptibly, holding up other netlink commands as C's does, but not
# /proc/drbd), and returns once the disk answers again. Then without disk-timeout, `detach
# --force` makes the disk Failed at once. Each time the disk is attached again and resynced.
dead_disk() {
	step "disk-timeout 1 s" /lib/drbd/drbdsetup-84 disk-options 0 --disk-timeout=10
	step "the disk stops answering" dms suspend --noflush d0
	dd if=/dev/urandom of=/dev/drbd0 bs=4k count=1 seek=2560 oflag=direct 2>/dev/null &
	stuck=$!
	wait_for "given up after the disk-timeout" 30 grep -q 'ds:Failed/UpToDate' /proc/drbd
	cat /proc/drbd
	step "logged as C logs it" sh -c "dmesg | grep -q 'drbd0: Local backing device failed to meet the disk-timeout' &&
		dmesg | grep -q 'drbd0: Local IO failed in request_timer_fn. Detaching...'"
	step "a write goes to the peer meanwhile" timeout 10 \
		dd if=/dev/urandom of=/dev/drbd0 bs=4k count=1 seek=2600 oflag=direct
	step "a read too" timeout 10 dd if=/dev/drbd0 of=/dev/null bs=4k count=1 skip=2600 iflag=direct
	drbdadm detach r0 &
	detach=$!
	sleep 1
	step "/proc/drbd answers meanwhile" timeout 5 grep -q 'ds:Failed/UpToDate' /proc/drbd
	step "the detach waits for the disk" kill -0 $detach
	step "the stuck write waits too" kill -0 $stuck
	step "the disk answers again" dms resume d0
	wait $detach
	step "the detach returns, successful" [ $? -eq 0 ]
	wait $stuck
	step "the stuck write returns, successful" [ $? -eq 0 ]
	step "Diskless" grep -q 'ds:Diskless/UpToDate' /proc/drbd
	step "attach again" drbdadm attach r0
	wait_for "resynced" 60 synced

	step "the disk stops answering" dms suspend --noflush d0
	dd if=/dev/urandom of=/dev/drbd0 bs=4k count=1 seek=2570 oflag=direct 2>/dev/null &
	stuck=$!
	sleep 1
	step "detach --force returns at once" timeout 5 drbdadm -- --force detach r0
	step "Failed" grep -q 'ds:Failed/UpToDate' /proc/drbd
	step "a write goes to the peer" timeout 10 \
		dd if=/dev/urandom of=/dev/drbd0 bs=4k count=1 seek=2610 oflag=direct
	step "the disk answers again" dms resume d0
	wait $stuck
	step "the stuck write returns, successful" [ $? -eq 0 ]
	wait_for "Diskless" 10 grep -q 'ds:Diskless/UpToDate' /proc/drbd
	step "attach again" drbdadm attach r0
	wait_for "resynced" 60 synced
	step "the writes made meanwhile on this disk too" same_as "$(primary_sum)" /dev/mapper/d0
}

g1() {
	# both disks are fresh (zeros): no initial sync
	step "skip the initial sync" drbdadm -- --clear-bitmap new-current-uuid r0
	wait_for "UpToDate on both" 30 synced
	step "primary" drbdadm primary r0
	step "write 4 MiB" dd if=/dev/urandom of=/dev/drbd0 bs=1M count=4 oflag=direct
	first=$(sum_at 0 4)

	# call-local-io-error: the helper, then detach
	/lib/drbd/drbdsetup-84 events all >/tmp/events 2>&1 &
	listener=$!
	sleep 1
	step "the disk fails" failing
	expect "a failed read served by the peer" "$first" sum_at 0 4
	wait_for "detached" 30 grep -q 'ds:Diskless/UpToDate' /proc/drbd
	cat /proc/drbd
	step "logged as C logs it" sh -c \
		"dmesg | grep -q 'drbd0: Local IO failed in __req_mod. Detaching...'"
	step "the local-io-error helper ran" grep -q '^local-io-error res=r0 minor=0 vol=0' /tmp/helpers.log
	kill $listener
	grep ' UH' /tmp/events
	step "the helper call announced" grep -q ' UH 0,r0\[0\] local-io-error$' /tmp/events
	step "and its end" grep -q ' UH-post 0,r0\[0\] local-io-error 0x0000$' /tmp/events
	step "1 MiB written and verified through the peer" fio --name=failed \
		--filename=/dev/drbd0 --direct=1 --rw=randwrite --bs=4k --offset=8M --size=1M \
		--ioengine=libaio --iodepth=4 --verify=crc32c --output-format=terse
	share sum "$(primary_sum)"
	barrier written

	step "the disk is healthy again" healthy
	step "attach again while connected" drbdadm attach r0
	wait_for "resynced" 60 synced
	step "the same data as the peer" same_as "$(fetch sum)" /dev/mapper/d0
	second=$(sum_at 8 1)

	# a disk that stops answering (with drbd-rs on g1 only: C completes the requests stuck at
	# the disk, and panics should a read among them come back later)
	[ "$DRBD_MODULE" = ours ] && dead_disk


	# pass_on: Inconsistent, attached. (The write makes its activity log extent hot: a write
	# that needs a transaction would fail on the meta data, which detaches in any case.)
	step "on-io-error pass_on" /lib/drbd/drbdsetup-84 disk-options 0 --on-io-error=pass_on
	step "a write at 12 MiB" dd if=/dev/urandom of=/dev/drbd0 bs=4k count=16 seek=3072 oflag=direct
	step "the data area fails" data_failing
	expect "a failed read served by the peer" "$second" sum_at 8 1
	wait_for "Inconsistent" 30 grep -q 'ds:Inconsistent/UpToDate' /proc/drbd
	cat /proc/drbd
	step "logged as C logs it" sh -c \
		"dmesg | grep -q 'drbd0: Local IO failed in __req_mod\.\$'"
	step "a write that fails locally succeeds" dd if=/dev/urandom of=/dev/drbd0 bs=4k count=16 \
		seek=3072 oflag=direct
	step "logged" sh -c "dmesg | grep -Eq 'local WRITE IO error sector 24576\\+'"
	step "still attached" grep -q 'ds:Inconsistent/UpToDate' /proc/drbd
	step "the disk is healthy again" healthy
	step "no pri-on-incon-degr while the peer has the data" \
		sh -c "! grep -q pri-on-incon-degr /tmp/helpers.log"
	barrier done
	# the peer goes: a Primary without UpToDate data anywhere
	wait_for "the peer gone" 30 grep -q 'cs:WFConnection' /proc/drbd
	wait_for "pri-on-incon-degr called" 30 grep -q '^pri-on-incon-degr res=r0 minor=0 vol=0' \
		/tmp/helpers.log
	step "down" drbdadm down r0
	step "remove the dm device" dms remove d0
	step "unload" unload_drbd
}

g2() {
	barrier written
	cat /proc/drbd
	step "the peer is Diskless" grep -q 'ds:UpToDate/Diskless' /proc/drbd
	step "the peer's data on our disk" same_as "$(fetch sum)"
	barrier done
	# the Inconsistent Primary would refuse a graceful disconnect (C's `down` gives up then)
	step "disconnect --force" drbdadm -- --force disconnect r0
	step "down" drbdadm down r0
	step "unload" unload_drbd
}
