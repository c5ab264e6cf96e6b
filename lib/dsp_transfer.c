/* dsp_transfer.c — DSP 2025-1 transfer process messages and state machine. */
#include "dsp_transfer.h"
#include "dsp_impl.h"

#include <stdio.h>
#include <string.h>

static const char *const state_names[AGORA_DSPT_STATE_COUNT] = {
	[AGORA_DSPT_INITIAL] = NULL,
	[AGORA_DSPT_REQUESTED] = "REQUESTED",
	[AGORA_DSPT_STARTED] = "STARTED",
	[AGORA_DSPT_SUSPENDED] = "SUSPENDED",
	[AGORA_DSPT_COMPLETED] = "COMPLETED",
	[AGORA_DSPT_TERMINATED] = "TERMINATED",
};

static const char *const kind_types[AGORA_DSPT_KIND_COUNT] = {
	[AGORA_DSPT_MSG_REQUEST] = "TransferRequestMessage",
	[AGORA_DSPT_MSG_START] = "TransferStartMessage",
	[AGORA_DSPT_MSG_SUSPENSION] = "TransferSuspensionMessage",
	[AGORA_DSPT_MSG_COMPLETION] = "TransferCompletionMessage",
	[AGORA_DSPT_MSG_TERMINATION] = "TransferTerminationMessage",
};

#define TYPE_PROCESS "TransferProcess"
#define TYPE_ERROR "TransferError"
#define FORMAT_MAX 200

const char *
agora_dspt_state_name(enum agora_dspt_state s)
{
	return (unsigned)s < AGORA_DSPT_STATE_COUNT ? state_names[s] : NULL;
}

bool
agora_dspt_state_from_name(const char *name, enum agora_dspt_state *out)
{
	for (unsigned i = 1; name && i < AGORA_DSPT_STATE_COUNT; i++)
		if (strcmp(name, state_names[i]) == 0) {
			*out = (enum agora_dspt_state)i;
			return true;
		}
	return false;
}

const char *
agora_dspt_kind_type(enum agora_dspt_kind k)
{
	return (unsigned)k < AGORA_DSPT_KIND_COUNT ? kind_types[k] : NULL;
}

/* --- the state machine ------------------------------------------------------ */

#define C_ (1u << AGORA_DSP_CONSUMER)
#define P_ (1u << AGORA_DSP_PROVIDER)

static const struct {
	enum agora_dspt_state from;
	enum agora_dspt_kind kind;
	unsigned senders;
	enum agora_dspt_state to;
} transitions[] = {
	{ AGORA_DSPT_INITIAL, AGORA_DSPT_MSG_REQUEST, C_, AGORA_DSPT_REQUESTED },
	{ AGORA_DSPT_REQUESTED, AGORA_DSPT_MSG_START, P_, AGORA_DSPT_STARTED },
	{ AGORA_DSPT_REQUESTED, AGORA_DSPT_MSG_TERMINATION, C_ | P_, AGORA_DSPT_TERMINATED },
	{ AGORA_DSPT_STARTED, AGORA_DSPT_MSG_SUSPENSION, C_ | P_, AGORA_DSPT_SUSPENDED },
	{ AGORA_DSPT_STARTED, AGORA_DSPT_MSG_COMPLETION, C_ | P_, AGORA_DSPT_COMPLETED },
	{ AGORA_DSPT_STARTED, AGORA_DSPT_MSG_TERMINATION, C_ | P_, AGORA_DSPT_TERMINATED },
	{ AGORA_DSPT_SUSPENDED, AGORA_DSPT_MSG_START, C_ | P_, AGORA_DSPT_STARTED },
	{ AGORA_DSPT_SUSPENDED, AGORA_DSPT_MSG_TERMINATION, C_ | P_, AGORA_DSPT_TERMINATED },
};

bool
agora_dspt_transition(enum agora_dspt_state from, enum agora_dspt_kind k, enum agora_dsp_role sender,
		      enum agora_dspt_state *to)
{
	if ((unsigned)sender > AGORA_DSP_PROVIDER)
		return false;
	for (size_t i = 0; i < sizeof transitions / sizeof transitions[0]; i++)
		if (transitions[i].from == from && transitions[i].kind == k &&
		    (transitions[i].senders & (1u << sender))) {
			if (to)
				*to = transitions[i].to;
			return true;
		}
	return false;
}

bool
agora_dspt_is_final(enum agora_dspt_state s)
{
	return s == AGORA_DSPT_COMPLETED || s == AGORA_DSPT_TERMINATED;
}

/* --- builders ---------------------------------------------------------------- */

json_t *
agora_dspt_data_address_new(const char *endpoint, const char *const names[],
			    const char *const values[], size_t n)
{
	json_t *a = json_pack("{s:s, s:s}", "@type", "DataAddress", "endpointType", AGORA_DSPT_HTTP);
	bool ok = a && dsp_set_str(a, "endpoint", endpoint);
	if (ok && n) {
		json_t *props = json_array();
		for (size_t i = 0; ok && i < n; i++) {
			json_t *p = json_pack("{s:s}", "@type", "EndpointProperty");
			ok = p && dsp_set_str(p, "name", names[i]) && dsp_set_str(p, "value", values[i]);
			json_array_append_new(props, p);
		}
		json_object_set_new(a, "endpointProperties", props);
	}
	return dsp_finish(a, ok);
}

static bool
set_address(json_t *m, const json_t *addr)
{
	return !addr || (json_is_object(addr) &&
			 json_object_set_new(m, "dataAddress", json_deep_copy(addr)) == 0);
}

json_t *
agora_dspt_request_new(const char *consumer_pid, const char *agreement_id, const char *format,
		       const char *callback_address, const json_t *data_address)
{
	json_t *m = dsp_msg_new(kind_types[AGORA_DSPT_MSG_REQUEST]);
	bool ok = dsp_set_str(m, "consumerPid", consumer_pid) &&
		  dsp_set_str(m, "agreementId", agreement_id) && dsp_set_str(m, "format", format) &&
		  dsp_set_str(m, "callbackAddress", callback_address) && set_address(m, data_address);
	return dsp_finish(m, ok);
}

static json_t *
pids_new(enum agora_dspt_kind k, const char *provider_pid, const char *consumer_pid)
{
	json_t *m = dsp_msg_new(kind_types[k]);
	bool ok = dsp_set_str(m, "providerPid", provider_pid) &&
		  dsp_set_str(m, "consumerPid", consumer_pid);
	return dsp_finish(m, ok);
}

json_t *
agora_dspt_start_new(const char *provider_pid, const char *consumer_pid, const json_t *data_address)
{
	json_t *m = pids_new(AGORA_DSPT_MSG_START, provider_pid, consumer_pid);
	return m ? dsp_finish(m, set_address(m, data_address)) : NULL;
}

json_t *
agora_dspt_completion_new(const char *provider_pid, const char *consumer_pid)
{
	return pids_new(AGORA_DSPT_MSG_COMPLETION, provider_pid, consumer_pid);
}

static json_t *
coded_new(const char *type, const char *provider_pid, const char *consumer_pid, const char *code,
	  const char *const reason[], size_t n)
{
	json_t *m = dsp_msg_new(type);
	bool ok = dsp_set_str(m, "providerPid", provider_pid) &&
		  dsp_set_str(m, "consumerPid", consumer_pid) &&
		  dsp_set_code_reason(m, code, reason, n);
	return dsp_finish(m, ok);
}

json_t *
agora_dspt_suspension_new(const char *provider_pid, const char *consumer_pid, const char *code,
			  const char *const reason[], size_t n)
{
	return coded_new(kind_types[AGORA_DSPT_MSG_SUSPENSION], provider_pid, consumer_pid, code,
			 reason, n);
}

json_t *
agora_dspt_termination_new(const char *provider_pid, const char *consumer_pid, const char *code,
			   const char *const reason[], size_t n)
{
	return coded_new(kind_types[AGORA_DSPT_MSG_TERMINATION], provider_pid, consumer_pid, code,
			 reason, n);
}

json_t *
agora_dspt_error_new(const char *provider_pid, const char *consumer_pid, const char *code,
		     const char *const reason[], size_t n)
{
	return coded_new(TYPE_ERROR, provider_pid ? provider_pid : "",
			 consumer_pid ? consumer_pid : "", code, reason, n);
}

json_t *
agora_dspt_process_new(const char *provider_pid, const char *consumer_pid,
		       enum agora_dspt_state state)
{
	const char *name = agora_dspt_state_name(state);
	if (!name)
		return NULL;
	json_t *m = dsp_msg_new(TYPE_PROCESS);
	bool ok = dsp_set_str(m, "providerPid", provider_pid) &&
		  dsp_set_str(m, "consumerPid", consumer_pid) && dsp_set_str(m, "state", name);
	return dsp_finish(m, ok);
}

/* --- parser ------------------------------------------------------------------ */

static bool
get_pid(struct dsp_ctx *c, const json_t *msg, const char *key, bool required, const char **out)
{
	return dsp_get_str(c, msg, "", key, required, AGORA_DSP_PID_MAX, out);
}

static bool
check_address(struct dsp_ctx *c, const json_t *a, const char **endpoint)
{
	const char *type, *etype;
	*endpoint = NULL;
	if (!json_is_object(a))
		FAIL(c, "dataAddress: not an object");
	if (!dsp_get_str(c, a, "dataAddress.", "@type", true, 64, &type) ||
	    !dsp_get_str(c, a, "dataAddress.", "endpointType", true, AGORA_DSP_URL_MAX, &etype) ||
	    !dsp_get_str(c, a, "dataAddress.", "endpoint", false, AGORA_DSP_URL_MAX, endpoint))
		return false;
	if (strcmp(type, "DataAddress") != 0)
		FAIL(c, "dataAddress.@type: must be DataAddress");
	if (*endpoint && !dsp_is_http_url(*endpoint))
		FAIL(c, "dataAddress.endpoint: not an http(s) URL");
	const json_t *props = json_object_get(a, "endpointProperties");
	if (!props)
		return true;
	if (!json_is_array(props) || json_array_size(props) == 0)
		FAIL(c, "dataAddress.endpointProperties: not a non-empty array");
	if (json_array_size(props) > 32)
		FAIL(c, "dataAddress.endpointProperties: more than 32 items");
	size_t i;
	const json_t *p;
	json_array_foreach(props, i, p) {
		const char *pt, *name, *value;
		char where[64];
		snprintf(where, sizeof where, "dataAddress.endpointProperties[%zu].", i);
		if (!json_is_object(p))
			FAIL(c, "%s: not an object", where);
		if (!dsp_get_str(c, p, where, "@type", true, 64, &pt) ||
		    !dsp_get_str(c, p, where, "name", true, 200, &name) ||
		    !dsp_get_str(c, p, where, "value", true, 8192, &value))
			return false;
		if (strcmp(pt, "EndpointProperty") != 0)
			FAIL(c, "%s@type: must be EndpointProperty", where);
	}
	return true;
}

static bool
parse_message(struct dsp_ctx *c, const json_t *msg, struct agora_dspt_msg *m)
{
	memset(m, 0, sizeof *m);
	if (!json_is_object(msg))
		FAIL(c, "message: not a JSON object");
	if (!dsp_check_context(c, msg))
		return false;
	const json_t *t = json_object_get(msg, "@type");
	if (!json_is_string(t))
		FAIL(c, "@type: %s", t ? "not a string" : "missing");
	const char *type = json_string_value(t);
	int k = -1;
	for (int i = 0; i < AGORA_DSPT_KIND_COUNT; i++)
		if (strcmp(type, kind_types[i]) == 0)
			k = i;
	if (k < 0)
		FAIL(c, "@type: not a transfer process message");
	m->kind = (enum agora_dspt_kind)k;
	if (!get_pid(c, msg, "consumerPid", true, &m->consumer_pid) ||
	    !get_pid(c, msg, "providerPid", m->kind != AGORA_DSPT_MSG_REQUEST, &m->provider_pid))
		return false;
	m->data_address = json_object_get(msg, "dataAddress");
	if (m->data_address && !check_address(c, m->data_address, &m->endpoint))
		return false;
	switch (m->kind) {
	case AGORA_DSPT_MSG_REQUEST:
		if (!dsp_get_str(c, msg, "", "agreementId", true, AGORA_DSP_IRI_MAX, &m->agreement_id) ||
		    !dsp_get_str(c, msg, "", "format", true, FORMAT_MAX, &m->format) ||
		    !dsp_get_str(c, msg, "", "callbackAddress", true, AGORA_DSP_URL_MAX,
				 &m->callback_address))
			return false;
		if (!dsp_is_http_url(m->callback_address))
			FAIL(c, "callbackAddress: not an http(s) URL");
		return true;
	case AGORA_DSPT_MSG_SUSPENSION:
	case AGORA_DSPT_MSG_TERMINATION:
		return dsp_check_code_reason(c, msg, &m->code, &m->reason);
	default:
		return true;
	}
}

int
agora_dspt_parse_message(const json_t *msg, struct agora_dspt_msg *out, char *err, size_t errlen)
{
	struct dsp_ctx c = { err, errlen };
	return parse_message(&c, msg, out) ? 0 : -1;
}

const char *
agora_dspt_endpoint_property(const json_t *data_address, const char *name)
{
	size_t i;
	const json_t *p;
	json_array_foreach(json_object_get(data_address, "endpointProperties"), i, p) {
		const char *n = json_string_value(json_object_get(p, "name"));
		if (n && strcmp(n, name) == 0)
			return json_string_value(json_object_get(p, "value"));
	}
	return NULL;
}

/* A TransferError's pid, or NULL.  Peers send "" for a pid they do not
 * know, so the error is never refused for its pids: one that get_pid()
 * would refuse (longer than AGORA_DSP_PID_MAX, control characters, not a
 * string) is reported as absent, like "". */
static const char *
error_pid(const json_t *reply, const char *key)
{
	char why[160];
	struct dsp_ctx quiet = { why, sizeof why };
	const char *pid = NULL;
	if (!json_string_length(json_object_get(reply, key)) ||
	    !get_pid(&quiet, reply, key, false, &pid))
		return NULL;
	return pid;
}

static bool
parse_reply(struct dsp_ctx *c, const json_t *reply, struct agora_dspt_reply *r)
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
	if (strcmp(type, TYPE_PROCESS) == 0) {
		const char *state;
		if (!get_pid(c, reply, "providerPid", true, &r->provider_pid) ||
		    !get_pid(c, reply, "consumerPid", true, &r->consumer_pid) ||
		    !dsp_get_str(c, reply, "", "state", true, 32, &state))
			return false;
		if (!agora_dspt_state_from_name(state, &r->state))
			FAIL(c, "state: not a transfer state");
		return true;
	}
	if (strcmp(type, TYPE_ERROR) == 0) {
		r->is_error = true;
		r->provider_pid = error_pid(reply, "providerPid");
		r->consumer_pid = error_pid(reply, "consumerPid");
		return dsp_check_code_reason(c, reply, &r->code, &r->reason);
	}
	FAIL(c, "@type: not TransferProcess or TransferError");
}

int
agora_dspt_parse_reply(const json_t *reply, struct agora_dspt_reply *out, char *err, size_t errlen)
{
	struct dsp_ctx c = { err, errlen };
	return parse_reply(&c, reply, out) ? 0 : -1;
}
