/* crypto.c — see crypto.h.  Everything goes through OpenSSL 3 EVP. */
#include "crypto.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "log.h"
#include "util.h"

struct agora_key {
	EVP_PKEY *pkey;
	bool has_private;
};

/* A key file is a few hundred bytes; anything much larger is not ours. */
#define KEY_FILE_MAX 16384

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static struct agora_key *
key_wrap(EVP_PKEY *pkey, bool has_private)
{
	struct agora_key *k = xmalloc(sizeof *k);
	k->pkey = pkey;
	k->has_private = has_private;
	return k;
}

struct agora_key *
agora_key_generate(void)
{
	EVP_PKEY *pkey = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	/* Key generation only fails when the RNG or the provider is broken;
	 * continuing without keys would be worse than stopping. */
	if (!pkey) {
		agora_logf(AGORA_LOG_ERROR, "crypto", "Ed25519 key generation failed");
		abort();
	}
	return key_wrap(pkey, true);
}

struct agora_key *
agora_key_from_private_raw(const uint8_t seed[32])
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
	return pkey ? key_wrap(pkey, true) : NULL;
}

struct agora_key *
agora_key_from_public_raw(const uint8_t pub[32])
{
	EVP_PKEY *pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub, 32);
	return pkey ? key_wrap(pkey, false) : NULL;
}

void
agora_key_free(struct agora_key *k)
{
	if (!k)
		return;
	EVP_PKEY_free(k->pkey);
	free(k);
}

bool
agora_key_has_private(const struct agora_key *k)
{
	return k->has_private;
}

void
agora_key_public_raw(const struct agora_key *k, uint8_t out[32])
{
	size_t len = 32;
	/* Every agora_key is Ed25519, so this cannot fail short of a
	 * provider bug. */
	if (EVP_PKEY_get_raw_public_key(k->pkey, out, &len) != 1 || len != 32)
		abort();
}

/* Never prompt on a terminal for a passphrase: encrypted key files are
 * simply refused. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

struct agora_key *
agora_key_load_pem(const char *path, char *err, size_t errlen)
{
	struct agora_key *k = NULL;
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	char *data = NULL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		set_err(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	struct stat st;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		set_err(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	if (st.st_size > KEY_FILE_MAX) {
		set_err(err, errlen, "%s: too large for a key file", path);
		goto out;
	}
	/* Not refused, so an operator is not locked out by a restrictive
	 * deployment tool, but loud: the file holds a signing key. */
	if (st.st_mode & (S_IRWXG | S_IRWXO))
		agora_logf(AGORA_LOG_WARN, "crypto", "%s: key file is accessible by group/others (mode %03o)",
			   path, (unsigned)(st.st_mode & 0777));

	data = xmalloc(KEY_FILE_MAX + 1);
	size_t len = 0;
	for (;;) {
		ssize_t n = read(fd, data + len, KEY_FILE_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_err(err, errlen, "%s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > KEY_FILE_MAX) {
			set_err(err, errlen, "%s: too large for a key file", path);
			goto out;
		}
	}

	bio = BIO_new_mem_buf(data, (int)len);
	if (!bio)
		abort();
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
	if (!pkey) {
		set_err(err, errlen, "%s: not an unencrypted PKCS#8 PEM private key", path);
		goto out;
	}
	if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
		set_err(err, errlen, "%s: not an Ed25519 key", path);
		goto out;
	}
	k = key_wrap(pkey, true);
	pkey = NULL;
out:
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	if (data) {
		OPENSSL_cleanse(data, KEY_FILE_MAX + 1);
		free(data);
	}
	if (fd >= 0)
		close(fd);
	return k;
}

static bool
write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= (size_t)n;
	}
	return true;
}

/* Move tmp to path unless path exists.  rename() would silently replace an
 * existing key, so use RENAME_NOREPLACE, or link()+unlink() on filesystems
 * without it; both fail with EEXIST atomically. */
static int
rename_noreplace(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP)
		return -1;
	if (link(tmp, path) != 0)
		return -1;
	unlink(tmp);
	return 0;
}

/* Make the rename durable: fsync the directory that holds path. */
static void
fsync_parent(const char *path)
{
	const char *slash = strrchr(path, '/');
	char *dir = slash ? xstrndup(path, slash == path ? 1 : (size_t)(slash - path)) : xstrdup(".");
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
	free(dir);
}

bool
agora_key_save_pem(const struct agora_key *k, const char *path, char *err, size_t errlen)
{
	bool ok = false;
	BIO *bio = NULL;
	char *tmp = NULL;
	int fd = -1;

	if (!k->has_private) {
		set_err(err, errlen, "%s: key has no private part", path);
		goto out;
	}
	/* Early, friendly refusal; rename_noreplace() is the real guard. */
	struct stat st;
	if (lstat(path, &st) == 0) {
		set_err(err, errlen, "%s: already exists, refusing to overwrite", path);
		goto out;
	}

	bio = BIO_new(BIO_s_secmem());
	if (!bio)
		abort();
	if (!PEM_write_bio_PrivateKey(bio, k->pkey, NULL, NULL, 0, NULL, NULL)) {
		set_err(err, errlen, "%s: PEM encoding failed", path);
		goto out;
	}
	char *pem;
	long pemlen = BIO_get_mem_data(bio, &pem);

	uint8_t r[8];
	char hex[17];
	agora_random(r, sizeof r);
	agora_hex(r, sizeof r, hex);
	/* Same directory as path, so the rename stays on one filesystem. */
	tmp = xasprintf("%s.tmp-%s", path, hex);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		set_err(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	/* The umask can only remove bits, but be explicit about the result. */
	if (fchmod(fd, 0600) != 0 || !write_all(fd, pem, (size_t)pemlen) || fsync(fd) != 0) {
		set_err(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	if (close(fd) != 0) {
		fd = -1;
		set_err(err, errlen, "%s: %s", tmp, strerror(errno));
		goto out;
	}
	fd = -1;
	if (rename_noreplace(tmp, path) != 0) {
		set_err(err, errlen, "%s: %s", path,
			errno == EEXIST ? "already exists, refusing to overwrite" : strerror(errno));
		goto out;
	}
	fsync_parent(path);
	ok = true;
out:
	if (fd >= 0)
		close(fd);
	if (tmp && !ok)
		unlink(tmp);
	free(tmp);
	BIO_free(bio);
	return ok;
}

struct agora_key *
agora_key_load_or_create(const char *path, bool *created, char *err, size_t errlen)
{
	if (created)
		*created = false;
	struct stat st;
	if (lstat(path, &st) == 0 || errno != ENOENT)
		return agora_key_load_pem(path, err, errlen);

	struct agora_key *k = agora_key_generate();
	if (agora_key_save_pem(k, path, err, errlen)) {
		if (created)
			*created = true;
		return k;
	}
	agora_key_free(k);
	/* Another process may have created it between lstat and save. */
	if (lstat(path, &st) == 0)
		return agora_key_load_pem(path, err, errlen);
	return NULL;
}

/* Signatures known to be valid.  A negotiation's agreement carries up to
 * three signatures and each party checks the whole chain again, including
 * signatures it checked earlier or made itself; an Ed25519 verification
 * costs about three signatures' time.  Each slot holds SHA-256(public key ‖
 * signature ‖ message) of a signature that verified (or that we made), so a
 * hit is a signature already shown valid for exactly that key and message.
 * Only successes are stored; a direct-mapped table of VCACHE_SLOTS digests
 * (32 KiB) whose entries are overwritten by newer ones. */
#define VCACHE_SLOTS 1024
static uint8_t vcache[VCACHE_SLOTS][AGORA_SHA256_LEN];
static pthread_mutex_t vcache_mu = PTHREAD_MUTEX_INITIALIZER;
static _Atomic unsigned long vcache_hits;
static _Atomic unsigned long n_signs, n_verifies;

static void
vcache_digest(const struct agora_key *k, const void *msg, size_t len, const uint8_t *sig,
	      uint8_t out[AGORA_SHA256_LEN])
{
	uint8_t pub[AGORA_ED25519_PUB_LEN];
	agora_key_public_raw(k, pub);
	struct agora_sha256_ctx *c = agora_sha256_new();
	agora_sha256_update(c, pub, sizeof pub);
	agora_sha256_update(c, sig, AGORA_ED25519_SIG_LEN);
	agora_sha256_update(c, msg, len);
	agora_sha256_final(c, out);
}

static size_t
vcache_slot(const uint8_t d[AGORA_SHA256_LEN])
{
	return ((size_t)d[0] | (size_t)d[1] << 8) % VCACHE_SLOTS;
}

static bool
vcache_has(const uint8_t d[AGORA_SHA256_LEN])
{
	pthread_mutex_lock(&vcache_mu);
	bool hit = memcmp(vcache[vcache_slot(d)], d, AGORA_SHA256_LEN) == 0;
	pthread_mutex_unlock(&vcache_mu);
	return hit;
}

static void
vcache_put(const uint8_t d[AGORA_SHA256_LEN])
{
	pthread_mutex_lock(&vcache_mu);
	memcpy(vcache[vcache_slot(d)], d, AGORA_SHA256_LEN);
	pthread_mutex_unlock(&vcache_mu);
}

unsigned long
agora_ed25519_verify_cache_hits(void)
{
	return atomic_load(&vcache_hits);
}

void
agora_ed25519_counts(struct agora_ed25519_counts *out)
{
	out->signs = atomic_load(&n_signs);
	out->verifies = atomic_load(&n_verifies);
	out->remembered = atomic_load(&vcache_hits);
}

void
agora_ed25519_verify_cache_clear(void)
{
	pthread_mutex_lock(&vcache_mu);
	memset(vcache, 0, sizeof vcache);
	pthread_mutex_unlock(&vcache_mu);
}

bool
agora_ed25519_sign(const struct agora_key *k, const void *msg, size_t len,
		   uint8_t sig[AGORA_ED25519_SIG_LEN])
{
	if (!k->has_private)
		return false;
	bool ok = false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		abort();
	size_t siglen = AGORA_ED25519_SIG_LEN;
	/* Ed25519 hashes internally: the digest must be NULL. */
	if (EVP_DigestSignInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, msg, len) == 1 && siglen == AGORA_ED25519_SIG_LEN)
		ok = true;
	EVP_MD_CTX_free(ctx);
	if (ok) {
		atomic_fetch_add(&n_signs, 1);
		uint8_t d[AGORA_SHA256_LEN];
		vcache_digest(k, msg, len, sig, d);
		vcache_put(d);
	}
	return ok;
}

bool
agora_ed25519_verify(const struct agora_key *k, const void *msg, size_t len,
		     const uint8_t *sig, size_t siglen)
{
	if (siglen != AGORA_ED25519_SIG_LEN)
		return false;
	uint8_t d[AGORA_SHA256_LEN];
	vcache_digest(k, msg, len, sig, d);
	if (vcache_has(d)) {
		atomic_fetch_add(&vcache_hits, 1);
		return true;
	}
	atomic_fetch_add(&n_verifies, 1);
	bool ok = false;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (!ctx)
		abort();
	if (EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, k->pkey) == 1 &&
	    EVP_DigestVerify(ctx, sig, siglen, msg, len) == 1)
		ok = true;
	EVP_MD_CTX_free(ctx);
	if (ok)
		vcache_put(d);
	return ok;
}

/* SHA-256 fetched from the provider once: EVP_sha256() makes OpenSSL 3
 * fetch the implementation again (locks, name look-ups) on every use. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void
sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *
sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	return sha256_md ? sha256_md : EVP_sha256();
}

void
agora_sha256(const void *data, size_t len, uint8_t out[AGORA_SHA256_LEN])
{
	unsigned int outlen = 0;
	if (EVP_Digest(data, len, out, &outlen, sha256(), NULL) != 1 || outlen != AGORA_SHA256_LEN)
		abort();
}

void
agora_random(void *buf, size_t len)
{
	uint8_t *p = buf;
	while (len) {
		int n = len > INT_MAX ? INT_MAX : (int)len;
		if (RAND_bytes(p, n) != 1) {
			agora_logf(AGORA_LOG_ERROR, "crypto", "RAND_bytes failed");
			abort();
		}
		p += n;
		len -= (size_t)n;
	}
}

static const char b64url_alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

char *
agora_b64url_encode(const void *data, size_t len)
{
	const uint8_t *in = data;
	char *out = xmalloc(len / 3 * 4 + 4 + 1);
	char *o = out;
	size_t i = 0;
	for (; i + 3 <= len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
		*o++ = b64url_alphabet[v >> 18];
		*o++ = b64url_alphabet[(v >> 12) & 63];
		*o++ = b64url_alphabet[(v >> 6) & 63];
		*o++ = b64url_alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;
		*o++ = b64url_alphabet[v >> 18];
		*o++ = b64url_alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
		*o++ = b64url_alphabet[v >> 18];
		*o++ = b64url_alphabet[(v >> 12) & 63];
		*o++ = b64url_alphabet[(v >> 6) & 63];
	}
	*o = '\0';
	return out;
}

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/* Strict: exactly one encoding is accepted for each byte string, so the
 * unused low bits of the last character must be zero.  That keeps
 * signatures and thumbprints from having look-alike encodings. */
uint8_t *
agora_b64url_decode(const char *s, size_t slen, size_t *outlen)
{
	if (slen % 4 == 1)
		return NULL;
	uint8_t *out = xmalloc(slen / 4 * 3 + 3 + 1);
	size_t o = 0;
	uint32_t acc = 0;
	unsigned bits = 0;
	for (size_t i = 0; i < slen; i++) {
		int v = b64url_value((unsigned char)s[i]);
		if (v < 0)
			goto fail;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0)
		goto fail;
	out[o] = '\0';
	*outlen = o;
	return out;
fail:
	free(out);
	return NULL;
}

char *
agora_b64_encode(const void *data, size_t len)
{
	char *out = xmalloc(4 * ((len + 2) / 3) + 1);
	EVP_EncodeBlock((unsigned char *)out, data, (int)len);
	return out;
}

uint8_t *
agora_b64_decode(const char *s, size_t slen, size_t *outlen)
{
	if (slen == 0 || slen % 4 != 0 || slen > (1u << 20))
		return NULL;
	uint8_t *out = xmalloc(slen / 4 * 3 + 1);
	int n = EVP_DecodeBlock(out, (const unsigned char *)s, (int)slen);
	if (n < 0) {
		free(out);
		return NULL;
	}
	size_t pad = (s[slen - 1] == '=') + (s[slen - 2] == '=');
	*outlen = (size_t)n - pad;
	/* Canonical only: encoding it again gives the same text. */
	char *again = agora_b64_encode(out, *outlen);
	bool same = strlen(again) == slen && !memcmp(again, s, slen);
	free(again);
	if (!same) {
		free(out);
		return NULL;
	}
	return out;
}

/* ---- incremental SHA-256 ---------------------------------------------- */

struct agora_sha256_ctx {
	EVP_MD_CTX *md;
};

struct agora_sha256_ctx *
agora_sha256_new(void)
{
	struct agora_sha256_ctx *c = xmalloc(sizeof *c);
	c->md = EVP_MD_CTX_new();
	if (!c->md || EVP_DigestInit_ex(c->md, sha256(), NULL) != 1)
		abort();	/* only on allocation failure */
	return c;
}

void
agora_sha256_update(struct agora_sha256_ctx *c, const void *data, size_t len)
{
	if (EVP_DigestUpdate(c->md, data, len) != 1)
		abort();
}

void
agora_sha256_final(struct agora_sha256_ctx *c, uint8_t out[AGORA_SHA256_LEN])
{
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(c->md, out, &n) != 1 || n != AGORA_SHA256_LEN)
		abort();
	agora_sha256_free(c);
}

void
agora_sha256_free(struct agora_sha256_ctx *c)
{
	if (!c)
		return;
	EVP_MD_CTX_free(c->md);
	free(c);
}
