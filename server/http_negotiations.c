/* http_negotiations.c — the broker's DSP negotiation endpoints (both
 * legs, docs/NEGOTIATION.md) and the admin view of negotiations
 * (/api/v1/negotiations).  The decisions are in negotiation.c. */
#include "broker.h"
#include "db_negotiations.h"
#include "negotiation.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 20
#define PAGE_MAX 100
#define KIND(k) (1u << (k))

static enum MHD_Result
reply(struct agora_req *r, struct neg_answer *a)
{
	return agora_reply_json(r, a->status, a->body);
}

/* ---- consumer leg: we are the provider ----------------------------------- */

enum MHD_Result
broker_dsp_negotiation_request(struct agora_req *r)
{
	struct neg_answer a;
	broker_neg_request(r->app, r->participant, r->json, &a);
	return reply(r, &a);
}

enum MHD_Result
broker_dsp_negotiation_get(struct agora_req *r)
{
	struct neg_answer a;
	broker_neg_state(r->participant, agora_req_param(r, "pid"), &a);
	return reply(r, &a);
}

static enum MHD_Result
from_consumer(struct agora_req *r, unsigned kinds)
{
	struct neg_answer a;
	broker_neg_message(r->app, NEG_FROM_CONSUMER, r->participant, agora_req_param(r, "pid"), kinds,
		    r->json, &a);
	return reply(r, &a);
}

enum MHD_Result
broker_dsp_negotiation_verification(struct agora_req *r)
{
	return from_consumer(r, KIND(AGORA_DSP_MSG_AGREEMENT_VERIFICATION));
}

enum MHD_Result
broker_dsp_negotiation_events(struct agora_req *r)
{
	return from_consumer(r, KIND(AGORA_DSP_MSG_EVENT_ACCEPTED) | KIND(AGORA_DSP_MSG_EVENT_FINALIZED));
}

enum MHD_Result
broker_dsp_negotiation_termination(struct agora_req *r)
{
	return from_consumer(r, KIND(AGORA_DSP_MSG_TERMINATION));
}

/* ---- provider leg: we are the consumer ----------------------------------- */

static enum MHD_Result
from_provider(struct agora_req *r, unsigned kinds)
{
	struct neg_answer a;
	broker_neg_message(r->app, NEG_FROM_PROVIDER, r->participant, agora_req_param(r, "pid"), kinds,
		    r->json, &a);
	return reply(r, &a);
}

enum MHD_Result
broker_dsp_callback_agreement(struct agora_req *r)
{
	return from_provider(r, KIND(AGORA_DSP_MSG_CONTRACT_AGREEMENT));
}

enum MHD_Result
broker_dsp_callback_events(struct agora_req *r)
{
	return from_provider(r, KIND(AGORA_DSP_MSG_EVENT_ACCEPTED) | KIND(AGORA_DSP_MSG_EVENT_FINALIZED));
}

enum MHD_Result
broker_dsp_callback_termination(struct agora_req *r)
{
	return from_provider(r, KIND(AGORA_DSP_MSG_TERMINATION));
}

/* Counter-offers are not supported: a provider that sends one learns so
 * (its party is still checked, so strangers get 404). */
enum MHD_Result
broker_dsp_callback_offers(struct agora_req *r)
{
	struct neg_answer a;
	broker_neg_message(r->app, NEG_FROM_PROVIDER, r->participant, agora_req_param(r, "pid"),
			   KIND(AGORA_DSP_MSG_CONTRACT_OFFER), r->json, &a);
	if (a.status == 400) {
		json_decref(a.body);
		const char *pid = agora_req_param(r, "pid");
		const char *ppid = json_string_value(json_object_get(r->json, "providerPid"));
		a.body = broker_neg_error(ppid ? ppid : "", pid, "unsupported",
					  "counter-offers are not supported by this broker");
	}
	return reply(r, &a);
}

/* ---- admin: GET /api/v1/negotiations[/{id}] ---------------------------------- */

static bool
valid_state(const char *s)
{
	enum agora_dsp_state st;
	return agora_dsp_state_from_name(s, &st);
}

enum MHD_Result
broker_negotiation_list(struct agora_req *r)
{
	long limit;
	char *after;
	if (!agora_req_page(r, PAGE_DEFAULT, PAGE_MAX, &limit, &after))
		return MHD_YES;
	const char *state = agora_req_query(r, "state");
	if (state && !valid_state(state)) {
		free(after);
		return agora_reply_error(r, AGORA_E_INVALID_QUERY,
					 "state must be one of REQUESTED, OFFERED, ACCEPTED, AGREED, "
					 "VERIFIED, FINALIZED, TERMINATED");
	}
	json_t *list = NULL;
	enum agora_qs qs = db_bneg_list(state, after, (int)limit + 1, &list);
	free(after);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	json_t *next = agora_page_next(list, limit, "id");
	return agora_reply_json(r, 200, json_pack("{s:o, s:o}", "results", list, "next", next));
}

enum MHD_Result
broker_negotiation_get(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	struct db_neg n;
	enum agora_qs qs = db_bneg_get(NULL, DB_NEG_BY_ID, id, NULL, false, &n);
	json_t *hist = NULL;
	if (qs == AGORA_QS_ONE && db_bneg_history(n.id, &hist) != AGORA_QS_ONE)
		qs = AGORA_QS_HARD_ERROR;
	if (qs < 0) {
		db_bneg_cleanup(&n);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	}
	if (qs == AGORA_QS_NONE)
		return agora_reply_error(r, AGORA_E_NEGOTIATION_NOT_FOUND, "no negotiation '%.200s'", id);
	json_t *o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:s?, s:s?, s:s, s:s?,"
			      " s:s?, s:s?, s:s?, s:s, s:s, s:o}",
			      "id", n.id, "state", agora_dsp_state_name(n.state), "consumer",
			      n.consumer_id, "consumerPid", n.consumer_pid, "callbackAddress",
			      n.callback, "datasetId", n.dataset_id, "offerId", n.offer_id, "offer",
			      n.offer, "provider", n.provider_id, "providerEndpoint",
			      n.provider_endpoint, "legPid", n.leg_pid, "providerPid", n.provider_pid,
			      "agreementId", n.agreement_id, "code", n.code, "reason", n.reason,
			      "createdAt", n.created_at, "updatedAt", n.updated_at, "history", hist);
	if (n.ledger_index >= 0)
		json_object_set_new(o, "ledgerIndex", json_integer(n.ledger_index));
	db_bneg_cleanup(&n);
	return agora_reply_json(r, 200, o);
}
