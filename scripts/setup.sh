#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# Installs everything drbd-rs needs and builds the guest kernel, idempotently.
#
#   scripts/setup.sh          install packages and bindgen, build (or reuse) the guest kernel
#   scripts/setup.sh --env    print shell assignments (KDIR, KMAKE_ARGS, ...) for an existing setup
#   --bench (before --env)    the same for the benchmark kernel: without the test kernel's
#                             debugging (scripts/kernel-bench.config on top)
#
# The kernel is built outside the repository, under $DRBD_RS_CACHE (default ~/.cache/drbd-rs),
# in a directory keyed by the kernel version and a hash of the config fragments and the tool
# versions, so a second run reuses it. See Documentation/building.rst for the why of each step.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
CACHE=${DRBD_RS_CACHE:-$HOME/.cache/drbd-rs}
BINDGEN_VERSION=0.73.2
FRAGMENTS=("$top/scripts/kernel.config")
# the test kernel's build is linked as current, its environment in env; the bench one's as bench
FLAVOUR=current ENV_FILE=$CACHE/env
if [ "${1:-}" = --bench ]; then
	FRAGMENTS+=("$top/scripts/kernel-bench.config")
	FLAVOUR=bench ENV_FILE=$CACHE/bench.env
	shift
fi

# rustc-web is Debian's 1.96; rustup's rustc (first in PATH) must never build kernel code.
RUSTC=/usr/bin/rustc
PACKAGES=(
	rustc-web rust-web-src rust-web-clippy rustfmt-web
	linux-source-6.12 clang libclang-dev lld llvm
	flex bison bc libelf-dev libssl-dev cpio xz-utils kmod make gcc
	qemu-system-x86 busybox-static fio dmsetup
)

log() { printf 'setup: %s\n' "$*" >&2; }
die() { printf 'setup: error: %s\n' "$*" >&2; exit 1; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

install_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		as_root apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${missing[@]}" >/dev/null
	fi
	[ -x "$RUSTC" ] || die "$RUSTC missing after installing rustc-web"
	[ -d "$($RUSTC --print sysroot)/lib/rustlib/src/rust/library/core" ] ||
		die "rust-web-src is not where $RUSTC looks for it"
}

install_bindgen() {
	BINDGEN=$CACHE/tools/bin/bindgen
	if [ "$("$BINDGEN" --version 2>/dev/null)" != "bindgen $BINDGEN_VERSION" ]; then
		log "building bindgen-cli $BINDGEN_VERSION (about 80 s)"
		cargo install -q bindgen-cli --version "$BINDGEN_VERSION" --locked --root "$CACHE/tools"
	fi
}

# drbd-utils is unpacked, not installed: only its binaries go into the guests.
fetch_drbd_utils() {
	local ver dir
	ver=$(apt-cache policy drbd-utils | awk '/Candidate:/ {print $2}')
	[ -n "$ver" ] && [ "$ver" != "(none)" ] || die "no drbd-utils package in the apt sources"
	dir=$CACHE/drbd-utils-$ver
	if [ ! -e "$dir/.unpacked" ]; then
		log "unpacking drbd-utils $ver"
		rm -rf "$dir" && mkdir -p "$dir/deb"
		(cd "$dir/deb" && apt-get download -qq "drbd-utils=$ver")
		dpkg-deb -x "$dir"/deb/*.deb "$dir/root"
		touch "$dir/.unpacked"
	fi
	DRBD_UTILS=$dir/root
}

unpack_source() {
	KVER=$(dpkg-query -W -f='${Version}' linux-source-6.12 | sed 's/-.*//')
	SRC=$CACHE/src/linux-$KVER
	if [ ! -e "$SRC/.unpacked" ]; then
		log "unpacking linux $KVER"
		rm -rf "$SRC" && mkdir -p "$SRC"
		tar -xJf /usr/src/linux-source-6.12.tar.xz -C "$SRC" --strip-components=1
		touch "$SRC/.unpacked"
	fi
}

kmake_args() {
	echo "LLVM=1 ARCH=x86_64 RUSTC=$RUSTC HOSTRUSTC=$RUSTC RUSTDOC=/usr/bin/rustdoc" \
		"BINDGEN=$BINDGEN CLIPPY_DRIVER=/usr/bin/clippy-driver"
}

build_key() {
	{
		echo "$KVER"
		cat "${FRAGMENTS[@]}"
		$RUSTC --version
		"$BINDGEN" --version
		clang --version | head -1
	} | sha256sum | cut -c1-12
}

build_kernel() {
	KDIR=$CACHE/build/$KVER-$(build_key)
	if [ -e "$KDIR/.built" ]; then
		log "kernel $KVER cached in $KDIR"
	else
		local args
		args=$(kmake_args)
		log "configuring kernel $KVER in $KDIR"
		rm -rf "$KDIR" && mkdir -p "$KDIR"
		# shellcheck disable=SC2086
		make -s -C "$SRC" O="$KDIR" $args tinyconfig >/dev/null
		"$SRC/scripts/kconfig/merge_config.sh" -m -O "$KDIR" "$KDIR/.config" "${FRAGMENTS[@]}" \
			>/dev/null
		# shellcheck disable=SC2086
		make -s -C "$SRC" O="$KDIR" $args olddefconfig >/dev/null
		# olddefconfig silently drops options whose dependencies fail (CONFIG_RUST when
		# rustc or bindgen is wrong), so every option the fragments set is checked, as the last
		# fragment that names it sets it.
		local line bad=0
		while IFS= read -r line; do
			case "$line" in
			CONFIG_*=*) grep -qxF "$line" "$KDIR/.config" || { log "lost: $line"; bad=1; } ;;
			"# CONFIG_"*" is not set")
				! grep -q "^${line:2:-11}=" "$KDIR/.config" || { log "lost: $line"; bad=1; } ;;
			esac
		done < <(awk '/^CONFIG_/ { k = $0; sub(/=.*/, "", k) }
			/^# CONFIG_.* is not set$/ { k = $2 }
			k { last[k] = $0; k = "" }
			END { for (k in last) print last[k] }' "${FRAGMENTS[@]}")
		[ $bad -eq 0 ] || die "kernel config lost lines of ${FRAGMENTS[*]} (see above)"
		log "building kernel $KVER (about 6 min on 2 cores)"
		# shellcheck disable=SC2086
		make -s -C "$SRC" O="$KDIR" $args -j"$(nproc)" bzImage modules
		touch "$KDIR/.built"
	fi
	ln -sfn "$KDIR" "$CACHE/$FLAVOUR"
}

print_env() {
	cat <<EOT
export DRBD_RS_CACHE='$CACHE'
export KDIR='$KDIR'
export KMAKE_ARGS='$(kmake_args)'
export DRBD_UTILS='$DRBD_UTILS'
EOT
}

mkdir -p "$CACHE"
if [ "${1:-}" = --env ]; then
	[ -e "$ENV_FILE" ] || die "nothing set up yet: run scripts/setup.sh (with --bench: for it)"
	cat "$ENV_FILE"
	exit 0
fi

install_packages
install_bindgen
fetch_drbd_utils
unpack_source
build_kernel
print_env >"$ENV_FILE"
log "ready: kernel in $KDIR"
