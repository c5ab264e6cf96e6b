/* broker_fixture.h — a real agora-broker on a fresh database, per test,
 * and helpers to call it as an admin or as a participant. */
#ifndef AGORA_BROKER_FIXTURE_H
#define AGORA_BROKER_FIXTURE_H

#include <jansson.h>
#include <stdbool.h>

#include "crypto.h"
#include "harness.h"

#define ADMIN_KEY "test-admin-key-0123456789"

struct fx {
	char *dir;
	char *db;
	char *url;
	char *log;
	struct harness_proc *proc;
};
extern struct fx fx;

/* Start/stop the broker (used as Criterion .init/.fini). */
void fx_start(void);
void fx_stop(void);

/* HTTP to the broker: path relative to its URL; auth is the bearer value
 * (NULL: none); body may be NULL. */
struct harness_resp *fx_call(const char *method, const char *path, const char *auth,
			     const char *body);
/* Assert an error reply: status and error symbol, and the body's shape. */
void fx_assert_error(const struct harness_resp *r, long status, const char *symbol);

/* A participant with a fresh key, registered through the admin API. */
struct participant {
	char id[128];
	struct agora_key *key;
	char kid[44];
};
void fx_participant(struct participant *p, const char *id);
/* Registration body for id with key k (heap string). */
char *fx_participant_body(const char *id, const struct agora_key *k);

/* A self-issued token for p; fields of `o` override the defaults. */
struct tok {
	const char *alg;	/* default EdDSA */
	const char *typ;	/* default JWT */
	const char *kid;	/* default p's kid */
	const char *iss, *sub, *aud, *htm, *htu, *bh, *jti;
	long iat_offset, exp_offset;	/* default 0 and +120 */
	bool no_jti;
	const struct agora_key *sign_with;	/* default p's key */
};
char *fx_token(const struct participant *p, const char *method, const char *path, const char *body,
	       const struct tok *o);
/* "Bearer <token>" headers are built by fx_call from the token string. */

#endif
