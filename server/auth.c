/* auth.c — the broker's participant authentication (lib/pauth.c with the
 * registry and replay cache in the broker's database) and its membership
 * credentials. */
#include "broker.h"
#include "db_participants.h"
#include "jose.h"
#include "pauth.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

static enum agora_qs
registry_key(void *ctx, const char *id, const char *kid, json_t **jwk, char **status)
{
	(void)ctx;
	return db_participant_key(id, kid, jwk, status);
}

static enum agora_qs
registry_seen(void *ctx, const char *participant, const char *jti, long long exp)
{
	(void)ctx;
	return db_token_seen(participant, jti, exp);
}

enum agora_error
broker_participant_auth(struct agora_req *r, const char *jwt, char *detail, size_t dlen)
{
	const struct broker *b = r->app;
	static const struct agora_pauth_ops ops = { registry_key, registry_seen, NULL };
	char *url = xasprintf("%s%s", b->svc.public_url, r->path);
	struct agora_pauth_request want = { b->svc.public_url, r->method, url, r->body, r->body_len };
	enum agora_error e = agora_pauth_verify(jwt, &want, &ops, &r->participant, detail, dlen);
	free(url);
	return e;
}

char *
broker_membership_credential(const struct broker *b, const json_t *participant)
{
	int64_t now = agora_now();
	char jti[46];
	agora_urn_uuid(jti);
	json_t *claims = json_pack("{s:s, s:O, s:I, s:I, s:I, s:s, s:O, s:O, s:O}",
				   "iss", b->svc.public_url,
				   "sub", json_object_get(participant, "id"),
				   "iat", (json_int_t)now, "nbf", (json_int_t)now,
				   "exp", (json_int_t)(now + 365 * 24 * 3600),
				   "jti", jti,
				   "name", json_object_get(participant, "name"),
				   "endpoint", json_object_get(participant, "endpoint"),
				   "attributes", json_object_get(participant, "attributes"));
	json_object_set_new(claims, "type", json_string("MembershipCredential"));
	char *jwt = agora_jwt_sign(b->svc.key, b->svc.kid, "JWT", claims);
	json_decref(claims);
	return jwt;
}
