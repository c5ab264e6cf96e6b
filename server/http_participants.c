/* http_participants.c — /api/v1/participants: the registry of
 * organisations, their keys and attributes, and membership credentials. */
#include "broker.h"
#include "config.h"
#include "crypto.h"
#include "db_participants.h"
#include "jose.h"
#include "jsonv.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_KEYS 8
#define PAGE_DEFAULT 20
#define PAGE_MAX 100

/* urn:… or did:… with a conservative character set: ids travel in paths,
 * tokens and ledger entries. */
static bool
valid_participant_id(const char *id)
{
	size_t n = strlen(id);
	if (n < 5 || n > 200 || (strncmp(id, "urn:", 4) != 0 && strncmp(id, "did:", 4) != 0))
		return false;
	return strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:%-") == n;
}

static bool
valid_endpoint(const char *url)
{
	size_t n = strlen(url);
	if (n > 2048 || (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0))
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)url[i] <= ' ' || url[i] == 0x7f)
			return false;
	return n > 8;
}

/* Check a JWKS and compute each key's thumbprint into kids (MAX_KEYS). */
static bool
check_jwks(struct agora_req *r, const json_t *jwks, char kids[MAX_KEYS][44])
{
	const json_t *keys;
	const struct agora_jfield f[] = { { "keys", AGORA_J_ARRAY, true, MAX_KEYS, &keys } };
	if (!agora_req_fields(r, jwks, f, ARRAY_LEN(f), true, "jwks."))
		return false;
	if (json_array_size(keys) == 0) {
		agora_reply_error(r, AGORA_E_INVALID_JWK, "jwks.keys must hold at least one key");
		return false;
	}
	for (size_t i = 0; i < json_array_size(keys); i++) {
		char err[128];
		const json_t *jwk = json_array_get(keys, i);
		struct agora_key *k = agora_key_from_jwk(jwk, err, sizeof err);
		if (!k) {
			agora_reply_error(r, AGORA_E_INVALID_JWK, "jwks.keys[%zu]: %s", i, err);
			return false;
		}
		agora_key_thumbprint(k, kids[i]);
		agora_key_free(k);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(kids[i], kids[j])) {
				agora_reply_error(r, AGORA_E_INVALID_JWK,
						  "jwks.keys[%zu] repeats jwks.keys[%zu]", i, j);
				return false;
			}
	}
	return true;
}

static bool
check_attributes(struct agora_req *r, const json_t *attrs)
{
	const json_t *country;
	const struct agora_jfield f[] = {
		{ "country", AGORA_J_STRING, false, 2, &country },
		{ "industry", AGORA_J_STRING, false, 100, NULL },
		{ "certification", AGORA_J_STRING, false, 100, NULL },
		{ "memberships", AGORA_J_STRINGS, false, 32, NULL },
	};
	if (!agora_req_fields(r, attrs, f, ARRAY_LEN(f), true, "attributes."))
		return false;
	const char *c = json_string_value(country);
	if (c && !(strlen(c) == 2 && isupper((unsigned char)c[0]) && isupper((unsigned char)c[1]))) {
		agora_reply_error(r, AGORA_E_INVALID_REQUEST,
				  "field 'attributes.country' must be an ISO 3166-1 alpha-2 code such as FR");
		return false;
	}
	return true;
}

static enum MHD_Result
db_unavailable(struct agora_req *r)
{
	return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
}

enum MHD_Result
broker_participant_create(struct agora_req *r)
{
	const struct broker *b = r->app;
	const json_t *id, *name, *endpoint, *jwks, *attributes;
	const struct agora_jfield f[] = {
		{ "id", AGORA_J_STRING, true, 200, &id },
		{ "name", AGORA_J_STRING, true, 200, &name },
		{ "endpoint", AGORA_J_STRING, true, 2048, &endpoint },
		{ "jwks", AGORA_J_OBJECT, true, 0, &jwks },
		{ "attributes", AGORA_J_OBJECT, false, 0, &attributes },
	};
	char kids[MAX_KEYS][44];
	if (!agora_req_fields(r, r->json, f, ARRAY_LEN(f), true, NULL))
		return MHD_YES;
	if (!valid_participant_id(json_string_value(id)))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "field 'id' must be a urn: or did: identifier of at most 200 characters from [A-Za-z0-9._:%%-]");
	if (!valid_endpoint(json_string_value(endpoint)))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "field 'endpoint' must be an http:// or https:// URL");
	if (!check_jwks(r, jwks, kids))
		return MHD_YES;
	json_t *empty = json_object();
	if (attributes && !check_attributes(r, attributes)) {
		json_decref(empty);
		return MHD_YES;
	}
	struct db_participant p = {
		.id = json_string_value(id),
		.name = json_string_value(name),
		.endpoint = json_string_value(endpoint),
		.jwks = jwks,
		.attributes = attributes ? attributes : empty,
		.kids = kids,
	};
	enum agora_qs qs = db_participant_insert(&p);
	json_decref(empty);
	if (qs == AGORA_QS_CONFLICT)
		return agora_reply_error(r, AGORA_E_PARTICIPANT_EXISTS, "participant '%s' is already registered",
					 p.id);
	json_t *out = NULL;
	if (qs != AGORA_QS_ONE || db_participant_get(p.id, &out) != AGORA_QS_ONE)
		return db_unavailable(r);
	char *cred = broker_membership_credential(b, out);
	json_object_set_new(out, "credential", json_string(cred));
	free(cred);
	char *loc = xasprintf("/api/v1/participants/%s", p.id);
	agora_reply_header(r, "Location", loc);
	free(loc);
	return agora_reply_json(r, 201, out);
}

enum MHD_Result
broker_participant_list(struct agora_req *r)
{
	long limit;
	char *after;
	if (!agora_req_page(r, PAGE_DEFAULT, PAGE_MAX, &limit, &after))
		return MHD_YES;
	const char *status = agora_req_query(r, "status");
	if (status && strcmp(status, "active") && strcmp(status, "suspended")) {
		free(after);
		return agora_reply_error(r, AGORA_E_INVALID_QUERY, "status must be active or suspended");
	}
	json_t *list = NULL;
	/* One more than asked tells whether there is a next page. */
	enum agora_qs qs = db_participant_list(after, status, (int)limit + 1, &list);
	free(after);
	if (qs < 0)
		return db_unavailable(r);
	json_t *next = agora_page_next(list, limit, "id");
	return agora_reply_json(r, 200, json_pack("{s:o, s:o}", "results", list, "next", next));
}

/* The participant named in the path, or a reply (404/503) and NULL. */
static json_t *
lookup(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	json_t *p = NULL;
	if (!valid_participant_id(id)) {
		agora_reply_error(r, AGORA_E_PARTICIPANT_NOT_FOUND, "no participant '%.200s'", id);
		return NULL;
	}
	enum agora_qs qs = db_participant_get(id, &p);
	if (qs < 0)
		db_unavailable(r);
	else if (qs == AGORA_QS_NONE)
		agora_reply_error(r, AGORA_E_PARTICIPANT_NOT_FOUND, "no participant '%s'", id);
	return p;
}

enum MHD_Result
broker_participant_get(struct agora_req *r)
{
	json_t *p = lookup(r);
	return p ? agora_reply_json(r, 200, p) : MHD_YES;
}

enum MHD_Result
broker_participant_jwks(struct agora_req *r)
{
	json_t *p = lookup(r);
	if (!p)
		return MHD_YES;
	json_t *jwks = json_deep_copy(json_object_get(p, "jwks"));
	json_decref(p);
	/* Published keys carry their kid, so verifiers can pick one. */
	json_t *k;
	size_t i;
	json_array_foreach(json_object_get(jwks, "keys"), i, k) {
		char kid[44];
		if (agora_jwk_thumbprint(k, kid))
			json_object_set_new(k, "kid", json_string(kid));
	}
	return agora_reply_json(r, 200, jwks);
}

enum MHD_Result
broker_participant_credential(struct agora_req *r)
{
	const struct broker *b = r->app;
	const char *id = agora_req_param(r, "id");
	if (r->participant && strcmp(r->participant, id) != 0)
		return agora_reply_error(r, AGORA_E_FORBIDDEN,
					 "a participant may only fetch its own credential");
	json_t *p = lookup(r);
	if (!p)
		return MHD_YES;
	char *cred = broker_membership_credential(b, p);
	json_decref(p);
	json_t *out = json_pack("{s:s, s:s}", "id", id, "credential", cred);
	free(cred);
	return agora_reply_json(r, 200, out);
}

enum MHD_Result
broker_participant_patch(struct agora_req *r)
{
	const json_t *name, *endpoint, *status, *jwks, *attributes;
	const struct agora_jfield f[] = {
		{ "name", AGORA_J_STRING, false, 200, &name },
		{ "endpoint", AGORA_J_STRING, false, 2048, &endpoint },
		{ "status", AGORA_J_STRING, false, 16, &status },
		{ "jwks", AGORA_J_OBJECT, false, 0, &jwks },
		{ "attributes", AGORA_J_OBJECT, false, 0, &attributes },
	};
	char kids[MAX_KEYS][44];
	if (!agora_req_fields(r, r->json, f, ARRAY_LEN(f), true, NULL))
		return MHD_YES;
	if (!name && !endpoint && !status && !jwks && !attributes)
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "nothing to change: send name, endpoint, status, jwks or attributes");
	const char *st = json_string_value(status);
	if (st && strcmp(st, "active") && strcmp(st, "suspended"))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "field 'status' must be active or suspended");
	if (endpoint && !valid_endpoint(json_string_value(endpoint)))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "field 'endpoint' must be an http:// or https:// URL");
	if (jwks && !check_jwks(r, jwks, kids))
		return MHD_YES;
	if (attributes && !check_attributes(r, attributes))
		return MHD_YES;
	const char *id = agora_req_param(r, "id");
	struct db_participant p = {
		.id = id,
		.name = json_string_value(name),
		.endpoint = json_string_value(endpoint),
		.status = st,
		.jwks = jwks,
		.attributes = attributes,
		.kids = kids,
	};
	enum agora_qs qs = valid_participant_id(id) ? db_participant_update(&p) : AGORA_QS_NONE;
	if (qs == AGORA_QS_NONE)
		return agora_reply_error(r, AGORA_E_PARTICIPANT_NOT_FOUND, "no participant '%.200s'", id);
	if (qs == AGORA_QS_CONFLICT)
		return agora_reply_error(r, AGORA_E_INVALID_JWK, "the key set repeats a key");
	if (qs < 0)
		return db_unavailable(r);
	json_t *out = lookup(r);
	return out ? agora_reply_json(r, 200, out) : MHD_YES;
}

/* GET /api/v1/whoami: the participant whose token authenticated the call. */
enum MHD_Result
broker_whoami(struct agora_req *r)
{
	json_t *p = NULL;
	enum agora_qs qs = db_participant_get(r->participant, &p);
	if (qs < 0)
		return db_unavailable(r);
	if (qs == AGORA_QS_NONE)	/* removed between authentication and here */
		return agora_reply_error(r, AGORA_E_UNKNOWN_PARTICIPANT, NULL);
	return agora_reply_json(r, 200, p);
}
