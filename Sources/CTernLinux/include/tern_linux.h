#pragma once
// Linux calls Swift cannot make directly or cleanly: TUN ioctls, interface flags/MTU, batched
// datagram I/O with ancillary data (recvmmsg/sendmmsg + IP_PKTINFO/IP_TOS cmsgs), and epoll
// with its packed event struct. Buffers are always the caller's; nothing here allocates per packet.
#include <stdint.h>
#include <stddef.h>

/// Opens /dev/net/tun as a layer-3 TUN without packet info. `name` may be a template; the
/// kernel's chosen name is copied into `out_name` (IFNAMSIZ bytes). Returns fd or -errno.
int tern_tun_open(const char *name, int multi_queue, char *out_name);
int tern_if_set_mtu(const char *name, int mtu);
int tern_if_set_txqueuelen(const char *name, int qlen);
int tern_if_get_mtu(const char *name);
int tern_if_set_up(const char *name);

/// Datagram sockets. family: 4 or 6. Returns fd or -errno. All set SO_MARK when mark != 0,
/// large buffers, non-blocking, and request destination-address ancillary data.
int tern_socket_raw(int family, int protocol, uint32_t mark, int header_included);
int tern_socket_udp(int family, uint16_t port, uint32_t mark);
/// `count` (≥ 2) UDP sockets on `port` in one SO_REUSEPORT group, into `fds`: socket 0 gets IKE
/// messages for existing SAs and returned cookies, the others share cookie-less IKE_SA_INITs.
/// Fails with -EADDRINUSE when anything already holds the port. 0 or -errno.
int tern_socket_udp_group(int family, uint16_t port, uint32_t mark, int count, int *fds);

/// One received datagram. `buf`/`cap` are set by the caller; the rest is filled in.
typedef struct {
    uint8_t *buf;
    uint32_t cap;
    uint32_t len;
    uint8_t family;      // 4 or 6
    uint8_t truncated;
    uint16_t src_port;   // host order (UDP)
    uint16_t dst_port;
    uint8_t src[16];
    uint8_t dst[16];     // from IP_PKTINFO / IPV6_PKTINFO (zero if unknown)
} tern_rx;

/// One datagram to send.
typedef struct {
    const uint8_t *buf;
    uint32_t len;
    uint8_t family;      // 4 or 6
    uint8_t has_src;     // pass src as IP_PKTINFO (source address selection)
    uint8_t tos;         // IP_TOS / IPV6_TCLASS (0: leave to the socket)
    uint8_t reserved;
    uint16_t dst_port;   // host order; 0 for raw sockets
    uint8_t src[16];
    uint8_t dst[16];
} tern_tx;

typedef struct tern_batch tern_batch;
/// Scratch vectors (mmsghdr, iovec, sockaddr, cmsg) for batches of up to `n`, allocated once per worker.
tern_batch *tern_batch_new(int n);
void tern_batch_free(tern_batch *b);

/// Receives up to `n` datagrams without blocking. Returns the count (0 when none) or -errno.
int tern_recv_batch(int fd, tern_batch *b, tern_rx *msgs, int n);
/// Sends `n` datagrams; returns how many the kernel took, or -errno for the first failure.
int tern_send_batch(int fd, tern_batch *b, const tern_tx *msgs, int n);

/// epoll with opaque 64-bit tokens.
int tern_epoll_create(void);
int tern_epoll_add(int epfd, int fd, uint64_t token);
int tern_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms);

/// An eventfd used to wake worker loops for shutdown.
int tern_eventfd(void);
int tern_eventfd_signal(int fd);

/// Caps glibc's per-thread malloc arenas (mallopt M_ARENA_MAX): every thread that allocates
/// otherwise gets its own arena, which grows ternd's RSS with the number of VICI clients.
void tern_limit_malloc_arenas(int arenas);
