// SPDX-License-Identifier: GPL-2.0
/*
 * C shims of drbd-rs: module parameters and static inline kernel helpers that Rust cannot call.
 * No logic here; see include/drbd_helpers.h.
 */
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/blk-mq.h>
#include <linux/highmem.h>
#include <linux/bvec.h>
#include <linux/uio.h>
#include <crypto/hash.h>
#include <linux/sched.h>
#include <linux/workqueue.h>
#include <linux/kthread.h>
#include <linux/umh.h>
#include <linux/net.h>
#include <linux/socket.h>
#include <linux/tcp.h>
#include <net/sock.h>
#include <net/net_namespace.h>
#include <linux/sched/task.h>
#include <linux/sched/mm.h>
#include <net/genetlink.h>

#include "drbd_helpers.h"

/*
 * The C module's MODULE_VERSION: drbd-utils falls back to `modinfo -F version drbd`, and it makes
 * modpost emit the srcversion that /proc/drbd shows.
 */
MODULE_VERSION("8.4.11");

/* Parameters as the C module names and types them (drivers/block/drbd/drbd_main.c). */
static unsigned int minor_count = 32;
module_param(minor_count, uint, 0444);
MODULE_PARM_DESC(minor_count, "Approximate number of drbd devices (1-255)");

static char usermode_helper[80] = "/sbin/drbdadm";
module_param_string(usermode_helper, usermode_helper, sizeof(usermode_helper), 0644);

static int proc_details;
module_param(proc_details, int, 0644);

static bool disable_sendpage;
module_param(disable_sendpage, bool, 0644);

static bool allow_oos;
MODULE_PARM_DESC(allow_oos, "DONT USE!");
module_param(allow_oos, bool, 0);

/*
 * Not a parameter of the C module: the highest protocol version drbd-rs offers its peers
 * (86-101), so that older dialects can be tried against the C module.
 */
static unsigned int protocol_version_max = 101;
module_param(protocol_version_max, uint, 0644);
MODULE_PARM_DESC(protocol_version_max,
		 "drbd-rs: the highest protocol version offered (86-101), for interoperability tests");

unsigned int drbd_rs_param_minor_count(void) { return READ_ONCE(minor_count); }
bool drbd_rs_param_allow_oos(void) { return READ_ONCE(allow_oos); }
unsigned int drbd_rs_param_protocol_version_max(void) { return READ_ONCE(protocol_version_max); }

/* the usermode_helper parameter, copied under the parameter lock (sysfs may change it) */
void drbd_rs_param_usermode_helper(char *buf, size_t len)
{
	kernel_param_lock(THIS_MODULE);
	strscpy(buf, usermode_helper, len);
	kernel_param_unlock(THIS_MODULE);
}

/* call_usermodehelper(), waiting for the helper's exit: its wait status, or a negative errno */
int drbd_rs_call_helper(const char *path, char **argv, char **envp)
{
	return call_usermodehelper(path, argv, envp, UMH_WAIT_PROC);
}

struct module *drbd_rs_this_module(void) { return THIS_MODULE; }
const char *drbd_rs_srcversion(void) { return THIS_MODULE->srcversion; }

struct sk_buff *drbd_rs_genlmsg_new(size_t payload)
{
	return genlmsg_new(payload, GFP_KERNEL);
}

void drbd_rs_genlmsg_end(struct sk_buff *skb, void *hdr) { genlmsg_end(skb, hdr); }

int drbd_rs_genlmsg_reply(struct sk_buff *skb, struct genl_info *info)
{
	return genlmsg_reply(skb, info);
}

void drbd_rs_nlmsg_free(struct sk_buff *skb) { nlmsg_free(skb); }

/* consumes skb; -ESRCH when nobody listens */
int drbd_rs_genlmsg_multicast_events(const struct genl_family *family, struct sk_buff *skb)
{
	return genlmsg_multicast(family, skb, 0, 0, GFP_KERNEL);
}

unsigned int drbd_rs_skb_tailroom(const struct sk_buff *skb) { return skb_tailroom(skb); }
unsigned int drbd_rs_skb_len(const struct sk_buff *skb) { return skb->len; }

const struct genl_family *drbd_rs_dump_family(struct netlink_callback *cb)
{
	return genl_info_dump(cb)->family;
}

u32 drbd_rs_dump_portid(struct netlink_callback *cb) { return NETLINK_CB(cb->skb).portid; }

/* blk_mq_alloc_disk() is a macro with a static lockdep key per call site */
struct gendisk *drbd_rs_blk_mq_alloc_disk(struct blk_mq_tag_set *set, struct queue_limits *lim)
{
	return blk_mq_alloc_disk(set, lim, NULL);
}

sector_t drbd_rs_bdev_nr_sectors(struct block_device *bdev) { return bdev_nr_sectors(bdev); }

/* the flush lock of our queues, a class of its own: see init_hctx() in blk.rs */
void drbd_rs_set_fq_lock_class(struct blk_mq_hw_ctx *hctx)
{
	static struct lock_class_key key;

	blk_mq_hctx_set_fq_lock_class(hctx, &key);
}

/*
 * submit_bio() from queue_rq(): blk-mq may be flushing the submitter's plug list while it calls
 * us, and a bio of ours would join that very list (current->plug) under its iterator. Submit
 * without the plug, as if from a context of our own.
 */
void drbd_rs_submit_bio_unplugged(struct bio *bio)
{
	struct blk_plug *plug = current->plug;

	current->plug = NULL;
	submit_bio(bio);
	current->plug = plug;
}

void *drbd_rs_rq_to_pdu(struct request *rq) { return blk_mq_rq_to_pdu(rq); }

struct queue_limits drbd_rs_queue_limits_start_update(struct request_queue *q)
{
	return queue_limits_start_update(q);
}

/* spinlocks taken with interrupts off, for state shared with bio completions */
void drbd_rs_spin_lock_init(spinlock_t *lock, const char *name, struct lock_class_key *key)
{
#ifdef CONFIG_DEBUG_SPINLOCK
	__raw_spin_lock_init(spinlock_check(lock), name, key, LD_WAIT_CONFIG);
#else
	spin_lock_init(lock);
#endif
}

unsigned long drbd_rs_spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

void drbd_rs_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	spin_unlock_irqrestore(lock, flags);
}

/* alloc_ordered_workqueue() is a macro */
struct workqueue_struct *drbd_rs_alloc_submit_wq(void)
{
	return alloc_ordered_workqueue("drbd_submit", WQ_MEM_RECLAIM);
}

struct workqueue_struct *drbd_rs_alloc_events_wq(void)
{
	return alloc_workqueue("drbd_events", WQ_MEM_RECLAIM, 0);
}

/* kthread_create() is a macro; the name is no format */
struct task_struct *drbd_rs_kthread_create(int (*fn)(void *), void *data, const char *name)
{
	return kthread_create(fn, data, "%s", name);
}

void drbd_rs_get_task_struct(struct task_struct *t) { get_task_struct(t); }

/* a thread whose work is done waits to be stopped */
void drbd_rs_thread_idle(void)
{
	set_current_state(TASK_INTERRUPTIBLE);
	if (!kthread_should_stop())
		schedule();
	__set_current_state(TASK_RUNNING);
}

/* sockets: thin wrappers of what is inline, a macro, or struct fields */
int drbd_rs_sock_create_tcp(int family, struct socket **res)
{
	return sock_create_kern(&init_net, family, SOCK_STREAM, IPPROTO_TCP, res);
}

/* SO_REUSEADDR, as the C module sets it on its listening and connecting sockets */
void drbd_rs_sock_reuse(struct socket *sock)
{
	sock->sk->sk_reuse = SK_CAN_REUSE;
}

void drbd_rs_sock_set_timeouts(struct socket *sock, long rcv, long snd)
{
	sock->sk->sk_rcvtimeo = rcv;
	sock->sk->sk_sndtimeo = snd;
}

/* drbd_setbufsize() and TCP_NODELAY, as the C module sets them */
void drbd_rs_sock_tune(struct socket *sock, unsigned int snd, unsigned int rcv)
{
	lock_sock(sock->sk);
	if (snd) {
		sock->sk->sk_sndbuf = snd;
		sock->sk->sk_userlocks |= SOCK_SNDBUF_LOCK;
	}
	if (rcv) {
		sock->sk->sk_rcvbuf = rcv;
		sock->sk->sk_userlocks |= SOCK_RCVBUF_LOCK;
	}
	release_sock(sock->sk);
	tcp_sock_set_nodelay(sock->sk);
}

int drbd_rs_sock_send(struct socket *sock, const void *buf, size_t len, bool more)
{
	struct kvec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0) };

	return kernel_sendmsg(sock, &msg, &iov, 1, len);
}

int drbd_rs_sock_recv(struct socket *sock, void *buf, size_t len)
{
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };

	return kernel_recvmsg(sock, &msg, &iov, 1, len, MSG_WAITALL | MSG_NOSIGNAL);
}

/* what has arrived, at least one byte (or the receive timeout), at most len */
int drbd_rs_sock_recv_some(struct socket *sock, void *buf, size_t len)
{
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };

	return kernel_recvmsg(sock, &msg, &iov, 1, len, MSG_NOSIGNAL);
}

/*
 * drbd_recv_header_maybe_unplug(): what has arrived, without waiting; with nothing there, the
 * peer learns at once what we received so far (a quick ACK rather than a delayed one)
 */
int drbd_rs_sock_recv_or_quickack(struct socket *sock, void *buf, size_t len)
{
	struct kvec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
	int n = kernel_recvmsg(sock, &msg, &iov, 1, len, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n == -EAGAIN)
		tcp_sock_set_quickack(sock->sk, 2);
	return n;
}

void drbd_rs_sock_shutdown(struct socket *sock)
{
	kernel_sock_shutdown(sock, SHUT_RDWR);
}

/* an interruptible sleep that kthread_stop() ends early */
void drbd_rs_sleep_ms(unsigned int ms)
{
	set_current_state(TASK_INTERRUPTIBLE);
	/* kthread_should_stop() is for kernel threads only: a command sleeps too */
	if (!(current->flags & PF_KTHREAD) || !kthread_should_stop())
		schedule_timeout(msecs_to_jiffies(ms));
	__set_current_state(TASK_RUNNING);
}

unsigned long drbd_rs_msecs_to_jiffies(unsigned int ms) { return msecs_to_jiffies(ms); }

/* allocations of the I/O path must not recurse into I/O (memalloc_noio_save() is inline) */
unsigned int drbd_rs_noio_save(void) { return memalloc_noio_save(); }
void drbd_rs_noio_restore(unsigned int flags) { memalloc_noio_restore(flags); }

/*
 * _drbd_send_page(): `len` bytes of a page from `off`, with MSG_MORE if `more`. With
 * `zero_copy` the page itself goes into the socket (MSG_SPLICE_PAGES), which keeps a
 * reference until TCP is done with it; a page that cannot be spliced (slab) is copied.
 */
static int drbd_rs_send_page(struct socket *sock, struct page *page, unsigned int off,
			     unsigned int len, bool more, bool zero_copy)
{
	struct msghdr msg = { .msg_flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0) };
	struct bio_vec bv;
	int err = 0;

	if (zero_copy && !disable_sendpage && sendpage_ok(page))
		msg.msg_flags |= MSG_SPLICE_PAGES;
	while (len) {
		int n;

		bvec_set_page(&bv, page, len, off);
		iov_iter_bvec(&msg.msg_iter, ITER_SOURCE, &bv, 1, len);
		n = sock_sendmsg(sock, &msg);
		if (n <= 0) {
			err = n < 0 ? n : -EPIPE;
			break;
		}
		off += n;
		len -= n;
	}
	return err;
}

/*
 * replication: the data of a write request, sent from its bios' pages; all but the last with
 * MSG_MORE, as C does: the last must not wait for more (corked, it would wait for the peer's
 * ACK of the segments before it, or for the probe timer). `zero_copy` for protocols B and C
 * without a digest (_drbd_send_zc_bio()): the request ends only once the peer has the data.
 */
int drbd_rs_sock_send_rq(struct socket *sock, struct request *rq, bool zero_copy)
{
	struct req_iterator iter;
	struct bio_vec bv;
	unsigned int left = blk_rq_bytes(rq);
	int err = 0;

	rq_for_each_segment(bv, rq, iter) {
		left -= min(left, bv.bv_len);
		err = drbd_rs_send_page(sock, bv.bv_page, bv.bv_offset, bv.bv_len, left, zero_copy);
		if (err)
			break;
	}
	return err;
}

/* a block read for the peer, `len` bytes in `n` whole pages of ours, sent without copying */
int drbd_rs_sock_send_pages(struct socket *sock, struct page **pages, unsigned int n,
			    unsigned int len)
{
	unsigned int i;
	int err = 0;

	for (i = 0; i < n && len; i++) {
		unsigned int part = min_t(unsigned int, len, PAGE_SIZE);

		len -= part;
		err = drbd_rs_send_page(sock, pages[i], 0, part, len, true);
		if (err)
			break;
	}
	return err;
}

/* a diskless read: the peer's data received into the read request's bios' pages */
int drbd_rs_sock_recv_rq(struct socket *sock, struct request *rq)
{
	struct req_iterator iter;
	struct bio_vec bv;
	int err = 0;

	rq_for_each_segment(bv, rq, iter) {
		void *addr = kmap_local_page(bv.bv_page);
		size_t off = 0;

		while (off < bv.bv_len) {
			struct kvec iov = {
				.iov_base = addr + bv.bv_offset + off,
				.iov_len = bv.bv_len - off,
			};
			struct msghdr msg = { .msg_flags = MSG_NOSIGNAL };
			int n = kernel_recvmsg(sock, &msg, &iov, 1, iov.iov_len,
					       MSG_WAITALL | MSG_NOSIGNAL);

			if (n <= 0) {
				err = n < 0 ? n : -ECONNRESET;
				break;
			}
			off += n;
		}
		kunmap_local(addr);
		if (err)
			break;
	}
	return err;
}

/* a peer write's buffer pages are lowmem (alloc_page without __GFP_HIGHMEM) */
void *drbd_rs_page_address(struct page *page)
{
	return page_address(page);
}

/* the allocations of a replication socket must not recurse into block I/O */
void drbd_rs_sock_noio(struct socket *sock)
{
	sock->sk->sk_allocation = GFP_NOIO;
	sock->sk->sk_use_task_frag = false;
}

/* a bio of `opf` over `nr` pages (none for discard and write-zeroes), ending in `end` */
struct bio *drbd_rs_peer_bio(struct block_device *bdev, sector_t sector, unsigned int opf,
			     struct page **pages, unsigned int nr, unsigned int size,
			     void (*end)(struct bio *), void *private)
{
	struct bio *bio = bio_alloc(bdev, nr, opf, GFP_NOIO);
	unsigned int i, left = size;

	if (!bio)
		return NULL;
	bio->bi_iter.bi_sector = sector;
	for (i = 0; i < nr; i++) {
		unsigned int len = min_t(unsigned int, left, PAGE_SIZE);

		if (bio_add_page(bio, pages[i], len, 0) != len) {
			bio_put(bio);
			return NULL;
		}
		left -= len;
	}
	if (!nr)
		bio->bi_iter.bi_size = size;
	bio->bi_end_io = end;
	bio->bi_private = private;
	return bio;
}

/* the time, for resync rates and progress */
unsigned long drbd_rs_jiffies(void) { return jiffies; }
unsigned int drbd_rs_hz(void) { return HZ; }

/* cram-hmac: HMAC with `alg` ("sha1", ...) keyed with `key` over `data`, into `out`; returns the
 * digest size, or a negative errno (-ENOENT: no such algorithm) */
int drbd_rs_hmac(const char *alg, const u8 *key, unsigned int key_len, const u8 *data,
		 unsigned int len, u8 *out, unsigned int out_len)
{
	char name[CRYPTO_MAX_ALG_NAME];
	struct crypto_shash *tfm;
	int err, size;

	if (snprintf(name, sizeof(name), "hmac(%s)", alg) >= sizeof(name))
		return -EINVAL;
	tfm = crypto_alloc_shash(name, 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	size = crypto_shash_digestsize(tfm);
	err = -EINVAL;
	if (size > out_len)
		goto out;
	err = crypto_shash_setkey(tfm, key, key_len);
	if (!err)
		err = crypto_shash_tfm_digest(tfm, data, len, out);
	if (!err)
		err = size;
out:
	crypto_free_shash(tfm);
	return err;
}

/* data-integrity-alg: the digest of `alg` over what `feed` hands to the hash, into `out`;
 * returns the digest size or a negative errno */
static int drbd_rs_digest(const char *alg, u8 *out, unsigned int out_len,
			  int (*feed)(struct shash_desc *desc, void *arg), void *arg)
{
	struct crypto_shash *tfm = crypto_alloc_shash(alg, 0, 0);
	int err = -EINVAL;

	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	if (crypto_shash_digestsize(tfm) <= out_len) {
		SHASH_DESC_ON_STACK(desc, tfm);

		desc->tfm = tfm;
		err = crypto_shash_init(desc);
		if (!err)
			err = feed(desc, arg);
		if (!err)
			err = crypto_shash_final(desc, out);
		shash_desc_zero(desc);
		if (!err)
			err = crypto_shash_digestsize(tfm);
	}
	crypto_free_shash(tfm);
	return err;
}

/* a request's data */
static int drbd_rs_feed_rq(struct shash_desc *desc, void *arg)
{
	struct request *rq = arg;
	struct req_iterator iter;
	struct bio_vec bv;
	int err = 0;

	rq_for_each_segment(bv, rq, iter) {
		void *addr = kmap_local_page(bv.bv_page);

		err = crypto_shash_update(desc, addr + bv.bv_offset, bv.bv_len);
		kunmap_local(addr);
		if (err)
			break;
	}
	return err;
}

/* `len` bytes in lowmem pages */
struct drbd_rs_pages {
	struct page **pages;
	unsigned int nr, len;
};

static int drbd_rs_feed_pages(struct shash_desc *desc, void *arg)
{
	struct drbd_rs_pages *p = arg;
	unsigned int i, len = p->len;
	int err = 0;

	for (i = 0; i < p->nr && !err && len; i++) {
		unsigned int n = min_t(unsigned int, len, PAGE_SIZE);

		err = crypto_shash_update(desc, page_address(p->pages[i]), n);
		len -= n;
	}
	return err;
}

int drbd_rs_digest_rq(const char *alg, struct request *rq, u8 *out, unsigned int out_len)
{
	return drbd_rs_digest(alg, out, out_len, drbd_rs_feed_rq, rq);
}

int drbd_rs_digest_pages(const char *alg, struct page **pages, unsigned int nr, unsigned int len,
			 u8 *out, unsigned int out_len)
{
	struct drbd_rs_pages p = { .pages = pages, .nr = nr, .len = len };

	return drbd_rs_digest(alg, out, out_len, drbd_rs_feed_pages, &p);
}
