/* merkle.c — see merkle.h.
 *
 * Proofs are produced by walking RFC 6962's recursive definitions top
 * down as loops.  Each step hashes one subtree that is disjoint from all
 * the others, so a proof costs O(n) hashing in total, and every subtree
 * root comes from subtree_root(), whose stack of pending roots is bounded
 * by the bit width of n.
 */
#include "merkle.h"

#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "util.h"

#define HLEN AGORA_MERKLE_HASH_LEN

/* One pending root per bit of n; 64 covers any size_t. */
#define STACK_DEPTH 64

void
agora_merkle_leaf_hash(const void *entry, size_t len, uint8_t out[32])
{
	/* agora_sha256() is one-shot, so the prefix needs a joined copy. */
	uint8_t *buf = xmalloc(len + 1);
	buf[0] = 0x00;
	if (len)
		memcpy(buf + 1, entry, len);
	agora_sha256(buf, len + 1, out);
	free(buf);
}

void
agora_merkle_node_hash(const uint8_t l[32], const uint8_t r[32], uint8_t out[32])
{
	uint8_t buf[1 + 2 * HLEN];
	buf[0] = 0x01;
	memcpy(buf + 1, l, HLEN);
	memcpy(buf + 1 + HLEN, r, HLEN);
	agora_sha256(buf, sizeof(buf), out);
}

/* Largest power of two strictly below n (n >= 2): RFC 6962's split. */
static size_t
split_point(size_t n)
{
	size_t k = 1;
	while (k < n - k)
		k <<= 1;
	return k;
}

/* MTH over leaves[0..n).  Leaves are pushed left to right and equal-sized
 * neighbours merged as they complete (after leaf i the stack holds the
 * perfect subtrees given by the bits of i + 1, largest first).  Folding
 * what remains from the right gives RFC 6962's left-full shape, since the
 * largest perfect subtree is exactly the split at the largest power of
 * two below n. */
static void
subtree_root(const uint8_t (*leaves)[32], size_t n, uint8_t out[32])
{
	uint8_t stack[STACK_DEPTH][HLEN];
	size_t depth = 0;

	if (n == 0) {
		agora_sha256("", 0, out);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		memcpy(stack[depth++], leaves[i], HLEN);
		for (size_t done = i + 1; (done & 1) == 0; done >>= 1) {
			depth--;
			agora_merkle_node_hash(stack[depth - 1], stack[depth], stack[depth - 1]);
		}
	}
	while (depth > 1) {
		depth--;
		agora_merkle_node_hash(stack[depth - 1], stack[depth], stack[depth - 1]);
	}
	memcpy(out, stack[0], HLEN);
}

void
agora_merkle_root(const uint8_t (*leaves)[32], size_t n, uint8_t out[32])
{
	subtree_root(leaves, n, out);
}

/* PATH(index, D[n]) unrolled: each step appends the root of the sibling
 * subtree.  The RFC concatenates deeper paths first, so the walk (which
 * goes from the root down) fills out from the back.  With out NULL it
 * only counts, so callers can check the length before hashing anything. */
static size_t
inclusion_walk(const uint8_t (*leaves)[32], size_t n, size_t index, uint8_t (*out)[32],
	       size_t len)
{
	size_t lo = 0, size = n, m = index, count = 0;

	while (size > 1) {
		size_t k = split_point(size);
		count++;
		if (m < k) {
			if (out)
				subtree_root(leaves + lo + k, size - k, out[len - count]);
			size = k;
		} else {
			if (out)
				subtree_root(leaves + lo, k, out[len - count]);
			lo += k;
			m -= k;
			size -= k;
		}
	}
	return count;
}

size_t
agora_merkle_inclusion_proof(const uint8_t (*leaves)[32], size_t n, size_t index,
			     uint8_t (*out)[32], size_t max)
{
	if (index >= n)
		return 0;
	size_t len = inclusion_walk(leaves, n, index, NULL, 0);
	if (len > max)
		return 0;
	inclusion_walk(leaves, n, index, out, len);
	return len;
}

/* PROOF(first, D[n]) = SUBPROOF(first, D[n], true) unrolled, filling out
 * from the back for the same reason as inclusion_walk().  `whole` is the
 * RFC's flag b: it stays true while the old tree is still a complete
 * left subtree, whose root the verifier already has. */
static size_t
consistency_walk(const uint8_t (*leaves)[32], size_t n, size_t first, uint8_t (*out)[32],
		 size_t len)
{
	size_t lo = 0, size = n, m = first, count = 0;
	bool whole = true;

	while (m != size) {
		size_t k = split_point(size);
		count++;
		if (m <= k) {
			if (out)
				subtree_root(leaves + lo + k, size - k, out[len - count]);
			size = k;
		} else {
			if (out)
				subtree_root(leaves + lo, k, out[len - count]);
			lo += k;
			m -= k;
			size -= k;
			whole = false;
		}
	}
	if (!whole) {
		count++;
		if (out)
			subtree_root(leaves + lo, m, out[len - count]);
	}
	return count;
}

size_t
agora_merkle_consistency_proof(const uint8_t (*leaves)[32], size_t n, size_t first,
			       uint8_t (*out)[32], size_t max)
{
	if (first == 0 || first >= n)
		return 0;
	size_t len = consistency_walk(leaves, n, first, NULL, 0);
	if (len > max)
		return 0;
	consistency_walk(leaves, n, first, out, len);
	return len;
}

static bool
hash_equal(const uint8_t a[32], const uint8_t b[32])
{
	return agora_ct_equal(a, b, HLEN);
}

bool
agora_merkle_verify_inclusion(const uint8_t leaf[32], size_t index, size_t tree_size,
			      const uint8_t (*proof)[32], size_t proof_len,
			      const uint8_t root[32])
{
	if (index >= tree_size || (uint64_t)tree_size > AGORA_MERKLE_MAX_SIZE ||
	    proof_len > AGORA_MERKLE_MAX_PROOF)
		return false;

	/* fn is the node's index at the current level, sn the index of the
	 * level's last node; the path is done exactly when sn reaches 0. */
	size_t fn = index, sn = tree_size - 1;
	uint8_t r[HLEN];
	memcpy(r, leaf, HLEN);
	for (size_t i = 0; i < proof_len; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			agora_merkle_node_hash(proof[i], r, r);
			/* A last node with no right sibling is lifted
			 * unchanged through the levels where it stays last. */
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			agora_merkle_node_hash(r, proof[i], r);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && hash_equal(r, root);
}

bool
agora_merkle_verify_consistency(size_t first, size_t second,
				const uint8_t first_root[32], const uint8_t second_root[32],
				const uint8_t (*proof)[32], size_t proof_len)
{
	if (first > second || (uint64_t)second > AGORA_MERKLE_MAX_SIZE ||
	    proof_len > AGORA_MERKLE_MAX_PROOF)
		return false;
	if (first == 0) {
		uint8_t empty[HLEN];
		agora_sha256("", 0, empty);
		return proof_len == 0 && hash_equal(first_root, empty) &&
		       (second != 0 || hash_equal(second_root, empty));
	}
	if (first == second)
		return proof_len == 0 && hash_equal(first_root, second_root);
	if (proof_len == 0)
		return false;

	/* When the old tree is a perfect subtree the proof omits its root
	 * (the verifier has it), so it stands in for proof[0]. */
	const uint8_t *seed;
	size_t i;
	if ((first & (first - 1)) == 0) {
		seed = first_root;
		i = 0;
	} else {
		seed = proof[0];
		i = 1;
	}

	size_t fn = first - 1, sn = second - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* fr rebuilds the old root and sr the new one from the same path. */
	uint8_t fr[HLEN], sr[HLEN];
	memcpy(fr, seed, HLEN);
	memcpy(sr, seed, HLEN);
	for (; i < proof_len; i++) {
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn) {
			agora_merkle_node_hash(proof[i], fr, fr);
			agora_merkle_node_hash(proof[i], sr, sr);
			while (!(fn & 1) && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			agora_merkle_node_hash(sr, proof[i], sr);
		}
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && hash_equal(fr, first_root) && hash_equal(sr, second_root);
}

static int
hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

bool
agora_merkle_from_hex(const char *hex, uint8_t out[32])
{
	uint8_t tmp[HLEN];

	/* Digit by digit, so a short string stops at its NUL. */
	for (size_t i = 0; i < HLEN; i++) {
		int hi = hex_digit(hex[2 * i]);
		if (hi < 0)
			return false;
		int lo = hex_digit(hex[2 * i + 1]);
		if (lo < 0)
			return false;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	if (hex[2 * HLEN] != '\0')
		return false;
	memcpy(out, tmp, HLEN);
	return true;
}

void
agora_merkle_to_hex(const uint8_t h[32], char out[65])
{
	agora_hex(h, HLEN, out);
}
