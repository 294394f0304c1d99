/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock guest side: the guest's shared memory and split virtqueues, as a device
 * sees them (virtio 1.x, section 2.7 "Split Virtqueues"; layouts from <linux/virtio_ring.h>).
 *
 * Everything here reads memory a hostile guest writes while we read it: every index is
 * read once and bounded, every descriptor's (address, length) is checked to lie inside one
 * shared region before a pointer is made of it, a chain is cut at the ring's size (a loop)
 * and at VQ_MAX_IOV pieces. A queue that breaks a rule is marked broken and serves nothing
 * more; the caller drops the guest.
 */
#ifndef NSMKIT_VIRTQ_H
#define NSMKIT_VIRTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define VQ_MAX_REGIONS 8   /* vhost-user's memory table holds at most 8 regions */
#define VQ_MAX_SIZE 32768  /* the largest split ring */
#define VQ_MAX_IOV 64      /* pieces of one descriptor chain */

/* One region of guest memory: guest-physical range, QEMU's virtual address of it (vring
 * addresses come in those), and where it is mapped here. */
struct vq_region {
    uint64_t gpa;
    uint64_t size;
    uint64_t uva;
    uint8_t *host;
};

struct vq_mem {
    unsigned n;
    struct vq_region r[VQ_MAX_REGIONS];
};

/* host pointer for [gpa, gpa+len) or [uva, uva+len) when it lies in one region, else NULL
 * (len 0 is allowed and gives a pointer when gpa is inside a region or at its end). */
uint8_t *vq_mem_gpa(const struct vq_mem *mem, uint64_t gpa, uint64_t len);
uint8_t *vq_mem_uva(const struct vq_mem *mem, uint64_t uva, uint64_t len);

struct vq {
    /* set by the vhost-user messages */
    uint16_t num;                       /* 0: not configured */
    uint64_t desc_uva, avail_uva, used_uva;
    bool addr_set;
    /* mapped from the above by vq_map */
    uint8_t *desc, *avail, *used;
    uint16_t last_avail;                /* next avail entry to take */
    uint16_t used_idx;                  /* next used entry to write */
    bool broken;                        /* a rule was broken: serves nothing more */
    bool pending_notify;                /* used entries added since the last notify */
};

/* One chain taken from the avail ring: device-readable pieces first, then writable ones. */
struct vq_chain {
    uint16_t head;
    unsigned nout, nin;
    size_t out_len, in_len;
    struct iovec out[VQ_MAX_IOV];
    struct iovec in[VQ_MAX_IOV];
};

/* Maps the ring's three parts through mem (QEMU's addresses). 0, or a VHOST_ERR_ code. */
int vq_map(struct vq *vq, const struct vq_mem *mem);
bool vq_ready(const struct vq *vq);

/* Takes the next available chain: 1 taken, 0 none available, or a negative VHOST_ERR_ code
 * (-code) after which the queue is broken. Descriptor addresses are guest-physical. */
int vq_pop(struct vq *vq, const struct vq_mem *mem, struct vq_chain *chain);
/* Gives a chain back with len bytes written into its writable part. */
void vq_push(struct vq *vq, uint16_t head, uint32_t len);
/* Whether the guest wants an interrupt now (clears pending_notify). */
bool vq_should_notify(struct vq *vq);
/* Chains the guest has made available and we have not taken. */
unsigned vq_avail_count(struct vq *vq);

/* Copy between flat memory and a list of iovecs, starting at byte offset off of the list;
 * returns the bytes copied (fewer when the list ends). */
size_t iov_to_buf(const struct iovec *iov, unsigned n, size_t off, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned n, size_t off, const void *buf, size_t len);
/* Builds in out (at most max pieces) the part of iov from byte offset off, at most len
 * bytes; returns the number of pieces. */
unsigned iov_slice(const struct iovec *iov, unsigned n, size_t off, size_t len,
                   struct iovec *out, unsigned max);

#endif /* NSMKIT_VIRTQ_H */
