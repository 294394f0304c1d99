/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the virtio-vsock packet handler (vsock/virtio_vsock_dev.c) and the split
 * virtqueues under it (vsock/virtq.c), over a fake guest memory (vsock/virtq_fake.c) with
 * host connections on socketpairs: guest packets of any header, receive buffers, raw
 * (hostile) descriptors, host bytes, host hang-ups and host-initiated connections, in the
 * order the input says.
 *
 * Input: records of one kind byte, then
 *   0 tx packet:   44-byte header, u8 payload length, payload (header and payload as two
 *                  device-readable descriptors)
 *   1 rx buffers:  u8 count, u8 size/64 (two writable descriptors each: header, payload)
 *   2 host bytes:  u8 connection, u8 length, bytes (written to that connection's host end)
 *   3 host close:  u8 connection
 *   4 host connect: u32 LE guest port, u32 LE host port
 *   5 raw descriptor: u8 ring (0 rx / 1 tx), u8 index, u64 addr, u32 len, u16 flags,
 *                  u16 next, u8 publish
 *   6 poll every connection
 * Checks: the device never holds more of a connection's bytes than it advertised
 * (buf_alloc), never writes more into a receive buffer than the buffer's length, never
 * has more connections than its limit. A finding aborts.
 */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fixture.h"
#include "nsmkit/virtio_vsock_dev.h"
#include "nsmkit/virtq_fake.h"

#define GUEST_CID 16
#define MAX_PEERS 16

static int peers[MAX_PEERS];
static unsigned npeers;

static void fail(const char *what)
{
    fuzz_fail("fuzz_vsock_pkt", what);
}

static int pair(int *device_end)
{
    if (npeers >= MAX_PEERS)
        return -1;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
        return -1;
    peers[npeers++] = sv[1];
    *device_end = sv[0];
    return 0;
}

static int fake_connect(void *ctx, uint32_t gport, uint64_t cid, uint32_t port)
{
    (void)ctx;
    (void)gport;
    (void)port;
    int fd;
    if (cid == 99 || pair(&fd) != 0)
        return -ECONNREFUSED;
    return fd;
}

static void check(const struct vv_dev *d, struct vqf_guest *g, uint32_t rx_size)
{
    if (d->nconns > VV_MAX_CONNS)
        fail("more connections than the limit");
    for (unsigned i = 0; i < VV_MAX_CONNS; i++) {
        const struct vv_conn *c = d->conns[i];
        if (c && (c->out_len > VV_BUF_ALLOC || c->out_off > c->out_len ||
                  c->rx_cnt - c->fwd_cnt > VV_BUF_ALLOC))
            fail("a connection holds more than its buf_alloc");
    }
    uint32_t id, len;
    while (vqf_used(g, 0, &id, &len))
        if (len > VV_HDR_SIZE + rx_size)
            fail("a receive buffer got more than its length");
}

static void poll_all(struct vv_dev *d)
{
    for (unsigned s = 0; s < VV_MAX_CONNS; s++) {
        short ev = vv_conn_events(d, s);
        if (!ev)
            continue;
        struct pollfd p = { d->conns[s]->fd, ev, 0 };
        if (poll(&p, 1, 0) > 0)
            vv_conn_event(d, s, p.revents);
    }
}

static size_t tx_packet(struct vqf_guest *g, struct vv_dev *d, const uint8_t *p, size_t n)
{
    if (n < VV_HDR_SIZE + 1)
        return n;
    size_t plen = p[VV_HDR_SIZE];
    if (plen > n - VV_HDR_SIZE - 1)
        plen = n - VV_HDR_SIZE - 1;
    struct vqf_piece pc[2] = { { vqf_alloc(g, VV_HDR_SIZE), VV_HDR_SIZE, false },
                               { vqf_alloc(g, (uint32_t)plen), (uint32_t)plen, false } };
    memcpy(vqf_ptr(g, pc[0].gpa), p, VV_HDR_SIZE);
    memcpy(vqf_ptr(g, pc[1].gpa), p + VV_HDR_SIZE + 1, plen);
    vqf_add(g, 1, pc, plen ? 2 : 1);
    (void)vv_process_tx(d);
    return VV_HDR_SIZE + 1 + plen;
}

static size_t raw_desc(struct vqf_guest *g, const uint8_t *p, size_t n)
{
    if (n < 19)
        return n;
    unsigned r = p[0] & 1;
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
    memcpy(&addr, p + 2, 8);
    memcpy(&len, p + 10, 4);
    memcpy(&flags, p + 14, 2);
    memcpy(&next, p + 16, 2);
    vqf_raw_desc(g, r, (uint16_t)(p[1] % g->qsize), addr, len, flags, next);
    if (p[18] & 1)
        vqf_publish(g, r, (uint16_t)(p[1] % g->qsize));
    return 19;
}

/* One record; returns the bytes it took (at least 1). */
static size_t record(struct vqf_guest *g, struct vv_dev *d, const uint8_t *p, size_t n,
                     uint32_t *rx_size)
{
    uint8_t kind = p[0] % 7;
    p++, n--;
    switch (kind) {
    case 0:
        return 1 + tx_packet(g, d, p, n);
    case 1:
        if (n < 2)
            return 1 + n;
        for (unsigned i = 0; i < (p[0] % 8u); i++) {
            uint32_t sz = (uint32_t)p[1] * 64;
            if (sz > *rx_size)
                *rx_size = sz; /* the largest receive buffer given so far */
            struct vqf_piece pc[2] = { { vqf_alloc(g, VV_HDR_SIZE), VV_HDR_SIZE, true },
                                       { vqf_alloc(g, sz), sz, true } };
            vqf_add(g, 0, pc, 2);
        }
        vv_rx_kicked(d);
        return 3;
    case 2: {
        if (n < 2)
            return 1 + n;
        size_t k = p[1] < n - 2 ? p[1] : n - 2;
        if (npeers)
            (void)!send(peers[p[0] % npeers], p + 2, k, MSG_NOSIGNAL | MSG_DONTWAIT);
        return 3 + k;
    }
    case 3:
        if (n >= 1 && npeers)
            shutdown(peers[p[0] % npeers], SHUT_RDWR);
        return 2;
    case 4: {
        if (n < 8)
            return 1 + n;
        uint32_t gport, hport;
        memcpy(&gport, p, 4);
        memcpy(&hport, p + 4, 4);
        int fd;
        if (pair(&fd) == 0)
            (void)vv_host_connect(d, fd, 2, hport, gport);
        return 9;
    }
    case 5:
        if (n >= 1 && !(p[0] & 1))
            *rx_size = UINT32_MAX - VV_HDR_SIZE; /* any length: the oracle steps aside */
        return 1 + raw_desc(g, p, n);
    default:
        poll_all(d);
        return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vqf_guest g;
    static struct vv_dev d;
    if (vqf_init(&g, 256 * 1024, 16) != 0)
        return 0;
    struct vv_ops ops = { .connect = fake_connect };
    vv_init(&d, GUEST_CID, &g.mem, &g.q[0], &g.q[1], &ops);
    npeers = 0;
    uint32_t rx_size = 0;
    size_t at = 0;
    while (at < size && !g.q[0].broken && !g.q[1].broken) {
        at += record(&g, &d, data + at, size - at, &rx_size);
        check(&d, &g, rx_size);
    }
    vv_reset(&d);
    for (unsigned i = 0; i < npeers; i++)
        close(peers[i]);
    vqf_free(&g);
    return 0;
}
