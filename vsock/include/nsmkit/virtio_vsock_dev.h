/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock guest side: the virtio-vsock device's packet handler (virtio 1.2, 5.10
 * "Socket Device"; header layout from <linux/virtio_vsock.h>).
 *
 * It holds the guest's stream connections, each tied to a host-side unix stream socket,
 * and moves bytes between them with the credit rules of the spec in both directions:
 *   - guest -> host: we advertise buf_alloc (VV_BUF_ALLOC) and fwd_cnt (bytes written to the
 *     host socket); a guest that sends past that credit has its connection reset;
 *   - host -> guest: we read from the host socket only while the guest's own buf_alloc and
 *     fwd_cnt leave room, and only into receive buffers it gave us.
 * No I/O happens here but on the connections' sockets (non-blocking) and through the two
 * virtqueues in guest memory; the network (who a guest reaches) is behind vv_ops, so tests
 * and fuzzers drive the handler from memory with socketpairs.
 */
#ifndef NSMKIT_VIRTIO_VSOCK_DEV_H
#define NSMKIT_VIRTIO_VSOCK_DEV_H

#include <linux/virtio_vsock.h>
#include <stdbool.h>
#include <stdint.h>

#include "nsmkit/virtq.h"

#define VV_HDR_SIZE 44               /* sizeof(struct virtio_vsock_hdr), packed */
#define VV_BUF_ALLOC (256 * 1024)    /* our receive buffer per connection */
#define VV_MAX_PKT (64 * 1024)       /* the largest payload of one packet (Linux's limit) */
#define VV_MAX_CONNS 256
#define VV_CTRL_MAX 1024             /* control packets waiting for receive buffers */
#define VV_CID_HOST 2
#define VV_CONNECT_TIMEOUT_MS 2000   /* a guest that neither accepts nor refuses (a real
                                      * vsock's default connect timeout) */

struct vv_ops {
    void *ctx;
    /* A guest connecting from its port gport to (cid, port): a connected, non-blocking
     * stream socket, or -errno (the guest gets a reset). */
    int (*connect)(void *ctx, uint32_t gport, uint64_t cid, uint32_t port);
    /* One line about a connection dropped or a packet refused (may be NULL). */
    void (*log)(void *ctx, int code, const char *msg);
};

enum vv_state { VV_CONNECTING, VV_ESTABLISHED, VV_CLOSING };

struct vv_conn {
    uint32_t gport;                  /* the guest's port */
    uint64_t pcid;                   /* the other end, as the guest sees it */
    uint32_t pport;
    int fd;                          /* the host-side stream socket (owned) */
    enum vv_state state;
    /* host -> guest: the guest's credit and what we sent */
    uint32_t peer_buf_alloc, peer_fwd_cnt, tx_cnt;
    /* guest -> host: what the guest sent, what reached fd, what we told the guest */
    uint32_t rx_cnt, fwd_cnt, fwd_cnt_sent;
    uint8_t *out;                    /* guest bytes not yet written to fd */
    size_t out_off, out_len;
    bool host_eof, guest_no_send, guest_no_rcv, shut_wr_done, credit_queued;
    uint64_t deadline_ms;            /* VV_CONNECTING: when the host program gives up */
};

struct vv_ctrl {
    uint64_t src_cid, dst_cid;
    uint32_t src_port, dst_port;
    uint16_t op;
    uint32_t flags;
};

struct vv_dev {
    uint64_t cid;
    const struct vq_mem *mem;
    struct vq *rx, *tx;
    struct vv_ops ops;
    struct vv_conn *conns[VV_MAX_CONNS];   /* slots; NULL when free */
    unsigned nconns;
    struct vv_ctrl ctrl[VV_CTRL_MAX];
    unsigned ctrl_head, ctrl_n;
    bool rx_starved;                 /* wanted a receive buffer, found none */
    bool tx_more;                    /* the tx queue still has chains (budget or backpressure) */
    uint64_t packets_refused;
    uint64_t now_ms;                 /* the caller's clock (monotonic ms), for deadlines */
};

void vv_init(struct vv_dev *d, uint64_t cid, const struct vq_mem *mem, struct vq *rx,
             struct vq *tx, const struct vv_ops *ops);
/* Closes every connection (their sockets) and forgets pending control packets. */
void vv_reset(struct vv_dev *d);

/* Takes packets from the tx queue (a bounded number per call: tx_more says whether to call
 * again). 0, or -VHOST_ERR_VQ_* when the queue broke (drop the guest). */
int vv_process_tx(struct vv_dev *d);
/* Sends waiting control packets into the rx queue. */
void vv_flush_ctrl(struct vv_dev *d);
/* One packet from the guest (header and payload pieces): 0 or the VHOST_ERR_PKT_* code of
 * why it was refused (the guest got a reset where the spec says so). */
int vv_handle_packet(struct vv_dev *d, const struct virtio_vsock_hdr *h,
                     const struct iovec *payload, unsigned npayload, size_t avail_len);

/* A host program connected to the guest's port gport from (cid, port): the guest gets a
 * REQUEST; on its RESPONSE "OK <port>\n" is written to fd (Firecracker's convention).
 * Takes fd (closed on failure). 0 or a VHOST_ERR_ code. */
int vv_host_connect(struct vv_dev *d, int fd, uint64_t cid, uint32_t port, uint32_t gport);

/* Host-initiated connections the guest has not answered by their deadline (now_ms +
 * VV_CONNECT_TIMEOUT_MS when made): closed (the host program sees EOF before OK, i.e.
 * ECONNRESET) and the guest told with a RST. Returns how many. */
unsigned vv_expire(struct vv_dev *d);

/* The poll events connection slot i wants (0: leave it out of poll). */
short vv_conn_events(const struct vv_dev *d, unsigned slot);
/* poll said revents for slot i. */
void vv_conn_event(struct vv_dev *d, unsigned slot, short revents);
/* The guest gave receive buffers. */
void vv_rx_kicked(struct vv_dev *d);

/* Credit the guest has for us: how many bytes we may still send on c. */
uint32_t vv_peer_credit(const struct vv_conn *c);

#endif /* NSMKIT_VIRTIO_VSOCK_DEV_H */
