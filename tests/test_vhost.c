/* SPDX-License-Identifier: Apache-2.0 */
/* The vhost-user backend from memory: split virtqueues against a fake guest (hostile
 * chains and indexes), the virtio-vsock packet handler over socketpairs (connections both
 * ways, credit both ways, resets), and the vhost-user message handler (the handshake QEMU
 * makes, then malformed messages and descriptors). */
#include <errno.h>
#include <fcntl.h>
#include <linux/vhost_types.h>
#include <linux/virtio_ring.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testutil.h"
#include "nsmkit/vhost_codes.h"
#include "nsmkit/vhost_user.h"
#include "nsmkit/virtio_vsock_dev.h"
#include "nsmkit/virtq_fake.h"

#define GUEST_CID 42

/* ---- split virtqueues ---------------------------------------------------------------------- */

static void a_chain_is_read_in_order_and_returned(void **state)
{
    (void)state;
    struct vqf_guest g;
    assert_int_equal(vqf_init(&g, 1 << 20, 8), 0);
    uint64_t a = vqf_alloc(&g, 16), b = vqf_alloc(&g, 32);
    memcpy(vqf_ptr(&g, a), "hello", 5);
    struct vqf_piece p[2] = { { a, 5, false }, { b, 32, true } };
    uint16_t head = vqf_add(&g, 0, p, 2);
    struct vq_chain c;
    assert_int_equal(vq_pop(&g.q[0], &g.mem, &c), 1);
    assert_int_equal(c.head, head);
    assert_int_equal(c.nout, 1);
    assert_int_equal(c.nin, 1);
    assert_int_equal(c.out_len, 5);
    assert_int_equal(c.in_len, 32);
    assert_memory_equal(c.out[0].iov_base, "hello", 5);
    assert_ptr_equal(c.in[0].iov_base, vqf_ptr(&g, b));
    assert_int_equal(vq_pop(&g.q[0], &g.mem, &c), 0);
    vq_push(&g.q[0], head, 7);
    uint32_t id, len;
    assert_true(vqf_used(&g, 0, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, 7);
    assert_true(vq_should_notify(&g.q[0]));
    vqf_free(&g);
}

static void expect_broken(struct vqf_guest *g, int code)
{
    struct vq_chain c;
    assert_int_equal(vq_pop(&g->q[0], &g->mem, &c), -code);
    assert_true(g->q[0].broken);
    assert_int_equal(vq_pop(&g->q[0], &g->mem, &c), -VHOST_ERR_VQ_NOT_READY);
}

static void hostile_chains_break_the_queue(void **state)
{
    (void)state;
    struct vqf_guest g;
    struct {
        uint64_t addr;
        uint32_t len;
        uint16_t flags, next;
        int code;
    } cases[] = {
        { 0, 16, 0, 0, VHOST_ERR_VQ_ADDR },                       /* below the region */
        { VQF_GPA + (1 << 20) - 8, 16, 0, 0, VHOST_ERR_VQ_ADDR }, /* across its end */
        { UINT64_MAX - 4, 16, 0, 0, VHOST_ERR_VQ_ADDR },          /* wraps around */
        { VQF_GPA + 4096, 16, VRING_DESC_F_INDIRECT, 0, VHOST_ERR_VQ_INDIRECT },
        { VQF_GPA + 4096, 16, VRING_DESC_F_NEXT, 0, VHOST_ERR_VQ_LOOP }, /* next is itself */
        { VQF_GPA + 4096, 16, VRING_DESC_F_NEXT, 9, VHOST_ERR_VQ_HEAD }, /* next past the ring */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        assert_int_equal(vqf_init(&g, 1 << 20, 8), 0);
        vqf_raw_desc(&g, 0, 0, cases[i].addr, cases[i].len, cases[i].flags, cases[i].next);
        vqf_publish(&g, 0, 0);
        expect_broken(&g, cases[i].code);
        vqf_free(&g);
    }
    /* a readable piece after a writable one */
    assert_int_equal(vqf_init(&g, 1 << 20, 8), 0);
    vqf_raw_desc(&g, 0, 0, VQF_GPA + 4096, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
    vqf_raw_desc(&g, 0, 1, VQF_GPA + 8192, 8, 0, 0);
    vqf_publish(&g, 0, 0);
    expect_broken(&g, VHOST_ERR_VQ_ORDER);
    vqf_free(&g);
    /* a head past the ring */
    assert_int_equal(vqf_init(&g, 1 << 20, 8), 0);
    vqf_publish(&g, 0, 8);
    expect_broken(&g, VHOST_ERR_VQ_HEAD);
    vqf_free(&g);
    /* an avail index that jumps by more than the ring */
    assert_int_equal(vqf_init(&g, 1 << 20, 8), 0);
    vqf_set_avail_idx(&g, 0, 9);
    expect_broken(&g, VHOST_ERR_VQ_AVAIL_IDX);
    vqf_free(&g);
}

static void a_long_loop_is_cut_at_the_ring_size(void **state)
{
    (void)state;
    struct vqf_guest g;
    assert_int_equal(vqf_init(&g, 1 << 20, 4), 0);
    for (uint16_t i = 0; i < 4; i++)
        vqf_raw_desc(&g, 0, i, VQF_GPA + 4096, 1, VRING_DESC_F_NEXT, (uint16_t)((i + 1) % 4));
    vqf_publish(&g, 0, 2);
    expect_broken(&g, VHOST_ERR_VQ_LOOP);
    vqf_free(&g);
}

/* ---- the packet handler ------------------------------------------------------------------- */

struct net {
    int peer[8];      /* the host ends of the connections made */
    unsigned n;
    int refuse;       /* -errno to give instead */
    uint32_t last_gport, last_port;
    uint64_t last_cid;
};

static int fake_connect(void *ctx, uint32_t gport, uint64_t cid, uint32_t port)
{
    struct net *nt = ctx;
    nt->last_gport = gport;
    nt->last_cid = cid;
    nt->last_port = port;
    if (nt->refuse)
        return nt->refuse;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) != 0)
        return -errno;
    nt->peer[nt->n++] = sv[1];
    return sv[0];
}

struct rig {
    struct vqf_guest g;
    struct vv_dev d;
    struct net nt;
};

static void rig_up(struct rig *r)
{
    memset(r, 0, sizeof *r);
    assert_int_equal(vqf_init(&r->g, 4 << 20, 64), 0);
    struct vv_ops ops = { .ctx = &r->nt, .connect = fake_connect };
    vv_init(&r->d, GUEST_CID, &r->g.mem, &r->g.q[0], &r->g.q[1], &ops);
}

static void rig_down(struct rig *r)
{
    vv_reset(&r->d);
    for (unsigned i = 0; i < r->nt.n; i++)
        close(r->nt.peer[i]);
    vqf_free(&r->g);
}

static void give_rx(struct rig *r, unsigned count, uint32_t size)
{
    for (unsigned i = 0; i < count; i++) {
        struct vqf_piece p[2] = { { vqf_alloc(&r->g, VV_HDR_SIZE), VV_HDR_SIZE, true },
                                  { vqf_alloc(&r->g, size), size, true } };
        vqf_add(&r->g, 0, p, 2);
    }
    vv_rx_kicked(&r->d);
}

/* Sends one packet from the guest; returns what vv_process_tx left (0 / -code). */
static int guest_send(struct rig *r, uint16_t op, uint32_t sport, uint64_t dcid, uint32_t dport,
                      const void *data, uint32_t len, uint32_t buf_alloc, uint32_t flags)
{
    struct virtio_vsock_hdr h = { .src_cid = GUEST_CID, .dst_cid = dcid, .src_port = sport,
                                  .dst_port = dport, .len = len, .type = VIRTIO_VSOCK_TYPE_STREAM,
                                  .op = op, .flags = flags, .buf_alloc = buf_alloc };
    uint64_t hg = vqf_alloc(&r->g, sizeof h);
    memcpy(vqf_ptr(&r->g, hg), &h, sizeof h);
    struct vqf_piece p[2] = { { hg, sizeof h, false }, { 0, len, false } };
    if (len) {
        p[1].gpa = vqf_alloc(&r->g, len);
        memcpy(vqf_ptr(&r->g, p[1].gpa), data, len);
    }
    vqf_add(&r->g, 1, p, len ? 2 : 1);
    return vv_process_tx(&r->d);
}

/* The next packet the guest received: its header, its payload into data. */
static bool guest_recv(struct rig *r, struct virtio_vsock_hdr *h, void *data, size_t max)
{
    uint32_t id, len;
    if (!vqf_used(&r->g, 0, &id, &len))
        return false;
    assert_true(len >= VV_HDR_SIZE);
    /* id is the head of a two-piece chain: its descriptors say where the bytes went */
    struct vring_desc d0, d1;
    memcpy(&d0, vqf_ptr(&r->g, r->g.ring_gpa[0]) + 16u * id, sizeof d0);
    memcpy(&d1, vqf_ptr(&r->g, r->g.ring_gpa[0]) + 16u * d0.next, sizeof d1);
    memcpy(h, vqf_ptr(&r->g, d0.addr), sizeof *h);
    assert_int_equal(h->len, len - VV_HDR_SIZE);
    if (data)
        memcpy(data, vqf_ptr(&r->g, d1.addr), h->len < max ? h->len : max);
    return true;
}

static void poll_conns(struct rig *r)
{
    for (unsigned s = 0; s < VV_MAX_CONNS; s++) {
        short ev = vv_conn_events(&r->d, s);
        if (!ev)
            continue;
        struct pollfd p = { r->d.conns[s]->fd, ev, 0 };
        if (poll(&p, 1, 0) > 0)
            vv_conn_event(&r->d, s, p.revents);
    }
}

static void a_guest_connection_end_to_end(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    give_rx(&r, 16, 4096);
    assert_int_equal(guest_send(&r, VIRTIO_VSOCK_OP_REQUEST, 1025, 3, 9000, NULL, 0, 65536, 0), 0);
    assert_int_equal(r.nt.last_gport, 1025);
    assert_int_equal(r.nt.last_cid, 3);
    assert_int_equal(r.nt.last_port, 9000);
    struct virtio_vsock_hdr h;
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RESPONSE);
    assert_int_equal(h.src_cid, 3);
    assert_int_equal(h.src_port, 9000);
    assert_int_equal(h.dst_cid, GUEST_CID);
    assert_int_equal(h.dst_port, 1025);
    assert_int_equal(h.buf_alloc, VV_BUF_ALLOC);
    /* guest -> host */
    assert_int_equal(guest_send(&r, VIRTIO_VSOCK_OP_RW, 1025, 3, 9000, "\xb7", 1, 65536, 0), 0);
    char buf[64];
    assert_int_equal(read(r.nt.peer[0], buf, sizeof buf), 1);
    assert_int_equal((uint8_t)buf[0], 0xb7);
    /* host -> guest */
    assert_int_equal(write(r.nt.peer[0], "\xb7pong", 5), 5);
    poll_conns(&r);
    assert_true(guest_recv(&r, &h, buf, sizeof buf));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RW);
    assert_int_equal(h.len, 5);
    assert_memory_equal(buf, "\xb7pong", 5);
    assert_int_equal(h.fwd_cnt, 1); /* the byte we forwarded */
    /* the guest closes: SHUTDOWN both ways, answered by RST; the host sees EOF */
    assert_int_equal(guest_send(&r, VIRTIO_VSOCK_OP_SHUTDOWN, 1025, 3, 9000, NULL, 0, 65536,
                                VIRTIO_VSOCK_SHUTDOWN_RCV | VIRTIO_VSOCK_SHUTDOWN_SEND), 0);
    vv_flush_ctrl(&r.d);
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
    assert_int_equal(read(r.nt.peer[0], buf, sizeof buf), 0);
    assert_int_equal(r.d.nconns, 0);
    rig_down(&r);
}

static void refused_and_unknown_packets_get_resets(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    give_rx(&r, 16, 4096);
    struct virtio_vsock_hdr h;
    r.nt.refuse = -ECONNREFUSED;
    guest_send(&r, VIRTIO_VSOCK_OP_REQUEST, 2000, 3, 1234, NULL, 0, 65536, 0);
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
    assert_int_equal(h.dst_port, 2000);
    r.nt.refuse = 0;
    /* data for no connection */
    guest_send(&r, VIRTIO_VSOCK_OP_RW, 2001, 3, 1, "x", 1, 65536, 0);
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
    /* a RST for no connection is not answered */
    guest_send(&r, VIRTIO_VSOCK_OP_RST, 2001, 3, 1, NULL, 0, 65536, 0);
    assert_false(guest_recv(&r, &h, NULL, 0));
    /* a seqpacket request: reset */
    struct virtio_vsock_hdr sq = { .src_cid = GUEST_CID, .dst_cid = 3, .src_port = 5,
                                   .dst_port = 6, .type = VIRTIO_VSOCK_TYPE_SEQPACKET,
                                   .op = VIRTIO_VSOCK_OP_REQUEST };
    assert_int_equal(vv_handle_packet(&r.d, &sq, NULL, 0, 0), VHOST_ERR_PKT_TYPE);
    /* a spoofed source CID: dropped, nothing connected */
    sq.type = VIRTIO_VSOCK_TYPE_STREAM;
    sq.src_cid = 7;
    assert_int_equal(vv_handle_packet(&r.d, &sq, NULL, 0, 0), VHOST_ERR_PKT_SRC);
    /* len larger than the buffers */
    sq.src_cid = GUEST_CID;
    sq.op = VIRTIO_VSOCK_OP_RW;
    sq.len = 100;
    assert_int_equal(vv_handle_packet(&r.d, &sq, NULL, 0, 10), VHOST_ERR_PKT_LEN);
    sq.len = 0x80000000u;
    assert_int_equal(vv_handle_packet(&r.d, &sq, NULL, 0, 0xffffffffu), VHOST_ERR_PKT_LEN);
    /* a packet shorter than the header */
    struct vqf_piece p = { vqf_alloc(&r.g, 8), 8, false };
    vqf_add(&r.g, 1, &p, 1);
    uint64_t before = r.d.packets_refused;
    assert_int_equal(vv_process_tx(&r.d), 0);
    assert_int_equal(r.d.packets_refused, before + 1);
    assert_int_equal(r.d.nconns, 0);
    rig_down(&r);
}

static void a_guest_past_its_credit_is_reset_alone(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    give_rx(&r, 16, 4096);
    guest_send(&r, VIRTIO_VSOCK_OP_REQUEST, 3000, 3, 1, NULL, 0, 65536, 0);
    guest_send(&r, VIRTIO_VSOCK_OP_REQUEST, 3001, 3, 1, NULL, 0, 65536, 0);
    assert_int_equal(r.d.nconns, 2);
    struct virtio_vsock_hdr h;
    while (guest_recv(&r, &h, NULL, 0)) {}
    /* nobody reads peer[0]: after the socket buffer and our buf_alloc, the guest is over */
    static uint8_t chunk[VV_MAX_PKT];
    unsigned sent = 0;
    while (r.d.nconns == 2 && sent < 1000) {
        guest_send(&r, VIRTIO_VSOCK_OP_RW, 3000, 3, 1, chunk, sizeof chunk, 65536, 0);
        sent++;
    }
    assert_int_equal(r.d.nconns, 1);
    vv_flush_ctrl(&r.d);
    bool rst = false;
    while (guest_recv(&r, &h, NULL, 0))
        rst |= h.op == VIRTIO_VSOCK_OP_RST && h.dst_port == 3000;
    assert_true(rst);
    /* the other connection still carries bytes */
    guest_send(&r, VIRTIO_VSOCK_OP_RW, 3001, 3, 1, "ok", 2, 65536, 0);
    char buf[4];
    assert_int_equal(read(r.nt.peer[1], buf, sizeof buf), 2);
    rig_down(&r);
}

static void host_bytes_wait_for_the_guests_credit(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    give_rx(&r, 16, 4096);
    guest_send(&r, VIRTIO_VSOCK_OP_REQUEST, 4000, 3, 1, NULL, 0, 10, 0); /* buf_alloc 10 */
    struct virtio_vsock_hdr h;
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(write(r.nt.peer[0], "0123456789abcdef", 16), 16);
    poll_conns(&r);
    char buf[32];
    assert_true(guest_recv(&r, &h, buf, sizeof buf));
    assert_int_equal(h.len, 10);
    assert_false(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(vv_conn_events(&r.d, 0) & POLLIN, 0); /* not even polled */
    /* the guest consumed them: a credit update lets the rest through */
    struct virtio_vsock_hdr cu = { .src_cid = GUEST_CID, .dst_cid = 3, .src_port = 4000,
                                   .dst_port = 1, .type = VIRTIO_VSOCK_TYPE_STREAM,
                                   .op = VIRTIO_VSOCK_OP_CREDIT_UPDATE, .buf_alloc = 10,
                                   .fwd_cnt = 10 };
    assert_int_equal(vv_handle_packet(&r.d, &cu, NULL, 0, 0), 0);
    poll_conns(&r);
    assert_true(guest_recv(&r, &h, buf, sizeof buf));
    assert_int_equal(h.len, 6);
    assert_memory_equal(buf, "abcdef", 6);
    /* CREDIT_REQUEST is answered with our numbers */
    cu.op = VIRTIO_VSOCK_OP_CREDIT_REQUEST;
    assert_int_equal(vv_handle_packet(&r.d, &cu, NULL, 0, 0), 0);
    vv_flush_ctrl(&r.d);
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_CREDIT_UPDATE);
    assert_int_equal(h.buf_alloc, VV_BUF_ALLOC);
    /* the host closes: the guest hears SHUTDOWN(send) */
    close(r.nt.peer[0]);
    r.nt.n = 0;
    poll_conns(&r);
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_SHUTDOWN);
    assert_int_equal(h.flags & VIRTIO_VSOCK_SHUTDOWN_SEND, VIRTIO_VSOCK_SHUTDOWN_SEND);
    rig_down(&r);
}

static void a_host_program_connects_firecracker_style(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(vv_host_connect(&r.d, sv[0], 2, 50001, 5005), 0);
    /* no receive buffers yet: the REQUEST waits */
    vv_flush_ctrl(&r.d);
    assert_true(r.d.rx_starved);
    give_rx(&r, 4, 4096);
    struct virtio_vsock_hdr h;
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
    assert_int_equal(h.src_cid, 2);
    assert_int_equal(h.src_port, 50001);
    assert_int_equal(h.dst_port, 5005);
    guest_send(&r, VIRTIO_VSOCK_OP_RESPONSE, 5005, 2, 50001, NULL, 0, 65536, 0);
    char line[32] = { 0 };
    assert_int_equal(read(sv[1], line, sizeof line - 1), 9);
    assert_string_equal(line, "OK 50001\n");
    /* a second RESPONSE is a protocol error: reset */
    guest_send(&r, VIRTIO_VSOCK_OP_RESPONSE, 5005, 2, 50001, NULL, 0, 65536, 0);
    assert_int_equal(r.d.nconns, 0);
    /* a guest that refuses: the host program sees EOF before any OK */
    int sv2[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv2), 0);
    assert_int_equal(vv_host_connect(&r.d, sv2[0], 2, 50002, 6006), 0);
    guest_send(&r, VIRTIO_VSOCK_OP_RST, 6006, 2, 50002, NULL, 0, 65536, 0);
    assert_int_equal(read(sv2[1], line, sizeof line), 0);
    close(sv[1]);
    close(sv2[1]);
    rig_down(&r);
}

static void a_guest_that_never_answers_times_out(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    give_rx(&r, 4, 4096);
    r.d.now_ms = 1000;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv), 0);
    assert_int_equal(vv_host_connect(&r.d, sv[0], 2, 50003, 7007), 0);
    vv_flush_ctrl(&r.d);
    struct virtio_vsock_hdr h;
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_REQUEST);
    r.d.now_ms = 1000 + VV_CONNECT_TIMEOUT_MS - 1;
    assert_int_equal(vv_expire(&r.d), 0);
    r.d.now_ms = 1000 + VV_CONNECT_TIMEOUT_MS;
    assert_int_equal(vv_expire(&r.d), 1);
    char c;
    assert_int_equal(read(sv[1], &c, 1), 0); /* EOF before any OK */
    vv_flush_ctrl(&r.d);
    assert_true(guest_recv(&r, &h, NULL, 0));
    assert_int_equal(h.op, VIRTIO_VSOCK_OP_RST);
    assert_int_equal(h.dst_port, 7007);
    close(sv[1]);
    rig_down(&r);
}

static void too_many_connections_are_refused(void **state)
{
    (void)state;
    struct rig r;
    rig_up(&r);
    struct net *nt = &r.nt;
    int held = 0;
    for (unsigned i = 0; i < VV_MAX_CONNS + 3; i++) {
        struct virtio_vsock_hdr h = { .src_cid = GUEST_CID, .dst_cid = 3, .src_port = 10000 + i,
                                      .dst_port = 1, .type = VIRTIO_VSOCK_TYPE_STREAM,
                                      .op = VIRTIO_VSOCK_OP_REQUEST, .buf_alloc = 1 };
        int rc = vv_handle_packet(&r.d, &h, NULL, 0, 0);
        if (nt->n) { /* keep only the device's end */
            close(nt->peer[0]);
            nt->n = 0;
        }
        if (rc == 0)
            held++;
        else
            assert_int_equal(rc, VHOST_ERR_PKT_TOO_MANY);
    }
    assert_int_equal(held, VV_MAX_CONNS);
    rig_down(&r);
}

/* ---- the vhost-user messages ---------------------------------------------------------------- */

static uint8_t fake_ram[1 << 20];
static int maps;
static void *fake_map(void *ctx, int fd, size_t len)
{
    (void)ctx;
    (void)fd;
    if (len > sizeof fake_ram)
        return NULL;
    maps++;
    return fake_ram;
}
static void fake_unmap(void *ctx, void *p, size_t len)
{
    (void)ctx;
    (void)p;
    (void)len;
    maps--;
}

static int send_msg(struct vu_dev *v, uint32_t req, const void *payload, uint32_t size,
                    const int *fds, unsigned nfds, struct vu_msg *reply, bool *has_reply)
{
    static struct vu_msg m;
    m.request = req;
    m.flags = VU_FLAG_VERSION;
    m.size = size;
    if (size)
        memcpy(m.payload, payload, size);
    for (unsigned i = 0; i < nfds; i++)
        m.fds[i] = fds[i];
    m.nfds = nfds;
    return vu_handle(v, &m, reply, has_reply);
}

static int devnull(void)
{
    return open("/dev/null", O_RDONLY | O_CLOEXEC);
}

static bool fd_open(int fd)
{
    return fcntl(fd, F_GETFD) >= 0;
}

static void set_u64(struct vu_dev *v, uint32_t req, uint64_t value, int expect)
{
    struct vu_msg reply;
    bool has;
    assert_int_equal(send_msg(v, req, &value, 8, NULL, 0, &reply, &has), expect);
}

static void qemus_handshake_and_config(void **state)
{
    (void)state;
    static struct vu_dev v;
    static struct vu_msg reply;
    bool has;
    vu_init(&v, GUEST_CID);
    v.map = fake_map;
    v.unmap = fake_unmap;
    assert_int_equal(send_msg(&v, VU_GET_FEATURES, NULL, 0, NULL, 0, &reply, &has), 0);
    assert_true(has);
    uint64_t f;
    memcpy(&f, reply.payload, 8);
    assert_int_equal(f, VU_F_VERSION_1 | VU_F_PROTOCOL_FEATURES);
    assert_int_equal(reply.flags, VU_FLAG_VERSION | VU_FLAG_REPLY);
    set_u64(&v, VU_SET_FEATURES, f, 0);
    set_u64(&v, VU_SET_PROTOCOL_FEATURES, VU_PROTOCOL_F_CONFIG | VU_PROTOCOL_F_REPLY_ACK, 0);
    assert_int_equal(send_msg(&v, VU_SET_OWNER, NULL, 0, NULL, 0, &reply, &has), 0);
    uint32_t cfg[5] = { 0, 8, 0, 0, 0 }; /* QEMU sends the header and room for the bytes */
    assert_int_equal(send_msg(&v, VU_GET_CONFIG, cfg, 20, NULL, 0, &reply, &has), 0);
    assert_int_equal(reply.size, 20);
    uint64_t cid;
    memcpy(&cid, reply.payload + 12, 8);
    assert_int_equal(cid, GUEST_CID);
    /* memory: one region, fd kept only as long as mapping needs it */
    struct { uint32_t n, pad; uint64_t gpa, size, uva, off; } mt = { 1, 0, 0, 1 << 20, 0x5000000, 0 };
    int fd = devnull();
    assert_int_equal(send_msg(&v, VU_SET_MEM_TABLE, &mt, sizeof mt, &fd, 1, &reply, &has), 0);
    assert_false(fd_open(fd));
    assert_int_equal(maps, 1);
    struct vhost_vring_state s = { 1, 64 };
    assert_int_equal(send_msg(&v, VU_SET_VRING_NUM, &s, 8, NULL, 0, &reply, &has), 0);
    struct vhost_vring_addr a = { .index = 1, .desc_user_addr = 0x5000000,
                                  .avail_user_addr = 0x5000400, .used_user_addr = 0x5000800 };
    assert_int_equal(send_msg(&v, VU_SET_VRING_ADDR, &a, sizeof a, NULL, 0, &reply, &has), 0);
    s.num = 0;
    assert_int_equal(send_msg(&v, VU_SET_VRING_BASE, &s, 8, NULL, 0, &reply, &has), 0);
    uint64_t idx = 1;
    int kick = devnull();
    assert_int_equal(send_msg(&v, VU_SET_VRING_KICK, &idx, 8, &kick, 1, &reply, &has), 0);
    assert_true(fd_open(kick));
    assert_int_equal(v.kick[1], kick);
    assert_false(vu_queue_live(&v, 1)); /* protocol features: enabled only by SET_VRING_ENABLE */
    s.num = 1;
    assert_int_equal(send_msg(&v, VU_SET_VRING_ENABLE, &s, 8, NULL, 0, &reply, &has), 0);
    assert_true(vu_queue_live(&v, 1));
    /* REPLY_ACK: a request with need_reply gets 0 */
    static struct vu_msg m;
    m = (struct vu_msg){ .request = VU_SET_OWNER, .flags = VU_FLAG_VERSION | VU_FLAG_NEED_REPLY };
    assert_int_equal(vu_handle(&v, &m, &reply, &has), 0);
    assert_true(has);
    assert_int_equal(reply.size, 8);
    assert_int_equal(reply.payload[0], 0);
    assert_int_equal(send_msg(&v, VU_GET_VRING_BASE, &s, 8, NULL, 0, &reply, &has), 0);
    assert_true(has);
    assert_false(fd_open(kick));
    assert_false(vu_queue_live(&v, 1));
    vu_reset(&v);
    assert_int_equal(maps, 0);
}

static void malformed_messages_are_refused(void **state)
{
    (void)state;
    static struct vu_dev v;
    static struct vu_msg reply;
    bool has;
    vu_init(&v, GUEST_CID);
    v.map = fake_map;
    v.unmap = fake_unmap;
    uint8_t zero[64] = { 0 };
    assert_int_equal(send_msg(&v, 999, NULL, 0, NULL, 0, &reply, &has), VHOST_ERR_VU_UNKNOWN);
    assert_int_equal(send_msg(&v, VU_SET_LOG_BASE, zero, 8, NULL, 0, &reply, &has),
                     VHOST_ERR_VU_UNKNOWN);
    assert_int_equal(send_msg(&v, VU_SET_FEATURES, zero, 4, NULL, 0, &reply, &has),
                     VHOST_ERR_VU_PAYLOAD);
    set_u64(&v, VU_SET_FEATURES, 1ull << 28, VHOST_ERR_VU_FEATURES); /* event idx: not offered */
    struct vhost_vring_state s = { 3, 64 };
    assert_int_equal(send_msg(&v, VU_SET_VRING_NUM, &s, 8, NULL, 0, &reply, &has),
                     VHOST_ERR_VU_RING_INDEX);
    s = (struct vhost_vring_state){ 0, 100 };
    assert_int_equal(send_msg(&v, VU_SET_VRING_NUM, &s, 8, NULL, 0, &reply, &has),
                     VHOST_ERR_VU_RING_SIZE);
    s.num = 65536;
    assert_int_equal(send_msg(&v, VU_SET_VRING_NUM, &s, 8, NULL, 0, &reply, &has),
                     VHOST_ERR_VU_RING_SIZE);
    /* descriptors where none belong, and the wrong number: closed either way */
    int fd = devnull();
    assert_int_equal(send_msg(&v, VU_SET_OWNER, NULL, 0, &fd, 1, &reply, &has), VHOST_ERR_VU_FDS);
    assert_false(fd_open(fd));
    struct { uint32_t n, pad; uint64_t r[8]; } mt = { 2, 0, { 0, 4096, 0x1000, 0, 0, 4096, 0x9000, 0 } };
    fd = devnull();
    assert_int_equal(send_msg(&v, VU_SET_MEM_TABLE, &mt, 72, &fd, 1, &reply, &has), VHOST_ERR_VU_FDS);
    assert_false(fd_open(fd));
    int fds[2] = { devnull(), devnull() };
    /* overlapping regions */
    assert_int_equal(send_msg(&v, VU_SET_MEM_TABLE, &mt, 72, fds, 2, &reply, &has),
                     VHOST_ERR_VU_MEM_TABLE);
    assert_false(fd_open(fds[0]) || fd_open(fds[1]));
    /* a region that wraps around, or a count that disagrees with the size */
    struct { uint32_t n, pad; uint64_t r[4]; } wrap = { 1, 0, { UINT64_MAX - 10, 4096, 0, 0 } };
    fd = devnull();
    assert_int_equal(send_msg(&v, VU_SET_MEM_TABLE, &wrap, 40, &fd, 1, &reply, &has),
                     VHOST_ERR_VU_MEM_TABLE);
    wrap.n = 9;
    assert_int_equal(send_msg(&v, VU_SET_MEM_TABLE, &wrap, 40, NULL, 0, &reply, &has),
                     VHOST_ERR_VU_MEM_TABLE);
    /* a region larger than what can be mapped */
    struct { uint32_t n, pad; uint64_t r[4]; } big = { 1, 0, { 0, 2 << 20, 0, 0 } };
    fd = devnull();
    assert_int_equal(send_msg(&v, VU_SET_MEM_TABLE, &big, 40, &fd, 1, &reply, &has),
                     VHOST_ERR_VU_MMAP);
    assert_int_equal(maps, 0);
    /* rings outside the memory */
    struct { uint32_t n, pad; uint64_t r[4]; } one = { 1, 0, { 0, 1 << 20, 0x5000000, 0 } };
    fd = devnull();
    assert_int_equal(send_msg(&v, VU_SET_MEM_TABLE, &one, 40, &fd, 1, &reply, &has), 0);
    s = (struct vhost_vring_state){ 0, 256 };
    assert_int_equal(send_msg(&v, VU_SET_VRING_NUM, &s, 8, NULL, 0, &reply, &has), 0);
    struct vhost_vring_addr a = { .index = 0, .desc_user_addr = 0x5000000 + (1 << 20) - 16,
                                  .avail_user_addr = 0x5000000, .used_user_addr = 0x5000000 };
    assert_int_equal(send_msg(&v, VU_SET_VRING_ADDR, &a, sizeof a, NULL, 0, &reply, &has),
                     VHOST_ERR_VU_RING_ADDR);
    a.desc_user_addr = UINT64_MAX - 15;
    assert_int_equal(send_msg(&v, VU_SET_VRING_ADDR, &a, sizeof a, NULL, 0, &reply, &has),
                     VHOST_ERR_VU_RING_ADDR);
    /* a kick without a descriptor (polling) is not offered; an index past the queues */
    uint64_t u = VU_VRING_NOFD;
    assert_int_equal(send_msg(&v, VU_SET_VRING_KICK, &u, 8, NULL, 0, &reply, &has), VHOST_ERR_VU_FDS);
    u = 7;
    fd = devnull();
    assert_int_equal(send_msg(&v, VU_SET_VRING_CALL, &u, 8, &fd, 1, &reply, &has),
                     VHOST_ERR_VU_RING_INDEX);
    assert_false(fd_open(fd));
    /* config space out of range */
    uint32_t cfg[5] = { 4, 8, 0, 0, 0 };
    assert_int_equal(send_msg(&v, VU_GET_CONFIG, cfg, 20, NULL, 0, &reply, &has), VHOST_ERR_VU_CONFIG);
    assert_int_equal(reply.size, 0);
    /* a reply flag or another version */
    static struct vu_msg m;
    m = (struct vu_msg){ .request = VU_SET_OWNER, .flags = 2 };
    assert_int_equal(vu_handle(&v, &m, &reply, &has), VHOST_ERR_VU_VERSION);
    m = (struct vu_msg){ .request = VU_SET_OWNER, .flags = 1 | VU_FLAG_REPLY };
    assert_int_equal(vu_handle(&v, &m, &reply, &has), VHOST_ERR_VU_VERSION);
    vu_reset(&v);
    assert_int_equal(maps, 0);
}

static void a_failed_memory_table_leaves_no_ring_pointer(void **state)
{
    (void)state;
    static struct vu_dev v;
    static struct vu_msg reply;
    bool has;
    vu_init(&v, GUEST_CID);
    v.map = fake_map;
    v.unmap = fake_unmap;
    int fd;
    struct vhost_vring_state s;
    struct { uint32_t n, pad; uint64_t r[4]; } big = { 1, 0, { 0, 2 << 20, 0, 0 } };
    /* a table whose mapping fails after a good one: the rings it held are gone too */
    struct { uint32_t n, pad; uint64_t r[4]; } ok1 = { 1, 0, { 0, 1 << 20, 0x5000000, 0 } };
    fd = devnull();
    assert_int_equal(send_msg(&v, VU_SET_MEM_TABLE, &ok1, 40, &fd, 1, &reply, &has), 0);
    s = (struct vhost_vring_state){ 1, 16 };
    assert_int_equal(send_msg(&v, VU_SET_VRING_NUM, &s, 8, NULL, 0, &reply, &has), 0);
    struct vhost_vring_addr a1 = { .index = 1, .desc_user_addr = 0x5000000,
                                   .avail_user_addr = 0x5000400, .used_user_addr = 0x5000800 };
    assert_int_equal(send_msg(&v, VU_SET_VRING_ADDR, &a1, sizeof a1, NULL, 0, &reply, &has), 0);
    assert_non_null(v.vq[1].desc);
    fd = devnull();
    assert_int_equal(send_msg(&v, VU_SET_MEM_TABLE, &big, 40, &fd, 1, &reply, &has),
                     VHOST_ERR_VU_MMAP);
    assert_null(v.vq[1].desc);
    assert_null(v.vq[1].used);
    assert_int_equal(maps, 0);
    vu_reset(&v);
}

static void messages_over_a_socket(void **state)
{
    (void)state;
    int sv[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    static struct vu_msg m, got;
    m = (struct vu_msg){ .request = VU_SET_FEATURES, .flags = 1, .size = 8 };
    assert_int_equal(vu_send(sv[0], &m), 0);
    assert_int_equal(vu_recv(sv[1], &got), 1);
    assert_int_equal(got.request, VU_SET_FEATURES);
    assert_int_equal(got.size, 8);
    assert_int_equal(got.nfds, 0);
    /* a header that claims more than the limit */
    uint32_t hdr[3] = { 1, 1, VU_MAX_PAYLOAD + 1 };
    assert_int_equal(write(sv[0], hdr, sizeof hdr), (ssize_t)sizeof hdr);
    assert_int_equal(vu_recv(sv[1], &got), -VHOST_ERR_VU_TOO_LARGE);
    /* a message cut short */
    hdr[2] = 8;
    assert_int_equal(write(sv[0], hdr, sizeof hdr), (ssize_t)sizeof hdr);
    assert_int_equal(write(sv[0], "abc", 3), 3);
    close(sv[0]);
    assert_int_equal(vu_recv(sv[1], &got), -VHOST_ERR_VU_SHORT);
    assert_int_equal(vu_recv(sv[1], &got), 0);
    close(sv[1]);
}

static void every_code_has_a_name(void **state)
{
    (void)state;
    assert_string_equal(vhost_code_name(VHOST_ERR_VQ_LOOP), "VQ_LOOP");
    assert_non_null(vhost_code_sentence(VHOST_ERR_PKT_CREDIT));
    assert_null(vhost_code_name(5999));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_chain_is_read_in_order_and_returned),
        cmocka_unit_test(hostile_chains_break_the_queue),
        cmocka_unit_test(a_long_loop_is_cut_at_the_ring_size),
        cmocka_unit_test(a_guest_connection_end_to_end),
        cmocka_unit_test(refused_and_unknown_packets_get_resets),
        cmocka_unit_test(a_guest_past_its_credit_is_reset_alone),
        cmocka_unit_test(host_bytes_wait_for_the_guests_credit),
        cmocka_unit_test(a_host_program_connects_firecracker_style),
        cmocka_unit_test(a_guest_that_never_answers_times_out),
        cmocka_unit_test(too_many_connections_are_refused),
        cmocka_unit_test(qemus_handshake_and_config),
        cmocka_unit_test(malformed_messages_are_refused),
        cmocka_unit_test(a_failed_memory_table_leaves_no_ring_pointer),
        cmocka_unit_test(messages_over_a_socket),
        cmocka_unit_test(every_code_has_a_name),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
