# SPDX-License-Identifier: GPL-2.0
# A Primary loses power: it writes into three 4 MiB extents, then the harness kills the guest
# (QEMU killed, no shutdown). Booted again, `drbdadm attach` runs `drbdmeta apply-al`, which
# finds the three hot extents in the activity log; they come up out of sync (12 MiB), the data
# written before the crash is there, and the meta data tells of a crashed Primary. The same
# expectations hold for the C module (tests/run --module c crash).
#@ guests: 1
#@ disks: 64M
#@ timeout: 180

g1() {
	step "load" load_drbd
	two_node_res r0
	case "$drbdrs_boot" in
	1)
		step "create-md" drbdadm --force create-md r0
		step "attach" sh -c "drbdadm new-resource r0 && drbdadm new-minor r0 && drbdadm attach r0"
		step "clean bitmap" /lib/drbd/drbdsetup-84 new-current-uuid 0 --clear-bitmap
		step "primary" drbdadm primary --force r0
		for block in 0 2048 5120; do
			step "write at block $block" dd if=/dev/urandom of=/dev/drbd0 bs=4k count=4 \
				seek=$block oflag=direct
		done
		share data "$(dd if=/dev/drbd0 bs=4k count=4 skip=5120 iflag=direct 2>/dev/null | md5sum)"
		cat /proc/drbd
		power_cut
		;;
	2)
		drbdadm new-resource r0 && drbdadm new-minor r0 || fail "new-resource/new-minor"
		drbdadm attach r0 >/tmp/attach 2>&1 || fail "attach after the crash"
		cat /tmp/attach /proc/drbd
		step "apply-al found the hot extents" \
			grep -q 'Marked additional 12 MB as out-of-sync based on AL' /tmp/attach
		step "12 MiB out of sync" grep -q 'oos:12288$' /proc/drbd
		step "crashed Primary" sh -c "/lib/drbd/drbdsetup-84 0 show-gi | grep -q '^flags: crashed'"
		step "primary again" drbdadm primary r0
		expect "data written before the crash" "$(fetch data)" \
			sh -c 'dd if=/dev/drbd0 bs=4k count=4 skip=5120 iflag=direct 2>/dev/null | md5sum'
		step "down" drbdadm down r0
		step "unload" unload_drbd
		;;
	esac
}
