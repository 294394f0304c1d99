/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer target: the vhost-user message handler (vsock/vhost_user.c) over a sequence of
 * messages, with descriptors attached as the input says (dups of /dev/null: the memory
 * table maps through a hook onto a fake guest memory of FAKE_SIZE bytes), then the
 * virtio-vsock device over whatever rings the messages set up and the bytes the input
 * wrote into that memory.
 *
 * The fake memory is a real anonymous mapping per region, unmapped when the handler lets it
 * go: a ring left pointing into a table that was replaced faults here.
 *
 * Input: records of
 *   u8  descriptors (low 4 bits, at most 8)   u8 request (mod 32; 31: write guest memory)
 *   u8  flags                                  u16 LE size     size bytes of payload
 * Checks after every message: every mapped ring lies inside the fake memory, every region
 * too; at the end (vu_reset) nothing stays mapped. A finding aborts.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "fixture.h"
#include "nsmkit/vhost_user.h"
#include "nsmkit/virtio_vsock_dev.h"

#define FAKE_SIZE (256 * 1024)

static uint8_t *fake;       /* the most recent live mapping (the guest writes there) */
static size_t fake_len;
static int mapped;

static void fail(const char *what)
{
    fuzz_fail("fuzz_vhost_user", what);
}

static void *fake_map(void *ctx, int fd, size_t len)
{
    (void)ctx;
    if (fd < 0)
        fail("a region mapped without a descriptor");
    if (len > FAKE_SIZE)
        return NULL;
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    mapped++;
    fake = p;
    fake_len = len;
    return p;
}

static void fake_unmap(void *ctx, void *p, size_t len)
{
    (void)ctx;
    if (munmap(p, len) != 0)
        fail("unmapped something never mapped");
    if (p == fake)
        fake = NULL;
    mapped--;
}

static int refuse_connect(void *ctx, uint32_t gport, uint64_t cid, uint32_t port)
{
    (void)ctx;
    (void)gport;
    (void)cid;
    (void)port;
    return -ECONNREFUSED;
}

/* Inside one of the handler's live mappings. */
static int inside(const struct vu_dev *v, const uint8_t *p, size_t len)
{
    for (unsigned i = 0; i < VQ_MAX_REGIONS; i++) {
        const uint8_t *m = v->maps[i];
        if (m && p >= m && len <= v->map_len[i] && (size_t)(p - m) <= v->map_len[i] - len)
            return 1;
    }
    return 0;
}

static void check(const struct vu_dev *v)
{
    for (unsigned i = 0; i < v->mem.n; i++)
        if (!inside(v, v->mem.r[i].host, v->mem.r[i].size))
            fail("a memory region outside the mapping");
    for (unsigned q = 0; q < VU_NUM_QUEUES; q++) {
        const struct vq *r = &v->vq[q];
        size_t n = r->num;
        if (r->desc && !inside(v, r->desc, 16 * n))
            fail("descriptor table outside guest memory");
        if (r->avail && !inside(v, r->avail, 6 + 2 * n))
            fail("avail ring outside guest memory");
        if (r->used && !inside(v, r->used, 6 + 8 * n))
            fail("used ring outside guest memory");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vu_dev v;
    static struct vv_dev d;
    static struct vu_msg m, reply;
    static int null_fd = -1;
    if (null_fd < 0)
        null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    fake = NULL;
    vu_init(&v, 16);
    v.map = fake_map;
    v.unmap = fake_unmap;
    struct vv_ops ops = { .connect = refuse_connect };
    vv_init(&d, 16, &v.mem, &v.vq[VU_QUEUE_RX], &v.vq[VU_QUEUE_TX], &ops);
    size_t at = 0;
    while (size - at >= 5) {
        unsigned nfds = data[at] & 0x0f;
        uint32_t req = data[at + 1] % 32;
        uint32_t flags = data[at + 2];
        uint32_t len = (uint32_t)data[at + 3] | (uint32_t)data[at + 4] << 8;
        at += 5;
        if (len > size - at)
            len = (uint32_t)(size - at);
        if (req == 31) { /* the guest writes its memory (the latest region) */
            if (fake) {
                size_t off = ((size_t)flags * 1024) % fake_len;
                size_t k = len < fake_len - off ? len : fake_len - off;
                memcpy(fake + off, data + at, k);
            }
            at += len;
            continue;
        }
        m.request = req;
        m.flags = flags;
        m.size = len;
        memcpy(m.payload, data + at, len < VU_MAX_PAYLOAD ? len : VU_MAX_PAYLOAD);
        at += len;
        m.nfds = nfds > VU_MAX_FDS ? VU_MAX_FDS : nfds;
        for (unsigned i = 0; i < m.nfds; i++)
            m.fds[i] = dup(null_fd);
        bool has_reply;
        (void)vu_handle(&v, &m, &reply, &has_reply);
        if (has_reply && reply.size > VU_MAX_PAYLOAD)
            fail("a reply larger than a message");
        check(&v);
    }
    if (vu_queue_live(&v, VU_QUEUE_TX) && vu_queue_live(&v, VU_QUEUE_RX)) {
        (void)vv_process_tx(&d);
        vv_flush_ctrl(&d);
    }
    vv_reset(&d);
    vu_reset(&v);
    if (mapped != 0)
        fail("guest memory still mapped after reset");
    return 0;
}
