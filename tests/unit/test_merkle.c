/* test_merkle.c — the RFC 6962 Merkle tree against the RFC's own worked
 * example, the Certificate Transparency known-answer vectors, an
 * independent recursive transcription of the RFC's definitions (every
 * tree up to 40 leaves), tampering, and bounds. */
#include <criterion/criterion.h>

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "crypto.h"
#include "merkle.h"
#include "util.h"

#define MAXP AGORA_MERKLE_MAX_PROOF

/* ---- helpers ---------------------------------------------------------- */

static void
h_from_hex(const char *hex, uint8_t out[32])
{
	cr_assert(agora_merkle_from_hex(hex, out), "bad test vector %s", hex);
}

static void
assert_hash(const uint8_t got[32], const char *want_hex, const char *what)
{
	char got_hex[65];
	agora_merkle_to_hex(got, got_hex);
	cr_assert_str_eq(got_hex, want_hex, "%s", what);
}

static void
assert_same(const uint8_t a[32], const uint8_t b[32], const char *what)
{
	cr_assert(memcmp(a, b, 32) == 0, "%s", what);
}

static void
leaf_str(const char *s, uint8_t out[32])
{
	agora_merkle_leaf_hash(s, strlen(s), out);
}

/* Leaf hashes of "leaf 0", "leaf 1", ... for the exhaustive tests. */
#define NLEAVES 81
static uint8_t gen_leaves[NLEAVES][32];

static void
gen_init(void)
{
	for (size_t i = 0; i < NLEAVES; i++) {
		char buf[32];
		snprintf(buf, sizeof(buf), "leaf %zu", i);
		leaf_str(buf, gen_leaves[i]);
	}
}

/* ---- reference: RFC 6962 §2.1 recursions, written out literally -------- */

struct hlist {
	uint8_t h[MAXP][32];
	size_t n;
};

static void
hl_append(struct hlist *l, const uint8_t h[32])
{
	cr_assert_lt(l->n, MAXP);
	memcpy(l->h[l->n++], h, 32);
}

static size_t
ref_k(size_t n)
{
	size_t k = 1;
	while (2 * k < n)
		k *= 2;
	return k;
}

static void
ref_mth(const uint8_t (*dl)[32], size_t n, uint8_t out[32])
{
	if (n == 0) {
		agora_sha256("", 0, out);
	} else if (n == 1) {
		memcpy(out, dl[0], 32);
	} else {
		size_t k = ref_k(n);
		uint8_t lh[32], rh[32];
		ref_mth(dl, k, lh);
		ref_mth(dl + k, n - k, rh);
		agora_merkle_node_hash(lh, rh, out);
	}
}

static void
ref_path(size_t m, const uint8_t (*d)[32], size_t n, struct hlist *out)
{
	if (n == 1)
		return;
	size_t k = ref_k(n);
	uint8_t h[32];
	if (m < k) {
		ref_path(m, d, k, out);
		ref_mth(d + k, n - k, h);
	} else {
		ref_path(m - k, d + k, n - k, out);
		ref_mth(d, k, h);
	}
	hl_append(out, h);
}

static void
ref_subproof(size_t m, const uint8_t (*d)[32], size_t n, bool b, struct hlist *out)
{
	uint8_t h[32];
	if (m == n) {
		if (!b) {
			ref_mth(d, n, h);
			hl_append(out, h);
		}
		return;
	}
	size_t k = ref_k(n);
	if (m <= k) {
		ref_subproof(m, d, k, b, out);
		ref_mth(d + k, n - k, h);
	} else {
		ref_subproof(m - k, d + k, n - k, false, out);
		ref_mth(d, k, h);
	}
	hl_append(out, h);
}

/* Lengths of PATH(m, D[n]) and PROOF(m, D[n]), from the same recursions
 * without the hashing. */
static size_t
ref_path_len(size_t m, size_t n)
{
	if (n == 1)
		return 0;
	size_t k = ref_k(n);
	return 1 + (m < k ? ref_path_len(m, k) : ref_path_len(m - k, n - k));
}

static size_t
ref_subproof_len(size_t m, size_t n, bool b)
{
	if (m == n)
		return b ? 0 : 1;
	size_t k = ref_k(n);
	return 1 + (m <= k ? ref_subproof_len(m, k, b) : ref_subproof_len(m - k, n - k, false));
}

static size_t
ref_proof_len(size_t m, size_t n)
{
	return m > 0 && m < n ? ref_subproof_len(m, n, true) : 0;
}

/* ---- Certificate Transparency known-answer vectors --------------------- */

/* The leaf inputs and roots used by CT implementations (Google's
 * certificate-transparency and transparency-dev/merkle test suites). */
static const struct {
	const char *data;
	size_t len;
} ct_inputs[8] = {
	{ "", 0 },
	{ "\x00", 1 },
	{ "\x10", 1 },
	{ "\x20\x21", 2 },
	{ "\x30\x31", 2 },
	{ "\x40\x41\x42\x43", 4 },
	{ "\x50\x51\x52\x53\x54\x55\x56\x57", 8 },
	{ "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f", 16 },
};

static const char *ct_roots[8] = {
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

#define EMPTY_ROOT "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

static uint8_t ct_leaves[8][32];

static void
ct_init(void)
{
	for (size_t i = 0; i < 8; i++)
		agora_merkle_leaf_hash(ct_inputs[i].data, ct_inputs[i].len, ct_leaves[i]);
}

TestSuite(merkle_ct, .init = ct_init);

Test(merkle_ct, empty_tree_root)
{
	uint8_t root[32];
	agora_merkle_root(NULL, 0, root);
	assert_hash(root, EMPTY_ROOT, "empty tree");
}

Test(merkle_ct, leaf_hash_of_empty_entry)
{
	uint8_t h[32];
	agora_merkle_leaf_hash(NULL, 0, h);
	assert_hash(h, ct_roots[0], "SHA-256(0x00)");
}

Test(merkle_ct, node_hash_is_prefixed)
{
	/* The 2-leaf root, rebuilt by hand from SHA-256(0x01 || l || r). */
	uint8_t buf[65], want[32], got[32];
	buf[0] = 0x01;
	memcpy(buf + 1, ct_leaves[0], 32);
	memcpy(buf + 33, ct_leaves[1], 32);
	agora_sha256(buf, sizeof(buf), want);
	agora_merkle_node_hash(ct_leaves[0], ct_leaves[1], got);
	assert_same(got, want, "node hash");
	assert_hash(got, ct_roots[1], "node hash of the first two CT leaves");

	/* out may alias an input. */
	memcpy(got, ct_leaves[0], 32);
	agora_merkle_node_hash(got, ct_leaves[1], got);
	assert_same(got, want, "aliased left");
	memcpy(got, ct_leaves[1], 32);
	agora_merkle_node_hash(ct_leaves[0], got, got);
	assert_same(got, want, "aliased right");
}

Test(merkle_ct, roots_for_sizes_1_to_8)
{
	for (size_t n = 1; n <= 8; n++) {
		uint8_t root[32];
		char what[32];
		snprintf(what, sizeof(what), "root of %zu", n);
		agora_merkle_root((const uint8_t (*)[32])ct_leaves, n, root);
		assert_hash(root, ct_roots[n - 1], what);
	}
}

/* Inclusion and consistency vectors from transparency-dev/merkle's
 * proof/verify_test.go (there the leaf numbers are 1-based). */
static const struct {
	size_t index, size, len;
	const char *proof[3];
} ct_incl[] = {
	{ 0, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3, { "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
		     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, { "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3, { "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
};

static const struct {
	size_t first, second, len;
	const char *proof[3];
} ct_cons[] = {
	{ 1, 8, 3, { "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
		     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, { "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
		     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3, { "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
		     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
		     "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

Test(merkle_ct, inclusion_proof_vectors)
{
	for (size_t t = 0; t < ARRAY_LEN(ct_incl); t++) {
		uint8_t proof[MAXP][32], want[3][32], root[32];
		size_t n = ct_incl[t].size, idx = ct_incl[t].index;
		size_t len = agora_merkle_inclusion_proof((const uint8_t (*)[32])ct_leaves, n, idx,
							  proof, MAXP);
		cr_assert_eq(len, ct_incl[t].len, "vector %zu", t);
		for (size_t j = 0; j < len; j++) {
			h_from_hex(ct_incl[t].proof[j], want[j]);
			cr_assert(memcmp(proof[j], want[j], 32) == 0, "vector %zu hash %zu", t, j);
		}
		h_from_hex(ct_roots[n - 1], root);
		cr_assert(agora_merkle_verify_inclusion(ct_leaves[idx], idx, n,
							(const uint8_t (*)[32])want, len, root),
			  "vector %zu", t);
	}
}

Test(merkle_ct, consistency_proof_vectors)
{
	for (size_t t = 0; t < ARRAY_LEN(ct_cons); t++) {
		uint8_t proof[MAXP][32], want[3][32], r1[32], r2[32];
		size_t m = ct_cons[t].first, n = ct_cons[t].second;
		size_t len = agora_merkle_consistency_proof((const uint8_t (*)[32])ct_leaves, n, m,
							    proof, MAXP);
		cr_assert_eq(len, ct_cons[t].len, "vector %zu", t);
		for (size_t j = 0; j < len; j++) {
			h_from_hex(ct_cons[t].proof[j], want[j]);
			cr_assert(memcmp(proof[j], want[j], 32) == 0, "vector %zu hash %zu", t, j);
		}
		h_from_hex(ct_roots[m - 1], r1);
		h_from_hex(ct_roots[n - 1], r2);
		cr_assert(agora_merkle_verify_consistency(m, n, r1, r2,
							  (const uint8_t (*)[32])want, len),
			  "vector %zu", t);
		cr_assert_not(agora_merkle_verify_consistency(m, n, r2, r1,
							      (const uint8_t (*)[32])want, len),
			      "vector %zu with swapped roots", t);
	}
}

/* ---- RFC 6962 §2.1.3 worked example ------------------------------------ */

/*            hash
 *           /    \
 *          k      l
 *         / \    / \
 *        g   h  i   j
 *       / \ / \ / \ |
 *       a b c d e f d6
 *       | | | | | |
 *      d0 d1 d2 d3 d4 d5
 */
static uint8_t ex_leaves[7][32];
static struct {
	uint8_t a[32], b[32], c[32], d[32], e[32], f[32], g[32], h[32], i[32], j[32], k[32],
		l[32], root[32];
} ex;

static void
example_init(void)
{
	for (size_t n = 0; n < 7; n++) {
		char s[3] = { 'd', (char)('0' + n), '\0' };
		leaf_str(s, ex_leaves[n]);
	}
	memcpy(ex.a, ex_leaves[0], 32);
	memcpy(ex.b, ex_leaves[1], 32);
	memcpy(ex.c, ex_leaves[2], 32);
	memcpy(ex.d, ex_leaves[3], 32);
	memcpy(ex.e, ex_leaves[4], 32);
	memcpy(ex.f, ex_leaves[5], 32);
	memcpy(ex.j, ex_leaves[6], 32);
	agora_merkle_node_hash(ex.a, ex.b, ex.g);
	agora_merkle_node_hash(ex.c, ex.d, ex.h);
	agora_merkle_node_hash(ex.e, ex.f, ex.i);
	agora_merkle_node_hash(ex.g, ex.h, ex.k);
	agora_merkle_node_hash(ex.i, ex.j, ex.l);
	agora_merkle_node_hash(ex.k, ex.l, ex.root);
}

TestSuite(merkle_rfc, .init = example_init);

static void
check_path(size_t index, const uint8_t *want[], size_t want_len)
{
	uint8_t proof[MAXP][32];
	size_t len = agora_merkle_inclusion_proof((const uint8_t (*)[32])ex_leaves, 7, index,
						  proof, MAXP);
	cr_assert_eq(len, want_len, "path length for d%zu", index);
	for (size_t n = 0; n < len; n++)
		cr_assert(memcmp(proof[n], want[n], 32) == 0, "d%zu path[%zu]", index, n);
	cr_assert(agora_merkle_verify_inclusion(ex_leaves[index], index, 7,
						(const uint8_t (*)[32])proof, len, ex.root));
}

Test(merkle_rfc, root)
{
	uint8_t root[32];
	agora_merkle_root((const uint8_t (*)[32])ex_leaves, 7, root);
	assert_same(root, ex.root, "hash of the 7-leaf tree");
}

Test(merkle_rfc, audit_paths)
{
	/* "The audit path for d0 is [b, h, l]. ... d3 is [c, g, l]. ... d4
	 * is [f, j, k]. ... d6 is [i, k]." */
	check_path(0, (const uint8_t *[]){ ex.b, ex.h, ex.l }, 3);
	check_path(3, (const uint8_t *[]){ ex.c, ex.g, ex.l }, 3);
	check_path(4, (const uint8_t *[]){ ex.f, ex.j, ex.k }, 3);
	check_path(6, (const uint8_t *[]){ ex.i, ex.k }, 2);
}

static void
check_consistency(size_t m, const uint8_t old_root[32], const uint8_t *want[], size_t want_len)
{
	uint8_t proof[MAXP][32], root[32];
	agora_merkle_root((const uint8_t (*)[32])ex_leaves, m, root);
	assert_same(root, old_root, "old tree hash");
	size_t len = agora_merkle_consistency_proof((const uint8_t (*)[32])ex_leaves, 7, m,
						    proof, MAXP);
	cr_assert_eq(len, want_len, "PROOF(%zu, D[7]) length", m);
	for (size_t n = 0; n < len; n++)
		cr_assert(memcmp(proof[n], want[n], 32) == 0, "PROOF(%zu, D[7])[%zu]", m, n);
	cr_assert(agora_merkle_verify_consistency(m, 7, old_root, ex.root,
						  (const uint8_t (*)[32])proof, len));
}

Test(merkle_rfc, consistency_proofs)
{
	uint8_t hash0[32], hash2[32];
	agora_merkle_node_hash(ex.g, ex.c, hash0);
	agora_merkle_node_hash(ex.k, ex.i, hash2);
	/* "PROOF(3, D[7]) = [c, d, g, l]", "PROOF(4, D[7]) = [l]",
	 * "PROOF(6, D[7]) = [i, j, k]"; hash1 is k. */
	check_consistency(3, hash0, (const uint8_t *[]){ ex.c, ex.d, ex.g, ex.l }, 4);
	check_consistency(4, ex.k, (const uint8_t *[]){ ex.l }, 1);
	check_consistency(6, hash2, (const uint8_t *[]){ ex.i, ex.j, ex.k }, 3);
}

/* ---- every tree up to 40 leaves ---------------------------------------- */

TestSuite(merkle_all, .init = gen_init);

#define ALL_MAX 40

static const uint8_t (*gl(void))[32]
{
	return (const uint8_t (*)[32])gen_leaves;
}

Test(merkle_all, root_matches_reference)
{
	for (size_t n = 0; n <= NLEAVES; n++) {
		uint8_t got[32], want[32];
		agora_merkle_root(gl(), n, got);
		ref_mth(gl(), n, want);
		cr_assert(memcmp(got, want, 32) == 0, "root of %zu", n);
	}
}

Test(merkle_all, root_of_large_tree)
{
	/* Big enough to exercise a deep stack of pending subtrees, with an
	 * odd size so the final right fold has several pieces. */
	size_t n = 100003;
	uint8_t (*lv)[32] = xmalloc(n * sizeof(*lv));
	for (size_t i = 0; i < n; i++) {
		uint8_t x[8];
		for (int s = 0; s < 8; s++)
			x[s] = (uint8_t)(i >> (8 * s));
		agora_merkle_leaf_hash(x, sizeof(x), lv[i]);
	}
	uint8_t got[32], want[32];
	agora_merkle_root((const uint8_t (*)[32])lv, n, got);
	ref_mth((const uint8_t (*)[32])lv, n, want);
	cr_assert(memcmp(got, want, 32) == 0);

	size_t probe[] = { 0, 1, 65535, 65536, 98303, 98304, n - 2, n - 1 };
	for (size_t p = 0; p < ARRAY_LEN(probe); p++) {
		uint8_t proof[MAXP][32];
		size_t len = agora_merkle_inclusion_proof((const uint8_t (*)[32])lv, n, probe[p],
							  proof, MAXP);
		cr_assert_gt(len, 0);
		cr_assert(agora_merkle_verify_inclusion(lv[probe[p]], probe[p], n,
							(const uint8_t (*)[32])proof, len, got),
			  "index %zu", probe[p]);
	}
	uint8_t proof[MAXP][32], old_root[32];
	size_t m = 77777;
	ref_mth((const uint8_t (*)[32])lv, m, old_root);
	size_t len = agora_merkle_consistency_proof((const uint8_t (*)[32])lv, n, m, proof, MAXP);
	cr_assert_gt(len, 0);
	cr_assert(agora_merkle_verify_consistency(m, n, old_root, got,
						  (const uint8_t (*)[32])proof, len));
	free(lv);
}

static bool
incl(const uint8_t leaf[32], size_t idx, size_t size, const uint8_t (*p)[32], size_t len,
     const uint8_t root[32])
{
	return agora_merkle_verify_inclusion(leaf, idx, size, p, len, root);
}

Test(merkle_all, inclusion_proofs_verify_and_resist_tampering)
{
	size_t checked_sizes = 0;

	for (size_t n = 1; n <= ALL_MAX; n++) {
		uint8_t root[32];
		agora_merkle_root(gl(), n, root);
		for (size_t i = 0; i < n; i++) {
			uint8_t p[MAXP + 2][32], t[MAXP + 2][32], x[32];
			struct hlist ref = { .n = 0 };
			size_t len = agora_merkle_inclusion_proof(gl(), n, i, p, MAXP);

			ref_path(i, gl(), n, &ref);
			cr_assert_eq(len, ref.n, "length n=%zu i=%zu", n, i);
			cr_assert(memcmp(p, ref.h, len * 32) == 0, "hashes n=%zu i=%zu", n, i);
			cr_assert(incl(gen_leaves[i], i, n, p, len, root), "n=%zu i=%zu", n, i);

			/* Flipped bits in the leaf, any proof hash, the root. */
			for (size_t bit = 0; bit < 256; bit += 85) {
				memcpy(x, gen_leaves[i], 32);
				x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				cr_assert_not(incl(x, i, n, p, len, root), "leaf bit n=%zu i=%zu", n, i);
				memcpy(x, root, 32);
				x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				cr_assert_not(incl(gen_leaves[i], i, n, p, len, x),
					      "root bit n=%zu i=%zu", n, i);
				for (size_t q = 0; q < len; q++) {
					memcpy(t, p, len * 32);
					t[q][bit / 8] ^= (uint8_t)(1u << (bit % 8));
					cr_assert_not(incl(gen_leaves[i], i, n, t, len, root),
						      "proof[%zu] n=%zu i=%zu", q, n, i);
				}
			}

			/* Another leaf's hash, or any other index, never passes
			 * (leaf paths in one tree differ in some left/right
			 * step or in length). */
			for (size_t o = 0; o <= n; o++) {
				if (o == i)
					continue;
				cr_assert_not(incl(gen_leaves[i], o, n, p, len, root),
					      "index %zu for n=%zu i=%zu", o, n, i);
				if (o < n)
					cr_assert_not(incl(gen_leaves[o], i, n, p, len, root),
						      "leaf %zu for n=%zu i=%zu", o, n, i);
			}

			/* A wrong tree size needs a proof of another length, so
			 * this one must fail; sizes giving the same length can
			 * share the path's shape (RFC 9162 binds the size only
			 * through the signed tree head). */
			for (size_t s = i + 1; s < NLEAVES; s++) {
				if (s == n || ref_path_len(i, s) == len)
					continue;
				cr_assert_not(incl(gen_leaves[i], i, s, p, len, root),
					      "size %zu for n=%zu i=%zu", s, n, i);
				checked_sizes++;
			}
			cr_assert_not(incl(gen_leaves[i], i, 0, p, len, root));

			/* Truncated, extended at either end. */
			if (len > 0)
				cr_assert_not(incl(gen_leaves[i], i, n, p, len - 1, root),
					      "truncated n=%zu i=%zu", n, i);
			const uint8_t *extra[] = { root, gen_leaves[i], gen_leaves[NLEAVES - 1] };
			for (size_t q = 0; q < ARRAY_LEN(extra); q++) {
				memcpy(t, p, len * 32);
				memcpy(t[len], extra[q], 32);
				cr_assert_not(incl(gen_leaves[i], i, n, t, len + 1, root),
					      "appended n=%zu i=%zu", n, i);
				memcpy(t[0], extra[q], 32);
				memcpy(t + 1, p, len * 32);
				cr_assert_not(incl(gen_leaves[i], i, n, t, len + 1, root),
					      "prepended n=%zu i=%zu", n, i);
			}
		}
	}
	/* The size check above must not have been skipped throughout. */
	cr_assert_gt(checked_sizes, 10000);
}

static bool
cons(size_t m, size_t n, const uint8_t r1[32], const uint8_t r2[32], const uint8_t (*p)[32],
     size_t len)
{
	return agora_merkle_verify_consistency(m, n, r1, r2, p, len);
}

Test(merkle_all, consistency_proofs_verify_and_resist_tampering)
{
	size_t checked_sizes = 0;

	for (size_t n = 1; n <= ALL_MAX; n++) {
		uint8_t r2[32];
		agora_merkle_root(gl(), n, r2);
		for (size_t m = 1; m <= n; m++) {
			uint8_t p[MAXP + 2][32], t[MAXP + 2][32], r1[32], x[32];
			struct hlist ref = { .n = 0 };
			size_t len = agora_merkle_consistency_proof(gl(), n, m, p, MAXP);

			agora_merkle_root(gl(), m, r1);
			if (m < n)
				ref_subproof(m, gl(), n, true, &ref);
			cr_assert_eq(len, ref.n, "length m=%zu n=%zu", m, n);
			cr_assert(memcmp(p, ref.h, len * 32) == 0, "hashes m=%zu n=%zu", m, n);
			cr_assert(cons(m, n, r1, r2, p, len), "m=%zu n=%zu", m, n);

			if (m == n) {
				cr_assert_eq(len, 0);
				memcpy(t[0], r1, 32);
				cr_assert_not(cons(m, n, r1, r2, t, 1), "non-empty, m=n=%zu", n);
				memcpy(x, r1, 32);
				x[0] ^= 1;
				cr_assert_not(cons(m, n, r1, x, p, 0), "roots differ, m=n=%zu", n);
			} else {
				cr_assert_gt(len, 0);
				cr_assert_not(cons(m, n, r1, r2, p, 0), "empty m=%zu n=%zu", m, n);
				cr_assert_not(cons(m, n, r2, r1, p, len), "swapped m=%zu n=%zu", m, n);
			}

			for (size_t bit = 0; bit < 256; bit += 85) {
				memcpy(x, r1, 32);
				x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				cr_assert_not(cons(m, n, x, r2, p, len), "root1 bit m=%zu n=%zu", m, n);
				memcpy(x, r2, 32);
				x[bit / 8] ^= (uint8_t)(1u << (bit % 8));
				cr_assert_not(cons(m, n, r1, x, p, len), "root2 bit m=%zu n=%zu", m, n);
				for (size_t q = 0; q < len; q++) {
					memcpy(t, p, len * 32);
					t[q][bit / 8] ^= (uint8_t)(1u << (bit % 8));
					cr_assert_not(cons(m, n, r1, r2, t, len),
						      "proof[%zu] m=%zu n=%zu", q, m, n);
				}
			}

			if (len > 0)
				cr_assert_not(cons(m, n, r1, r2, p, len - 1), "truncated m=%zu n=%zu", m, n);
			const uint8_t *extra[] = { r1, r2, len ? p[0] : r1, gen_leaves[NLEAVES - 1] };
			for (size_t q = 0; q < ARRAY_LEN(extra); q++) {
				memcpy(t, p, len * 32);
				memcpy(t[len], extra[q], 32);
				cr_assert_not(cons(m, n, r1, r2, t, len + 1), "appended m=%zu n=%zu", m, n);
				memcpy(t[0], extra[q], 32);
				memcpy(t + 1, p, len * 32);
				cr_assert_not(cons(m, n, r1, r2, t, len + 1), "prepended m=%zu n=%zu", m, n);
			}

			/* Wrong sizes, where they imply another proof length (see
			 * the inclusion test). */
			for (size_t m2 = 1; m2 <= n; m2++) {
				if (m2 != m && ref_proof_len(m2, n) != len) {
					cr_assert_not(cons(m2, n, r1, r2, p, len), "first %zu for m=%zu n=%zu",
						      m2, m, n);
					checked_sizes++;
				}
			}
			for (size_t n2 = m; n2 < NLEAVES; n2++) {
				if (n2 != n && ref_proof_len(m, n2) != len) {
					cr_assert_not(cons(m, n2, r1, r2, p, len), "second %zu for m=%zu n=%zu",
						      n2, m, n);
					checked_sizes++;
				}
			}
			cr_assert_not(cons(m, m - 1, r1, r2, p, len), "second < first");
		}
	}
	cr_assert_gt(checked_sizes, 10000);
}

/* ---- bounds and degenerate cases ---------------------------------------- */

TestSuite(merkle_edge, .init = gen_init);

Test(merkle_edge, inclusion_proof_generation_bounds)
{
	uint8_t p[MAXP][32], sentinel[MAXP][32];
	memset(sentinel, 0xa5, sizeof(sentinel));

	memcpy(p, sentinel, sizeof(p));
	cr_assert_eq(agora_merkle_inclusion_proof(gl(), 5, 5, p, MAXP), 0);
	cr_assert_eq(agora_merkle_inclusion_proof(gl(), 5, SIZE_MAX, p, MAXP), 0);
	cr_assert_eq(agora_merkle_inclusion_proof(NULL, 0, 0, p, MAXP), 0);
	/* 8 leaves need 3 hashes: max 2 writes nothing. */
	cr_assert_eq(agora_merkle_inclusion_proof(gl(), 8, 3, p, 2), 0);
	cr_assert_eq(agora_merkle_inclusion_proof(gl(), 8, 3, p, 0), 0);
	cr_assert(memcmp(p, sentinel, sizeof(p)) == 0, "out written on error");
	/* Exactly enough room, and nothing past it. */
	cr_assert_eq(agora_merkle_inclusion_proof(gl(), 8, 3, p, 3), 3);
	cr_assert(memcmp(p[3], sentinel[3], sizeof(p) - 3 * 32) == 0);

	/* A single leaf is its own root, with an empty path. */
	cr_assert_eq(agora_merkle_inclusion_proof(gl(), 1, 0, p, 0), 0);
	cr_assert(agora_merkle_verify_inclusion(gen_leaves[0], 0, 1, NULL, 0, gen_leaves[0]));
	cr_assert_not(agora_merkle_verify_inclusion(gen_leaves[0], 0, 1, NULL, 0, gen_leaves[1]));
}

Test(merkle_edge, inclusion_verification_bounds)
{
	uint8_t p[MAXP + 1][32], root[32];
	agora_merkle_root(gl(), 8, root);
	size_t len = agora_merkle_inclusion_proof(gl(), 8, 2, p, MAXP);
	cr_assert_eq(len, 3);
	cr_assert(agora_merkle_verify_inclusion(gen_leaves[2], 2, 8, p, len, root));

	cr_assert_not(agora_merkle_verify_inclusion(gen_leaves[2], 8, 8, p, len, root));
	cr_assert_not(agora_merkle_verify_inclusion(gen_leaves[2], SIZE_MAX, 8, p, len, root));
	cr_assert_not(agora_merkle_verify_inclusion(gen_leaves[2], 0, 0, p, 0, root));
	cr_assert_not(agora_merkle_verify_inclusion(gen_leaves[2], 2, 8, p, MAXP + 1, root));
	cr_assert_not(agora_merkle_verify_inclusion(gen_leaves[2], 2, 8, p, SIZE_MAX, root));
}

Test(merkle_edge, consistency_proof_generation_bounds)
{
	uint8_t p[MAXP][32], sentinel[MAXP][32];
	memset(sentinel, 0xa5, sizeof(sentinel));
	memcpy(p, sentinel, sizeof(p));

	cr_assert_eq(agora_merkle_consistency_proof(gl(), 8, 0, p, MAXP), 0);
	cr_assert_eq(agora_merkle_consistency_proof(gl(), 8, 8, p, MAXP), 0);
	cr_assert_eq(agora_merkle_consistency_proof(gl(), 8, 9, p, MAXP), 0);
	cr_assert_eq(agora_merkle_consistency_proof(NULL, 0, 0, p, MAXP), 0);
	/* PROOF(3, D[7]) has 4 hashes. */
	cr_assert_eq(agora_merkle_consistency_proof(gl(), 7, 3, p, 3), 0);
	cr_assert(memcmp(p, sentinel, sizeof(p)) == 0, "out written on error");
	cr_assert_eq(agora_merkle_consistency_proof(gl(), 7, 3, p, 4), 4);
	cr_assert(memcmp(p[4], sentinel[4], sizeof(p) - 4 * 32) == 0);
}

Test(merkle_edge, consistency_degenerate_sizes)
{
	uint8_t empty[32], r5[32], r8[32], p[MAXP + 1][32];
	agora_merkle_root(NULL, 0, empty);
	agora_merkle_root(gl(), 5, r5);
	agora_merkle_root(gl(), 8, r8);
	memcpy(p[0], r5, 32);

	/* Any tree extends the empty one, given the empty tree's real hash. */
	cr_assert(agora_merkle_verify_consistency(0, 0, empty, empty, NULL, 0));
	cr_assert(agora_merkle_verify_consistency(0, 5, empty, r5, NULL, 0));
	cr_assert_not(agora_merkle_verify_consistency(0, 5, empty, r5, p, 1));
	cr_assert_not(agora_merkle_verify_consistency(0, 5, r8, r5, NULL, 0));
	cr_assert_not(agora_merkle_verify_consistency(0, 0, empty, r5, NULL, 0));
	cr_assert_not(agora_merkle_verify_consistency(0, 0, r5, r5, NULL, 0));

	/* Equal sizes: empty proof, equal roots. */
	cr_assert(agora_merkle_verify_consistency(5, 5, r5, r5, NULL, 0));
	cr_assert_not(agora_merkle_verify_consistency(5, 5, r5, r8, NULL, 0));
	cr_assert_not(agora_merkle_verify_consistency(5, 5, r5, r5, p, 1));

	/* Shrinking trees and oversized proofs. */
	size_t len = agora_merkle_consistency_proof(gl(), 8, 5, p, MAXP);
	cr_assert(agora_merkle_verify_consistency(5, 8, r5, r8, p, len));
	cr_assert_not(agora_merkle_verify_consistency(8, 5, r8, r5, p, len));
	cr_assert_not(agora_merkle_verify_consistency(5, 8, r5, r8, p, MAXP + 1));
	cr_assert_not(agora_merkle_verify_consistency(5, 8, r5, r8, p, SIZE_MAX));
	cr_assert_not(agora_merkle_verify_consistency(5, 8, r5, r8, NULL, 0));
}

#if SIZE_MAX > 0xffffffffu
/* Trees far too large to build: proofs are synthesised from the shape
 * (the leftmost and rightmost leaves of a perfect tree of 2^62). */
Test(merkle_edge, largest_trees)
{
	const size_t big = (size_t)1 << 62;
	uint8_t p[MAXP][32], leaf[32], left_root[32], right_root[32];
	memcpy(leaf, gen_leaves[0], 32);
	memcpy(left_root, leaf, 32);
	memcpy(right_root, leaf, 32);
	for (size_t q = 0; q < 62; q++) {
		memcpy(p[q], gen_leaves[q + 1], 32);
		agora_merkle_node_hash(left_root, p[q], left_root);
		agora_merkle_node_hash(p[q], right_root, right_root);
	}
	cr_assert(agora_merkle_verify_inclusion(leaf, 0, big, p, 62, left_root));
	cr_assert(agora_merkle_verify_inclusion(leaf, big - 1, big, p, 62, right_root));
	cr_assert_not(agora_merkle_verify_inclusion(leaf, 0, big, p, 62, right_root));
	cr_assert_not(agora_merkle_verify_inclusion(leaf, 0, big, p, 61, left_root));
	/* One more level would be a valid shape, but is past the limit. */
	memcpy(p[62], gen_leaves[63], 32);
	agora_merkle_node_hash(left_root, p[62], left_root);
	cr_assert_not(agora_merkle_verify_inclusion(leaf, 0, big + 1, p, 63, left_root));
	cr_assert_not(agora_merkle_verify_inclusion(leaf, 0, SIZE_MAX, p, 63, left_root));

	/* The left half of 2^62 is a perfect subtree: its proof is the right
	 * half's root alone. */
	uint8_t half[32], whole[32];
	memcpy(half, gen_leaves[10], 32);
	memcpy(p[0], gen_leaves[11], 32);
	agora_merkle_node_hash(half, p[0], whole);
	cr_assert(agora_merkle_verify_consistency(big / 2, big, half, whole, p, 1));
	cr_assert_not(agora_merkle_verify_consistency(big / 2, big, whole, half, p, 1));
	cr_assert_not(agora_merkle_verify_consistency(big, big + 1, half, whole, p, 1));
	cr_assert_not(agora_merkle_verify_consistency(big / 2, SIZE_MAX, half, whole, p, 1));
}
#endif

/* ---- hex ----------------------------------------------------------------- */

Test(merkle_hex, round_trip_and_case)
{
	uint8_t h[32], u[32];
	char s[65];
	cr_assert(agora_merkle_from_hex(ct_roots[7], h));
	agora_merkle_to_hex(h, s);
	cr_assert_str_eq(s, ct_roots[7]);
	cr_assert(agora_merkle_from_hex(
		"5DC9DA79A70659A9AD559CB701DED9A2AB9D823AAD2F4960CFE370EFF4604328", u));
	cr_assert(memcmp(h, u, 32) == 0);
	cr_assert(agora_merkle_from_hex(
		"5dC9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328", u));
	cr_assert(memcmp(h, u, 32) == 0);
	cr_assert_eq(h[0], 0x5d);
	cr_assert_eq(h[31], 0x28);
}

Test(merkle_hex, rejects_everything_else)
{
	static const char *bad[] = {
		"",
		"5d",
		/* 63 and 65 digits */
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff460432",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff46043280",
		/* non-hex at the start, middle, end */
		"gdc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
		"5dc9da79a70659a9ad559cb701ded9a2 b9d823aad2f4960cfe370eff4604328",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff460432z",
		" 5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
		"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328\n",
		"0x5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff46043",
		"-5c9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	for (size_t n = 0; n < ARRAY_LEN(bad); n++) {
		uint8_t h[32];
		memset(h, 0x5a, sizeof(h));
		cr_assert_not(agora_merkle_from_hex(bad[n], h), "accepted \"%s\"", bad[n]);
		for (size_t q = 0; q < 32; q++)
			cr_assert_eq(h[q], 0x5a, "out changed by \"%s\"", bad[n]);
	}
}
