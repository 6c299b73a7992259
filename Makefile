# SPDX-License-Identifier: GPL-2.0
#
# drbd-rs. `make demo` and `make check` set everything up themselves (scripts/setup.sh);
# `make KDIR=<kernel build dir>` builds drbd.ko against a kernel you already have.

# From the last scripts/setup.sh run (its --env output); on the command line or in the
# environment, KDIR and KMAKE_ARGS win. KMAKE_ARGS names the compilers the kernel was built with:
# never rustup's rustc (see Documentation/building.rst).
SETUP_ENV := $(or $(DRBD_RS_CACHE),$(HOME)/.cache/drbd-rs)/env
setup_var = $(shell sed -n "s/^export $(1)='\(.*\)'/\1/p" $(SETUP_ENV) 2>/dev/null)
KDIR ?= $(call setup_var,KDIR)
KMAKE_ARGS ?= $(or $(call setup_var,KMAKE_ARGS),LLVM=1)

.PHONY: all modules clippy clean setup demo check

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
	tests/run demo

check: setup
	tests/run --all
