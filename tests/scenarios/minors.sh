# SPDX-License-Identifier: GPL-2.0
# Minors: new-minor creates /dev/drbdN (refusing opens of a Secondary), /proc/drbd, show, status
# and state report it, del-minor, del-resource and down remove it; drbd-rs prints the same as
# the C module at every step.
#@ guests: 1

commands() {
	show84 new-resource r0
	show84 new-minor r0 0 0
	show84 new-minor r0 0 0
	show84 new-minor r0 1 0
	show84 new-minor r0 3 1
	show84 new-resource r1
	show84 new-minor r1 0 0
	show84 new-minor r1 7 2
	show_proc
	echo "== devices"
	ls /dev/drbd*
	cat /sys/block/drbd0/size /sys/block/drbd0/ro
	echo "== open for reading"
	dd if=/dev/drbd0 of=/dev/null bs=4k count=1 2>&1 | head -1
	echo "== open for writing"
	dd if=/dev/zero of=/dev/drbd0 bs=4k count=1 2>&1 | head -1
	show84 show
	show84 show r1
	show84 status
	show84 0 state
	show84 3 role
	show84 7 cstate
	show84 7 dstate
	show84 del-resource r0
	show84 del-minor 3
	show84 del-minor 3
	show_proc
	show84 down r0
	show84 down r1
	show84 show
	show_proc
	echo "== devices"
	ls /dev/drbd* 2>&1
}

g1() {
	compare_with_c commands
	# a minor that stays configured must not keep the module from unloading cleanly
	step "new-resource and new-minor again" sh -c \
		"/lib/drbd/drbdsetup-84 new-resource r2 && /lib/drbd/drbdsetup-84 new-minor r2 4 0"
	step "unload drbd-rs with a minor" /sbin/rmmod drbd
	step "/dev/drbd4 gone" test ! -e /dev/drbd4
}
