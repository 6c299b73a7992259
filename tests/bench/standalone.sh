# SPDX-License-Identifier: GPL-2.0
# Benchmark (scripts/bench): fio on the raw backing disk, on the C module's /dev/drbd0 and on
# drbd-rs's /dev/drbd0, standalone Primary, in one guest, so the ratios compare like with like.
#@ guests: 1
#@ disks: 512M
#@ memory: 1024
#@ timeout: 900

RUNTIME=${RUNTIME:-10}

# job NAME FIO-ARGS...: one fio job on $TARGET; prints "BENCH target job iops KiB/s".
job() {
	local name=$1 out
	shift
	out=$(fio --name="$name" --filename="$TARGET" --direct=1 --ioengine=libaio \
		--time_based --runtime="$RUNTIME" --size=256M --output-format=terse "$@") ||
		fail "fio $name on $TARGET"
	# terse v3: read iops/bw in fields 8/7, write iops/bw in 49/48
	echo "$out" | awk -F';' -v t="$TNAME" -v j="$name" \
		'{ printf "BENCH %s %s %d %d\n", t, j, $8 + $49, $7 + $48 }'
}

jobs() {
	job randread-4k-qd1 --rw=randread --bs=4k --iodepth=1
	job randwrite-4k-qd1 --rw=randwrite --bs=4k --iodepth=1
	job randwrite-4k-qd32 --rw=randwrite --bs=4k --iodepth=32
	job seqwrite-1m --rw=write --bs=1M --iodepth=4
}

# up_standalone: a fresh r0 attached, StandAlone (drbd-rs has no connect yet, and C wants
# StandAlone for the next step), with a clean bitmap (so that the activity log works as on a
# synced device, not suspended), then Primary.
up_standalone() {
	step "create-md" drbdadm create-md --force r0
	step "new-resource" drbdadm new-resource r0
	step "new-minor" drbdadm new-minor r0
	step "attach" drbdadm attach r0
	step "clean bitmap" /lib/drbd/drbdsetup-84 new-current-uuid 0 --clear-bitmap
	step "primary" drbdadm primary --force r0
}

g1() {
	TARGET=/dev/vda TNAME=raw jobs

	two_node_res r0
	step "load the C module" /sbin/modprobe drbd
	up_standalone
	TARGET=/dev/drbd0 TNAME=c jobs
	step "down" drbdadm down r0
	step "unload the C module" /sbin/rmmod drbd

	step "load drbd-rs" /sbin/insmod /lib/modules/drbd-rs/drbd.ko
	up_standalone
	TARGET=/dev/drbd0 TNAME=ours jobs
	step "down" drbdadm down r0
	step "unload drbd-rs" /sbin/rmmod drbd
}
