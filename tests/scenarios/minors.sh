# SPDX-License-Identifier: GPL-2.0
# Minors: new-minor creates /dev/drbdN (refusing opens of a Secondary), /proc/drbd, show, status
# and state report it, del-minor, del-resource and down remove it; drbd-rs prints the same as
# the C module at every step.
#@ guests: 1

run() {
	echo "== drbdsetup-84 $*"
	/lib/drbd/drbdsetup-84 "$@" 2>&1
	echo "rc=$?"
}

proc() {
	echo "== /proc/drbd"
	sed 's/^srcversion: .*/srcversion: -/' /proc/drbd
}

commands() {
	run new-resource r0
	run new-minor r0 0 0
	run new-minor r0 0 0
	run new-minor r0 1 0
	run new-minor r0 3 1
	run new-resource r1
	run new-minor r1 0 0
	run new-minor r1 7 2
	proc
	echo "== devices"
	ls /dev/drbd*
	cat /sys/block/drbd0/size /sys/block/drbd0/ro
	echo "== open for reading"
	dd if=/dev/drbd0 of=/dev/null bs=4k count=1 2>&1 | head -1
	echo "== open for writing"
	dd if=/dev/zero of=/dev/drbd0 bs=4k count=1 2>&1 | head -1
	run show
	run show r1
	run status
	run 0 state
	run 3 role
	run 7 cstate
	run 7 dstate
	run del-resource r0
	run del-minor 3
	run del-minor 3
	proc
	run down r0
	run down r1
	run show
	proc
	echo "== devices"
	ls /dev/drbd* 2>&1
}

g1() {
	step "load the C module" /sbin/modprobe drbd
	commands >/tmp/c.out
	step "unload the C module" /sbin/rmmod drbd
	step "load drbd-rs" /sbin/insmod /lib/modules/drbd-rs/drbd.ko
	commands >/tmp/ours.out
	cat /tmp/ours.out
	step "same output as with the C module" diff -u /tmp/c.out /tmp/ours.out
	# a minor that stays configured must not keep the module from unloading cleanly
	step "new-resource and new-minor again" sh -c \
		"/lib/drbd/drbdsetup-84 new-resource r2 && /lib/drbd/drbdsetup-84 new-minor r2 4 0"
	step "unload drbd-rs with a minor" /sbin/rmmod drbd
	step "/dev/drbd4 gone" test ! -e /dev/drbd4
}
