/* db_negotiations.c — negotiations, their message history, agreements,
 * and the offer lookup a provider makes for an incoming request. */
#include "db_connector.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The internal document of one negotiation (every column). */
#define NEG_DOC \
	"jsonb_build_object('id', id, 'role', role, 'counterpart', counterpart," \
	" 'counterpartPid', counterpart_pid, 'callback', callback, 'consumer', consumer," \
	" 'provider', provider, 'datasetId', dataset_id, 'offerId', offer_id, 'offer', offer," \
	" 'autoAccept', auto_accept, 'state', state, 'agreementId', agreement_id, 'code', code," \
	" 'reason', reason, 'owner', owner, 'createdAt', ts_json(created_at)," \
	" 'updatedAt', ts_json(updated_at))"
/* What the list shows of one. */
#define NEG_ITEM \
	"jsonb_strip_nulls(jsonb_build_object('id', id, 'role', role, 'datasetId', dataset_id," \
	" 'offerId', offer_id, 'provider', provider, 'consumer', consumer, 'counterpart', counterpart," \
	" 'state', state, 'agreementId', agreement_id, 'createdAt', ts_json(created_at)," \
	" 'updatedAt', ts_json(updated_at)))"
#define AGR_DOC \
	"jsonb_strip_nulls(jsonb_build_object('id', a.id, 'negotiationId', a.negotiation_id," \
	" 'role', n.role, 'agreement', a.agreement, 'signatures', a.signatures, 'receipt', a.receipt," \
	" 'status', a.status, 'createdAt', ts_json(a.created_at), 'revokedAt', ts_json(a.revoked_at)))"

const struct agora_stmt db_negotiation_stmts[] = {
	{ "neg_insert",
	  "INSERT INTO negotiations (id, role, counterpart, counterpart_pid, callback, consumer,"
	  " provider, dataset_id, offer_id, offer, auto_accept, state, owner)"
	  " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11::boolean, $12, $13)" },
	{ "neg_get", "SELECT " NEG_DOC "::text FROM negotiations WHERE id = $1" },
	{ "neg_lock", "SELECT " NEG_DOC "::text FROM negotiations WHERE id = $1 FOR UPDATE" },
	{ "neg_by_counterpart",
	  "SELECT " NEG_DOC "::text FROM negotiations WHERE role = $1 AND counterpart = $2"
	  " AND counterpart_pid = $3 FOR UPDATE" },
#define NEG_UPDATE                                                                          \
	"UPDATE negotiations SET state = $2, counterpart_pid = coalesce(counterpart_pid, $3),"  \
	" agreement_id = coalesce($4, agreement_id), code = coalesce($5, code),"               \
	" reason = coalesce($6, reason), updated_at = now() WHERE id = $1"
	{ "neg_update", NEG_UPDATE },
	/* The same for agora_db_defer: an error when no row matches. */
	{ "neg_update_row", AGORA_SQL_ONE_ROW(NEG_UPDATE) },
	{ "neg_msg_insert",
	  "INSERT INTO negotiation_messages (negotiation_id, direction, type, body_hash, status, reply,"
	  " body) VALUES ($1, $2, $3, $4, $5::int, $6::jsonb, $7::jsonb)" },
	/* An acknowledgement naming the counterpart's pid $2: neg_update to the
	 * same state with it, and its history row, when the pid is not known
	 * yet (else nothing). */
	{ "neg_ack",
	  "WITH u AS (UPDATE negotiations SET counterpart_pid = $2, updated_at = now()"
	  " WHERE id = $1 AND counterpart_pid IS NULL RETURNING id)"
	  " INSERT INTO negotiation_messages (negotiation_id, direction, type, status, body)"
	  " SELECT id, 'in', 'ContractNegotiation', $3::int, $4::jsonb FROM u" },
	{ "neg_msg_find",
	  "SELECT status, reply::text FROM negotiation_messages WHERE negotiation_id = $1"
	  " AND direction = 'in' AND body_hash = $2" },
	{ "neg_list",
	  "SELECT coalesce(jsonb_agg(doc ORDER BY id), '[]')::text FROM (SELECT id, " NEG_ITEM " AS doc"
	  " FROM negotiations WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR role = $2)"
	  " AND ($3::text IS NULL OR id > $3) ORDER BY id LIMIT $4::int) l" },
	{ "neg_history",
	  "SELECT coalesce(jsonb_agg(jsonb_strip_nulls(jsonb_build_object('direction', direction,"
	  " 'type', type, 'status', status, 'at', to_char(at AT TIME ZONE 'UTC',"
	  " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'))) ORDER BY seq), '[]')::text"
	  " FROM negotiation_messages WHERE negotiation_id = $1" },
	{ "agr_insert",
	  "INSERT INTO agreements (id, negotiation_id, agreement, signatures)"
	  " VALUES ($1, $2, $3::jsonb, $4::jsonb)" },
#define AGR_UPDATE                                                                          \
	"UPDATE agreements SET signatures = coalesce($2::jsonb, signatures),"                 \
	" receipt = coalesce($3::jsonb, receipt) WHERE id = $1"
	{ "agr_update", AGR_UPDATE },
	{ "agr_update_row", AGORA_SQL_ONE_ROW(AGR_UPDATE) },
	{ "agr_get",
	  "SELECT " AGR_DOC "::text, n.owner FROM agreements a JOIN negotiations n"
	  " ON n.id = a.negotiation_id WHERE a.id = $1" },
	/* Serialises the transactions that would store agreement $1 (rx_tx
	 * takes it after its negotiation's row lock, and no other lock after
	 * it), so that agr_exists after it sees the one that did. */
	{ "agr_id_lock",
	  "SELECT pg_advisory_xact_lock(hashtextextended('agora-agreement:' || $1, 0))" },
	{ "agr_exists", "SELECT 1 FROM agreements WHERE id = $1" },
	/* The agreement a negotiation names (agr_get by the negotiation's
	 * agreement_id), for a pipeline that reads it after locking that. */
	{ "agr_of_neg",
	  "SELECT " AGR_DOC "::text, n.owner FROM negotiations n JOIN agreements a"
	  " ON a.id = n.agreement_id WHERE n.id = $1" },
	{ "agr_list",
	  "SELECT coalesce(jsonb_agg(doc ORDER BY id), '[]')::text FROM (SELECT a.id, " AGR_DOC " AS doc"
	  " FROM agreements a JOIN negotiations n ON n.id = a.negotiation_id"
	  " WHERE ($1::text IS NULL OR a.id > $1) ORDER BY a.id LIMIT $2::int) l" },
	{ "agr_revoke",
	  "UPDATE agreements SET status = 'revoked', revoked_at = now() WHERE id = $1"
	  " AND status = 'active'" },
	/* Serialises the transactions that would store a provider negotiation
	 * for counterpart $1's pid $2 (request_tx takes it first), so that
	 * neg_by_counterpart after it sees the one that did. */
	{ "neg_request_lock",
	  "SELECT pg_advisory_xact_lock(hashtextextended('agora-request:' || $1 || ' ' || $2, 0))" },
	/* With the requested offer $3 as negotiations.offer will hold it
	 * (jsonb's rendering), for the negotiation's document. */
	{ "offer_for_request",
	  "SELECT jsonb_build_object('autoAccept', o.auto_accept, 'contract', cp.policy,"
	  " 'owner', o.owner, 'requested', $3::jsonb)::text FROM offers o"
	  " JOIN policies cp ON cp.id = o.contract_policy_id"
	  " JOIN datasets d ON d.id = $2 WHERE o.id = $1"
	  " AND offer_covers(o.selector, d.id, d.keyword, d.theme)" },
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

/* Column 0 of the first row as JSON (*out new reference), column 1 (if
 * second) copied; c NULL means this thread's connection. */
static enum agora_qs json_row(PGresult *r, const char *name, json_t **out, char **second);
static enum agora_qs found_row(PGresult *r, long *status, json_t **reply);

static enum agora_qs
get_json(PGconn *c, const char *name, int n, const char *const *p, json_t **out, char **second)
{
	if (!c && !(c = agora_db_conn()))
		return AGORA_QS_HARD_ERROR;
	return json_row(agora_db_exec(c, name, n, p), name, out, second);
}

/* get_json's reading of result r (cleared). */
static enum agora_qs
json_row(PGresult *r, const char *name, json_t **out, char **second)
{
	enum agora_qs qs = agora_db_status(r, name);
	if (qs == AGORA_QS_ONE && PQntuples(r) == 0)
		qs = AGORA_QS_NONE;
	if (qs == AGORA_QS_ONE) {
		*out = json_loads(PQgetvalue(r, 0, 0), JSON_DECODE_ANY, NULL);
		if (second)
			*second = PQgetisnull(r, 0, 1) ? NULL : xstrdup(PQgetvalue(r, 0, 1));
		if (!*out)
			qs = AGORA_QS_HARD_ERROR;
	}
	PQclear(r);
	return qs;
}

static char *
dump(const json_t *v)
{
	return v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
}

enum agora_qs
db_neg_add(PGconn *c, const struct db_neg_new *n)
{
	char *offer = dump(n->offer);
	const char *p[] = { n->id, n->role, n->counterpart, n->counterpart_pid, n->callback,
			    n->consumer, n->provider, n->dataset_id, n->offer_id, offer,
			    n->auto_accept ? "true" : "false", n->state, n->owner };
	enum agora_qs qs = agora_db_defer(c, "neg_insert", 13, p, NULL, NULL);
	free(offer);
	return qs;
}

enum agora_qs
db_neg_get(PGconn *c, const char *id, bool lock, json_t **doc)
{
	const char *p[] = { id };
	return get_json(c, lock ? "neg_lock" : "neg_get", 1, p, doc, NULL);
}

enum agora_qs
db_neg_update(PGconn *c, const char *id, const char *state, const char *counterpart_pid,
	      const char *agreement_id, const char *code, const char *reason)
{
	const char *p[] = { id, state, counterpart_pid, agreement_id, code, reason };
	/* Deferred unless it may set counterpart_pid, whose unique index a
	 * caller may need to see violated (CONFLICT) at once. */
	if (agora_db_in_tx() && !counterpart_pid)
		return agora_db_defer(c, "neg_update_row", 6, p, NULL, NULL);
	return run(c, "neg_update", 6, p);
}

/* neg_msg_insert's parameters (p[5], p[6] and st the caller's to free). */
struct msg_params {
	char st[24];
	const char *p[7];
};

static void
msg_params(struct msg_params *m, const char *neg_id, const char *direction, const char *type,
	   const char *hash, long status, const json_t *reply, const json_t *body)
{
	snprintf(m->st, sizeof m->st, "%ld", status);
	const char *p[] = { neg_id, direction, type, hash, status ? m->st : NULL, dump(reply),
			    dump(body) };
	memcpy(m->p, p, sizeof p);
}

static void
msg_params_free(struct msg_params *m)
{
	free((char *)m->p[5]);
	free((char *)m->p[6]);
}

enum agora_qs
db_neg_msg_insert(PGconn *c, const char *neg_id, const char *direction, const char *type,
		  const char *hash, long status, const json_t *reply, const json_t *body)
{
	struct msg_params m;
	msg_params(&m, neg_id, direction, type, hash, status, reply, body);
	enum agora_qs qs = agora_db_defer(c, "neg_msg_insert", 7, m.p, NULL, NULL);
	msg_params_free(&m);
	return qs;
}

enum agora_qs
db_neg_lock_acknowledged(PGconn *c, const char *id, const char *counterpart_pid, long status,
			 const json_t *reply, json_t **doc)
{
	struct msg_params m;
	msg_params(&m, id, "in", "ContractNegotiation", NULL, status, NULL, reply);
	const char *p[] = { id }, *q[] = { id, counterpart_pid, m.p[4], m.p[6] };
	PGresult *neg = NULL, *ack = NULL;
	struct agora_db_step steps[] = {
		{ .stmt = "neg_lock", .n = 1, .params = p, .res = &neg },
		{ .stmt = "neg_ack", .n = 4, .params = q, .res = &ack },
	};
	agora_db_exec_steps(c, steps, 2);
	msg_params_free(&m);
	enum agora_qs qs = json_row(neg, "neg_lock", doc, NULL);
	enum agora_qs qa = qs == AGORA_QS_ONE ? agora_db_status(ack, "neg_ack") : qs;
	PQclear(ack);
	if (qa < 0 || qa == AGORA_QS_CONFLICT) {
		json_decref(*doc);
		*doc = NULL;
		return qa;
	}
	return qs;
}

enum agora_qs
db_neg_msg_find(PGconn *c, const char *neg_id, const char *hash, long *status, json_t **reply)
{
	const char *p[] = { neg_id, hash };
	return found_row(agora_db_exec(c, "neg_msg_find", 2, p), status, reply);
}

static struct agora_db_step
one_param_step(const char *stmt, const char *const *params, PGresult **res)
{
	return (struct agora_db_step){ .stmt = stmt, .n = 1, .params = params, .res = res };
}

enum agora_qs
db_neg_lock_find(PGconn *c, const char *id, const char *hash, json_t **doc, enum agora_qs *found,
		 long *status, json_t **reply, struct db_neg_also *also)
{
	const char *p[] = { id }, *q[] = { id, hash }, *a[] = { also ? also->new_agreement : NULL };
	PGresult *neg = NULL, *msg = NULL, *res[2] = { NULL, NULL };
	struct agora_db_step steps[4] = {
		{ .stmt = "neg_lock", .n = 1, .params = p, .res = &neg },
		{ .stmt = "neg_msg_find", .n = 2, .params = q, .res = &msg },
	};
	size_t n = 2;
	if (also && also->agreement) {
		steps[n++] = one_param_step("agr_of_neg", p, &res[0]);
	} else if (also && also->new_agreement) {
		steps[n++] = one_param_step("agr_id_lock", a, &res[0]);
		steps[n++] = one_param_step("agr_exists", a, &res[1]);
	}
	*found = AGORA_QS_NONE;
	agora_db_exec_steps(c, steps, n);
	enum agora_qs qs = json_row(neg, "neg_lock", doc, NULL);
	if (qs == AGORA_QS_ONE)
		*found = found_row(msg, status, reply);
	else
		PQclear(msg);
	bool use = qs == AGORA_QS_ONE && *found == AGORA_QS_NONE;
	if (also && also->agreement) {
		also->qs = AGORA_QS_NONE;
		if (use) {
			also->qs = json_row(res[0], "agr_of_neg", also->agreement, NULL);
			res[0] = NULL;	/* cleared */
		}
	} else if (also && also->new_agreement) {
		also->qs = !use ? AGORA_QS_NONE : agora_db_status(res[0], "agr_id_lock");
		if (also->qs == AGORA_QS_ONE)
			also->qs = agora_db_status(res[1], "agr_exists");
	}
	PQclear(res[0]);
	PQclear(res[1]);
	return qs;
}

enum agora_qs
db_neg_request_lookup(PGconn *c, const char *counterpart, const char *pid, const char *offer_id,
		      const char *dataset_id, const json_t *requested, json_t **doc,
		      enum agora_qs *offer_found, json_t **offer)
{
	char *rq = dump(requested);
	const char *p[] = { "provider", counterpart, pid }, *q[] = { offer_id, dataset_id, rq };
	PGresult *lock = NULL, *neg = NULL, *off = NULL;
	struct agora_db_step steps[] = {
		{ .stmt = "neg_request_lock", .n = 2, .params = p + 1, .res = &lock },
		{ .stmt = "neg_by_counterpart", .n = 3, .params = p, .res = &neg },
		{ .stmt = "offer_for_request", .n = 3, .params = q, .res = &off },
	};
	*offer_found = AGORA_QS_NONE;
	agora_db_exec_steps(c, steps, dataset_id ? 3 : 2);
	free(rq);
	/* A deadlock or serialization failure of the lock stays one (retry). */
	enum agora_qs qs = agora_db_status(lock, "neg_request_lock");
	PQclear(lock);
	if (qs == AGORA_QS_ONE)
		qs = json_row(neg, "neg_by_counterpart", doc, NULL);
	else
		PQclear(neg);
	if (qs == AGORA_QS_NONE && dataset_id)
		*offer_found = json_row(off, "offer_for_request", offer, NULL);
	else
		PQclear(off);
	return qs;
}

/* db_neg_msg_find's reading of result r (cleared). */
static enum agora_qs
found_row(PGresult *r, long *status, json_t **reply)
{
	enum agora_qs qs = agora_db_status(r, "neg_msg_find");
	if (qs == AGORA_QS_ONE && PQntuples(r) == 0)
		qs = AGORA_QS_NONE;
	if (qs == AGORA_QS_ONE) {
		*status = strtol(PQgetvalue(r, 0, 0), NULL, 10);
		*reply = PQgetisnull(r, 0, 1) ? NULL : json_loads(PQgetvalue(r, 0, 1), 0, NULL);
	}
	PQclear(r);
	return qs;
}

enum agora_qs
db_neg_list(const char *state, const char *role, const char *after, int limit, json_t **out)
{
	char l[16];
	snprintf(l, sizeof l, "%d", limit);
	const char *p[] = { state, role, after, l };
	return get_json(NULL, "neg_list", 4, p, out, NULL);
}

enum agora_qs
db_neg_read_whole(const char *id, json_t **doc, json_t **history, json_t **agreement)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { id };
	PGresult *r[3] = { NULL };
	struct agora_db_step steps[] = {
		{ .stmt = "neg_get", .n = 1, .params = p, .res = &r[0] },
		{ .stmt = "neg_history", .n = 1, .params = p, .res = &r[1] },
		{ .stmt = "agr_of_neg", .n = 1, .params = p, .res = &r[2] },
	};
	agora_db_exec_steps(c, steps, 3);
	*doc = *history = *agreement = NULL;
	enum agora_qs qs = json_row(r[0], "neg_get", doc, NULL);
	enum agora_qs qh = json_row(r[1], "neg_history", history, NULL);
	enum agora_qs qa = json_row(r[2], "agr_of_neg", agreement, NULL);
	if (qs == AGORA_QS_ONE && (qh < 0 || qa < 0))
		qs = qh < 0 ? qh : qa;
	if (qs != AGORA_QS_ONE) {
		json_decref(*doc);
		json_decref(*history);
		json_decref(*agreement);
		*doc = *history = *agreement = NULL;
	}
	return qs;
}

enum agora_qs
db_agreement_add(PGconn *c, const char *id, const char *neg_id, const json_t *agreement,
		 const json_t *signatures)
{
	char *a = dump(agreement), *s = dump(signatures);
	const char *p[] = { id, neg_id, a, s };
	enum agora_qs qs = agora_db_defer(c, "agr_insert", 4, p, NULL, NULL);
	free(a);
	free(s);
	return qs;
}

enum agora_qs
db_agreement_update(PGconn *c, const char *id, const json_t *signatures, const json_t *receipt)
{
	char *s = dump(signatures), *rc = dump(receipt);
	const char *p[] = { id, s, rc };
	enum agora_qs qs = agora_db_in_tx() ? agora_db_defer(c, "agr_update_row", 3, p, NULL, NULL)
					    : run(c, "agr_update", 3, p);
	free(s);
	free(rc);
	return qs;
}

enum agora_qs
db_agreement_get(PGconn *c, const char *id, json_t **doc, char **owner)
{
	const char *p[] = { id, NULL };
	char *o = NULL;
	enum agora_qs qs = get_json(c, "agr_get", 1, p, doc, &o);
	if (owner)
		*owner = o;
	else
		free(o);
	return qs;
}

enum agora_qs
db_agreement_list(const char *after, int limit, json_t **out)
{
	char l[16];
	snprintf(l, sizeof l, "%d", limit);
	const char *p[] = { after, l };
	return get_json(NULL, "agr_list", 2, p, out, NULL);
}

enum agora_qs
db_agreement_revoke(PGconn *c, const char *id)
{
	const char *p[] = { id };
	PGresult *r = agora_db_exec(c, "agr_revoke", 1, p);
	enum agora_qs qs = agora_db_status(r, "agr_revoke");
	if (qs == AGORA_QS_ONE && strtol(PQcmdTuples(r), NULL, 10) == 0)
		qs = AGORA_QS_NONE;
	PQclear(r);
	return qs;
}
