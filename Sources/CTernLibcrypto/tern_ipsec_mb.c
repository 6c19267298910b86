#include "tern_ipsec_mb.h"
#include "tern_libcrypto.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <intel-ipsec-mb.h>

/* The manager: only its function pointers are used (the direct GCM API), so one shared by every
 * thread is safe once initialised. Used only with AVX2 or AVX-512 code paths, where it beats
 * Debian's OpenSSL 3.0; TERN_AEAD=openssl in the environment turns it off. */
static IMB_MGR *manager;
static IMB_ARCH architecture = IMB_ARCH_NONE;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void initialise(void) {
    const char *forced = getenv("TERN_AEAD");
    if (forced != NULL && strcmp(forced, "openssl") == 0) return;
    IMB_MGR *m = alloc_mb_mgr(0);
    if (m == NULL) return;
    IMB_ARCH arch = IMB_ARCH_NONE;
    init_mb_mgr_auto(m, &arch);
    if (imb_get_errno(m) != 0 || (arch != IMB_ARCH_AVX2 && arch != IMB_ARCH_AVX512)) { free_mb_mgr(m); return; }
    manager = m;
    architecture = arch;
}

int tern_aead_gcm_backend(void) {
    pthread_once(&once, initialise);
    return manager != NULL ? TERN_AEAD_BACKEND_IPSEC_MB : TERN_AEAD_BACKEND_OPENSSL;
}

const char *tern_ipsec_mb_arch(void) {
    pthread_once(&once, initialise);
    if (manager == NULL) return "unavailable";
    return architecture == IMB_ARCH_AVX512 ? "avx512" : "avx2";
}

static size_t key_data_size(void) { return (sizeof(struct gcm_key_data) + 63) / 64 * 64; }

/* explicit_bzero is not optimised away: key material must not outlive its SA in memory. */
static void wipe(void *p, size_t n) { explicit_bzero(p, n); }

void *tern_mb_gcm_key_new(const uint8_t *key, size_t key_length) {
    if (tern_aead_gcm_backend() != TERN_AEAD_BACKEND_IPSEC_MB) return NULL;
    if (key_length != 16 && key_length != 24 && key_length != 32) return NULL;
    struct gcm_key_data *k = aligned_alloc(64, key_data_size());
    if (k == NULL) return NULL;
    if (key_length == 16) IMB_AES128_GCM_PRE(manager, key, k);
    else if (key_length == 24) IMB_AES192_GCM_PRE(manager, key, k);
    else IMB_AES256_GCM_PRE(manager, key, k);
    return k;
}

void *tern_mb_gcm_key_dup(const void *key_data) {
    void *k = aligned_alloc(64, key_data_size());
    if (k != NULL) memcpy(k, key_data, sizeof(struct gcm_key_data));
    return k;
}

void tern_mb_gcm_key_free(void *key_data) {
    if (key_data == NULL) return;
    wipe(key_data, sizeof(struct gcm_key_data));
    free(key_data);
}

int tern_mb_gcm_crypt(const void *key_data, size_t key_length, int encrypt, const uint8_t nonce[12],
                      const uint8_t *aad, size_t aad_length, uint8_t *text, size_t text_length, uint8_t tag[16]) {
    const struct gcm_key_data *k = key_data;
    struct gcm_context_data state;
    switch (key_length) {
    case 16:
        if (encrypt) IMB_AES128_GCM_ENC(manager, k, &state, text, text, text_length, nonce, aad, aad_length, tag, 16);
        else IMB_AES128_GCM_DEC(manager, k, &state, text, text, text_length, nonce, aad, aad_length, tag, 16);
        break;
    case 24:
        if (encrypt) IMB_AES192_GCM_ENC(manager, k, &state, text, text, text_length, nonce, aad, aad_length, tag, 16);
        else IMB_AES192_GCM_DEC(manager, k, &state, text, text, text_length, nonce, aad, aad_length, tag, 16);
        break;
    case 32:
        if (encrypt) IMB_AES256_GCM_ENC(manager, k, &state, text, text, text_length, nonce, aad, aad_length, tag, 16);
        else IMB_AES256_GCM_DEC(manager, k, &state, text, text, text_length, nonce, aad, aad_length, tag, 16);
        break;
    default:
        return 0;
    }
    /* The counter state holds E_K(J0) and the GHASH, which are key-derived. */
    wipe(&state, sizeof state);
    return 1;
}
