/* db_transfers.c — see db_transfers.h. */
#include "db_transfers.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW "SELECT to_jsonb(t)::text FROM transfers t WHERE "

const struct agora_stmt db_btr_stmts[] = {
	{ "btr_get_id", ROW "id = $1" },
	{ "btr_lock_id", ROW "id = $1 FOR UPDATE" },
	{ "btr_get_leg", ROW "leg_pid = $1" },
	{ "btr_lock_leg", ROW "leg_pid = $1 FOR UPDATE" },
	{ "btr_get_consumer", ROW "consumer_id = $1 AND consumer_pid = $2" },
	{ "btr_lock_consumer", ROW "consumer_id = $1 AND consumer_pid = $2 FOR UPDATE" },
	{ "btr_get_provider", ROW "provider_id = $1 AND provider_pid = $2" },
	{ "btr_lock_provider", ROW "provider_id = $1 AND provider_pid = $2 FOR UPDATE" },
	{ "btr_insert",
	  "INSERT INTO transfers (id, consumer_id, consumer_pid, callback, agreement_id, negotiation_id,"
	  " dataset_id, provider_id, provider_endpoint, leg_pid, format, purpose, query, push_address,"
	  " state, use_number, code, reason) SELECT id, consumer_id, consumer_pid, callback,"
	  " agreement_id, negotiation_id, dataset_id, provider_id, provider_endpoint, leg_pid, format,"
	  " purpose, query, push_address, state, use_number, code, reason"
	  " FROM jsonb_populate_record(NULL::transfers, $1::jsonb)" },
	{ "btr_update",
	  "UPDATE transfers t SET state = r.state, provider_pid = r.provider_pid,"
	  " started_index = r.started_index, provider_report = r.provider_report,"
	  " consumer_report = r.consumer_report, delete_due_at = r.delete_due_at,"
	  " deleted_at = r.deleted_at, deleted_index = r.deleted_index, code = r.code,"
	  " reason = r.reason, updated_at = now()"
	  " FROM jsonb_populate_record(NULL::transfers, $1::jsonb) r WHERE t.id = r.id" },
	{ "btr_delete_due",
	  "UPDATE transfers SET delete_due_at = now() + $2::interval, updated_at = now() WHERE id = $1" },
	{ "btr_uses", "SELECT count(*) FROM transfers WHERE agreement_id = $1 AND use_number IS NOT NULL" },
	{ "btr_overdue",
	  "SELECT id FROM transfers WHERE agreement_id = $1 AND delete_due_at < now()"
	  " AND deleted_at IS NULL ORDER BY delete_due_at LIMIT 1" },
	{ "btr_running",
	  "SELECT coalesce(jsonb_agg(id ORDER BY id), '[]')::text FROM transfers"
	  " WHERE agreement_id = $1 AND state IN ('REQUESTED', 'STARTED', 'SUSPENDED')" },
	{ "btr_msg_add",
	  "INSERT INTO transfer_messages (transfer_id, direction, leg, type, body, body_sha256, status,"
	  " reply) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::integer, $8::jsonb)" },
	{ "btr_msg_seen",
	  "SELECT status, reply::text FROM transfer_messages WHERE transfer_id = $1"
	  " AND direction = 'in' AND type = $2 AND body_sha256 = $3 AND status IS NOT NULL"
	  " ORDER BY id LIMIT 1" },
	{ "btr_list",
	  "SELECT jsonb_build_object('id', id, 'state', state, 'consumer', consumer_id,"
	  " 'consumerPid', consumer_pid, 'provider', provider_id, 'providerPid', provider_pid,"
	  " 'agreementId', agreement_id, 'datasetId', dataset_id, 'format', format,"
	  " 'purpose', purpose, 'useNumber', use_number, 'providerReport', provider_report,"
	  " 'consumerReport', consumer_report, 'deleteDueAt', " AGORA_SQL_TS("delete_due_at") ","
	  " 'deletedAt', " AGORA_SQL_TS("deleted_at") ", 'code', code, 'reason', reason,"
	  " 'createdAt', " AGORA_SQL_TS("created_at") ", 'updatedAt', " AGORA_SQL_TS("updated_at")
	  ")::text FROM transfers WHERE ($1::text IS NULL OR consumer_id = $1 OR provider_id = $1)"
	  " AND ($2::text IS NULL OR id > $2) ORDER BY id LIMIT $3::integer" },
	{ "btr_history",
	  "SELECT jsonb_build_object('direction', direction, 'leg', leg, 'type', type,"
	  " 'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	  " 'body', body, 'status', status)::text"
	  " FROM transfer_messages WHERE transfer_id = $1 ORDER BY id" },
	{ NULL, NULL }
};


enum agora_qs
db_btr_get(PGconn *c, enum db_btr_key key, const char *a, const char *b, bool lock, json_t **row)
{
	static const char *const names[][2] = {
		[DB_BTR_BY_ID] = { "btr_get_id", "btr_lock_id" },
		[DB_BTR_BY_LEG] = { "btr_get_leg", "btr_lock_leg" },
		[DB_BTR_BY_CONSUMER] = { "btr_get_consumer", "btr_lock_consumer" },
		[DB_BTR_BY_PROVIDER] = { "btr_get_provider", "btr_lock_provider" },
	};
	const char *p[] = { a, b };
	int n = key == DB_BTR_BY_CONSUMER || key == DB_BTR_BY_PROVIDER ? 2 : 1;
	return agora_db_one_json(c, names[key][lock], n, p, row);
}

static enum agora_qs
with_row(PGconn *c, const char *name, const json_t *row)
{
	char *text = json_dumps(row, JSON_COMPACT);
	if (!text)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { text };
	enum agora_qs qs = agora_db_command(c, name, 1, p);
	free(text);
	return qs;
}

enum agora_qs
db_btr_insert(PGconn *c, const json_t *row)
{
	return with_row(c, "btr_insert", row);
}

enum agora_qs
db_btr_update(PGconn *c, const json_t *row)
{
	return with_row(c, "btr_update", row);
}

enum agora_qs
db_btr_uses(PGconn *c, const char *agreement, long long *n)
{
	json_t *v = NULL;
	const char *p[] = { agreement };
	enum agora_qs qs = agora_db_one_json(c, "btr_uses", 1, p, &v);
	*n = json_is_integer(v) ? json_integer_value(v) : 0;
	json_decref(v);
	return qs == AGORA_QS_NONE ? AGORA_QS_ONE : qs;
}

enum agora_qs
db_btr_overdue(PGconn *c, const char *agreement, char **id)
{
	*id = NULL;
	if (!c && !(c = agora_db_conn()))
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { agreement };
	PGresult *res = agora_db_exec(c, "btr_overdue", 1, p);
	enum agora_qs qs = agora_db_status(res, "btr_overdue");
	if (qs == AGORA_QS_ONE)
		*id = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return qs;
}

enum agora_qs
db_btr_running(PGconn *c, const char *agreement, json_t **ids)
{
	const char *p[] = { agreement };
	enum agora_qs qs = agora_db_one_json(c, "btr_running", 1, p, ids);
	if (qs == AGORA_QS_NONE) {
		*ids = json_array();
		qs = AGORA_QS_ONE;
	}
	return qs;
}

enum agora_qs
db_btr_message_add(PGconn *c, const char *id, const char *direction, const char *leg,
		   const char *type, const json_t *body, const char *sha256_hex, int status,
		   const json_t *reply)
{
	char *b = json_dumps(body, JSON_COMPACT);
	char *r = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	char st[16];
	snprintf(st, sizeof st, "%d", status);
	const char *p[] = { id, direction, leg, type, b, sha256_hex, status ? st : NULL, r };
	enum agora_qs qs = b ? agora_db_command(c, "btr_msg_add", 8, p) : AGORA_QS_HARD_ERROR;
	free(b);
	free(r);
	return qs;
}

enum agora_qs
db_btr_message_seen(PGconn *c, const char *id, const char *type, const char *sha256_hex,
		    int *status, json_t **reply)
{
	*reply = NULL;
	if (!c && !(c = agora_db_conn()))
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { id, type, sha256_hex };
	PGresult *res = agora_db_exec(c, "btr_msg_seen", 3, p);
	enum agora_qs qs = agora_db_status(res, "btr_msg_seen");
	if (qs == AGORA_QS_ONE) {
		*status = atoi(PQgetvalue(res, 0, 0));
		*reply = PQgetisnull(res, 0, 1) ? NULL : json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	}
	PQclear(res);
	return qs;
}

static enum agora_qs
rows_json(const char *name, int n, const char *const *params, json_t **out)
{
	*out = NULL;
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	PGresult *res = agora_db_exec(c, name, n, params);
	enum agora_qs qs = agora_db_status(res, name);
	if (qs >= 0) {
		*out = json_array();
		for (int i = 0; i < PQntuples(res); i++)
			json_array_append_new(*out, json_loads(PQgetvalue(res, i, 0), 0, NULL));
		qs = AGORA_QS_ONE;
	}
	PQclear(res);
	return qs;
}

enum agora_qs
db_btr_list(const char *party, const char *after, int limit, json_t **out)
{
	char lim[16];
	snprintf(lim, sizeof lim, "%d", limit);
	const char *p[] = { party, after, lim };
	return rows_json("btr_list", 3, p, out);
}

enum agora_qs
db_btr_history(const char *id, json_t **out)
{
	const char *p[] = { id };
	return rows_json("btr_history", 1, p, out);
}

enum agora_qs
db_btr_delete_due(PGconn *c, const char *id, const char *iso_duration)
{
	const char *p[] = { id, iso_duration };
	return agora_db_command(c, "btr_delete_due", 2, p);
}
