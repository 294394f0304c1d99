/* SPDX-License-Identifier: Apache-2.0 */
/* nsmkit vsock guest side: the driver's half of split virtqueues, for tests (virtq_fake.h). */
#include "nsmkit/virtq_fake.h"

#include <linux/virtio_ring.h>
#include <stdlib.h>
#include <string.h>

static size_t ring_bytes(uint16_t n)
{
    return 16u * n + (6u + 2u * n + 2u) + (6u + 8u * n) + 64;
}

int vqf_init(struct vqf_guest *g, size_t ram_size, uint16_t qsize)
{
    memset(g, 0, sizeof *g);
    g->ram = calloc(1, ram_size);
    if (!g->ram)
        return -1;
    g->ram_size = ram_size;
    g->qsize = qsize;
    g->mem.n = 1;
    g->mem.r[0] = (struct vq_region){ VQF_GPA, ram_size, VQF_UVA, g->ram };
    uint64_t at = VQF_GPA;
    for (unsigned r = 0; r < VQF_RINGS; r++) {
        g->ring_gpa[r] = at;
        struct vq *q = &g->q[r];
        q->num = qsize;
        q->desc_uva = at - VQF_GPA + VQF_UVA;
        q->avail_uva = q->desc_uva + 16u * qsize;
        q->used_uva = (q->avail_uva + 6u + 2u * qsize + 2u + 3) & ~3ull;
        q->addr_set = true;
        vq_map(q, &g->mem);
        at += (ring_bytes(qsize) + 15) & ~15ull;
    }
    g->heap = g->heap_start = at;
    return 0;
}

void vqf_free(struct vqf_guest *g)
{
    free(g->ram);
    g->ram = NULL;
}

uint64_t vqf_alloc(struct vqf_guest *g, uint32_t len)
{
    if (g->heap + len > VQF_GPA + g->ram_size)
        g->heap = g->heap_start;
    uint64_t at = g->heap;
    g->heap += (len + 7u) & ~7u;
    return at;
}

uint8_t *vqf_ptr(struct vqf_guest *g, uint64_t gpa)
{
    return g->ram + (gpa - VQF_GPA);
}

void vqf_raw_desc(struct vqf_guest *g, unsigned r, uint16_t i, uint64_t addr, uint32_t len,
                  uint16_t flags, uint16_t next)
{
    struct vring_desc d = { addr, len, flags, next };
    memcpy(vqf_ptr(g, g->ring_gpa[r]) + 16u * i, &d, sizeof d);
}

void vqf_set_avail_idx(struct vqf_guest *g, unsigned r, uint16_t idx)
{
    uint8_t *avail = vqf_ptr(g, g->ring_gpa[r]) + 16u * g->qsize;
    __atomic_store_n((uint16_t *)(void *)(avail + 2), idx, __ATOMIC_RELEASE);
    g->avail_idx[r] = idx;
}

void vqf_publish(struct vqf_guest *g, unsigned r, uint16_t head)
{
    uint8_t *avail = vqf_ptr(g, g->ring_gpa[r]) + 16u * g->qsize;
    uint16_t slot = g->avail_idx[r] % g->qsize;
    memcpy(avail + 4 + 2u * slot, &head, 2);
    vqf_set_avail_idx(g, r, (uint16_t)(g->avail_idx[r] + 1));
}

uint16_t vqf_add(struct vqf_guest *g, unsigned r, const struct vqf_piece *p, unsigned n)
{
    uint16_t head = g->next_desc[r];
    for (unsigned i = 0; i < n; i++) {
        uint16_t me = (uint16_t)((head + i) % g->qsize);
        uint16_t next = (uint16_t)((me + 1) % g->qsize);
        uint16_t flags = (uint16_t)((p[i].writable ? VRING_DESC_F_WRITE : 0) |
                                    (i + 1 < n ? VRING_DESC_F_NEXT : 0));
        vqf_raw_desc(g, r, me, p[i].gpa, p[i].len, flags, next);
    }
    g->next_desc[r] = (uint16_t)((head + n) % g->qsize);
    vqf_publish(g, r, head);
    return head;
}

bool vqf_used(struct vqf_guest *g, unsigned r, uint32_t *id, uint32_t *len)
{
    uint8_t *used = vqf_ptr(g, g->ring_gpa[r]) + (g->q[r].used_uva - g->q[r].desc_uva);
    uint16_t idx = __atomic_load_n((uint16_t *)(void *)(used + 2), __ATOMIC_ACQUIRE);
    if (idx == g->used_seen[r])
        return false;
    uint16_t slot = g->used_seen[r] % g->qsize;
    memcpy(id, used + 4 + 8u * slot, 4);
    memcpy(len, used + 8 + 8u * slot, 4);
    g->used_seen[r]++;
    return true;
}
