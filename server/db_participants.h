/* db_participants.h — queries of the participant registry and the token
 * replay cache (SQL in db_participants.c only). */
#ifndef AGORA_DB_PARTICIPANTS_H
#define AGORA_DB_PARTICIPANTS_H

#include <jansson.h>

#include "db.h"

extern const struct agora_stmt db_participant_stmts[];

/* A participant to store: jwks and attributes are borrowed; kids[i] is the
 * thumbprint of jwks.keys[i]. */
struct db_participant {
	const char *id;
	const char *name;
	const char *endpoint;
	const char *status;		/* NULL: unchanged (update) / active */
	const json_t *jwks;		/* NULL: unchanged (update) */
	const json_t *attributes;	/* NULL: unchanged (update) / {} */
	char (*kids)[44];
};

/* Insert in one transaction with its keys: ONE, or CONFLICT when the id exists. */
enum agora_qs db_participant_insert(const struct db_participant *p);
/* Update the non-NULL fields (keys replaced when jwks is set): ONE or NONE. */
enum agora_qs db_participant_update(const struct db_participant *p);
/* The participant as API JSON (new reference in *out): ONE or NONE. */
enum agora_qs db_participant_get(const char *id, json_t **out);
/* The same, possibly as read up to KEY_CACHE_TTL (5 s) ago: for checks
 * on the request path (a negotiation request reads its consumer and
 * provider).  A change through this process (db_participant_update) is
 * seen at once; another replica's within the TTL, as for keys. */
enum agora_qs db_participant_get_recent(const char *id, json_t **out);
/* Up to limit participants with id > after (NULL: from the start), filtered
 * by status when not NULL, ordered by id: *out is a new array. */
enum agora_qs db_participant_list(const char *after, const char *status, int limit, json_t **out);

/* The JWK with thumbprint kid of participant id, and the participant's
 * status.  ONE: *jwk new reference (NULL when the participant exists but
 * has no such key) and *status heap string; NONE: no such participant. */
enum agora_qs db_participant_key(const char *id, const char *kid, json_t **jwk, char **status);

/* Record a token's jti until expires_at (unix time).  ONE: first time;
 * NONE: it was seen before (a replay). */
enum agora_qs db_token_seen(const char *participant, const char *jti, long long expires_at);

#endif
