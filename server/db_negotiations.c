/* db_negotiations.c — see db_negotiations.h. */
#include "db_negotiations.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NEG_COLS \
	"id, consumer_id, consumer_pid, callback, dataset_id, offer_id, offer::text, provider_id," \
	" provider_endpoint, leg_pid, provider_pid, state, agreement_id, agreement::text," \
	" signatures::text, ledger_index, revoked_at IS NOT NULL, revoke_index, code, reason, " \
	AGORA_SQL_TS("created_at") ", " AGORA_SQL_TS("updated_at")
#define NEG_SELECT "SELECT " NEG_COLS " FROM negotiations WHERE "

#define STATUS_SQL "CASE WHEN revoked_at IS NULL THEN 'active' ELSE 'revoked' END"

const struct agora_stmt db_bneg_stmts[] = {
	{ "neg_get_id", NEG_SELECT "id = $1" },
	{ "neg_lock_id", NEG_SELECT "id = $1 FOR UPDATE" },
	{ "neg_get_leg", NEG_SELECT "leg_pid = $1" },
	{ "neg_lock_leg", NEG_SELECT "leg_pid = $1 FOR UPDATE" },
	{ "neg_get_consumer", NEG_SELECT "consumer_id = $1 AND consumer_pid = $2" },
	{ "neg_lock_consumer", NEG_SELECT "consumer_id = $1 AND consumer_pid = $2 FOR UPDATE" },
	{ "neg_get_agreement", NEG_SELECT "agreement_id = $1" },
	{ "neg_lock_agreement", NEG_SELECT "agreement_id = $1 FOR UPDATE" },
	{ "neg_insert",
	  "INSERT INTO negotiations (id, consumer_id, consumer_pid, callback, dataset_id, offer_id,"
	  " offer, provider_id, provider_endpoint, leg_pid, state, code, reason)"
	  " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12, $13)" },
#define NEG_UPDATE                                                                          \
	"UPDATE negotiations SET state = $2, provider_pid = $3, agreement_id = $4,"            \
	" agreement = $5::jsonb, signatures = $6::jsonb, ledger_index = $7::bigint, code = $8," \
	" reason = $9, updated_at = now() WHERE id = $1"
	{ "neg_update", NEG_UPDATE },
	/* The same for agora_db_defer: an error when no row matches. */
	{ "neg_update_row", AGORA_SQL_ONE_ROW(NEG_UPDATE) },
	{ "neg_revoke",
	  "UPDATE negotiations SET revoked_at = now(), revoke_index = $2::bigint, updated_at = now()"
	  " WHERE id = $1" },
	{ "neg_msg_add",
	  "INSERT INTO negotiation_messages (negotiation_id, direction, leg, type, body, body_sha256,"
	  " status, reply) VALUES ($1, $2, $3, $4, $5::jsonb, $6, $7::integer, $8::jsonb)" },
#define MSG_SEEN(neg)                                                                       \
	"SELECT status, reply::text FROM negotiation_messages WHERE negotiation_id = " neg     \
	" AND direction = 'in' AND type = $2 AND body_sha256 = $3 AND status IS NOT NULL"      \
	" ORDER BY id LIMIT 1"
	{ "neg_msg_seen", MSG_SEEN("$1") },
	/* The same for the negotiation whose leg towards the provider is $1. */
	{ "neg_msg_seen_leg", MSG_SEEN("(SELECT id FROM negotiations WHERE leg_pid = $1)") },
	{ "neg_list",
	  "SELECT jsonb_build_object('id', id, 'state', state, 'consumer', consumer_id,"
	  " 'consumerPid', consumer_pid, 'provider', provider_id, 'providerPid', provider_pid,"
	  " 'datasetId', dataset_id, 'offerId', offer_id, 'agreementId', agreement_id,"
	  " 'code', code, 'reason', reason, 'createdAt', " AGORA_SQL_TS("created_at") ","
	  " 'updatedAt', " AGORA_SQL_TS("updated_at") ")::text FROM negotiations"
	  " WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR id > $2)"
	  " ORDER BY id LIMIT $3::integer" },
	{ "neg_history",
	  "SELECT jsonb_build_object('direction', direction, 'leg', leg, 'type', type,"
	  " 'at', to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'),"
	  " 'body', body, 'status', status)::text"
	  " FROM negotiation_messages WHERE negotiation_id = $1 ORDER BY id" },
	{ "agr_list",
	  "SELECT jsonb_build_object('id', agreement_id, 'negotiationId', id, 'agreement', agreement,"
	  " 'signatures', signatures, 'status', " STATUS_SQL ", 'state', state,"
	  " 'ledgerIndex', ledger_index)::text FROM negotiations"
	  " WHERE ledger_index IS NOT NULL AND ($1::text IS NULL OR consumer_id = $1 OR provider_id = $1)"
	  " AND ($2::text IS NULL OR agreement_id > $2) ORDER BY agreement_id LIMIT $3::integer" },
	{ NULL, NULL }
};

static char *
dup_or_null(PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : xstrdup(PQgetvalue(r, 0, col));
}

static json_t *
json_or_null(PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : json_loads(PQgetvalue(r, 0, col), 0, NULL);
}

static long long
ll_or(PGresult *r, int col, long long dflt)
{
	return PQgetisnull(r, 0, col) ? dflt : strtoll(PQgetvalue(r, 0, col), NULL, 10);
}

void
db_bneg_cleanup(struct db_neg *n)
{
	if (!n)
		return;
	free(n->id);
	free(n->consumer_id);
	free(n->consumer_pid);
	free(n->callback);
	free(n->dataset_id);
	free(n->offer_id);
	json_decref(n->offer);
	free(n->provider_id);
	free(n->provider_endpoint);
	free(n->leg_pid);
	free(n->provider_pid);
	free(n->agreement_id);
	json_decref(n->agreement);
	json_decref(n->signatures);
	free(n->code);
	free(n->reason);
	free(n->created_at);
	free(n->updated_at);
	memset(n, 0, sizeof *n);
}

static enum agora_qs read_neg(PGresult *r, const char *name, struct db_neg *n);
static enum agora_qs read_seen(PGresult *r, int *status, json_t **reply);

enum agora_qs
db_bneg_get(PGconn *c, enum db_neg_key key, const char *a, const char *b, bool lock,
	   struct db_neg *n)
{
	static const char *const names[][2] = {
		[DB_NEG_BY_ID] = { "neg_get_id", "neg_lock_id" },
		[DB_NEG_BY_LEG] = { "neg_get_leg", "neg_lock_leg" },
		[DB_NEG_BY_CONSUMER] = { "neg_get_consumer", "neg_lock_consumer" },
		[DB_NEG_BY_AGREEMENT] = { "neg_get_agreement", "neg_lock_agreement" },
	};
	memset(n, 0, sizeof *n);
	if (!c && !(c = agora_db_conn()))
		return AGORA_QS_HARD_ERROR;
	const char *name = names[key][lock ? 1 : 0];
	const char *p[] = { a, b };
	return read_neg(agora_db_exec(c, name, key == DB_NEG_BY_CONSUMER ? 2 : 1, p), name, n);
}

enum agora_qs
db_bneg_lock_seen(PGconn *c, enum db_neg_key key, const char *pid, const char *type,
		  const char *sha256_hex, struct db_neg *n, enum agora_qs *seen, int *status,
		  json_t **reply)
{
	memset(n, 0, sizeof *n);
	*seen = AGORA_QS_NONE;
	if (key != DB_NEG_BY_ID && key != DB_NEG_BY_LEG)
		return AGORA_QS_HARD_ERROR;
	const char *lock = key == DB_NEG_BY_ID ? "neg_lock_id" : "neg_lock_leg";
	const char *p[] = { pid }, *q[] = { pid, type, sha256_hex };
	PGresult *neg = NULL, *msg = NULL;
	struct agora_db_step steps[] = {
		{ .stmt = lock, .n = 1, .params = p, .res = &neg },
		{ .stmt = key == DB_NEG_BY_ID ? "neg_msg_seen" : "neg_msg_seen_leg", .n = 3, .params = q,
		  .res = &msg },
	};
	agora_db_exec_steps(c, steps, 2);
	enum agora_qs qs = read_neg(neg, lock, n);
	if (qs == AGORA_QS_ONE)
		*seen = read_seen(msg, status, reply);
	else
		PQclear(msg);
	return qs;
}

/* db_bneg_get's reading of result r (cleared). */
static enum agora_qs
read_neg(PGresult *r, const char *name, struct db_neg *n)
{
	enum agora_qs qs = agora_db_status(r, name);
	if (qs == AGORA_QS_ONE) {
		n->id = dup_or_null(r, 0);
		n->consumer_id = dup_or_null(r, 1);
		n->consumer_pid = dup_or_null(r, 2);
		n->callback = dup_or_null(r, 3);
		n->dataset_id = dup_or_null(r, 4);
		n->offer_id = dup_or_null(r, 5);
		n->offer = json_or_null(r, 6);
		n->provider_id = dup_or_null(r, 7);
		n->provider_endpoint = dup_or_null(r, 8);
		n->leg_pid = dup_or_null(r, 9);
		n->provider_pid = dup_or_null(r, 10);
		if (!agora_dsp_state_from_name(PQgetvalue(r, 0, 11), &n->state))
			n->state = AGORA_DSP_STATE_TERMINATED;
		n->agreement_id = dup_or_null(r, 12);
		n->agreement = json_or_null(r, 13);
		n->signatures = json_or_null(r, 14);
		n->ledger_index = ll_or(r, 15, -1);
		n->revoked = PQgetvalue(r, 0, 16)[0] == 't';
		n->revoke_index = ll_or(r, 17, -1);
		n->code = dup_or_null(r, 18);
		n->reason = dup_or_null(r, 19);
		n->created_at = dup_or_null(r, 20);
		n->updated_at = dup_or_null(r, 21);
	}
	PQclear(r);
	return qs;
}

static enum agora_qs
run(PGconn *c, const char *name, int np, const char *const *p)
{
	PGresult *r = agora_db_exec(c, name, np, p);
	enum agora_qs qs = agora_db_status(r, name);
	PQclear(r);
	return qs;
}

static char *
dump(const json_t *j)
{
	return j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

enum agora_qs
db_bneg_insert(PGconn *c, const struct db_neg *n)
{
	char *offer = dump(n->offer);
	const char *p[] = { n->id, n->consumer_id, n->consumer_pid, n->callback, n->dataset_id,
			    n->offer_id, offer, n->provider_id, n->provider_endpoint, n->leg_pid,
			    agora_dsp_state_name(n->state), n->code, n->reason };
	enum agora_qs qs = run(c, "neg_insert", 13, p);
	free(offer);
	return qs;
}

static enum agora_qs
update(PGconn *c, const struct db_neg *n, bool deferred)
{
	char *agr = dump(n->agreement), *sig = dump(n->signatures);
	char idx[24];
	snprintf(idx, sizeof idx, "%lld", n->ledger_index);
	const char *p[] = { n->id, agora_dsp_state_name(n->state), n->provider_pid, n->agreement_id,
			    agr, sig, n->ledger_index >= 0 ? idx : NULL, n->code, n->reason };
	enum agora_qs qs = deferred ? agora_db_defer(c, "neg_update_row", 9, p, NULL, NULL)
				    : run(c, "neg_update", 9, p);
	free(agr);
	free(sig);
	return qs;
}

enum agora_qs
db_bneg_update(PGconn *c, const struct db_neg *n)
{
	return update(c, n, false);
}

enum agora_qs
db_bneg_update_locked(PGconn *c, const struct db_neg *n)
{
	return update(c, n, true);
}

enum agora_qs
db_bneg_revoke(PGconn *c, const char *id, long long revoke_index)
{
	char idx[24];
	snprintf(idx, sizeof idx, "%lld", revoke_index);
	const char *p[] = { id, idx };
	return run(c, "neg_revoke", 2, p);
}

enum agora_qs
db_bneg_message_add(PGconn *c, const char *neg, const char *direction, const char *leg,
		   const char *type, const json_t *body, const char *sha256_hex, int status,
		   const json_t *reply)
{
	char *b = dump(body), *rp = dump(reply);
	char st[16];
	snprintf(st, sizeof st, "%d", status);
	const char *p[] = { neg, direction, leg, type, b, sha256_hex, status ? st : NULL, rp };
	enum agora_qs qs = agora_db_defer(c, "neg_msg_add", 8, p, NULL, NULL);
	free(b);
	free(rp);
	return qs;
}

enum agora_qs
db_bneg_message_seen(PGconn *c, const char *neg, const char *type, const char *sha256_hex,
		    int *status, json_t **reply)
{
	const char *p[] = { neg, type, sha256_hex };
	return read_seen(agora_db_exec(c, "neg_msg_seen", 3, p), status, reply);
}

/* db_bneg_message_seen's reading of result r (cleared). */
static enum agora_qs
read_seen(PGresult *r, int *status, json_t **reply)
{
	enum agora_qs qs = agora_db_status(r, "neg_msg_seen");
	if (qs == AGORA_QS_ONE) {
		*status = atoi(PQgetvalue(r, 0, 0));
		*reply = json_or_null(r, 1);
	}
	PQclear(r);
	return qs;
}

/* Rows of one JSON column as a new array. */
static enum agora_qs
json_rows(const char *name, int np, const char *const *p, json_t **out)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	PGresult *r = agora_db_exec(c, name, np, p);
	enum agora_qs qs = agora_db_status(r, name);
	if (qs >= 0) {
		json_t *a = json_array();
		for (int i = 0; i < PQntuples(r); i++)
			json_array_append_new(a, json_loads(PQgetvalue(r, i, 0), 0, NULL));
		*out = a;
		qs = AGORA_QS_ONE;
	}
	PQclear(r);
	return qs;
}

enum agora_qs
db_bneg_list(const char *state, const char *after, int limit, json_t **out)
{
	char lim[16];
	snprintf(lim, sizeof lim, "%d", limit);
	const char *p[] = { state, after, lim };
	return json_rows("neg_list", 3, p, out);
}

enum agora_qs
db_bneg_history(const char *neg, json_t **out)
{
	const char *p[] = { neg };
	return json_rows("neg_history", 1, p, out);
}

enum agora_qs
db_bneg_agreements(const char *party, const char *after, int limit, json_t **out)
{
	char lim[16];
	snprintf(lim, sizeof lim, "%d", limit);
	const char *p[] = { party, after, lim };
	return json_rows("agr_list", 3, p, out);
}
