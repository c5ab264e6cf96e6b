/* db_participants.c — see db_participants.h. */
#include "db_participants.h"
#include "ledger.h"
#include "util.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Participant keys as db_participant_key read them, reused for
 * KEY_CACHE_TTL seconds: every DSP message and every agreement signature
 * needs one (8 lookups per negotiation).  A change made through this
 * process (db_participant_update) drops the whole cache at once; another
 * replica's change is seen within the TTL.  Only found keys of existing
 * participants are kept: an unknown participant or kid is asked again. */
#define KEY_CACHE_SLOTS 64
#define KEY_CACHE_TTL 5
static struct key_slot {
	char *id, *kid, *status, *jwk;	/* jwk: JSON text */
	int64_t fetched;
} key_cache[KEY_CACHE_SLOTS];
static pthread_mutex_t key_cache_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t key_cache_gen;	/* bumped by every change; under key_cache_mu */

/* Participant rows for db_participant_get_recent (a negotiation request
 * needs its consumer's attributes and its provider's status and
 * endpoint), under the same lock, generation and TTL as the keys. */
#define ROW_CACHE_SLOTS 32
static struct row_slot {
	char *id, *row;		/* row: JSON text */
	int64_t fetched;
} row_cache[ROW_CACHE_SLOTS];

static void
key_cache_drop(void)
{
	pthread_mutex_lock(&key_cache_mu);
	key_cache_gen++;
	for (size_t i = 0; i < KEY_CACHE_SLOTS; i++) {
		struct key_slot *s = &key_cache[i];
		free(s->id);
		free(s->kid);
		free(s->status);
		free(s->jwk);
		memset(s, 0, sizeof *s);
	}
	for (size_t i = 0; i < ROW_CACHE_SLOTS; i++) {
		free(row_cache[i].id);
		free(row_cache[i].row);
		memset(&row_cache[i], 0, sizeof row_cache[i]);
	}
	pthread_mutex_unlock(&key_cache_mu);
}

#define PARTICIPANT_COLS \
	"id, name, endpoint, status, jwks::text, attributes::text, " \
	AGORA_SQL_TS("created_at") ", " AGORA_SQL_TS("updated_at")

const struct agora_stmt db_participant_stmts[] = {
	{ "participant_insert",
	  "INSERT INTO participants (id, name, endpoint, status, jwks, attributes)"
	  " VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb)" },
	{ "participant_update",
	  "UPDATE participants SET name = COALESCE($2, name), endpoint = COALESCE($3, endpoint),"
	  " status = COALESCE($4, status), jwks = COALESCE($5::jsonb, jwks),"
	  " attributes = COALESCE($6::jsonb, attributes), updated_at = now() WHERE id = $1" },
	{ "participant_keys_clear", "DELETE FROM participant_keys WHERE participant_id = $1" },
	{ "participant_key_insert",
	  "INSERT INTO participant_keys (participant_id, kid, jwk) VALUES ($1, $2, $3::jsonb)" },
	{ "participant_get", "SELECT " PARTICIPANT_COLS " FROM participants WHERE id = $1" },
	{ "participant_list",
	  "SELECT " PARTICIPANT_COLS " FROM participants"
	  " WHERE ($1::text IS NULL OR id > $1) AND ($2::text IS NULL OR status = $2)"
	  " ORDER BY id LIMIT $3" },
	{ "participant_key",
	  "SELECT p.status, k.jwk::text FROM participants p"
	  " LEFT JOIN participant_keys k ON k.participant_id = p.id AND k.kid = $2"
	  " WHERE p.id = $1" },
	/* Each runs as a transaction of its own and commits without waiting
	 * for the WAL flush (set_config(…, true) lasts until that commit):
	 * docs/DECISIONS.md, "replay cache", says why losing one in a crash is
	 * harmless.  Never call them inside a transaction — it would commit
	 * asynchronously too. */
	{ "token_seen",
	  "INSERT INTO seen_tokens (participant_id, jti, expires_at)"
	  " SELECT $1, $2, to_timestamp($3)"
	  " FROM (SELECT set_config('synchronous_commit', 'off', true)) async"
	  " ON CONFLICT DO NOTHING" },
	{ "token_purge",
	  "DELETE FROM seen_tokens WHERE expires_at < now() - interval '2 minutes'"
	  " AND set_config('synchronous_commit', 'off', true) IS NOT NULL" },
	{ NULL, NULL }
};

static json_t *
row_json(PGresult *r, int i)
{
	json_t *o = json_object();
	json_object_set_new(o, "id", json_string(PQgetvalue(r, i, 0)));
	json_object_set_new(o, "name", json_string(PQgetvalue(r, i, 1)));
	json_object_set_new(o, "endpoint", json_string(PQgetvalue(r, i, 2)));
	json_object_set_new(o, "status", json_string(PQgetvalue(r, i, 3)));
	json_object_set_new(o, "jwks", json_loads(PQgetvalue(r, i, 4), 0, NULL));
	json_object_set_new(o, "attributes", json_loads(PQgetvalue(r, i, 5), 0, NULL));
	json_object_set_new(o, "createdAt", json_string(PQgetvalue(r, i, 6)));
	json_object_set_new(o, "updatedAt", json_string(PQgetvalue(r, i, 7)));
	return o;
}

static enum agora_qs
exec_status(PGconn *c, const char *name, int n, const char *const *p)
{
	PGresult *r = agora_db_exec(c, name, n, p);
	enum agora_qs qs = agora_db_status(r, name);
	PQclear(r);
	return qs;
}

static enum agora_qs
store_keys(PGconn *c, const struct db_participant *p)
{
	const char *cp[] = { p->id };
	if (exec_status(c, "participant_keys_clear", 1, cp) < 0)
		return AGORA_QS_HARD_ERROR;
	const json_t *keys = json_object_get(p->jwks, "keys");
	for (size_t i = 0; i < json_array_size(keys); i++) {
		char *jwk = json_dumps(json_array_get(keys, i), JSON_COMPACT | JSON_SORT_KEYS);
		const char *kp[] = { p->id, p->kids[i], jwk };
		enum agora_qs qs = exec_status(c, "participant_key_insert", 3, kp);
		free(jwk);
		/* Two equal keys in one set share a thumbprint: a conflict. */
		if (qs != AGORA_QS_ONE)
			return qs;
	}
	return AGORA_QS_ONE;
}

static enum agora_qs
insert_tx(PGconn *c, void *ctx)
{
	const struct db_participant *p = ctx;
	char *jwks = json_dumps(p->jwks, JSON_COMPACT);
	char *attrs = json_dumps(p->attributes, JSON_COMPACT);
	const char *params[] = { p->id, p->name, p->endpoint, p->status ? p->status : "active",
				 jwks, attrs };
	enum agora_qs qs = exec_status(c, "participant_insert", 6, params);
	free(jwks);
	free(attrs);
	if (qs != AGORA_QS_ONE)
		return qs;
	qs = store_keys(c, p);
	if (qs != AGORA_QS_ONE)
		return qs;
	/* The ledger entry commits with the registration (last: the append
	 * lock is held until COMMIT). */
	json_t *kids = json_array();
	for (size_t i = 0; i < json_array_size(json_object_get(p->jwks, "keys")); i++)
		json_array_append_new(kids, json_string(p->kids[i]));
	json_t *entry = json_pack("{s:{s:s, s:s, s:s, s:O, s:o}}", "participant", "id", p->id,
				  "name", p->name, "endpoint", p->endpoint, "attributes",
				  p->attributes, "keys", kids);
	qs = ledger_append(c, LEDGER_KIND_PARTICIPANT_REGISTERED, entry, NULL);
	json_decref(entry);
	return qs;
}

enum agora_qs
db_participant_insert(const struct db_participant *p)
{
	return agora_db_tx(insert_tx, (void *)p, false);
}

static enum agora_qs
update_tx(PGconn *c, void *ctx)
{
	const struct db_participant *p = ctx;
	char *jwks = p->jwks ? json_dumps(p->jwks, JSON_COMPACT) : NULL;
	char *attrs = p->attributes ? json_dumps(p->attributes, JSON_COMPACT) : NULL;
	const char *params[] = { p->id, p->name, p->endpoint, p->status, jwks, attrs };
	enum agora_qs qs = exec_status(c, "participant_update", 6, params);
	free(jwks);
	free(attrs);
	if (qs != AGORA_QS_ONE || !p->jwks)
		return qs;
	return store_keys(c, p);
}

enum agora_qs
db_participant_update(const struct db_participant *p)
{
	/* Dropped before and after: a lookup that read the old row stores
	 * it only if no change began meanwhile (see db_participant_key). */
	key_cache_drop();
	enum agora_qs qs = agora_db_tx(update_tx, (void *)p, false);
	key_cache_drop();
	return qs;
}

enum agora_qs
db_participant_get(const char *id, json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { id };
	PGresult *r = agora_db_exec(c, "participant_get", 1, p);
	enum agora_qs qs = agora_db_status(r, "participant_get");
	if (qs == AGORA_QS_ONE)
		*out = row_json(r, 0);
	PQclear(r);
	return qs;
}

enum agora_qs
db_participant_get_recent(const char *id, json_t **out)
{
	int64_t now = agora_now();
	pthread_mutex_lock(&key_cache_mu);
	uint64_t gen = key_cache_gen;
	struct row_slot *victim = &row_cache[0];
	for (size_t i = 0; i < ROW_CACHE_SLOTS; i++) {
		struct row_slot *s = &row_cache[i];
		if (s->id && !strcmp(s->id, id) && now - s->fetched < KEY_CACHE_TTL) {
			*out = json_loads(s->row, 0, NULL);
			pthread_mutex_unlock(&key_cache_mu);
			return *out ? AGORA_QS_ONE : AGORA_QS_HARD_ERROR;
		}
		if (s->fetched < victim->fetched)
			victim = s;
	}
	pthread_mutex_unlock(&key_cache_mu);
	enum agora_qs qs = db_participant_get(id, out);
	if (qs != AGORA_QS_ONE)
		return qs;
	char *row = json_dumps(*out, JSON_COMPACT);
	pthread_mutex_lock(&key_cache_mu);
	if (row && gen == key_cache_gen) {	/* no change began meanwhile */
		free(victim->id);
		free(victim->row);
		victim->id = xstrdup(id);
		victim->row = row;
		victim->fetched = now;
		row = NULL;
	}
	pthread_mutex_unlock(&key_cache_mu);
	free(row);
	return qs;
}

enum agora_qs
db_participant_list(const char *after, const char *status, int limit, json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	char lim[16];
	snprintf(lim, sizeof lim, "%d", limit);
	const char *p[] = { after, status, lim };
	PGresult *r = agora_db_exec(c, "participant_list", 3, p);
	enum agora_qs qs = agora_db_status(r, "participant_list");
	if (qs >= 0) {
		*out = json_array();
		for (int i = 0; i < PQntuples(r); i++)
			json_array_append_new(*out, row_json(r, i));
	}
	PQclear(r);
	return qs;
}

enum agora_qs
db_participant_key(const char *id, const char *kid, json_t **jwk, char **status)
{
	int64_t now = agora_now();
	pthread_mutex_lock(&key_cache_mu);
	uint64_t gen = key_cache_gen;
	struct key_slot *victim = &key_cache[0];
	for (size_t i = 0; i < KEY_CACHE_SLOTS; i++) {
		struct key_slot *s = &key_cache[i];
		if (s->id && !strcmp(s->id, id) && !strcmp(s->kid, kid) &&
		    now - s->fetched < KEY_CACHE_TTL) {
			*status = xstrdup(s->status);
			*jwk = json_loads(s->jwk, 0, NULL);
			pthread_mutex_unlock(&key_cache_mu);
			return AGORA_QS_ONE;
		}
		if (s->fetched < victim->fetched)
			victim = s;
	}
	pthread_mutex_unlock(&key_cache_mu);

	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { id, kid };
	PGresult *r = agora_db_exec(c, "participant_key", 2, p);
	enum agora_qs qs = agora_db_status(r, "participant_key");
	if (qs == AGORA_QS_ONE) {
		*status = xstrdup(PQgetvalue(r, 0, 0));
		*jwk = PQgetisnull(r, 0, 1) ? NULL : json_loads(PQgetvalue(r, 0, 1), 0, NULL);
		pthread_mutex_lock(&key_cache_mu);
		if (*jwk && gen == key_cache_gen) {
			free(victim->id);
			free(victim->kid);
			free(victim->status);
			free(victim->jwk);
			victim->id = xstrdup(id);
			victim->kid = xstrdup(kid);
			victim->status = xstrdup(*status);
			victim->jwk = xstrdup(PQgetvalue(r, 0, 1));
			victim->fetched = now;
		}
		pthread_mutex_unlock(&key_cache_mu);
	}
	PQclear(r);
	return qs;
}

enum agora_qs
db_token_seen(const char *participant, const char *jti, long long expires_at)
{
	static _Atomic unsigned calls;
	PGconn *c = agora_db_conn();
	if (!c || PQtransactionStatus(c) != PQTRANS_IDLE || agora_db_in_tx())	/* see token_seen */
		return AGORA_QS_HARD_ERROR;
	/* Expired entries are dropped now and then, on the request path but
	 * rarely: one statement in 256 calls. */
	if ((atomic_fetch_add(&calls, 1) & 255) == 0)
		exec_status(c, "token_purge", 0, NULL);
	char exp[24];
	snprintf(exp, sizeof exp, "%lld", expires_at);
	const char *p[] = { participant, jti, exp };
	return exec_status(c, "token_seen", 3, p);
}
