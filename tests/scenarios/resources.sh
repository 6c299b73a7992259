# SPDX-License-Identifier: GPL-2.0
# Resources without volumes: drbdsetup-84 new-resource, resource-options, show, del-resource
# and down print the same with drbd-rs as with the C module, step by step.
#@ guests: 1

run() {
	echo "== drbdsetup-84 $*"
	/lib/drbd/drbdsetup-84 "$@" 2>&1
	echo "rc=$?"
}

commands() {
	run new-resource r0
	run new-resource r0
	run new-resource a/b
	run show
	run show r0
	run show nope
	run status
	run resource-options r0 --on-no-data-accessible=suspend-io
	run show r0
	run resource-options r0 --set-defaults
	run show r0
	run new-resource r1 --on-no-data-accessible=suspend-io
	run show
	run primary 0
	run del-resource r0
	run del-resource r0
	run down r1
	run down r1
	run show
}

g1() {
	step "load the C module" /sbin/modprobe drbd
	commands >/tmp/c.out
	step "unload the C module" /sbin/rmmod drbd
	step "load drbd-rs" /sbin/insmod /lib/modules/drbd-rs/drbd.ko
	commands >/tmp/ours.out
	cat /tmp/ours.out
	step "same output as with the C module" diff -u /tmp/c.out /tmp/ours.out
	step "unload drbd-rs" /sbin/rmmod drbd
}
