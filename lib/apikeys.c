/* apikeys.c — see apikeys.h.  The SQL of api_keys lives here. */
#include "apikeys.h"
#include "crypto.h"
#include "http.h"
#include "jsonv.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <string.h>

static char *new_secret(void);

const struct agora_stmt agora_apikey_stmts[] = {
	{ "apikey_lookup",
	  "SELECT id, role FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL" },
	{ "apikey_insert",
	  "INSERT INTO api_keys (id, name, role, key_hash, prefix) VALUES ($1, $2, $3, $4, $5)"
	  " RETURNING " AGORA_SQL_TS("created_at") },
	{ "apikey_list",
	  "SELECT id, name, role, prefix,"
	  " " AGORA_SQL_TS("created_at") ", " AGORA_SQL_TS("revoked_at")
	  " FROM api_keys ORDER BY created_at DESC, id LIMIT 1000" },
	{ "apikey_revoke",
	  "UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL" },
	{ NULL, NULL }
};

enum agora_qs
agora_apikey_lookup(const char *hash_hex, char **id, unsigned *role)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { hash_hex };
	PGresult *r = agora_db_exec(c, "apikey_lookup", 1, p);
	enum agora_qs qs = agora_db_status(r, "apikey_lookup");
	if (qs == AGORA_QS_ONE) {
		*id = xstrdup(PQgetvalue(r, 0, 0));
		*role = agora_role_parse(PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return qs;
}

static json_t *
key_json(const char *id, const char *name, const char *role, const char *prefix,
	 const char *created, const char *revoked)
{
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "name", name, "role", role,
			      "prefix", prefix, "createdAt", created);
	json_object_set_new(o, "revokedAt", revoked && *revoked ? json_string(revoked) : json_null());
	return o;
}

enum agora_qs
agora_apikey_create(const char *name, unsigned role, char **key, json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	uint8_t hash[32];
	char *k = new_secret();
	agora_sha256(k, strlen(k), hash);
	char hex[65], id[46], prefix[13];
	agora_hex(hash, 32, hex);
	agora_urn_uuid(id);
	snprintf(prefix, sizeof prefix, "%.12s", k);
	const char *p[] = { id, name, agora_role_name(role), hex, prefix };
	PGresult *r = agora_db_exec(c, "apikey_insert", 5, p);
	enum agora_qs qs = agora_db_status(r, "apikey_insert");
	if (qs == AGORA_QS_ONE) {
		*out = key_json(id, name, agora_role_name(role), prefix, PQgetvalue(r, 0, 0), NULL);
		*key = k;
	} else {
		free(k);
	}
	PQclear(r);
	return qs;
}

enum agora_qs
agora_apikey_list(json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	PGresult *r = agora_db_exec(c, "apikey_list", 0, NULL);
	enum agora_qs qs = agora_db_status(r, "apikey_list");
	if (qs >= 0) {
		*out = json_array();
		for (int i = 0; i < PQntuples(r); i++)
			json_array_append_new(*out, key_json(PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
							     PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
							     PQgetvalue(r, i, 4), PQgetvalue(r, i, 5)));
		qs = AGORA_QS_ONE;
	}
	PQclear(r);
	return qs;
}

enum agora_qs
agora_apikey_revoke(const char *id)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { id };
	PGresult *r = agora_db_exec(c, "apikey_revoke", 1, p);
	enum agora_qs qs = agora_db_status(r, "apikey_revoke");
	PQclear(r);
	return qs;
}

static char *
new_secret(void)
{
	uint8_t secret[32];
	agora_random(secret, sizeof secret);
	char *b64 = agora_b64url_encode(secret, sizeof secret);
	char *k = xasprintf("agk_%s", b64);
	free(b64);
	return k;
}

bool
agora_admin_key_bootstrap(const char *given, const char *dir, const char *prog, uint8_t hash[32])
{
	if (given && *given) {
		agora_sha256(given, strlen(given), hash);
		return true;
	}
	char *path = xasprintf("%s/admin-key.sha256", dir);
	bool ok = false;
	FILE *f = fopen(path, "r");
	if (f) {
		char hex[80] = "";
		ok = fgets(hex, sizeof hex, f) && strlen(hex) >= 64;
		for (int i = 0; ok && i < 32; i++) {
			unsigned v;
			ok = sscanf(hex + 2 * i, "%2x", &v) == 1;
			hash[i] = (uint8_t)v;
		}
		fclose(f);
		if (!ok)
			agora_logf(AGORA_LOG_ERROR, "config", "%s is not a SHA-256 hex digest", path);
		free(path);
		return ok;
	}
	char *key = new_secret();
	agora_sha256(key, strlen(key), hash);
	char hex[65];
	agora_hex(hash, 32, hex);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0 && write(fd, hex, 64) == 64 && write(fd, "\n", 1) == 1) {
		ok = true;
		printf("%s: generated admin API key (shown once, keep it): %s\n", prog, key);
		fflush(stdout);
	} else {
		agora_logf(AGORA_LOG_ERROR, "config", "cannot write %s: %s", path, strerror(errno));
	}
	if (fd >= 0)
		close(fd);
	free(key);
	free(path);
	return ok;
}

/* ---- the /api/v1/api-keys endpoints ---------------------------------- */

enum MHD_Result
agora_apikey_handle_create(struct agora_req *r)
{
	const json_t *name, *role;
	const struct agora_jfield f[] = {
		{ "name", AGORA_J_STRING, true, 200, &name },
		{ "role", AGORA_J_STRING, true, 32, &role },
	};
	if (!agora_req_fields(r, r->json, f, ARRAY_LEN(f), true, NULL))
		return MHD_YES;
	unsigned bit = agora_role_parse(json_string_value(role));
	if (!bit)
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "field 'role' must be one of admin, publisher, consumer, viewer");
	char *key = NULL;
	json_t *out = NULL;
	if (agora_apikey_create(json_string_value(name), bit, &key, &out) != AGORA_QS_ONE)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the key store is unavailable");
	json_object_set_new(out, "key", json_string(key));
	free(key);
	return agora_reply_json(r, 201, out);
}

enum MHD_Result
agora_apikey_handle_list(struct agora_req *r)
{
	json_t *list = NULL;
	if (agora_apikey_list(&list) < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the key store is unavailable");
	return agora_reply_json(r, 200, json_pack("{s:o}", "results", list));
}

enum MHD_Result
agora_apikey_handle_revoke(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	enum agora_qs qs = agora_apikey_revoke(id);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the key store is unavailable");
	if (qs == AGORA_QS_NONE)
		return agora_reply_error(r, AGORA_E_API_KEY_NOT_FOUND, "no unrevoked API key '%.64s'", id);
	return agora_reply_json(r, 200, json_pack("{s:s, s:s}", "id", id, "status", "revoked"));
}
