/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The AF_VSOCK emulation (emu.h): sockaddr_vm in, unix sockets of the DIR network out.
 * Semantics follow Linux's af_vsock.c as a program sees them: addresses checked as
 * vsock_addr_cast() does (EINVAL for a short or foreign address in bind and connect),
 * local addresses as given to bind (VMADDR_CID_ANY stays ANY; auto-binding on connect
 * binds ANY and an ephemeral port), SO_VM_SOCKETS_* as vsock_connectible_[gs]etsockopt.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/vm_sockets.h>

#include "emu.h"

/* Linux's defaults for a new vsock (af_vsock.c). */
#define DEFAULT_BUFFER_SIZE (256u * 1024)
#define DEFAULT_BUFFER_MIN 128u
#define DEFAULT_BUFFER_MAX (256u * 1024)
#define DEFAULT_BACKLOG_MAX 4096

/* ---- the program's memory -------------------------------------------------------------- */

int vsemu_mem_read(pid_t pid, uintptr_t addr, void *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (addr == 0)
        return -EFAULT;
    struct iovec local = {.iov_base = buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)addr, .iov_len = len};
    ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
    if (n == (ssize_t)len)
        return 0;
    /* Where process_vm_readv is refused (a container's filter), the shim reads its own
     * memory directly: only the supervisor, which cannot, needs the call. */
    if (n < 0 && (errno == ENOSYS || errno == EPERM) && pid == getpid()) {
        memcpy(buf, (const void *)addr, len);
        return 0;
    }
    return -EFAULT;
}

int vsemu_mem_write(pid_t pid, uintptr_t addr, const void *buf, size_t len)
{
    if (len == 0)
        return 0;
    if (addr == 0)
        return -EFAULT;
    struct iovec local = {.iov_base = (void *)(uintptr_t)buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)addr, .iov_len = len};
    ssize_t n = process_vm_writev(pid, &local, 1, &remote, 1, 0);
    if (n == (ssize_t)len)
        return 0;
    if (n < 0 && (errno == ENOSYS || errno == EPERM) && pid == getpid()) {
        memcpy((void *)addr, buf, len);
        return 0;
    }
    return -EFAULT;
}

/* ---- the socket table: state by sockfs inode ------------------------------------------- */

#define TABLE_SLOTS 4096
#define TABLE_PROBE 16

typedef struct {
    ino_t ino; /* 0: free */
    unsigned long seq;
    vsemu_sock s;
} slot;

static slot table[TABLE_SLOTS];
static unsigned long table_seq;
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;

static void table_prepare(void)
{
    pthread_mutex_lock(&table_lock);
}
static void table_release(void)
{
    pthread_mutex_unlock(&table_lock);
}
static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static void table_init(void)
{
    /* A fork while another thread holds the lock must not leave the child locked. */
    pthread_atfork(table_prepare, table_release, table_release);
}

static ino_t inode_of(int fd)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISSOCK(st.st_mode))
        return 0;
    return st.st_ino;
}

/* The slot of ino (create: a new one, evicting the oldest of its probe run). Locked. */
static slot *table_find(ino_t ino, int create)
{
    size_t start = (size_t)ino % TABLE_SLOTS;
    slot *oldest = NULL, *free_slot = NULL;
    for (size_t i = 0; i < TABLE_PROBE; i++) {
        slot *sl = &table[(start + i) % TABLE_SLOTS];
        if (sl->ino == ino)
            return sl;
        if (sl->ino == 0 && free_slot == NULL)
            free_slot = sl;
        if (oldest == NULL || sl->seq < oldest->seq)
            oldest = sl;
    }
    if (!create)
        return NULL;
    slot *sl = free_slot != NULL ? free_slot : oldest;
    memset(sl, 0, sizeof(*sl));
    sl->ino = ino;
    sl->s.buffer_size = DEFAULT_BUFFER_SIZE;
    sl->s.buffer_min = DEFAULT_BUFFER_MIN;
    sl->s.buffer_max = DEFAULT_BUFFER_MAX;
    sl->s.connect_timeout_ms = NSMVSOCK_CONNECT_TIMEOUT_MS;
    return sl;
}

static void table_put(ino_t ino, const vsemu_sock *s)
{
    pthread_once(&table_once, table_init);
    pthread_mutex_lock(&table_lock);
    slot *sl = table_find(ino, 1);
    sl->s = *s;
    sl->seq = ++table_seq;
    pthread_mutex_unlock(&table_lock);
}

static void table_drop(ino_t ino)
{
    pthread_mutex_lock(&table_lock);
    slot *sl = table_find(ino, 0);
    if (sl != NULL)
        memset(sl, 0, sizeof(*sl));
    pthread_mutex_unlock(&table_lock);
}

/* Whether another socket of this table is bound to port. Locked by the caller. */
static int table_port_taken(ino_t self, uint32_t port)
{
    for (size_t i = 0; i < TABLE_SLOTS; i++)
        if (table[i].ino != 0 && table[i].ino != self && table[i].s.bound &&
            table[i].s.bound_port == port)
            return 1;
    return 0;
}

/* The path of a unix name in the DIR, or NULL. */
static const char *name_in_dir(vsemu *emu, const struct sockaddr_un *sun, socklen_t len)
{
    if (len <= offsetof(struct sockaddr_un, sun_path) || sun->sun_family != AF_UNIX)
        return NULL;
    size_t dlen = strlen(emu->net.dir);
    if (strncmp(sun->sun_path, emu->net.dir, dlen) != 0 || sun->sun_path[dlen] != '/')
        return NULL;
    return sun->sun_path;
}

/* A socket the table does not know, recognised by its names in the DIR. 0 or -1. */
static int recognise(vsemu *emu, int fd, vsemu_sock *s)
{
    struct sockaddr_un sun;
    socklen_t len = sizeof(sun);
    memset(&sun, 0, sizeof(sun));
    if (getsockname(fd, (struct sockaddr *)&sun, &len) != 0)
        return -1;
    const char *local = name_in_dir(emu, &sun, len);
    if (local == NULL)
        return -1;
    memset(s, 0, sizeof(*s));
    s->buffer_size = DEFAULT_BUFFER_SIZE;
    s->buffer_min = DEFAULT_BUFFER_MIN;
    s->buffer_max = DEFAULT_BUFFER_MAX;
    s->connect_timeout_ms = NSMVSOCK_CONNECT_TIMEOUT_MS;
    uint32_t cid, port;
    if (nsmvsock_listener_name_parse(local, strlen(local), &cid, &port) == 0 ||
        nsmvsock_peer_name_parse(local, strlen(local), &cid, &port) == 0) {
        s->bound = 1;
        s->bound_cid = cid;
        s->bound_port = port;
    } else {
        return -1;
    }
    int acceptconn = 0;
    socklen_t olen = sizeof(acceptconn);
    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &acceptconn, &olen) == 0 && acceptconn) {
        s->listening = 1;
        return 0;
    }
    memset(&sun, 0, sizeof(sun));
    len = sizeof(sun);
    if (getpeername(fd, (struct sockaddr *)&sun, &len) != 0)
        return 0;
    const char *peer = name_in_dir(emu, &sun, len);
    if (peer != NULL && nsmvsock_listener_name_parse(peer, strlen(peer), &cid, &port) == 0) {
        s->peer_cid = cid;
        s->peer_port = port;
    } else {
        nsmvsock_net_peer_of(fd, &s->peer_cid, &s->peer_port);
    }
    s->connected = 1;
    return 0;
}

/* The state of fd: 0 and *ino, or -1 when fd is not an emulated vsock. */
static int lookup(vsemu *emu, int fd, vsemu_sock *s, ino_t *ino)
{
    *ino = inode_of(fd);
    if (*ino == 0)
        return -1;
    pthread_once(&table_once, table_init);
    pthread_mutex_lock(&table_lock);
    slot *sl = table_find(*ino, 0);
    if (sl != NULL)
        *s = sl->s;
    pthread_mutex_unlock(&table_lock);
    if (sl != NULL)
        return 0;
    if (recognise(emu, fd, s) != 0)
        return -1;
    table_put(*ino, s);
    return 0;
}

int vsemu_state(vsemu *emu, int fd, vsemu_sock *out)
{
    ino_t ino;
    return lookup(emu, fd, out, &ino);
}

int vsemu_is_vsock(vsemu *emu, int fd)
{
    vsemu_sock s;
    ino_t ino;
    return lookup(emu, fd, &s, &ino) == 0;
}

/* ---- setup ----------------------------------------------------------------------------- */

int vsemu_from_env(vsemu *emu, nsmkit_error *e)
{
    const char *cid = getenv("NSM_VSOCK_CID");
    const char *dir = getenv("NSM_VSOCK_DIR");
    if (cid == NULL || dir == NULL)
        return nsmkit_fail(e, "NSM_VSOCK_CID and NSM_VSOCK_DIR must be set (nsm-vsock exec sets them)");
    char *end;
    errno = 0;
    unsigned long v = strtoul(cid, &end, 10);
    if (errno != 0 || end == cid || *end != '\0' || v < NSMVSOCK_CID_HOST || v >= NSMVSOCK_CID_ANY)
        return nsmkit_fail(e, "NSM_VSOCK_CID '%s' is not a CID (2 to 4294967294)", cid);
    emu->local_cid = (uint32_t)v;
    if (nsmvsock_net_open(&emu->net, dir, e) != NSMVSOCK_ERR_OK)
        return -1;
    return 0;
}

int vsemu_socket(vsemu *emu, int type, int protocol)
{
    (void)emu;
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (base != SOCK_STREAM)
        return -ESOCKTNOSUPPORT; /* SOCK_DGRAM and SOCK_SEQPACKET are not emulated */
    if (protocol != 0 && protocol != PF_VSOCK)
        return -EPROTONOSUPPORT;
    int fd = socket(AF_UNIX, type, 0);
    if (fd < 0)
        return -errno;
    vsemu_sock s;
    memset(&s, 0, sizeof(s));
    s.buffer_size = DEFAULT_BUFFER_SIZE;
    s.buffer_min = DEFAULT_BUFFER_MIN;
    s.buffer_max = DEFAULT_BUFFER_MAX;
    s.connect_timeout_ms = NSMVSOCK_CONNECT_TIMEOUT_MS;
    table_put(inode_of(fd), &s);
    return fd;
}

/* ---- addresses ------------------------------------------------------------------------- */

/* The program's sockaddr_vm for bind/connect: as vsock_addr_cast() (any failure EINVAL,
 * as bind and connect report it), after the system call layer's own checks. */
static long read_vm_address(pid_t pid, uintptr_t addr, long len, struct sockaddr_vm *vm)
{
    if (len < 0 || len > (long)sizeof(struct sockaddr_storage))
        return -EINVAL;
    if (len < (long)sizeof(*vm))
        return addr == 0 ? -EFAULT : -EINVAL;
    if (vsemu_mem_read(pid, addr, vm, sizeof(*vm)) != 0)
        return -EFAULT;
    if (vm->svm_family != AF_VSOCK || (vm->svm_flags & ~VMADDR_FLAG_TO_HOST) != 0)
        return -EINVAL;
    return 0;
}

/* Writes a sockaddr_vm as the kernel's move_addr_to_user(): *lenp bytes at most, then the
 * full length into *lenp. */
static long write_vm_address(pid_t pid, uintptr_t addr, uintptr_t lenp, uint32_t cid, uint32_t port)
{
    if (addr == 0)
        return 0;
    int len;
    if (vsemu_mem_read(pid, lenp, &len, sizeof(len)) != 0)
        return -EFAULT;
    if (len < 0)
        return -EINVAL;
    struct sockaddr_vm vm;
    memset(&vm, 0, sizeof(vm));
    vm.svm_family = AF_VSOCK;
    vm.svm_cid = cid;
    vm.svm_port = port;
    size_t n = (size_t)len < sizeof(vm) ? (size_t)len : sizeof(vm);
    if (vsemu_mem_write(pid, addr, &vm, n) != 0)
        return -EFAULT;
    int full = (int)sizeof(vm);
    if (vsemu_mem_write(pid, lenp, &full, sizeof(full)) != 0)
        return -EFAULT;
    return 0;
}

/* A descriptor that is not an emulated vsock goes to the kernel as it is, unless it is a
 * real AF_VSOCK socket (one inherited from outside the emulation): that one never. */
static long not_ours(int fd)
{
    int domain = 0;
    socklen_t len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && domain == AF_VSOCK)
        return -EAFNOSUPPORT;
    return VSEMU_PASS;
}

long vsemu_bind(vsemu *emu, int fd, pid_t pid, uintptr_t addr, long len)
{
    vsemu_sock s;
    ino_t ino;
    if (lookup(emu, fd, &s, &ino) != 0)
        return not_ours(fd);
    struct sockaddr_vm vm;
    long rc = read_vm_address(pid, addr, len, &vm);
    if (rc != 0)
        return rc;
    if (s.bound || s.connected)
        return -EINVAL;
    if (vm.svm_cid != VMADDR_CID_ANY && vm.svm_cid != emu->local_cid)
        return -EADDRNOTAVAIL;
    pthread_mutex_lock(&table_lock);
    uint32_t port = vm.svm_port;
    int taken = 0;
    if (port == VMADDR_PORT_ANY) {
        do
            port = nsmvsock_ephemeral_port();
        while (table_port_taken(ino, port) || nsmvsock_net_port_alive(&emu->net, emu->local_cid, port));
    } else {
        taken = table_port_taken(ino, port) || nsmvsock_net_port_alive(&emu->net, emu->local_cid, port);
    }
    if (!taken) {
        slot *sl = table_find(ino, 1);
        s.bound = 1;
        s.bound_cid = vm.svm_cid;
        s.bound_port = port;
        sl->s = s;
        sl->seq = ++table_seq;
    }
    pthread_mutex_unlock(&table_lock);
    return taken ? -EADDRINUSE : 0;
}

long vsemu_listen(vsemu *emu, int fd, int backlog)
{
    vsemu_sock s;
    ino_t ino;
    if (lookup(emu, fd, &s, &ino) != 0)
        return not_ours(fd);
    if (!s.bound || s.connected)
        return -EINVAL;
    if (s.listening)
        return listen(fd, backlog) == 0 ? 0 : -errno; /* a new backlog, as on a real socket */
    if (backlog < 0 || backlog > DEFAULT_BACKLOG_MAX)
        backlog = DEFAULT_BACKLOG_MAX;
    long rc = nsmvsock_net_listen_fd(&emu->net, fd, emu->local_cid, s.bound_port, backlog);
    if (rc != 0)
        return rc;
    s.listening = 1;
    s.listener_pid = getpid();
    table_put(ino, &s);
    return 0;
}

long vsemu_connect(vsemu *emu, int fd, pid_t pid, uintptr_t addr, long len)
{
    vsemu_sock s;
    ino_t ino;
    if (lookup(emu, fd, &s, &ino) != 0)
        return not_ours(fd);
    struct sockaddr_vm vm;
    long rc = read_vm_address(pid, addr, len, &vm);
    if (rc != 0)
        return rc;
    if (s.listening)
        return -EINVAL;
    if (s.connected)
        return -EISCONN;
    if (vm.svm_cid == VMADDR_CID_ANY || vm.svm_port == VMADDR_PORT_ANY)
        return -ENETUNREACH;
    if (!s.bound) {
        s.bound = 1;
        s.bound_cid = VMADDR_CID_ANY; /* vsock_auto_bind() */
        s.bound_port = nsmvsock_ephemeral_port();
        table_put(ino, &s);
    }
    long long t = s.connect_timeout_ms;
    rc = nsmvsock_net_connect_fd(&emu->net, fd, emu->local_cid, s.bound_port, vm.svm_cid,
                                 vm.svm_port, t > INT_MAX ? INT_MAX : (int)t);
    if (rc != 0)
        return rc;
    s.connected = 1;
    s.peer_cid = vm.svm_cid;
    s.peer_port = vm.svm_port;
    table_put(ino, &s);
    return 0;
}

long vsemu_accept(vsemu *emu, int fd, pid_t pid, uintptr_t addr, uintptr_t lenp, int flags,
                  int *newfd)
{
    vsemu_sock s;
    ino_t ino;
    *newfd = -1;
    if (lookup(emu, fd, &s, &ino) != 0)
        return not_ours(fd);
    if (!s.listening)
        return -EINVAL;
    if ((flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) != 0)
        return -EINVAL;
    if (addr != 0) {
        /* the length is read (and checked) before the wait, as the kernel does */
        int len;
        if (vsemu_mem_read(pid, lenp, &len, sizeof(len)) != 0)
            return -EFAULT;
        if (len < 0)
            return -EINVAL;
    }
    int c = accept4(fd, NULL, NULL, flags);
    if (c < 0)
        return -errno;
    vsemu_sock child;
    memset(&child, 0, sizeof(child));
    child.buffer_size = s.buffer_size;
    child.buffer_min = s.buffer_min;
    child.buffer_max = s.buffer_max;
    child.connect_timeout_ms = s.connect_timeout_ms;
    child.bound = 1;
    child.bound_cid = emu->local_cid;
    child.bound_port = s.bound_port;
    child.connected = 1;
    nsmvsock_net_peer_of(c, &child.peer_cid, &child.peer_port);
    table_put(inode_of(c), &child);
    long rc = write_vm_address(pid, addr, lenp, child.peer_cid, child.peer_port);
    if (rc != 0) {
        close(c);
        return rc;
    }
    *newfd = c;
    return 0;
}

long vsemu_getname(vsemu *emu, int fd, pid_t pid, uintptr_t addr, uintptr_t lenp, int peer)
{
    vsemu_sock s;
    ino_t ino;
    if (lookup(emu, fd, &s, &ino) != 0)
        return VSEMU_PASS;
    if (addr == 0)
        return -EFAULT;
    if (peer) {
        if (!s.connected)
            return -ENOTCONN;
        return write_vm_address(pid, addr, lenp, s.peer_cid, s.peer_port);
    }
    if (!s.bound)
        return write_vm_address(pid, addr, lenp, VMADDR_CID_ANY, VMADDR_PORT_ANY);
    return write_vm_address(pid, addr, lenp, s.bound_cid, s.bound_port);
}

/* ---- options --------------------------------------------------------------------------- */

/* The option's value as getsockopt returns it: its bytes into out, its length. */
static long option_value(const vsemu_sock *s, int name, unsigned char out[16])
{
    uint64_t v;
    switch (name) {
    case SO_VM_SOCKETS_BUFFER_SIZE:
        v = s->buffer_size;
        break;
    case SO_VM_SOCKETS_BUFFER_MIN_SIZE:
        v = s->buffer_min;
        break;
    case SO_VM_SOCKETS_BUFFER_MAX_SIZE:
        v = s->buffer_max;
        break;
    case SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD:
    case SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW: {
        /* 64-bit: both are {s64 sec; s64 usec} */
        int64_t tv[2] = {s->connect_timeout_ms / 1000, (s->connect_timeout_ms % 1000) * 1000};
        memcpy(out, tv, sizeof(tv));
        return (long)sizeof(tv);
    }
    default:
        return -ENOPROTOOPT;
    }
    memcpy(out, &v, sizeof(v));
    return (long)sizeof(v);
}

long vsemu_getsockopt(vsemu *emu, int fd, pid_t pid, int level, int name, uintptr_t val,
                      uintptr_t lenp)
{
    vsemu_sock s;
    ino_t ino;
    if (level != VSEMU_AF_VSOCK &&
        !(level == SOL_SOCKET && (name == SO_DOMAIN || name == SO_PROTOCOL)))
        return VSEMU_PASS; /* SOL_SOCKET options: the unix socket answers */
    if (lookup(emu, fd, &s, &ino) != 0)
        return VSEMU_PASS;
    int len;
    if (vsemu_mem_read(pid, lenp, &len, sizeof(len)) != 0)
        return -EFAULT;
    if (len < 0)
        return -EINVAL;
    unsigned char out[16];
    long n;
    if (level == SOL_SOCKET) {
        int v = name == SO_DOMAIN ? AF_VSOCK : 0;
        memcpy(out, &v, sizeof(v));
        n = (long)sizeof(v);
        if (len > n)
            len = (int)n;
    } else {
        n = option_value(&s, name, out);
        if (n < 0)
            return n;
        if (len < n)
            return -EINVAL;
        len = (int)n;
    }
    if (vsemu_mem_write(pid, val, out, (size_t)len) != 0 ||
        vsemu_mem_write(pid, lenp, &len, sizeof(len)) != 0)
        return -EFAULT;
    return 0;
}

/* vsock_update_buffer_size(): the size within [min, max]. */
static void clamp_buffer(vsemu_sock *s)
{
    if (s->buffer_size > s->buffer_max)
        s->buffer_size = s->buffer_max;
    if (s->buffer_size < s->buffer_min)
        s->buffer_size = s->buffer_min;
}

long vsemu_setsockopt(vsemu *emu, int fd, pid_t pid, int level, int name, uintptr_t val,
                      long len)
{
    vsemu_sock s;
    ino_t ino;
    if (level != VSEMU_AF_VSOCK)
        return VSEMU_PASS;
    if (lookup(emu, fd, &s, &ino) != 0)
        return VSEMU_PASS;
    if (name == SO_VM_SOCKETS_CONNECT_TIMEOUT_OLD || name == SO_VM_SOCKETS_CONNECT_TIMEOUT_NEW) {
        int64_t tv[2];
        if (len < (long)sizeof(tv))
            return -EINVAL;
        if (vsemu_mem_read(pid, val, tv, sizeof(tv)) != 0)
            return -EFAULT;
        if (tv[0] < 0 || tv[1] < 0 || tv[1] >= 1000000 || tv[0] > INT_MAX / 1000)
            return -ERANGE;
        s.connect_timeout_ms = tv[0] * 1000 + tv[1] / 1000;
        if (s.connect_timeout_ms == 0)
            s.connect_timeout_ms = NSMVSOCK_CONNECT_TIMEOUT_MS;
    } else if (name == SO_VM_SOCKETS_BUFFER_SIZE || name == SO_VM_SOCKETS_BUFFER_MIN_SIZE ||
               name == SO_VM_SOCKETS_BUFFER_MAX_SIZE) {
        uint64_t v;
        if (len < (long)sizeof(v))
            return -EINVAL;
        if (vsemu_mem_read(pid, val, &v, sizeof(v)) != 0)
            return -EFAULT;
        if (name == SO_VM_SOCKETS_BUFFER_SIZE) {
            s.buffer_size = v;
        } else if (name == SO_VM_SOCKETS_BUFFER_MIN_SIZE) {
            s.buffer_min = v;
            if (s.buffer_max < v)
                s.buffer_max = v;
        } else {
            s.buffer_max = v;
            if (s.buffer_min > v)
                s.buffer_min = v;
        }
        clamp_buffer(&s);
    } else {
        return -ENOPROTOOPT;
    }
    table_put(ino, &s);
    return 0;
}

long vsemu_get_local_cid(vsemu *emu, pid_t pid, uintptr_t arg)
{
    uint32_t cid = emu->local_cid;
    return vsemu_mem_write(pid, arg, &cid, sizeof(cid)) != 0 ? -EFAULT : 0;
}

void vsemu_closing(vsemu *emu, int fd)
{
    /* the table only: a close never pays for recognising a socket */
    ino_t ino = inode_of(fd);
    if (ino == 0)
        return;
    pthread_mutex_lock(&table_lock);
    slot *sl = table_find(ino, 0);
    vsemu_sock s;
    if (sl != NULL)
        s = sl->s;
    pthread_mutex_unlock(&table_lock);
    if (sl == NULL)
        return;
    /* a forked child closing its copy (socat's fork option does) leaves the listener be */
    if (s.listening && s.listener_pid == getpid())
        nsmvsock_net_unlisten(&emu->net, fd, emu->local_cid, s.bound_port);
    if (s.listener_pid == 0 || s.listener_pid == getpid())
        table_drop(ino);
}
