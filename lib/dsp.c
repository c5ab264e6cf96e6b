/* dsp.c — DSP 2025-1 contract negotiation messages and state machine. */
#include "dsp.h"
#include "dsp_impl.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* --- names ----------------------------------------------------------------- */

static const char *const state_names[AGORA_DSP_STATE_COUNT] = {
	[AGORA_DSP_STATE_INITIAL] = NULL,
	[AGORA_DSP_STATE_REQUESTED] = "REQUESTED",
	[AGORA_DSP_STATE_OFFERED] = "OFFERED",
	[AGORA_DSP_STATE_ACCEPTED] = "ACCEPTED",
	[AGORA_DSP_STATE_AGREED] = "AGREED",
	[AGORA_DSP_STATE_VERIFIED] = "VERIFIED",
	[AGORA_DSP_STATE_FINALIZED] = "FINALIZED",
	[AGORA_DSP_STATE_TERMINATED] = "TERMINATED",
};

#define TYPE_REQUEST "ContractRequestMessage"
#define TYPE_OFFER "ContractOfferMessage"
#define TYPE_AGREEMENT "ContractAgreementMessage"
#define TYPE_VERIFICATION "ContractAgreementVerificationMessage"
#define TYPE_EVENT "ContractNegotiationEventMessage"
#define TYPE_TERMINATION "ContractNegotiationTerminationMessage"
#define TYPE_NEGOTIATION "ContractNegotiation"
#define TYPE_ERROR "ContractNegotiationError"

static const struct {
	const char *type;
	const char *name;
} kinds[AGORA_DSP_KIND_COUNT] = {
	[AGORA_DSP_MSG_CONTRACT_REQUEST] = { TYPE_REQUEST, TYPE_REQUEST },
	[AGORA_DSP_MSG_CONTRACT_OFFER] = { TYPE_OFFER, TYPE_OFFER },
	[AGORA_DSP_MSG_CONTRACT_AGREEMENT] = { TYPE_AGREEMENT, TYPE_AGREEMENT },
	[AGORA_DSP_MSG_AGREEMENT_VERIFICATION] = { TYPE_VERIFICATION, TYPE_VERIFICATION },
	[AGORA_DSP_MSG_EVENT_ACCEPTED] = { TYPE_EVENT, TYPE_EVENT ":ACCEPTED" },
	[AGORA_DSP_MSG_EVENT_FINALIZED] = { TYPE_EVENT, TYPE_EVENT ":FINALIZED" },
	[AGORA_DSP_MSG_TERMINATION] = { TYPE_TERMINATION, TYPE_TERMINATION },
};

const char *
agora_dsp_state_name(enum agora_dsp_state s)
{
	if ((unsigned)s >= AGORA_DSP_STATE_COUNT)
		return NULL;
	return state_names[s];
}

bool
agora_dsp_state_from_name(const char *name, enum agora_dsp_state *out)
{
	if (!name)
		return false;
	for (unsigned i = 0; i < AGORA_DSP_STATE_COUNT; i++) {
		if (state_names[i] && strcmp(state_names[i], name) == 0) {
			*out = (enum agora_dsp_state)i;
			return true;
		}
	}
	return false;
}

const char *
agora_dsp_kind_type(enum agora_dsp_kind k)
{
	return (unsigned)k < AGORA_DSP_KIND_COUNT ? kinds[k].type : NULL;
}

const char *
agora_dsp_kind_name(enum agora_dsp_kind k)
{
	return (unsigned)k < AGORA_DSP_KIND_COUNT ? kinds[k].name : NULL;
}

const char *
agora_dsp_role_name(enum agora_dsp_role r)
{
	return r == AGORA_DSP_PROVIDER ? "provider" : "consumer";
}

/* --- the state machine ----------------------------------------------------- */

#define BY_CONSUMER (1u << AGORA_DSP_CONSUMER)
#define BY_PROVIDER (1u << AGORA_DSP_PROVIDER)
#define BY_EITHER (BY_CONSUMER | BY_PROVIDER)

/* DSP 2025-1 contract negotiation state machine (the figure of
 * contract.negotiation.protocol.md and the message sections' "Sent by" and
 * "Resulting state").  Everything not listed is an error. */
static const struct transition {
	enum agora_dsp_state from;
	enum agora_dsp_kind kind;
	unsigned senders;
	enum agora_dsp_state to;
} transitions[] = {
	/* A consumer starts with a request, a provider with an offer. */
	{ AGORA_DSP_STATE_INITIAL, AGORA_DSP_MSG_CONTRACT_REQUEST, BY_CONSUMER, AGORA_DSP_STATE_REQUESTED },
	{ AGORA_DSP_STATE_INITIAL, AGORA_DSP_MSG_CONTRACT_OFFER, BY_PROVIDER, AGORA_DSP_STATE_OFFERED },
	/* Counter-offers and counter-requests. */
	{ AGORA_DSP_STATE_REQUESTED, AGORA_DSP_MSG_CONTRACT_OFFER, BY_PROVIDER, AGORA_DSP_STATE_OFFERED },
	{ AGORA_DSP_STATE_OFFERED, AGORA_DSP_MSG_CONTRACT_REQUEST, BY_CONSUMER, AGORA_DSP_STATE_REQUESTED },
	/* The consumer accepts the provider's latest offer. */
	{ AGORA_DSP_STATE_OFFERED, AGORA_DSP_MSG_EVENT_ACCEPTED, BY_CONSUMER, AGORA_DSP_STATE_ACCEPTED },
	/* The provider agrees to a request or to an accepted offer. */
	{ AGORA_DSP_STATE_REQUESTED, AGORA_DSP_MSG_CONTRACT_AGREEMENT, BY_PROVIDER, AGORA_DSP_STATE_AGREED },
	{ AGORA_DSP_STATE_ACCEPTED, AGORA_DSP_MSG_CONTRACT_AGREEMENT, BY_PROVIDER, AGORA_DSP_STATE_AGREED },
	{ AGORA_DSP_STATE_AGREED, AGORA_DSP_MSG_AGREEMENT_VERIFICATION, BY_CONSUMER, AGORA_DSP_STATE_VERIFIED },
	{ AGORA_DSP_STATE_VERIFIED, AGORA_DSP_MSG_EVENT_FINALIZED, BY_PROVIDER, AGORA_DSP_STATE_FINALIZED },
	/* Either side may terminate in any state that is not final. */
	{ AGORA_DSP_STATE_REQUESTED, AGORA_DSP_MSG_TERMINATION, BY_EITHER, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_OFFERED, AGORA_DSP_MSG_TERMINATION, BY_EITHER, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_ACCEPTED, AGORA_DSP_MSG_TERMINATION, BY_EITHER, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_AGREED, AGORA_DSP_MSG_TERMINATION, BY_EITHER, AGORA_DSP_STATE_TERMINATED },
	{ AGORA_DSP_STATE_VERIFIED, AGORA_DSP_MSG_TERMINATION, BY_EITHER, AGORA_DSP_STATE_TERMINATED },
};

bool
agora_dsp_transition(enum agora_dsp_state from, enum agora_dsp_kind k, enum agora_dsp_role sender,
		     enum agora_dsp_state *to)
{
	if (sender != AGORA_DSP_CONSUMER && sender != AGORA_DSP_PROVIDER)
		return false;
	for (size_t i = 0; i < ARRAY_LEN(transitions); i++) {
		const struct transition *t = &transitions[i];
		if (t->from == from && t->kind == k && (t->senders & (1u << sender))) {
			if (to)
				*to = t->to;
			return true;
		}
	}
	return false;
}

bool
agora_dsp_is_final(enum agora_dsp_state s)
{
	return s == AGORA_DSP_STATE_FINALIZED || s == AGORA_DSP_STATE_TERMINATED;
}

/* --- builders -------------------------------------------------------------- */

/* A fresh message object with @context and @type. */
json_t *
dsp_msg_new(const char *type)
{
	json_t *m = json_object();
	json_t *ctx = json_array();
	if (!m || !ctx)
		abort();
	json_array_append_new(ctx, json_string(AGORA_DSP_CONTEXT));
	json_object_set_new(m, "@context", ctx);
	json_object_set_new(m, "@type", json_string(type));
	return m;
}

/* Sets key to the string v; false when v is NULL or not valid UTF-8. */
bool
dsp_set_str(json_t *obj, const char *key, const char *v)
{
	json_t *s = v ? json_string(v) : NULL;
	return s && json_object_set_new(obj, key, s) == 0;
}

/* Sets key to v when v is not NULL; false only for invalid UTF-8. */
bool
dsp_set_opt_str(json_t *obj, const char *key, const char *v)
{
	return !v || dsp_set_str(obj, key, v);
}

static bool
set_copy(json_t *obj, const char *key, const json_t *v)
{
	json_t *c = json_is_object(v) ? json_deep_copy(v) : NULL;
	return c && json_object_set_new(obj, key, c) == 0;
}

/* "code" and "reason" of terminations and errors. */
bool
dsp_set_code_reason(json_t *obj, const char *code, const char *const reason[], size_t n)
{
	if (!dsp_set_opt_str(obj, "code", code))
		return false;
	if (n == 0)
		return true;
	json_t *a = json_array();
	if (!a)
		abort();
	for (size_t i = 0; i < n; i++) {
		json_t *s = reason[i] ? json_string(reason[i]) : NULL;
		if (!s || json_array_append_new(a, s) != 0) {
			json_decref(a);
			return false;
		}
	}
	return json_object_set_new(obj, "reason", a) == 0;
}

/* Returns m, or NULL after freeing it when ok is false. */
json_t *
dsp_finish(json_t *m, bool ok)
{
	if (ok)
		return m;
	json_decref(m);
	return NULL;
}

json_t *
agora_dsp_contract_request_new(const char *consumer_pid, const char *provider_pid,
			       const json_t *offer, const char *callback_address)
{
	if (!provider_pid == !callback_address)
		return NULL;
	json_t *m = dsp_msg_new(TYPE_REQUEST);
	bool ok = dsp_set_opt_str(m, "providerPid", provider_pid) &&
		  dsp_set_str(m, "consumerPid", consumer_pid) && set_copy(m, "offer", offer) &&
		  dsp_set_opt_str(m, "callbackAddress", callback_address);
	return dsp_finish(m, ok);
}

json_t *
agora_dsp_contract_offer_new(const char *provider_pid, const char *consumer_pid,
			     const json_t *offer, const char *callback_address)
{
	if (!consumer_pid == !callback_address)
		return NULL;
	json_t *m = dsp_msg_new(TYPE_OFFER);
	bool ok = dsp_set_str(m, "providerPid", provider_pid) &&
		  dsp_set_opt_str(m, "consumerPid", consumer_pid) && set_copy(m, "offer", offer) &&
		  dsp_set_opt_str(m, "callbackAddress", callback_address);
	return dsp_finish(m, ok);
}

json_t *
agora_dsp_agreement_message_new(const char *provider_pid, const char *consumer_pid,
				const json_t *agreement)
{
	json_t *m = dsp_msg_new(TYPE_AGREEMENT);
	bool ok = dsp_set_str(m, "providerPid", provider_pid) &&
		  dsp_set_str(m, "consumerPid", consumer_pid) && set_copy(m, "agreement", agreement);
	return dsp_finish(m, ok);
}

json_t *
agora_dsp_verification_new(const char *provider_pid, const char *consumer_pid)
{
	json_t *m = dsp_msg_new(TYPE_VERIFICATION);
	bool ok = dsp_set_str(m, "providerPid", provider_pid) && dsp_set_str(m, "consumerPid", consumer_pid);
	return dsp_finish(m, ok);
}

json_t *
agora_dsp_event_new(const char *provider_pid, const char *consumer_pid, enum agora_dsp_kind event)
{
	const char *type;
	if (event == AGORA_DSP_MSG_EVENT_ACCEPTED)
		type = "ACCEPTED";
	else if (event == AGORA_DSP_MSG_EVENT_FINALIZED)
		type = "FINALIZED";
	else
		return NULL;
	json_t *m = dsp_msg_new(TYPE_EVENT);
	bool ok = dsp_set_str(m, "providerPid", provider_pid) &&
		  dsp_set_str(m, "consumerPid", consumer_pid) && dsp_set_str(m, "eventType", type);
	return dsp_finish(m, ok);
}

json_t *
agora_dsp_termination_new(const char *provider_pid, const char *consumer_pid, const char *code,
			  const char *const reason[], size_t n_reason)
{
	json_t *m = dsp_msg_new(TYPE_TERMINATION);
	bool ok = dsp_set_str(m, "providerPid", provider_pid) &&
		  dsp_set_str(m, "consumerPid", consumer_pid) &&
		  dsp_set_code_reason(m, code, reason, n_reason);
	return dsp_finish(m, ok);
}

json_t *
agora_dsp_negotiation_new(const char *provider_pid, const char *consumer_pid,
			  enum agora_dsp_state state)
{
	const char *name = agora_dsp_state_name(state);
	if (!name)
		return NULL;
	json_t *m = dsp_msg_new(TYPE_NEGOTIATION);
	bool ok = dsp_set_str(m, "providerPid", provider_pid) &&
		  dsp_set_str(m, "consumerPid", consumer_pid) && dsp_set_str(m, "state", name);
	return dsp_finish(m, ok);
}

json_t *
agora_dsp_error_new(const char *provider_pid, const char *consumer_pid, const char *code,
		    const char *const reason[], size_t n_reason)
{
	json_t *m = dsp_msg_new(TYPE_ERROR);
	bool ok = dsp_set_opt_str(m, "providerPid", provider_pid) &&
		  dsp_set_opt_str(m, "consumerPid", consumer_pid) &&
		  dsp_set_code_reason(m, code, reason, n_reason);
	return dsp_finish(m, ok);
}

/* --- parser ---------------------------------------------------------------- */

void __attribute__((format(printf, 3, 4)))
dsp_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || errlen == 0)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A string member of obj: present (when required), a string, non-empty,
 * ≤ max bytes, without NUL or other control characters.  *out borrows it
 * (NULL when absent and optional). */
bool
dsp_get_str(struct dsp_ctx *c, const json_t *obj, const char *where, const char *key, bool required,
	size_t max, const char **out)
{
	const json_t *v = json_object_get(obj, key);
	*out = NULL;
	if (!v) {
		if (required)
			FAIL(c, "%s%s: missing", where, key);
		return true;
	}
	if (!json_is_string(v))
		FAIL(c, "%s%s: not a string", where, key);
	const char *s = json_string_value(v);
	size_t len = json_string_length(v);
	if (len == 0)
		FAIL(c, "%s%s: empty", where, key);
	if (len > max)
		FAIL(c, "%s%s: longer than %zu bytes", where, key, max);
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			FAIL(c, "%s%s: contains a control character", where, key);
	}
	*out = s;
	return true;
}

static bool
get_pid(struct dsp_ctx *c, const json_t *msg, const char *key, bool required, const char **out)
{
	return dsp_get_str(c, msg, "", key, required, AGORA_DSP_PID_MAX, out);
}

/* An http or https URL with a non-empty host and no spaces. */
bool
dsp_is_http_url(const char *s)
{
	const char *rest;
	if (strncasecmp(s, "https://", 8) == 0)
		rest = s + 8;
	else if (strncasecmp(s, "http://", 7) == 0)
		rest = s + 7;
	else
		return false;
	size_t host = strcspn(rest, "/?#");
	if (host == 0 || rest[0] == ':' || rest[0] == '@')
		return false;
	for (const char *p = s; *p; p++)
		if (*p == ' ' || *p == '\\')
			return false;
	return true;
}

static bool
get_callback(struct dsp_ctx *c, const json_t *msg, bool required, const char **out)
{
	if (!dsp_get_str(c, msg, "", "callbackAddress", required, AGORA_DSP_URL_MAX, out))
		return false;
	if (*out && !dsp_is_http_url(*out))
		FAIL(c, "callbackAddress: not an http(s) URL");
	return true;
}

/* A non-empty array of ODRL rules (objects with a string action and, per
 * DSP, no target of their own). */
static bool
check_rules(struct dsp_ctx *c, const json_t *policy, const char *where, const char *key, bool *present)
{
	const json_t *a = json_object_get(policy, key);
	*present = a != NULL;
	if (!a)
		return true;
	if (!json_is_array(a))
		FAIL(c, "%s.%s: not an array", where, key);
	if (json_array_size(a) == 0)
		FAIL(c, "%s.%s: empty", where, key);
	size_t i;
	const json_t *r;
	json_array_foreach(a, i, r) {
		if (!json_is_object(r))
			FAIL(c, "%s.%s[%zu]: not an object", where, key, i);
		const json_t *action = json_object_get(r, "action");
		if (!action)
			FAIL(c, "%s.%s[%zu].action: missing", where, key, i);
		if (!json_is_string(action) || json_string_length(action) == 0)
			FAIL(c, "%s.%s[%zu].action: not a non-empty string", where, key, i);
		if (json_object_get(r, "target"))
			FAIL(c, "%s.%s[%zu].target: rules must not have a target", where, key, i);
		const json_t *cons = json_object_get(r, "constraint");
		if (cons && !json_is_array(cons))
			FAIL(c, "%s.%s[%zu].constraint: not an array", where, key, i);
	}
	return true;
}

/* The members Offer and Agreement share: @type, @id, target, rules.  name
 * is the member holding p ("offer", "agreement"). */
static bool
check_policy(struct dsp_ctx *c, const json_t *p, const char *name, const char *type)
{
	char where[32];
	snprintf(where, sizeof where, "%s.", name);
	const char *s;
	if (!json_is_object(p))
		FAIL(c, "%s: not an object", name);
	if (!dsp_get_str(c, p, where, "@type", true, 64, &s))
		return false;
	if (strcmp(s, type) != 0)
		FAIL(c, "%s@type: must be \"%s\"", where, type);
	if (!dsp_get_str(c, p, where, "@id", true, AGORA_DSP_IRI_MAX, &s) ||
	    !dsp_get_str(c, p, where, "target", true, AGORA_DSP_IRI_MAX, &s))
		return false;
	const json_t *profile = json_object_get(p, "profile");
	if (profile && !json_is_string(profile) && !json_is_array(profile))
		FAIL(c, "%sprofile: not a string or an array", where);
	bool perm, prohib, oblig;
	if (!check_rules(c, p, name, "permission", &perm) ||
	    !check_rules(c, p, name, "prohibition", &prohib) ||
	    !check_rules(c, p, name, "obligation", &oblig))
		return false;
	if (!perm && !prohib)
		FAIL(c, "%s: needs a permission or a prohibition", name);
	return true;
}

static bool
check_offer(struct dsp_ctx *c, const json_t *msg, const json_t **out)
{
	*out = json_object_get(msg, "offer");
	if (!*out)
		FAIL(c, "offer: missing");
	return check_policy(c, *out, "offer", "Offer");
}

static bool
check_agreement(struct dsp_ctx *c, const json_t *msg, const json_t **out)
{
	const json_t *a = json_object_get(msg, "agreement");
	*out = a;
	if (!a)
		FAIL(c, "agreement: missing");
	if (!check_policy(c, a, "agreement", "Agreement"))
		return false;
	const char *s;
	if (!dsp_get_str(c, a, "agreement.", "assigner", true, AGORA_DSP_IRI_MAX, &s) ||
	    !dsp_get_str(c, a, "agreement.", "assignee", true, AGORA_DSP_IRI_MAX, &s) ||
	    !dsp_get_str(c, a, "agreement.", "timestamp", true, 64, &s))
		return false;
	int64_t ms;
	if (!agora_time_parse_rfc3339(s, &ms))
		FAIL(c, "agreement.timestamp: not an RFC 3339 date-time");
	return true;
}

bool
dsp_check_context(struct dsp_ctx *c, const json_t *msg)
{
	const json_t *ctx = json_object_get(msg, "@context");
	if (!ctx)
		FAIL(c, "@context: missing");
	if (!json_is_array(ctx))
		FAIL(c, "@context: not an array");
	bool found = false;
	size_t i;
	const json_t *v;
	json_array_foreach(ctx, i, v) {
		if (!json_is_string(v))
			FAIL(c, "@context[%zu]: not a string", i);
		if (strcmp(json_string_value(v), AGORA_DSP_CONTEXT) == 0)
			found = true;
	}
	if (!found)
		FAIL(c, "@context: does not contain " AGORA_DSP_CONTEXT);
	return true;
}

/* code (string) and reason (non-empty array), both optional. */
bool
dsp_check_code_reason(struct dsp_ctx *c, const json_t *msg, const char **code, const json_t **reason)
{
	if (!dsp_get_str(c, msg, "", "code", false, 256, code))
		return false;
	*reason = json_object_get(msg, "reason");
	if (*reason && !json_is_array(*reason))
		FAIL(c, "reason: not an array");
	if (*reason && json_array_size(*reason) == 0)
		FAIL(c, "reason: empty");
	return true;
}

static bool
parse_message(struct dsp_ctx *c, const json_t *msg, struct agora_dsp_msg *m)
{
	memset(m, 0, sizeof *m);
	if (!json_is_object(msg))
		FAIL(c, "message: not a JSON object");
	if (!dsp_check_context(c, msg))
		return false;
	const json_t *t = json_object_get(msg, "@type");
	if (!t)
		FAIL(c, "@type: missing");
	if (!json_is_string(t))
		FAIL(c, "@type: not a string");
	m->type = json_string_value(t);

	const json_t *sigs = json_object_get(msg, "signatures");
	m->signatures = sigs;

	if (strcmp(m->type, TYPE_REQUEST) == 0) {
		m->kind = AGORA_DSP_MSG_CONTRACT_REQUEST;
		/* Without providerPid it starts a negotiation and must say
		 * where to call back (schema: oneOf callbackAddress,
		 * providerPid).  Both present is tolerated. */
		return get_pid(c, msg, "consumerPid", true, &m->consumer_pid) &&
		       get_pid(c, msg, "providerPid", false, &m->provider_pid) &&
		       get_callback(c, msg, m->provider_pid == NULL, &m->callback_address) &&
		       check_offer(c, msg, &m->offer);
	}
	if (strcmp(m->type, TYPE_OFFER) == 0) {
		m->kind = AGORA_DSP_MSG_CONTRACT_OFFER;
		return get_pid(c, msg, "providerPid", true, &m->provider_pid) &&
		       get_pid(c, msg, "consumerPid", false, &m->consumer_pid) &&
		       get_callback(c, msg, m->consumer_pid == NULL, &m->callback_address) &&
		       check_offer(c, msg, &m->offer);
	}
	if (strcmp(m->type, TYPE_AGREEMENT) == 0) {
		m->kind = AGORA_DSP_MSG_CONTRACT_AGREEMENT;
		return get_pid(c, msg, "providerPid", true, &m->provider_pid) &&
		       get_pid(c, msg, "consumerPid", true, &m->consumer_pid) &&
		       check_agreement(c, msg, &m->agreement);
	}
	if (strcmp(m->type, TYPE_VERIFICATION) == 0) {
		m->kind = AGORA_DSP_MSG_AGREEMENT_VERIFICATION;
		return get_pid(c, msg, "providerPid", true, &m->provider_pid) &&
		       get_pid(c, msg, "consumerPid", true, &m->consumer_pid);
	}
	if (strcmp(m->type, TYPE_EVENT) == 0) {
		if (!get_pid(c, msg, "providerPid", true, &m->provider_pid) ||
		    !get_pid(c, msg, "consumerPid", true, &m->consumer_pid) ||
		    !dsp_get_str(c, msg, "", "eventType", true, 32, &m->event_type))
			return false;
		if (strcmp(m->event_type, "ACCEPTED") == 0)
			m->kind = AGORA_DSP_MSG_EVENT_ACCEPTED;
		else if (strcmp(m->event_type, "FINALIZED") == 0)
			m->kind = AGORA_DSP_MSG_EVENT_FINALIZED;
		else
			FAIL(c, "eventType: must be ACCEPTED or FINALIZED");
		return true;
	}
	if (strcmp(m->type, TYPE_TERMINATION) == 0) {
		m->kind = AGORA_DSP_MSG_TERMINATION;
		return get_pid(c, msg, "providerPid", true, &m->provider_pid) &&
		       get_pid(c, msg, "consumerPid", true, &m->consumer_pid) &&
		       dsp_check_code_reason(c, msg, &m->code, &m->reason);
	}
	FAIL(c, "@type: not a contract negotiation message");
}

int
agora_dsp_parse_negotiation_message(const json_t *msg, struct agora_dsp_msg *out, char *err,
				    size_t errlen)
{
	struct dsp_ctx c = { err, errlen };
	return parse_message(&c, msg, out) ? 0 : -1;
}

static bool
parse_reply(struct dsp_ctx *c, const json_t *reply, struct agora_dsp_reply *r)
{
	memset(r, 0, sizeof *r);
	if (!json_is_object(reply))
		FAIL(c, "reply: not a JSON object");
	if (!dsp_check_context(c, reply))
		return false;
	const json_t *t = json_object_get(reply, "@type");
	if (!json_is_string(t))
		FAIL(c, "@type: %s", t ? "not a string" : "missing");
	const char *type = json_string_value(t);
	if (strcmp(type, TYPE_NEGOTIATION) == 0) {
		const char *state;
		if (!get_pid(c, reply, "providerPid", true, &r->provider_pid) ||
		    !get_pid(c, reply, "consumerPid", true, &r->consumer_pid) ||
		    !dsp_get_str(c, reply, "", "state", true, 32, &state))
			return false;
		if (!agora_dsp_state_from_name(state, &r->state))
			FAIL(c, "state: not a negotiation state");
		return true;
	}
	if (strcmp(type, TYPE_ERROR) == 0) {
		r->is_error = true;
		return get_pid(c, reply, "providerPid", false, &r->provider_pid) &&
		       get_pid(c, reply, "consumerPid", false, &r->consumer_pid) &&
		       dsp_check_code_reason(c, reply, &r->code, &r->reason);
	}
	FAIL(c, "@type: not ContractNegotiation or ContractNegotiationError");
}

int
agora_dsp_parse_reply(const json_t *reply, struct agora_dsp_reply *out, char *err, size_t errlen)
{
	struct dsp_ctx c = { err, errlen };
	return parse_reply(&c, reply, out) ? 0 : -1;
}
