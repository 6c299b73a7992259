# SPDX-License-Identifier: GPL-2.0
# Stock drbd-utils pick their 8.4 tools from our /proc/drbd and reach our netlink family; they
# print the same as with the C module, command by command.
#@ guests: 1

# The commands compared. Each one's output and exit status must be the same with both modules.
commands() {
	echo "== drbdadm --version"
	drbdadm --version 2>&1 | grep -v BUILDTAG
	echo "rc=$?"
	echo "== drbdsetup show"
	drbdsetup show 2>&1; echo "rc=$?"
	show84 show
	show84 status
	show84 0 state
	echo "== drbdsetup-84 events (2 s)"
	timeout 2 /lib/drbd/drbdsetup-84 events 2>&1; echo "rc=$?"
	for cmd in "down r0" "new-minor r0 1 0" "resource-options r0" "del-resource r0" \
		"disconnect ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789" "net-options ipv4:10.0.0.1:7789 ipv4:10.0.0.2:7789" \
		"detach 0" "secondary 0" "invalidate 0" "resize 0" "new-current-uuid 0" "outdate 0" \
		"del-minor 0" "pause-sync 0" "suspend-io 0" "verify 0"; do
		# shellcheck disable=SC2086 # the words of $cmd are its arguments
		show84 $cmd
	done
	echo "== drbdadm -d up r0"
	drbdadm -d up r0 2>&1; echo "rc=$?"
	show_proc
}

g1() {
	two_node_res r0
	ip addr add 10.0.0.1/32 dev lo # this is g1 of r0
	compare_with_c commands
	step "drbdadm reads 8.4.11 from /proc/drbd" grep -q 'DRBD_KERNEL_VERSION_CODE=0x08040b' /tmp/ours.out
	step "drbdadm selects the 8.4 tools" grep -q '^drbdsetup-84 new-resource r0' /tmp/ours.out
	step "no 'family not found'" sh -c "! grep -qi 'family.*not found\|no such' /tmp/ours.out"
	step "unload drbd-rs" /sbin/rmmod drbd
}
