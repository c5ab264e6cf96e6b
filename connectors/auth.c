/* auth.c — participant tokens at a connector, verified against the broker's
 * participant directory (cached for a minute, refetched on an unknown kid),
 * and calls from this connector to the broker. */
#include "connector.h"
#include "httpc.h"
#include "jose.h"
#include "log.h"
#include "pauth.h"
#include "util.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE_SLOTS 64
#define CACHE_TTL 60

/* A small cache of directory answers: participant → status + key set. */
struct entry {
	char *id;
	char *status;
	json_t *keys;	/* array of JWKs */
	json_t *attributes;	/* the participant's registered attributes */
	int64_t fetched;
};
static struct entry cache[CACHE_SLOTS];
static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct connector *self;

bool
connector_call_broker(const struct connector *c, const char *method, const char *path,
		      const char *body, long *status, json_t **out, char *err, size_t errlen)
{
	char *url = xasprintf("%s%s", c->broker_url, path);
	size_t blen = body ? strlen(body) : 0;
	char *tok = agora_pauth_mint(c->svc.key, c->svc.kid, c->svc.participant_id, c->broker_url,
				     method, url, body, blen);
	char *authz = xasprintf("Authorization: Bearer %s", tok);
	const char *headers[] = { authz, "Content-Type: application/json", NULL };
	struct agora_httpc_req req = { .method = method, .url = url, .headers = headers,
				       .body = body, .body_len = blen, .timeout_ms = 10000 };
	struct agora_httpc_resp resp;
	bool ok = agora_httpc_request(&req, &resp);
	if (ok) {
		*status = resp.status;
		if (out)
			*out = agora_httpc_json(&resp);
	} else {
		snprintf(err, errlen, "%s", resp.err);
	}
	agora_httpc_resp_cleanup(&resp);
	free(authz);
	free(tok);
	free(url);
	return ok;
}

/* Fetch participant id's record (status, jwks) from the broker; the broker
 * itself is known by its URL and its /.well-known/jwks.json. */
static enum agora_qs
fetch(const char *id, char **status, json_t **keys, json_t **attrs)
{
	long st = 0;
	json_t *doc = NULL;
	char err[256];
	bool is_broker = strcmp(id, self->broker_url) == 0;
	char *path;
	if (is_broker) {
		path = xstrdup("/.well-known/jwks.json");
	} else {
		/* Ids are [A-Za-z0-9._:%-]; anything else cannot be registered. */
		if (strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:%-") != strlen(id))
			return AGORA_QS_NONE;
		path = xasprintf("/api/v1/participants/%s", id);
	}
	bool ok = connector_call_broker(self, "GET", path, NULL, &st, &doc, err, sizeof err);
	free(path);
	enum agora_qs qs = AGORA_QS_HARD_ERROR;
	if (!ok || st >= 500 || (st != 200 && st != 404)) {
		agora_logf(AGORA_LOG_WARN, "directory", "broker lookup of %s failed: %s (status %ld)", id,
			   ok ? "" : err, st);
	} else if (st == 404) {
		qs = AGORA_QS_NONE;
	} else {
		json_t *k = is_broker ? json_object_get(doc, "keys")
				      : json_object_get(json_object_get(doc, "jwks"), "keys");
		const char *s = is_broker ? "active" : json_string_value(json_object_get(doc, "status"));
		if (json_is_array(k) && s) {
			*keys = json_incref(k);
			*status = xstrdup(s);
			json_t *a = json_object_get(doc, "attributes");
			*attrs = json_is_object(a) ? json_incref(a) : json_object();
			qs = AGORA_QS_ONE;
		}
	}
	json_decref(doc);
	return qs;
}

static json_t *
find_key(json_t *keys, const char *kid)
{
	size_t i;
	json_t *k;
	json_array_foreach(keys, i, k) {
		char tp[44];
		if (agora_jwk_thumbprint(k, tp) && strcmp(tp, kid) == 0)
			return json_incref(k);
	}
	return NULL;
}

static enum agora_qs
directory_key(void *ctx, const char *id, const char *kid, json_t **jwk, char **status)
{
	(void)ctx;
	int64_t now = agora_now();
	pthread_mutex_lock(&cache_lock);
	struct entry *e = NULL, *victim = &cache[0];
	for (int i = 0; i < CACHE_SLOTS; i++) {
		if (cache[i].id && strcmp(cache[i].id, id) == 0)
			e = &cache[i];
		if (cache[i].fetched < victim->fetched)
			victim = &cache[i];
	}
	if (e && now - e->fetched < CACHE_TTL) {
		json_t *k = find_key(e->keys, kid);
		if (k) {
			*jwk = k;
			*status = xstrdup(e->status);
			pthread_mutex_unlock(&cache_lock);
			return AGORA_QS_ONE;
		}
	}
	pthread_mutex_unlock(&cache_lock);

	/* Miss, stale, or unknown kid (a rotation): ask the broker. */
	char *st = NULL;
	json_t *keys = NULL, *attrs = NULL;
	enum agora_qs qs = fetch(id, &st, &keys, &attrs);
	if (qs != AGORA_QS_ONE)
		return qs;
	*jwk = find_key(keys, kid);
	*status = xstrdup(st);
	pthread_mutex_lock(&cache_lock);
	if (!e || !e->id || strcmp(e->id, id) != 0)
		e = victim;
	free(e->id);
	free(e->status);
	json_decref(e->keys);
	json_decref(e->attributes);
	e->id = xstrdup(id);
	e->status = st;
	e->keys = keys;
	e->attributes = attrs;
	e->fetched = now;
	pthread_mutex_unlock(&cache_lock);
	return AGORA_QS_ONE;
}

static enum agora_qs
replay_seen(void *ctx, const char *participant, const char *jti, long long exp)
{
	(void)ctx;
	static _Atomic unsigned calls;
	PGconn *db = agora_db_conn();
	if (!db || PQtransactionStatus(db) != PQTRANS_IDLE)	/* see token_seen */
		return AGORA_QS_HARD_ERROR;
	if ((atomic_fetch_add(&calls, 1) & 255) == 0) {
		PGresult *p = agora_db_exec(db, "token_purge", 0, NULL);
		PQclear(p);
	}
	char e[24];
	snprintf(e, sizeof e, "%lld", exp);
	const char *p[] = { participant, jti, e };
	PGresult *r = agora_db_exec(db, "token_seen", 3, p);
	enum agora_qs qs = agora_db_status(r, "token_seen");
	PQclear(r);
	return qs;
}

json_t *
connector_participant_attributes(const char *id)
{
	pthread_mutex_lock(&cache_lock);
	for (int i = 0; i < CACHE_SLOTS; i++)
		if (cache[i].id && strcmp(cache[i].id, id) == 0) {
			json_t *a = json_incref(cache[i].attributes);
			pthread_mutex_unlock(&cache_lock);
			return a;
		}
	pthread_mutex_unlock(&cache_lock);
	/* Not cached (it is after any verified token): ask the broker. */
	char *st = NULL;
	json_t *keys = NULL, *attrs = NULL;
	if (fetch(id, &st, &keys, &attrs) != AGORA_QS_ONE)
		return NULL;
	free(st);
	json_decref(keys);
	return attrs;
}

enum agora_error
connector_participant_auth(struct agora_req *r, const char *jwt, char *detail, size_t dlen)
{
	const struct connector *c = r->app;
	static const struct agora_pauth_ops ops = { directory_key, replay_seen, NULL };
	char *url = xasprintf("%s%s", c->svc.public_url, r->path);
	struct agora_pauth_request want = { c->svc.participant_id, r->method, url, r->body,
					    r->body_len };
	enum agora_error e = agora_pauth_verify(jwt, &want, &ops, &r->participant, detail, dlen);
	free(url);
	return e;
}

void
connector_auth_setup(const struct connector *c)
{
	self = c;
}

bool
connector_may_change(const struct agora_req *r, const char *owner)
{
	if (r->role == AGORA_ROLE_ADMIN)
		return true;
	return r->role == AGORA_ROLE_PUBLISHER && r->api_key_id && owner && !strcmp(r->api_key_id, owner);
}

struct agora_key *
connector_participant_key(const char *id, const char *kid, bool *unavailable)
{
	if (unavailable)
		*unavailable = false;
	if (!id || !kid)
		return NULL;
	json_t *jwk = NULL;
	char *status = NULL;
	struct agora_key *k = NULL;
	char err[128];
	enum agora_qs qs = directory_key(NULL, id, kid, &jwk, &status);
	if (qs == AGORA_QS_ONE && jwk && status && strcmp(status, "active") == 0)
		k = agora_key_from_jwk(jwk, err, sizeof err);
	else if (qs < 0 && unavailable)
		*unavailable = true;
	json_decref(jwk);
	free(status);
	return k;
}
