/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock guest side: the vhost-user protocol as a backend speaks it to QEMU
 * (QEMU docs/interop/vhost-user.rst), for a virtio-vsock device.
 *
 * vu_handle() takes one message already read (header, payload, the file descriptors that
 * came with it) and answers it, so tests and the fuzzer drive it from memory; vu_recv() and
 * vu_send() are the socket half. Guest memory comes as memfd regions that are mapped with
 * mmap(), or through the map hook (tests and fuzzing give a fake memory).
 *
 * Offered: VIRTIO_F_VERSION_1 and VHOST_USER_F_PROTOCOL_FEATURES; protocol features
 * REPLY_ACK and CONFIG (the config space holds the guest CID; QEMU 7.2's vhost-user-vsock
 * reads it with GET_CONFIG). Not offered: indirect descriptors, event index, multiqueue,
 * dirty logging, the slave channel; their messages are refused.
 */
#ifndef NSMKIT_VHOST_USER_H
#define NSMKIT_VHOST_USER_H

#include <stdbool.h>
#include <stdint.h>

#include "nsmkit/virtq.h"

#define VU_HDR_SIZE 12
#define VU_MAX_PAYLOAD 4096
#define VU_MAX_FDS 8
#define VU_NUM_QUEUES 3            /* rx, tx, event */
#define VU_QUEUE_RX 0
#define VU_QUEUE_TX 1
#define VU_QUEUE_EVENT 2

/* Requests (the spec's numbering; "front-end" messages). */
enum {
    VU_GET_FEATURES = 1,
    VU_SET_FEATURES = 2,
    VU_SET_OWNER = 3,
    VU_RESET_OWNER = 4,
    VU_SET_MEM_TABLE = 5,
    VU_SET_LOG_BASE = 6,
    VU_SET_LOG_FD = 7,
    VU_SET_VRING_NUM = 8,
    VU_SET_VRING_ADDR = 9,
    VU_SET_VRING_BASE = 10,
    VU_GET_VRING_BASE = 11,
    VU_SET_VRING_KICK = 12,
    VU_SET_VRING_CALL = 13,
    VU_SET_VRING_ERR = 14,
    VU_GET_PROTOCOL_FEATURES = 15,
    VU_SET_PROTOCOL_FEATURES = 16,
    VU_GET_QUEUE_NUM = 17,
    VU_SET_VRING_ENABLE = 18,
    VU_GET_CONFIG = 24,
    VU_SET_CONFIG = 25,
};

#define VU_FLAG_VERSION 0x1u
#define VU_FLAG_REPLY (1u << 2)
#define VU_FLAG_NEED_REPLY (1u << 3)
#define VU_F_PROTOCOL_FEATURES (1ull << 30)
#define VU_F_VERSION_1 (1ull << 32)
#define VU_PROTOCOL_F_REPLY_ACK (1ull << 3)
#define VU_PROTOCOL_F_CONFIG (1ull << 9)
#define VU_VRING_NOFD (1ull << 8)

struct vu_msg {
    uint32_t request, flags, size;
    uint8_t payload[VU_MAX_PAYLOAD];
    int fds[VU_MAX_FDS];
    unsigned nfds;
};

struct vu_dev {
    uint64_t cid;                          /* the config space: the guest's CID */
    uint64_t features, protocol_features;  /* acknowledged by QEMU */
    bool owner;
    struct vq_mem mem;
    void *maps[VQ_MAX_REGIONS];
    size_t map_len[VQ_MAX_REGIONS];
    struct vq vq[VU_NUM_QUEUES];
    int kick[VU_NUM_QUEUES], call[VU_NUM_QUEUES], err[VU_NUM_QUEUES];
    bool enabled[VU_NUM_QUEUES], started[VU_NUM_QUEUES];
    /* Maps len bytes of fd from offset 0 (NULL: mmap); unmaps. Tests give a fake memory. */
    void *(*map)(void *ctx, int fd, size_t len);
    void (*unmap)(void *ctx, void *p, size_t len);
    void *map_ctx;
    char why[256];                         /* the last refusal, in words */
};

void vu_init(struct vu_dev *v, uint64_t cid);
/* Forgets the session: unmaps memory, closes kick/call/err descriptors, clears the rings
 * (on RESET_OWNER and when QEMU goes away). */
void vu_reset(struct vu_dev *v);

/* Answers msg (whose fds it takes: kept or closed). *reply_needed says whether reply is to
 * be sent. 0, or a VHOST_ERR_VU_* code (v->why says more) after which the caller drops the
 * connection; a reply may still be due (a REPLY_ACK failure). */
int vu_handle(struct vu_dev *v, struct vu_msg *msg, struct vu_msg *reply, bool *reply_needed);

/* Whether queue i is configured, started by its kick and enabled. */
bool vu_queue_live(const struct vu_dev *v, unsigned i);

/* One message from the socket: 1 read, 0 orderly EOF, or -VHOST_ERR_VU_* (fds closed). */
int vu_recv(int sock, struct vu_msg *msg);
/* 0 or -VHOST_ERR_VU_IO. */
int vu_send(int sock, const struct vu_msg *msg);

#endif /* NSMKIT_VHOST_USER_H */
