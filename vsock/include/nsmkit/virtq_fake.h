/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock guest side: a driver's half of the split virtqueues over a guest memory
 * in a plain buffer, for unit tests and fuzz targets (never used by the backend itself).
 * Region 0 is the buffer at guest-physical VQF_GPA, QEMU-virtual VQF_UVA; three rings of
 * size qsize sit at its start, buffers are carved after them.
 */
#ifndef NSMKIT_VIRTQ_FAKE_H
#define NSMKIT_VIRTQ_FAKE_H

#include <stdbool.h>
#include <stdint.h>

#include "nsmkit/virtq.h"

#define VQF_GPA 0x100000ull
#define VQF_UVA 0x7f0000000000ull
#define VQF_RINGS 3

struct vqf_piece {
    uint64_t gpa;
    uint32_t len;
    bool writable;
};

struct vqf_guest {
    uint8_t *ram;
    size_t ram_size;
    uint16_t qsize;
    struct vq_mem mem;
    struct vq q[VQF_RINGS];          /* the device's view */
    uint64_t ring_gpa[VQF_RINGS];    /* descriptors, then avail, then used */
    uint16_t next_desc[VQF_RINGS], avail_idx[VQF_RINGS], used_seen[VQF_RINGS];
    uint64_t heap, heap_start;
};

/* 0, or -1 when out of memory. */
int vqf_init(struct vqf_guest *g, size_t ram_size, uint16_t qsize);
void vqf_free(struct vqf_guest *g);
/* gpa of len fresh bytes (wraps around the buffer area; len <= a quarter of it). */
uint64_t vqf_alloc(struct vqf_guest *g, uint32_t len);
uint8_t *vqf_ptr(struct vqf_guest *g, uint64_t gpa);
/* Publishes one chain of n pieces on ring r; returns its head. */
uint16_t vqf_add(struct vqf_guest *g, unsigned r, const struct vqf_piece *p, unsigned n);
/* Writes raw descriptor i of ring r (for hostile chains) and publishes head. */
void vqf_raw_desc(struct vqf_guest *g, unsigned r, uint16_t i, uint64_t addr, uint32_t len,
                  uint16_t flags, uint16_t next);
void vqf_publish(struct vqf_guest *g, unsigned r, uint16_t head);
void vqf_set_avail_idx(struct vqf_guest *g, unsigned r, uint16_t idx);
/* The next used element of ring r: true and its id and len, or false. */
bool vqf_used(struct vqf_guest *g, unsigned r, uint32_t *id, uint32_t *len);

#endif /* NSMKIT_VIRTQ_FAKE_H */
