/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock guest side: guest memory translation and the split virtqueue (virtq.h).
 *
 * The guest writes the rings while we read them. Each shared field is read once with an
 * atomic load into a local, bounded, and only the local is used; the avail index is read
 * with acquire ordering before the entries it publishes, and the used index is written with
 * release ordering after the entries it publishes (virtio 1.x, 2.7.13 and 2.7.8).
 */
#include "nsmkit/virtq.h"

#include <linux/virtio_ring.h>
#include <string.h>

#include "nsmkit/vhost_codes.h"

static uint8_t *translate(const struct vq_mem *mem, uint64_t addr, uint64_t len, bool by_gpa)
{
    for (unsigned i = 0; i < mem->n && i < VQ_MAX_REGIONS; i++) {
        const struct vq_region *r = &mem->r[i];
        uint64_t start = by_gpa ? r->gpa : r->uva;
        if (addr < start)
            continue;
        uint64_t off = addr - start;
        /* off <= size and len <= size - off: no sum can overflow */
        if (off > r->size || len > r->size - off)
            continue;
        return r->host + off;
    }
    return NULL;
}

uint8_t *vq_mem_gpa(const struct vq_mem *mem, uint64_t gpa, uint64_t len)
{
    return translate(mem, gpa, len, true);
}

uint8_t *vq_mem_uva(const struct vq_mem *mem, uint64_t uva, uint64_t len)
{
    return translate(mem, uva, len, false);
}

static uint16_t load16(const uint8_t *p)
{
    uint16_t v;
    __atomic_load(((const uint16_t *)(const void *)p), &v, __ATOMIC_RELAXED);
    return v; /* x86-64 and every other Debian amd64 target: little-endian, as virtio 1 */
}

static void store16(uint8_t *p, uint16_t v, int order)
{
    __atomic_store_n((uint16_t *)(void *)p, v, order);
}

int vq_map(struct vq *vq, const struct vq_mem *mem)
{
    vq->desc = vq->avail = vq->used = NULL;
    if (!vq->addr_set || vq->num == 0)
        return 0; /* not configured yet: mapped later */
    uint64_t n = vq->num;
    /* alignment (virtio 1.x 2.7): descriptors 16, avail 2, used 4 */
    if (vq->desc_uva % 16 || vq->avail_uva % 2 || vq->used_uva % 4)
        return VHOST_ERR_VU_RING_ADDR;
    uint8_t *d = vq_mem_uva(mem, vq->desc_uva, 16 * n);
    uint8_t *a = vq_mem_uva(mem, vq->avail_uva, 6 + 2 * n);
    uint8_t *u = vq_mem_uva(mem, vq->used_uva, 6 + 8 * n);
    if (!d || !a || !u)
        return VHOST_ERR_VU_RING_ADDR;
    vq->desc = d;
    vq->avail = a;
    vq->used = u;
    return 0;
}

bool vq_ready(const struct vq *vq)
{
    return vq->desc && vq->avail && vq->used && vq->num && !vq->broken;
}

unsigned vq_avail_count(struct vq *vq)
{
    if (!vq_ready(vq))
        return 0;
    uint16_t idx = __atomic_load_n((uint16_t *)(void *)(vq->avail + 2), __ATOMIC_ACQUIRE);
    uint16_t n = (uint16_t)(idx - vq->last_avail);
    if (n > vq->num) {
        vq->broken = true;
        return 0;
    }
    return n;
}

static int fail(struct vq *vq, int code)
{
    vq->broken = true;
    return -code;
}

/* Adds one descriptor's (gpa, len) to the chain. */
static int add_piece(struct vq *vq, const struct vq_mem *mem, struct vq_chain *c, uint64_t gpa,
                     uint32_t len, bool writable)
{
    if (!writable && c->nin)
        return fail(vq, VHOST_ERR_VQ_ORDER);
    if (len == 0)
        return 0; /* nothing to map; allowed */
    uint8_t *p = vq_mem_gpa(mem, gpa, len);
    if (!p)
        return fail(vq, VHOST_ERR_VQ_ADDR);
    struct iovec *list = writable ? c->in : c->out;
    unsigned *n = writable ? &c->nin : &c->nout;
    if (*n >= VQ_MAX_IOV)
        return fail(vq, VHOST_ERR_VQ_LOOP);
    list[*n] = (struct iovec){ .iov_base = p, .iov_len = len };
    (*n)++;
    if (writable)
        c->in_len += len;
    else
        c->out_len += len;
    return 0;
}

int vq_pop(struct vq *vq, const struct vq_mem *mem, struct vq_chain *c)
{
    if (!vq_ready(vq))
        return vq->broken ? -VHOST_ERR_VQ_NOT_READY : 0;
    if (vq_avail_count(vq) == 0)
        return vq->broken ? -VHOST_ERR_VQ_AVAIL_IDX : 0;
    uint16_t slot = vq->last_avail % vq->num;
    uint16_t head = load16(vq->avail + 4 + 2 * (size_t)slot);
    if (head >= vq->num)
        return fail(vq, VHOST_ERR_VQ_HEAD);
    memset(c, 0, offsetof(struct vq_chain, out));
    c->head = head;
    uint16_t i = head;
    for (unsigned count = 0;; count++) {
        if (count >= vq->num)
            return fail(vq, VHOST_ERR_VQ_LOOP);
        /* one copy of the descriptor: the guest may rewrite it while we look */
        struct vring_desc d;
        memcpy(&d, vq->desc + 16 * (size_t)i, sizeof d);
        __atomic_thread_fence(__ATOMIC_ACQUIRE);
        if (d.flags & VRING_DESC_F_INDIRECT)
            return fail(vq, VHOST_ERR_VQ_INDIRECT);
        int r = add_piece(vq, mem, c, d.addr, d.len, d.flags & VRING_DESC_F_WRITE);
        if (r < 0)
            return r;
        if (!(d.flags & VRING_DESC_F_NEXT))
            break;
        if (d.next >= vq->num)
            return fail(vq, VHOST_ERR_VQ_HEAD);
        i = d.next;
    }
    vq->last_avail++;
    return 1;
}

void vq_push(struct vq *vq, uint16_t head, uint32_t len)
{
    if (!vq_ready(vq))
        return;
    uint16_t slot = vq->used_idx % vq->num;
    uint8_t *e = vq->used + 4 + 8 * (size_t)slot;
    uint32_t id = head;
    memcpy(e, &id, 4);
    memcpy(e + 4, &len, 4);
    vq->used_idx++;
    store16(vq->used + 2, vq->used_idx, __ATOMIC_RELEASE);
    vq->pending_notify = true;
}

bool vq_should_notify(struct vq *vq)
{
    if (!vq->pending_notify || !vq_ready(vq))
        return false;
    vq->pending_notify = false;
    /* the used index must be visible before we read the guest's suppression flag */
    __atomic_thread_fence(__ATOMIC_SEQ_CST);
    return !(load16(vq->avail) & VRING_AVAIL_F_NO_INTERRUPT);
}

size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - off;
        if (k > len - done)
            k = len - done;
        memcpy((uint8_t *)buf + done, (const uint8_t *)iov[i].iov_base + off, k);
        done += k;
        off = 0;
    }
    return done;
}

size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len)
{
    size_t done = 0;
    for (unsigned i = 0; i < n && done < len; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - off;
        if (k > len - done)
            k = len - done;
        memcpy((uint8_t *)iov[i].iov_base + off, (const uint8_t *)buf + done, k);
        done += k;
        off = 0;
    }
    return done;
}

unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
                   struct iovec *out, unsigned max)
{
    unsigned m = 0;
    for (unsigned i = 0; i < n && len > 0 && m < max; i++) {
        if (off >= iov[i].iov_len) {
            off -= iov[i].iov_len;
            continue;
        }
        size_t k = iov[i].iov_len - off;
        if (k > len)
            k = len;
        out[m++] = (struct iovec){ .iov_base = (uint8_t *)iov[i].iov_base + off, .iov_len = k };
        len -= k;
        off = 0;
    }
    return m;
}
