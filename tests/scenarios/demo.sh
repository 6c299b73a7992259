# SPDX-License-Identifier: GPL-2.0
# `make demo`: two guests load drbd-rs, try to bring up a replicated resource with stock drbdadm
# and show /proc/drbd. Today drbd-rs stops at `drbdadm up` (see README, "Status").
#@ guests: 2
#@ disks: 32M
#@ timeout: 120

common() {
	cat >/etc/drbd.d/r0.res <<-EOT
	resource r0 {
		device /dev/drbd0;
		disk /dev/vda;
		meta-disk internal;
		net { protocol C; }
		on g1 { address 10.0.0.1:7789; }
		on g2 { address 10.0.0.2:7789; }
	}
	EOT
	step "load drbd-rs" load_drbd
	step "create meta data" drbdadm create-md --force r0
	say "drbdadm up r0:"
	drbdadm up r0
	say "exit status $? (drbd-rs does not implement new-resource yet)"
	barrier up
	say "/proc/drbd on $GUEST:"
	cat /proc/drbd
	drbdadm down r0 >/dev/null 2>&1
	step "unload drbd-rs" unload_drbd
}
