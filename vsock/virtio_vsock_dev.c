/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock guest side: the virtio-vsock packet handler (virtio_vsock_dev.h).
 *
 * Connection rules follow the virtio spec's socket device (5.10.6): REQUEST opens,
 * RESPONSE accepts, RST refuses or aborts, SHUTDOWN closes one or both directions (both:
 * we answer with RST once the guest's bytes reached the host, which is what lets the
 * guest's close() complete), RW carries bytes within credit, CREDIT_UPDATE and
 * CREDIT_REQUEST exchange buf_alloc and fwd_cnt. Anything for no connection gets a RST,
 * as the spec asks of a device. Guest-controlled numbers are bounded before use: the
 * header's len against the buffers and VV_MAX_PKT, and the bytes in flight against our
 * buf_alloc.
 */
#include "nsmkit/virtio_vsock_dev.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nsmkit/vhost_codes.h"

_Static_assert(sizeof(struct virtio_vsock_hdr) == VV_HDR_SIZE, "virtio_vsock_hdr is 44 bytes");

#define TX_BUDGET 256  /* packets taken per vv_process_tx call */
#define RX_BUDGET 64   /* packets given per connection per readable event */

static void say(struct vv_dev *d, int code, const struct vv_conn *c, const char *what)
{
    d->packets_refused++;
    if (!d->ops.log)
        return;
    char line[256];
    if (c)
        snprintf(line, sizeof line, "%s (guest port %u, peer %llu:%u)", what, c->gport,
                 (unsigned long long)c->pcid, c->pport);
    else
        snprintf(line, sizeof line, "%s", what);
    d->ops.log(d->ops.ctx, code, line);
}

void vv_init(struct vv_dev *d, uint64_t cid, const struct vq_mem *mem, struct vq *rx,
             struct vq *tx, const struct vv_ops *ops)
{
    memset(d, 0, sizeof *d);
    d->cid = cid;
    d->mem = mem;
    d->rx = rx;
    d->tx = tx;
    d->ops = *ops;
}

static void queue_ctrl(struct vv_dev *d, uint64_t src_cid, uint32_t src_port, uint64_t dst_cid,
                       uint32_t dst_port, uint16_t op, uint32_t flags)
{
    if (d->ctrl_n >= VV_CTRL_MAX)
        return; /* cannot happen: tx stops taking packets well before (backpressure) */
    struct vv_ctrl *k = &d->ctrl[(d->ctrl_head + d->ctrl_n) % VV_CTRL_MAX];
    *k = (struct vv_ctrl){ src_cid, dst_cid, src_port, dst_port, op, flags };
    d->ctrl_n++;
}

/* A control packet from the host side of c to the guest. */
static void ctrl_to_guest(struct vv_dev *d, const struct vv_conn *c, uint16_t op, uint32_t flags)
{
    queue_ctrl(d, c->pcid, c->pport, d->cid, c->gport, op, flags);
}

static void reply_rst(struct vv_dev *d, const struct virtio_vsock_hdr *h)
{
    if (h->op == VIRTIO_VSOCK_OP_RST)
        return; /* never answer a reset with a reset */
    queue_ctrl(d, h->dst_cid, h->dst_port, d->cid, h->src_port, VIRTIO_VSOCK_OP_RST, 0);
}

static int find_slot(const struct vv_dev *d, uint32_t gport, uint64_t pcid, uint32_t pport)
{
    for (unsigned i = 0; i < VV_MAX_CONNS; i++) {
        const struct vv_conn *c = d->conns[i];
        if (c && c->gport == gport && c->pcid == pcid && c->pport == pport)
            return (int)i;
    }
    return -1;
}

static void drop_slot(struct vv_dev *d, unsigned slot, bool rst_guest)
{
    struct vv_conn *c = d->conns[slot];
    if (!c)
        return;
    if (rst_guest)
        ctrl_to_guest(d, c, VIRTIO_VSOCK_OP_RST, 0);
    if (c->fd >= 0)
        close(c->fd);
    free(c->out);
    free(c);
    d->conns[slot] = NULL;
    d->nconns--;
}

static int add_conn(struct vv_dev *d, int fd, uint32_t gport, uint64_t pcid, uint32_t pport,
                    enum vv_state state)
{
    if (d->nconns >= VV_MAX_CONNS)
        return -1;
    struct vv_conn *c = calloc(1, sizeof *c);
    uint8_t *out = malloc(VV_BUF_ALLOC);
    if (!c || !out) {
        free(c);
        free(out);
        return -1;
    }
    c->gport = gport;
    c->pcid = pcid;
    c->pport = pport;
    c->fd = fd;
    c->state = state;
    c->out = out;
    for (unsigned i = 0; i < VV_MAX_CONNS; i++) {
        if (!d->conns[i]) {
            d->conns[i] = c;
            d->nconns++;
            return (int)i;
        }
    }
    free(out); /* unreachable: nconns < VV_MAX_CONNS means a free slot */
    free(c);
    return -1;
}

void vv_reset(struct vv_dev *d)
{
    for (unsigned i = 0; i < VV_MAX_CONNS; i++)
        drop_slot(d, i, false);
    d->ctrl_n = 0;
    d->ctrl_head = 0;
    d->rx_starved = false;
    d->tx_more = false;
}

uint32_t vv_peer_credit(const struct vv_conn *c)
{
    uint32_t in_flight = c->tx_cnt - c->peer_fwd_cnt;
    return in_flight >= c->peer_buf_alloc ? 0 : c->peer_buf_alloc - in_flight;
}

static void fill_hdr(struct virtio_vsock_hdr *h, const struct vv_dev *d, struct vv_conn *c,
                     uint64_t src_cid, uint32_t src_port, uint32_t dst_port, uint16_t op,
                     uint32_t flags, uint32_t len)
{
    memset(h, 0, sizeof *h);
    h->src_cid = src_cid;
    h->dst_cid = d->cid;
    h->src_port = src_port;
    h->dst_port = dst_port;
    h->len = len;
    h->type = VIRTIO_VSOCK_TYPE_STREAM;
    h->op = op;
    h->flags = flags;
    h->buf_alloc = VV_BUF_ALLOC;
    if (c) { /* every packet tells the guest how far we forwarded */
        h->fwd_cnt = c->fwd_cnt;
        c->fwd_cnt_sent = c->fwd_cnt;
    }
}

/* Takes one receive buffer: 1, 0 none (rx_starved set), -1 the guest gave a bad one. */
static int pop_rx(struct vv_dev *d, struct vq_chain *ch)
{
    int r = vq_pop(d->rx, d->mem, ch);
    if (r == 0)
        d->rx_starved = true;
    if (r <= 0)
        return r < 0 ? -1 : 0;
    if (ch->nout || ch->in_len < VV_HDR_SIZE) {
        say(d, VHOST_ERR_PKT_RX_BUF, NULL, "a receive buffer is readable or too short");
        vq_push(d->rx, ch->head, 0);
        return -1;
    }
    return 1;
}

void vv_flush_ctrl(struct vv_dev *d)
{
    struct vq_chain ch;
    while (d->ctrl_n) {
        if (pop_rx(d, &ch) <= 0) {
            if (d->rx->broken || d->rx_starved)
                return;
            continue; /* a bad buffer was given back: try the next */
        }
        const struct vv_ctrl *k = &d->ctrl[d->ctrl_head];
        int slot = find_slot(d, k->dst_port, k->src_cid, k->src_port);
        struct vv_conn *c = slot >= 0 ? d->conns[slot] : NULL;
        struct virtio_vsock_hdr h;
        fill_hdr(&h, d, c, k->src_cid, k->src_port, k->dst_port, k->op, k->flags, 0);
        if (c && k->op == VIRTIO_VSOCK_OP_CREDIT_UPDATE)
            c->credit_queued = false;
        iov_from_buf(ch.in, ch.nin, 0, &h, sizeof h);
        vq_push(d->rx, ch.head, VV_HDR_SIZE);
        d->ctrl_head = (d->ctrl_head + 1) % VV_CTRL_MAX;
        d->ctrl_n--;
    }
}

/* Writes what the guest sent to the host socket; closes or half-closes when the guest
 * said so and everything is written. */
static void flush_out(struct vv_dev *d, unsigned slot)
{
    struct vv_conn *c = d->conns[slot];
    while (c->out_len > c->out_off) {
        ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
                         MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (n <= 0) {
            say(d, 0, c, "the host side closed the connection while the guest was sending");
            drop_slot(d, slot, true);
            return;
        }
        c->out_off += (size_t)n;
        c->fwd_cnt += (uint32_t)n;
    }
    c->out_off = c->out_len = 0;
    if (c->state == VV_CLOSING) {
        drop_slot(d, slot, true);
        return;
    }
    if (c->guest_no_send && !c->shut_wr_done) {
        shutdown(c->fd, SHUT_WR);
        c->shut_wr_done = true;
    }
    if (c->state == VV_ESTABLISHED && !c->credit_queued &&
        c->fwd_cnt - c->fwd_cnt_sent >= VV_BUF_ALLOC / 2) {
        ctrl_to_guest(d, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
        c->credit_queued = true;
    }
}

static int handle_rw(struct vv_dev *d, unsigned slot, const struct virtio_vsock_hdr *h,
                     const struct iovec *pay, unsigned npay)
{
    struct vv_conn *c = d->conns[slot];
    if (c->state != VV_ESTABLISHED || c->guest_no_send) {
        say(d, VHOST_ERR_PKT_OP, c, "data on a connection not open for it: reset");
        drop_slot(d, slot, true);
        return VHOST_ERR_PKT_OP;
    }
    uint32_t held = c->rx_cnt - c->fwd_cnt; /* bytes of the guest's we hold */
    if (h->len > VV_BUF_ALLOC - held) {
        say(d, VHOST_ERR_PKT_CREDIT, c, "the guest sent past its credit: reset");
        drop_slot(d, slot, true);
        return VHOST_ERR_PKT_CREDIT;
    }
    c->rx_cnt += h->len;
    size_t sent = 0;
    if (c->out_len == c->out_off && h->len) {
        /* nothing queued: straight from guest memory to the host socket, no copy here */
        struct iovec iov[VQ_MAX_IOV];
        struct msghdr mh = { .msg_iov = iov,
                             .msg_iovlen = iov_slice(pay, npay, 0, h->len, iov, VQ_MAX_IOV) };
        ssize_t n = sendmsg(c->fd, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
            say(d, 0, c, "the host side closed the connection while the guest was sending");
            drop_slot(d, slot, true);
            return 0;
        }
        sent = n > 0 ? (size_t)n : 0;
        c->fwd_cnt += (uint32_t)sent;
        c->out_off = c->out_len = 0;
    }
    if (c->out_off && c->out_len + (h->len - sent) > VV_BUF_ALLOC) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
    }
    /* held == out_len - out_off, so out_len + len <= VV_BUF_ALLOC after compaction */
    struct iovec rest[VQ_MAX_IOV];
    unsigned nrest = iov_slice(pay, npay, sent, h->len - sent, rest, VQ_MAX_IOV);
    c->out_len += iov_to_buf(rest, nrest, 0, c->out + c->out_len, h->len - sent);
    flush_out(d, slot);
    return 0;
}

static int handle_shutdown(struct vv_dev *d, unsigned slot, uint32_t flags)
{
    struct vv_conn *c = d->conns[slot];
    if (flags & VIRTIO_VSOCK_SHUTDOWN_RCV)
        c->guest_no_rcv = true;
    if (flags & VIRTIO_VSOCK_SHUTDOWN_SEND)
        c->guest_no_send = true;
    if (c->guest_no_rcv && c->guest_no_send)
        c->state = VV_CLOSING; /* reset once the guest's bytes are written */
    flush_out(d, slot);
    return 0;
}

static int handle_response(struct vv_dev *d, unsigned slot)
{
    struct vv_conn *c = d->conns[slot];
    if (c->state != VV_CONNECTING) {
        say(d, VHOST_ERR_PKT_OP, c, "RESPONSE on an open connection: reset");
        drop_slot(d, slot, true);
        return VHOST_ERR_PKT_OP;
    }
    /* Firecracker's convention: the host program learns its port; the stream is fresh,
     * so these few bytes fit its socket buffer at once. */
    char line[24];
    int n = snprintf(line, sizeof line, "OK %u\n", c->pport);
    if (send(c->fd, line, (size_t)n, MSG_NOSIGNAL | MSG_DONTWAIT) != n) {
        drop_slot(d, slot, true);
        return 0;
    }
    c->state = VV_ESTABLISHED;
    return 0;
}

static int handle_request(struct vv_dev *d, const struct virtio_vsock_hdr *h)
{
    if (d->nconns >= VV_MAX_CONNS) {
        reply_rst(d, h);
        say(d, VHOST_ERR_PKT_TOO_MANY, NULL, "too many connections: the guest's REQUEST reset");
        return VHOST_ERR_PKT_TOO_MANY;
    }
    int fd = h->dst_cid == d->cid ? -ECONNREFUSED
                                  : d->ops.connect(d->ops.ctx, h->src_port, h->dst_cid, h->dst_port);
    if (fd < 0) {
        reply_rst(d, h);
        return VHOST_ERR_PKT_REFUSED;
    }
    int slot = add_conn(d, fd, h->src_port, h->dst_cid, h->dst_port, VV_ESTABLISHED);
    if (slot < 0) {
        close(fd);
        reply_rst(d, h);
        return VHOST_ERR_PKT_TOO_MANY;
    }
    struct vv_conn *c = d->conns[slot];
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    ctrl_to_guest(d, c, VIRTIO_VSOCK_OP_RESPONSE, 0);
    return 0;
}

/* The header's own checks, before any connection is looked at. */
static int check_hdr(struct vv_dev *d, const struct virtio_vsock_hdr *h, size_t avail_len)
{
    if (h->len > avail_len || h->len > VV_MAX_PKT) {
        int slot = find_slot(d, h->src_port, h->dst_cid, h->dst_port);
        if (slot >= 0)
            drop_slot(d, slot, true);
        say(d, VHOST_ERR_PKT_LEN, NULL, "a packet's len is over its buffers or 64 KiB");
        return VHOST_ERR_PKT_LEN;
    }
    if (h->src_cid != d->cid) {
        say(d, VHOST_ERR_PKT_SRC, NULL, "a packet's source CID is not the guest's: dropped");
        return VHOST_ERR_PKT_SRC;
    }
    if (h->type != VIRTIO_VSOCK_TYPE_STREAM) {
        reply_rst(d, h);
        return VHOST_ERR_PKT_TYPE;
    }
    return 0;
}

int vv_handle_packet(struct vv_dev *d, const struct virtio_vsock_hdr *h,
                     const struct iovec *payload, unsigned npayload, size_t avail_len)
{
    int r = check_hdr(d, h, avail_len);
    if (r)
        return r;
    if (h->op == VIRTIO_VSOCK_OP_REQUEST) {
        if (find_slot(d, h->src_port, h->dst_cid, h->dst_port) < 0)
            return handle_request(d, h);
    }
    int slot = find_slot(d, h->src_port, h->dst_cid, h->dst_port);
    if (slot < 0) {
        reply_rst(d, h);
        return h->op == VIRTIO_VSOCK_OP_RST ? 0 : VHOST_ERR_PKT_NO_CONN;
    }
    struct vv_conn *c = d->conns[slot];
    c->peer_buf_alloc = h->buf_alloc;
    c->peer_fwd_cnt = h->fwd_cnt;
    switch (h->op) {
    case VIRTIO_VSOCK_OP_RW:
        return handle_rw(d, (unsigned)slot, h, payload, npayload);
    case VIRTIO_VSOCK_OP_RESPONSE:
        return handle_response(d, (unsigned)slot);
    case VIRTIO_VSOCK_OP_SHUTDOWN:
        return handle_shutdown(d, (unsigned)slot, h->flags);
    case VIRTIO_VSOCK_OP_RST:
        drop_slot(d, (unsigned)slot, false);
        return 0;
    case VIRTIO_VSOCK_OP_CREDIT_UPDATE:
        return 0;
    case VIRTIO_VSOCK_OP_CREDIT_REQUEST:
        if (!c->credit_queued) {
            ctrl_to_guest(d, c, VIRTIO_VSOCK_OP_CREDIT_UPDATE, 0);
            c->credit_queued = true;
        }
        return 0;
    default: /* REQUEST on an existing connection, INVALID, unknown */
        say(d, VHOST_ERR_PKT_OP, c, "an op not valid on this connection: reset");
        drop_slot(d, (unsigned)slot, true);
        return VHOST_ERR_PKT_OP;
    }
}

static void tx_chain(struct vv_dev *d, const struct vq_chain *ch)
{
    struct virtio_vsock_hdr h;
    if (iov_to_buf(ch->out, ch->nout, 0, &h, sizeof h) < sizeof h) {
        say(d, VHOST_ERR_PKT_SHORT, NULL, "a packet shorter than the vsock header: dropped");
        return;
    }
    struct iovec pay[VQ_MAX_IOV];
    size_t avail = ch->out_len - VV_HDR_SIZE;
    unsigned npay = iov_slice(ch->out, ch->nout, VV_HDR_SIZE, avail, pay, VQ_MAX_IOV);
    (void)vv_handle_packet(d, &h, pay, npay, avail);
}

int vv_process_tx(struct vv_dev *d)
{
    d->tx_more = false;
    for (unsigned i = 0; i < TX_BUDGET; i++) {
        /* every packet may need one answer: keep room for them (backpressure) */
        if (d->ctrl_n + 2 >= VV_CTRL_MAX) {
            vv_flush_ctrl(d);
            if (d->ctrl_n + 2 >= VV_CTRL_MAX) {
                d->tx_more = true;
                return 0;
            }
        }
        struct vq_chain ch;
        int r = vq_pop(d->tx, d->mem, &ch);
        if (r < 0)
            return r;
        if (r == 0)
            break;
        tx_chain(d, &ch);
        vq_push(d->tx, ch.head, 0);
        if (i + 1 == TX_BUDGET)
            d->tx_more = vq_avail_count(d->tx) > 0;
    }
    vv_flush_ctrl(d); /* the answers go out with this batch */
    return 0;
}

int vv_host_connect(struct vv_dev *d, int fd, uint64_t cid, uint32_t port, uint32_t gport)
{
    if (find_slot(d, gport, cid, port) >= 0) {
        close(fd);
        return VHOST_ERR_PKT_OP;
    }
    int slot = add_conn(d, fd, gport, cid, port, VV_CONNECTING);
    if (slot < 0) {
        close(fd);
        return VHOST_ERR_PKT_TOO_MANY;
    }
    d->conns[slot]->deadline_ms = d->now_ms + VV_CONNECT_TIMEOUT_MS;
    ctrl_to_guest(d, d->conns[slot], VIRTIO_VSOCK_OP_REQUEST, 0);
    return 0;
}

unsigned vv_expire(struct vv_dev *d)
{
    unsigned n = 0;
    for (unsigned i = 0; i < VV_MAX_CONNS; i++) {
        const struct vv_conn *c = d->conns[i];
        if (c && c->state == VV_CONNECTING && c->deadline_ms <= d->now_ms) {
            say(d, 0, c, "the guest did not answer a host program's connection in time");
            drop_slot(d, i, true);
            n++;
        }
    }
    return n;
}

/* Reads from the host socket into receive buffers while credit and buffers last. */
static void host_to_guest(struct vv_dev *d, unsigned slot)
{
    for (unsigned i = 0; i < RX_BUDGET && d->conns[slot]; i++) {
        struct vv_conn *c = d->conns[slot];
        uint32_t credit = vv_peer_credit(c);
        if (c->state != VV_ESTABLISHED || c->host_eof || c->guest_no_rcv || credit == 0)
            return;
        vv_flush_ctrl(d); /* control packets keep their place ahead of data */
        struct vq_chain ch;
        int r = pop_rx(d, &ch);
        if (r <= 0)
            return;
        size_t room = ch.in_len - VV_HDR_SIZE;
        if (room > credit)
            room = credit;
        if (room > VV_MAX_PKT)
            room = VV_MAX_PKT;
        struct iovec iov[VQ_MAX_IOV];
        unsigned n = iov_slice(ch.in, ch.nin, VV_HDR_SIZE, room, iov, VQ_MAX_IOV);
        ssize_t got = n ? readv(c->fd, iov, (int)n) : 0;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
            d->rx->last_avail--; /* not used: the guest keeps this buffer */
            return;
        }
        struct virtio_vsock_hdr h;
        if (got <= 0) {
            /* EOF (or an error) on the host side: no more bytes for the guest */
            c->host_eof = true;
            fill_hdr(&h, d, c, c->pcid, c->pport, c->gport, VIRTIO_VSOCK_OP_SHUTDOWN,
                     got == 0 ? VIRTIO_VSOCK_SHUTDOWN_SEND
                              : VIRTIO_VSOCK_SHUTDOWN_SEND | VIRTIO_VSOCK_SHUTDOWN_RCV, 0);
            got = 0;
        } else {
            fill_hdr(&h, d, c, c->pcid, c->pport, c->gport, VIRTIO_VSOCK_OP_RW, 0,
                     (uint32_t)got);
            c->tx_cnt += (uint32_t)got;
        }
        iov_from_buf(ch.in, ch.nin, 0, &h, sizeof h);
        vq_push(d->rx, ch.head, (uint32_t)(VV_HDR_SIZE + (size_t)got));
    }
}

short vv_conn_events(const struct vv_dev *d, unsigned slot)
{
    const struct vv_conn *c = slot < VV_MAX_CONNS ? d->conns[slot] : NULL;
    if (!c)
        return 0;
    short ev = 0;
    if (c->out_len > c->out_off)
        ev |= POLLOUT;
    if (c->state == VV_ESTABLISHED && !c->host_eof && !c->guest_no_rcv && !d->rx_starved &&
        vv_peer_credit(c) > 0)
        ev |= POLLIN;
    if (c->state == VV_CONNECTING)
        ev |= POLLRDHUP; /* a host program that gives up before the guest answers */
    return ev;
}

void vv_conn_event(struct vv_dev *d, unsigned slot, short revents)
{
    struct vv_conn *c = slot < VV_MAX_CONNS ? d->conns[slot] : NULL;
    if (!c)
        return;
    if (c->state == VV_CONNECTING) {
        if (revents & (POLLRDHUP | POLLHUP | POLLERR))
            drop_slot(d, slot, true);
        return;
    }
    if (revents & POLLOUT)
        flush_out(d, slot);
    if (d->conns[slot] && (revents & (POLLIN | POLLHUP | POLLERR)))
        host_to_guest(d, slot);
}

void vv_rx_kicked(struct vv_dev *d)
{
    d->rx_starved = false;
    vv_flush_ctrl(d);
}
