/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C shims for what Rust cannot reach directly: static inline functions, macros and module
 * parameters. Each is a one-line forward to the kernel; the logic lives in Rust.
 */
#ifndef DRBD_RS_HELPERS_H
#define DRBD_RS_HELPERS_H

#include <linux/types.h>
#include <linux/spinlock_types.h>
#include <linux/blkdev.h>

struct module;
struct sk_buff;
struct genl_info;
struct genl_family;
struct netlink_callback;
struct gendisk;
struct blk_mq_tag_set;
struct queue_limits;
struct block_device;
struct request;
struct bio;
struct blk_mq_hw_ctx;
struct request_queue;
struct lock_class_key;
struct workqueue_struct;
struct task_struct;
struct socket;

/* module parameters, defined with module_param() in helpers.c */
unsigned int drbd_rs_param_minor_count(void);
bool drbd_rs_param_allow_oos(void);
unsigned int drbd_rs_param_protocol_version_max(void);
void drbd_rs_param_usermode_helper(char *buf, size_t len);

/* usermode helpers */
int drbd_rs_call_helper(const char *path, char **argv, char **envp);

/* THIS_MODULE and its srcversion, which modpost fills in */
struct module *drbd_rs_this_module(void);
const char *drbd_rs_srcversion(void);

/* generic netlink inlines */
struct sk_buff *drbd_rs_genlmsg_new(size_t payload);
void drbd_rs_genlmsg_end(struct sk_buff *skb, void *hdr);
int drbd_rs_genlmsg_reply(struct sk_buff *skb, struct genl_info *info);
void drbd_rs_nlmsg_free(struct sk_buff *skb);
int drbd_rs_genlmsg_multicast_events(const struct genl_family *family, struct sk_buff *skb);
unsigned int drbd_rs_skb_tailroom(const struct sk_buff *skb);
unsigned int drbd_rs_skb_len(const struct sk_buff *skb);

/* dumps: the family and the requester of a dump in progress */
const struct genl_family *drbd_rs_dump_family(struct netlink_callback *cb);
u32 drbd_rs_dump_portid(struct netlink_callback *cb);

/* block devices */
sector_t drbd_rs_bdev_nr_sectors(struct block_device *bdev);

/* blk-mq */
struct gendisk *drbd_rs_blk_mq_alloc_disk(struct blk_mq_tag_set *set, struct queue_limits *lim);
void *drbd_rs_rq_to_pdu(struct request *rq);
void drbd_rs_submit_bio_unplugged(struct bio *bio);
void drbd_rs_set_fq_lock_class(struct blk_mq_hw_ctx *hctx);
struct queue_limits drbd_rs_queue_limits_start_update(struct request_queue *q);

/* the submitter workqueue */
struct workqueue_struct *drbd_rs_alloc_submit_wq(void);
struct workqueue_struct *drbd_rs_alloc_events_wq(void);

/* kernel threads */
struct task_struct *drbd_rs_kthread_create(int (*fn)(void *), void *data, const char *name);
void drbd_rs_get_task_struct(struct task_struct *t);
void drbd_rs_thread_idle(void);
void drbd_rs_sleep_ms(unsigned int ms);
unsigned int drbd_rs_noio_save(void);
void drbd_rs_noio_restore(unsigned int flags);
unsigned long drbd_rs_msecs_to_jiffies(unsigned int ms);
unsigned long drbd_rs_jiffies(void);
unsigned int drbd_rs_hz(void);

/* kernel sockets */
int drbd_rs_sock_create_tcp(int family, struct socket **res);
void drbd_rs_sock_reuse(struct socket *sock);
void drbd_rs_sock_set_timeouts(struct socket *sock, long rcv, long snd);
void drbd_rs_sock_tune(struct socket *sock, unsigned int snd, unsigned int rcv);
int drbd_rs_sock_send(struct socket *sock, const void *buf, size_t len, bool more);
int drbd_rs_sock_recv(struct socket *sock, void *buf, size_t len);
int drbd_rs_sock_recv_some(struct socket *sock, void *buf, size_t len);
int drbd_rs_sock_recv_or_quickack(struct socket *sock, void *buf, size_t len);
void drbd_rs_sock_shutdown(struct socket *sock);
int drbd_rs_sock_send_rq(struct socket *sock, struct request *rq, bool zero_copy);
int drbd_rs_sock_send_pages(struct socket *sock, struct page **pages, unsigned int n,
			    unsigned int len);
int drbd_rs_sock_recv_rq(struct socket *sock, struct request *rq);
void drbd_rs_sock_noio(struct socket *sock);

/* cram-hmac */
int drbd_rs_hmac(const char *alg, const u8 *key, unsigned int key_len, const u8 *data,
		 unsigned int len, u8 *out, unsigned int out_len);

struct page;
/* data-integrity-alg */
int drbd_rs_digest_rq(const char *alg, struct request *rq, u8 *out, unsigned int out_len);
int drbd_rs_digest_pages(const char *alg, struct page **pages, unsigned int nr, unsigned int len,
			 u8 *out, unsigned int out_len);

/* peer writes */
struct page;
void *drbd_rs_page_address(struct page *page);
struct bio *drbd_rs_peer_bio(struct block_device *bdev, sector_t sector, unsigned int opf,
			     struct page **pages, unsigned int nr, unsigned int size,
			     void (*end)(struct bio *), void *private);

/* spinlocks with interrupts disabled */
void drbd_rs_spin_lock_init(spinlock_t *lock, const char *name, struct lock_class_key *key);
unsigned long drbd_rs_spin_lock_irqsave(spinlock_t *lock);
void drbd_rs_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);

#endif
