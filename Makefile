# SPDX-License-Identifier: GPL-2.0
#
# drbd-rs. `make demo` and `make check` set everything up themselves (scripts/setup.sh);
# `make KDIR=<kernel build dir>` builds drbd.ko against a kernel you already have.

# Set by scripts/setup.sh --env; given on the command line, KDIR wins.
KDIR ?= $(shell sed -n "s/^export KDIR='\(.*\)'/\1/p" $${DRBD_RS_CACHE:-$$HOME/.cache/drbd-rs}/env 2>/dev/null)
# Never rustup's rustc: the kernel was built with Debian's rustc-web (see Documentation/building.rst).
KMAKE_ARGS ?= LLVM=1 ARCH=x86_64 RUSTC=/usr/bin/rustc HOSTRUSTC=/usr/bin/rustc \
	RUSTDOC=/usr/bin/rustdoc CLIPPY_DRIVER=/usr/bin/clippy-driver \
	BINDGEN=$${DRBD_RS_CACHE:-$$HOME/.cache/drbd-rs}/tools/bin/bindgen

.PHONY: all modules clippy clean setup demo check test-host test-qemu fmt-check

all: modules

modules:
	@test -n "$(KDIR)" || { echo "no kernel: run scripts/setup.sh or pass KDIR=" >&2; exit 1; }
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMAKE_ARGS) modules

clippy:
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMAKE_ARGS) CLIPPY=1 modules

clean:
	$(MAKE) -C $(KDIR) M=$(CURDIR) $(KMAKE_ARGS) clean
	rm -f drbd_bindings_generated.rs

setup:
	scripts/setup.sh

demo: setup
	$(MAKE) modules
	tests/run demo

check: setup
	tests/run --all
