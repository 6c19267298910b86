#pragma once
/*
 * A thin shim over the system libcrypto (OpenSSL 3) for Tern's per-packet ESP/AH crypto.
 *
 * Why it exists: swift-crypto re-runs the key schedule and allocates on every AEAD call on
 * Linux. Here each context is built once per SA (key schedule at SA install), duplicated
 * per worker thread without re-keying, and then used per packet in place with no heap
 * allocation. Contexts are not thread-safe: one per SA per thread.
 *
 * Every function that returns int returns 1 on success and 0 on failure. No function
 * logs, and none ever copies key bytes anywhere but into the context it builds.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- AEAD: AES-GCM-128/192/256 (RFC 4106, and GMAC, RFC 4543) and ChaCha20-Poly1305 (RFC 7634).
 * Nonce 12 bytes, tag 16 bytes. The key excludes the ESP salt (the caller builds the nonce). */
typedef struct tern_aead tern_aead;
/* AES-GCM for ESP takes its AAD in one piece (SPI ‖ [SeqHi] ‖ Seq) and runs on intel-ipsec-mb
 * where the CPU has AVX2 or AVX-512 (its VAES code seals a 1400-byte packet in ~180 ns where
 * Debian's OpenSSL 3.0 takes ~600), else on OpenSSL. AES-GMAC authenticates the whole payload
 * as AAD and stays on OpenSSL; so does ChaCha20-Poly1305. */
enum { TERN_AEAD_AES_GCM = 1, TERN_AEAD_CHACHA20_POLY1305 = 2, TERN_AEAD_AES_GMAC = 3 };
/* Which library a context runs on (tests cross-check them, benchmarks report it). */
enum { TERN_AEAD_BACKEND_AUTO = 0, TERN_AEAD_BACKEND_OPENSSL = 1, TERN_AEAD_BACKEND_IPSEC_MB = 2 };

tern_aead *tern_aead_new(int algorithm, const uint8_t *key, size_t key_length);
/* The same on a chosen backend (NULL if that backend cannot run the algorithm here). */
tern_aead *tern_aead_new_on(int algorithm, const uint8_t *key, size_t key_length, int backend);
int tern_aead_backend(const tern_aead *aead);
/* What TERN_AEAD_BACKEND_AUTO picks for AES-GCM on this machine, and intel-ipsec-mb's
 * architecture name ("avx512", "avx2", …, or "unavailable"). TERN_AEAD=openssl forces OpenSSL. */
int tern_aead_gcm_backend(void);
const char *tern_ipsec_mb_arch(void);
tern_aead *tern_aead_dup(const tern_aead *aead);
void tern_aead_free(tern_aead *aead);

/* AAD is aad1 ‖ aad2 (either may be empty), so ESN layouts need no copy of the payload.
 * `text` is encrypted in place; 16 tag bytes go to `tag`. text_length may be 0 (GMAC). */
int tern_aead_seal(tern_aead *aead, const uint8_t nonce[12],
                   const uint8_t *aad1, size_t aad1_length,
                   const uint8_t *aad2, size_t aad2_length,
                   uint8_t *text, size_t text_length, uint8_t tag[16]);
/* Decrypts in place and verifies the tag (libcrypto compares in constant time). Returns 0
 * if the tag is wrong, and then zeroes `text` so no unauthenticated plaintext escapes. */
int tern_aead_open(tern_aead *aead, const uint8_t nonce[12],
                   const uint8_t *aad1, size_t aad1_length,
                   const uint8_t *aad2, size_t aad2_length,
                   uint8_t *text, size_t text_length, const uint8_t tag[16]);

/* ---- AES-CBC-128/192/256 without padding (RFC 3602). Lengths must be multiples of 16. */
typedef struct tern_cbc tern_cbc;

tern_cbc *tern_cbc_new(const uint8_t *key, size_t key_length);
tern_cbc *tern_cbc_dup(const tern_cbc *cbc);
void tern_cbc_free(tern_cbc *cbc);

/* iv = AES_K(block): the forward cipher on a unique nonce (NIST SP 800-38A, Appendix C). */
int tern_cbc_make_iv(tern_cbc *cbc, const uint8_t block[16], uint8_t iv[16]);
int tern_cbc_encrypt(tern_cbc *cbc, const uint8_t iv[16], uint8_t *text, size_t length);
int tern_cbc_decrypt(tern_cbc *cbc, const uint8_t iv[16], uint8_t *text, size_t length);

/* ---- HMAC-SHA1/256/384/512 (RFC 2104), incremental, for ESP integrity and AH. */
typedef struct tern_hmac tern_hmac;
enum { TERN_HMAC_SHA1 = 1, TERN_HMAC_SHA256 = 2, TERN_HMAC_SHA384 = 3, TERN_HMAC_SHA512 = 4 };

/* Any key length is accepted here (keys longer than a block are hashed, per RFC 2104);
 * the RFC 4868 length rules are enforced by the Swift layer. */
tern_hmac *tern_hmac_new(int algorithm, const uint8_t *key, size_t key_length);
tern_hmac *tern_hmac_dup(const tern_hmac *hmac);
void tern_hmac_free(tern_hmac *hmac);
size_t tern_hmac_digest_length(const tern_hmac *hmac);

void tern_hmac_start(tern_hmac *hmac);
void tern_hmac_update(tern_hmac *hmac, const void *bytes, size_t count);
/* Writes the first min(out_length, digest length) bytes of the MAC (RFC 2104 §5 truncation). */
void tern_hmac_finish(tern_hmac *hmac, uint8_t *out, size_t out_length);

/* ---- MODP Diffie-Hellman for IKE (RFC 3526 groups 14, 15, 16: safe primes p = 2q + 1, g = 2).
 * `prime_bits` is 2048, 3072 or 4096 and selects the group (libcrypto's own copies of the
 * RFC 3526 primes). Public values and shared secrets are big-endian and exactly
 * prime_bits / 8 bytes, leading zeros kept (RFC 7296 §2.14, §3.4).
 *
 * Constant time: the private exponent is held in a BIGNUM flagged BN_FLG_CONSTTIME and every
 * exponentiation with it is BN_mod_exp_mont_consttime (fixed window, no secret-dependent
 * branches or table indices), so timing depends on the exponent's byte length, which the
 * caller fixes per group, and not on its bits. The peer's value is public: checking it uses
 * the ordinary BN functions. Temporaries holding secrets are freed with BN_clear_free. */

/* public_value = g^x mod p. */
int tern_modp_public(int prime_bits, const uint8_t *exponent, size_t exponent_length,
                     uint8_t *public_value);
/* 1 if the peer's value y is exactly prime_bits / 8 bytes, 1 < y < p - 1, and y^q = 1 mod p
 * (y lies in the subgroup of prime order q, so no small-subgroup confinement); else 0.
 * y^q is evaluated as the Legendre symbol (y/p), equal to it by Euler's criterion. */
int tern_modp_check_public(int prime_bits, const uint8_t *peer_value, size_t peer_length);
/* shared = y^x mod p after the tern_modp_check_public checks. Returns 1 on success, -1 if
 * the peer's value fails those checks (nothing written), 0 if libcrypto fails. */
int tern_modp_shared(int prime_bits, const uint8_t *exponent, size_t exponent_length,
                     const uint8_t *peer_value, size_t peer_length, uint8_t *shared);

/* Writes the group's prime p (prime_bits / 8 bytes), for tests and diagnostics. */
int tern_modp_prime(int prime_bits, uint8_t *prime);

/* ---- Helpers. */
/* 1 if equal. Time depends only on count (CRYPTO_memcmp). */
int tern_constant_time_equal(const void *a, const void *b, size_t count);
/* Fills from libcrypto's DRBG. Used at SA install only, never per packet. */
int tern_random_bytes(uint8_t *out, size_t count);
/* Zeroes memory in a way the compiler may not elide (OPENSSL_cleanse). */
void tern_cleanse(void *bytes, size_t count);

/* ---- Allocation accounting, so tests can prove the per-packet path allocates nothing.
 * A constructor routes libcrypto's allocator through counting wrappers (a thread-local
 * increment in front of malloc/realloc; free is not counted). Returns the number of
 * libcrypto allocations made on the calling thread so far, or -1 if the wrappers could
 * not be installed (libcrypto had already allocated before this library loaded). */
int64_t tern_libcrypto_thread_allocations(void);

#ifdef __cplusplus
}
#endif
