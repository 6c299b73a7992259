# SPDX-License-Identifier: GPL-2.0
# The harness itself: three guests on one network (IPv4 and IPv6), disks, barriers, shared
# values, and the tools every scenario relies on (drbd-utils, kmod, fio).
#@ guests: 3
#@ disks: 16M 8M
#@ timeout: 120

disk_size() { echo $(($(cat /sys/block/$1/size) * 512)); }

common() {
	expect "first disk" 16777216 disk_size vda
	expect "second disk" 8388608 disk_size vdb
	expect "host name" "$GUEST" hostname
	step "drbd-utils present" test -x /sbin/drbdadm -a -x /sbin/drbdmeta -a -x /lib/drbd/drbdsetup-84
	step "kmod present" /sbin/kmod --version
	share "from-$GUEST" "hello-$GUEST"
	barrier up
	for i in 1 2 3; do
		# retried: the first packet may go while neighbour discovery runs
		wait_for "IPv4 to g$i" 10 ping -c 1 -W 2 10.0.0.$i
		wait_for "IPv6 to g$i" 10 ping -6 -c 1 -W 2 fd00::$i
		expect "value shared by g$i" "hello-g$i" fetch "from-g$i"
	done
	step "fio with verify" fio --name=selftest --filename=/dev/vdb --direct=1 --rw=randwrite \
		--bs=4k --size=4M --ioengine=libaio --iodepth=4 --verify=crc32c --output-format=terse
	barrier done
}
