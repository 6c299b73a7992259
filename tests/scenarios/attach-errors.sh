# SPDX-License-Identifier: GPL-2.0
# attach refuses what the C module refuses, with the same drbdsetup-84 output: no meta data,
# unclean meta data, 0.7 meta data, a bad bitmap granularity, a missing device, and meta data
# indexes that do not fit the devices. Then valid meta data attaches, and detach lets go of it.
#@ guests: 1
#@ disks: 64M 64M 64M 64M 64M
# A bug of the C module: on one of these error paths close_backing_dev() unlinks a holder it
# never linked, and block/holder.c warns. drbd-rs has no such function.
#@ allow: close_backing_dev\+.*\[drbd\]

# poke DEVICE BYTE-OFFSET-IN-SUPERBLOCK OCTAL-BYTES: overwrite bytes of internal meta data's
# superblock (the last 4 KiB block of a 64 MiB device).
poke() {
	printf "$3" | dd of="$1" bs=1 seek=$((131064 * 512 + $2)) conv=notrunc 2>/dev/null
}

commands() {
	show84 new-resource r0
	show84 new-minor r0 0 0
	show84 attach 0 /dev/vda /dev/vda internal
	show84 attach 0 /dev/vdb /dev/vdb internal
	show84 attach 0 /dev/vdc /dev/vdc internal
	show84 attach 0 /dev/vdd /dev/vdd internal
	show84 attach 0 /dev/nonexistent /dev/nonexistent internal
	show84 attach 0 /dev/vde /dev/vda internal
	show84 attach 0 /dev/vde /dev/vde flexible
	show84 attach 0 /dev/vde /dev/vda 0
	show_proc
	show84 down r0
}

g1() {
	# vda: no meta data. vdb: unclean (as a crashed Primary leaves it before apply-al).
	# vdc: 0.7 magic. vdd: 512 bytes per bitmap bit. vde: clean meta data.
	for d in vdb vdc vdd vde; do
		step "create-md on $d" drbdmeta --force 0 v08 /dev/$d internal create-md
	done
	poke /dev/vdb 60 '\203\164\002\154'
	poke /dev/vdc 60 '\203\164\002\152'
	poke /dev/vdd 80 '\000\000\002\000'
	compare_with_c commands
	dmesg | grep 'drbd: r0/0 drbd0' | tail -20
	step "log names the unclean meta data" sh -c "dmesg | grep -q 'Found unclean meta data'"
	step "new-resource, new-minor" sh -c \
		"/lib/drbd/drbdsetup-84 new-resource r0 && /lib/drbd/drbdsetup-84 new-minor r0 0 0"
	step "attach of valid meta data" /lib/drbd/drbdsetup-84 attach 0 /dev/vde /dev/vde internal
	# 64 MiB less the 80 sectors of meta data
	expect "size of /dev/drbd0" 130992 cat /sys/block/drbd0/size
	step "detach" /lib/drbd/drbdsetup-84 detach 0
	# drbdmeta opens the device exclusively: it works only if detach let go of the claims
	step "devices released" drbdmeta --force 0 v08 /dev/vde internal dump-md
	step "down" /lib/drbd/drbdsetup-84 down r0
	step "unload drbd-rs" /sbin/rmmod drbd
}
