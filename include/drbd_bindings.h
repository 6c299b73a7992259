/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Input of drbd-rs's own bindgen run (see Kbuild): the kernel APIs that the 6.12 `kernel` crate
 * does not bind, and the C shims of src/sys/helpers.c. Only src/sys/ uses the result.
 */
#include <linux/blkdev.h>
#include <linux/blk-mq.h>
#include <linux/bio.h>
#include <linux/proc_fs.h>
#include <linux/seq_file.h>
#include <linux/printk.h>
#include <linux/random.h>
#include <linux/net.h>
#include <linux/kthread.h>
#include <linux/capability.h>
#include <net/genetlink.h>
#include <linux/drbd_genl_api.h>

#include "drbd_helpers.h"

/* Constants bindgen cannot evaluate (macros built from other macros). */
const gfp_t DRBD_RS_GFP_NOIO = GFP_NOIO;
