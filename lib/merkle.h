/* merkle.h — the RFC 6962 / RFC 9162 Merkle tree behind the clearing
 * house's tamper-evident ledger: tree hashes, inclusion (audit) proofs and
 * consistency proofs, with SHA-256 and the 0x00 / 0x01 domain separation
 * prefixes of RFC 6962 §2.1.
 *
 * Hashes are plain 32-byte arrays; a list of them is `uint8_t (*)[32]`.
 * Nothing here allocates except agora_merkle_leaf_hash() (briefly, for
 * the prefixed copy of the entry), and nothing keeps pointers to its
 * arguments.  Proof generation takes the whole list of leaf hashes and
 * runs in O(n) time with O(log n) extra space, so a ledger of millions of
 * entries needs no tree in memory beyond its leaf hashes.
 *
 * Verifiers take untrusted input: they reject, rather than trust, tree
 * sizes above AGORA_MERKLE_MAX_SIZE, proofs longer than
 * AGORA_MERKLE_MAX_PROOF and indices outside the tree, and never read
 * proof[i] for i >= proof_len.
 */
#ifndef AGORA_MERKLE_H
#define AGORA_MERKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AGORA_MERKLE_HASH_LEN 32
/* An output array of this many hashes always holds any proof the
 * generators can produce (at most 62 for trees of up to 2^62 leaves). */
#define AGORA_MERKLE_MAX_PROOF 64
/* Largest tree size the verifiers accept. */
#define AGORA_MERKLE_MAX_SIZE ((uint64_t)1 << 62)

/* Leaf hash SHA-256(0x00 || entry).  entry may be NULL when len is 0. */
void agora_merkle_leaf_hash(const void *entry, size_t len, uint8_t out[32]);
/* Interior node hash SHA-256(0x01 || l || r).  out may alias l or r. */
void agora_merkle_node_hash(const uint8_t l[32], const uint8_t r[32], uint8_t out[32]);

/* Merkle Tree Hash MTH(D[n]) of RFC 6962 §2.1 over n leaf hashes (already
 * hashed with agora_merkle_leaf_hash()).  The empty tree's hash is
 * SHA-256 of the empty string; leaves may be NULL when n is 0. */
void agora_merkle_root(const uint8_t (*leaves)[32], size_t n, uint8_t out[32]);

/* Inclusion proof PATH(index, D[n]) (RFC 6962 §2.1.1, RFC 9162 §2.1.3.1),
 * nearest sibling first, written to out[0..max).  Returns the number of
 * hashes written.  Returns 0 and writes nothing when index >= n or the
 * proof needs more than max hashes; since a tree of two or more leaves
 * always has a non-empty proof, 0 is only a valid answer for n == 1. */
size_t agora_merkle_inclusion_proof(const uint8_t (*leaves)[32], size_t n, size_t index,
				    uint8_t (*out)[32], size_t max);

/* RFC 9162 §2.1.3.2: true when proof shows that the leaf hash `leaf` is
 * entry `index` of the tree of `tree_size` leaves whose hash is `root`.
 * False for index >= tree_size, tree_size > AGORA_MERKLE_MAX_SIZE or
 * proof_len > AGORA_MERKLE_MAX_PROOF.  proof may be NULL when proof_len
 * is 0.  As in the RFC the tree size is bound only through the proof's
 * shape: sign the root together with its size. */
bool agora_merkle_verify_inclusion(const uint8_t leaf[32], size_t index, size_t tree_size,
				   const uint8_t (*proof)[32], size_t proof_len,
				   const uint8_t root[32]);

/* Consistency proof PROOF(first, D[n]) (RFC 6962 §2.1.2, RFC 9162
 * §2.1.4.1) that the tree of the first `first` leaves is a prefix of the
 * tree of n leaves, written to out[0..max).  Returns the number of hashes
 * written.  first == 0 and first == n have empty proofs (0).  Returns 0
 * and writes nothing when first > n or the proof needs more than max
 * hashes; for 0 < first < n a proof is never empty. */
size_t agora_merkle_consistency_proof(const uint8_t (*leaves)[32], size_t n, size_t first,
				      uint8_t (*out)[32], size_t max);

/* RFC 9162 §2.1.4.2: true when proof shows that the tree of `first`
 * leaves with hash first_root is a prefix of the tree of `second` leaves
 * with hash second_root.  Cases the RFC leaves to the caller:
 *   first > second, or either size above AGORA_MERKLE_MAX_SIZE: false;
 *   first == 0: true iff the proof is empty and first_root is the empty
 *     tree's hash (any tree extends the empty one, but a wrong first_root
 *     is a caller bug worth catching);
 *   first == second: true iff the proof is empty and the roots are equal.
 * Otherwise an empty proof or proof_len > AGORA_MERKLE_MAX_PROOF is
 * rejected.  proof may be NULL when proof_len is 0. */
bool agora_merkle_verify_consistency(size_t first, size_t second,
				     const uint8_t first_root[32], const uint8_t second_root[32],
				     const uint8_t (*proof)[32], size_t proof_len);

/* Parses exactly 64 hex digits (either case, then the terminating NUL)
 * into out.  On any other input returns false and leaves out untouched. */
bool agora_merkle_from_hex(const char *hex, uint8_t out[32]);
/* Lowercase hex of h, NUL-terminated. */
void agora_merkle_to_hex(const uint8_t h[32], char out[65]);

#endif
