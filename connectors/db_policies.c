/* db_policies.c — policies, offers, and the catalog query joining them to
 * the datasets they cover. */
#include "db_connector.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>

const struct agora_stmt db_policy_stmts[] = {
	{ "policy_insert",
	  "INSERT INTO policies (id, owner, policy, description) VALUES ($1, $2, $3::jsonb, $4)" },
	{ "policy_get",
	  "SELECT jsonb_build_object('id', id, 'policy', policy, 'description', description,"
	  " 'createdAt', ts_json(created_at))::text, owner FROM policies WHERE id = $1" },
	{ "policy_list",
	  "SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'policy', policy,"
	  " 'description', description, 'createdAt', ts_json(created_at)) ORDER BY created_at, id),"
	  " '[]')::text FROM (SELECT * FROM policies ORDER BY created_at, id LIMIT 1000) p" },
	{ "policy_delete",
	  "DELETE FROM policies p WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM offers o"
	  " WHERE o.access_policy_id = p.id OR o.contract_policy_id = p.id)" },
	{ "offer_insert",
	  "INSERT INTO offers (id, owner, selector, access_policy_id, contract_policy_id, auto_accept)"
	  " VALUES ($1, $2, $3::jsonb, $4, $5, $6::boolean)" },
	{ "offer_get",
	  "SELECT jsonb_build_object('id', id, 'datasetSelector', selector, 'accessPolicyId',"
	  " access_policy_id, 'contractPolicyId', contract_policy_id, 'autoAccept', auto_accept,"
	  " 'createdAt', ts_json(created_at))::text, owner FROM offers WHERE id = $1" },
	{ "offer_list",
	  "SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'datasetSelector', selector,"
	  " 'accessPolicyId', access_policy_id, 'contractPolicyId', contract_policy_id,"
	  " 'autoAccept', auto_accept, 'createdAt', ts_json(created_at)) ORDER BY created_at, id),"
	  " '[]')::text FROM (SELECT * FROM offers ORDER BY created_at, id LIMIT 1000) o" },
	{ "offer_delete", "DELETE FROM offers WHERE id = $1" },
	{ "catalog_rows",
	  "SELECT v.doc::text, (SELECT jsonb_agg(jsonb_build_object('id', o.id, 'autoAccept',"
	  " o.auto_accept, 'contract', cp.policy, 'access', ap.policy) ORDER BY o.id)"
	  " FROM offers o JOIN policies cp ON cp.id = o.contract_policy_id"
	  " LEFT JOIN policies ap ON ap.id = o.access_policy_id"
	  " WHERE offer_covers(o.selector, d.id, d.keyword, d.theme))::text"
	  " FROM datasets d JOIN dataset_docs v USING (id)"
	  " WHERE ($1::text IS NULL OR d.id = $1)"
	  " AND EXISTS (SELECT 1 FROM offers o WHERE offer_covers(o.selector, d.id, d.keyword, d.theme))"
	  " ORDER BY d.id" },
	/* The newest points of one field of the sensor that reported last:
	 * index lookups per known sensor (obs_things), never a scan of the
	 * dataset's observations. */
	{ "catalog_sample",
	  "WITH last AS (SELECT t.thing FROM obs_things t CROSS JOIN LATERAL"
	  " (SELECT o.ts FROM observations o WHERE o.dataset_id = $1 AND o.thing = t.thing"
	  " ORDER BY o.ts DESC LIMIT 1) x WHERE t.dataset_id = $1 ORDER BY x.ts DESC LIMIT 1)"
	  " SELECT to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), (vals->>$2)::float8"
	  " FROM (SELECT o.ts, o.vals FROM observations o JOIN last ON o.thing = last.thing"
	  " WHERE o.dataset_id = $1 AND jsonb_typeof(o.vals->$2) = 'number'"
	  " ORDER BY o.ts DESC LIMIT $3::int) s ORDER BY ts" },
	{ NULL, NULL }
};

static enum agora_qs
run(PGconn *c, const char *name, int n, const char *const *p)
{
	PGresult *r = agora_db_exec(c, name, n, p);
	enum agora_qs qs = agora_db_status(r, name);
	PQclear(r);
	return qs;
}

enum agora_qs
db_policy_insert(PGconn *c, const char *id, const char *owner, const json_t *policy,
		 const char *description)
{
	char *pj = json_dumps(policy, JSON_COMPACT);
	const char *p[] = { id, owner, pj, description };
	enum agora_qs qs = run(c, "policy_insert", 4, p);
	free(pj);
	return qs;
}

enum agora_qs
db_policy_get(const char *id, json_t **doc, char **owner)
{
	return agora_db_get_json("policy_get", id, doc, owner);
}

enum agora_qs
db_policy_list(json_t **out)
{
	return agora_db_get_json("policy_list", NULL, out, NULL);
}

enum agora_qs
db_policy_delete(PGconn *c, const char *id)
{
	const char *p[] = { id };
	return run(c, "policy_delete", 1, p);
}

enum agora_qs
db_offer_insert(PGconn *c, const char *id, const char *owner, const json_t *selector,
		const char *access_policy, const char *contract_policy, bool auto_accept)
{
	char *sel = json_dumps(selector, JSON_COMPACT);
	const char *p[] = { id, owner, sel, access_policy, contract_policy, auto_accept ? "true" : "false" };
	enum agora_qs qs = run(c, "offer_insert", 6, p);
	free(sel);
	return qs;
}

enum agora_qs
db_offer_get(const char *id, json_t **doc, char **owner)
{
	return agora_db_get_json("offer_get", id, doc, owner);
}

enum agora_qs
db_offer_list(json_t **out)
{
	return agora_db_get_json("offer_list", NULL, out, NULL);
}

enum agora_qs
db_offer_delete(PGconn *c, const char *id)
{
	const char *p[] = { id };
	return run(c, "offer_delete", 1, p);
}

enum agora_qs
db_catalog_rows(const char *only_dataset, json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { only_dataset };
	PGresult *r = agora_db_exec(c, "catalog_rows", 1, p);
	enum agora_qs qs = agora_db_status(r, "catalog_rows");
	if (qs >= 0) {
		*out = json_array();
		for (int i = 0; i < PQntuples(r); i++)
			json_array_append_new(*out, json_pack("{s:o, s:o}", "dataset",
							      json_loads(PQgetvalue(r, i, 0), 0, NULL),
							      "offers",
							      json_loads(PQgetvalue(r, i, 1), 0, NULL)));
	}
	PQclear(r);
	return qs;
}

enum agora_qs
db_catalog_sample(const char *dataset_id, const char *field, int max_points, json_t **points)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	char n[16];
	snprintf(n, sizeof n, "%d", max_points);
	const char *p[] = { dataset_id, field, n };
	PGresult *r = agora_db_exec(c, "catalog_sample", 3, p);
	enum agora_qs qs = agora_db_status(r, "catalog_sample");
	if (qs >= 0) {
		*points = json_array();
		for (int i = 0; i < PQntuples(r); i++)
			json_array_append_new(*points, json_pack("[s, f]", PQgetvalue(r, i, 0),
								 strtod(PQgetvalue(r, i, 1), NULL)));
	}
	PQclear(r);
	return qs;
}
