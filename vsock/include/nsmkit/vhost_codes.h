/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock guest side: the numbered errors of the vhost-user backend, its virtqueues
 * and its virtio-vsock packet handler (range 5500-5999, RANGES.md), in the project's
 * X-macro style: a stable number, a name, a sentence. Numbers are never reused; new codes
 * are appended in their group.
 *
 *   55xx  the vhost-user messages from QEMU
 *   56xx  the split virtqueues (descriptors, rings, guest memory)
 *   57xx  the virtio-vsock packets from the guest
 *   58xx  the command (nsm-vsock vhost-user) and its sockets
 */
#ifndef NSMKIT_VHOST_CODES_H
#define NSMKIT_VHOST_CODES_H

/* X(NAME, number, sentence) */
#define VHOST_CODES(X)                                                                        \
    X(OK, 0, "success")                                                                       \
    X(VU_SHORT, 5500, "a vhost-user message is shorter than its header or its stated size")   \
    X(VU_TOO_LARGE, 5501, "a vhost-user message's payload is over the backend's limit")       \
    X(VU_UNKNOWN, 5502, "a vhost-user request this backend does not know or did not offer")   \
    X(VU_PAYLOAD, 5503, "a vhost-user payload has the wrong size for its request")            \
    X(VU_FDS, 5504, "a vhost-user message carries the wrong number of file descriptors")      \
    X(VU_MEM_TABLE, 5505, "the memory table is malformed (count, sizes, overflow, overlap)")   \
    X(VU_MMAP, 5506, "a guest memory region cannot be mapped")                                \
    X(VU_RING_INDEX, 5507, "a vring index is out of range")                                   \
    X(VU_RING_SIZE, 5508, "a vring size is not a power of two from 1 to 32768")                \
    X(VU_RING_ADDR, 5509, "a vring lies outside the shared memory or is misaligned")          \
    X(VU_FEATURES, 5510, "the features acknowledged are not a subset of those offered")       \
    X(VU_CONFIG, 5511, "a config space request is out of range or not supported")             \
    X(VU_VERSION, 5512, "a vhost-user message has a version other than 1, or a reply flag")  \
    X(VU_IO, 5513, "the vhost-user socket failed or was closed")                              \
    X(VQ_AVAIL_IDX, 5600, "the guest's avail index moved by more than the ring's size")       \
    X(VQ_HEAD, 5601, "a descriptor index is out of the ring")                                 \
    X(VQ_LOOP, 5602, "a descriptor chain is longer than the ring (a loop) or the iov limit")  \
    X(VQ_ADDR, 5603, "a descriptor points outside the guest's shared memory")                 \
    X(VQ_ORDER, 5604, "a device-readable descriptor follows a device-writable one")           \
    X(VQ_INDIRECT, 5605, "an indirect descriptor, which this device does not offer")          \
    X(VQ_NOT_READY, 5606, "the virtqueue is not set up")                                      \
    X(PKT_SHORT, 5700, "a packet is shorter than the virtio-vsock header")                    \
    X(PKT_LEN, 5701, "a packet's len disagrees with its buffers or is over 64 KiB")           \
    X(PKT_SRC, 5702, "a packet's source CID is not the guest's")                              \
    X(PKT_TYPE, 5703, "a packet's socket type is not stream")                                 \
    X(PKT_OP, 5704, "a packet's op is unknown or not valid in its connection's state")        \
    X(PKT_CREDIT, 5705, "the guest sent more than the credit it was given")                   \
    X(PKT_NO_CONN, 5706, "a packet for no connection")                                        \
    X(PKT_TOO_MANY, 5707, "the guest has too many connections")                               \
    X(PKT_RX_BUF, 5708, "a receive buffer is device-readable or shorter than the header")     \
    X(PKT_REFUSED, 5709, "nobody listens at the address the guest connected to")              \
    X(CMD_USAGE, 5800, "the command line is not valid")                                       \
    X(CMD_SOCKET, 5801, "a socket cannot be created, bound or listened on")                   \
    X(CMD_DIR, 5802, "the network directory is unsafe, too long or cannot be created")        \
    X(CMD_POLL, 5803, "the backend cannot wait for its sockets")                              \
    X(CMD_CONNECT_LINE, 5804, "a host program sent something other than CONNECT <port>")

typedef enum {
#define VHOST_CODE_ENUM(name, number, sentence) VHOST_ERR_##name = number,
    VHOST_CODES(VHOST_CODE_ENUM)
#undef VHOST_CODE_ENUM
} vhost_code;

/* "VQ_LOOP" and its sentence; NULL for numbers outside the list. */
const char *vhost_code_name(int code);
const char *vhost_code_sentence(int code);

#endif /* NSMKIT_VHOST_CODES_H */
