/* pauth.h — self-issued participant tokens (DESIGN.md §3): minting them
 * for outgoing calls and verifying them on incoming ones.
 *
 * The verifier is the same everywhere; only where keys and the replay cache
 * live differs (the broker reads its registry, a connector asks the
 * broker), so those two are callbacks.
 */
#ifndef AGORA_PAUTH_H
#define AGORA_PAUTH_H

#include <jansson.h>

#include "crypto.h"
#include "db.h"
#include "errors.h"

#define AGORA_PAUTH_MAX_LIFETIME 300
#define AGORA_PAUTH_LEEWAY 60

struct agora_pauth_ops {
	/* The JWK with thumbprint kid of participant id and the participant's
	 * status ("active"|"suspended").  ONE: *jwk (new reference, NULL when
	 * the participant has no such key) and *status (heap); NONE: unknown
	 * participant; negative: the directory is unavailable. */
	enum agora_qs (*key)(void *ctx, const char *id, const char *kid, json_t **jwk,
			     char **status);
	/* Record jti until exp: ONE the first time, NONE for a replay. */
	enum agora_qs (*seen)(void *ctx, const char *participant, const char *jti,
			      long long exp);
	void *ctx;
};

/* What the token must be bound to. */
struct agora_pauth_request {
	const char *audience;	/* our participant id (the broker: its public URL) */
	const char *method;
	const char *url;	/* our public URL + request path, no query */
	const void *body;
	size_t body_len;
};

/* Verify jwt for the request.  AGORA_E__COUNT and *participant (heap) on
 * success; otherwise the error, with detail filled. */
enum agora_error agora_pauth_verify(const char *jwt, const struct agora_pauth_request *req,
				    const struct agora_pauth_ops *ops, char **participant,
				    char *detail, size_t dlen);

/* A token from participant iss (signing with key, kid) for a call to
 * audience: method + url (no query) with the given body.  Lifetime 120 s.
 * Heap string. */
char *agora_pauth_mint(const struct agora_key *key, const char *kid, const char *iss,
		       const char *audience, const char *method, const char *url,
		       const void *body, size_t body_len);

#endif
