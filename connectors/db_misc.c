/* db_misc.c — the replay cache and the catalog push state. */
#include "db_connector.h"

#include <stdio.h>
#include <stdlib.h>

const struct agora_stmt db_misc_stmts[] = {
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
	{ "catalog_bump", "UPDATE catalog_state SET version = version + 1" },
	{ "catalog_versions", "SELECT version, pushed_version FROM catalog_state" },
	{ "catalog_pushed",
	  "UPDATE catalog_state SET pushed_version = greatest(pushed_version, $1::bigint),"
	  " pushed_at = now()" },
	{ NULL, NULL }
};

enum agora_qs
db_catalog_bump(PGconn *c)
{
	PGresult *r = agora_db_exec(c, "catalog_bump", 0, NULL);
	enum agora_qs qs = agora_db_status(r, "catalog_bump");
	PQclear(r);
	return qs;
}

enum agora_qs
db_catalog_versions(long long *version, long long *pushed)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	PGresult *r = agora_db_exec(c, "catalog_versions", 0, NULL);
	enum agora_qs qs = agora_db_status(r, "catalog_versions");
	if (qs == AGORA_QS_ONE) {
		*version = atoll(PQgetvalue(r, 0, 0));
		*pushed = atoll(PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return qs;
}

enum agora_qs
db_catalog_pushed(long long version)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	char v[24];
	snprintf(v, sizeof v, "%lld", version);
	const char *p[] = { v };
	PGresult *r = agora_db_exec(c, "catalog_pushed", 1, p);
	enum agora_qs qs = agora_db_status(r, "catalog_pushed");
	PQclear(r);
	return qs;
}
