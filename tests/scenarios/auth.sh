# SPDX-License-Identifier: GPL-2.0
# Peer authentication (cram-hmac-alg sha1, shared-secret) between drbd-rs and drbd-rs or the C
# module: with the same secret both log "Peer authenticated using 20 bytes HMAC" and connect;
# with different secrets both refuse ("Authentication of peer failed") and go StandAlone.
# An unknown algorithm is refused by connect (ERR_AUTH_ALG).
#@ guests: 2
#@ disks: 64M
#@ timeout: 240
#@ variant: rs-rs g1=ours g2=ours
#@ variant: rs-c g1=ours g2=c

res() {
	two_node_res r0 "net { cram-hmac-alg $1; shared-secret $2; connect-int 2; }"
}

common() {
	step "load" load_drbd
	res sha1 s3cret
	step "create-md" drbdadm --force create-md r0
	step "up" drbdadm up r0
	wait_for "Connected" 60 grep -q 'cs:Connected' /proc/drbd
	step "authenticated" sh -c "dmesg | grep -q 'Peer authenticated using 20 bytes HMAC'"
	barrier connected
	step "down" drbdadm down r0
	barrier down
	if [ "$GUEST" = g2 ]; then res sha1 other-secret; fi
	step "up with different secrets" drbdadm up r0
	wait_for "StandAlone" 60 grep -q 'cs:StandAlone' /proc/drbd
	step "refused" sh -c "dmesg | grep -q 'Authentication of peer failed'"
	barrier refused
	step "down" drbdadm down r0
	if [ "$GUEST" = g1 ]; then
		res no-such-hash s3cret
		step "unknown algorithm refused (ERR_AUTH_ALG)" sh -c "drbdadm up r0 2>&1 | grep -q '(120)'"
		drbdadm down r0
	fi
	step "unload" unload_drbd
}
