/* http_transfers.c — /api/v1/transfers (management, both roles) and the
 * DSP transfer endpoints: /dsp/transfers/… (provider role, called by the
 * broker) and /dsp/callback/transfers/… (consumer role).  The work is
 * transfer.c's; the data is dataplane.c's. */
#include "connector.h"
#include "db_transfers.h"
#include "transfer.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 50
#define PAGE_MAX 200

static const char *const allowed_create[] = { "agreementId", "format", "purpose", "query", "autoPull",
						 NULL };

enum MHD_Result
conn_transfer_create(struct agora_req *r)
{
	if (!json_is_object(r->json))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST, "send a JSON object");
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)r->json, key, v) {
		bool known = false;
		for (size_t i = 0; allowed_create[i]; i++)
			known |= !strcmp(key, allowed_create[i]);
		if (!known)
			return agora_reply_error(r, AGORA_E_UNKNOWN_FIELD, "unknown field '%.100s'", key);
	}
	const json_t *ag = json_object_get(r->json, "agreementId");
	const json_t *fmt = json_object_get(r->json, "format");
	const json_t *purpose = json_object_get(r->json, "purpose");
	const json_t *query = json_object_get(r->json, "query");
	const json_t *auto_pull = json_object_get(r->json, "autoPull");
	if ((auto_pull && !json_is_boolean(auto_pull)) || !json_is_string(ag) || (fmt && !json_is_string(fmt)) || (purpose && !json_is_string(purpose)) ||
	    (query && !json_is_object(query)))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
					 "expected {\"agreementId\": string, \"format\"?: \"HttpData-PULL\"|"
					 "\"HttpData-PUSH\", \"purpose\"?: string, \"query\"?: object, \"autoPull\"?: boolean}");
	char id[46], detail[512];
	enum agora_error e = transfer_create(r->app, json_string_value(ag),
					     fmt ? json_string_value(fmt) : AGORA_DSPT_PULL,
					     json_string_value(purpose), query, !json_is_false(auto_pull),
					     r->api_key_id, id, detail, sizeof detail);
	if (e != AGORA_E__COUNT)
		return agora_reply_error(r, e, "%s", detail);
	json_t *doc = NULL;
	if (db_ctr_doc(id, &doc) != AGORA_QS_ONE)
		doc = json_pack("{s:s, s:s}", "id", id, "state", "REQUESTED");
	return agora_reply_json(r, 201, doc);
}

enum MHD_Result
conn_transfer_list(struct agora_req *r)
{
	const char *role = agora_req_query(r, "role"), *state = agora_req_query(r, "state");
	enum agora_dspt_state st;
	if (role && strcmp(role, "consumer") && strcmp(role, "provider"))
		return agora_reply_error(r, AGORA_E_INVALID_QUERY, "role must be consumer or provider");
	if (state && !agora_dspt_state_from_name(state, &st))
		return agora_reply_error(r, AGORA_E_INVALID_QUERY,
					 "state must be REQUESTED, STARTED, SUSPENDED, COMPLETED or TERMINATED");
	long limit;
	char *after;
	if (!agora_req_page(r, PAGE_DEFAULT, PAGE_MAX, &limit, &after))
		return MHD_YES;
	json_t *list = NULL;
	enum agora_qs qs = db_ctr_list(role, state, after, (int)limit + 1, &list);
	free(after);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	if (!list)
		list = json_array();
	json_t *next = agora_page_next(list, limit, "id");
	return agora_reply_json(r, 200, json_pack("{s:o, s:o}", "results", list, "next", next));
}

enum MHD_Result
conn_transfer_get(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	json_t *doc = NULL, *hist = NULL;
	enum agora_qs qs = db_ctr_doc(id, &doc);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	if (qs == AGORA_QS_NONE)
		return agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no transfer '%.200s'", id);
	if (db_ctr_history(id, &hist) != AGORA_QS_ONE)
		hist = json_array();
	json_object_set_new(doc, "events", hist);
	return agora_reply_json(r, 200, doc);
}

static enum MHD_Result
act(struct agora_req *r, enum tr_action a)
{
	const char *id = agora_req_param(r, "id");
	const char *reason = json_string_value(json_object_get(r->json, "reason"));
	if (reason && strlen(reason) > 500)
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST, "reason: at most 500 bytes");
	enum agora_error e = transfer_act(r->app, id, a, NULL, reason);
	if (e == AGORA_E_TRANSFER_NOT_FOUND)
		return agora_reply_error(r, e, "no transfer '%.200s'", id);
	if (e == AGORA_E_TRANSFER_STATE)
		return agora_reply_error(r, e, "the transfer's state does not allow this");
	if (e != AGORA_E__COUNT)
		return agora_reply_error(r, e, "the database is unavailable");
	json_t *doc = NULL;
	if (db_ctr_doc(id, &doc) != AGORA_QS_ONE)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	return agora_reply_json(r, 200, doc);
}

enum MHD_Result
conn_transfer_suspend(struct agora_req *r)
{
	return act(r, TR_SUSPEND);
}

enum MHD_Result
conn_transfer_resume(struct agora_req *r)
{
	return act(r, TR_RESUME);
}

enum MHD_Result
conn_transfer_terminate(struct agora_req *r)
{
	return act(r, TR_TERMINATE);
}

/* ---- DSP ------------------------------------------------------------------- */

static enum MHD_Result
reply(struct agora_req *r, struct tr_answer *a)
{
	return agora_reply_json(r, a->status, a->body);
}

enum MHD_Result
conn_dsp_tr_request(struct agora_req *r)
{
	struct tr_answer a;
	transfer_receive_request(r->app, r->participant, r->json, &a);
	return reply(r, &a);
}

enum MHD_Result
conn_dsp_tr_get(struct agora_req *r)
{
	const struct connector *c = r->app;
	const char *pid = agora_req_param(r, "pid");
	json_t *t = NULL;
	enum agora_qs qs = db_ctr_get(NULL, pid, false, &t);
	const char *rs[1];
	json_t *body;
	unsigned status = 200;
	enum agora_dspt_state st;
	if (qs < 0) {
		rs[0] = "the database is unavailable";
		body = agora_dspt_error_new(pid, "", "unavailable", rs, 1);
		status = 503;
	} else if (qs == AGORA_QS_NONE || strcmp(json_string_value(json_object_get(t, "role")), "provider") ||
		   !r->participant || strcmp(r->participant, c->broker_url) ||
		   !agora_dspt_state_from_name(json_string_value(json_object_get(t, "state")), &st)) {
		rs[0] = "no such transfer";
		body = agora_dspt_error_new(pid, "", "not_found", rs, 1);
		status = 404;
	} else {
		body = agora_dspt_process_new(pid, json_string_value(json_object_get(t, "counterpart_pid")), st);
	}
	json_decref(t);
	return agora_reply_json(r, status, body);
}

static enum MHD_Result
rx(struct agora_req *r, enum agora_dsp_role role, enum agora_dspt_kind kind)
{
	struct tr_answer a;
	transfer_receive(r->app, role, agora_req_param(r, "pid"), r->participant, r->json, kind, &a);
	return reply(r, &a);
}

enum MHD_Result
conn_dsp_tr_start(struct agora_req *r)
{
	return rx(r, AGORA_DSP_PROVIDER, AGORA_DSPT_MSG_START);
}

enum MHD_Result
conn_dsp_tr_completion(struct agora_req *r)
{
	return rx(r, AGORA_DSP_PROVIDER, AGORA_DSPT_MSG_COMPLETION);
}

enum MHD_Result
conn_dsp_tr_suspension(struct agora_req *r)
{
	return rx(r, AGORA_DSP_PROVIDER, AGORA_DSPT_MSG_SUSPENSION);
}

enum MHD_Result
conn_dsp_tr_termination(struct agora_req *r)
{
	return rx(r, AGORA_DSP_PROVIDER, AGORA_DSPT_MSG_TERMINATION);
}

enum MHD_Result
conn_dsp_cb_tr_start(struct agora_req *r)
{
	return rx(r, AGORA_DSP_CONSUMER, AGORA_DSPT_MSG_START);
}

enum MHD_Result
conn_dsp_cb_tr_completion(struct agora_req *r)
{
	return rx(r, AGORA_DSP_CONSUMER, AGORA_DSPT_MSG_COMPLETION);
}

enum MHD_Result
conn_dsp_cb_tr_suspension(struct agora_req *r)
{
	return rx(r, AGORA_DSP_CONSUMER, AGORA_DSPT_MSG_SUSPENSION);
}

enum MHD_Result
conn_dsp_cb_tr_termination(struct agora_req *r)
{
	return rx(r, AGORA_DSP_CONSUMER, AGORA_DSPT_MSG_TERMINATION);
}
