/*
 * Per-SA cipher contexts over OpenSSL 3 libcrypto. See tern_libcrypto.h for the contract.
 *
 * Allocation rule: everything is allocated in *_new and *_dup (at SA install / worker start).
 * The per-packet functions only re-initialise the IV on an existing EVP_CIPHER_CTX
 * (EVP_CipherInit_ex with a NULL cipher and NULL key keeps the key schedule) and run
 * EVP_CipherUpdate in place, which OpenSSL 3.0 does without touching the heap; the test
 * suite checks this with tern_libcrypto_thread_allocations().
 *
 * HMAC does not use EVP: on OpenSSL 3.0 both EVP_MAC_init(ctx, NULL, 0, NULL) and
 * EVP_MD_CTX_copy_ex allocate (they dup the provider digest context on every call).
 * Instead we keep the two precomputed states H(K ^ ipad) and H(K ^ opad) as plain
 * SHA*_CTX structs and struct-copy them per packet: no allocation, and only two hash
 * blocks of key-dependent work saved per packet. The SHA*_Init/Update/Final functions are
 * deprecated in OpenSSL 3.0 but still exported and still the same assembly the providers
 * use; if a future libcrypto drops them this file is the one place to change.
 */
#define OPENSSL_SUPPRESS_DEPRECATED 1

#include "tern_libcrypto.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include "tern_ipsec_mb.h"
#include <openssl/rand.h>
#include <openssl/sha.h>

/* ------------------------------------------------------------------------------------- */
/* Allocation accounting                                                                  */

static _Thread_local int64_t thread_allocations;
static int counting_installed;

/* These mirror CRYPTO_malloc/CRYPTO_realloc's own semantics (0 bytes → NULL). */
static void *counting_malloc(size_t count, const char *file, int line) {
    (void)file; (void)line;
    if (count == 0) return NULL;
    thread_allocations++;
    return malloc(count);
}

static void *counting_realloc(void *pointer, size_t count, const char *file, int line) {
    if (pointer == NULL) return counting_malloc(count, file, line);
    if (count == 0) { free(pointer); return NULL; }
    thread_allocations++;
    return realloc(pointer, count);
}

static void counting_free(void *pointer, const char *file, int line) {
    (void)file; (void)line;
    free(pointer);
}

/* libcrypto only accepts new allocator functions before its first allocation, so this has
 * to run at load time; libcrypto initialises lazily, so nothing has allocated yet. */
__attribute__((constructor)) static void install_counting_allocator(void) {
    counting_installed = CRYPTO_set_mem_functions(counting_malloc, counting_realloc, counting_free);
}

int64_t tern_libcrypto_thread_allocations(void) {
    return counting_installed ? thread_allocations : -1;
}

/* ------------------------------------------------------------------------------------- */
/* Helpers                                                                                */

int tern_constant_time_equal(const void *a, const void *b, size_t count) {
    return CRYPTO_memcmp(a, b, count) == 0;
}

int tern_random_bytes(uint8_t *out, size_t count) {
    if (count > INT_MAX) return 0;
    return RAND_bytes(out, (int)count) == 1;
}

void tern_cleanse(void *bytes, size_t count) { OPENSSL_cleanse(bytes, count); }

/* Builds a context for `name` keyed with `key` in direction `encrypt`. */
static EVP_CIPHER_CTX *keyed_context(const char *name, const uint8_t *key, int encrypt, int no_padding) {
    EVP_CIPHER *cipher = EVP_CIPHER_fetch(NULL, name, NULL);
    if (cipher == NULL) return NULL;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    int ok = ctx != NULL && EVP_CipherInit_ex(ctx, cipher, NULL, key, NULL, encrypt) == 1;
    if (ok && no_padding) ok = EVP_CIPHER_CTX_set_padding(ctx, 0) == 1;
    EVP_CIPHER_free(cipher); /* the context holds its own reference */
    if (!ok) { EVP_CIPHER_CTX_free(ctx); return NULL; }
    return ctx;
}

static EVP_CIPHER_CTX *copy_context(const EVP_CIPHER_CTX *from) {
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    if (ctx == NULL) return NULL;
    if (EVP_CIPHER_CTX_copy(ctx, from) != 1) { EVP_CIPHER_CTX_free(ctx); return NULL; }
    return ctx;
}

static int update_in_place(EVP_CIPHER_CTX *ctx, uint8_t *text, size_t length) {
    if (length == 0) return 1;
    if (length > INT_MAX) return 0;
    int out_length = 0;
    return EVP_CipherUpdate(ctx, text, &out_length, text, (int)length) == 1 && (size_t)out_length == length;
}

static int update_aad(EVP_CIPHER_CTX *ctx, const uint8_t *aad, size_t length) {
    if (length == 0) return 1;
    if (length > INT_MAX) return 0;
    int out_length = 0;
    return EVP_CipherUpdate(ctx, NULL, &out_length, aad, (int)length) == 1;
}

/* ------------------------------------------------------------------------------------- */
/* AEAD                                                                                   */

/* One context serves both directions: GCM and ChaCha20-Poly1305 only ever use the forward
 * key schedule, and the enc flag is set per call by EVP_CipherInit_ex. */
/* One of the two is set: an OpenSSL context, or intel-ipsec-mb's precomputed AES-GCM key data
 * (read-only after precomputation; the per-call state lives on the stack). */
struct tern_aead { EVP_CIPHER_CTX *ctx; void *mb; size_t key_length; };

int tern_aead_backend(const tern_aead *aead) {
    return aead->mb != NULL ? TERN_AEAD_BACKEND_IPSEC_MB : TERN_AEAD_BACKEND_OPENSSL;
}

static tern_aead *mb_aead_new(const uint8_t *key, size_t key_length) {
    if (tern_aead_gcm_backend() != TERN_AEAD_BACKEND_IPSEC_MB) return NULL;
    tern_aead *aead = OPENSSL_zalloc(sizeof *aead);
    if (aead == NULL) return NULL;
    aead->mb = tern_mb_gcm_key_new(key, key_length);
    if (aead->mb == NULL) { OPENSSL_free(aead); return NULL; }
    aead->key_length = key_length;
    return aead;
}

/* GCM through intel-ipsec-mb; the AAD pieces are joined (ESP's are 8 or 12 bytes). */
static int mb_crypt(tern_aead *aead, int encrypt, const uint8_t nonce[12],
                    const uint8_t *aad1, size_t aad1_length, const uint8_t *aad2, size_t aad2_length,
                    uint8_t *text, size_t text_length, uint8_t tag[16]) {
    uint8_t aad[64];
    const uint8_t *a = aad1;
    size_t aad_length = aad1_length + aad2_length;
    if (aad2_length > 0) {
        if (aad_length > sizeof aad) return 0;
        memcpy(aad, aad1, aad1_length);
        memcpy(aad + aad1_length, aad2, aad2_length);
        a = aad;
    }
    return tern_mb_gcm_crypt(aead->mb, aead->key_length, encrypt, nonce, a, aad_length, text, text_length, tag);
}

tern_aead *tern_aead_new(int algorithm, const uint8_t *key, size_t key_length) {
    return tern_aead_new_on(algorithm, key, key_length, TERN_AEAD_BACKEND_AUTO);
}

tern_aead *tern_aead_new_on(int algorithm, const uint8_t *key, size_t key_length, int backend) {
    if (algorithm == TERN_AEAD_AES_GCM && backend != TERN_AEAD_BACKEND_OPENSSL) {
        tern_aead *mb = mb_aead_new(key, key_length);
        if (mb != NULL || backend == TERN_AEAD_BACKEND_IPSEC_MB) return mb;
    }
    if (backend == TERN_AEAD_BACKEND_IPSEC_MB) return NULL;
    const char *name = NULL;
    if (algorithm == TERN_AEAD_AES_GCM || algorithm == TERN_AEAD_AES_GMAC) {
        name = key_length == 16 ? "AES-128-GCM" : key_length == 24 ? "AES-192-GCM"
             : key_length == 32 ? "AES-256-GCM" : NULL;
    } else if (algorithm == TERN_AEAD_CHACHA20_POLY1305 && key_length == 32) {
        name = "ChaCha20-Poly1305";
    }
    if (name == NULL) return NULL;
    tern_aead *aead = OPENSSL_zalloc(sizeof *aead);
    if (aead == NULL) return NULL;
    aead->ctx = keyed_context(name, key, 1, 0);
    if (aead->ctx == NULL) { OPENSSL_free(aead); return NULL; }
    return aead;  /* default nonce length is 12 for both ciphers */
}

tern_aead *tern_aead_dup(const tern_aead *from) {
    tern_aead *aead = OPENSSL_zalloc(sizeof *aead);
    if (aead == NULL) return NULL;
    if (from->mb != NULL) {
        aead->mb = tern_mb_gcm_key_dup(from->mb);
        if (aead->mb == NULL) { OPENSSL_free(aead); return NULL; }
        aead->key_length = from->key_length;
        return aead;
    }
    aead->ctx = copy_context(from->ctx);
    if (aead->ctx == NULL) { OPENSSL_free(aead); return NULL; }
    return aead;
}

/* The providers clear their key schedules when the context is freed. */
void tern_aead_free(tern_aead *aead) {
    if (aead == NULL) return;
    tern_mb_gcm_key_free(aead->mb);
    EVP_CIPHER_CTX_free(aead->ctx);
    OPENSSL_free(aead);
}

int tern_aead_seal(tern_aead *aead, const uint8_t nonce[12],
                   const uint8_t *aad1, size_t aad1_length,
                   const uint8_t *aad2, size_t aad2_length,
                   uint8_t *text, size_t text_length, uint8_t tag[16]) {
    if (aead->mb != NULL) return mb_crypt(aead, 1, nonce, aad1, aad1_length, aad2, aad2_length, text, text_length, tag);
    EVP_CIPHER_CTX *ctx = aead->ctx;
    uint8_t unused[32];
    int out_length = 0;
    return EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 1) == 1
        && update_aad(ctx, aad1, aad1_length)
        && update_aad(ctx, aad2, aad2_length)
        && update_in_place(ctx, text, text_length)
        && EVP_CipherFinal_ex(ctx, unused, &out_length) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
}

int tern_aead_open(tern_aead *aead, const uint8_t nonce[12],
                   const uint8_t *aad1, size_t aad1_length,
                   const uint8_t *aad2, size_t aad2_length,
                   uint8_t *text, size_t text_length, const uint8_t tag[16]) {
    if (aead->mb != NULL) {
        /* intel-ipsec-mb computes the tag and leaves the comparison to us: constant time, and
         * on a mismatch the unauthenticated plaintext is wiped as on the OpenSSL path. */
        uint8_t computed[16];
        int ok = mb_crypt(aead, 0, nonce, aad1, aad1_length, aad2, aad2_length, text, text_length, computed)
            && CRYPTO_memcmp(computed, tag, 16) == 0;
        OPENSSL_cleanse(computed, sizeof computed);
        if (!ok && text_length > 0) OPENSSL_cleanse(text, text_length);
        return ok;
    }
    EVP_CIPHER_CTX *ctx = aead->ctx;
    uint8_t unused[32];
    int out_length = 0;
    /* The tag must be set after choosing the decrypt direction and before Final, which
     * compares it with CRYPTO_memcmp. */
    int ok = EVP_CipherInit_ex(ctx, NULL, NULL, NULL, nonce, 0) == 1
        && EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, 16, (void *)tag) == 1
        && update_aad(ctx, aad1, aad1_length)
        && update_aad(ctx, aad2, aad2_length)
        && update_in_place(ctx, text, text_length)
        && EVP_CipherFinal_ex(ctx, unused, &out_length) == 1;
    /* AEAD decryption and verification are one pass, so on failure the buffer already holds
     * unauthenticated plaintext: wipe it so nothing downstream can use it by mistake. */
    if (!ok && text_length > 0) OPENSSL_cleanse(text, text_length);
    return ok;
}

/* ------------------------------------------------------------------------------------- */
/* AES-CBC                                                                                */

/* Two contexts because CBC decryption uses the inverse key schedule. */
struct tern_cbc { EVP_CIPHER_CTX *encrypt; EVP_CIPHER_CTX *decrypt; };

tern_cbc *tern_cbc_new(const uint8_t *key, size_t key_length) {
    const char *name = key_length == 16 ? "AES-128-CBC" : key_length == 24 ? "AES-192-CBC"
                     : key_length == 32 ? "AES-256-CBC" : NULL;
    if (name == NULL) return NULL;
    tern_cbc *cbc = OPENSSL_zalloc(sizeof *cbc);
    if (cbc == NULL) return NULL;
    cbc->encrypt = keyed_context(name, key, 1, 1);
    cbc->decrypt = keyed_context(name, key, 0, 1);
    if (cbc->encrypt == NULL || cbc->decrypt == NULL) { tern_cbc_free(cbc); return NULL; }
    return cbc;
}

tern_cbc *tern_cbc_dup(const tern_cbc *from) {
    tern_cbc *cbc = OPENSSL_zalloc(sizeof *cbc);
    if (cbc == NULL) return NULL;
    cbc->encrypt = copy_context(from->encrypt);
    cbc->decrypt = copy_context(from->decrypt);
    if (cbc->encrypt == NULL || cbc->decrypt == NULL) { tern_cbc_free(cbc); return NULL; }
    return cbc;
}

void tern_cbc_free(tern_cbc *cbc) {
    if (cbc == NULL) return;
    EVP_CIPHER_CTX_free(cbc->encrypt);
    EVP_CIPHER_CTX_free(cbc->decrypt);
    OPENSSL_free(cbc);
}

/* One CBC block under a zero IV is exactly the forward cipher (ECB) of that block, so the
 * encrypt context doubles as the IV generator and no third key schedule is needed. */
int tern_cbc_make_iv(tern_cbc *cbc, const uint8_t block[16], uint8_t iv[16]) {
    static const uint8_t zero[16];
    memcpy(iv, block, 16);
    return EVP_CipherInit_ex(cbc->encrypt, NULL, NULL, NULL, zero, 1) == 1
        && update_in_place(cbc->encrypt, iv, 16);
}

int tern_cbc_encrypt(tern_cbc *cbc, const uint8_t iv[16], uint8_t *text, size_t length) {
    if (length % 16 != 0) return 0;
    return EVP_CipherInit_ex(cbc->encrypt, NULL, NULL, NULL, iv, 1) == 1
        && update_in_place(cbc->encrypt, text, length);
}

int tern_cbc_decrypt(tern_cbc *cbc, const uint8_t iv[16], uint8_t *text, size_t length) {
    if (length % 16 != 0) return 0;
    return EVP_CipherInit_ex(cbc->decrypt, NULL, NULL, NULL, iv, 0) == 1
        && update_in_place(cbc->decrypt, text, length);
}

/* ------------------------------------------------------------------------------------- */
/* HMAC                                                                                   */

typedef union {
    SHA_CTX sha1;
    SHA256_CTX sha256;
    SHA512_CTX sha512; /* also SHA-384 */
} sha_state;

struct tern_hmac {
    int algorithm;
    size_t digest_length;
    size_t block_length;
    sha_state inner; /* after absorbing K ^ ipad */
    sha_state outer; /* after absorbing K ^ opad */
    sha_state work;
};

static void sha_init(int algorithm, sha_state *s) {
    switch (algorithm) {
    case TERN_HMAC_SHA1: SHA1_Init(&s->sha1); break;
    case TERN_HMAC_SHA256: SHA256_Init(&s->sha256); break;
    case TERN_HMAC_SHA384: SHA384_Init(&s->sha512); break;
    default: SHA512_Init(&s->sha512); break;
    }
}

static void sha_update(int algorithm, sha_state *s, const void *bytes, size_t count) {
    switch (algorithm) {
    case TERN_HMAC_SHA1: SHA1_Update(&s->sha1, bytes, count); break;
    case TERN_HMAC_SHA256: SHA256_Update(&s->sha256, bytes, count); break;
    case TERN_HMAC_SHA384: SHA384_Update(&s->sha512, bytes, count); break;
    default: SHA512_Update(&s->sha512, bytes, count); break;
    }
}

static void sha_final(int algorithm, sha_state *s, uint8_t *out) {
    switch (algorithm) {
    case TERN_HMAC_SHA1: SHA1_Final(out, &s->sha1); break;
    case TERN_HMAC_SHA256: SHA256_Final(out, &s->sha256); break;
    case TERN_HMAC_SHA384: SHA384_Final(out, &s->sha512); break;
    default: SHA512_Final(out, &s->sha512); break;
    }
}

tern_hmac *tern_hmac_new(int algorithm, const uint8_t *key, size_t key_length) {
    size_t digest_length, block_length;
    switch (algorithm) {
    case TERN_HMAC_SHA1: digest_length = 20; block_length = 64; break;
    case TERN_HMAC_SHA256: digest_length = 32; block_length = 64; break;
    case TERN_HMAC_SHA384: digest_length = 48; block_length = 128; break;
    case TERN_HMAC_SHA512: digest_length = 64; block_length = 128; break;
    default: return NULL;
    }
    tern_hmac *hmac = OPENSSL_zalloc(sizeof *hmac);
    if (hmac == NULL) return NULL;
    hmac->algorithm = algorithm;
    hmac->digest_length = digest_length;
    hmac->block_length = block_length;

    /* RFC 2104 §2: K is zero-padded to the block length, or hashed first if longer. */
    uint8_t block[128] = {0};
    if (key_length > block_length) {
        sha_init(algorithm, &hmac->work);
        sha_update(algorithm, &hmac->work, key, key_length);
        sha_final(algorithm, &hmac->work, block);
    } else if (key_length > 0) {
        memcpy(block, key, key_length);
    }
    for (size_t i = 0; i < block_length; i++) block[i] ^= 0x36;
    sha_init(algorithm, &hmac->inner);
    sha_update(algorithm, &hmac->inner, block, block_length);
    for (size_t i = 0; i < block_length; i++) block[i] ^= 0x36 ^ 0x5c;
    sha_init(algorithm, &hmac->outer);
    sha_update(algorithm, &hmac->outer, block, block_length);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(&hmac->work, sizeof hmac->work);
    return hmac;
}

tern_hmac *tern_hmac_dup(const tern_hmac *from) {
    tern_hmac *hmac = OPENSSL_malloc(sizeof *hmac);
    if (hmac == NULL) return NULL;
    memcpy(hmac, from, sizeof *hmac);
    return hmac;
}

/* inner/outer are as good as the key: clear them. */
void tern_hmac_free(tern_hmac *hmac) {
    if (hmac == NULL) return;
    OPENSSL_clear_free(hmac, sizeof *hmac);
}

size_t tern_hmac_digest_length(const tern_hmac *hmac) { return hmac->digest_length; }

void tern_hmac_start(tern_hmac *hmac) { hmac->work = hmac->inner; }

void tern_hmac_update(tern_hmac *hmac, const void *bytes, size_t count) {
    if (count > 0) sha_update(hmac->algorithm, &hmac->work, bytes, count);
}

void tern_hmac_finish(tern_hmac *hmac, uint8_t *out, size_t out_length) {
    uint8_t digest[64];
    sha_final(hmac->algorithm, &hmac->work, digest);
    hmac->work = hmac->outer;
    sha_update(hmac->algorithm, &hmac->work, digest, hmac->digest_length);
    sha_final(hmac->algorithm, &hmac->work, digest);
    memcpy(out, digest, out_length < hmac->digest_length ? out_length : hmac->digest_length);
}

/* ------------------------------------------------------------------------------------- */
/* MODP Diffie-Hellman (IKE key exchange, not per packet)                                 */

#include <openssl/bn.h>

/* A new BIGNUM holding the RFC 3526 prime of the group, or NULL. */
static BIGNUM *modp_prime(int prime_bits) {
    switch (prime_bits) {
    case 2048: return BN_get_rfc3526_prime_2048(NULL);
    case 3072: return BN_get_rfc3526_prime_3072(NULL);
    case 4096: return BN_get_rfc3526_prime_4096(NULL);
    default: return NULL;
    }
}

/* The private exponent as a BIGNUM flagged for constant-time use, or NULL. */
static BIGNUM *secret_exponent(const uint8_t *exponent, size_t exponent_length) {
    if (exponent_length == 0 || exponent_length > INT_MAX) return NULL;
    BIGNUM *x = BN_new();
    if (x == NULL) return NULL;
    BN_set_flags(x, BN_FLG_CONSTTIME);
    if (BN_bin2bn(exponent, (int)exponent_length, x) == NULL || BN_is_zero(x)) { BN_clear_free(x); return NULL; }
    return x;
}

int tern_modp_public(int prime_bits, const uint8_t *exponent, size_t exponent_length,
                     uint8_t *public_value) {
    int ok = 0;
    BIGNUM *p = modp_prime(prime_bits), *x = secret_exponent(exponent, exponent_length);
    BIGNUM *g = BN_new(), *y = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    if (p == NULL || x == NULL || g == NULL || y == NULL || ctx == NULL) goto done;
    if (BN_set_word(g, 2) != 1) goto done;
    if (BN_mod_exp_mont_consttime(y, g, x, p, ctx, NULL) != 1) goto done;
    ok = BN_bn2binpad(y, public_value, prime_bits / 8) == prime_bits / 8;
done:
    BN_CTX_free(ctx);
    BN_free(y);
    BN_free(g);
    BN_clear_free(x);
    BN_free(p);
    return ok;
}

/* 1 valid, 0 invalid, -1 libcrypto failure. `p` is the group's prime. */
static int check_peer_value(const BIGNUM *p, const BIGNUM *y, BN_CTX *ctx) {
    int result = -1, symbol;
    BIGNUM *p_minus_1 = BN_dup(p);
    if (p_minus_1 == NULL || BN_sub_word(p_minus_1, 1) != 1) goto done;
    /* 1 < y < p - 1 excludes 0, 1 and p - 1 (the order-1 and order-2 elements) and y >= p. */
    if (BN_cmp(y, BN_value_one()) <= 0 || BN_cmp(y, p_minus_1) >= 0) { result = 0; goto done; }
    /* With p = 2q + 1 every other element has order q or 2q, and order q means y^q = 1.
     * By Euler's criterion y^q = y^((p-1)/2) mod p is the Legendre symbol (y/p), which the
     * binary Jacobi algorithm computes exactly and far faster than a full-length modexp
     * (y is public, so its running time does not matter). */
    symbol = BN_kronecker(y, p, ctx);
    if (symbol == -2) goto done;
    result = symbol == 1 ? 1 : 0;
done:
    BN_free(p_minus_1);
    return result;
}

int tern_modp_check_public(int prime_bits, const uint8_t *peer_value, size_t peer_length) {
    if (peer_length != (size_t)(prime_bits / 8)) return 0;
    int valid = 0;
    BIGNUM *p = modp_prime(prime_bits), *y = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    if (p == NULL || y == NULL || ctx == NULL) goto done;
    if (BN_bin2bn(peer_value, (int)peer_length, y) == NULL) goto done;
    valid = check_peer_value(p, y, ctx) == 1;
done:
    BN_CTX_free(ctx);
    BN_free(y);
    BN_free(p);
    return valid;
}

int tern_modp_shared(int prime_bits, const uint8_t *exponent, size_t exponent_length,
                     const uint8_t *peer_value, size_t peer_length, uint8_t *shared) {
    if (prime_bits != 2048 && prime_bits != 3072 && prime_bits != 4096) return 0;
    if (peer_length != (size_t)(prime_bits / 8)) return -1;
    int result = 0, valid;
    BIGNUM *p = modp_prime(prime_bits), *x = secret_exponent(exponent, exponent_length);
    BIGNUM *y = BN_new(), *z = BN_new();
    BN_CTX *ctx = BN_CTX_new();
    if (p == NULL || x == NULL || y == NULL || z == NULL || ctx == NULL) goto done;
    if (BN_bin2bn(peer_value, (int)peer_length, y) == NULL) goto done;
    valid = check_peer_value(p, y, ctx);
    if (valid != 1) { result = valid == 0 ? -1 : 0; goto done; }
    if (BN_mod_exp_mont_consttime(z, y, x, p, ctx, NULL) != 1) goto done;
    result = BN_bn2binpad(z, shared, prime_bits / 8) == prime_bits / 8;
done:
    BN_CTX_free(ctx);
    BN_clear_free(z);
    BN_free(y);
    BN_clear_free(x);
    BN_free(p);
    return result;
}

int tern_modp_prime(int prime_bits, uint8_t *prime) {
    BIGNUM *p = modp_prime(prime_bits);
    if (p == NULL) return 0;
    int ok = BN_bn2binpad(p, prime, prime_bits / 8) == prime_bits / 8;
    BN_free(p);
    return ok;
}
