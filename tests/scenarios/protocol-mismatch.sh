# SPDX-License-Identifier: GPL-2.0
# Mismatched connection settings are refused as the C module refuses them (receive_protocol()):
# g1 runs drbd-rs with protocol A, g2 the C module with protocol C. After the version is agreed
# both exchange P_PROTOCOL; each logs "incompatible protocol settings" and goes StandAlone,
# dropping its network configuration. Then the same with a verify-alg on g1 only
# (receive_SyncParam()): "Different verify-alg settings", StandAlone on both.
#@ guests: 2
#@ disks: 64M
#@ module: g1=ours g2=c
#@ timeout: 180

common() {
	step "load" load_drbd
	case "$GUEST" in
	g1) two_node_res r0 "net { protocol A; }" ;;
	g2) two_node_res r0 "net { protocol C; }" ;;
	esac
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	barrier up
	wait_for "incompatible settings detected" 30 \
		sh -c "dmesg | grep -q 'incompatible protocol settings'"
	wait_for "StandAlone" 30 grep -q 'cs:StandAlone' /proc/drbd
	cat /proc/drbd
	step "no protocol letter: the net configuration is gone" \
		grep -q 'ds:Inconsistent/DUnknown   r' /proc/drbd
	expect "no net section in show" "" sh -c "/lib/drbd/drbdsetup-84 show | grep _remote_host"
	barrier refused
	step "down" drbdadm down r0
	case "$GUEST" in
	g1) two_node_res r0 "net { verify-alg crc32c; }" ;;
	g2) two_node_res r0 "" ;;
	esac
	step "up again" drbdadm up r0
	barrier up-again
	case "$GUEST" in
	g1) want='me="crc32c" peer=""' ;;
	g2) want='me="" peer="crc32c"' ;;
	esac
	wait_for "different verify-alg detected" 30 \
		sh -c "dmesg | grep -qF 'Different verify-alg settings. $want'"
	wait_for "StandAlone again" 30 grep -q 'cs:StandAlone' /proc/drbd
	barrier refused-again
	step "down again" drbdadm down r0
	step "unload" unload_drbd
}
