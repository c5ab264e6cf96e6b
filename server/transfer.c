/* transfer.c — see transfer.h and docs/TRANSFER.md. */
#include "transfer.h"
#include "catalog.h"
#include "crypto.h"
#include "db_catalog.h"
#include "db_negotiations.h"
#include "db_participants.h"
#include "db_transfers.h"
#include "dsp_transfer.h"
#include "jcs.h"
#include "jose.h"
#include "ledger.h"
#include "log.h"
#include "policy.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEG_CONSUMER "consumer"
#define LEG_PROVIDER "provider"
#define MAX_REASONS 8
#define PURPOSE_MAX 200
#define QUERY_MAX 4096
#define RECHECK_SECONDS 30
#define KIND(k) (1u << (k))

static unsigned token_lifetime = 300;

void
broker_transfer_token_lifetime(unsigned seconds)
{
	token_lifetime = seconds;
}

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

/* url without trailing slashes + suffix (heap). */
static char *
url_join(const char *base, const char *suffix)
{
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	return xasprintf("%.*s%s", (int)n, base, suffix);
}

/* ---- answers ------------------------------------------------------------------ */

struct answer {
	unsigned status;
	json_t *body;
};

static void
answer(struct answer *a, unsigned status, json_t *body)
{
	json_decref(a->body);
	a->status = status;
	a->body = body;
}

static void
answer_error(struct answer *a, unsigned status, const char *ppid, const char *cpid,
	     const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void
answer_error(struct answer *a, unsigned status, const char *ppid, const char *cpid,
	     const char *code, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	const char *r[] = { buf };
	answer(a, status, agora_dspt_error_new(ppid, cpid, code, r, 1));
}

/* ---- the policy in the transfer scope ----------------------------------------- */

struct scope {
	const char *consumer;
	const json_t *attributes;	/* the consumer's registered attributes */
	long long count;		/* uses including this one */
	const char *purpose;		/* NULL: none declared */
	const char *format;		/* delivery channel: HttpData-PULL | HttpData-PUSH */
	const char *media_type;		/* the dataset's, for fileFormat; NULL: unknown */
	const char *agreed_at;		/* the agreement's timestamp */
};

/* The agreement as a policy the engine takes: without the members that
 * name it rather than restrict it. */
static struct agora_policy *
compile_agreement(const json_t *agreement)
{
	json_t *p = json_deep_copy(agreement);
	static const char *const drop[] = { "@context", "@id", "target", "timestamp" };
	for (size_t i = 0; i < ARRAY_LEN(drop); i++)
		json_object_del(p, drop[i]);
	struct agora_policy *pol = agora_policy_parse(p, catalog_policy_config(), NULL);
	json_decref(p);
	return pol;
}

/* Does the agreement permit this use now?  Failing constraints' messages
 * go to reasons (an array); the duties of a permit to *duties (new). */
static bool
permits(const json_t *agreement, const struct scope *s, json_t *reasons, json_t **duties)
{
	struct catalog_attrs a;
	catalog_attrs_from_json(&a, s->attributes);
	struct agora_policy *pol = compile_agreement(agreement);
	if (duties)
		*duties = NULL;
	if (!pol) {
		json_array_append_new(reasons, json_string("the agreement's policy cannot be evaluated"));
		return false;
	}
	struct agora_policy_request req = {
		.action = "use",
		.assignee = s->consumer,
		.attrs = a.n ? a.attrs : NULL,
		.n_attrs = a.n,
		.now_ms = agora_now() * 1000,
		.has_now = true,
		.count = s->count,
		.has_count = true,
	};
	int64_t start;
	if (s->agreed_at && agora_time_parse_rfc3339(s->agreed_at, &start)) {
		req.agreement_start_ms = start;
		req.has_agreement_start = true;
	}
	if (s->purpose)
		req.purpose = (struct agora_policy_strs){ &s->purpose, 1 };
	if (s->format)
		req.delivery_channel = (struct agora_policy_strs){ &s->format, 1 };
	if (s->media_type)
		req.file_format = (struct agora_policy_strs){ &s->media_type, 1 };
	struct agora_policy_decision dec;
	bool ok = agora_policy_decide(pol, &req, &dec) == AGORA_POLICY_PERMIT;
	json_t *d = agora_policy_decision_to_json(&dec);
	if (ok && duties) {
		*duties = json_incref(json_object_get(d, "duties"));
		if (!*duties)
			*duties = json_array();
	}
	if (!ok) {
		if (!catalog_decision_reasons(d, reasons, MAX_REASONS))
			json_array_append_new(reasons,
					      json_string("the agreement does not permit this use"));
	}
	json_decref(d);
	agora_policy_free(pol);
	return ok;
}

/* "a; b; c" of a reasons array (heap). */
static char *
joined(const json_t *reasons)
{
	struct agora_buf b;
	agora_buf_init(&b);
	size_t i;
	json_t *v;
	json_array_foreach(reasons, i, v) {
		if (b.len)
			agora_buf_puts(&b, "; ");
		agora_buf_puts(&b, json_is_string(v) ? json_string_value(v) : "?");
	}
	agora_buf_append(&b, "", 0);
	return agora_buf_steal(&b);
}

/* ---- outgoing messages --------------------------------------------------------- */

/* Queue body for the leg's party at url and record it; in the caller's
 * transaction.  Everything we send is checked by our own parser first. */
static enum agora_qs
send_msg(PGconn *c, const json_t *t, const char *leg, const char *url, const json_t *body)
{
	struct agora_dspt_msg m;
	char err[256], sha[65];
	if (!body || agora_dspt_parse_message(body, &m, err, sizeof err) != 0 ||
	    !agora_jcs_sha256_hex(body, sha)) {
		agora_logf(AGORA_LOG_ERROR, "transfer", "refusing to send an invalid message for %s: %s",
			   sget(t, "id"), body ? err : "not built");
		return AGORA_QS_HARD_ERROR;
	}
	const char *type = agora_dspt_kind_type(m.kind);
	char *kind = xasprintf("transfer %s %s", leg, type);
	const char *audience = !strcmp(leg, LEG_CONSUMER) ? sget(t, "consumer_id") : sget(t, "provider_id");
	enum agora_qs qs = agora_outbox_put(c, kind, url, audience, body, sget(t, "id"));
	free(kind);
	if (qs == AGORA_QS_ONE)
		qs = db_btr_message_add(c, sget(t, "id"), "out", leg, type, body, sha, 0, NULL);
	return qs;
}

/* To the consumer: {callback}/transfers/{consumerPid}/{what}. */
static enum agora_qs
to_consumer(PGconn *c, const json_t *t, const char *what, const json_t *body)
{
	char *s = agora_path_segment(sget(t, "consumer_pid"));
	char *sfx = xasprintf("/transfers/%s/%s", s, what);
	char *url = url_join(sget(t, "callback"), sfx);
	enum agora_qs qs = send_msg(c, t, LEG_CONSUMER, url, body);
	free(s);
	free(sfx);
	free(url);
	return qs;
}

/* To the provider: {endpoint}/dsp/transfers/{providerPid}/{what}; nothing
 * while its pid is unknown (the request's acknowledgement brings it). */
static enum agora_qs
to_provider(PGconn *c, const json_t *t, const char *what, const json_t *body)
{
	if (!sget(t, "provider_pid") || !sget(t, "provider_endpoint"))
		return AGORA_QS_ONE;
	char *s = agora_path_segment(sget(t, "provider_pid"));
	char *sfx = xasprintf("/dsp/transfers/%s/%s", s, what);
	char *url = url_join(sget(t, "provider_endpoint"), sfx);
	enum agora_qs qs = send_msg(c, t, LEG_PROVIDER, url, body);
	free(s);
	free(sfx);
	free(url);
	return qs;
}

static enum agora_qs
terminate_both(PGconn *c, json_t *t, const char *code, const char *reason, bool consumer,
	       bool provider)
{
	const char *r[] = { reason };
	json_object_set_new(t, "state", json_string("TERMINATED"));
	json_object_set_new(t, "code", json_string(code));
	json_object_set_new(t, "reason", json_string(reason));
	enum agora_qs qs = db_btr_update(c, t);
	if (qs == AGORA_QS_ONE && consumer) {
		json_t *m = agora_dspt_termination_new(sget(t, "id"), sget(t, "consumer_pid"), code, r, 1);
		qs = to_consumer(c, t, "termination", m);
		json_decref(m);
	}
	if (qs == AGORA_QS_ONE && provider && sget(t, "provider_pid")) {
		json_t *m = agora_dspt_termination_new(sget(t, "provider_pid"), sget(t, "leg_pid"), code,
						       r, 1);
		qs = to_provider(c, t, "termination", m);
		json_decref(m);
	}
	return qs;
}

/* ---- access tokens --------------------------------------------------------------- */

/* The RFC 7638 thumbprint of participant's first key (for cnf.jkt). */
static bool
participant_jkt(const json_t *participant, char out[44])
{
	const json_t *keys = json_object_get(json_object_get(participant, "jwks"), "keys");
	return json_array_size(keys) > 0 && agora_jwk_thumbprint(json_array_get(keys, 0), out);
}

/* Does the agreement ask for sender-constrained tokens ("agora:
 * senderConstrained": true on the policy or on a permission)? */
static bool
sender_constrained(const json_t *agreement)
{
	if (json_is_true(json_object_get(agreement, "agora:senderConstrained")))
		return true;
	size_t i;
	json_t *p;
	json_array_foreach(json_object_get(agreement, "permission"), i, p)
		if (json_is_true(json_object_get(p, "agora:senderConstrained")))
			return true;
	return false;
}

/* A broker-signed at+jwt for transfer row t (DESIGN.md §6); *exp set.
 * NULL when the consumer's key is needed and unknown. */
static char *
mint_token(const struct broker *b, const json_t *t, const json_t *agreement, long long *exp)
{
	long long now = (long long)agora_now();
	char jti[46];
	agora_urn_uuid(jti);
	*exp = now + (long long)token_lifetime;
	json_t *claims = json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:I, s:s, s:s, s:s, s:s}", "iss",
				   b->svc.public_url, "sub", sget(t, "consumer_id"), "aud",
				   sget(t, "provider_id"), "client_id", sget(t, "consumer_id"), "iat",
				   (json_int_t)now, "nbf", (json_int_t)now, "exp", (json_int_t)*exp,
				   "jti", jti, "agreement", sget(t, "agreement_id"), "transfer",
				   sget(t, "provider_pid"), "dataset",
				   sget(t, "dataset_id") ? sget(t, "dataset_id") : "");
	if (!claims)
		return NULL;
	if (sender_constrained(agreement)) {
		json_t *p = NULL;
		char jkt[44];
		if (db_participant_get(sget(t, "consumer_id"), &p) != AGORA_QS_ONE ||
		    !participant_jkt(p, jkt)) {
			json_decref(p);
			json_decref(claims);
			return NULL;
		}
		json_decref(p);
		json_object_set_new(claims, "cnf", json_pack("{s:s}", "jkt", jkt));
	}
	char *tok = agora_jwt_sign(b->svc.key, b->svc.kid, "at+jwt", claims);
	json_decref(claims);
	return tok;
}

/* The data address the consumer pulls from: the provider's endpoint with
 * our token. */
static json_t *
pull_address(const struct broker *b, const json_t *t, const char *endpoint, const char *token,
	     long long exp, bool constrained)
{
	char expires[32], *refresh, *sfx, *seg = agora_path_segment(sget(t, "id"));
	agora_time_rfc3339((int64_t)exp, expires);
	sfx = xasprintf("/api/v1/transfers/%s/token", seg);
	refresh = url_join(b->svc.public_url, sfx);
	const char *names[] = { "authorization", "authType", "agora:expiresAt", "agora:tokenEndpoint",
				"agora:senderConstrained" };
	const char *values[] = { token, "bearer", expires, refresh, constrained ? "true" : "false" };
	json_t *a = agora_dspt_data_address_new(endpoint, names, values, ARRAY_LEN(names));
	free(seg);
	free(sfx);
	free(refresh);
	return a;
}

static bool
is_hex64(const char *s)
{
	size_t n = strspn(s, "0123456789abcdef");
	return n == 64 && s[n] == 0;
}

/* ---- the consumer's request ------------------------------------------------------ */

struct req_ctx {
	const struct broker *b;
	const char *sender;
	const json_t *msg;
	const struct agora_dspt_msg *m;
	const char *sha;
	const json_t *consumer;		/* the sender's registry entry */
	struct answer *out;
	bool sent;
};

static const char *
ext_str(const json_t *msg, const char *name)
{
	return sget(msg, name);
}

static enum agora_qs
request_tx(PGconn *c, void *ctx)
{
	struct req_ctx *x = ctx;
	const struct agora_dspt_msg *m = x->m;
	json_t *t = NULL, *reasons = json_array(), *fwd = NULL, *ds = NULL;
	struct db_neg n;
	char *reason = NULL, *url = NULL, *cb = NULL;
	x->sent = false;
	enum agora_qs qs = db_btr_get(c, DB_BTR_BY_CONSUMER, x->sender, m->consumer_pid, true, &t);
	memset(&n, 0, sizeof n);
	n.ledger_index = -1;
	if (qs < 0)
		goto out;
	if (qs == AGORA_QS_ONE) {
		int status;
		json_t *reply = NULL;
		qs = db_btr_message_seen(c, sget(t, "id"), agora_dspt_kind_type(m->kind), x->sha,
					 &status, &reply);
		if (qs == AGORA_QS_ONE)
			answer(x->out, (unsigned)status, reply);
		else if (qs == AGORA_QS_NONE)
			answer_error(x->out, 400, sget(t, "id"), m->consumer_pid, "invalid_transition",
				     "transfer %s with consumerPid '%s' exists already (state %s)",
				     sget(t, "id"), m->consumer_pid, sget(t, "state"));
		qs = qs < 0 ? qs : AGORA_QS_NONE;
		goto out;
	}
	/* The agreement: signed by the broker, the sender its consumer.  Its
	 * row lock serialises the counting of uses. */
	qs = db_bneg_get(c, DB_NEG_BY_AGREEMENT, m->agreement_id, NULL, true, &n);
	if (qs < 0)
		goto out;
	if (qs == AGORA_QS_NONE || n.ledger_index < 0 || !str_eq(n.consumer_id, x->sender) ||
	    n.state != AGORA_DSP_STATE_FINALIZED) {
		answer_error(x->out, 404, "", m->consumer_pid, "not_found",
			     "no finalized agreement '%.300s' of yours", m->agreement_id);
		qs = AGORA_QS_NONE;
		goto out;
	}
	long long uses = 0;
	char *overdue = NULL;
	const char *code = NULL;
	bool push = str_eq(m->format, AGORA_DSPT_PUSH);
	if (!push && !str_eq(m->format, AGORA_DSPT_PULL)) {
		code = "unsupported_format";
		json_array_append_new(reasons, json_sprintf("format must be %s or %s", AGORA_DSPT_PULL,
							    AGORA_DSPT_PUSH));
	} else if (push && !m->endpoint) {
		code = "invalid_message";
		json_array_append_new(reasons,
				      json_string("a push transfer needs a dataAddress with an endpoint"));
	} else if (n.revoked) {
		code = "agreement_revoked";
		json_array_append_new(reasons, json_sprintf("agreement '%s' was revoked", n.agreement_id));
	} else if ((qs = db_btr_overdue(c, n.agreement_id, &overdue)) < 0) {
		goto out;
	} else if (overdue) {
		code = "duty_overdue";
		json_array_append_new(reasons,
				      json_sprintf("the delete duty of transfer %s under this agreement is "
						   "overdue: no deletion was reported", overdue));
		free(overdue);
	} else if ((qs = db_btr_uses(c, n.agreement_id, &uses)) < 0) {
		goto out;
	} else {
		db_catalog_dataset_get(n.dataset_id, x->sender, &ds);
		struct scope s = {
			.consumer = x->sender,
			.attributes = json_object_get(x->consumer, "attributes"),
			.count = uses + 1,
			.purpose = ext_str(x->msg, "agora:purpose"),
			.format = m->format,
			.media_type = sget(ds, "mediaType"),
			.agreed_at = sget(n.agreement, "timestamp"),
		};
		if (!permits(n.agreement, &s, reasons, NULL))
			code = "policy_denied";
	}
	char id[46], leg[46];
	agora_urn_uuid(id);
	agora_urn_uuid(leg);
	reason = code ? joined(reasons) : NULL;
	const json_t *query = json_object_get(x->msg, "agora:query");
	t = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id", id,
		      "consumer_id", x->sender, "consumer_pid", m->consumer_pid, "callback",
		      m->callback_address, "agreement_id", n.agreement_id, "negotiation_id", n.id,
		      "dataset_id", n.dataset_id, "provider_id", n.provider_id, "provider_endpoint",
		      n.provider_endpoint, "leg_pid", leg, "format", m->format, "state",
		      code ? "TERMINATED" : "REQUESTED");
	if (ext_str(x->msg, "agora:purpose"))
		json_object_set_new(t, "purpose", json_string(ext_str(x->msg, "agora:purpose")));
	if (json_is_object(query))
		json_object_set(t, "query", (json_t *)query);
	if (push)
		json_object_set(t, "push_address", (json_t *)m->data_address);
	if (code) {
		json_object_set_new(t, "code", json_string(code));
		json_object_set_new(t, "reason", json_string(reason));
	} else {
		json_object_set_new(t, "use_number", json_integer(uses + 1));
	}
	if ((qs = db_btr_insert(c, t)) != AGORA_QS_ONE)
		goto out;
	if (code) {
		answer(x->out, 400, agora_dspt_error_new(id, m->consumer_pid, code, NULL, 0));
		json_object_set(x->out->body, "reason", reasons);
	} else {
		answer(x->out, 201, agora_dspt_process_new(id, m->consumer_pid, AGORA_DSPT_REQUESTED));
	}
	qs = db_btr_message_add(c, id, "in", LEG_CONSUMER, agora_dspt_kind_type(m->kind), x->msg,
				x->sha, (int)x->out->status, x->out->body);
	if (qs != AGORA_QS_ONE || code)
		goto out;
	/* To the provider: our own consumerPid and callback, who the consumer
	 * is, and the consumer's query and purpose. */
	cb = url_join(x->b->svc.public_url, "/dsp/callback");
	fwd = agora_dspt_request_new(leg, n.agreement_id, m->format, cb, push ? m->data_address : NULL);
	if (fwd) {
		json_object_set_new(fwd, "agora:consumer", json_string(x->sender));
		if (json_is_object(query))
			json_object_set(fwd, "agora:query", (json_t *)query);
		if (ext_str(x->msg, "agora:purpose"))
			json_object_set_new(fwd, "agora:purpose",
					    json_string(ext_str(x->msg, "agora:purpose")));
	}
	url = url_join(n.provider_endpoint, "/dsp/transfers/request");
	qs = send_msg(c, t, LEG_PROVIDER, url, fwd);
	x->sent = qs == AGORA_QS_ONE;
out:
	db_bneg_cleanup(&n);
	json_decref(t);
	json_decref(reasons);
	json_decref(fwd);
	json_decref(ds);
	free(reason);
	free(url);
	free(cb);
	return qs;
}

static enum MHD_Result
reply(struct agora_req *r, struct answer *a)
{
	return agora_reply_json(r, a->status, a->body);
}

enum MHD_Result
broker_dsp_transfer_request(struct agora_req *r)
{
	struct answer a = { 0, NULL };
	struct agora_dspt_msg m;
	char err[256], sha[65];
	json_t *consumer = NULL;
	if (agora_dspt_parse_message(r->json, &m, err, sizeof err) != 0) {
		answer_error(&a, 400, "", sget(r->json, "consumerPid"), "invalid_message", "%s", err);
		return reply(r, &a);
	}
	const char *purpose = sget(r->json, "agora:purpose");
	const json_t *query = json_object_get(r->json, "agora:query");
	char *qtext = query ? json_dumps(query, JSON_COMPACT) : NULL;
	size_t qlen = qtext ? strlen(qtext) : 0;
	free(qtext);
	if (m.kind != AGORA_DSPT_MSG_REQUEST) {
		answer_error(&a, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "this endpoint takes a TransferRequestMessage");
	} else if ((json_object_get(r->json, "agora:purpose") && !purpose) ||
		   (purpose && (strlen(purpose) == 0 || strlen(purpose) > PURPOSE_MAX))) {
		answer_error(&a, 400, "", m.consumer_pid, "invalid_message",
			     "agora:purpose must be a string of 1 to %d bytes", PURPOSE_MAX);
	} else if (query && (!json_is_object(query) || qlen > QUERY_MAX)) {
		answer_error(&a, 400, "", m.consumer_pid, "invalid_message",
			     "agora:query must be an object of at most %d bytes", QUERY_MAX);
	} else if (!agora_jcs_sha256_hex(r->json, sha)) {
		answer_error(&a, 400, "", m.consumer_pid, "invalid_message",
			     "the message cannot be canonicalised");
	} else if (db_participant_get(r->participant, &consumer) != AGORA_QS_ONE) {
		answer_error(&a, 503, "", m.consumer_pid, "unavailable", "the registry is unavailable");
	} else {
		struct req_ctx x = { r->app, r->participant, r->json, &m, sha, consumer, &a, false };
		enum agora_qs qs = agora_db_tx(request_tx, &x, false);
		if ((qs < 0 || qs == AGORA_QS_CONFLICT) && !a.body)
			answer_error(&a, 503, "", m.consumer_pid, "unavailable",
				     "the broker cannot process this now; retry later");
		else if (x.sent)
			agora_outbox_wake(broker_outbox());
	}
	json_decref(consumer);
	if (!a.body)
		answer_error(&a, 503, "", m.consumer_pid, "unavailable", "retry later");
	return reply(r, &a);
}

enum MHD_Result
broker_dsp_transfer_get(struct agora_req *r)
{
	struct answer a = { 0, NULL };
	json_t *t = NULL;
	const char *pid = agora_req_param(r, "pid");
	enum agora_qs qs = db_btr_get(NULL, DB_BTR_BY_ID, pid, NULL, false, &t);
	enum agora_dspt_state st;
	if (qs < 0)
		answer_error(&a, 503, pid, "", "unavailable", "the database is unavailable");
	else if (qs == AGORA_QS_NONE || !str_eq(sget(t, "consumer_id"), r->participant) ||
		 !agora_dspt_state_from_name(sget(t, "state"), &st))
		answer_error(&a, 404, pid, "", "not_found", "no transfer '%s' of yours", pid);
	else
		answer(&a, 200, agora_dspt_process_new(pid, sget(t, "consumer_pid"), st));
	json_decref(t);
	return reply(r, &a);
}

/* ---- later messages on either leg --------------------------------------------------- */

struct msg_ctx {
	const struct broker *b;
	bool from_consumer;
	const char *sender;
	const char *pid;
	const json_t *msg;
	const struct agora_dspt_msg *m;
	const char *sha;
	struct answer *out;
	bool sent;
};

/* The pids of our answers on the message's leg. */
static const char *
my_ppid(const struct msg_ctx *x, const json_t *t)
{
	return x->from_consumer ? sget(t, "id") : sget(t, "provider_pid");
}

static const char *
my_cpid(const struct msg_ctx *x, const json_t *t)
{
	return x->from_consumer ? sget(t, "consumer_pid") : sget(t, "leg_pid");
}

/* The provider started (or resumed): the consumer gets the data address
 * with a token (pull), and the first start goes to the ledger. */
static enum agora_qs
on_provider_start(PGconn *c, struct msg_ctx *x, json_t *t)
{
	struct db_neg n;
	enum agora_qs qs = db_bneg_get(c, DB_NEG_BY_AGREEMENT, sget(t, "agreement_id"), NULL, false, &n);
	if (qs != AGORA_QS_ONE) {
		db_bneg_cleanup(&n);
		return qs < 0 ? qs : AGORA_QS_HARD_ERROR;
	}
	json_t *addr = NULL;
	bool pull = str_eq(sget(t, "format"), AGORA_DSPT_PULL);
	if (pull) {
		const char *ep = x->m->endpoint, *base = sget(t, "provider_endpoint");
		if (!ep || !base || strncmp(ep, base, strlen(base)) != 0) {
			answer_error(x->out, 400, my_ppid(x, t), my_cpid(x, t), "invalid_message",
				     "a pull start needs a dataAddress whose endpoint is on the provider's "
				     "registered endpoint");
			db_bneg_cleanup(&n);
			return AGORA_QS_NONE;
		}
		long long exp;
		char *tok = mint_token(x->b, t, n.agreement, &exp);
		if (!tok) {
			db_bneg_cleanup(&n);
			return AGORA_QS_HARD_ERROR;
		}
		addr = pull_address(x->b, t, ep, tok, exp, sender_constrained(n.agreement));
		free(tok);
	}
	if (json_is_null(json_object_get(t, "started_index")) || !json_object_get(t, "started_index")) {
		json_t *entry = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "transferId",
					  sget(t, "id"), "agreementId", sget(t, "agreement_id"),
					  "datasetId", sget(t, "dataset_id"), "consumer",
					  sget(t, "consumer_id"), "provider", sget(t, "provider_id"),
					  "format", sget(t, "format"), "useNumber",
					  json_object_get(t, "use_number"));
		long long idx = -1;
		qs = ledger_append(c, LEDGER_KIND_TRANSFER_STARTED, entry, &idx);
		json_decref(entry);
		if (qs != AGORA_QS_ONE) {
			json_decref(addr);
			db_bneg_cleanup(&n);
			return qs;
		}
		json_object_set_new(t, "started_index", json_integer(idx));
	}
	json_t *fwd = agora_dspt_start_new(sget(t, "id"), sget(t, "consumer_pid"), addr);
	qs = to_consumer(c, t, "start", fwd);
	json_decref(fwd);
	json_decref(addr);
	db_bneg_cleanup(&n);
	return qs;
}

/* The provider completed: what it says it sent goes to the ledger and to
 * the consumer, which compares it with what it received. */
static enum agora_qs
on_provider_completion(PGconn *c, struct msg_ctx *x, json_t *t)
{
	const json_t *bytes = json_object_get(x->msg, "agora:bytes");
	const char *sha = sget(x->msg, "agora:sha256");
	json_t *fwd = agora_dspt_completion_new(sget(t, "id"), sget(t, "consumer_pid"));
	enum agora_qs qs = AGORA_QS_ONE;
	const json_t *prev = json_object_get(t, "provider_report");
	if (json_is_object(prev)) {
		/* Reported already (POST /api/v1/usage/report): pass it on. */
		json_object_set(fwd, "agora:bytes", json_object_get(prev, "bytes"));
		json_object_set(fwd, "agora:sha256", json_object_get(prev, "sha256"));
		json_object_set(fwd, "agora:ledgerIndex", json_object_get(prev, "index"));
	} else if (json_is_integer(bytes) && json_integer_value(bytes) >= 0 && sha && is_hex64(sha)) {
		json_t *entry = json_pack("{s:s, s:s, s:s, s:O, s:s}", "transferId", sget(t, "id"),
					  "agreementId", sget(t, "agreement_id"), "reportedBy",
					  "provider", "bytes", bytes, "sha256", sha);
		long long idx = -1;
		qs = ledger_append(c, LEDGER_KIND_TRANSFER_COMPLETED, entry, &idx);
		json_decref(entry);
		json_object_set_new(t, "provider_report",
				    json_pack("{s:O, s:s, s:I}", "bytes", bytes, "sha256", sha, "index",
					      (json_int_t)idx));
		json_object_set(fwd, "agora:bytes", (json_t *)bytes);
		json_object_set_new(fwd, "agora:sha256", json_string(sha));
		json_object_set_new(fwd, "agora:ledgerIndex", json_integer(idx));
	}
	if (qs == AGORA_QS_ONE)
		qs = to_consumer(c, t, "completion", fwd);
	json_decref(fwd);
	return qs;
}

/* Forward a message to the other leg, with the other leg's pids. */
static enum agora_qs
forward(PGconn *c, struct msg_ctx *x, json_t *t, const char *what)
{
	const struct agora_dspt_msg *m = x->m;
	const char *r[8];
	size_t nr = 0;
	for (size_t i = 0; i < json_array_size(m->reason) && nr < ARRAY_LEN(r); i++)
		if (json_is_string(json_array_get(m->reason, i)))
			r[nr++] = json_string_value(json_array_get(m->reason, i));
	json_t *fwd = NULL;
	bool to_prov = x->from_consumer;
	const char *ppid = to_prov ? sget(t, "provider_pid") : sget(t, "id");
	const char *cpid = to_prov ? sget(t, "leg_pid") : sget(t, "consumer_pid");
	if (!ppid)
		return AGORA_QS_ONE;
	switch (m->kind) {
	case AGORA_DSPT_MSG_START:
		fwd = agora_dspt_start_new(ppid, cpid, NULL);
		break;
	case AGORA_DSPT_MSG_COMPLETION:
		fwd = agora_dspt_completion_new(ppid, cpid);
		break;
	case AGORA_DSPT_MSG_SUSPENSION:
		fwd = agora_dspt_suspension_new(ppid, cpid, m->code, r, nr);
		break;
	case AGORA_DSPT_MSG_TERMINATION:
		fwd = agora_dspt_termination_new(ppid, cpid, m->code, r, nr);
		break;
	default:
		return AGORA_QS_HARD_ERROR;
	}
	enum agora_qs qs = to_prov ? to_provider(c, t, what, fwd) : to_consumer(c, t, what, fwd);
	json_decref(fwd);
	return qs;
}

static enum agora_qs
message_tx(PGconn *c, void *ctx)
{
	struct msg_ctx *x = ctx;
	const struct agora_dspt_msg *m = x->m;
	json_t *t = NULL;
	x->sent = false;
	enum agora_qs qs = db_btr_get(c, x->from_consumer ? DB_BTR_BY_ID : DB_BTR_BY_LEG, x->pid, NULL,
				      true, &t);
	if (qs < 0)
		goto out;
	const char *party = x->from_consumer ? sget(t, "consumer_id") : sget(t, "provider_id");
	if (qs == AGORA_QS_NONE || !str_eq(party, x->sender)) {
		answer_error(x->out, 404, m->provider_pid, m->consumer_pid, "not_found",
			     "no transfer '%s' of yours", x->pid);
		qs = AGORA_QS_NONE;
		goto out;
	}
	const char *other = x->from_consumer ? m->consumer_pid : m->provider_pid;
	const char *known = x->from_consumer ? sget(t, "consumer_pid") : sget(t, "provider_pid");
	if (known && !str_eq(other, known)) {
		answer_error(x->out, 400, my_ppid(x, t), my_cpid(x, t), "invalid_message",
			     "%s does not match the transfer",
			     x->from_consumer ? "consumerPid" : "providerPid");
		qs = AGORA_QS_NONE;
		goto out;
	}
	int status;
	json_t *prev = NULL;
	qs = db_btr_message_seen(c, sget(t, "id"), agora_dspt_kind_type(m->kind), x->sha, &status, &prev);
	if (qs < 0)
		goto out;
	if (qs == AGORA_QS_ONE) {
		answer(x->out, (unsigned)status, prev);
		qs = AGORA_QS_NONE;
		goto out;
	}
	enum agora_dspt_state from, to;
	enum agora_dsp_role role = x->from_consumer ? AGORA_DSP_CONSUMER : AGORA_DSP_PROVIDER;
	agora_dspt_state_from_name(sget(t, "state"), &from);
	if (!agora_dspt_transition(from, m->kind, role, &to)) {
		answer_error(x->out, 400, my_ppid(x, t), my_cpid(x, t), "invalid_transition",
			     "%s from the %s is not allowed in state %s", agora_dspt_kind_type(m->kind),
			     agora_dsp_role_name(role), sget(t, "state"));
		qs = AGORA_QS_NONE;
		goto out;
	}
	if (!known && !x->from_consumer)
		json_object_set_new(t, "provider_pid", json_string(m->provider_pid));
	static const char *const paths[] = { [AGORA_DSPT_MSG_START] = "start",
					     [AGORA_DSPT_MSG_SUSPENSION] = "suspension",
					     [AGORA_DSPT_MSG_COMPLETION] = "completion",
					     [AGORA_DSPT_MSG_TERMINATION] = "termination" };
	if (!x->from_consumer && m->kind == AGORA_DSPT_MSG_START)
		qs = on_provider_start(c, x, t);
	else if (!x->from_consumer && m->kind == AGORA_DSPT_MSG_COMPLETION)
		qs = on_provider_completion(c, x, t);
	else
		qs = forward(c, x, t, paths[m->kind]);
	if (qs != AGORA_QS_ONE || x->out->body)
		goto out;
	json_object_set_new(t, "state", json_string(agora_dspt_state_name(to)));
	if (m->kind == AGORA_DSPT_MSG_TERMINATION) {
		char *why = joined(m->reason);
		json_object_set_new(t, "code", json_string(m->code ? m->code : "terminated"));
		json_object_set_new(t, "reason", json_sprintf("terminated by the %s%s%s",
							      agora_dsp_role_name(role), *why ? ": " : "",
							      why));
		free(why);
	}
	answer(x->out, 200, agora_dspt_process_new(my_ppid(x, t), my_cpid(x, t), to));
	if ((qs = db_btr_update(c, t)) != AGORA_QS_ONE)
		goto out;
	qs = db_btr_message_add(c, sget(t, "id"), "in", x->from_consumer ? LEG_CONSUMER : LEG_PROVIDER,
				agora_dspt_kind_type(m->kind), x->msg, x->sha, 200, x->out->body);
	x->sent = qs == AGORA_QS_ONE;
out:
	json_decref(t);
	return qs;
}

static enum MHD_Result
on_message(struct agora_req *r, bool from_consumer, enum agora_dspt_kind kind)
{
	struct answer a = { 0, NULL };
	struct agora_dspt_msg m;
	char err[256], sha[65];
	const char *pid = agora_req_param(r, "pid");
	if (agora_dspt_parse_message(r->json, &m, err, sizeof err) != 0) {
		answer_error(&a, 400, sget(r->json, "providerPid"), sget(r->json, "consumerPid"),
			     "invalid_message", "%s", err);
		return reply(r, &a);
	}
	const char *path_pid = from_consumer ? m.provider_pid : m.consumer_pid;
	if (m.kind != kind) {
		answer_error(&a, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "this endpoint takes a %s", agora_dspt_kind_type(kind));
	} else if (!str_eq(path_pid, pid)) {
		answer_error(&a, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "%s does not match the path", from_consumer ? "providerPid" : "consumerPid");
	} else if (!agora_jcs_sha256_hex(r->json, sha)) {
		answer_error(&a, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "the message cannot be canonicalised");
	} else {
		struct msg_ctx x = { r->app, from_consumer, r->participant, pid, r->json, &m, sha, &a,
				     false };
		enum agora_qs qs = agora_db_tx(message_tx, &x, false);
		if ((qs < 0 || qs == AGORA_QS_CONFLICT) && !a.body)
			answer_error(&a, 503, m.provider_pid, m.consumer_pid, "unavailable",
				     "the broker cannot process this now; retry later");
		else if (x.sent)
			agora_outbox_wake(broker_outbox());
	}
	if (!a.body)
		answer_error(&a, 503, m.provider_pid, m.consumer_pid, "unavailable", "retry later");
	return reply(r, &a);
}

enum MHD_Result
broker_dsp_transfer_start(struct agora_req *r)
{
	return on_message(r, true, AGORA_DSPT_MSG_START);
}

enum MHD_Result
broker_dsp_transfer_completion(struct agora_req *r)
{
	return on_message(r, true, AGORA_DSPT_MSG_COMPLETION);
}

enum MHD_Result
broker_dsp_transfer_suspension(struct agora_req *r)
{
	return on_message(r, true, AGORA_DSPT_MSG_SUSPENSION);
}

enum MHD_Result
broker_dsp_transfer_termination(struct agora_req *r)
{
	return on_message(r, true, AGORA_DSPT_MSG_TERMINATION);
}

enum MHD_Result
broker_dsp_cb_transfer_start(struct agora_req *r)
{
	return on_message(r, false, AGORA_DSPT_MSG_START);
}

enum MHD_Result
broker_dsp_cb_transfer_completion(struct agora_req *r)
{
	return on_message(r, false, AGORA_DSPT_MSG_COMPLETION);
}

enum MHD_Result
broker_dsp_cb_transfer_suspension(struct agora_req *r)
{
	return on_message(r, false, AGORA_DSPT_MSG_SUSPENSION);
}

enum MHD_Result
broker_dsp_cb_transfer_termination(struct agora_req *r)
{
	return on_message(r, false, AGORA_DSPT_MSG_TERMINATION);
}

/* ---- tokens and usage ------------------------------------------------------------ */

/* Is transfer t (with its agreement's negotiation n) allowed to move data
 * now?  false with code and reasons otherwise; *duties on a permit. */
static bool
allowed_now(const json_t *t, const struct db_neg *n, const char **code, json_t *reasons,
	    json_t **duties)
{
	*duties = NULL;
	if (n->revoked) {
		*code = "agreement_revoked";
		json_array_append_new(reasons, json_sprintf("agreement '%s' was revoked", n->agreement_id));
		return false;
	}
	if (!str_eq(sget(t, "state"), "STARTED")) {
		*code = "transfer_not_started";
		json_array_append_new(reasons, json_sprintf("the transfer is %s", sget(t, "state")));
		return false;
	}
	char *overdue = NULL;
	if (db_btr_overdue(NULL, n->agreement_id, &overdue) == AGORA_QS_ONE && overdue) {
		*code = "duty_overdue";
		json_array_append_new(reasons, json_sprintf("the delete duty of transfer %s is overdue",
							    overdue));
		free(overdue);
		return false;
	}
	json_t *cons = NULL, *ds = NULL;
	db_participant_get(sget(t, "consumer_id"), &cons);
	db_catalog_dataset_get(sget(t, "dataset_id"), sget(t, "consumer_id"), &ds);
	struct scope s = {
		.consumer = sget(t, "consumer_id"),
		.attributes = json_object_get(cons, "attributes"),
		.count = json_integer_value(json_object_get(t, "use_number")),
		.purpose = sget(t, "purpose"),
		.format = sget(t, "format"),
		.media_type = sget(ds, "mediaType"),
		.agreed_at = sget(n->agreement, "timestamp"),
	};
	bool ok = permits(n->agreement, &s, reasons, duties);
	if (!ok)
		*code = "policy_denied";
	json_decref(cons);
	json_decref(ds);
	return ok;
}

enum MHD_Result
broker_transfer_token(struct agora_req *r)
{
	const struct broker *b = r->app;
	const char *id = agora_req_param(r, "id");
	json_t *t = NULL, *reasons = json_array(), *duties = NULL;
	struct db_neg n;
	memset(&n, 0, sizeof n);
	enum MHD_Result ret;
	enum agora_qs qs = db_btr_get(NULL, DB_BTR_BY_ID, id, NULL, false, &t);
	if (qs < 0) {
		ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
		goto out;
	}
	if (qs == AGORA_QS_NONE || !str_eq(sget(t, "consumer_id"), r->participant)) {
		ret = agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no transfer '%.200s' of yours", id);
		goto out;
	}
	if (!str_eq(sget(t, "format"), AGORA_DSPT_PULL) || !sget(t, "provider_pid")) {
		ret = agora_reply_error(r, AGORA_E_TRANSFER_STATE,
					"tokens are issued for started pull transfers only");
		goto out;
	}
	if (db_bneg_get(NULL, DB_NEG_BY_AGREEMENT, sget(t, "agreement_id"), NULL, false, &n) !=
	    AGORA_QS_ONE) {
		ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "the agreement cannot be read");
		goto out;
	}
	const char *code = NULL;
	if (!allowed_now(t, &n, &code, reasons, &duties)) {
		char *why = joined(reasons);
		ret = agora_reply_error(r, str_eq(code, "transfer_not_started") ? AGORA_E_TRANSFER_STATE
										  : AGORA_E_USAGE_DENIED,
					"%s: %s", code, why);
		free(why);
		goto out;
	}
	long long exp;
	char *tok = mint_token(b, t, n.agreement, &exp);
	if (!tok) {
		ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "cannot issue a token now");
		goto out;
	}
	char expires[32];
	agora_time_rfc3339((int64_t)exp, expires);
	ret = agora_reply_json(r, 200, json_pack("{s:s, s:s, s:s}", "token", tok, "tokenType", "bearer",
						 "expiresAt", expires));
	free(tok);
out:
	db_bneg_cleanup(&n);
	json_decref(t);
	json_decref(reasons);
	json_decref(duties);
	return ret;
}

/* The token (already verified by the provider) must be ours and for this
 * transfer and this provider. */
static bool
token_matches(const struct broker *b, const char *jwt, const json_t *t, char *why, size_t wl)
{
	char err[128];
	struct agora_jws *j = agora_jws_parse(jwt, err, sizeof err);
	bool ok = false;
	if (!j || !agora_jws_verify(j, b->svc.key)) {
		snprintf(why, wl, "the token is not signed by this broker");
	} else {
		json_t *claims = NULL;
		struct agora_jwt_expect want = { .typ = "at+jwt", .iss = b->svc.public_url,
						 .aud = sget(t, "provider_id"), .leeway = 60 };
		if (agora_jwt_validate(j, &want, &claims, err, sizeof err) != AGORA_JWT_OK)
			snprintf(why, wl, "token: %s", err);
		else if (!str_eq(sget(claims, "transfer"), sget(t, "provider_pid")))
			snprintf(why, wl, "the token is for another transfer");
		else
			ok = true;
		json_decref(claims);
	}
	agora_jws_free(j);
	return ok;
}

enum MHD_Result
broker_usage_authorize(struct agora_req *r)
{
	const struct broker *b = r->app;
	const char *transfer = sget(r->json, "transfer"), *token = sget(r->json, "token");
	if (!transfer || (json_object_get(r->json, "token") && !token))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "expected {\"transfer\": string, \"token\"?: string}");
	json_t *t = NULL, *reasons = json_array(), *duties = NULL;
	struct db_neg n;
	memset(&n, 0, sizeof n);
	enum MHD_Result ret;
	enum agora_qs qs = db_btr_get(NULL, DB_BTR_BY_PROVIDER, r->participant, transfer, false, &t);
	if (qs < 0) {
		ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
		goto out;
	}
	if (qs == AGORA_QS_NONE) {
		ret = agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no transfer '%.200s' of yours",
					transfer);
		goto out;
	}
	if (db_bneg_get(NULL, DB_NEG_BY_AGREEMENT, sget(t, "agreement_id"), NULL, false, &n) !=
	    AGORA_QS_ONE) {
		ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "the agreement cannot be read");
		goto out;
	}
	char why[256];
	const char *code = NULL;
	bool ok;
	if (token && !token_matches(b, token, t, why, sizeof why)) {
		code = "invalid_token";
		json_array_append_new(reasons, json_string(why));
		ok = false;
	} else {
		ok = allowed_now(t, &n, &code, reasons, &duties);
	}
	json_t *body = json_pack("{s:b, s:s, s:s, s:i}", "allow", ok, "transfer", transfer,
				 "agreementId", sget(t, "agreement_id"), "recheckSeconds",
				 RECHECK_SECONDS);
	if (ok) {
		json_object_set_new(body, "duties", duties ? duties : json_array());
		duties = NULL;
	} else {
		json_object_set_new(body, "code", json_string(code));
		json_object_set(body, "reasons", reasons);
	}
	ret = agora_reply_json(r, 200, body);
out:
	db_bneg_cleanup(&n);
	json_decref(t);
	json_decref(reasons);
	json_decref(duties);
	return ret;
}

/* The ISO 8601 duration of the agreement's delete duty (elapsedTime), or
 * NULL when it has none. */
static const char *
delete_after(const json_t *agreement)
{
	static const char *const keys[] = { "permission", "obligation" };
	for (size_t k = 0; k < ARRAY_LEN(keys); k++) {
		size_t i, j, c;
		json_t *rule, *duty, *con;
		json_array_foreach(json_object_get(agreement, keys[k]), i, rule) {
			json_t *ds = k == 0 ? json_object_get(rule, "duty") : NULL;
			json_t *one = k == 1 ? rule : NULL;
			for (j = 0; j < (one ? 1 : json_array_size(ds)); j++) {
				duty = one ? one : json_array_get(ds, j);
				if (!str_eq(sget(duty, "action"), "delete"))
					continue;
				json_array_foreach(json_object_get(duty, "constraint"), c, con)
					if (str_eq(sget(con, "leftOperand"), "elapsedTime"))
						return sget(con, "rightOperand");
			}
		}
	}
	return NULL;
}

struct report_ctx {
	const char *participant;
	const char *transfer;
	const char *event;	/* "sent" (provider), "received" or "deleted" (consumer) */
	const json_t *bytes;
	const char *sha256;
	enum agora_error err;
	char detail[256];
	long long index;
	int matches;		/* -1: the other side has not reported yet */
	bool notified;		/* a notification for the provider was queued */
};

/* The consumer fulfils an inform duty: the ledger records it and the
 * provider is told (outbox) what the consumer received.  Once per
 * transfer: the entry's index is kept in the consumer's report. */
static enum agora_qs
inform_provider(PGconn *c, struct report_ctx *x, json_t *t)
{
	json_t *rep = json_object_get(t, "consumer_report");
	if (!json_is_object(rep)) {
		x->err = AGORA_E_TRANSFER_STATE;
		snprintf(x->detail, sizeof x->detail, "report what was received before informing");
		return AGORA_QS_NONE;
	}
	const json_t *prev = json_object_get(rep, "informed_index");
	if (json_is_integer(prev)) {
		x->index = json_integer_value(prev);
		return AGORA_QS_NONE;
	}
	json_t *entry = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O}", "transferId", sget(t, "id"),
				  "agreementId", sget(t, "agreement_id"), "consumer", x->participant,
				  "provider", sget(t, "provider_id"), "bytes",
				  json_object_get(rep, "bytes"), "sha256", json_object_get(rep, "sha256"));
	enum agora_qs qs = ledger_append(c, LEDGER_KIND_INFORMED, entry, &x->index);
	json_decref(entry);
	if (qs != AGORA_QS_ONE)
		return qs;
	json_object_set_new(rep, "informed_index", json_integer(x->index));
	if ((qs = db_btr_update(c, t)) != AGORA_QS_ONE)
		return qs;
	if (!sget(t, "provider_pid") || !sget(t, "provider_endpoint"))
		return AGORA_QS_ONE;
	json_t *note = json_pack("{s:s, s:s, s:s, s:s, s:O, s:O, s:I}", "transfer", sget(t, "provider_pid"),
				 "agreementId", sget(t, "agreement_id"), "event", "received", "consumer",
				 x->participant, "bytes", json_object_get(rep, "bytes"), "sha256",
				 json_object_get(rep, "sha256"), "ledgerIndex", (json_int_t)x->index);
	char *url = url_join(sget(t, "provider_endpoint"), "/api/v1/usage/notify");
	qs = agora_outbox_put(c, "transfer notify", url, sget(t, "provider_id"), note, sget(t, "id"));
	free(url);
	json_decref(note);
	x->notified = qs == AGORA_QS_ONE;
	return qs;
}

static enum agora_qs
report_tx(PGconn *c, void *ctx)
{
	struct report_ctx *x = ctx;
	json_t *t = NULL;
	struct db_neg n;
	memset(&n, 0, sizeof n);
	bool sent = str_eq(x->event, "sent"), received = str_eq(x->event, "received");
	bool inform = str_eq(x->event, "inform");
	enum agora_qs qs = sent ? db_btr_get(c, DB_BTR_BY_PROVIDER, x->participant, x->transfer, true, &t)
				: db_btr_get(c, DB_BTR_BY_ID, x->transfer, NULL, true, &t);
	if (qs < 0)
		goto out;
	if (qs == AGORA_QS_NONE || (!sent && !str_eq(sget(t, "consumer_id"), x->participant))) {
		x->err = AGORA_E_TRANSFER_NOT_FOUND;
		snprintf(x->detail, sizeof x->detail, "no transfer '%.200s' of yours", x->transfer);
		qs = AGORA_QS_NONE;
		goto out;
	}
	if (inform) {
		qs = inform_provider(c, x, t);
		goto out;
	}
	const char *mine = sent ? "provider_report" : received ? "consumer_report" : "deleted_index";
	const char *theirs = sent ? "consumer_report" : "provider_report";
	const json_t *prev = json_object_get(t, mine);
	if (prev && !json_is_null(prev)) {
		x->index = json_is_integer(prev) ? json_integer_value(prev)
						 : json_integer_value(json_object_get(prev, "index"));
		if (!str_eq(x->event, "deleted") && !str_eq(sget(prev, "sha256"), x->sha256)) {
			x->err = AGORA_E_CONFLICT;
			snprintf(x->detail, sizeof x->detail,
				 "a different report was made already (ledger entry %lld)", x->index);
		}
		const json_t *m = json_object_get(prev, "matches");
		x->matches = json_is_boolean(m) ? json_is_true(m) : -1;
		qs = AGORA_QS_NONE;
		goto out;
	}
	if (!str_eq(sget(t, "state"), "STARTED") && !str_eq(sget(t, "state"), "COMPLETED") &&
	    !str_eq(x->event, "deleted")) {
		x->err = AGORA_E_TRANSFER_STATE;
		snprintf(x->detail, sizeof x->detail, "the transfer is %s", sget(t, "state"));
		qs = AGORA_QS_NONE;
		goto out;
	}
	json_t *entry;
	if (!str_eq(x->event, "deleted")) {
		const char *other = sget(json_object_get(t, theirs), "sha256");
		x->matches = other ? str_eq(other, x->sha256) : -1;
		entry = json_pack("{s:s, s:s, s:s, s:O, s:s}", "transferId", sget(t, "id"), "agreementId",
				  sget(t, "agreement_id"), "reportedBy", sent ? "provider" : "consumer",
				  "bytes", x->bytes, "sha256", x->sha256);
		if (x->matches >= 0)
			json_object_set_new(entry, sent ? "matchesConsumer" : "matchesProvider",
					    json_boolean(x->matches));
	} else {
		entry = json_pack("{s:s, s:s, s:s}", "transferId", sget(t, "id"), "agreementId",
				  sget(t, "agreement_id"), "consumer", x->participant);
	}
	qs = ledger_append(c, str_eq(x->event, "deleted") ? LEDGER_KIND_DELETED
							  : LEDGER_KIND_TRANSFER_COMPLETED,
			   entry, &x->index);
	json_decref(entry);
	if (qs != AGORA_QS_ONE)
		goto out;
	if (!str_eq(x->event, "deleted")) {
		json_t *rep = json_pack("{s:O, s:s, s:I}", "bytes", x->bytes, "sha256", x->sha256, "index",
					(json_int_t)x->index);
		if (x->matches >= 0)
			json_object_set_new(rep, "matches", json_boolean(x->matches));
		json_object_set_new(t, mine, rep);
	} else {
		char now[32];
		agora_time_rfc3339(agora_now(), now);
		json_object_set_new(t, "deleted_at", json_string(now));
		json_object_set_new(t, "deleted_index", json_integer(x->index));
	}
	if ((qs = db_btr_update(c, t)) != AGORA_QS_ONE)
		goto out;
	if (received && db_bneg_get(c, DB_NEG_BY_AGREEMENT, sget(t, "agreement_id"), NULL, false, &n) ==
			    AGORA_QS_ONE) {
		const char *after = delete_after(n.agreement);
		if (after)
			qs = db_btr_delete_due(c, sget(t, "id"), after);
	}
out:
	db_bneg_cleanup(&n);
	json_decref(t);
	return qs;
}

enum MHD_Result
broker_usage_report(struct agora_req *r)
{
	struct report_ctx x = { .participant = r->participant, .err = AGORA_E__COUNT, .index = -1,
				.matches = -1 };
	x.transfer = sget(r->json, "transfer");
	x.event = sget(r->json, "event");
	x.bytes = json_object_get(r->json, "bytes");
	x.sha256 = sget(r->json, "sha256");
	bool deleted = str_eq(x.event, "deleted") || str_eq(x.event, "inform");
	if (!x.transfer || !(deleted || str_eq(x.event, "received") || str_eq(x.event, "sent")))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "expected {\"transfer\", \"event\": \"sent\"|\"received\"|\"deleted\"|"
					 "\"inform\"}");
	if (!deleted && (!json_is_integer(x.bytes) || json_integer_value(x.bytes) < 0 || !x.sha256 ||
			 !is_hex64(x.sha256)))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "a report needs bytes (integer ≥ 0) and sha256 (64 lowercase hex digits)");
	enum agora_qs qs = agora_db_tx(report_tx, &x, false);
	if (qs == AGORA_QS_ONE && x.notified)
		agora_outbox_wake(broker_outbox());
	if (x.err != AGORA_E__COUNT)
		return agora_reply_error(r, x.err, "%s", x.detail);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	json_t *body = json_pack("{s:s, s:s, s:I}", "transfer", x.transfer, "event", x.event,
				 "ledgerIndex", (json_int_t)x.index);
	if (!deleted)
		json_object_set_new(body, "matches", x.matches < 0 ? json_null() : json_boolean(x.matches));
	return agora_reply_json(r, 200, body);
}

/* ---- views -------------------------------------------------------------------------- */

static bool
is_admin(const struct agora_req *r)
{
	return r->role & AGORA_ROLE_ADMIN;
}

enum MHD_Result
broker_transfer_list(struct agora_req *r)
{
	long limit;
	char *after;
	if (!agora_req_page(r, 20, 100, &limit, &after))
		return MHD_YES;
	json_t *list = NULL;
	enum agora_qs qs = db_btr_list(is_admin(r) ? NULL : r->participant, after, (int)limit + 1, &list);
	free(after);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	json_t *next = agora_page_next(list, limit, "id");
	return agora_reply_json(r, 200, json_pack("{s:o, s:o}", "results", list, "next", next));
}

enum MHD_Result
broker_transfer_get(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	json_t *t = NULL, *hist = NULL;
	enum agora_qs qs = db_btr_get(NULL, DB_BTR_BY_ID, id, NULL, false, &t);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	if (qs == AGORA_QS_NONE || (!is_admin(r) && !str_eq(sget(t, "consumer_id"), r->participant) &&
				    !str_eq(sget(t, "provider_id"), r->participant))) {
		json_decref(t);
		return agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no transfer '%.200s'", id);
	}
	if (db_btr_history(id, &hist) < 0)
		hist = json_array();
	json_object_set_new(t, "history", hist);
	return agora_reply_json(r, 200, t);
}

/* ---- revocation and delivery results ----------------------------------------------- */

enum agora_qs
broker_transfers_revoked(PGconn *c, const struct broker *b, const char *agreement)
{
	(void)b;
	json_t *ids = NULL;
	enum agora_qs qs = db_btr_running(c, agreement, &ids);
	size_t i;
	json_t *id;
	json_array_foreach(ids, i, id) {
		if (qs != AGORA_QS_ONE)
			break;
		json_t *t = NULL;
		qs = db_btr_get(c, DB_BTR_BY_ID, json_string_value(id), NULL, true, &t);
		if (qs == AGORA_QS_ONE)
			qs = terminate_both(c, t, "agreement_revoked",
					    "the agreement was revoked", true, true);
		else if (qs == AGORA_QS_NONE)
			qs = AGORA_QS_ONE;
		json_decref(t);
	}
	json_decref(ids);
	return qs;
}

void
broker_transfer_on_result(const struct broker *b, PGconn *c, const char *kind, const char *ref,
			  long status, const json_t *reply, enum agora_outbox_outcome outcome)
{
	(void)b;
	if (!strcmp(kind, "transfer notify")) {
		if (outcome != AGORA_OUTBOX_DELIVERED)
			agora_logf(AGORA_LOG_WARN, "transfer", "%s: the provider was not told of the "
				   "consumer's inform duty (HTTP %ld)", ref, status);
		return;
	}
	bool provider_leg = !strncmp(kind, "transfer " LEG_PROVIDER " ", strlen("transfer provider "));
	bool is_request = provider_leg && strstr(kind, "TransferRequestMessage");
	bool is_termination = strstr(kind, "TransferTerminationMessage") != NULL;
	if (!ref || (outcome == AGORA_OUTBOX_DELIVERED && !is_request))
		return;
	json_t *t = NULL;
	if (db_btr_get(c, DB_BTR_BY_ID, ref, NULL, true, &t) != AGORA_QS_ONE)
		return;
	struct agora_dspt_reply rp;
	char err[256];
	bool parsed = reply && agora_dspt_parse_reply(reply, &rp, err, sizeof err) == 0;
	enum agora_dspt_state st;
	agora_dspt_state_from_name(sget(t, "state"), &st);
	if (outcome == AGORA_OUTBOX_DELIVERED) {
		if (!sget(t, "provider_pid") && parsed && !rp.is_error && rp.provider_pid) {
			json_object_set_new(t, "provider_pid", json_string(rp.provider_pid));
			if (db_btr_update(c, t) == AGORA_QS_ONE && st == AGORA_DSPT_TERMINATED) {
				const char *r[] = { sget(t, "reason") ? sget(t, "reason") : "terminated" };
				json_t *m = agora_dspt_termination_new(rp.provider_pid, sget(t, "leg_pid"),
								       sget(t, "code"), r, 1);
				to_provider(c, t, "termination", m);
				json_decref(m);
			}
		}
	} else if (is_termination || agora_dspt_is_final(st)) {
		agora_logf(AGORA_LOG_WARN, "transfer", "%s: %s not delivered (HTTP %ld)", ref, kind, status);
	} else {
		const char *why = parsed && rp.is_error ? json_string_value(json_array_get(rp.reason, 0))
							: NULL;
		char *reason = xasprintf("the %s %s %s (HTTP %ld)%s%s",
					 provider_leg ? "provider" : "consumer",
					 outcome == AGORA_OUTBOX_REFUSED ? "refused" : "could not be reached with",
					 kind + strlen("transfer ") + (provider_leg ? 9 : 9), status,
					 why ? ": " : "", why ? why : "");
		const char *code = parsed && rp.is_error && rp.code ? rp.code
				   : outcome == AGORA_OUTBOX_REFUSED ? "refused" : "unreachable";
		terminate_both(c, t, code, reason, provider_leg, !provider_leg);
		free(reason);
	}
	json_decref(t);
}
