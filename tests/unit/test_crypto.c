/* test_crypto.c — Ed25519 against RFC 8032/8037 vectors, SHA-256 against
 * FIPS 180 examples, base64url strictness, and key files on disk. */
#include <criterion/criterion.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "crypto.h"
#include "util.h"

static void
unhex(const char *hex, uint8_t *out, size_t len)
{
	cr_assert_eq(strlen(hex), 2 * len);
	for (size_t i = 0; i < len; i++) {
		unsigned v;
		cr_assert_eq(sscanf(hex + 2 * i, "%2x", &v), 1);
		out[i] = (uint8_t)v;
	}
}

static void
b64url_decode_exact(const char *s, uint8_t *out, size_t len)
{
	size_t n = 0;
	uint8_t *raw = agora_b64url_decode(s, strlen(s), &n);
	cr_assert_not_null(raw, "%s", s);
	cr_assert_eq(n, len);
	memcpy(out, raw, len);
	free(raw);
}

/* A fresh private directory per test, removed by fini. */
static char tmpdir[64];

static void
tmpdir_init(void)
{
	strcpy(tmpdir, "/tmp/agora-test-crypto-XXXXXX");
	cr_assert_not_null(mkdtemp(tmpdir));
}

static void
tmpdir_fini(void)
{
	DIR *d = opendir(tmpdir);
	if (!d)
		return;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		char *p = xasprintf("%s/%s", tmpdir, e->d_name);
		unlink(p);
		free(p);
	}
	closedir(d);
	rmdir(tmpdir);
}

static size_t
dir_entries(const char *dir)
{
	size_t n = 0;
	DIR *d = opendir(dir);
	cr_assert_not_null(d);
	struct dirent *e;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	char *buf = xcalloc(1, 65536);
	size_t n = fread(buf, 1, 65535, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
write_file(const char *path, const char *data, mode_t mode)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	fputs(data, f);
	fclose(f);
	chmod(path, mode);
}

Test(crypto, b64url_encode_rfc4648_vectors)
{
	static const struct {
		const char *in, *out;
	} v[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" }, { "foobar", "Zm9vYmFy" },
	};
	for (size_t i = 0; i < ARRAY_LEN(v); i++) {
		char *enc = agora_b64url_encode(v[i].in, strlen(v[i].in));
		cr_expect_str_eq(enc, v[i].out);
		free(enc);
		size_t n = 99;
		uint8_t *dec = agora_b64url_decode(v[i].out, strlen(v[i].out), &n);
		cr_assert_not_null(dec);
		cr_expect_eq(n, strlen(v[i].in));
		cr_expect_str_eq((char *)dec, v[i].in);
		free(dec);
	}
}

Test(crypto, b64url_uses_url_alphabet)
{
	const uint8_t in[] = { 0xfb, 0xff, 0xbf };
	char *enc = agora_b64url_encode(in, sizeof in);
	cr_expect_str_eq(enc, "-_-_");
	free(enc);
	const uint8_t in2[] = { 0xfb, 0xff };
	enc = agora_b64url_encode(in2, sizeof in2);
	cr_expect_str_eq(enc, "-_8");
	size_t n = 0;
	uint8_t *dec = agora_b64url_decode(enc, strlen(enc), &n);
	cr_assert_not_null(dec);
	cr_expect_eq(n, 2);
	cr_expect_eq(memcmp(dec, in2, 2), 0);
	free(dec);
	free(enc);
}

Test(crypto, b64url_decode_rejects)
{
	static const char *bad[] = {
		"Zg==",		/* padding */
		"Zm8=",
		"Zm9v+A",	/* standard alphabet */
		"Zm9v/A",
		"Zm 9v",	/* whitespace */
		"Zm9v\n",
		"Z",		/* length % 4 == 1 */
		"Zm9vY",
		"Zh",		/* non-zero unused bits: "Zg" is the only encoding of "f" */
		"Zm9",
		"Zm.v",
		"\xc3\xa9xx",
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		size_t n = 1234;
		cr_expect_null(agora_b64url_decode(bad[i], strlen(bad[i]), &n), "%s", bad[i]);
		cr_expect_eq(n, 1234, "outlen touched for %s", bad[i]);
	}
	/* An embedded NUL within slen is not silently a terminator. */
	size_t n = 0;
	cr_expect_null(agora_b64url_decode("Zm9v\0AAA", 8, &n));
	/* Only slen bytes are read. */
	uint8_t *dec = agora_b64url_decode("Zm9v====", 4, &n);
	cr_assert_not_null(dec);
	cr_expect_eq(n, 3);
	cr_expect_str_eq((char *)dec, "foo");
	free(dec);
}

Test(crypto, sha256_fips180_vectors)
{
	uint8_t d[AGORA_SHA256_LEN];
	char hex[2 * AGORA_SHA256_LEN + 1];
	agora_sha256("abc", 3, d);
	agora_hex(d, sizeof d, hex);
	cr_expect_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	agora_sha256("", 0, d);
	agora_hex(d, sizeof d, hex);
	cr_expect_str_eq(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(crypto, random_fills_and_differs)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 }, zero[32] = { 0 };
	agora_random(a, sizeof a);
	agora_random(b, sizeof b);
	/* Each fails with probability 2^-256. */
	cr_expect_neq(memcmp(a, zero, 32), 0);
	cr_expect_neq(memcmp(a, b, 32), 0);
}

Test(crypto, rfc8037_a1_public_from_private)
{
	uint8_t d[32], x[32], pub[32];
	b64url_decode_exact("nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A", d, 32);
	b64url_decode_exact("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", x, 32);
	struct agora_key *k = agora_key_from_private_raw(d);
	cr_assert_not_null(k);
	cr_expect(agora_key_has_private(k));
	agora_key_public_raw(k, pub);
	cr_expect_eq(memcmp(pub, x, 32), 0);
	agora_key_free(k);
}

Test(crypto, rfc8032_test1_signature)
{
	uint8_t seed[32], pub[32], want[64], sig[64];
	unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", seed, 32);
	unhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", pub, 32);
	unhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
	      want, 64);
	struct agora_key *k = agora_key_from_private_raw(seed);
	cr_assert(agora_ed25519_sign(k, "", 0, sig));
	cr_expect_eq(memcmp(sig, want, 64), 0);
	struct agora_key *pk = agora_key_from_public_raw(pub);
	cr_assert_not_null(pk);
	cr_expect_not(agora_key_has_private(pk));
	/* Verified by the arithmetic, not remembered from the signing. */
	agora_ed25519_verify_cache_clear();
	unsigned long hits = agora_ed25519_verify_cache_hits();
	cr_expect(agora_ed25519_verify(pk, "", 0, want, 64));
	cr_expect_eq(agora_ed25519_verify_cache_hits(), hits);
	agora_key_free(pk);
	agora_key_free(k);
}

Test(crypto, sign_verify_roundtrip_and_tamper)
{
	struct agora_key *k = agora_key_generate();
	cr_assert(agora_key_has_private(k));
	uint8_t sig[64], pub[32];
	const char msg[] = "offer 42 accepted";
	cr_assert(agora_ed25519_sign(k, msg, strlen(msg), sig));
	agora_key_public_raw(k, pub);
	struct agora_key *pk = agora_key_from_public_raw(pub);

	agora_ed25519_verify_cache_clear();
	cr_expect(agora_ed25519_verify(pk, msg, strlen(msg), sig, 64));
	cr_expect(agora_ed25519_verify(k, msg, strlen(msg), sig, 64));
	cr_expect_not(agora_ed25519_verify(pk, "offer 43 accepted", strlen(msg), sig, 64));
	cr_expect_not(agora_ed25519_verify(pk, msg, strlen(msg) - 1, sig, 64));
	cr_expect_not(agora_ed25519_verify(pk, msg, strlen(msg), sig, 63));
	sig[10] ^= 1;
	cr_expect_not(agora_ed25519_verify(pk, msg, strlen(msg), sig, 64));
	sig[10] ^= 1;

	struct agora_key *other = agora_key_generate();
	cr_expect_not(agora_ed25519_verify(other, msg, strlen(msg), sig, 64));
	/* A public key cannot sign; the output is left untouched. */
	uint8_t sig2[64];
	memset(sig2, 0xaa, sizeof sig2);
	cr_expect_not(agora_ed25519_sign(pk, msg, strlen(msg), sig2));
	cr_expect_eq(sig2[0], 0xaa);
	agora_key_free(other);
	agora_key_free(pk);
	agora_key_free(k);
	agora_key_free(NULL);
}

/* The cache of valid signatures answers only for the exact key, message
 * and signature that verified (or were signed here), never for a failure. */
Test(crypto, verified_signatures_are_remembered_exactly)
{
	struct agora_key *k = agora_key_generate(), *other = agora_key_generate();
	uint8_t sig[64], pub[32];
	const char msg[] = "agreement urn:uuid:1";
	agora_key_public_raw(k, pub);
	struct agora_key *pk = agora_key_from_public_raw(pub);
	cr_assert(agora_ed25519_sign(k, msg, strlen(msg), sig));

	/* Signed here: the first verification is already a hit. */
	unsigned long h0 = agora_ed25519_verify_cache_hits();
	cr_expect(agora_ed25519_verify(pk, msg, strlen(msg), sig, 64));
	cr_expect_eq(agora_ed25519_verify_cache_hits(), h0 + 1);

	/* Verified once by the arithmetic, then remembered. */
	agora_ed25519_verify_cache_clear();
	cr_expect(agora_ed25519_verify(pk, msg, strlen(msg), sig, 64));
	cr_expect_eq(agora_ed25519_verify_cache_hits(), h0 + 1);
	cr_expect(agora_ed25519_verify(pk, msg, strlen(msg), sig, 64));
	cr_expect_eq(agora_ed25519_verify_cache_hits(), h0 + 2);

	/* Anything different is checked, and fails. */
	cr_expect_not(agora_ed25519_verify(other, msg, strlen(msg), sig, 64));
	cr_expect_not(agora_ed25519_verify(pk, "agreement urn:uuid:2", strlen(msg), sig, 64));
	cr_expect_not(agora_ed25519_verify(pk, msg, strlen(msg) - 1, sig, 64));
	for (int bit = 0; bit < 8; bit++) {
		sig[63] ^= (uint8_t)(1u << bit);
		cr_expect_not(agora_ed25519_verify(pk, msg, strlen(msg), sig, 64), "bit %d", bit);
		sig[63] ^= (uint8_t)(1u << bit);
	}
	cr_expect_eq(agora_ed25519_verify_cache_hits(), h0 + 2);

	/* A failure is not remembered: failing twice is two checks. */
	sig[0] ^= 0x80;
	cr_expect_not(agora_ed25519_verify(pk, msg, strlen(msg), sig, 64));
	cr_expect_not(agora_ed25519_verify(pk, msg, strlen(msg), sig, 64));
	cr_expect_eq(agora_ed25519_verify_cache_hits(), h0 + 2);
	sig[0] ^= 0x80;

	/* Forgotten after a clear: checked again, still valid. */
	agora_ed25519_verify_cache_clear();
	cr_expect(agora_ed25519_verify(pk, msg, strlen(msg), sig, 64));
	cr_expect_eq(agora_ed25519_verify_cache_hits(), h0 + 2);
	agora_key_free(pk);
	agora_key_free(other);
	agora_key_free(k);
}

/* What /metrics reports: signatures made, verifications that ran the curve
 * arithmetic (failed ones too), and those answered from memory.  Criterion
 * runs each test in a process of its own, so nothing else counts here. */
Test(crypto, ed25519_operations_are_counted)
{
	struct agora_key *k = agora_key_generate();
	uint8_t sig[64];
	const char msg[] = "verification urn:uuid:7";
	struct agora_ed25519_counts a, b;
	agora_ed25519_counts(&a);
	cr_assert(agora_ed25519_sign(k, msg, strlen(msg), sig));
	agora_ed25519_counts(&b);
	cr_expect_eq(b.signs, a.signs + 1);
	cr_expect_eq(b.verifies, a.verifies);
	cr_expect_eq(b.remembered, a.remembered);

	/* Signed here: remembered, no arithmetic. */
	cr_expect(agora_ed25519_verify(k, msg, strlen(msg), sig, 64));
	agora_ed25519_counts(&b);
	cr_expect_eq(b.verifies, a.verifies);
	cr_expect_eq(b.remembered, a.remembered + 1);

	/* Forgotten: one verification; a failing one counts as well; a
	 * signature of the wrong length is refused before any arithmetic. */
	agora_ed25519_verify_cache_clear();
	cr_expect(agora_ed25519_verify(k, msg, strlen(msg), sig, 64));
	cr_expect_not(agora_ed25519_verify(k, msg, strlen(msg) - 1, sig, 64));
	cr_expect_not(agora_ed25519_verify(k, msg, strlen(msg), sig, 63));
	agora_ed25519_counts(&b);
	cr_expect_eq(b.signs, a.signs + 1);
	cr_expect_eq(b.verifies, a.verifies + 2);
	cr_expect_eq(b.remembered, a.remembered + 1);

	/* A public key cannot sign, and that is not counted. */
	uint8_t pub[32];
	agora_key_public_raw(k, pub);
	struct agora_key *pk = agora_key_from_public_raw(pub);
	cr_expect_not(agora_ed25519_sign(pk, msg, strlen(msg), sig));
	agora_ed25519_counts(&b);
	cr_expect_eq(b.signs, a.signs + 1);
	agora_key_free(pk);
	agora_key_free(k);
}

TestSuite(crypto_pem, .init = tmpdir_init, .fini = tmpdir_fini);

Test(crypto_pem, save_is_0600_and_loads_same_key)
{
	/* Even a permissive umask must not widen the key file. */
	mode_t old = umask(0);
	struct agora_key *k = agora_key_generate();
	char *path = xasprintf("%s/broker.pem", tmpdir);
	char err[256] = "";
	cr_assert(agora_key_save_pem(k, path, err, sizeof err), "%s", err);
	umask(old);

	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600);
	cr_expect(S_ISREG(st.st_mode));
	/* No temporary file left behind. */
	cr_expect_eq(dir_entries(tmpdir), 1);

	char *pem = read_file(path);
	cr_expect_eq(strncmp(pem, "-----BEGIN PRIVATE KEY-----\n", 28), 0);
	free(pem);

	struct agora_key *l = agora_key_load_pem(path, err, sizeof err);
	cr_assert_not_null(l, "%s", err);
	cr_expect(agora_key_has_private(l));
	uint8_t a[32], b[32], sig[64];
	agora_key_public_raw(k, a);
	agora_key_public_raw(l, b);
	cr_expect_eq(memcmp(a, b, 32), 0);
	/* The loaded key signs what the original verifies. */
	cr_assert(agora_ed25519_sign(l, "x", 1, sig));
	cr_expect(agora_ed25519_verify(k, "x", 1, sig, 64));
	agora_key_free(l);
	agora_key_free(k);
	free(path);
}

Test(crypto_pem, save_refuses_overwrite)
{
	struct agora_key *k1 = agora_key_generate(), *k2 = agora_key_generate();
	char *path = xasprintf("%s/k.pem", tmpdir);
	char err[256] = "";
	cr_assert(agora_key_save_pem(k1, path, err, sizeof err), "%s", err);
	char *before = read_file(path);

	cr_expect_not(agora_key_save_pem(k2, path, err, sizeof err));
	cr_expect_not_null(strstr(err, "refusing to overwrite"), "%s", err);
	char *after = read_file(path);
	cr_expect_str_eq(after, before);
	cr_expect_eq(dir_entries(tmpdir), 1);

	/* Not even a dangling symlink is replaced. */
	char *link_path = xasprintf("%s/link.pem", tmpdir);
	cr_assert_eq(symlink("/nonexistent/target", link_path), 0);
	cr_expect_not(agora_key_save_pem(k2, link_path, err, sizeof err));
	cr_expect_eq(dir_entries(tmpdir), 2);

	free(link_path);
	free(before);
	free(after);
	free(path);
	agora_key_free(k1);
	agora_key_free(k2);
}

Test(crypto_pem, save_refuses_public_only_key)
{
	uint8_t pub[32];
	struct agora_key *k = agora_key_generate();
	agora_key_public_raw(k, pub);
	struct agora_key *pk = agora_key_from_public_raw(pub);
	char *path = xasprintf("%s/pub.pem", tmpdir);
	char err[256] = "";
	cr_expect_not(agora_key_save_pem(pk, path, err, sizeof err));
	cr_expect_not_null(strstr(err, "no private part"), "%s", err);
	cr_expect_eq(dir_entries(tmpdir), 0);
	free(path);
	agora_key_free(pk);
	agora_key_free(k);
}

Test(crypto_pem, save_into_missing_directory_fails)
{
	struct agora_key *k = agora_key_generate();
	char *path = xasprintf("%s/nope/k.pem", tmpdir);
	char err[256] = "";
	cr_expect_not(agora_key_save_pem(k, path, err, sizeof err));
	cr_expect_neq(err[0], '\0');
	free(path);
	agora_key_free(k);
}

Test(crypto_pem, load_refuses_bad_files)
{
	char err[256] = "";
	char *missing = xasprintf("%s/missing.pem", tmpdir);
	cr_expect_null(agora_key_load_pem(missing, err, sizeof err));
	cr_expect_not_null(strstr(err, "No such file"), "%s", err);

	char *garbage = xasprintf("%s/garbage.pem", tmpdir);
	write_file(garbage, "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n", 0600);
	cr_expect_null(agora_key_load_pem(garbage, err, sizeof err));
	cr_expect_not_null(strstr(err, "not an unencrypted PKCS#8 PEM private key"), "%s", err);

	/* A valid PKCS#8 key of another type. */
	char *ec = xasprintf("%s/ec.pem", tmpdir);
	EVP_PKEY *p = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	cr_assert_not_null(p);
	BIO *bio = BIO_new_file(ec, "w");
	cr_assert(PEM_write_bio_PrivateKey(bio, p, NULL, NULL, 0, NULL, NULL));
	BIO_free(bio);
	chmod(ec, 0600);
	EVP_PKEY_free(p);
	cr_expect_null(agora_key_load_pem(ec, err, sizeof err));
	cr_expect_not_null(strstr(err, "not an Ed25519 key"), "%s", err);

	/* A directory is not a key file. */
	cr_expect_null(agora_key_load_pem(tmpdir, err, sizeof err));
	/* err may be NULL. */
	cr_expect_null(agora_key_load_pem(missing, NULL, 0));

	free(missing);
	free(garbage);
	free(ec);
}

Test(crypto_pem, load_or_create_creates_then_loads)
{
	char *path = xasprintf("%s/node.pem", tmpdir);
	char err[256] = "";
	bool created = false;
	struct agora_key *k = agora_key_load_or_create(path, &created, err, sizeof err);
	cr_assert_not_null(k, "%s", err);
	cr_expect(created);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_expect_eq(st.st_mode & 07777, 0600);

	struct agora_key *again = agora_key_load_or_create(path, &created, err, sizeof err);
	cr_assert_not_null(again, "%s", err);
	cr_expect_not(created);
	uint8_t a[32], b[32];
	agora_key_public_raw(k, a);
	agora_key_public_raw(again, b);
	cr_expect_eq(memcmp(a, b, 32), 0);
	cr_expect_eq(dir_entries(tmpdir), 1);

	/* An unreadable existing file is an error, never replaced. */
	char *bad = xasprintf("%s/bad.pem", tmpdir);
	write_file(bad, "junk\n", 0600);
	cr_expect_null(agora_key_load_or_create(bad, &created, err, sizeof err));
	cr_expect_not(created);
	char *still = read_file(bad);
	cr_expect_str_eq(still, "junk\n");

	free(still);
	free(bad);
	agora_key_free(again);
	agora_key_free(k);
	free(path);
}
