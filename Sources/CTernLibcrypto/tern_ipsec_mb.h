#pragma once
/* intel-ipsec-mb's AES-GCM for tern_libcrypto.c, in a file of its own because its header and
 * OpenSSL's define clashing names. Key data is opaque here; every function is thread-safe. */
#include <stddef.h>
#include <stdint.h>

int tern_aead_gcm_backend(void);
const char *tern_ipsec_mb_arch(void);
/* Precomputed key data (aligned, key schedule and hash keys), NULL if the length is not 16/24/32. */
void *tern_mb_gcm_key_new(const uint8_t *key, size_t key_length);
void *tern_mb_gcm_key_dup(const void *key_data);
/* Wipes the key data and frees it; NULL is fine. */
void tern_mb_gcm_key_free(void *key_data);
/* Encrypts (or decrypts) `text` in place and writes the 16-byte tag (decrypting: the computed
 * tag, for the caller to compare). */
int tern_mb_gcm_crypt(const void *key_data, size_t key_length, int encrypt, const uint8_t nonce[12],
                      const uint8_t *aad, size_t aad_length, uint8_t *text, size_t text_length, uint8_t tag[16]);
