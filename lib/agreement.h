/* agreement.h — three-party signed contract agreements (DESIGN.md §5, §12).
 *
 * The agreement is an ODRL Agreement object (@id, @type "Agreement",
 * target, assigner, assignee, timestamp, rules).  Each party signs it with
 * a compact JWS (EdDSA, kid = RFC 7638 thumbprint of its key) whose payload
 * is the RFC 8785 canonical form of the agreement, in the order provider,
 * broker, consumer.  A signature entry is
 *   {"role":"provider"|"broker"|"consumer","signer":"<id>","jws":"…"}
 * where signer is the participant id (provider, consumer) or the broker's
 * id/URL.
 *
 * Jansson ownership: json_t * arguments are borrowed; returned json_t * are
 * new references.
 */
#ifndef AGORA_AGREEMENT_H
#define AGORA_AGREEMENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "crypto.h"

#define AGORA_AGREEMENT_MAX_SIGNATURES 3

/* "provider", "broker", "consumer": the signing order. */
extern const char *const agora_agreement_roles[AGORA_AGREEMENT_MAX_SIGNATURES];

/* Signs agreement as role (one of agora_agreement_roles) for signer.  kid
 * NULL means the key's RFC 7638 thumbprint (what verification expects).
 * Returns a new signature entry, or NULL when role is unknown, signer is
 * NULL/empty/not UTF-8, key has no private half, or the agreement cannot be
 * canonicalised. */
json_t *agora_agreement_sign(const json_t *agreement, const char *role, const char *signer,
			     const struct agora_key *key, const char *kid);

/* Verifies one signature entry against agreement and key: the entry has a
 * known role, a signer and a jws; the JWS parses, its alg is EdDSA, its kid
 * is key's thumbprint, the signature verifies with key, and its payload is
 * byte for byte JCS(agreement) — so an agreement whose canonical form
 * differs from what was signed is refused (member order does not matter:
 * it is canonicalised).  false with the reason in err. */
bool agora_agreement_verify_signature(const json_t *agreement, const json_t *sig_entry,
				      const struct agora_key *key, char *err, size_t errlen);

/* Finds the public key of a signer: role and signer from the entry, kid
 * from the JWS header (NULL when it has none).  Returns a NEW key that the
 * caller (agora_agreement_verify_chain) frees, or NULL when unknown. */
typedef struct agora_key *(*agora_agreement_key_fn)(void *ctx, const char *role,
						      const char *signer, const char *kid);

/* Verifies a signature chain: signatures is an array of exactly
 * expected_count (1..3) entries whose roles are the first expected_count of
 * provider, broker, consumer, in that order; each verifies with the key
 * lookup returns (agora_agreement_verify_signature).  Also requires the
 * provider's signer to be the agreement's assigner and the consumer's to be
 * its assignee.  false with the reason (naming the entry) in err. */
bool agora_agreement_verify_chain(const json_t *agreement, const json_t *signatures,
				  size_t expected_count, agora_agreement_key_fn lookup, void *ctx,
				  char *err, size_t errlen);

#endif
