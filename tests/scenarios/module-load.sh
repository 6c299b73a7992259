# SPDX-License-Identifier: GPL-2.0
# drbd.ko loads, registers major 147, /proc/drbd and the netlink family, and unloads cleanly.
#@ guests: 1

header_ok() {
	[ "$(sed -n 1p /proc/drbd)" = "version: 8.4.11 (api:1/proto:86-101)" ] || return 1
	# C: "srcversion: %-24s": modpost's hash, padded to 24 characters
	sed -n 2p /proc/drbd | grep -Eqx 'srcversion: [0-9A-F]{23} ' || return 1
	[ "$(wc -l </proc/drbd)" -eq 2 ]
}

g1() {
	expect_fail "minor_count=0 is refused" load_drbd minor_count=0
	dmesg | grep -q 'drbd: invalid minor_count (0)' || fail "no dmesg line for minor_count=0"
	step "load" load_drbd
	cat /proc/drbd
	step "/proc/drbd header as the C module prints it" header_ok
	step "block major 147 registered" grep -qx '147 drbd' /proc/devices
	expect "minor_count parameter" 32 cat /sys/module/drbd/parameters/minor_count
	expect "usermode_helper parameter" /sbin/drbdadm cat /sys/module/drbd/parameters/usermode_helper
	step "module alias block-major-147-*" sh -c "/sbin/modinfo /lib/modules/drbd-rs/drbd.ko | grep -qx 'alias: *block-major-147-\*'"
	expect "modinfo version" 8.4.11 /sbin/modinfo -F version /lib/modules/drbd-rs/drbd.ko
	step "netlink family answers" /lib/drbd/drbdsetup-84 show
	dmesg | grep -q 'drbd: initialized. Version: 8.4.11 (api:1/proto:86-101)' ||
		fail "no 'initialized' line in dmesg"

	step "unload" unload_drbd
	step "/proc/drbd gone" test ! -e /proc/drbd
	step "major 147 released" sh -c "! grep -q ' drbd$' /proc/devices"
	step "module gone" test ! -e /sys/module/drbd
	# Loading again proves the netlink family was unregistered: genl_register_family refuses
	# a name that is taken. (drbdsetup-84 cannot tell: it modprobes a drbd module if none is.)
	step "load again" load_drbd minor_count=8
	expect "minor_count=8" 8 cat /sys/module/drbd/parameters/minor_count
	step "unload again" unload_drbd
}
