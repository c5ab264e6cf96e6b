/* negotiation.c — see negotiation.h. */
#include "negotiation.h"
#include "agreement.h"
#include "catalog.h"
#include "crypto.h"
#include "db_catalog.h"
#include "db_negotiations.h"
#include "db_participants.h"
#include "jcs.h"
#include "jose.h"
#include "ledger.h"
#include "log.h"
#include "outbox.h"
#include "policy.h"
#include "transfer.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEG_CONSUMER "consumer"
#define LEG_PROVIDER "provider"
#define MAX_REASONS 8

static struct agora_outbox *outbox;

/* ---- small helpers -------------------------------------------------------- */

json_t *
broker_neg_error(const char *provider_pid, const char *consumer_pid, const char *code, const char *reason)
{
	const char *r[] = { reason };
	return agora_dsp_error_new(provider_pid, consumer_pid, code, reason ? r : NULL, reason ? 1 : 0);
}

static void
answer(struct neg_answer *a, unsigned status, json_t *body)
{
	json_decref(a->body);
	a->status = status;
	a->body = body;
}

static void
answer_error(struct neg_answer *a, unsigned status, const char *ppid, const char *cpid,
	     const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void
answer_error(struct neg_answer *a, unsigned status, const char *ppid, const char *cpid,
	     const char *code, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	/* The schema requires both pids: "" stands for one we do not know. */
	answer(a, status, broker_neg_error(ppid ? ppid : "", cpid ? cpid : "", code, buf));
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

/* The reason strings of a DSP reason array joined with "; " (heap), or NULL. */
static char *
join_reasons(const json_t *reason)
{
	if (!json_is_array(reason) || !json_array_size(reason))
		return NULL;
	struct agora_buf b;
	agora_buf_init(&b);
	size_t i;
	json_t *v;
	json_array_foreach(reason, i, v) {
		if (b.len)
			agora_buf_puts(&b, "; ");
		if (json_is_string(v)) {
			agora_buf_puts(&b, json_string_value(v));
		} else {
			char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			agora_buf_puts(&b, s ? s : "?");
			free(s);
		}
	}
	agora_buf_append(&b, "", 0);
	return agora_buf_steal(&b);
}

static void
set_str(char **dst, const char *v)
{
	free(*dst);
	*dst = v ? xstrdup(v) : NULL;
}

/* ---- outgoing messages ---------------------------------------------------- */

/* Queue body (borrowed) for the leg's party at url and record it in the
 * history; in the caller's transaction. */
static enum agora_qs
send_msg(PGconn *c, const struct db_neg *n, const char *leg, enum agora_dsp_kind k,
	 const char *url, const json_t *body)
{
	const char *audience = !strcmp(leg, LEG_CONSUMER) ? n->consumer_id : n->provider_id;
	char *kind = xasprintf("%s %s", leg, agora_dsp_kind_name(k));
	char sha[65];
	enum agora_qs qs = AGORA_QS_HARD_ERROR;
	if (!body || !agora_jcs_sha256_hex(body, sha)) {
		agora_logf(AGORA_LOG_ERROR, "negotiation", "cannot build %s for %s", kind, n->id);
		goto out;
	}
	qs = agora_outbox_put(c, kind, url, audience, body, n->id);
	if (qs != AGORA_QS_ONE)
		goto out;
	qs = db_bneg_message_add(c, n->id, "out", leg, agora_dsp_kind_name(k), body, sha, 0, NULL);
out:
	free(kind);
	return qs;
}

static enum agora_qs
terminate_consumer_leg(PGconn *c, const struct db_neg *n, const char *code, const char *reason)
{
	const char *r[] = { reason };
	json_t *m = agora_dsp_termination_new(n->id, n->consumer_pid, code, reason ? r : NULL,
					      reason ? 1 : 0);
	char *sfx = xasprintf("/negotiations/%s/termination", n->consumer_pid);
	char *url = url_join(n->callback, sfx);
	enum agora_qs qs = send_msg(c, n, LEG_CONSUMER, AGORA_DSP_MSG_TERMINATION, url, m);
	free(sfx);
	free(url);
	json_decref(m);
	return qs;
}

/* Without the provider's pid the message cannot be addressed yet: the
 * request's reply brings it, and then on_result sends the termination. */
static enum agora_qs
terminate_provider_leg(PGconn *c, const struct db_neg *n, const char *code, const char *reason)
{
	if (!n->provider_id || !n->provider_endpoint || !n->provider_pid)
		return AGORA_QS_ONE;
	const char *r[] = { reason };
	json_t *m = agora_dsp_termination_new(n->provider_pid, n->leg_pid, code, reason ? r : NULL,
					      reason ? 1 : 0);
	char *sfx = xasprintf("/dsp/negotiations/%s/termination", n->provider_pid);
	char *url = url_join(n->provider_endpoint, sfx);
	enum agora_qs qs = send_msg(c, n, LEG_PROVIDER, AGORA_DSP_MSG_TERMINATION, url, m);
	free(sfx);
	free(url);
	json_decref(m);
	return qs;
}

/* ---- step 2: the consumer's request --------------------------------------- */

struct req_check {
	const char *code;	/* NULL: passed */
	json_t *reasons;	/* array of strings */
	char *provider_id, *provider_endpoint;
	bool unavailable;	/* the database failed: answer 503, store nothing */
};

static void
refuse(struct req_check *k, const char *code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void
refuse(struct req_check *k, const char *code, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	k->code = code;
	json_array_append_new(k->reasons, json_string(buf));
}

/* A copy of an offer without the members that name it rather than
 * restrict it. */
static json_t *
policy_part(const json_t *offer)
{
	json_t *p = json_deep_copy(offer);
	json_object_del(p, "@id");
	json_object_del(p, "target");
	json_object_del(p, "@context");
	return p;
}

static struct agora_policy *
compile(const json_t *offer, struct agora_policy_problems *prob)
{
	json_t *p = policy_part(offer);
	struct agora_policy *pol = agora_policy_parse(p, catalog_policy_config(), prob);
	json_decref(p);
	return pol;
}

/* Operands only a use can give (the transfer scope of docs/TRANSFER.md):
 * at contract time they are unknown, and the broker checks them on every
 * transfer instead. */
static bool
use_time_operand(const char *condition)
{
	static const char *const ops[] = { "purpose", "count", "fileFormat", "deliveryChannel",
					   "event", "meteredTime", "delayPeriod", "payAmount" };
	size_t n = condition ? strcspn(condition, " ") : 0;
	for (size_t i = 0; i < ARRAY_LEN(ops); i++)
		if (n == strlen(ops[i]) && !strncmp(condition, ops[i], n))
			return true;
	return false;
}

/* A deny whose only failures are use-time values the request could not
 * give: the contract itself is acceptable. */
static bool
only_use_time_unknowns(const json_t *decision)
{
	size_t i, missing = 0;
	json_t *r;
	json_array_foreach(json_object_get(decision, "reasons"), i, r) {
		const char *code = json_string_value(json_object_get(r, "code"));
		if (str_eq(code, "satisfied") || str_eq(code, "granted"))
			continue;
		if (!str_eq(code, "missing_value") ||
		    !use_time_operand(json_string_value(json_object_get(r, "condition"))))
			return false;
		missing++;
	}
	return missing > 0;
}

/* Does the contract policy permit "use" by consumer (its registered
 * attributes) now?  Failing constraints' messages go to k->reasons. */
static bool
permits_now(const struct agora_policy *pol, const char *consumer, const json_t *attributes,
	    struct req_check *k)
{
	struct catalog_attrs a;
	catalog_attrs_from_json(&a, attributes);
	struct agora_policy_request req = {
		.action = "use",
		.assignee = consumer,
		.attrs = a.n ? a.attrs : NULL,
		.n_attrs = a.n,
		.now_ms = agora_now() * 1000,
		.has_now = true,
	};
	struct agora_policy_decision dec;
	if (agora_policy_decide(pol, &req, &dec) == AGORA_POLICY_PERMIT)
		return true;
	json_t *d = agora_policy_decision_to_json(&dec);
	if (only_use_time_unknowns(d)) {
		json_decref(d);
		return true;
	}
	size_t n = catalog_decision_reasons(d, k->reasons, MAX_REASONS);
	json_decref(d);
	if (!n)
		json_array_append_new(k->reasons,
				      json_string("the contract policy does not permit use by you"));
	k->code = "policy_denied";
	return false;
}

/* The checks of step 2, outside any transaction (the catalog's visibility
 * sync runs one of its own). */
static void
check_request(const char *consumer, const json_t *offer, struct req_check *k)
{
	const char *target = json_string_value(json_object_get(offer, "target"));
	const char *offer_id = json_string_value(json_object_get(offer, "@id"));
	json_t *ds = NULL, *cons = NULL, *prov = NULL;
	struct agora_policy *cat = NULL, *want = NULL;
	struct agora_policy_problems *prob = agora_policy_problems_new();
	enum agora_qs qs;
	if (!target || !offer_id) {
		refuse(k, "invalid_message", "offer.target and offer.@id must be strings");
		goto out;
	}
	if ((qs = db_catalog_dataset_get_synced(target, consumer, &ds)) < 0) {
		k->unavailable = true;
		goto out;
	}
	if (qs == AGORA_QS_NONE) {
		refuse(k, "not_found", "dataset '%.300s' is not in the catalog or not visible to you",
		       target);
		goto out;
	}
	const char *provider = json_string_value(json_object_get(json_object_get(ds, "publisher"), "id"));
	const json_t *catalog_offer = NULL;
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(ds, "offers"), i, o) {
		if (str_eq(json_string_value(json_object_get(o, "id")), offer_id))
			catalog_offer = json_object_get(o, "policy");
	}
	if (!provider || !catalog_offer) {
		refuse(k, "not_found", "offer '%.300s' is not offered to you for dataset '%.300s'",
		       offer_id, target);
		goto out;
	}
	if (!(cat = compile(catalog_offer, NULL))) {
		refuse(k, "offer_mismatch", "the catalog's offer '%.300s' cannot be evaluated", offer_id);
		goto out;
	}
	if (!(want = compile(offer, prob))) {
		for (size_t p = 0; p < agora_policy_problems_count(prob) && p < MAX_REASONS; p++)
			refuse(k, "offer_mismatch", "offer.%s: %s", agora_policy_problem_path(prob, p),
			       agora_policy_problem_message(prob, p));
		goto out;
	}
	char *why = NULL;
	if (!agora_policy_narrows(cat, want, &why)) {
		refuse(k, "offer_mismatch",
		       "the requested offer is broader than the catalog's offer '%.300s': %.600s",
		       offer_id, why ? why : "not shown to be at least as strict");
		free(why);
		goto out;
	}
	free(why);
	if ((qs = db_participant_get_recent(consumer, &cons)) < 0 ||
	    (qs == AGORA_QS_ONE && (qs = db_participant_get_recent(provider, &prov)) < 0)) {
		k->unavailable = true;
		goto out;
	}
	if (!permits_now(cat, consumer, json_object_get(cons, "attributes"), k))
		goto out;
	if (!prov || !str_eq(json_string_value(json_object_get(prov, "status")), "active")) {
		refuse(k, "not_found", "the provider '%.300s' is not an active participant", provider);
		goto out;
	}
	k->provider_id = xstrdup(provider);
	k->provider_endpoint = xstrdup(json_string_value(json_object_get(prov, "endpoint")));
out:
	agora_policy_free(cat);
	agora_policy_free(want);
	agora_policy_problems_free(prob);
	json_decref(ds);
	json_decref(cons);
	json_decref(prov);
}

struct request_ctx {
	const struct broker *b;
	const char *sender;
	const json_t *msg;
	const struct agora_dsp_msg *m;
	const char *sha;
	struct req_check *k;	/* NULL: an existing negotiation is expected */
	struct neg_answer *out;
	bool sent;
};

/* A request for a (consumer, consumerPid) that exists: the same request
 * again gets the same answer; anything else is out of order. */
static enum agora_qs
request_existing_tx(PGconn *c, void *ctx)
{
	struct request_ctx *x = ctx;
	struct db_neg n;
	enum agora_qs qs = db_bneg_get(c, DB_NEG_BY_CONSUMER, x->sender, x->m->consumer_pid, true, &n);
	if (qs != AGORA_QS_ONE) {
		db_bneg_cleanup(&n);
		return qs;
	}
	int status;
	json_t *reply = NULL;
	qs = db_bneg_message_seen(c, n.id, agora_dsp_kind_name(AGORA_DSP_MSG_CONTRACT_REQUEST), x->sha,
				 &status, &reply);
	if (qs == AGORA_QS_ONE)
		answer(x->out, (unsigned)status, reply);
	else if (qs == AGORA_QS_NONE)
		answer_error(x->out, 400, n.id, n.consumer_pid, "invalid_transition",
			     "negotiation %s with consumerPid '%s' exists already (state %s)", n.id,
			     n.consumer_pid, agora_dsp_state_name(n.state));
	db_bneg_cleanup(&n);
	return qs < 0 ? qs : AGORA_QS_ONE;
}

static enum agora_qs
request_new_tx(PGconn *c, void *ctx)
{
	struct request_ctx *x = ctx;
	const struct broker *b = x->b;
	char id[46], leg[46];
	agora_urn_uuid(id);
	agora_urn_uuid(leg);
	char *reason = join_reasons(x->k->reasons);
	struct db_neg n = {
		.id = id,
		.consumer_id = (char *)x->sender,
		.consumer_pid = (char *)x->m->consumer_pid,
		.callback = (char *)x->m->callback_address,
		.dataset_id = (char *)json_string_value(json_object_get(x->m->offer, "target")),
		.offer_id = (char *)json_string_value(json_object_get(x->m->offer, "@id")),
		.offer = (json_t *)x->m->offer,
		.provider_id = x->k->provider_id,
		.provider_endpoint = x->k->provider_endpoint,
		.leg_pid = leg,
		.state = x->k->code ? AGORA_DSP_STATE_TERMINATED : AGORA_DSP_STATE_REQUESTED,
		.code = (char *)x->k->code,
		.reason = reason,
		.ledger_index = -1,
	};
	json_t *fwd = NULL;
	char *url = NULL, *cb = NULL;
	enum agora_qs qs = db_bneg_insert(c, &n);
	if (qs != AGORA_QS_ONE)
		goto out;
	if (x->k->code) {
		json_t *r = json_deep_copy(x->k->reasons);
		answer(x->out, 400, agora_dsp_error_new(n.id, n.consumer_pid, x->k->code, NULL, 0));
		json_object_set_new(x->out->body, "reason", r);
	} else {
		answer(x->out, 201, agora_dsp_negotiation_new(n.id, n.consumer_pid,
							      AGORA_DSP_STATE_REQUESTED));
	}
	qs = db_bneg_message_add(c, n.id, "in", LEG_CONSUMER,
				agora_dsp_kind_name(AGORA_DSP_MSG_CONTRACT_REQUEST), x->msg, x->sha,
				(int)x->out->status, x->out->body);
	if (qs != AGORA_QS_ONE || x->k->code)
		goto out;
	/* Step 2 → the provider: our own consumerPid, our callback, and who
	 * the consumer is. */
	cb = url_join(b->svc.public_url, "/dsp/callback");
	fwd = agora_dsp_contract_request_new(n.leg_pid, NULL, x->m->offer, cb);
	if (fwd)
		json_object_set_new(fwd, "consumer", json_string(x->sender));
	url = url_join(n.provider_endpoint, "/dsp/negotiations/request");
	qs = send_msg(c, &n, LEG_PROVIDER, AGORA_DSP_MSG_CONTRACT_REQUEST, url, fwd);
	x->sent = qs == AGORA_QS_ONE;
out:
	free(reason);
	free(url);
	free(cb);
	json_decref(fwd);
	return qs;
}

void
broker_neg_request(const struct broker *b, const char *sender, const json_t *msg, struct neg_answer *out)
{
	struct agora_dsp_msg m;
	char err[256], sha[65];
	struct req_check k = { .reasons = json_array() };
	out->body = NULL;
	if (agora_dsp_parse_negotiation_message(msg, &m, err, sizeof err) != 0) {
		answer_error(out, 400, NULL,
			     json_string_value(json_object_get(msg, "consumerPid")),
			     "invalid_message", "%s", err);
		goto out;
	}
	if (m.kind != AGORA_DSP_MSG_CONTRACT_REQUEST || m.provider_pid || !m.callback_address) {
		answer_error(out, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "this endpoint takes the initial ContractRequestMessage (consumerPid, "
			     "offer and callbackAddress, no providerPid); counter-requests are not "
			     "supported");
		goto out;
	}
	if (!agora_jcs_sha256_hex(msg, sha)) {
		answer_error(out, 400, NULL, m.consumer_pid, "invalid_message",
			     "the message cannot be canonicalised");
		goto out;
	}
	struct request_ctx x = { b, sender, msg, &m, sha, &k, out, false };
	/* Checked and inserted as new; a (consumer, consumerPid) known already
	 * is a unique violation of the insert, answered below as a repeat.  A
	 * repeated request is rare: the check it pays is cheaper than a look-up
	 * before every new one. */
	check_request(sender, m.offer, &k);
	if (k.unavailable) {
		answer_error(out, 503, NULL, m.consumer_pid, "unavailable",
			     "the database is unavailable; retry later");
		goto out;
	}
	/* The outbox's commit hook wakes a worker for what it queued. */
	enum agora_qs qs = agora_db_tx(request_new_tx, &x, false);
	/* Known already (or inserted concurrently meanwhile). */
	if (qs == AGORA_QS_ONE && !out->body)
		qs = AGORA_QS_CONFLICT;
	if (qs == AGORA_QS_CONFLICT)
		qs = agora_db_tx(request_existing_tx, &x, false);
	if (qs != AGORA_QS_ONE || !out->body)
		answer_error(out, 503, NULL, m.consumer_pid, "unavailable",
			     "the database is unavailable; retry later");
out:
	json_decref(k.reasons);
	free(k.provider_id);
	free(k.provider_endpoint);
}

/* ---- later messages -------------------------------------------------------- */

struct lookup_ctx {
	const struct broker *b;
};

/* Keys of the signers: the broker's own, participants' from the registry. */
static struct agora_key *
signer_key(void *ctx, const char *role, const char *signer, const char *kid)
{
	const struct lookup_ctx *l = ctx;
	if (!strcmp(role, "broker")) {
		if (!str_eq(signer, l->b->svc.public_url) || (kid && strcmp(kid, l->b->svc.kid)))
			return NULL;
		uint8_t pub[32];
		agora_key_public_raw(l->b->svc.key, pub);
		return agora_key_from_public_raw(pub);
	}
	json_t *jwk = NULL;
	char *status = NULL;
	struct agora_key *k = NULL;
	if (kid && db_participant_key(signer, kid, &jwk, &status) == AGORA_QS_ONE && jwk &&
	    str_eq(status, "active"))
		k = agora_key_from_jwk(jwk, NULL, 0);
	json_decref(jwk);
	free(status);
	return k;
}

struct msg_ctx {
	const struct broker *b;
	enum neg_leg leg;
	const char *sender;
	const char *pid;
	const json_t *msg;
	const struct agora_dsp_msg *m;
	const char *sha;
	const json_t *receipt;	/* for FINALIZED: the agreement's ledger receipt */
	struct neg_answer *out;
	bool sent;
	bool not_found;
};

/* The pids of our answers on a leg. */
static const char *
my_ppid(const struct msg_ctx *x, const struct db_neg *n)
{
	return x->leg == NEG_FROM_CONSUMER ? n->id
					   : (n->provider_pid ? n->provider_pid : x->m->provider_pid);
}

static const char *
my_cpid(const struct msg_ctx *x, const struct db_neg *n)
{
	return x->leg == NEG_FROM_CONSUMER ? n->consumer_pid : n->leg_pid;
}

/* Rules equal: the JCS of permission, prohibition and obligation. */
static bool
same_rules(const json_t *a, const json_t *b, const char **which)
{
	static const char *const members[] = { "permission", "prohibition", "obligation" };
	for (size_t i = 0; i < ARRAY_LEN(members); i++) {
		const json_t *x = json_object_get(a, members[i]), *y = json_object_get(b, members[i]);
		if (!x && !y)
			continue;
		char *s = x ? agora_jcs(x, NULL) : NULL, *t = y ? agora_jcs(y, NULL) : NULL;
		bool eq = s && t && !strcmp(s, t);
		free(s);
		free(t);
		if (!eq) {
			*which = members[i];
			return false;
		}
	}
	return true;
}

/* Step 4: the provider's agreement.  false: *out holds the 400. */
static enum agora_qs
on_agreement(PGconn *c, struct msg_ctx *x, struct db_neg *n)
{
	const json_t *ag = x->m->agreement;
	const char *ppid = my_ppid(x, n), *cpid = my_cpid(x, n);
	const char *agid = json_string_value(json_object_get(ag, "@id"));
	const char *which = NULL;
	char err[256];
	if (!agid) {
		answer_error(x->out, 400, ppid, cpid, "invalid_agreement", "agreement.@id must be a string");
		return AGORA_QS_NONE;
	}
	if (!str_eq(json_string_value(json_object_get(ag, "target")), n->dataset_id) ||
	    !str_eq(json_string_value(json_object_get(ag, "assigner")), n->provider_id) ||
	    !str_eq(json_string_value(json_object_get(ag, "assignee")), n->consumer_id)) {
		answer_error(x->out, 400, ppid, cpid, "invalid_agreement",
			     "the agreement must have target '%s', assigner '%s' and assignee '%s'",
			     n->dataset_id, n->provider_id, n->consumer_id);
		return AGORA_QS_NONE;
	}
	if (!same_rules(ag, n->offer, &which)) {
		answer_error(x->out, 400, ppid, cpid, "invalid_agreement",
			     "the agreement's %s differs from the requested offer's", which);
		return AGORA_QS_NONE;
	}
	const json_t *sigs = x->m->signatures;
	struct lookup_ctx l = { x->b };
	if (!json_is_array(sigs) ||
	    !agora_agreement_verify_chain(ag, sigs, 1, signer_key, &l, err, sizeof err)) {
		answer_error(x->out, 400, ppid, cpid, "invalid_signature",
			     "the provider's signature does not verify: %s",
			     json_is_array(sigs) ? err : "signatures must be an array");
		return AGORA_QS_NONE;
	}
	json_t *mine = agora_agreement_sign(ag, "broker", x->b->svc.public_url, x->b->svc.key,
					    x->b->svc.kid);
	char sha[65];
	if (!mine || !agora_jcs_sha256_hex(ag, sha)) {
		json_decref(mine);
		return AGORA_QS_HARD_ERROR;
	}
	json_t *all = json_pack("[O, o]", json_array_get(sigs, 0), mine);
	json_t *entry = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[O, O]}", "agreementId", agid,
				  "target", n->dataset_id, "assigner", n->provider_id, "assignee",
				  n->consumer_id, "agreementSha256", sha, "signatures",
				  json_object_get(json_array_get(all, 0), "jws"),
				  json_object_get(json_array_get(all, 1), "jws"));
	long long idx = -1;
	enum agora_qs qs = ledger_append(c, LEDGER_KIND_AGREEMENT, entry, &idx);
	json_decref(entry);
	if (qs != AGORA_QS_ONE) {
		json_decref(all);
		return qs;
	}
	set_str(&n->agreement_id, agid);
	json_decref(n->agreement);
	n->agreement = json_deep_copy(ag);
	json_decref(n->signatures);
	n->signatures = all;
	n->ledger_index = idx;
	json_t *fwd = agora_dsp_agreement_message_new(n->id, n->consumer_pid, ag);
	if (fwd)
		json_object_set_new(fwd, "signatures", json_deep_copy(all));
	char *sfx = xasprintf("/negotiations/%s/agreement", n->consumer_pid);
	char *url = url_join(n->callback, sfx);
	qs = send_msg(c, n, LEG_CONSUMER, AGORA_DSP_MSG_CONTRACT_AGREEMENT, url, fwd);
	free(sfx);
	free(url);
	json_decref(fwd);
	return qs;
}

/* Step 6: the consumer's verification with three signatures. */
static enum agora_qs
on_verification(PGconn *c, struct msg_ctx *x, struct db_neg *n)
{
	const json_t *sigs = x->m->signatures;
	struct lookup_ctx l = { x->b };
	char err[256];
	if (!n->agreement || !json_is_array(sigs) ||
	    !agora_agreement_verify_chain(n->agreement, sigs, 3, signer_key, &l, err, sizeof err)) {
		answer_error(x->out, 400, n->id, n->consumer_pid, "invalid_signature",
			     "the signatures do not verify: %s",
			     !n->agreement ? "no agreement" : json_is_array(sigs) ? err
									 : "signatures must be an array");
		return AGORA_QS_NONE;
	}
	/* The first two must be the ones we forwarded. */
	for (size_t i = 0; i < 2; i++)
		if (!str_eq(json_string_value(json_object_get(json_array_get(sigs, i), "jws")),
			    json_string_value(json_object_get(json_array_get(n->signatures, i), "jws")))) {
			answer_error(x->out, 400, n->id, n->consumer_pid, "invalid_signature",
				     "signatures[%zu] is not the one the broker sent", i);
			return AGORA_QS_NONE;
		}
	json_decref(n->signatures);
	n->signatures = json_deep_copy(sigs);
	if (!n->provider_pid)
		return AGORA_QS_HARD_ERROR;	/* cannot be: the agreement brought it */
	json_t *fwd = agora_dsp_verification_new(n->provider_pid, n->leg_pid);
	if (fwd)
		json_object_set_new(fwd, "signatures", json_deep_copy(sigs));
	char *sfx = xasprintf("/dsp/negotiations/%s/agreement/verification", n->provider_pid);
	char *url = url_join(n->provider_endpoint, sfx);
	enum agora_qs qs = send_msg(c, n, LEG_PROVIDER, AGORA_DSP_MSG_AGREEMENT_VERIFICATION, url, fwd);
	free(sfx);
	free(url);
	json_decref(fwd);
	return qs;
}

/* Step 8: the provider finalized; the consumer gets the ledger receipt. */
static enum agora_qs
on_finalized(PGconn *c, struct msg_ctx *x, struct db_neg *n)
{
	if (!x->receipt)
		return AGORA_QS_HARD_ERROR;
	json_t *fwd = agora_dsp_event_new(n->id, n->consumer_pid, AGORA_DSP_MSG_EVENT_FINALIZED);
	if (fwd)
		json_object_set_new(fwd, "receipt", json_deep_copy(x->receipt));
	char *sfx = xasprintf("/negotiations/%s/events", n->consumer_pid);
	char *url = url_join(n->callback, sfx);
	enum agora_qs qs = send_msg(c, n, LEG_CONSUMER, AGORA_DSP_MSG_EVENT_FINALIZED, url, fwd);
	free(sfx);
	free(url);
	json_decref(fwd);
	return qs;
}

static enum agora_qs
on_termination(PGconn *c, struct msg_ctx *x, struct db_neg *n)
{
	char *reason = join_reasons(x->m->reason);
	set_str(&n->code, x->m->code ? x->m->code : "terminated");
	free(n->reason);
	n->reason = xasprintf("terminated by the %s%s%s",
			      x->leg == NEG_FROM_CONSUMER ? "consumer" : "provider",
			      reason ? ": " : "", reason ? reason : "");
	enum agora_qs qs = x->leg == NEG_FROM_CONSUMER
				   ? terminate_provider_leg(c, n, n->code, n->reason)
				   : terminate_consumer_leg(c, n, n->code, n->reason);
	free(reason);
	return qs;
}

static enum agora_qs
message_tx(PGconn *c, void *ctx)
{
	struct msg_ctx *x = ctx;
	const struct agora_dsp_msg *m = x->m;
	struct db_neg n;
	x->sent = false;
	x->not_found = false;
	/* The lock and the look-up of a repeated message in one round trip. */
	enum agora_qs seen = AGORA_QS_NONE;
	int status;
	json_t *reply = NULL;
	enum agora_qs qs = db_bneg_lock_seen(c, x->leg == NEG_FROM_CONSUMER ? DB_NEG_BY_ID : DB_NEG_BY_LEG,
					     x->pid, agora_dsp_kind_name(m->kind), x->sha, &n, &seen,
					     &status, &reply);
	if (qs < 0)
		goto out;
	const char *party = x->leg == NEG_FROM_CONSUMER ? n.consumer_id : n.provider_id;
	if (qs == AGORA_QS_NONE || !str_eq(party, x->sender)) {
		x->not_found = true;
		answer_error(x->out, 404, m->provider_pid, m->consumer_pid, "not_found",
			     "no negotiation '%s' of yours", x->pid);
		qs = AGORA_QS_NONE;
		goto out;
	}
	const char *ppid = my_ppid(x, &n), *cpid = my_cpid(x, &n);
	/* The other pid must be the negotiation's too. */
	if (x->leg == NEG_FROM_CONSUMER ? !str_eq(m->consumer_pid, n.consumer_pid)
					: (n.provider_pid && !str_eq(m->provider_pid, n.provider_pid))) {
		answer_error(x->out, 400, ppid, cpid, "invalid_message", "%s does not match the negotiation",
			     x->leg == NEG_FROM_CONSUMER ? "consumerPid" : "providerPid");
		qs = AGORA_QS_NONE;
		goto out;
	}
	qs = seen;
	if (qs < 0)
		goto out;
	if (qs == AGORA_QS_ONE) {
		answer(x->out, (unsigned)status, reply);
		reply = NULL;
		goto out;
	}
	enum agora_dsp_state to;
	enum agora_dsp_role role = x->leg == NEG_FROM_CONSUMER ? AGORA_DSP_CONSUMER : AGORA_DSP_PROVIDER;
	if (!agora_dsp_transition(n.state, m->kind, role, &to)) {
		answer_error(x->out, 400, ppid, cpid, "invalid_transition",
			     "%s from the %s is not allowed in state %s", agora_dsp_kind_name(m->kind),
			     agora_dsp_role_name(role), agora_dsp_state_name(n.state));
		qs = AGORA_QS_NONE;
		goto out;
	}
	if (!n.provider_pid && x->leg == NEG_FROM_PROVIDER)
		set_str(&n.provider_pid, m->provider_pid);
	json_decref(x->out->body);
	x->out->body = NULL;
	switch (m->kind) {
	case AGORA_DSP_MSG_CONTRACT_AGREEMENT:
		qs = on_agreement(c, x, &n);
		break;
	case AGORA_DSP_MSG_AGREEMENT_VERIFICATION:
		qs = on_verification(c, x, &n);
		break;
	case AGORA_DSP_MSG_EVENT_FINALIZED:
		qs = on_finalized(c, x, &n);
		break;
	case AGORA_DSP_MSG_TERMINATION:
		qs = on_termination(c, x, &n);
		break;
	default:
		answer_error(x->out, 400, ppid, cpid, "invalid_message", "%s is not supported here",
			     agora_dsp_kind_name(m->kind));
		qs = AGORA_QS_NONE;
		break;
	}
	if (qs != AGORA_QS_ONE || x->out->body)	/* refused: nothing stored */
		goto out;
	n.state = to;
	answer(x->out, 200, agora_dsp_negotiation_new(my_ppid(x, &n), my_cpid(x, &n), to));
	/* Only the agreement sets the agreement id, whose uniqueness the
	 * caller needs to see violated (CONFLICT) at once; the other updates
	 * go with the COMMIT. */
	qs = m->kind == AGORA_DSP_MSG_CONTRACT_AGREEMENT ? db_bneg_update(c, &n)
							  : db_bneg_update_locked(c, &n);
	if (qs != AGORA_QS_ONE)
		goto out;
	qs = db_bneg_message_add(c, n.id, "in", x->leg == NEG_FROM_CONSUMER ? LEG_CONSUMER : LEG_PROVIDER,
				agora_dsp_kind_name(m->kind), x->msg, x->sha, 200, x->out->body);
	x->sent = qs == AGORA_QS_ONE;
out:
	json_decref(reply);	/* a repeat's answer not used (refused earlier) */
	db_bneg_cleanup(&n);
	return qs;
}

void
broker_neg_message(const struct broker *b, enum neg_leg leg, const char *sender, const char *pid,
	    unsigned kinds, const json_t *msg, struct neg_answer *out)
{
	struct agora_dsp_msg m;
	char err[256], sha[65];
	json_t *receipt = NULL;
	out->body = NULL;
	if (agora_dsp_parse_negotiation_message(msg, &m, err, sizeof err) != 0) {
		answer_error(out, 400, json_string_value(json_object_get(msg, "providerPid")),
			     json_string_value(json_object_get(msg, "consumerPid")), "invalid_message",
			     "%s", err);
		return;
	}
	if (!(kinds & (1u << m.kind))) {
		answer_error(out, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "%s is not taken at this endpoint", agora_dsp_kind_name(m.kind));
		return;
	}
	const char *path_pid = leg == NEG_FROM_CONSUMER ? m.provider_pid : m.consumer_pid;
	if (!str_eq(path_pid, pid)) {
		answer_error(out, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "%s does not match the path",
			     leg == NEG_FROM_CONSUMER ? "providerPid" : "consumerPid");
		return;
	}
	if (!agora_jcs_sha256_hex(msg, sha)) {
		answer_error(out, 400, m.provider_pid, m.consumer_pid, "invalid_message",
			     "the message cannot be canonicalised");
		return;
	}
	/* The receipt is read before the transaction: it signs a tree head
	 * in a transaction of its own. */
	if (m.kind == AGORA_DSP_MSG_EVENT_FINALIZED) {
		struct db_neg n;
		if (db_bneg_get(NULL, DB_NEG_BY_LEG, pid, NULL, false, &n) == AGORA_QS_ONE &&
		    n.ledger_index >= 0)
			receipt = ledger_receipt(n.ledger_index);
		db_bneg_cleanup(&n);
	}
	struct msg_ctx x = { b, leg, sender, pid, msg, &m, sha, receipt, out, false, false };
	enum agora_qs qs = agora_db_tx(message_tx, &x, false);
	if (qs == AGORA_QS_CONFLICT && m.kind == AGORA_DSP_MSG_CONTRACT_AGREEMENT) {
		struct db_neg n;
		db_bneg_get(NULL, DB_NEG_BY_LEG, pid, NULL, false, &n);
		answer_error(out, 400, n.provider_pid ? n.provider_pid : m.provider_pid, pid,
			     "invalid_agreement", "agreement id '%s' is already used",
			     json_string_value(json_object_get(m.agreement, "@id")));
		db_bneg_cleanup(&n);
	} else if (qs < 0 || qs == AGORA_QS_CONFLICT || !out->body) {
		answer_error(out, 503, m.provider_pid, m.consumer_pid, "unavailable",
			     "the broker cannot process this now; retry later");
	}
	json_decref(receipt);
}

void
broker_neg_state(const char *sender, const char *pid, struct neg_answer *out)
{
	struct db_neg n;
	out->body = NULL;
	enum agora_qs qs = db_bneg_get(NULL, DB_NEG_BY_ID, pid, NULL, false, &n);
	if (qs < 0)
		answer_error(out, 503, pid, "", "unavailable", "the database is unavailable");
	else if (qs == AGORA_QS_NONE || !str_eq(n.consumer_id, sender))
		/* The schema wants both pids; the consumer's is not ours to tell. */
		answer_error(out, 404, pid, "", "not_found", "no negotiation '%s' of yours", pid);
	else
		answer(out, 200, agora_dsp_negotiation_new(n.id, n.consumer_pid, n.state));
	db_bneg_cleanup(&n);
}

/* ---- outbox results --------------------------------------------------------- */

static void
on_result(void *ctx, PGconn *c, const char *kind, const char *ref, const json_t *sent_body,
	  long status, const json_t *reply, enum agora_outbox_outcome outcome)
{
	(void)sent_body;
	if (!ref || !kind)
		return;
	if (!strncmp(kind, "transfer ", 9)) {
		broker_transfer_on_result(ctx, c, kind, ref, status, reply, outcome);
		return;
	}
	const char *sp = strchr(kind, ' ');
	if (!sp)
		return;
	bool provider_leg = !strncmp(kind, LEG_PROVIDER " ", strlen(LEG_PROVIDER) + 1);
	const char *type = sp + 1;
	bool is_request = provider_leg &&
			  !strcmp(type, agora_dsp_kind_name(AGORA_DSP_MSG_CONTRACT_REQUEST));
	bool is_termination = !strcmp(type, agora_dsp_kind_name(AGORA_DSP_MSG_TERMINATION));
	if (outcome == AGORA_OUTBOX_DELIVERED && !is_request)
		return;
	if (outcome != AGORA_OUTBOX_DELIVERED && is_termination) {
		agora_logf(AGORA_LOG_WARN, "negotiation", "%s: %s not delivered (HTTP %ld)", ref, kind,
			   status);
		return;
	}
	struct db_neg n;
	if (db_bneg_get(c, DB_NEG_BY_ID, ref, NULL, true, &n) != AGORA_QS_ONE) {
		db_bneg_cleanup(&n);
		return;
	}
	struct agora_dsp_reply rp;
	char err[256];
	bool parsed = reply && agora_dsp_parse_reply(reply, &rp, err, sizeof err) == 0;
	if (outcome == AGORA_OUTBOX_DELIVERED) {
		/* Step 2's request was acknowledged: the provider's pid.  A
		 * termination that waited for it goes now. */
		if (!n.provider_pid && parsed && !rp.is_error && rp.provider_pid) {
			set_str(&n.provider_pid, rp.provider_pid);
			if (db_bneg_update(c, &n) == AGORA_QS_ONE &&
			    n.state == AGORA_DSP_STATE_TERMINATED)
				terminate_provider_leg(c, &n, n.code, n.reason);
		}
		goto out;
	}
	if (agora_dsp_is_final(n.state))
		goto out;
	char *why = parsed && rp.is_error ? join_reasons(rp.reason) : NULL;
	set_str(&n.code, parsed && rp.is_error && rp.code ? rp.code
			 : outcome == AGORA_OUTBOX_REFUSED ? "refused" : "unreachable");
	free(n.reason);
	n.reason = xasprintf("the %s %s %s (HTTP %ld)%s%s", provider_leg ? "provider" : "consumer",
			     outcome == AGORA_OUTBOX_REFUSED ? "refused" : "could not be reached with",
			     type, status, why ? ": " : "", why ? why : "");
	free(why);
	n.state = AGORA_DSP_STATE_TERMINATED;
	if (db_bneg_update(c, &n) == AGORA_QS_ONE) {
		if (provider_leg)
			terminate_consumer_leg(c, &n, n.code, n.reason);
		else
			terminate_provider_leg(c, &n, n.code, n.reason);
	}
out:
	db_bneg_cleanup(&n);
}

bool
broker_neg_outbox_start(const struct broker *b, const char *conninfo, unsigned workers)
{
	struct agora_outbox_config cfg = {
		.conninfo = conninfo,
		.workers = workers,
		.key = b->svc.key,
		.kid = b->svc.kid,
		.self_id = b->svc.participant_id,
		.on_result = on_result,
		.ctx = (void *)b,
	};
	outbox = agora_outbox_start(&cfg);
	return outbox != NULL;
}

struct agora_outbox *
broker_outbox(void)
{
	return outbox;
}

void
broker_neg_outbox_stop(void)
{
	agora_outbox_stop(outbox);
	outbox = NULL;
}
