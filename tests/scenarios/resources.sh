# SPDX-License-Identifier: GPL-2.0
# Resources without volumes: drbdsetup-84 new-resource, resource-options, show, del-resource
# and down print the same with drbd-rs as with the C module, step by step.
#@ guests: 1

commands() {
	show84 new-resource r0
	show84 new-resource r0
	show84 new-resource a/b
	show84 show
	show84 show r0
	show84 show nope
	show84 status
	show84 resource-options r0 --on-no-data-accessible=suspend-io
	show84 show r0
	show84 resource-options r0 --set-defaults
	show84 show r0
	show84 new-resource r1 --on-no-data-accessible=suspend-io
	show84 show
	show84 primary 0
	show84 del-resource r0
	show84 del-resource r0
	show84 down r1
	show84 down r1
	show84 show
}

g1() {
	compare_with_c commands
	step "unload drbd-rs" /sbin/rmmod drbd
}
