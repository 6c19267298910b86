/* IKE_SA_INIT flooder for bench/ike_flood.py and tests/integration/test_hostile_load.py (built by flood.py).
 *
 * Sends a template IKE_SA_INIT request (hex on the command line) in raw IPv4/UDP datagrams with
 * a fresh initiator SPI (and nonce prefix) in every one, from spoofed source addresses, with
 * sendmmsg() in batches, at a fixed rate or as fast as the kernel takes them, for a fixed time.
 * Bounded by design: it stops after --seconds and never sends more than rate x seconds.
 *
 * Only for the test's own network namespaces: the caller runs it inside the flooder namespace,
 * whose only route leads to the responder namespace.
 *
 *   ike_flood_sender --dst 192.0.2.2 [--dport 500] (--src-net 198.18.0.0/15 | --src 192.0.2.1)
 *                    [--sport 500] --rate N (0: max) --seconds S --ike HEX [--nonce-offset K]
 *                    [--batch 256] [--seed X]
 * Prints one line at the end: "sent N seconds S rate R errors E".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAXBATCH 1024
#define MAXPKT 2048

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint64_t rng;
static inline uint64_t xorshift(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static void usage(void) {
    fprintf(stderr, "usage: ike_flood_sender --dst IP [--dport P] (--src-net CIDR | --src IP) [--sport P] "
                    "--rate N --seconds S --ike HEX [--nonce-offset K] [--batch B] [--seed X]\n");
    exit(2);
}

int main(int argc, char **argv) {
    const char *dst = NULL, *src = NULL, *srcnet = NULL, *hex = NULL;
    int dport = 500, sport = 500, batch = 256, nonce_off = -1;
    double rate = 0, seconds = 0;
    uint64_t seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) usage();
        const char *v = argv[++i];
        if (!strcmp(a, "--dst")) dst = v;
        else if (!strcmp(a, "--dport")) dport = atoi(v);
        else if (!strcmp(a, "--src")) src = v;
        else if (!strcmp(a, "--src-net")) srcnet = v;
        else if (!strcmp(a, "--sport")) sport = atoi(v);
        else if (!strcmp(a, "--rate")) rate = atof(v);
        else if (!strcmp(a, "--seconds")) seconds = atof(v);
        else if (!strcmp(a, "--ike")) hex = v;
        else if (!strcmp(a, "--nonce-offset")) nonce_off = atoi(v);
        else if (!strcmp(a, "--batch")) batch = atoi(v);
        else if (!strcmp(a, "--seed")) seed = strtoull(v, NULL, 0);
        else usage();
    }
    if (!dst || !hex || (!src && !srcnet) || seconds <= 0 || seconds > 600 || rate < 0) usage();
    if (batch < 1) batch = 1;
    if (batch > MAXBATCH) batch = MAXBATCH;
    /* At low rates send one datagram at a time, evenly spaced. */
    if (rate > 0 && rate < 1000.0 * batch) {
        int b = (int)(rate / 1000);
        batch = b < 1 ? 1 : b;
    }

    uint8_t ike[MAXPKT];
    size_t hl = strlen(hex), ikelen = hl / 2;
    if (hl % 2 || ikelen < 28 || ikelen + 28 > MAXPKT) usage();
    for (size_t i = 0; i < ikelen; i++) {
        int h = hexval(hex[2 * i]), l = hexval(hex[2 * i + 1]);
        if (h < 0 || l < 0) usage();
        ike[i] = (uint8_t)(h << 4 | l);
    }
    if (nonce_off >= 0 && (size_t)nonce_off + 8 > ikelen) usage();

    struct in_addr dsta, srca = {0};
    uint32_t netbase = 0, hostmask = 0;
    if (!inet_aton(dst, &dsta)) usage();
    if (src) {
        if (!inet_aton(src, &srca)) usage();
    } else {
        char buf[64];
        snprintf(buf, sizeof buf, "%s", srcnet);
        char *slash = strchr(buf, '/');
        if (!slash) usage();
        *slash = 0;
        int plen = atoi(slash + 1);
        struct in_addr n;
        if (!inet_aton(buf, &n) || plen < 8 || plen > 32) usage();
        hostmask = plen == 32 ? 0 : (0xffffffffu >> plen);
        netbase = ntohl(n.s_addr) & ~hostmask;
    }

    int fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);   /* IPPROTO_RAW implies IP_HDRINCL */
    if (fd < 0) { perror("socket"); return 1; }
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);

    rng = seed ? seed : ((uint64_t)getpid() << 32 ^ (uint64_t)(now_s() * 1e9)) | 1;
    size_t pktlen = 20 + 8 + ikelen;
    static uint8_t pkts[MAXBATCH][MAXPKT];
    static struct mmsghdr msgs[MAXBATCH];
    static struct iovec iov[MAXBATCH];
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr = dsta};
    for (int i = 0; i < batch; i++) {
        uint8_t *p = pkts[i];
        memset(p, 0, 28);
        p[0] = 0x45;                       /* IPv4, IHL 5 */
        p[2] = pktlen >> 8; p[3] = pktlen & 0xff;
        p[6] = 0x40;                       /* DF */
        p[8] = 64;                         /* TTL */
        p[9] = 17;                         /* UDP; id and checksum: the kernel fills them in */
        memcpy(p + 16, &dsta.s_addr, 4);
        p[20] = sport >> 8; p[21] = sport & 0xff;
        p[22] = dport >> 8; p[23] = dport & 0xff;
        size_t ul = 8 + ikelen;
        p[24] = ul >> 8; p[25] = ul & 0xff;   /* UDP checksum 0: none (IPv4) */
        memcpy(p + 28, ike, ikelen);
        iov[i].iov_base = p;
        iov[i].iov_len = pktlen;
        msgs[i].msg_hdr.msg_name = &to;
        msgs[i].msg_hdr.msg_namelen = sizeof to;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }

    uint64_t sent = 0, errors = 0, limit = rate > 0 ? (uint64_t)(rate * seconds) : UINT64_MAX;
    double t0 = now_s(), end = t0 + seconds;
    for (;;) {
        double t = now_s();
        if (t >= end || sent >= limit) break;
        if (rate > 0) {
            double due = t0 + sent / rate;
            if (due > t) {
                if (due > end) break;
                double d = due - t;
                struct timespec ts = {(time_t)d, (long)((d - (time_t)d) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        int n = batch;
        if (limit - sent < (uint64_t)n) n = (int)(limit - sent);
        for (int i = 0; i < n; i++) {
            uint8_t *p = pkts[i];
            uint64_t r = xorshift();
            if (!src) {
                uint32_t a = htonl(netbase | ((uint32_t)(r >> 32) & hostmask));
                memcpy(p + 12, &a, 4);
            } else {
                memcpy(p + 12, &srca.s_addr, 4);
            }
            uint64_t spi = xorshift();
            memcpy(p + 28, &spi, 8);                       /* initiator SPI */
            if (nonce_off >= 0) memcpy(p + 28 + nonce_off, &r, 8);
        }
        int k = sendmmsg(fd, msgs, n, 0);
        if (k < 0) {
            errors++;
            if (errno == ENOBUFS || errno == EAGAIN || errno == EINTR) continue;
            perror("sendmmsg");
            return 1;
        }
        sent += k;
    }
    double el = now_s() - t0;
    printf("sent %llu seconds %.3f rate %.0f errors %llu\n", (unsigned long long)sent, el, sent / (el > 0 ? el : 1),
           (unsigned long long)errors);
    return 0;
}
