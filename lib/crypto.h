/* crypto.h — Ed25519 keys, SHA-256, random bytes, base64url (OpenSSL 3).
 *
 * Keys are opaque `struct agora_key` (an EVP_PKEY underneath).  Functions
 * that can fail because of their input return false / NULL and leave their
 * outputs untouched; allocation failure aborts (util.h).
 */
#ifndef AGORA_CRYPTO_H
#define AGORA_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGORA_SHA256_LEN 32
#define AGORA_ED25519_PUB_LEN 32
#define AGORA_ED25519_SIG_LEN 64

struct agora_key;

/* A fresh Ed25519 key pair; free with agora_key_free(). */
struct agora_key *agora_key_generate(void);
/* From the raw 32-byte private seed or public key (RFC 8032 encoding). */
struct agora_key *agora_key_from_private_raw(const uint8_t seed[32]);
struct agora_key *agora_key_from_public_raw(const uint8_t pub[32]);
void agora_key_free(struct agora_key *k);
bool agora_key_has_private(const struct agora_key *k);
void agora_key_public_raw(const struct agora_key *k, uint8_t out[32]);

/* PKCS#8 PEM private key file.  save writes atomically with mode 0600 and
 * refuses to overwrite (even a dangling symlink); load refuses non-Ed25519
 * and passphrase-protected keys, and logs a warning when the file is
 * readable by group/others.  NULL/false on error with a message in err
 * (may be NULL, size errlen). */
struct agora_key *agora_key_load_pem(const char *path, char *err, size_t errlen);
bool agora_key_save_pem(const struct agora_key *k, const char *path, char *err, size_t errlen);
/* Load the key at path, or create and save one when the file is missing
 * (*created tells which; may be NULL).  The directory must exist: it is not
 * created.  A file that exists but does not load is an error, never
 * replaced. */
struct agora_key *agora_key_load_or_create(const char *path, bool *created, char *err, size_t errlen);

bool agora_ed25519_sign(const struct agora_key *k, const void *msg, size_t len,
			uint8_t sig[AGORA_ED25519_SIG_LEN]);
bool agora_ed25519_verify(const struct agora_key *k, const void *msg, size_t len,
			  const uint8_t *sig, size_t siglen);
/* Signatures that verified, and those agora_ed25519_sign made, are
 * remembered (by SHA-256 of key, signature and message; 1024 of them, the
 * newest win): verifying one again answers true without the curve
 * arithmetic.  Failures are never remembered.  The number of such answers
 * since the start, and a way to forget them all (tests). */
unsigned long agora_ed25519_verify_cache_hits(void);
void agora_ed25519_verify_cache_clear(void);
/* Ed25519 work of this process since it started, for /metrics: signatures
 * made, verifications that ran the curve arithmetic (whatever their
 * outcome; a signature of the wrong length is refused before it), and
 * verifications answered from the remembered signatures. */
struct agora_ed25519_counts {
	unsigned long signs, verifies, remembered;
};
void agora_ed25519_counts(struct agora_ed25519_counts *out);

void agora_sha256(const void *data, size_t len, uint8_t out[AGORA_SHA256_LEN]);
/* Incremental SHA-256 for streams (uploads, transfers).  new → update… →
 * final (which frees the context). */
struct agora_sha256_ctx;
struct agora_sha256_ctx *agora_sha256_new(void);
void agora_sha256_update(struct agora_sha256_ctx *c, const void *data, size_t len);
void agora_sha256_final(struct agora_sha256_ctx *c, uint8_t out[AGORA_SHA256_LEN]);
/* Discard a context without a result (an aborted stream); NULL is fine. */
void agora_sha256_free(struct agora_sha256_ctx *c);

/* Cryptographically secure random bytes; aborts if the RNG fails. */
void agora_random(void *buf, size_t len);

/* base64url without padding (RFC 7515 §2).  encode returns a heap string.
 * decode returns a heap buffer (NUL-terminated for convenience, *outlen set)
 * or NULL when the input has characters outside the alphabet, padding,
 * or an impossible length. */
char *agora_b64url_encode(const void *data, size_t len);
uint8_t *agora_b64url_decode(const char *s, size_t slen, size_t *outlen);
/* Standard base64 with padding (RFC 4648 §4), as in RFC 9530 digests.
 * Heap results; decode returns NULL for anything that is not canonical
 * padded base64. */
char *agora_b64_encode(const void *data, size_t len);
uint8_t *agora_b64_decode(const char *s, size_t slen, size_t *outlen);

#endif
