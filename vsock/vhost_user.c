/* SPDX-License-Identifier: Apache-2.0 */
/*
 * nsmkit vsock guest side: the vhost-user message handler (vhost_user.h).
 *
 * Every payload is checked for its request's exact size before a field is read; ring
 * indexes, ring sizes and memory regions are bounded; a message's file descriptors are
 * either kept (one per memory region, one per kick/call/err) or closed, never leaked.
 * A refusal returns a code and leaves the device as it was: the caller drops QEMU's
 * connection, which the spec's "the back-end must be ready for the front-end to go away"
 * covers on QEMU's side too.
 */
#include "nsmkit/vhost_user.h"

#include <errno.h>
#include <linux/vhost_types.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nsmkit/vhost_codes.h"

#define OFFERED_FEATURES (VU_F_VERSION_1 | VU_F_PROTOCOL_FEATURES)
#define OFFERED_PROTOCOL (VU_PROTOCOL_F_REPLY_ACK | VU_PROTOCOL_F_CONFIG)
#define CONFIG_SIZE 8          /* struct virtio_vsock_config: le64 guest_cid */
#define MAX_REGION (1ull << 40) /* no guest here has a terabyte */

/* One region of SET_MEM_TABLE, as the spec lays it out. */
struct vu_region {
    uint64_t gpa, size, uva, mmap_offset;
};

static int refuse(struct vu_dev *v, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int refuse(struct vu_dev *v, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(v->why, sizeof v->why, fmt, ap);
    va_end(ap);
    return code;
}

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void unmap_all(struct vu_dev *v)
{
    for (unsigned i = 0; i < VQ_MAX_REGIONS; i++) {
        if (v->maps[i]) {
            if (v->unmap)
                v->unmap(v->map_ctx, v->maps[i], v->map_len[i]);
            else
                munmap(v->maps[i], v->map_len[i]);
        }
        v->maps[i] = NULL;
        v->map_len[i] = 0;
    }
    memset(&v->mem, 0, sizeof v->mem);
}

void vu_init(struct vu_dev *v, uint64_t cid)
{
    memset(v, 0, sizeof *v);
    v->cid = cid;
    for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
        v->kick[i] = v->call[i] = v->err[i] = -1;
}

void vu_reset(struct vu_dev *v)
{
    unmap_all(v);
    for (unsigned i = 0; i < VU_NUM_QUEUES; i++) {
        close_fd(&v->kick[i]);
        close_fd(&v->call[i]);
        close_fd(&v->err[i]);
        memset(&v->vq[i], 0, sizeof v->vq[i]);
        v->enabled[i] = v->started[i] = false;
    }
    v->features = v->protocol_features = 0;
    v->owner = false;
}

bool vu_queue_live(const struct vu_dev *v, unsigned i)
{
    return i < VU_NUM_QUEUES && v->started[i] && v->enabled[i] && vq_ready(&v->vq[i]);
}

static void close_msg_fds(struct vu_msg *m)
{
    for (unsigned i = 0; i < m->nfds && i < VU_MAX_FDS; i++)
        close_fd(&m->fds[i]);
    m->nfds = 0;
}

static void remap_rings(struct vu_dev *v)
{
    for (unsigned i = 0; i < VU_NUM_QUEUES; i++)
        if (vq_map(&v->vq[i], &v->mem) != 0)
            v->vq[i].broken = true;
}

/* Checks the table (count, sizes, no overflow, no overlap) before anything is mapped. */
static int check_regions(struct vu_dev *v, const struct vu_region *r, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (r[i].size == 0 || r[i].size > MAX_REGION || r[i].mmap_offset > MAX_REGION ||
            r[i].gpa > UINT64_MAX - r[i].size || r[i].uva > UINT64_MAX - r[i].size)
            return refuse(v, VHOST_ERR_VU_MEM_TABLE, "memory region %u: size %llu at %llu",
                          i, (unsigned long long)r[i].size, (unsigned long long)r[i].gpa);
        for (unsigned j = 0; j < i; j++) {
            bool gpa_overlap = r[i].gpa < r[j].gpa + r[j].size && r[j].gpa < r[i].gpa + r[i].size;
            if (gpa_overlap)
                return refuse(v, VHOST_ERR_VU_MEM_TABLE, "memory regions %u and %u overlap", j, i);
        }
    }
    return 0;
}

static int set_mem_table(struct vu_dev *v, struct vu_msg *m)
{
    uint32_t n;
    if (m->size < 8)
        return refuse(v, VHOST_ERR_VU_PAYLOAD, "SET_MEM_TABLE of %u bytes", m->size);
    memcpy(&n, m->payload, 4);
    if (n == 0 || n > VQ_MAX_REGIONS || m->size != 8 + 32 * n)
        return refuse(v, VHOST_ERR_VU_MEM_TABLE, "SET_MEM_TABLE: %u regions in %u bytes", n,
                      m->size);
    if (m->nfds != n)
        return refuse(v, VHOST_ERR_VU_FDS, "SET_MEM_TABLE: %u regions, %u descriptors", n,
                      m->nfds);
    struct vu_region r[VQ_MAX_REGIONS];
    memcpy(r, m->payload + 8, 32 * (size_t)n);
    int rc = check_regions(v, r, n);
    if (rc)
        return rc;
    unmap_all(v);
    for (unsigned i = 0; i < n; i++) {
        size_t len = (size_t)(r[i].size + r[i].mmap_offset);
        void *p = v->map ? v->map(v->map_ctx, m->fds[i], len)
                         : mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, m->fds[i], 0);
        if (!p || p == MAP_FAILED) {
            int e = errno;
            unmap_all(v);
            remap_rings(v); /* the rings lost their memory: no pointer into it stays */
            return refuse(v, VHOST_ERR_VU_MMAP, "memory region %u (%zu bytes): %s", i, len,
                          strerror(e));
        }
        v->maps[i] = p;
        v->map_len[i] = len;
        v->mem.r[i] = (struct vq_region){ .gpa = r[i].gpa, .size = r[i].size, .uva = r[i].uva,
                                          .host = (uint8_t *)p + r[i].mmap_offset };
        v->mem.n = i + 1;
    }
    close_msg_fds(m); /* the mappings stay valid without the descriptors */
    remap_rings(v);
    return 0;
}

static int vring_state(struct vu_dev *v, const struct vu_msg *m, struct vhost_vring_state *s)
{
    if (m->size != sizeof *s)
        return refuse(v, VHOST_ERR_VU_PAYLOAD, "request %u: %u bytes, not 8", m->request, m->size);
    memcpy(s, m->payload, sizeof *s);
    if (s->index >= VU_NUM_QUEUES)
        return refuse(v, VHOST_ERR_VU_RING_INDEX, "vring %u (this device has 3)", s->index);
    return 0;
}

static int set_vring_addr(struct vu_dev *v, const struct vu_msg *m)
{
    struct vhost_vring_addr a;
    if (m->size != sizeof a)
        return refuse(v, VHOST_ERR_VU_PAYLOAD, "SET_VRING_ADDR of %u bytes", m->size);
    memcpy(&a, m->payload, sizeof a);
    if (a.index >= VU_NUM_QUEUES)
        return refuse(v, VHOST_ERR_VU_RING_INDEX, "vring %u (this device has 3)", a.index);
    struct vq *q = &v->vq[a.index];
    q->desc_uva = a.desc_user_addr;
    q->avail_uva = a.avail_user_addr;
    q->used_uva = a.used_user_addr;
    q->addr_set = true;
    q->broken = false;
    if (vq_map(q, &v->mem) != 0) {
        q->addr_set = false;
        return refuse(v, VHOST_ERR_VU_RING_ADDR, "vring %u lies outside the shared memory",
                      a.index);
    }
    return 0;
}

/* SET_VRING_KICK / CALL / ERR: u64 with the index in bits 0-7, bit 8 "no descriptor". */
static int set_vring_fd(struct vu_dev *v, struct vu_msg *m)
{
    uint64_t u;
    if (m->size != 8)
        return refuse(v, VHOST_ERR_VU_PAYLOAD, "request %u: %u bytes, not 8", m->request, m->size);
    memcpy(&u, m->payload, 8);
    unsigned i = (unsigned)(u & 0xff);
    bool nofd = u & VU_VRING_NOFD;
    if (i >= VU_NUM_QUEUES)
        return refuse(v, VHOST_ERR_VU_RING_INDEX, "vring %u (this device has 3)", i);
    if (m->nfds != (nofd ? 0u : 1u))
        return refuse(v, VHOST_ERR_VU_FDS, "request %u: %u descriptors", m->request, m->nfds);
    if (m->request == VU_SET_VRING_KICK && nofd)
        return refuse(v, VHOST_ERR_VU_FDS, "polling mode (kick without a descriptor) is not offered");
    int *slot = m->request == VU_SET_VRING_KICK ? &v->kick[i]
              : m->request == VU_SET_VRING_CALL ? &v->call[i] : &v->err[i];
    close_fd(slot);
    if (!nofd) {
        *slot = m->fds[0];
        m->fds[0] = -1;
        m->nfds = 0;
    }
    if (m->request == VU_SET_VRING_KICK) {
        /* the spec: a ring starts on its kick; without PROTOCOL_FEATURES it is enabled too */
        v->started[i] = true;
        if (!(v->features & VU_F_PROTOCOL_FEATURES))
            v->enabled[i] = true;
        if (vq_map(&v->vq[i], &v->mem) != 0)
            v->vq[i].broken = true;
    }
    return 0;
}

static int get_config(struct vu_dev *v, const struct vu_msg *m, struct vu_msg *reply)
{
    uint32_t off, size;
    if (m->size < 12)
        return refuse(v, VHOST_ERR_VU_PAYLOAD, "GET_CONFIG of %u bytes", m->size);
    memcpy(&off, m->payload, 4);
    memcpy(&size, m->payload + 4, 4);
    if (m->size != 12 + (uint64_t)size || off > CONFIG_SIZE || size > CONFIG_SIZE - off) {
        reply->size = 0; /* the spec: an empty payload tells QEMU it failed */
        return refuse(v, VHOST_ERR_VU_CONFIG, "GET_CONFIG of %u bytes at %u", size, off);
    }
    uint8_t config[CONFIG_SIZE];
    uint64_t cid = v->cid;
    memcpy(config, &cid, sizeof config); /* le64 on a little-endian host */
    memcpy(reply->payload, m->payload, 12);
    memcpy(reply->payload + 12, config + off, size);
    reply->size = 12 + size;
    return 0;
}

static int reply_u64(struct vu_msg *reply, uint64_t value)
{
    memcpy(reply->payload, &value, 8);
    reply->size = 8;
    return 0;
}

static int get_u64(struct vu_dev *v, const struct vu_msg *m, uint64_t *value)
{
    if (m->size != 8)
        return refuse(v, VHOST_ERR_VU_PAYLOAD, "request %u: %u bytes, not 8", m->request, m->size);
    memcpy(value, m->payload, 8);
    return 0;
}

static int set_features(struct vu_dev *v, const struct vu_msg *m, bool protocol)
{
    uint64_t f = 0;
    int rc = get_u64(v, m, &f);
    if (rc)
        return rc;
    if (f & ~(protocol ? OFFERED_PROTOCOL : OFFERED_FEATURES))
        return refuse(v, VHOST_ERR_VU_FEATURES, "%sfeatures 0x%llx, offered 0x%llx",
                      protocol ? "protocol " : "", (unsigned long long)f,
                      (unsigned long long)(protocol ? OFFERED_PROTOCOL : OFFERED_FEATURES));
    if (protocol)
        v->protocol_features = f;
    else
        v->features = f;
    return 0;
}

static int ring_message(struct vu_dev *v, struct vu_msg *m, struct vu_msg *reply, bool *has_reply)
{
    struct vhost_vring_state s;
    int rc = vring_state(v, m, &s);
    if (rc)
        return rc;
    struct vq *q = &v->vq[s.index];
    switch (m->request) {
    case VU_SET_VRING_NUM:
        if (s.num == 0 || s.num > VQ_MAX_SIZE || (s.num & (s.num - 1)))
            return refuse(v, VHOST_ERR_VU_RING_SIZE, "vring %u of size %u", s.index, s.num);
        q->num = (uint16_t)s.num;
        q->broken = false;
        if (vq_map(q, &v->mem) != 0)
            q->broken = true;
        return 0;
    case VU_SET_VRING_BASE:
        if (s.num > 0xffff)
            return refuse(v, VHOST_ERR_VU_PAYLOAD, "vring %u base %u", s.index, s.num);
        q->last_avail = q->used_idx = (uint16_t)s.num;
        return 0;
    case VU_GET_VRING_BASE: /* stops the ring; the answer is where it stopped */
        v->started[s.index] = false;
        close_fd(&v->kick[s.index]);
        q->desc = q->avail = q->used = NULL; /* nothing touches a stopped ring */
        s.num = q->last_avail;
        memcpy(reply->payload, &s, sizeof s);
        reply->size = sizeof s;
        *has_reply = true;
        return 0;
    default: /* VU_SET_VRING_ENABLE */
        if (s.num > 1)
            return refuse(v, VHOST_ERR_VU_PAYLOAD, "SET_VRING_ENABLE %u", s.num);
        v->enabled[s.index] = s.num == 1;
        return 0;
    }
}

static int dispatch(struct vu_dev *v, struct vu_msg *m, struct vu_msg *reply, bool *has_reply)
{
    switch (m->request) {
    case VU_GET_FEATURES:
        *has_reply = true;
        return reply_u64(reply, OFFERED_FEATURES);
    case VU_GET_PROTOCOL_FEATURES:
        *has_reply = true;
        return reply_u64(reply, OFFERED_PROTOCOL);
    case VU_SET_FEATURES:
        return set_features(v, m, false);
    case VU_SET_PROTOCOL_FEATURES:
        return set_features(v, m, true);
    case VU_SET_OWNER:
        v->owner = true;
        return 0;
    case VU_RESET_OWNER:
        vu_reset(v);
        return 0;
    case VU_SET_MEM_TABLE:
        return set_mem_table(v, m);
    case VU_SET_VRING_NUM: case VU_SET_VRING_BASE: case VU_GET_VRING_BASE:
    case VU_SET_VRING_ENABLE:
        return ring_message(v, m, reply, has_reply);
    case VU_SET_VRING_ADDR:
        return set_vring_addr(v, m);
    case VU_SET_VRING_KICK: case VU_SET_VRING_CALL: case VU_SET_VRING_ERR:
        return set_vring_fd(v, m);
    case VU_GET_CONFIG:
        *has_reply = true;
        return get_config(v, m, reply);
    case VU_SET_CONFIG:
        return refuse(v, VHOST_ERR_VU_CONFIG, "SET_CONFIG: the guest CID is read-only");
    default:
        return refuse(v, VHOST_ERR_VU_UNKNOWN, "request %u is not offered by this backend",
                      m->request);
    }
}

/* Requests whose only payload is in the message (no file descriptors expected). */
static bool takes_fds(uint32_t request)
{
    return request == VU_SET_MEM_TABLE || request == VU_SET_VRING_KICK ||
           request == VU_SET_VRING_CALL || request == VU_SET_VRING_ERR;
}

int vu_handle(struct vu_dev *v, struct vu_msg *m, struct vu_msg *reply, bool *reply_needed)
{
    bool has_reply = false;
    int rc;
    v->why[0] = 0;
    memset(reply, 0, VU_HDR_SIZE);
    reply->nfds = 0;
    if ((m->flags & 0x3) != VU_FLAG_VERSION || (m->flags & VU_FLAG_REPLY))
        rc = refuse(v, VHOST_ERR_VU_VERSION, "message flags 0x%x", m->flags);
    else if (m->size > VU_MAX_PAYLOAD || m->nfds > VU_MAX_FDS)
        rc = refuse(v, VHOST_ERR_VU_TOO_LARGE, "message of %u bytes", m->size);
    else if (m->nfds && !takes_fds(m->request))
        rc = refuse(v, VHOST_ERR_VU_FDS, "request %u with %u descriptors", m->request, m->nfds);
    else
        rc = dispatch(v, m, reply, &has_reply);
    close_msg_fds(m); /* whatever was not kept */
    bool ack = (v->protocol_features & VU_PROTOCOL_F_REPLY_ACK) &&
               (m->flags & VU_FLAG_NEED_REPLY) && !has_reply;
    if (ack) {
        reply_u64(reply, rc ? 1 : 0);
        has_reply = true;
    }
    reply->request = m->request;
    reply->flags = VU_FLAG_VERSION | VU_FLAG_REPLY;
    *reply_needed = has_reply;
    return rc;
}

int vu_recv(int sock, struct vu_msg *m)
{
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int) * VU_MAX_FDS)];
    } ctl;
    uint32_t hdr[3];
    struct iovec iov = { hdr, sizeof hdr };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
                         .msg_controllen = sizeof ctl.buf };
    ssize_t n;
    do
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_WAITALL);
    while (n < 0 && errno == EINTR);
    m->nfds = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int fd;
            memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            if (m->nfds < VU_MAX_FDS)
                m->fds[m->nfds++] = fd;
            else
                close(fd);
        }
    }
    if (n == 0 && m->nfds == 0)
        return 0;
    if (n != (ssize_t)sizeof hdr || (mh.msg_flags & MSG_CTRUNC) || hdr[2] > VU_MAX_PAYLOAD) {
        close_msg_fds(m);
        return n == (ssize_t)sizeof hdr && hdr[2] > VU_MAX_PAYLOAD ? -VHOST_ERR_VU_TOO_LARGE
                                                                   : -VHOST_ERR_VU_SHORT;
    }
    m->request = hdr[0];
    m->flags = hdr[1];
    m->size = hdr[2];
    size_t got = 0;
    while (got < m->size) {
        ssize_t k = recv(sock, m->payload + got, m->size - got, MSG_WAITALL);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            close_msg_fds(m);
            return -VHOST_ERR_VU_SHORT;
        }
        got += (size_t)k;
    }
    return 1;
}

int vu_send(int sock, const struct vu_msg *m)
{
    uint32_t hdr[3] = { m->request, m->flags, m->size };
    struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *)(uintptr_t)m->payload, m->size } };
    struct msghdr mh = { .msg_iov = iov, .msg_iovlen = 2 };
    ssize_t want = (ssize_t)(sizeof hdr + m->size), n;
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    return n == want ? 0 : -VHOST_ERR_VU_IO;
}
