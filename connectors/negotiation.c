/* negotiation.c — see negotiation.h and docs/NEGOTIATION.md.
 *
 * One shape for every incoming message: parse (lib/dsp), then one
 * transaction that locks the negotiation, answers a repeated identical
 * message from the history, checks the party and the transition (the one
 * table in lib/dsp.c), does the kind's work, and writes the new state, the
 * history row and the outgoing message (outbox) together.  Refusals write
 * nothing.
 */
#include "negotiation.h"

#include "agreement.h"
#include "crypto.h"
#include "db_connector.h"
#include "jcs.h"
#include "jose.h"
#include "log.h"
#include "policy.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ROLE_NAME(r) agora_dsp_role_name(r)

static const char *
sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

#define seg agora_path_segment

static void
answer_error(struct neg_answer *a, unsigned status, const char *ppid, const char *cpid,
	     const char *code, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

static void
answer_error(struct neg_answer *a, unsigned status, const char *ppid, const char *cpid,
	     const char *code, const char *fmt, ...)
{
	char reason[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof reason, fmt, ap);
	va_end(ap);
	const char *rs[] = { reason };
	json_decref(a->body);
	a->status = status;
	a->body = agora_dsp_error_new(ppid, cpid, code, rs, 1);
}

/* ---- keys for signature chains ----------------------------------------- */

/* lookup_key's context: whether a key could not be had because the broker's
 * directory was unreachable — then a failed chain is answered 503 (the
 * sender retries), not refused for good. */
struct key_lookup {
	const struct connector *c;
	bool unavailable;
};

static struct agora_key *
lookup_key(void *ctx, const char *role, const char *signer, const char *kid)
{
	struct key_lookup *l = ctx;
	const struct connector *c = l->c;
	if (!signer || !kid)
		return NULL;
	if (strcmp(role, "broker") == 0 && strcmp(signer, c->broker_url) != 0)
		return NULL;
	if (strcmp(signer, c->svc.participant_id) == 0 && strcmp(kid, c->svc.kid) == 0) {
		uint8_t pub[32];
		agora_key_public_raw(c->svc.key, pub);
		return agora_key_from_public_raw(pub);
	}
	bool down = false;
	struct agora_key *k = connector_participant_key(signer, kid, &down);
	l->unavailable |= down;
	return k;
}

/* ---- sending ------------------------------------------------------------ */

/* Queue msg (borrowed) for url in the caller's transaction, and record it
 * in the history.  Every message we emit is checked by our own parser
 * first: a bug here must not reach a counterpart. */
static enum agora_qs
send_msg(PGconn *db, const json_t *neg, const char *kind, const char *url, const json_t *msg)
{
	struct agora_dsp_msg m;
	char err[256];
	if (agora_dsp_parse_negotiation_message(msg, &m, err, sizeof err) != 0) {
		agora_logf(AGORA_LOG_ERROR, "negotiation", "refusing to send an invalid %s: %s", kind, err);
		return AGORA_QS_HARD_ERROR;
	}
	const char *id = sget(neg, "id");
	enum agora_qs qs = agora_outbox_put(db, kind, url, sget(neg, "counterpart"), msg, id);
	if (qs != AGORA_QS_ONE)
		return qs;
	return db_neg_msg_insert(db, id, "out", agora_dsp_kind_name(m.kind), NULL, 0, NULL, msg);
}

/* The termination message to the counterpart, when its pid is known. */
static enum agora_qs
send_termination(PGconn *db, const struct connector *c, const json_t *neg, const char *code,
		 const char *reason)
{
	const char *id = sget(neg, "id"), *cpid = sget(neg, "counterpartPid");
	if (!cpid)
		return AGORA_QS_ONE;	/* sent once the acknowledgement names it */
	bool provider = strcmp(sget(neg, "role"), "provider") == 0;
	const char *rs[] = { reason };
	json_t *msg = provider ? agora_dsp_termination_new(id, cpid, code, rs, 1)
			       : agora_dsp_termination_new(cpid, id, code, rs, 1);
	char *s = seg(cpid);
	char *url = provider ? xasprintf("%s/negotiations/%s/termination", sget(neg, "callback"), s)
			     : xasprintf("%s/dsp/negotiations/%s/termination", c->broker_url, s);
	enum agora_qs qs = send_msg(db, neg, "termination", url, msg);
	free(url);
	free(s);
	json_decref(msg);
	return qs;
}

static json_t *
rules_of(const json_t *policy, json_t *into)
{
	static const char *const keys[] = { "permission", "prohibition", "obligation" };
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		json_t *v = json_object_get(policy, keys[i]);
		if (v)
			json_object_set_new(into, keys[i], json_deep_copy(v));
	}
	return into;
}

/* Provider: agree to neg (locked, REQUESTED): the ODRL Agreement with the
 * requested offer's rules, signed by us, stored, AGREED, and the
 * ContractAgreementMessage queued for the counterpart's callback. */
static enum agora_qs
agree(PGconn *db, const struct connector *c, const json_t *neg)
{
	enum agora_dsp_state to;
	enum agora_dsp_state from;
	if (!agora_dsp_state_from_name(sget(neg, "state"), &from) ||
	    !agora_dsp_transition(from, AGORA_DSP_MSG_CONTRACT_AGREEMENT, AGORA_DSP_PROVIDER, &to))
		return AGORA_QS_NONE;
	char aid[46], ts[32];
	agora_urn_uuid(aid);
	agora_time_rfc3339(agora_now(), ts);
	json_t *agreement = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "@id", aid, "@type", "Agreement",
				      "target", sget(neg, "datasetId"), "assigner",
				      c->svc.participant_id, "assignee", sget(neg, "consumer"),
				      "timestamp", ts);
	rules_of(json_object_get(neg, "offer"), agreement);
	json_t *sig = agora_agreement_sign(agreement, "provider", c->svc.participant_id, c->svc.key, NULL);
	enum agora_qs qs = AGORA_QS_HARD_ERROR;
	json_t *sigs = NULL, *msg = NULL;
	char *url = NULL, *s = NULL;
	if (!sig)
		goto out;
	sigs = json_pack("[O]", sig);
	const char *id = sget(neg, "id"), *cpid = sget(neg, "counterpartPid");
	/* A fresh id, and neg has no agreement yet (REQUESTED): no unique
	 * index can refuse it, so it goes with the COMMIT. */
	if ((qs = db_agreement_add(db, aid, id, agreement, sigs)) != AGORA_QS_ONE)
		goto out;
	if ((qs = db_neg_update(db, id, agora_dsp_state_name(to), NULL, aid, NULL, NULL)) != AGORA_QS_ONE)
		goto out;
	msg = agora_dsp_agreement_message_new(id, cpid, agreement);
	json_object_set(msg, "signatures", sigs);
	s = seg(cpid);
	url = xasprintf("%s/negotiations/%s/agreement", sget(neg, "callback"), s);
	qs = send_msg(db, neg, "contract_agreement", url, msg);
out:
	free(url);
	free(s);
	json_decref(msg);
	json_decref(sigs);
	json_decref(sig);
	json_decref(agreement);
	return qs;
}

/* ---- provider: the initial request -------------------------------------- */

struct req_ctx {
	struct connector *c;
	const char *sender;
	const json_t *body;
	struct agora_dsp_msg m;
	const char *consumer;
	char hash[65];
	struct neg_answer *out;
	bool agreed;
	/* A refusal names a providerPid too (the schema requires one): a fresh
	 * one, of a negotiation that was never stored. */
	char refused_pid[46];
};

/* Is the requested offer the contract policy or narrower?  NULL when it
 * is, else a heap string saying why not. */
char *
negotiation_offer_narrows(const json_t *contract, const json_t *requested)
{
	struct agora_policy_problems *pb = agora_policy_problems_new();
	/* The requested offer names the dataset as its target, the stored
	 * contract policy names none: compare them about the same asset, or a
	 * prohibition of the one is never "kept" by the other. */
	json_t *c = json_deep_copy(contract);
	const json_t *target = json_object_get(requested, "target");
	if (json_is_object(c) && target && !json_object_get(c, "target"))
		json_object_set(c, "target", (json_t *)target);
	struct agora_policy *a = agora_policy_parse(c, NULL, NULL);
	json_decref(c);
	struct agora_policy *b = agora_policy_parse(requested, NULL, pb);
	char *why = NULL;
	if (!a)
		why = xstrdup("the offer's contract policy cannot be read");
	else if (!b)
		why = xasprintf("the offer is not a valid policy: %s: %s",
				agora_policy_problems_count(pb) ? agora_policy_problem_path(pb, 0) : "",
				agora_policy_problems_count(pb) ? agora_policy_problem_message(pb, 0) : "");
	else if (!agora_policy_narrows(a, b, &why) && !why)
		why = xstrdup("the offer is not the contract policy or a stricter version of it");
	agora_policy_free(a);
	agora_policy_free(b);
	agora_policy_problems_free(pb);
	return why;
}

/* What agree() and send_msg() read of new negotiation n (db_neg_get's
 * document, less what the database adds), without reading it back;
 * offer: the requested offer as the database renders it. */
static json_t *
new_neg_doc(const struct db_neg_new *n, const json_t *offer)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:b, s:s, s:s?}",
			 "id", n->id, "role", n->role, "counterpart", n->counterpart,
			 "counterpartPid", n->counterpart_pid, "callback", n->callback,
			 "consumer", n->consumer, "provider", n->provider, "datasetId", n->dataset_id,
			 "offerId", n->offer_id, "offer", offer, "autoAccept", n->auto_accept,
			 "state", n->state, "owner", n->owner);
}

static enum agora_qs
request_tx(PGconn *db, void *arg)
{
	struct req_ctx *x = arg;
	struct neg_answer *a = x->out;
	const char *cpid = x->m.consumer_pid;
	json_decref(a->body);
	a->body = NULL;
	x->agreed = false;
	json_t *neg = NULL, *offer = NULL;
	const char *oid = sget(x->m.offer, "@id"), *target = sget(x->m.offer, "target");
	/* The offer is read in the same round trip as the look-up of the
	 * consumerPid (answered only when that finds none; no look-up of an
	 * overlong or missing id, refused below).  A concurrent identical
	 * request waits there until this one ends, then finds its answer. */
	bool lookup = target && strlen(oid) <= 200 && strlen(target) <= 200;
	enum agora_qs offer_qs;
	enum agora_qs qs = db_neg_request_lookup(db, x->sender, cpid, oid, lookup ? target : NULL,
						 x->m.offer, &neg, &offer_qs, &offer);
	if (qs < 0)
		return qs;
	if (qs == AGORA_QS_ONE) {
		/* Seen this consumerPid: the same request gets the same answer,
		 * another one is a request in a state that does not take it. */
		long st;
		json_t *rep = NULL;
		qs = db_neg_msg_find(db, sget(neg, "id"), x->hash, &st, &rep);
		if (qs == AGORA_QS_ONE) {
			a->status = (unsigned)st;
			a->body = rep;
		} else if (qs == AGORA_QS_NONE) {
			answer_error(a, 400, sget(neg, "id"), cpid, "invalid_transition",
				     "a ContractRequestMessage is not allowed in state %s",
				     sget(neg, "state"));
		}
		json_decref(neg);
		return qs < 0 ? qs : AGORA_QS_NONE;
	}
	if (!target) {
		answer_error(a, 400, x->refused_pid, cpid, "invalid_offer", "the offer has no target");
		return AGORA_QS_NONE;
	}
	const char *assigner = sget(x->m.offer, "assigner");
	if (assigner && strcmp(assigner, x->c->svc.participant_id) != 0) {
		answer_error(a, 400, x->refused_pid, cpid, "invalid_offer", "the offer's assigner is not %s",
			     x->c->svc.participant_id);
		json_decref(offer);
		return AGORA_QS_NONE;
	}
	if ((qs = offer_qs) < 0)
		return qs;
	if (qs == AGORA_QS_NONE) {
		answer_error(a, 400, x->refused_pid, cpid, "unknown_offer",
			     "no offer '%.200s' of dataset '%.200s' here", oid, target);
		return AGORA_QS_NONE;
	}
	char *why = negotiation_offer_narrows(json_object_get(offer, "contract"), x->m.offer);
	if (why) {
		answer_error(a, 400, x->refused_pid, cpid, "offer_mismatch", "%s", why);
		free(why);
		json_decref(offer);
		return AGORA_QS_NONE;
	}
	char id[46];
	agora_urn_uuid(id);
	bool aa = json_is_true(json_object_get(offer, "autoAccept"));
	struct db_neg_new n = { .id = id, .role = "provider", .counterpart = x->sender,
				.counterpart_pid = cpid, .callback = x->m.callback_address,
				.consumer = x->consumer, .provider = x->c->svc.participant_id,
				.dataset_id = target, .offer_id = oid, .offer = x->m.offer,
				.auto_accept = aa, .state = "REQUESTED", .owner = sget(offer, "owner") };
	/* A fresh id, and the consumerPid found free under the lookup's lock:
	 * no unique index can refuse it, so it goes with the COMMIT. */
	qs = db_neg_add(db, &n);
	if (qs == AGORA_QS_ONE && aa)
		neg = new_neg_doc(&n, json_object_get(offer, "requested"));
	json_decref(offer);
	if (qs != AGORA_QS_ONE)
		return qs;
	a->status = 201;
	a->body = agora_dsp_negotiation_new(id, cpid, AGORA_DSP_STATE_REQUESTED);
	qs = db_neg_msg_insert(db, id, "in", "ContractRequestMessage", x->hash, 201, a->body, x->body);
	if (qs != AGORA_QS_ONE || !aa) {
		json_decref(neg);
		return qs;
	}
	qs = neg ? agree(db, x->c, neg) : AGORA_QS_HARD_ERROR;
	json_decref(neg);
	x->agreed = qs == AGORA_QS_ONE;
	return qs == AGORA_QS_NONE ? AGORA_QS_HARD_ERROR : qs;
}

void
negotiation_receive_request(struct connector *c, const char *sender, const json_t *body,
			    struct neg_answer *out)
{
	out->status = 0;
	out->body = NULL;
	struct req_ctx x = { .c = c, .sender = sender, .body = body, .out = out };
	agora_urn_uuid(x.refused_pid);
	char err[256];
	if (!body || agora_dsp_parse_negotiation_message(body, &x.m, err, sizeof err) != 0) {
		answer_error(out, 400, NULL, NULL, "invalid_message", "%s", body ? err : "no body");
		return;
	}
	if (strcmp(sender, c->broker_url) != 0) {
		answer_error(out, 404, x.refused_pid, x.m.consumer_pid, "not_found",
			     "this provider takes requests from its broker only");
		return;
	}
	if (x.m.kind != AGORA_DSP_MSG_CONTRACT_REQUEST || !x.m.callback_address) {
		answer_error(out, 400, x.refused_pid, x.m.consumer_pid, "invalid_message",
			     "expected an initial ContractRequestMessage with a callbackAddress");
		return;
	}
	x.consumer = sget(body, "consumer");
	if (!x.consumer || !*x.consumer || strlen(x.consumer) > 200) {
		answer_error(out, 400, x.refused_pid, x.m.consumer_pid, "invalid_message",
			     "the extension member \"consumer\" (the consumer's participant id) is required");
		return;
	}
	if (!agora_jcs_sha256_hex(body, x.hash)) {
		answer_error(out, 400, x.refused_pid, x.m.consumer_pid, "invalid_message", "the body cannot be canonicalised");
		return;
	}
	enum agora_qs qs = agora_db_tx(request_tx, &x, false);
	if (qs < 0 || !out->body) {
		json_decref(out->body);
		answer_error(out, 503, x.refused_pid, x.m.consumer_pid, "unavailable", "the database is unavailable; retry later");
		return;
	}
	/* What the transaction queued, the outbox's commit hook has woken a
	 * worker for (here and below). */
}

/* ---- messages for an existing negotiation ------------------------------- */

struct rx_ctx {
	struct connector *c;
	enum agora_dsp_role role;	/* ours */
	const char *pid, *sender;
	const json_t *body;
	struct agora_dsp_msg m;
	char hash[65];
	struct neg_answer *out;
	bool sent;
};

static bool
rules_equal(const json_t *a, const json_t *b)
{
	static const char *const keys[] = { "permission", "prohibition", "obligation" };
	for (size_t i = 0; i < ARRAY_LEN(keys); i++) {
		json_t *x = json_object_get(a, keys[i]), *y = json_object_get(b, keys[i]);
		if ((x || y) && !(x && y && json_equal(x, y)))
			return false;
	}
	return true;
}

/* Consumer: the agreement with the provider's and the broker's signatures.
 * Checks it against the negotiation, verifies both, signs, stores the three
 * and queues the verification.  NONE (with the answer) on a refusal.
 * stored: whether its id is stored already, as rx_tx read it with the lock
 * (which keeps any other transaction from storing it until we end). */
static enum agora_qs
rx_agreement(PGconn *db, struct rx_ctx *x, const json_t *neg, const char *ppid,
	     enum agora_qs stored, enum agora_dsp_state *state)
{
	const struct connector *c = x->c;
	const json_t *ag = x->m.agreement;
	const char *aid = sget(ag, "@id");
	char err[256];
	const char *bad = NULL;
	if (strcmp(sget(ag, "target"), sget(neg, "datasetId")) != 0)
		bad = "the agreement's target is not the negotiated dataset";
	else if (strcmp(sget(ag, "assignee"), c->svc.participant_id) != 0)
		bad = "the agreement's assignee is not this participant";
	else if (strcmp(sget(ag, "assigner"), sget(neg, "provider")) != 0)
		bad = "the agreement's assigner is not the negotiated provider";
	else if (!rules_equal(ag, json_object_get(neg, "offer")))
		bad = "the agreement's rules differ from the requested offer";
	if (bad) {
		answer_error(x->out, 400, ppid, x->pid, "invalid_agreement", "%s", bad);
		return AGORA_QS_NONE;
	}
	struct key_lookup keys = { c, false };
	if (!json_is_array(x->m.signatures) ||
	    !agora_agreement_verify_chain(ag, x->m.signatures, 2, lookup_key, &keys, err, sizeof err)) {
		if (keys.unavailable)
			answer_error(x->out, 503, ppid, x->pid, "unavailable",
				     "the participant directory is unavailable; retry later");
		else
			answer_error(x->out, 400, ppid, x->pid, "invalid_signature", "%s",
				     x->m.signatures ? err : "the agreement carries no signatures");
		return AGORA_QS_NONE;
	}
	if (stored < 0)
		return stored;
	if (stored == AGORA_QS_ONE) {
		answer_error(x->out, 400, ppid, x->pid, "invalid_agreement",
			     "agreement '%.200s' is already stored", aid);
		return AGORA_QS_CONFLICT;
	}
	json_t *mine = agora_agreement_sign(ag, "consumer", c->svc.participant_id, c->svc.key, NULL);
	if (!mine)
		return AGORA_QS_HARD_ERROR;
	json_t *sigs = json_deep_copy(x->m.signatures);
	json_array_append_new(sigs, mine);
	/* Not stored (checked under the lock), and the negotiation has none
	 * (the transition allowed an agreement): no unique index can refuse
	 * it, so it goes with the COMMIT. */
	enum agora_qs qs = db_agreement_add(db, aid, x->pid, ag, sigs);
	if (qs == AGORA_QS_ONE) {
		/* AGREED, and at once VERIFIED by our verification message. */
		agora_dsp_transition(*state, AGORA_DSP_MSG_AGREEMENT_VERIFICATION, AGORA_DSP_CONSUMER, state);
		json_t *msg = agora_dsp_verification_new(ppid, x->pid);
		json_object_set(msg, "signatures", sigs);
		char *s = seg(ppid);
		char *url = xasprintf("%s/dsp/negotiations/%s/agreement/verification", c->broker_url, s);
		/* The providerPid only when not known yet (see rx_tx). */
		const char *learnt = sget(neg, "counterpartPid") ? NULL : ppid;
		qs = db_neg_update(db, x->pid, agora_dsp_state_name(*state), learnt, aid, NULL, NULL);
		if (qs == AGORA_QS_ONE)
			qs = send_msg(db, neg, "agreement_verification", url, msg);
		x->sent = true;
		free(url);
		free(s);
		json_decref(msg);
	}
	json_decref(sigs);
	return qs;
}

/* Provider: the verification with all three signatures; doc is the
 * agreement neg names (borrowed), as rx_tx read it with the lock (qs its
 * status). */
static enum agora_qs
rx_verification(PGconn *db, struct rx_ctx *x, const json_t *neg, enum agora_qs qs, const json_t *doc,
		enum agora_dsp_state *state)
{
	const char *cpid = sget(neg, "counterpartPid");
	char err[256];
	if (qs < 0)
		return qs;
	if (qs == AGORA_QS_NONE)
		return AGORA_QS_HARD_ERROR;	/* AGREED always has one */
	const json_t *ag = json_object_get(doc, "agreement");
	const json_t *stored = json_array_get(json_object_get(doc, "signatures"), 0);
	struct key_lookup keys = { x->c, false };
	if (!json_is_array(x->m.signatures) ||
	    !agora_agreement_verify_chain(ag, x->m.signatures, 3, lookup_key, &keys, err, sizeof err) ||
	    !json_equal(json_array_get(x->m.signatures, 0), stored)) {
		if (keys.unavailable)
			answer_error(x->out, 503, x->pid, cpid, "unavailable",
				     "the participant directory is unavailable; retry later");
		else
			answer_error(x->out, 400, x->pid, cpid, "invalid_signature", "%s",
				     !x->m.signatures ? "the verification carries no signatures"
				     : *err		? err
							: "the provider signature is not the one we made");
		return AGORA_QS_NONE;
	}
	qs = db_agreement_update(db, sget(neg, "agreementId"), x->m.signatures, NULL);
	if (qs != AGORA_QS_ONE)
		return qs;
	/* VERIFIED, and at once FINALIZED by our event. */
	agora_dsp_transition(*state, AGORA_DSP_MSG_EVENT_FINALIZED, AGORA_DSP_PROVIDER, state);
	json_t *msg = agora_dsp_event_new(x->pid, cpid, AGORA_DSP_MSG_EVENT_FINALIZED);
	char *s = seg(cpid);
	char *url = xasprintf("%s/negotiations/%s/events", sget(neg, "callback"), s);
	qs = db_neg_update(db, x->pid, agora_dsp_state_name(*state), NULL, NULL, NULL, NULL);
	if (qs == AGORA_QS_ONE)
		qs = send_msg(db, neg, "event_finalized", url, msg);
	x->sent = true;
	free(url);
	free(s);
	json_decref(msg);
	return qs;
}

static enum agora_qs
rx_tx(PGconn *db, void *arg)
{
	struct rx_ctx *x = arg;
	struct neg_answer *a = x->out;
	json_decref(a->body);
	a->body = NULL;
	x->sent = false;
	bool provider = x->role == AGORA_DSP_PROVIDER;
	const char *ppid = provider ? x->pid : x->m.provider_pid;
	const char *cpid = provider ? x->m.consumer_pid : x->pid;
	json_t *neg = NULL, *rep = NULL, *agr = NULL;
	long st;
	/* The lock and the look-up of a repeated message in one round trip,
	 * and what the kind's work reads (after the lock too): for a
	 * verification the agreement it is about; for an agreement whether
	 * its id is stored already (then its INSERT cannot fail, and goes with
	 * the COMMIT). */
	struct db_neg_also also = { 0 };
	if (x->m.kind == AGORA_DSP_MSG_AGREEMENT_VERIFICATION)
		also.agreement = &agr;
	else if (x->m.kind == AGORA_DSP_MSG_CONTRACT_AGREEMENT)
		also.new_agreement = sget(x->m.agreement, "@id");
	enum agora_qs found = AGORA_QS_NONE;
	enum agora_qs qs = strlen(x->pid) <= 200
				   ? db_neg_lock_find(db, x->pid, x->hash, &neg, &found, &st, &rep, &also)
				   : AGORA_QS_NONE;
	if (qs < 0) {
		json_decref(rep);
		return qs;
	}
	if (qs == AGORA_QS_NONE || strcmp(sget(neg, "role"), ROLE_NAME(x->role)) != 0 ||
	    strcmp(sget(neg, "counterpart"), x->sender) != 0) {
		answer_error(a, 404, ppid, cpid, "not_found", "no such negotiation of yours");
		json_decref(neg);
		json_decref(rep);
		json_decref(agr);
		return AGORA_QS_NONE;
	}
	if ((qs = found) != AGORA_QS_NONE) {
		if (qs == AGORA_QS_ONE) {
			a->status = (unsigned)st;
			a->body = rep;
		}
		json_decref(neg);
		return qs;
	}
	const char *known = sget(neg, "counterpartPid");
	const char *own_in_msg = provider ? x->m.provider_pid : x->m.consumer_pid;
	const char *their_in_msg = provider ? x->m.consumer_pid : x->m.provider_pid;
	if (!own_in_msg || strcmp(own_in_msg, x->pid) != 0 || !their_in_msg ||
	    (known && strcmp(their_in_msg, known) != 0)) {
		answer_error(a, 400, ppid, cpid, "pid_mismatch",
			     "the message's consumerPid/providerPid do not name this negotiation");
		json_decref(neg);
		json_decref(agr);
		return AGORA_QS_NONE;
	}
	/* Their pid when this message teaches it: when known (the same, as
	 * checked) the UPDATE needs not set it, and goes with the COMMIT. */
	const char *learnt = known ? NULL : their_in_msg;
	enum agora_dsp_state from, to;
	agora_dsp_state_from_name(sget(neg, "state"), &from);
	enum agora_dsp_role sender_role = provider ? AGORA_DSP_CONSUMER : AGORA_DSP_PROVIDER;
	if (!agora_dsp_transition(from, x->m.kind, sender_role, &to)) {
		answer_error(a, 400, ppid, cpid, "invalid_transition", "a %s from the %s is not allowed in state %s",
			     agora_dsp_kind_name(x->m.kind), ROLE_NAME(sender_role), sget(neg, "state"));
		json_decref(neg);
		json_decref(agr);
		return AGORA_QS_NONE;
	}
	switch (x->m.kind) {
	case AGORA_DSP_MSG_CONTRACT_AGREEMENT:
		qs = rx_agreement(db, x, neg, ppid, also.qs, &to);
		break;
	case AGORA_DSP_MSG_AGREEMENT_VERIFICATION:
		qs = rx_verification(db, x, neg, also.qs, agr, &to);
		break;
	case AGORA_DSP_MSG_EVENT_FINALIZED: {
		json_t *receipt = json_object_get(x->body, "receipt");
		qs = AGORA_QS_ONE;
		if (json_is_object(receipt) && sget(neg, "agreementId"))
			qs = db_agreement_update(db, sget(neg, "agreementId"), NULL, receipt);
		if (qs == AGORA_QS_ONE)
			qs = db_neg_update(db, x->pid, agora_dsp_state_name(to), NULL, NULL, NULL, NULL);
		break;
	}
	case AGORA_DSP_MSG_TERMINATION: {
		const char *reason = json_string_value(json_array_get(x->m.reason, 0));
		qs = db_neg_update(db, x->pid, agora_dsp_state_name(to), learnt,
				   NULL, x->m.code ? x->m.code : "terminated",
				   reason ? reason : "terminated by the counterpart");
		break;
	}
	default:
		qs = db_neg_update(db, x->pid, agora_dsp_state_name(to), learnt, NULL, NULL, NULL);
		break;
	}
	if (qs == AGORA_QS_ONE) {
		a->status = 200;
		a->body = agora_dsp_negotiation_new(ppid, cpid, to);
		qs = db_neg_msg_insert(db, x->pid, "in", agora_dsp_kind_name(x->m.kind), x->hash, 200,
				       a->body, x->body);
	}
	json_decref(neg);
	json_decref(agr);
	return qs;
}

void
negotiation_receive(struct connector *c, enum agora_dsp_role role, const char *pid,
		    const char *sender, const json_t *body, unsigned kinds, struct neg_answer *out)
{
	out->status = 0;
	out->body = NULL;
	struct rx_ctx x = { .c = c, .role = role, .pid = pid, .sender = sender, .body = body,
			    .out = out };
	char err[256];
	if (!body || agora_dsp_parse_negotiation_message(body, &x.m, err, sizeof err) != 0) {
		answer_error(out, 400, role == AGORA_DSP_PROVIDER ? pid : NULL,
			     role == AGORA_DSP_CONSUMER ? pid : NULL, "invalid_message", "%s",
			     body ? err : "no body");
		return;
	}
	bool provider = role == AGORA_DSP_PROVIDER;
	const char *ppid = provider ? pid : x.m.provider_pid;
	const char *cpid = provider ? x.m.consumer_pid : pid;
	if (!(kinds & (1u << x.m.kind))) {
		answer_error(out, 400, ppid, cpid, "invalid_message", "a %s does not belong at this endpoint",
			     agora_dsp_kind_name(x.m.kind));
		return;
	}
	if (!agora_jcs_sha256_hex(body, x.hash)) {
		answer_error(out, 400, ppid, cpid, "invalid_message", "the body cannot be canonicalised");
		return;
	}
	enum agora_qs qs = agora_db_tx(rx_tx, &x, false);
	if (!out->body || (qs < 0 && qs != AGORA_QS_CONFLICT)) {
		json_decref(out->body);
		out->body = NULL;
		answer_error(out, 503, ppid, cpid, "unavailable", "the database is unavailable; retry later");
		return;
	}
	if (qs == AGORA_QS_CONFLICT && out->status < 400) {
		answer_error(out, 400, ppid, cpid, "conflict", "the message conflicts with stored state");
		return;
	}
}

/* ---- consumer: start ------------------------------------------------------ */

struct start_ctx {
	struct connector *c;
	const char *id, *dataset_id, *offer_id, *provider, *owner;
	const json_t *offer;
};

static enum agora_qs
start_tx(PGconn *db, void *arg)
{
	struct start_ctx *x = arg;
	const struct connector *c = x->c;
	struct db_neg_new n = { .id = x->id, .role = "consumer", .counterpart = c->broker_url,
				.consumer = c->svc.participant_id, .provider = x->provider,
				.dataset_id = x->dataset_id, .offer_id = x->offer_id, .offer = x->offer,
				.state = "REQUESTED", .owner = x->owner };
	/* A fresh id, no providerPid yet: it goes with the COMMIT. */
	enum agora_qs qs = db_neg_add(db, &n);
	if (qs != AGORA_QS_ONE)
		return qs < 0 ? qs : AGORA_QS_HARD_ERROR;
	char *cb = xasprintf("%s/dsp/callback", c->svc.public_url);
	char *url = xasprintf("%s/dsp/negotiations/request", c->broker_url);
	json_t *msg = agora_dsp_contract_request_new(x->id, NULL, x->offer, cb);
	json_t *neg = json_pack("{s:s, s:s}", "id", x->id, "counterpart", c->broker_url);
	qs = msg ? send_msg(db, neg, "contract_request", url, msg) : AGORA_QS_HARD_ERROR;
	json_decref(neg);
	json_decref(msg);
	free(url);
	free(cb);
	return qs;
}

enum agora_qs
negotiation_start(struct connector *c, const char *dataset_id, const char *offer_id,
		  const char *provider, const json_t *offer, const char *owner, char id[static 46])
{
	agora_urn_uuid(id);
	struct start_ctx x = { c, id, dataset_id, offer_id, provider, owner, offer };
	return agora_db_tx(start_tx, &x, false);
}

/* ---- management actions ------------------------------------------------- */

struct act_ctx {
	struct connector *c;
	const char *id;
	enum neg_action a;
	const char *reason;
	enum agora_error err;
};

static enum agora_qs
act_tx(PGconn *db, void *arg)
{
	struct act_ctx *x = arg;
	json_t *neg = NULL;
	x->err = AGORA_E__COUNT;
	enum agora_qs qs = db_neg_get(db, x->id, true, &neg);
	if (qs < 0)
		return qs;
	if (qs == AGORA_QS_NONE) {
		x->err = AGORA_E_NEGOTIATION_NOT_FOUND;
		return AGORA_QS_NONE;
	}
	bool provider = strcmp(sget(neg, "role"), "provider") == 0;
	enum agora_dsp_state from, to;
	agora_dsp_state_from_name(sget(neg, "state"), &from);
	if (x->a == NEG_APPROVE) {
		qs = provider ? agree(db, x->c, neg) : AGORA_QS_NONE;
	} else if ((x->a == NEG_REJECT && !provider) ||
		   !agora_dsp_transition(from, AGORA_DSP_MSG_TERMINATION,
					 provider ? AGORA_DSP_PROVIDER : AGORA_DSP_CONSUMER, &to)) {
		qs = AGORA_QS_NONE;
	} else {
		const char *code = x->a == NEG_REJECT ? "rejected" : "terminated";
		const char *reason = x->reason ? x->reason
				     : x->a == NEG_REJECT ? "the provider rejected the request"
				     : provider ? "terminated by the provider" : "terminated by the consumer";
		qs = db_neg_update(db, x->id, agora_dsp_state_name(to), NULL, NULL, code, reason);
		if (qs == AGORA_QS_ONE)
			qs = send_termination(db, x->c, neg, code, reason);
	}
	if (qs == AGORA_QS_NONE)
		x->err = AGORA_E_NEGOTIATION_STATE;
	json_decref(neg);
	return qs;
}

enum agora_error
negotiation_act(struct connector *c, const char *id, enum neg_action a, const char *reason)
{
	struct act_ctx x = { c, id, a, reason, AGORA_E__COUNT };
	enum agora_qs qs = agora_db_tx(act_tx, &x, false);
	return qs < 0 ? AGORA_E_UNAVAILABLE : x.err;
}

/* ---- delivery results --------------------------------------------------- */

void
negotiation_on_result(void *ctx, PGconn *db, const char *kind, const char *ref, const json_t *sent,
		      long status, const json_t *reply, enum agora_outbox_outcome outcome)
{
	struct connector *c = ctx;
	(void)sent;
	json_t *neg = NULL;
	bool request = kind && strcmp(kind, "contract_request") == 0;
	/* A delivered message other than the request changes nothing here:
	 * no need to lock and read the negotiation (most deliveries). */
	if (outcome == AGORA_OUTBOX_DELIVERED && !request)
		return;
	if (!ref)
		return;
	struct agora_dsp_reply rp;
	char err[256];
	bool parsed = reply && agora_dsp_parse_reply(reply, &rp, err, sizeof err) == 0;
	/* An acknowledgement naming the providerPid is recorded in the round
	 * trip of the lock (a failure fails the outbox's transaction). */
	bool ack = request && outcome == AGORA_OUTBOX_DELIVERED && parsed && !rp.is_error &&
		   rp.provider_pid;
	if ((ack ? db_neg_lock_acknowledged(db, ref, rp.provider_pid, status, reply, &neg)
		 : db_neg_get(db, ref, true, &neg)) != AGORA_QS_ONE)
		return;
	enum agora_dsp_state state;
	agora_dsp_state_from_name(sget(neg, "state"), &state);
	if (request && outcome == AGORA_OUTBOX_DELIVERED) {
		if (!ack) {
			agora_logf(AGORA_LOG_WARN, "negotiation", "%s: the broker's acknowledgement is unusable: %s",
				   ref, parsed ? "no providerPid" : "not a ContractNegotiation");
		} else if (!sget(neg, "counterpartPid")) {
			/* Learnt just now (db_neg_lock_acknowledged). */
			if (state == AGORA_DSP_STATE_TERMINATED) {
				/* Terminated before the broker named its pid: tell it now. */
				json_object_set_new(neg, "counterpartPid", json_string(rp.provider_pid));
				send_termination(db, c, neg, sget(neg, "code"), sget(neg, "reason"));
			}
		}
	} else if (outcome != AGORA_OUTBOX_DELIVERED) {
		char reason[512];
		const char *code = outcome == AGORA_OUTBOX_GAVE_UP ? "unreachable" : "refused";
		if (outcome == AGORA_OUTBOX_GAVE_UP)
			snprintf(reason, sizeof reason, "broker unreachable (%s not delivered)", kind);
		else if (parsed && rp.is_error) {
			const char *r0 = json_string_value(json_array_get(rp.reason, 0));
			if (rp.code)
				code = rp.code;
			snprintf(reason, sizeof reason, "%s", r0 ? r0 : "refused by the broker");
		} else
			snprintf(reason, sizeof reason, "the broker refused the %s (HTTP %ld)", kind, status);
		agora_logf(AGORA_LOG_WARN, "negotiation", "%s: %s: %s", ref, kind, reason);
		if (reply)
			db_neg_msg_insert(db, ref, "in", parsed && rp.is_error ? "ContractNegotiationError" : "reply",
					  NULL, status, NULL, json_is_object(reply) ? reply : NULL);
		if (!agora_dsp_is_final(state) && strcmp(kind, "termination") != 0)
			db_neg_update(db, ref, "TERMINATED", NULL, NULL, code, reason);
	}
	json_decref(neg);
}
