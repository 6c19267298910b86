#define _GNU_SOURCE
#include "tern_linux.h"

#include <errno.h>
#include <malloc.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef IPV6_HDRINCL
#define IPV6_HDRINCL 36
#endif

int tern_tun_open(const char *name, int multi_queue, char *out_name) {
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return -errno;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (multi_queue ? IFF_MULTI_QUEUE : 0);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) { int e = errno; close(fd); return -e; }
    if (out_name) memcpy(out_name, ifr.ifr_name, IFNAMSIZ);
    return fd;
}

static int with_ifreq(const char *name, unsigned long req, struct ifreq *ifr) {
    int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (s < 0) return -errno;
    strncpy(ifr->ifr_name, name, IFNAMSIZ - 1);
    int r = ioctl(s, req, ifr) < 0 ? -errno : 0;
    close(s);
    return r;
}

int tern_if_set_mtu(const char *name, int mtu) {
    struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
    ifr.ifr_mtu = mtu;
    return with_ifreq(name, SIOCSIFMTU, &ifr);
}

int tern_if_set_txqueuelen(const char *name, int qlen) {
    struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
    ifr.ifr_qlen = qlen;
    return with_ifreq(name, SIOCSIFTXQLEN, &ifr);
}

int tern_if_get_mtu(const char *name) {
    struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
    int r = with_ifreq(name, SIOCGIFMTU, &ifr);
    return r < 0 ? r : ifr.ifr_mtu;
}

int tern_if_set_up(const char *name) {
    struct ifreq ifr; memset(&ifr, 0, sizeof ifr);
    int r = with_ifreq(name, SIOCGIFFLAGS, &ifr);
    if (r < 0) return r;
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    return with_ifreq(name, SIOCSIFFLAGS, &ifr);
}

static void common_socket_options(int fd, int family, uint32_t mark) {
    int one = 1, big = 8 << 20;
    if (mark) setsockopt(fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
    // Bursts of a fast sender overflow the default buffers long before the CPU is busy.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big) < 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &big, sizeof big);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big) < 0)
        setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
    if (family == 4) {
        setsockopt(fd, IPPROTO_IP, IP_PKTINFO, &one, sizeof one);
        // Outer packets carry no DF: a non-DF inner packet that does not fit is fragmented by
        // the kernel (oversized DF packets were answered with ICMP before reaching here).
        int pmtu = IP_PMTUDISC_DONT;
        setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof pmtu);
    } else {
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one);
        int pmtu = IPV6_PMTUDISC_DONT;
        setsockopt(fd, IPPROTO_IPV6, IPV6_MTU_DISCOVER, &pmtu, sizeof pmtu);
    }
}

int tern_socket_raw(int family, int protocol, uint32_t mark, int header_included) {
    int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, protocol);
    if (fd < 0) return -errno;
    common_socket_options(fd, family, mark);
    if (header_included) {
        int one = 1;
        if (family == 4) setsockopt(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one);
        else setsockopt(fd, IPPROTO_IPV6, IPV6_HDRINCL, &one, sizeof one);
    }
    return fd;
}

int tern_socket_udp(int family, uint16_t port, uint32_t mark) {
    int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -errno;
    common_socket_options(fd, family, mark);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int r;
    if (family == 4) {
        struct sockaddr_in a; memset(&a, 0, sizeof a);
        a.sin_family = AF_INET; a.sin_port = htons(port);
        r = bind(fd, (struct sockaddr *)&a, sizeof a);
    } else {
        struct sockaddr_in6 a; memset(&a, 0, sizeof a);
        a.sin6_family = AF_INET6; a.sin6_port = htons(port);
        r = bind(fd, (struct sockaddr *)&a, sizeof a);
    }
    if (r < 0) { int e = errno; close(fd); return -e; }
    return fd;
}

/* The IKE port as a SO_REUSEPORT group: socket 0 takes what must not wait behind a flood, the
 * others share the rest, steered by a classic BPF program the kernel runs per datagram on the
 * UDP payload (the IKE header, RFC 7296 §3.1):
 *
 *   responder SPI ≠ 0, a response, not IKE_SA_INIT, or a first payload COOKIE notify ─► 0
 *   an IKE_SA_INIT request without a cookie (or shorter than a header)              ─► 1 + SPIi mod (n−1)
 *
 * so an IKE_SA_INIT flood fills the receive queues of sockets 1…n−1 only, and the kernel never
 * drops a message for an existing IKE SA or a returned cookie because of it. */
static int attach_ike_steering(int fd, unsigned floods) {
    /* Jump offsets count from the next instruction: 16 is "flood", 20 "priority". */
    struct sock_filter code[] = {
        /*  0 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /*  1 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 28, 0, 14),          /* short: flood */
        /*  2 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 8),
        /*  3 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 16),           /* responder SPI: priority */
        /*  4 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 12),
        /*  5 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0, 0, 14),
        /*  6 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 19),
        /*  7 */ BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x20, 12, 0),       /* response */
        /*  8 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 18),
        /*  9 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 34, 0, 10),          /* not IKE_SA_INIT */
        /* 10 */ BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 16),
        /* 11 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 41, 0, 4),           /* first payload not a notify */
        /* 12 */ BPF_STMT(BPF_LD | BPF_W | BPF_LEN, 0),
        /* 13 */ BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, 36, 0, 2),
        /* 14 */ BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 34),
        /* 15 */ BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 16390, 4, 0),        /* COOKIE */
        /* 16 */ BPF_STMT(BPF_LD | BPF_W | BPF_ABS, 0),                    /* flood: spread by SPIi */
        /* 17 */ BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, floods),
        /* 18 */ BPF_STMT(BPF_ALU | BPF_ADD | BPF_K, 1),
        /* 19 */ BPF_STMT(BPF_RET | BPF_A, 0),
        /* 20 */ BPF_STMT(BPF_RET | BPF_K, 0),                             /* priority */
    };
    struct sock_fprog prog = { .len = sizeof code / sizeof code[0], .filter = code };
    return setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog);
}

int tern_socket_udp_group(int family, uint16_t port, uint32_t mark, int count, int *fds) {
    if (count < 2) return -EINVAL;
    /* A probe without SO_REUSEPORT first: joining another daemon's group would split its traffic. */
    int probe = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (probe < 0) return -errno;
    if (family == 6) { int on = 1; setsockopt(probe, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on); }
    struct sockaddr_in6 a6; struct sockaddr_in a4;
    struct sockaddr *addr; socklen_t alen;
    if (family == 4) {
        memset(&a4, 0, sizeof a4); a4.sin_family = AF_INET; a4.sin_port = htons(port);
        addr = (struct sockaddr *)&a4; alen = sizeof a4;
    } else {
        memset(&a6, 0, sizeof a6); a6.sin6_family = AF_INET6; a6.sin6_port = htons(port);
        addr = (struct sockaddr *)&a6; alen = sizeof a6;
    }
    if (bind(probe, addr, alen) < 0) { int e = errno; close(probe); return -e; }
    close(probe);
    int one = 1;
    for (int i = 0; i < count; i++) {
        int fd = socket(family == 4 ? AF_INET : AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        int e = 0;
        if (fd < 0) e = errno;
        else {
            common_socket_options(fd, family, mark);
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
            if (bind(fd, addr, alen) < 0) e = errno;
            else if (i == 0 && attach_ike_steering(fd, (unsigned)(count - 1)) < 0) e = errno;
            if (e) close(fd);
        }
        if (e) { for (int j = 0; j < i; j++) close(fds[j]); return -e; }
        fds[i] = fd;
    }
    return 0;
}

#define CMSG_SPACE_ALL (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)))

struct tern_batch {
    int n;
    struct mmsghdr *hdrs;
    struct iovec *iovs;
    struct sockaddr_in6 *addrs;   // large enough for either family
    uint8_t *cmsgs;
};

tern_batch *tern_batch_new(int n) {
    tern_batch *b = calloc(1, sizeof *b);
    if (!b) return NULL;
    b->n = n;
    b->hdrs = calloc(n, sizeof *b->hdrs);
    b->iovs = calloc(n, sizeof *b->iovs);
    b->addrs = calloc(n, sizeof *b->addrs);
    b->cmsgs = calloc(n, CMSG_SPACE_ALL);
    if (!b->hdrs || !b->iovs || !b->addrs || !b->cmsgs) { tern_batch_free(b); return NULL; }
    return b;
}

void tern_batch_free(tern_batch *b) {
    if (!b) return;
    free(b->hdrs); free(b->iovs); free(b->addrs); free(b->cmsgs); free(b);
}

int tern_recv_batch(int fd, tern_batch *b, tern_rx *msgs, int n) {
    if (n > b->n) n = b->n;
    for (int i = 0; i < n; i++) {
        b->iovs[i].iov_base = msgs[i].buf;
        b->iovs[i].iov_len = msgs[i].cap;
        struct msghdr *m = &b->hdrs[i].msg_hdr;
        m->msg_name = &b->addrs[i];
        m->msg_namelen = sizeof b->addrs[i];
        m->msg_iov = &b->iovs[i];
        m->msg_iovlen = 1;
        m->msg_control = b->cmsgs + (size_t)i * CMSG_SPACE_ALL;
        m->msg_controllen = CMSG_SPACE_ALL;
        m->msg_flags = 0;
    }
    int got = recvmmsg(fd, b->hdrs, n, MSG_DONTWAIT, NULL);
    if (got < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? 0 : -errno;
    for (int i = 0; i < got; i++) {
        tern_rx *r = &msgs[i];
        struct msghdr *m = &b->hdrs[i].msg_hdr;
        r->len = b->hdrs[i].msg_len;
        r->truncated = (m->msg_flags & MSG_TRUNC) != 0;
        memset(r->dst, 0, 16);
        struct sockaddr *sa = (struct sockaddr *)&b->addrs[i];
        if (sa->sa_family == AF_INET) {
            struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
            r->family = 4;
            memcpy(r->src, &s4->sin_addr, 4);
            r->src_port = ntohs(s4->sin_port);
        } else {
            struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
            r->family = 6;
            memcpy(r->src, &s6->sin6_addr, 16);
            r->src_port = ntohs(s6->sin6_port);
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
            if (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO) {
                struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(c);
                memcpy(r->dst, &pi->ipi_addr, 4);
            } else if (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO) {
                struct in6_pktinfo *pi = (struct in6_pktinfo *)CMSG_DATA(c);
                memcpy(r->dst, &pi->ipi6_addr, 16);
            }
        }
    }
    return got;
}

int tern_send_batch(int fd, tern_batch *b, const tern_tx *msgs, int n) {
    if (n > b->n) n = b->n;
    for (int i = 0; i < n; i++) {
        const tern_tx *t = &msgs[i];
        b->iovs[i].iov_base = (void *)t->buf;
        b->iovs[i].iov_len = t->len;
        struct msghdr *m = &b->hdrs[i].msg_hdr;
        memset(m, 0, sizeof *m);
        m->msg_iov = &b->iovs[i];
        m->msg_iovlen = 1;
        m->msg_name = &b->addrs[i];
        uint8_t *control = b->cmsgs + (size_t)i * CMSG_SPACE_ALL;
        memset(control, 0, CMSG_SPACE_ALL);
        m->msg_control = control;
        m->msg_controllen = CMSG_SPACE_ALL;
        struct cmsghdr *c = CMSG_FIRSTHDR(m);
        size_t used = 0;
        if (t->family == 4) {
            struct sockaddr_in *a = (struct sockaddr_in *)&b->addrs[i];
            memset(a, 0, sizeof *a);
            a->sin_family = AF_INET; a->sin_port = htons(t->dst_port);
            memcpy(&a->sin_addr, t->dst, 4);
            m->msg_namelen = sizeof *a;
            if (t->has_src) {
                c->cmsg_level = IPPROTO_IP; c->cmsg_type = IP_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(struct in_pktinfo));
                struct in_pktinfo *pi = (struct in_pktinfo *)CMSG_DATA(c);
                memcpy(&pi->ipi_spec_dst, t->src, 4);
                used += CMSG_SPACE(sizeof(struct in_pktinfo));
                c = CMSG_NXTHDR(m, c);
            }
            if (t->tos && c) {
                c->cmsg_level = IPPROTO_IP; c->cmsg_type = IP_TOS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                int tos = t->tos; memcpy(CMSG_DATA(c), &tos, sizeof tos);
                used += CMSG_SPACE(sizeof(int));
            }
        } else {
            struct sockaddr_in6 *a = &b->addrs[i];
            memset(a, 0, sizeof *a);
            a->sin6_family = AF_INET6; a->sin6_port = htons(t->dst_port);
            memcpy(&a->sin6_addr, t->dst, 16);
            m->msg_namelen = sizeof *a;
            if (t->has_src) {
                c->cmsg_level = IPPROTO_IPV6; c->cmsg_type = IPV6_PKTINFO;
                c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
                struct in6_pktinfo *pi = (struct in6_pktinfo *)CMSG_DATA(c);
                memcpy(&pi->ipi6_addr, t->src, 16);
                used += CMSG_SPACE(sizeof(struct in6_pktinfo));
                c = CMSG_NXTHDR(m, c);
            }
            if (t->tos && c) {
                c->cmsg_level = IPPROTO_IPV6; c->cmsg_type = IPV6_TCLASS;
                c->cmsg_len = CMSG_LEN(sizeof(int));
                int tc = t->tos; memcpy(CMSG_DATA(c), &tc, sizeof tc);
                used += CMSG_SPACE(sizeof(int));
            }
        }
        m->msg_controllen = used;
        if (used == 0) m->msg_control = NULL;
    }
    int sent = 0;
    while (sent < n) {
        int r = sendmmsg(fd, b->hdrs + sent, n - sent, MSG_DONTWAIT);
        if (r < 0) {
            if (errno == EINTR) continue;
            return sent > 0 ? sent : -errno;
        }
        sent += r;
    }
    return sent;
}

int tern_epoll_create(void) {
    int fd = epoll_create1(EPOLL_CLOEXEC);
    return fd < 0 ? -errno : fd;
}

int tern_epoll_add(int epfd, int fd, uint64_t token) {
    struct epoll_event ev; memset(&ev, 0, sizeof ev);
    ev.events = EPOLLIN;
    ev.data.u64 = token;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int tern_epoll_wait(int epfd, uint64_t *tokens, int max, int timeout_ms) {
    struct epoll_event evs[64];
    if (max > 64) max = 64;
    int n = epoll_wait(epfd, evs, max, timeout_ms);
    if (n < 0) return errno == EINTR ? 0 : -errno;
    for (int i = 0; i < n; i++) tokens[i] = evs[i].data.u64;
    return n;
}

int tern_eventfd(void) {
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    return fd < 0 ? -errno : fd;
}

int tern_eventfd_signal(int fd) {
    uint64_t one = 1;
    return write(fd, &one, sizeof one) == sizeof one ? 0 : -errno;
}

void tern_limit_malloc_arenas(int arenas) { mallopt(M_ARENA_MAX, arenas); }
