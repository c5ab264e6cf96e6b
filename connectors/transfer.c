/* transfer.c — see transfer.h and docs/TRANSFER.md.
 *
 * The same shape as negotiation.c: parse (lib/dsp_transfer), then one
 * transaction that locks the row, answers a repeated identical message
 * from the history, checks the party and the transition (the one table in
 * lib/dsp_transfer.c), does the kind's work, and writes the new state, the
 * history row and the outgoing message together.  Refusals write nothing.
 */
#include "transfer.h"

#include "crypto.h"
#include "db_connector.h"
#include "db_transfers.h"
#include "jcs.h"
#include "log.h"
#include "negotiation.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PURPOSE_MAX 200
#define QUERY_MAX 4096

static const char *
sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool
str_eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static void
answer(struct tr_answer *a, unsigned status, json_t *body)
{
	json_decref(a->body);
	a->status = status;
	a->body = body;
}

static void
answer_error(struct tr_answer *a, unsigned status, const char *ppid, const char *cpid,
	     const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void
answer_error(struct tr_answer *a, unsigned status, const char *ppid, const char *cpid,
	     const char *code, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	const char *rs[] = { reason };
	answer(a, status, agora_dspt_error_new(ppid, cpid, code, rs, 1));
}

/* The path segment names of the messages. */
static const char *const what_of[AGORA_DSPT_KIND_COUNT] = {
	[AGORA_DSPT_MSG_REQUEST] = "request",
	[AGORA_DSPT_MSG_START] = "start",
	[AGORA_DSPT_MSG_SUSPENSION] = "suspension",
	[AGORA_DSPT_MSG_COMPLETION] = "completion",
	[AGORA_DSPT_MSG_TERMINATION] = "termination",
};

/* ---- sending ------------------------------------------------------------------ */

/* Queue msg for the broker, checked by our own parser first, and record it. */
static enum agora_qs
send_msg(PGconn *db, const json_t *t, const char *url, const json_t *msg)
{
	struct agora_dspt_msg m;
	char err[256];
	if (!msg || agora_dspt_parse_message(msg, &m, err, sizeof err) != 0) {
		agora_logf(AGORA_LOG_ERROR, "transfer", "refusing to send an invalid message for %s: %s",
			   sget(t, "id"), msg ? err : "not built");
		return AGORA_QS_HARD_ERROR;
	}
	char *kind = xasprintf("transfer_%s", what_of[m.kind]);
	enum agora_qs qs = agora_outbox_put(db, kind, url, sget(t, "counterpart"), msg, sget(t, "id"));
	free(kind);
	if (qs != AGORA_QS_ONE)
		return qs;
	return db_ctr_msg_add(db, sget(t, "id"), "out", agora_dspt_kind_type(m.kind), NULL, 0, NULL, msg);
}

/* The message of kind k from us to the broker about t, at its URL: the
 * consumer writes to {broker}/dsp/transfers/{brokerPid}/…, the provider to
 * {callback}/transfers/{brokerPid}/….  NONE when the broker's pid is not
 * known yet (the request's acknowledgement brings it). */
static enum agora_qs
send_kind(PGconn *db, const struct connector *c, const json_t *t, enum agora_dspt_kind k,
	  const char *code, const char *reason, json_t *extra)
{
	const char *cp = sget(t, "counterpart_pid"), *id = sget(t, "id");
	if (!cp) {
		json_decref(extra);
		return AGORA_QS_NONE;
	}
	bool provider = str_eq(sget(t, "role"), "provider");
	const char *ppid = provider ? id : cp, *cpid = provider ? cp : id;
	const char *rs[] = { reason };
	json_t *msg = NULL;
	switch (k) {
	case AGORA_DSPT_MSG_START:
		msg = agora_dspt_start_new(ppid, cpid, NULL);
		break;
	case AGORA_DSPT_MSG_COMPLETION:
		msg = agora_dspt_completion_new(ppid, cpid);
		break;
	case AGORA_DSPT_MSG_SUSPENSION:
		msg = agora_dspt_suspension_new(ppid, cpid, code, rs, reason ? 1 : 0);
		break;
	case AGORA_DSPT_MSG_TERMINATION:
		msg = agora_dspt_termination_new(ppid, cpid, code, rs, reason ? 1 : 0);
		break;
	default:
		break;
	}
	if (msg && extra)
		json_object_update(msg, extra);
	json_decref(extra);
	char *s = agora_path_segment(cp);
	char *url = provider ? xasprintf("%s/transfers/%s/%s", sget(t, "callback"), s, what_of[k])
			     : xasprintf("%s/dsp/transfers/%s/%s", c->broker_url, s, what_of[k]);
	enum agora_qs qs = send_msg(db, t, url, msg);
	free(url);
	free(s);
	json_decref(msg);
	return qs;
}

/* ---- provider: the broker's request ------------------------------------------------ */

struct req_ctx {
	struct connector *c;
	const json_t *body;
	const struct agora_dspt_msg *m;
	const char *hash;
	struct tr_answer *out;
	bool sent;
};

static enum agora_qs
request_tx(PGconn *db, void *arg)
{
	struct req_ctx *x = arg;
	const struct agora_dspt_msg *m = x->m;
	struct connector *c = x->c;
	json_t *t = NULL, *ag = NULL, *ds = NULL, *addr = NULL, *start = NULL;
	char *owner = NULL, *endpoint = NULL, *url = NULL, *seg = NULL;
	x->sent = false;
	enum agora_qs qs = db_ctr_by_counterpart(db, "provider", c->broker_url, m->consumer_pid, true, &t);
	if (qs < 0)
		goto out;
	if (qs == AGORA_QS_ONE) {
		long status;
		json_t *reply = NULL;
		qs = db_ctr_msg_find(db, sget(t, "id"), x->hash, &status, &reply);
		if (qs == AGORA_QS_ONE)
			answer(x->out, (unsigned)status, reply);
		else if (qs == AGORA_QS_NONE)
			answer_error(x->out, 400, sget(t, "id"), m->consumer_pid, "invalid_transition",
				     "transfer %s for consumerPid '%s' exists already (state %s)",
				     sget(t, "id"), m->consumer_pid, sget(t, "state"));
		qs = qs < 0 ? qs : AGORA_QS_NONE;
		goto out;
	}
	const char *consumer = sget(x->body, "agora:consumer");
	if ((qs = db_ctr_agreement(db, m->agreement_id, &ag)) < 0)
		goto out;
	if (qs == AGORA_QS_NONE || !str_eq(sget(ag, "role"), "provider") ||
	    (consumer && !str_eq(consumer, sget(ag, "consumer")))) {
		answer_error(x->out, 404, "", m->consumer_pid, "not_found",
			     "no agreement '%.300s' of this connector with that consumer", m->agreement_id);
		qs = AGORA_QS_NONE;
		goto out;
	}
	if (!str_eq(sget(ag, "status"), "active")) {
		answer_error(x->out, 400, "", m->consumer_pid, "agreement_revoked",
			     "agreement '%.300s' was revoked", m->agreement_id);
		qs = AGORA_QS_NONE;
		goto out;
	}
	bool push = str_eq(m->format, AGORA_DSPT_PUSH);
	if (!push && !str_eq(m->format, AGORA_DSPT_PULL)) {
		answer_error(x->out, 400, "", m->consumer_pid, "unsupported_format",
			     "format must be %s or %s", AGORA_DSPT_PULL, AGORA_DSPT_PUSH);
		qs = AGORA_QS_NONE;
		goto out;
	}
	if (push && (!m->endpoint || !agora_dspt_endpoint_property(m->data_address, "authorization"))) {
		answer_error(x->out, 400, "", m->consumer_pid, "invalid_message",
			     "a push needs a dataAddress with an endpoint and an authorization property");
		qs = AGORA_QS_NONE;
		goto out;
	}
	if (db_dataset_get(sget(ag, "datasetId"), &ds, &owner) != AGORA_QS_ONE) {
		answer_error(x->out, 400, "", m->consumer_pid, "not_found",
			     "the agreement's dataset '%.300s' is no longer offered", sget(ag, "datasetId"));
		qs = AGORA_QS_NONE;
		goto out;
	}
	const json_t *q = json_object_get(x->body, "agora:query");
	char qd[512];
	enum agora_error qe = dataplane_check_query(ds, json_object_get(ag, "agreement"),
						    json_is_object(q) ? q : NULL, qd, sizeof qd);
	if (qe != AGORA_E__COUNT) {
		answer_error(x->out, 400, "", m->consumer_pid, agora_error_info(qe)->symbol, "%s", qd);
		qs = AGORA_QS_NONE;
		goto out;
	}
	char id[46];
	agora_urn_uuid(id);
	json_decref(t);
	t = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id, "role",
		      "provider", "counterpart", c->broker_url, "counterpart_pid", m->consumer_pid,
		      "callback", m->callback_address, "agreement_id", m->agreement_id, "dataset_id",
		      sget(ag, "datasetId"), "consumer", sget(ag, "consumer"), "provider",
		      c->svc.participant_id, "format", m->format, "state", "STARTED", "owner",
		      owner ? owner : "");
	const char *purpose = sget(x->body, "agora:purpose");
	const json_t *query = json_object_get(x->body, "agora:query");
	if (purpose)
		json_object_set_new(t, "purpose", json_string(purpose));
	if (json_is_object(query))
		json_object_set(t, "query", (json_t *)query);
	if (push)
		json_object_set(t, "push_address", (json_t *)m->data_address);
	if ((qs = db_ctr_insert(db, t)) != AGORA_QS_ONE)
		goto out;
	answer(x->out, 201, agora_dspt_process_new(id, m->consumer_pid, AGORA_DSPT_REQUESTED));
	if ((qs = db_ctr_msg_add(db, id, "in", agora_dspt_kind_type(m->kind), x->hash, 201, x->out->body,
				 x->body)) != AGORA_QS_ONE)
		goto out;
	/* Ready at once: the start carries our data endpoint for a pull. */
	if (!push) {
		seg = agora_path_segment(id);
		endpoint = xasprintf("%s/data/%s", c->svc.public_url, seg);
		addr = agora_dspt_data_address_new(endpoint, NULL, NULL, 0);
	}
	start = agora_dspt_start_new(id, m->consumer_pid, addr);
	free(seg);
	seg = agora_path_segment(m->consumer_pid);
	url = xasprintf("%s/transfers/%s/start", m->callback_address, seg);
	qs = send_msg(db, t, url, start);
	x->sent = qs == AGORA_QS_ONE;
out:
	json_decref(t);
	json_decref(ag);
	json_decref(ds);
	json_decref(addr);
	json_decref(start);
	free(owner);
	free(endpoint);
	free(url);
	free(seg);
	return qs;
}

void
transfer_receive_request(struct connector *c, const char *sender, const json_t *body,
			 struct tr_answer *out)
{
	struct agora_dspt_msg m;
	char err[256], hash[65];
	out->status = 0;
	out->body = NULL;
	if (!str_eq(sender, c->broker_url)) {
		/* Consumers come through the broker: to anyone else nothing exists. */
		answer_error(out, 404, "", sget(body, "consumerPid"), "not_found",
			     "transfers are requested through the broker");
		return;
	}
	if (agora_dspt_parse_message(body, &m, err, sizeof err) != 0) {
		answer_error(out, 400, "", sget(body, "consumerPid"), "invalid_message", "%s", err);
		return;
	}
	if (m.kind != AGORA_DSPT_MSG_REQUEST) {
		answer_error(out, 400, "", m.consumer_pid, "invalid_message",
			     "this endpoint takes a TransferRequestMessage");
		return;
	}
	if (!agora_jcs_sha256_hex(body, hash)) {
		answer_error(out, 400, "", m.consumer_pid, "invalid_message",
			     "the message cannot be canonicalised");
		return;
	}
	struct req_ctx x = { c, body, &m, hash, out, false };
	enum agora_qs qs = agora_db_tx(request_tx, &x, false);
	if ((qs < 0 || qs == AGORA_QS_CONFLICT) && !out->body)
		answer_error(out, 503, "", m.consumer_pid, "unavailable", "retry later");
	else if (x.sent)
		agora_outbox_wake(c->outbox);
	if (!out->body)
		answer_error(out, 503, "", m.consumer_pid, "unavailable", "retry later");
}

/* ---- later messages ----------------------------------------------------------------- */

struct rx_ctx {
	struct connector *c;
	enum agora_dsp_role role;	/* ours */
	const char *pid;
	const json_t *body;
	const struct agora_dspt_msg *m;
	const char *hash;
	struct tr_answer *out;
	bool wake, cancel;
};

/* Consumer: the start brings where to pull from and the token. */
static void
take_address(json_t *t, const json_t *addr, const char *endpoint)
{
	if (!addr || !endpoint)
		return;
	json_object_set_new(t, "endpoint", json_string(endpoint));
	const char *tok = agora_dspt_endpoint_property(addr, "authorization");
	const char *exp = agora_dspt_endpoint_property(addr, "agora:expiresAt");
	const char *sc = agora_dspt_endpoint_property(addr, "agora:senderConstrained");
	if (tok)
		json_object_set_new(t, "token", json_string(tok));
	if (exp)
		json_object_set_new(t, "token_expires_at", json_string(exp));
	json_object_set_new(t, "sender_constrained", json_boolean(str_eq(sc, "true")));
}

static enum agora_qs
rx_tx(PGconn *db, void *arg)
{
	struct rx_ctx *x = arg;
	const struct agora_dspt_msg *m = x->m;
	json_t *t = NULL;
	x->wake = x->cancel = false;
	const char *role_name = agora_dsp_role_name(x->role);
	const char *ppid = x->role == AGORA_DSP_PROVIDER ? x->pid : m->provider_pid;
	const char *cpid = x->role == AGORA_DSP_PROVIDER ? m->consumer_pid : x->pid;
	enum agora_qs qs = db_ctr_get(db, x->pid, true, &t);
	if (qs < 0)
		goto out;
	if (qs == AGORA_QS_NONE || !str_eq(sget(t, "role"), role_name)) {
		answer_error(x->out, 404, ppid, cpid, "not_found", "no transfer '%s'", x->pid);
		qs = AGORA_QS_NONE;
		goto out;
	}
	const char *theirs = x->role == AGORA_DSP_PROVIDER ? m->consumer_pid : m->provider_pid;
	const char *known = sget(t, "counterpart_pid");
	if (known && !str_eq(known, theirs)) {
		answer_error(x->out, 400, ppid, cpid, "invalid_message", "%s does not match the transfer",
			     x->role == AGORA_DSP_PROVIDER ? "consumerPid" : "providerPid");
		qs = AGORA_QS_NONE;
		goto out;
	}
	long status;
	json_t *reply = NULL;
	if ((qs = db_ctr_msg_find(db, x->pid, x->hash, &status, &reply)) < 0)
		goto out;
	if (qs == AGORA_QS_ONE) {
		answer(x->out, (unsigned)status, reply);
		qs = AGORA_QS_NONE;
		goto out;
	}
	enum agora_dspt_state from, to;
	enum agora_dsp_role sender = x->role == AGORA_DSP_PROVIDER ? AGORA_DSP_CONSUMER : AGORA_DSP_PROVIDER;
	agora_dspt_state_from_name(sget(t, "state"), &from);
	if (!agora_dspt_transition(from, m->kind, sender, &to)) {
		answer_error(x->out, 400, ppid, cpid, "invalid_transition",
			     "%s from the %s is not allowed in state %s", agora_dspt_kind_type(m->kind),
			     agora_dsp_role_name(sender), sget(t, "state"));
		qs = AGORA_QS_NONE;
		goto out;
	}
	if (!known)
		json_object_set_new(t, "counterpart_pid", json_string(theirs));
	switch (m->kind) {
	case AGORA_DSPT_MSG_START:
		if (x->role == AGORA_DSP_CONSUMER)
			take_address(t, m->data_address, m->endpoint);
		x->wake = true;
		break;
	case AGORA_DSPT_MSG_COMPLETION: {
		const char *sha = sget(x->body, "agora:sha256");
		if (x->role == AGORA_DSP_CONSUMER && sha && !sget(t, "expected_sha256"))
			json_object_set_new(t, "expected_sha256", json_string(sha));
		/* Received already (a push): what the provider says it sent
		 * decides whether what we got is verified. */
		if (x->role == AGORA_DSP_CONSUMER && sget(t, "sha256") && sget(t, "expected_sha256"))
			json_object_set_new(t, "verified",
					    json_boolean(str_eq(sget(t, "sha256"), sget(t, "expected_sha256"))));
		x->wake = true;
		break;
	}
	case AGORA_DSPT_MSG_SUSPENSION:
	case AGORA_DSPT_MSG_TERMINATION: {
		char *why = NULL;
		size_t i;
		json_t *v;
		struct agora_buf b;
		agora_buf_init(&b);
		json_array_foreach(m->reason, i, v) {
			if (b.len)
				agora_buf_puts(&b, "; ");
			agora_buf_puts(&b, json_is_string(v) ? json_string_value(v) : "?");
		}
		agora_buf_append(&b, "", 0);
		why = agora_buf_steal(&b);
		json_object_set_new(t, "code", json_string(m->code ? m->code
					       : m->kind == AGORA_DSPT_MSG_SUSPENSION ? "suspended"
										   : "terminated"));
		json_object_set_new(t, "reason", json_sprintf("%s by the %s%s%s",
							      m->kind == AGORA_DSPT_MSG_SUSPENSION
								      ? "suspended" : "terminated",
							      agora_dsp_role_name(sender), *why ? ": " : "",
							      why));
		free(why);
		x->cancel = true;
		break;
	}
	default:
		break;
	}
	json_object_set_new(t, "state", json_string(agora_dspt_state_name(to)));
	if ((qs = db_ctr_update(db, t)) != AGORA_QS_ONE)
		goto out;
	answer(x->out, 200, agora_dspt_process_new(ppid, cpid, to));
	qs = db_ctr_msg_add(db, x->pid, "in", agora_dspt_kind_type(m->kind), x->hash, 200, x->out->body,
			    x->body);
out:
	json_decref(t);
	return qs;
}

void
transfer_receive(struct connector *c, enum agora_dsp_role role, const char *pid, const char *sender,
		 const json_t *body, enum agora_dspt_kind kind, struct tr_answer *out)
{
	struct agora_dspt_msg m;
	char err[256], hash[65];
	out->status = 0;
	out->body = NULL;
	if (!str_eq(sender, c->broker_url)) {
		answer_error(out, 404, sget(body, "providerPid"), sget(body, "consumerPid"), "not_found",
			     "no transfer '%s'", pid);
		return;
	}
	if (agora_dspt_parse_message(body, &m, err, sizeof err) != 0) {
		answer_error(out, 400, sget(body, "providerPid"), sget(body, "consumerPid"),
			     "invalid_message", "%s", err);
		return;
	}
	const char *path_pid = role == AGORA_DSP_PROVIDER ? m.provider_pid : m.consumer_pid;
	if (m.kind != kind) {
		answer_error(out, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "this endpoint takes a %s", agora_dspt_kind_type(kind));
		return;
	}
	if (!str_eq(path_pid, pid)) {
		answer_error(out, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "%s does not match the path",
			     role == AGORA_DSP_PROVIDER ? "providerPid" : "consumerPid");
		return;
	}
	if (!agora_jcs_sha256_hex(body, hash)) {
		answer_error(out, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "the message cannot be canonicalised");
		return;
	}
	struct rx_ctx x = { c, role, pid, body, &m, hash, out, false, false };
	enum agora_qs qs = agora_db_tx(rx_tx, &x, false);
	if ((qs < 0 || qs == AGORA_QS_CONFLICT) && !out->body)
		answer_error(out, 503, m.provider_pid, m.consumer_pid, "unavailable", "retry later");
	if (!out->body)
		answer_error(out, 503, m.provider_pid, m.consumer_pid, "unavailable", "retry later");
	if (qs == AGORA_QS_ONE && x.cancel)
		dataplane_cancel(pid);
	if (qs == AGORA_QS_ONE && x.wake)
		dataplane_wake(pid);
}

/* ---- consumer: asking ---------------------------------------------------------------- */

struct create_ctx {
	struct connector *c;
	const char *agreement_id, *format, *purpose, *owner;
	const json_t *query;
	bool auto_pull;
	char *id;
	enum agora_error err;
	char *detail;
	size_t dlen;
};

static enum agora_qs
create_tx(PGconn *db, void *arg)
{
	struct create_ctx *x = arg;
	struct connector *c = x->c;
	json_t *ag = NULL, *t = NULL, *addr = NULL, *req = NULL;
	char *cb = NULL, *url = NULL, *secret = NULL, *pushurl = NULL, *seg = NULL;
	enum agora_qs qs = db_ctr_agreement(db, x->agreement_id, &ag);
	if (qs < 0)
		goto out;
	if (qs == AGORA_QS_NONE || !str_eq(sget(ag, "role"), "consumer")) {
		x->err = AGORA_E_AGREEMENT_NOT_FOUND;
		snprintf(x->detail, x->dlen, "no agreement '%.200s' in which this connector is the consumer",
			 x->agreement_id);
		qs = AGORA_QS_NONE;
		goto out;
	}
	if (!str_eq(sget(ag, "status"), "active")) {
		x->err = AGORA_E_AGREEMENT_NOT_ACTIVE;
		snprintf(x->detail, x->dlen, "agreement '%.200s' is %s", x->agreement_id, sget(ag, "status"));
		qs = AGORA_QS_NONE;
		goto out;
	}
	agora_urn_uuid(x->id);
	bool push = str_eq(x->format, AGORA_DSPT_PUSH);
	t = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", x->id, "role", "consumer",
		      "counterpart", c->broker_url, "agreement_id", x->agreement_id, "dataset_id",
		      sget(ag, "datasetId"), "consumer", c->svc.participant_id, "provider",
		      sget(ag, "provider"), "format", x->format, "state", "REQUESTED");
	if (x->owner)
		json_object_set_new(t, "owner", json_string(x->owner));
	json_object_set_new(t, "auto_pull", json_boolean(x->auto_pull));
	if (x->purpose)
		json_object_set_new(t, "purpose", json_string(x->purpose));
	if (x->query)
		json_object_set(t, "query", (json_t *)x->query);
	if (push) {
		/* The provider pushes to us with a secret only this transfer knows. */
		uint8_t raw[32], h[32];
		char hex[65];
		agora_random(raw, sizeof raw);
		secret = agora_b64url_encode(raw, sizeof raw);
		agora_sha256(secret, strlen(secret), h);
		agora_hex(h, sizeof h, hex);
		json_object_set_new(t, "push_secret_sha256", json_string(hex));
		seg = agora_path_segment(x->id);
		pushurl = xasprintf("%s/push/%s", c->svc.public_url, seg);
		const char *names[] = { "authorization", "authType" };
		const char *values[] = { secret, "bearer" };
		addr = agora_dspt_data_address_new(pushurl, names, values, 2);
	}
	if ((qs = db_ctr_insert(db, t)) != AGORA_QS_ONE)
		goto out;
	cb = xasprintf("%s/dsp/callback", c->svc.public_url);
	req = agora_dspt_request_new(x->id, x->agreement_id, x->format, cb, addr);
	if (req && x->purpose)
		json_object_set_new(req, "agora:purpose", json_string(x->purpose));
	if (req && x->query)
		json_object_set(req, "agora:query", (json_t *)x->query);
	url = xasprintf("%s/dsp/transfers/request", c->broker_url);
	qs = send_msg(db, t, url, req);
out:
	json_decref(ag);
	json_decref(t);
	json_decref(addr);
	json_decref(req);
	free(cb);
	free(url);
	free(secret);
	free(pushurl);
	free(seg);
	return qs;
}

enum agora_error
transfer_create(struct connector *c, const char *agreement_id, const char *format,
		const char *purpose, const json_t *query, bool auto_pull, const char *owner,
		char id[static 46], char *detail, size_t dlen)
{
	if (!agreement_id || strlen(agreement_id) > AGORA_DSP_IRI_MAX) {
		snprintf(detail, dlen, "agreementId must be a string of at most %d bytes", AGORA_DSP_IRI_MAX);
		return AGORA_E_INVALID_REQUEST;
	}
	if (!str_eq(format, AGORA_DSPT_PULL) && !str_eq(format, AGORA_DSPT_PUSH)) {
		snprintf(detail, dlen, "format must be \"%s\" or \"%s\"", AGORA_DSPT_PULL, AGORA_DSPT_PUSH);
		return AGORA_E_INVALID_REQUEST;
	}
	if (purpose && (!*purpose || strlen(purpose) > PURPOSE_MAX)) {
		snprintf(detail, dlen, "purpose must be a string of 1 to %d bytes", PURPOSE_MAX);
		return AGORA_E_INVALID_REQUEST;
	}
	if (query) {
		char *q = json_dumps(query, JSON_COMPACT);
		size_t n = q ? strlen(q) : 0;
		free(q);
		if (!json_is_object(query) || n > QUERY_MAX) {
			snprintf(detail, dlen, "query must be an object of at most %d bytes", QUERY_MAX);
			return AGORA_E_INVALID_REQUEST;
		}
	}
	struct create_ctx x = { c, agreement_id, format, purpose, owner, query, auto_pull, id,
				AGORA_E__COUNT, detail, dlen };
	enum agora_qs qs = agora_db_tx(create_tx, &x, false);
	if (x.err != AGORA_E__COUNT)
		return x.err;
	if (qs != AGORA_QS_ONE) {
		snprintf(detail, dlen, "the database is unavailable");
		return AGORA_E_UNAVAILABLE;
	}
	agora_outbox_wake(c->outbox);
	return AGORA_E__COUNT;
}

/* ---- actions -------------------------------------------------------------------------- */

struct act_ctx {
	struct connector *c;
	const char *id;
	enum tr_action a;
	const char *code, *reason;
	enum agora_error err;
	bool cancel, wake;
};

static enum agora_qs
act_tx(PGconn *db, void *arg)
{
	struct act_ctx *x = arg;
	json_t *t = NULL;
	enum agora_qs qs = db_ctr_get(db, x->id, true, &t);
	if (qs != AGORA_QS_ONE) {
		if (qs == AGORA_QS_NONE)
			x->err = AGORA_E_TRANSFER_NOT_FOUND;
		goto out;
	}
	static const enum agora_dspt_kind kinds[] = { [TR_SUSPEND] = AGORA_DSPT_MSG_SUSPENSION,
						      [TR_RESUME] = AGORA_DSPT_MSG_START,
						      [TR_TERMINATE] = AGORA_DSPT_MSG_TERMINATION,
						      [TR_COMPLETE] = AGORA_DSPT_MSG_COMPLETION };
	enum agora_dsp_role me = str_eq(sget(t, "role"), "provider") ? AGORA_DSP_PROVIDER
								      : AGORA_DSP_CONSUMER;
	enum agora_dspt_state from, to;
	agora_dspt_state_from_name(sget(t, "state"), &from);
	if (!agora_dspt_transition(from, kinds[x->a], me, &to)) {
		x->err = AGORA_E_TRANSFER_STATE;
		qs = AGORA_QS_NONE;
		goto out;
	}
	json_object_set_new(t, "state", json_string(agora_dspt_state_name(to)));
	if (x->a == TR_SUSPEND || x->a == TR_TERMINATE) {
		json_object_set_new(t, "code", json_string(x->code ? x->code
								   : x->a == TR_SUSPEND ? "suspended"
											: "terminated"));
		json_object_set_new(t, "reason", json_sprintf("%s here%s%s",
							      x->a == TR_SUSPEND ? "suspended" : "terminated",
							      x->reason ? ": " : "", x->reason ? x->reason : ""));
		x->cancel = true;
	}
	if (x->a == TR_RESUME)
		x->wake = true;
	if ((qs = db_ctr_update(db, t)) != AGORA_QS_ONE)
		goto out;
	json_t *extra = NULL;
	if (x->a == TR_COMPLETE && sget(t, "sha256"))
		extra = json_pack("{s:O, s:s}", "agora:bytes", json_object_get(t, "bytes"), "agora:sha256",
				  sget(t, "sha256"));
	qs = send_kind(db, x->c, t, kinds[x->a], x->code, x->reason, extra);
	if (qs == AGORA_QS_NONE)
		qs = AGORA_QS_ONE;	/* sent once the broker's pid is known */
out:
	json_decref(t);
	return qs;
}

enum agora_error
transfer_act(struct connector *c, const char *id, enum tr_action a, const char *code,
	     const char *reason)
{
	struct act_ctx x = { c, id, a, code, reason, AGORA_E__COUNT, false, false };
	enum agora_qs qs = agora_db_tx(act_tx, &x, false);
	if (x.err != AGORA_E__COUNT)
		return x.err;
	if (qs != AGORA_QS_ONE)
		return AGORA_E_UNAVAILABLE;
	agora_outbox_wake(c->outbox);
	if (x.cancel)
		dataplane_cancel(id);
	if (x.wake)
		dataplane_wake(id);
	return AGORA_E__COUNT;
}

/* ---- delivery results ------------------------------------------------------------------- */

static void
transfer_on_result(struct connector *c, PGconn *db, const char *kind, const char *ref, long status,
		   const json_t *reply, enum agora_outbox_outcome outcome)
{
	json_t *t = NULL;
	if (!ref || db_ctr_get(db, ref, true, &t) != AGORA_QS_ONE)
		return;
	struct agora_dspt_reply rp;
	char err[256];
	bool parsed = reply && agora_dspt_parse_reply(reply, &rp, err, sizeof err) == 0;
	bool is_request = !strcmp(kind, "transfer_request");
	enum agora_dspt_state st;
	agora_dspt_state_from_name(sget(t, "state"), &st);
	if (outcome == AGORA_OUTBOX_DELIVERED) {
		if (is_request && !sget(t, "counterpart_pid") && parsed && !rp.is_error && rp.provider_pid) {
			json_object_set_new(t, "counterpart_pid", json_string(rp.provider_pid));
			db_ctr_update(db, t);
			db_ctr_msg_add(db, ref, "in", "TransferProcess", NULL, status, NULL, reply);
			if (st == AGORA_DSPT_TERMINATED)
				send_kind(db, c, t, AGORA_DSPT_MSG_TERMINATION, sget(t, "code"),
					  sget(t, "reason"), NULL);
		} else if (!strcmp(kind, "transfer_start") && str_eq(sget(t, "role"), "provider")) {
			dataplane_wake(ref);	/* a push may go now */
		}
	} else {
		char reason[512];
		const char *code = outcome == AGORA_OUTBOX_GAVE_UP ? "unreachable" : "refused";
		if (parsed && rp.is_error) {
			const char *r0 = json_string_value(json_array_get(rp.reason, 0));
			if (rp.code)
				code = rp.code;
			snprintf(reason, sizeof reason, "%s", r0 ? r0 : "refused by the broker");
		} else {
			snprintf(reason, sizeof reason, "the broker %s the %s (HTTP %ld)",
				 outcome == AGORA_OUTBOX_GAVE_UP ? "could not be reached with" : "refused",
				 kind, status);
		}
		agora_logf(AGORA_LOG_WARN, "transfer", "%s: %s: %s", ref, kind, reason);
		if (reply && json_is_object(reply))
			db_ctr_msg_add(db, ref, "in", parsed && rp.is_error ? "TransferError" : "reply", NULL,
				       status, NULL, reply);
		if (!agora_dspt_is_final(st) && strcmp(kind, "transfer_termination") != 0) {
			json_object_set_new(t, "state", json_string("TERMINATED"));
			json_object_set_new(t, "code", json_string(code));
			json_object_set_new(t, "reason", json_string(reason));
			db_ctr_update(db, t);
			dataplane_cancel(ref);
		}
	}
	json_decref(t);
}

void
connector_outbox_result(void *ctx, PGconn *db, const char *kind, const char *ref, const json_t *sent,
			long status, const json_t *reply, enum agora_outbox_outcome outcome)
{
	if (kind && !strncmp(kind, "transfer_", 9))
		transfer_on_result(ctx, db, kind, ref, status, reply, outcome);
	else
		negotiation_on_result(ctx, db, kind, ref, sent, status, reply, outcome);
}
