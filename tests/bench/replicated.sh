# SPDX-License-Identifier: GPL-2.0
# Benchmark (scripts/bench --only replicated): a replicated pair with the in-tree C module on both
# guests and with drbd-rs on both, protocols A, B and C, in one run, against g1's raw backing disk
# and the raw link (a TCP stream g1 -> g2, fio's net engine). g1 is Primary and runs the fio jobs;
# then a full resync of the whole device per module (g1 a forced Primary before g2 comes up).
# After each pair and each resync, g2's backing disk must hold g1's data (VERIFY=1).
# Prints on g1:
#   BENCH <target> <job> <iops> <KiB/s> <p50_us> <p99_us>   target: raw, link, c-A ... ours-C
#     (once per round of the pairs for c-A ... ours-C)
#   BENCH-RESYNC <module> <KiB> <seconds> <KiB/s> <seconds from g2's up>
#   BENCH-RTT <bytes> <min> <avg> <max>   ping g1 -> g2, milliseconds
#   BENCH-CPU <target> <g1 ms> <g2 ms> <KiB>   CPU time busy on each guest during a pair's jobs,
#     and the KiB they wrote
# Guests run under TCG: only ratios measured in the same run mean something.
#@ guests: 2
#@ disks: 512M
#@ memory: 1024
#@ timeout: 2400
# A bug of the C module that DEBUG_ATOMIC_SLEEP reports (see c-reference-pair.sh).
#@ allow: do not call blocking ops when !TASK_RUNNING.*prepare_to_wait

RUNTIME=${RUNTIME:-8}
MODULES=${MODULES:-c ours}
PROTOCOLS=${PROTOCOLS:-A B C}
# 1: after each pair's jobs and after each resync, g2's backing disk must hold g1's data
VERIFY=${VERIFY:-1}
# 1: a full resync per module after the pairs
RESYNC=${RESYNC:-1}
# rounds of all pairs, for medians (the figures under TCG vary from run to run)
ROUNDS=${ROUNDS:-1}
LINK_PORT=5001
# the fio jobs' area at the start of the device, MiB
FIO_MIB=256

# job NAME FIO-ARGS...: one fio job on $TARGET; prints "BENCH target job iops KiB/s p50 p99",
# the write completion latency percentiles in microseconds.
job() {
	local name=$1 out
	shift
	out=$(fio --name="$name" --filename="$TARGET" --direct=1 --ioengine=libaio \
		--time_based --runtime="$RUNTIME" --size=${FIO_MIB}M --output-format=terse \
		--percentile_list=50:99 "$@") || fail "fio $name on $TARGET"
	bench_line "$name" "$out"
	# KiB written (terse v3 field 47)
	WRITTEN_KIB=$((WRITTEN_KIB + $(echo "$out" | awk -F';' '$1 == "3" { print $47 }')))
}

# busy_ms: the CPU time this guest spent busy so far (/proc/stat, USER_HZ 100), iowait and
# idle not counted
busy_ms() {
	awk '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8) * 10 }' /proc/stat
}

# bench_line NAME TERSE: the BENCH line of a fio terse (v3) result. Write: bw 48, iops 49, clat
# percentiles 59-78 ("50.000000%=123"); read: bw 7, iops 8.
bench_line() {
	echo "$2" | awk -F';' -v t="$TNAME" -v j="$1" '
		$1 == "3" {
			p50 = p99 = -1
			for (i = 59; i <= 78; i++) {
				split($i, kv, "=")
				if (kv[1] ~ /^50(\.0*)?%$/) p50 = kv[2]
				if (kv[1] ~ /^99(\.0*)?%$/) p99 = kv[2]
			}
			printf "BENCH %s %s %d %d %d %d\n", t, j, $8 + $49, $7 + $48, p50, p99
			found = 1
		}
		END { if (!found) exit 1 }' || fail "no fio result for $1 on $TNAME: $2"
}

jobs() {
	job seqwrite-1m --rw=write --bs=1M --iodepth=4
	job randwrite-4k-qd1 --rw=randwrite --bs=4k --iodepth=1
	job randwrite-4k-qd32 --rw=randwrite --bs=4k --iodepth=32
}

load_mod() {
	case "$1" in
	c) step "load the C module" /sbin/modprobe drbd ;;
	ours) step "load drbd-rs" /sbin/insmod /lib/modules/drbd-rs/drbd.ko ;;
	esac
}

unload_mod() {
	step "unload drbd ($1)" /sbin/rmmod drbd
}

# r0 with protocol $1; resync at a fixed rate far above what the guests can do (c-plan-ahead 0:
# the same for both modules, no controller in the way).
res() {
	two_node_res r0 "net { protocol $1; } disk { c-plan-ahead 0; resync-rate 1000M; }"
}

synced() {
	grep -q 'cs:Connected ro:[A-Za-z]*/[A-Za-z]* ds:UpToDate/UpToDate' /proc/drbd
}

uptime_s() {
	cut -d' ' -f1 /proc/uptime
}

# vda_sum BYTES: the CRC (cksum) of the first BYTES (a multiple of 4 KiB) of this guest's backing
# disk, its page cache dropped (the module wrote underneath it). dd in 1 MiB blocks and the
# host's cksum: busybox head and md5sum make it minutes under TCG.
vda_sum() {
	local mib=$(($1 >> 20))
	echo 3 >/proc/sys/vm/drop_caches
	{
		dd if=/dev/vda bs=1M count=$mib
		dd if=/dev/vda bs=4k skip=$((mib * 256)) count=$((($1 - (mib << 20)) / 4096))
	} 2>/dev/null | host_run /host/usr/bin/cksum | cut -d' ' -f1
}

# verify KEY BYTES: both guests down, the first BYTES of g2's backing disk must be g1's
verify() {
	[ "$VERIFY" = 1 ] || return 0
	if [ "$GUEST" = g1 ]; then
		share "$1" "$(vda_sum "$2")"
	else
		sum=$(vda_sum "$2")
		step "g2's disk holds g1's data ($1)" [ "$sum" = "$(fetch "$1")" ]
	fi
}

# pair_up PROTOCOL MODULE: both guests; a fresh r0, Connected and UpToDate/UpToDate without a
# sync (new-current-uuid --clear-bitmap), g1 Primary
pair_up() {
	res "$1"
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "Connected" 60 grep -q 'cs:Connected' /proc/drbd
	barrier "connected-$2-$1-$ROUND"
	if [ "$GUEST" = g1 ]; then
		step "new-current-uuid --clear-bitmap" drbdadm new-current-uuid --clear-bitmap r0
	fi
	wait_for "UpToDate on both" 60 grep -q 'ds:UpToDate/UpToDate' /proc/drbd
	if [ "$GUEST" = g1 ]; then
		step "primary" drbdadm primary r0
	fi
	barrier "ready-$2-$1-$ROUND"
}

# peer_gone: g1 went down; what it sent is on g2's disk once the connection is closed
peer_gone() {
	grep -Eq 'cs:(WFConnection|Unconnected|StandAlone)' /proc/drbd
}

# pair_run MODULE PROTOCOL: both guests; g1 Primary runs the jobs, then both down, and g2's disk
# must hold what g1 wrote. $ROUND names the round.
pair_run() {
	load_mod "$1"
	pair_up "$2" "$1"
	cpu0=$(busy_ms)
	if [ "$GUEST" = g1 ]; then
		WRITTEN_KIB=0
		TARGET=/dev/drbd0 TNAME="$1-$2" jobs
		cpu1=$(busy_ms)
		cat /proc/drbd
		barrier "done-$1-$2-$ROUND"
		echo "BENCH-CPU $1-$2 $((cpu1 - cpu0)) $(fetch "cpu-$1-$2-$ROUND") $WRITTEN_KIB"
		step "down" drbdadm down r0
	else
		barrier "done-$1-$2-$ROUND"
		share "cpu-$1-$2-$ROUND" $(($(busy_ms) - cpu0))
		wait_for "g1 down" 60 peer_gone
		step "down" drbdadm down r0
	fi
	barrier "down-$1-$2-$ROUND"
	verify "sum-$1-$2-$ROUND" $((FIO_MIB << 20))
	unload_mod "$1"
}

# resync_run MODULE: both guests; a full resync, g1 a forced Primary with fresh meta data before
# g2 comes up; g2 times it.
resync_run() {
	local t0 t1 began done_ kib ts0 ts1 r bytes
	load_mod "$1"
	res C
	step "create-md" drbdadm --force create-md r0
	if [ "$GUEST" = g1 ]; then
		step "up" drbdadm up r0
		step "primary --force" drbdadm primary --force r0
		barrier "source-$1"
		wait_for "full sync done" 900 synced
		cat /proc/drbd
		dmesg | grep -E 'drbd.*(Began resync|Resync done)' | tail -n 2
		bytes=$(($(cat /sys/block/drbd0/size) * 512))
		echo "BENCH-RESYNC $1 $(fetch "resync-$1")"
		barrier "synced-$1"
		step "down" drbdadm down r0
	else
		barrier "source-$1"
		t0=$(uptime_s)
		step "up" drbdadm up r0
		wait_for "full sync done" 900 synced
		t1=$(uptime_s)
		cat /proc/drbd
		began=$(dmesg | grep 'Began resync as SyncTarget' | tail -n 1)
		done_=$(dmesg | grep 'Resync done' | tail -n 1)
		echo "$began"
		echo "$done_"
		kib=$(echo "$began" | sed -n 's/.*will sync \([0-9]*\) KB.*/\1/p')
		ts0=$(echo "$began" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p')
		ts1=$(echo "$done_" | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p')
		[ -n "$kib" ] && [ -n "$ts0" ] && [ -n "$ts1" ] ||
			fail "no 'Began resync as SyncTarget' / 'Resync done' in the kernel log"
		# KiB, seconds from the first message to the last, KiB/s, seconds from g2's up
		r=$(awk -v k="$kib" -v a="$ts0" -v b="$ts1" -v w0="$t0" -v w1="$t1" 'BEGIN {
			s = b - a; if (s < 0) exit 1; if (s == 0) s = 0.001
			printf "%d %.3f %d %.3f", k, s, k / s, w1 - w0 }') ||
			fail "'Resync done' ($ts1) before 'Began resync' ($ts0)"
		echo "BENCH-RESYNC $1 $r"
		share "resync-$1" "$r"
		bytes=$(($(cat /sys/block/drbd0/size) * 512))
		barrier "synced-$1"
		wait_for "g1 down" 60 peer_gone
		step "down" drbdadm down r0
	fi
	verify "sum-rs-$1" "$bytes"
	unload_mod "$1"
}

# The modules take turns for each protocol, so that a change in the host's load hits both alike;
# all of it ROUNDS times.
pairs() {
	for ROUND in $(seq "$ROUNDS"); do
		for p in $PROTOCOLS; do
			for m in $MODULES; do
				pair_run "$m" "$p"
			done
		done
	done
	[ "$RESYNC" = 1 ] || return 0
	for m in $MODULES; do
		resync_run "$m"
	done
}

g1() {
	TARGET=/dev/vda TNAME=raw jobs
	# the raw jobs' data is on g1's disk only: both disks the same again (zeros) for the pairs
	step "zero the raw jobs' area" dd if=/dev/zero of=/dev/vda bs=1M count=$FIO_MIB oflag=direct

	barrier link-listening
	out=$(fio --name=link --ioengine=net --hostname=10.0.0.2 --port=$LINK_PORT \
		--protocol=tcp --rw=write --bs=1M --size=64G --time_based --runtime="$RUNTIME" \
		--output-format=terse) || fail "fio link"
	TNAME=link bench_line tcp-stream-1m "$out"
	# round trips, 56 and 4096 bytes of payload: "round-trip min/avg/max = 0.4/0.8/1.9 ms"
	for size in 56 4096; do
		ping -c 20 -i 0.2 -q -s $size 10.0.0.2 |
			sed -n "s|.*= \([0-9.]*\)/\([0-9.]*\)/\([0-9.]*\) ms|BENCH-RTT $size \1 \2 \3|p"
	done
	barrier link-done
	pairs
}

g2() {
	(fio --name=link-recv --ioengine=net --listen --port=$LINK_PORT --protocol=tcp --rw=read \
		--bs=1M --size=64G --output-format=terse >/tmp/link-recv.out 2>&1) &
	recv=$!
	wait_for "fio listens" 120 sh -c "netstat -ltn | grep -q ':$LINK_PORT '"
	barrier link-listening
	barrier link-done
	wait "$recv" || fail "fio link receiver: $(cat /tmp/link-recv.out)"
	pairs
}
