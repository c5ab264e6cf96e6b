/* db_transfers.c — see db_transfers.h. */
#include "db_transfers.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROW "SELECT to_jsonb(t)::text FROM transfers t WHERE "
#define DOC \
	"jsonb_strip_nulls(jsonb_build_object('id', t.id, 'role', t.role, 'state', t.state," \
	" 'agreementId', t.agreement_id, 'datasetId', t.dataset_id, 'consumer', t.consumer," \
	" 'provider', t.provider, 'format', t.format, 'purpose', t.purpose, 'query', t.query," \
	" 'brokerPid', t.counterpart_pid, 'bytes', t.bytes, 'sha256', t.sha256," \
	" 'expectedSha256', t.expected_sha256, 'verified', t.verified," \
	" 'senderConstrained', t.sender_constrained, 'autoPull', t.auto_pull, 'receivedAt', ts_json(t.received_at)," \
	" 'reportedAt', ts_json(t.reported_at), 'deleteDueAt', ts_json(t.delete_due_at)," \
	" 'deletedAt', ts_json(t.deleted_at), 'code', t.code, 'reason', t.reason," \
	" 'createdAt', ts_json(t.created_at), 'updatedAt', ts_json(t.updated_at)))"

const struct agora_stmt db_transfer_stmts[] = {
	{ "ctr_get", ROW "id = $1" },
	{ "ctr_lock", ROW "id = $1 FOR UPDATE" },
	{ "ctr_by_cp", ROW "role = $1 AND counterpart = $2 AND counterpart_pid = $3" },
	{ "ctr_lock_cp", ROW "role = $1 AND counterpart = $2 AND counterpart_pid = $3 FOR UPDATE" },
	{ "ctr_insert",
	  "INSERT INTO transfers (id, role, counterpart, counterpart_pid, callback, agreement_id,"
	  " dataset_id, consumer, provider, format, purpose, query, push_address, push_secret_sha256,"
	  " state, owner, auto_pull) SELECT id, role, counterpart, counterpart_pid, callback,"
	  " agreement_id, dataset_id, consumer, provider, format, purpose, query, push_address,"
	  " push_secret_sha256, state, owner, coalesce(auto_pull, true) FROM jsonb_populate_record(NULL::transfers, $1::jsonb)" },
	{ "ctr_update",
	  "UPDATE transfers t SET counterpart_pid = r.counterpart_pid, state = r.state,"
	  " endpoint = r.endpoint, token = r.token, token_expires_at = r.token_expires_at,"
	  " sender_constrained = r.sender_constrained, bytes = r.bytes, sha256 = r.sha256,"
	  " expected_sha256 = r.expected_sha256, verified = r.verified, received_at = r.received_at,"
	  " reported_at = r.reported_at, delete_due_at = r.delete_due_at, deleted_at = r.deleted_at,"
	  " attempts = r.attempts, code = r.code, reason = r.reason, updated_at = now()"
	  " FROM jsonb_populate_record(NULL::transfers, $1::jsonb) r WHERE t.id = r.id" },
	{ "ctr_patch",
	  "UPDATE transfers t SET "
	  "counterpart_pid = CASE WHEN $2::jsonb ? 'counterpart_pid' THEN r.counterpart_pid ELSE "
	  "t.counterpart_pid END, state = CASE WHEN $2::jsonb ? 'state' THEN r.state ELSE t.state "
	  "END, endpoint = CASE WHEN $2::jsonb ? 'endpoint' THEN r.endpoint ELSE t.endpoint END, "
	  "token = CASE WHEN $2::jsonb ? 'token' THEN r.token ELSE t.token END, token_expires_at = "
	  "CASE WHEN $2::jsonb ? 'token_expires_at' THEN r.token_expires_at ELSE t.token_expires_at "
	  "END, sender_constrained = CASE WHEN $2::jsonb ? 'sender_constrained' THEN "
	  "r.sender_constrained ELSE t.sender_constrained END, bytes = CASE WHEN $2::jsonb ? 'bytes' "
	  "THEN r.bytes ELSE t.bytes END, sha256 = CASE WHEN $2::jsonb ? 'sha256' THEN r.sha256 ELSE "
	  "t.sha256 END, expected_sha256 = CASE WHEN $2::jsonb ? 'expected_sha256' THEN "
	  "r.expected_sha256 ELSE t.expected_sha256 END, verified = CASE WHEN $2::jsonb ? 'verified' "
	  "THEN r.verified ELSE t.verified END, received_at = CASE WHEN $2::jsonb ? 'received_at' "
	  "THEN r.received_at ELSE t.received_at END, reported_at = CASE WHEN $2::jsonb ? "
	  "'reported_at' THEN r.reported_at ELSE t.reported_at END, delete_due_at = CASE WHEN "
	  "$2::jsonb ? 'delete_due_at' THEN r.delete_due_at ELSE t.delete_due_at END, deleted_at = "
	  "CASE WHEN $2::jsonb ? 'deleted_at' THEN r.deleted_at ELSE t.deleted_at END, attempts = "
	  "CASE WHEN $2::jsonb ? 'attempts' THEN r.attempts ELSE t.attempts END, code = CASE WHEN "
	  "$2::jsonb ? 'code' THEN r.code ELSE t.code END, reason = CASE WHEN $2::jsonb ? 'reason' "
	  "THEN r.reason ELSE t.reason END "
	  ", updated_at = now() FROM jsonb_populate_record(NULL::transfers, $2::jsonb) r"
	  " WHERE t.id = $1" },
	{ "ctr_progress", "UPDATE transfers SET bytes = $2::bigint WHERE id = $1" },
	{ "ctr_delete_due",
	  "UPDATE transfers SET delete_due_at = coalesce(received_at, now()) + $2::interval"
	  " WHERE id = $1" },
	{ "ctr_msg_add",
	  "INSERT INTO transfer_messages (transfer_id, direction, type, body_hash, status, reply, body)"
	  " VALUES ($1, $2, $3, $4, $5::integer, $6::jsonb, $7::jsonb)" },
	{ "ctr_msg_find",
	  "SELECT status, reply::text FROM transfer_messages WHERE transfer_id = $1"
	  " AND direction = 'in' AND body_hash = $2" },
	{ "ctr_agreement",
	  "SELECT jsonb_build_object('agreement', a.agreement, 'status', a.status, 'role', n.role,"
	  " 'consumer', n.consumer, 'provider', n.provider, 'datasetId', n.dataset_id,"
	  " 'negotiationId', n.id)::text FROM agreements a JOIN negotiations n"
	  " ON n.id = a.negotiation_id WHERE a.id = $1" },
	{ "ctr_doc", "SELECT " DOC "::text FROM transfers t WHERE t.id = $1" },
	{ "ctr_list",
	  "SELECT coalesce(jsonb_agg(doc ORDER BY id), '[]')::text FROM (SELECT t.id, " DOC " AS doc"
	  " FROM transfers t WHERE ($1::text IS NULL OR t.role = $1)"
	  " AND ($2::text IS NULL OR t.state = $2) AND ($3::text IS NULL OR t.id > $3)"
	  " ORDER BY t.id LIMIT $4::int) l" },
	{ "ctr_history",
	  "SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('direction', direction,"
	  " 'type', type, 'status', status, 'at', ts_json(at), 'body', body)) ORDER BY seq), '[]')::text"
	  " FROM transfer_messages WHERE transfer_id = $1" },
	{ "ctr_pending",
	  "SELECT coalesce(jsonb_agg(jsonb_build_object('id', id, 'why', why)), '[]')::text FROM ("
	  " SELECT id, 'pull' AS why FROM transfers WHERE role = 'consumer' AND state = 'STARTED'"
	  "  AND format = 'HttpData-PULL' AND auto_pull AND received_at IS NULL AND attempts < 20"
	  " UNION ALL SELECT id, 'report' FROM transfers WHERE reported_at IS NULL AND attempts < 20"
	  "  AND ((role = 'consumer' AND received_at IS NOT NULL)"
	  "  OR (role = 'provider' AND sha256 IS NOT NULL))"
	  " UNION ALL SELECT id, 'push' FROM transfers WHERE role = 'provider' AND state = 'STARTED'"
	  "  AND format = 'HttpData-PUSH' AND sha256 IS NULL AND attempts < 20"
	  " UNION ALL SELECT id, 'delete' FROM transfers WHERE role = 'consumer'"
	  "  AND delete_due_at <= now() AND deleted_at IS NULL"
	  /* reported but not completed: see dataplane.c, complete() */
	  " UNION ALL SELECT id, 'complete' FROM transfers WHERE state = 'STARTED'"
	  "  AND reported_at IS NOT NULL AND ((role = 'consumer' AND format = 'HttpData-PULL')"
	  "  OR (role = 'provider' AND format = 'HttpData-PUSH'))) p" },
	{ NULL, NULL }
};


enum agora_qs
db_ctr_get(PGconn *c, const char *id, bool lock, json_t **row)
{
	const char *p[] = { id };
	return agora_db_one_json(c, lock ? "ctr_lock" : "ctr_get", 1, p, row);
}

enum agora_qs
db_ctr_by_counterpart(PGconn *c, const char *role, const char *counterpart, const char *pid,
		      bool lock, json_t **row)
{
	const char *p[] = { role, counterpart, pid };
	return agora_db_one_json(c, lock ? "ctr_lock_cp" : "ctr_by_cp", 3, p, row);
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
db_ctr_insert(PGconn *c, const json_t *row)
{
	return with_row(c, "ctr_insert", row);
}

enum agora_qs
db_ctr_update(PGconn *c, const json_t *row)
{
	return with_row(c, "ctr_update", row);
}

enum agora_qs
db_ctr_progress(const char *id, long long bytes)
{
	char b[32];
	snprintf(b, sizeof b, "%lld", bytes);
	const char *p[] = { id, b };
	return agora_db_command(NULL, "ctr_progress", 2, p);
}

enum agora_qs
db_ctr_delete_due(PGconn *c, const char *id, const char *iso_duration)
{
	const char *p[] = { id, iso_duration };
	return agora_db_command(c, "ctr_delete_due", 2, p);
}

enum agora_qs
db_ctr_msg_add(PGconn *c, const char *id, const char *direction, const char *type, const char *hash,
	       long status, const json_t *reply, const json_t *body)
{
	char st[16];
	snprintf(st, sizeof st, "%ld", status);
	char *r = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	char *b = body ? json_dumps(body, JSON_COMPACT) : NULL;
	const char *p[] = { id, direction, type, hash, status ? st : NULL, r, b };
	enum agora_qs qs = agora_db_command(c, "ctr_msg_add", 7, p);
	free(r);
	free(b);
	return qs;
}

enum agora_qs
db_ctr_msg_find(PGconn *c, const char *id, const char *hash, long *status, json_t **reply)
{
	*reply = NULL;
	if (!c && !(c = agora_db_conn()))
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { id, hash };
	PGresult *res = agora_db_exec(c, "ctr_msg_find", 2, p);
	enum agora_qs qs = agora_db_status(res, "ctr_msg_find");
	if (qs == AGORA_QS_ONE) {
		*status = atol(PQgetvalue(res, 0, 0));
		*reply = PQgetisnull(res, 0, 1) ? NULL : json_loads(PQgetvalue(res, 0, 1), 0, NULL);
	}
	PQclear(res);
	return qs;
}

enum agora_qs
db_ctr_agreement(PGconn *c, const char *agreement_id, json_t **out)
{
	const char *p[] = { agreement_id };
	return agora_db_one_json(c, "ctr_agreement", 1, p, out);
}

enum agora_qs
db_ctr_doc(const char *id, json_t **doc)
{
	const char *p[] = { id };
	return agora_db_one_json(NULL, "ctr_doc", 1, p, doc);
}

enum agora_qs
db_ctr_list(const char *role, const char *state, const char *after, int limit, json_t **out)
{
	char l[16];
	snprintf(l, sizeof l, "%d", limit);
	const char *p[] = { role, state, after, l };
	enum agora_qs qs = agora_db_one_json(NULL, "ctr_list", 4, p, out);
	return qs == AGORA_QS_NONE ? AGORA_QS_ONE : qs;
}

enum agora_qs
db_ctr_history(const char *id, json_t **out)
{
	const char *p[] = { id };
	return agora_db_one_json(NULL, "ctr_history", 1, p, out);
}

enum agora_qs
db_ctr_pending(json_t **out)
{
	return agora_db_one_json(NULL, "ctr_pending", 0, NULL, out);
}

enum agora_qs
db_ctr_patch(PGconn *c, const char *id, const json_t *fields)
{
	char *text = json_dumps(fields, JSON_COMPACT);
	if (!text)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { id, text };
	enum agora_qs qs = agora_db_command(c, "ctr_patch", 2, p);
	free(text);
	return qs;
}
