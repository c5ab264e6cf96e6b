/* http_negotiations.c — /api/v1/negotiations (management, both roles) and
 * the DSP negotiation endpoints: /dsp/negotiations/… (provider role, called
 * by the broker) and /dsp/callback/negotiations/… (consumer role, the
 * callbackAddress we give the broker).  The work is negotiation.c's. */
#include "connector.h"
#include "db_connector.h"
#include "jsonv.h"
#include "negotiation.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 50
#define PAGE_MAX 200

static enum MHD_Result
db_unavailable(struct agora_req *r)
{
	return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
}

static const char *
sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* ---- POST /api/v1/negotiations (consumer) ------------------------------- */

/* The published offer offer_id of dataset_id by provider, as the broker's
 * catalog shows it to this participant: a new ODRL Offer with @id and
 * target, or NULL after replying. */
static json_t *
published_offer(struct agora_req *r, const char *dataset_id, const char *offer_id,
		const char *provider)
{
	const struct connector *c = r->app;
	char *s = agora_path_segment(dataset_id);
	char *path = xasprintf("/api/v1/catalog/datasets/%s", s);
	long status = 0;
	json_t *ds = NULL;
	char err[256];
	bool ok = connector_call_broker(c, "GET", path, NULL, &status, &ds, err, sizeof err);
	free(path);
	free(s);
	json_t *offer = NULL;
	/* 404: not visible to us; 400: an id the broker's catalog cannot hold
	 * (invalid_id), so no offer of it can be available either. */
	if (!ok || status >= 500 || (status != 200 && status != 404 && status != 400)) {
		agora_reply_error(r, AGORA_E_UNAVAILABLE, "the broker's catalog is unavailable: %s",
				  ok ? "unexpected answer" : err);
		goto out;
	}
	if (status == 404 || status == 400 || !json_is_object(ds)) {
		agora_reply_error(r, AGORA_E_OFFER_NOT_AVAILABLE, "dataset '%s' is not in the broker's catalog for you",
				  dataset_id);
		goto out;
	}
	const char *pub = sget(json_object_get(ds, "publisher"), "id");
	if (!pub || strcmp(pub, provider) != 0) {
		agora_reply_error(r, AGORA_E_OFFER_NOT_AVAILABLE, "dataset '%s' is published by '%s', not '%s'",
				  dataset_id, pub ? pub : "?", provider);
		goto out;
	}
	size_t i;
	json_t *o;
	json_array_foreach(json_object_get(ds, "offers"), i, o) {
		const char *id = sget(o, "id");
		if (id && strcmp(id, offer_id) == 0 && json_is_object(json_object_get(o, "policy"))) {
			offer = json_deep_copy(json_object_get(o, "policy"));
			break;
		}
	}
	if (!offer) {
		agora_reply_error(r, AGORA_E_OFFER_NOT_AVAILABLE, "dataset '%s' has no offer '%s' for you",
				  dataset_id, offer_id);
		goto out;
	}
	json_object_del(offer, "@context");
	json_object_set_new(offer, "@type", json_string("Offer"));
	json_object_set_new(offer, "@id", json_string(offer_id));
	json_object_set_new(offer, "target", json_string(dataset_id));
out:
	json_decref(ds);
	return offer;
}

enum MHD_Result
conn_negotiation_create(struct agora_req *r)
{
	struct connector *c = r->app;
	const json_t *ds, *oid, *prov, *stricter;
	const struct agora_jfield f[] = {
		{ "datasetId", AGORA_J_STRING, true, 200, &ds },
		{ "offerId", AGORA_J_STRING, true, 200, &oid },
		{ "provider", AGORA_J_STRING, true, 200, &prov },
		{ "offer", AGORA_J_OBJECT, false, 64, &stricter },
	};
	if (!agora_req_fields(r, r->json, f, ARRAY_LEN(f), true, NULL))
		return MHD_YES;
	const char *dataset_id = json_string_value(ds), *offer_id = json_string_value(oid);
	const char *provider = json_string_value(prov);
	json_t *offer = published_offer(r, dataset_id, offer_id, provider);
	if (!offer)
		return MHD_YES;
	if (stricter) {
		const char *sid = sget(stricter, "@id"), *st = sget(stricter, "target");
		if ((json_object_get(stricter, "@id") && (!sid || strcmp(sid, offer_id))) ||
		    (json_object_get(stricter, "target") && (!st || strcmp(st, dataset_id)))) {
			json_decref(offer);
			return agora_reply_error(r, AGORA_E_INVALID_REQUEST,
						 "field 'offer': its @id and target must be offerId and datasetId");
		}
		json_t *mine = json_deep_copy(stricter);
		json_object_del(mine, "@context");
		json_object_set_new(mine, "@type", json_string("Offer"));
		json_object_set_new(mine, "@id", json_string(offer_id));
		json_object_set_new(mine, "target", json_string(dataset_id));
		if (!json_object_get(mine, "assigner") && json_object_get(offer, "assigner"))
			json_object_set(mine, "assigner", json_object_get(offer, "assigner"));
		char *why = negotiation_offer_narrows(offer, mine);
		json_decref(offer);
		offer = mine;
		if (why) {
			enum MHD_Result ret = agora_reply_error(r, AGORA_E_OFFER_NOT_NARROWER, "%s", why);
			free(why);
			json_decref(offer);
			return ret;
		}
	}
	/* What the broker will receive must be a valid DSP offer. */
	json_t *probe = agora_dsp_contract_request_new("urn:uuid:probe", NULL, offer, c->svc.public_url);
	struct agora_dsp_msg m;
	char err[256];
	if (!probe || agora_dsp_parse_negotiation_message(probe, &m, err, sizeof err) != 0) {
		json_decref(probe);
		json_decref(offer);
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST, "field 'offer': %s",
					 probe ? err : "not a valid DSP offer");
	}
	json_decref(probe);
	char id[46];
	enum agora_qs qs = negotiation_start(c, dataset_id, offer_id, provider, offer, r->api_key_id, id);
	json_decref(offer);
	if (qs != AGORA_QS_ONE)
		return db_unavailable(r);
	char *loc = xasprintf("/api/v1/negotiations/%s", id);
	agora_reply_header(r, "Location", loc);
	free(loc);
	return agora_reply_json(r, 201, json_pack("{s:s, s:s}", "id", id, "state", "REQUESTED"));
}

/* ---- listing and reading ------------------------------------------------ */

enum MHD_Result
conn_negotiation_list(struct agora_req *r)
{
	long limit;
	char *after;
	if (!agora_req_page(r, PAGE_DEFAULT, PAGE_MAX, &limit, &after))
		return MHD_YES;
	const char *state = agora_req_query(r, "state"), *role = agora_req_query(r, "role");
	enum agora_dsp_state s;
	if ((state && !agora_dsp_state_from_name(state, &s)) ||
	    (role && strcmp(role, "consumer") && strcmp(role, "provider"))) {
		free(after);
		return agora_reply_error(r, AGORA_E_INVALID_QUERY,
					 "state is a DSP state (REQUESTED, …), role consumer or provider");
	}
	json_t *list = NULL;
	enum agora_qs qs = db_neg_list(state, role, after, (int)limit + 1, &list);
	free(after);
	if (qs < 0)
		return db_unavailable(r);
	json_t *next = agora_page_next(list, limit, "id");
	return agora_reply_json(r, 200, json_pack("{s:o, s:o}", "results", list, "next", next));
}

/* The negotiation named in the path (new reference), or NULL after
 * replying 404/503. */
static json_t *
lookup(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	json_t *doc = NULL;
	enum agora_qs qs = strlen(id) <= 200 ? db_neg_get(NULL, id, false, &doc) : AGORA_QS_NONE;
	if (qs < 0)
		db_unavailable(r);
	else if (qs == AGORA_QS_NONE)
		agora_reply_error(r, AGORA_E_NEGOTIATION_NOT_FOUND, "no negotiation '%.200s'", id);
	return qs == AGORA_QS_ONE ? doc : NULL;
}

/* The API document from doc (the negotiation's row as db_neg_get reads
 * it), hist (its history) and ag (the agreement it names, or NULL), all
 * stolen: the row without internals, its history and agreement. */
static enum MHD_Result
reply_whole_doc(struct agora_req *r, unsigned status, json_t *doc, json_t *hist, json_t *ag)
{
	json_object_del(doc, "owner");
	json_object_del(doc, "callback");
	json_object_del(doc, "autoAccept");
	const char *keys[] = { "counterpartPid", "agreementId", "code", "reason" };
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		if (json_is_null(json_object_get(doc, keys[i])))
			json_object_del(doc, keys[i]);
	if (ag && sget(doc, "agreementId"))
		json_object_set(doc, "agreement", json_object_get(ag, "agreement"));
	json_decref(ag);
	json_object_set_new(doc, "history", hist);
	return agora_reply_json(r, status, doc);
}

/* The API document of negotiation id, read now: the row, its history and
 * its agreement in one round trip. */
static enum MHD_Result
reply_negotiation(struct agora_req *r, unsigned status, const char *id)
{
	json_t *doc = NULL, *hist = NULL, *ag = NULL;
	enum agora_qs qs = strlen(id) <= 200 ? db_neg_read_whole(id, &doc, &hist, &ag) : AGORA_QS_NONE;
	if (qs < 0)
		return db_unavailable(r);
	if (qs == AGORA_QS_NONE)
		return agora_reply_error(r, AGORA_E_NEGOTIATION_NOT_FOUND, "no negotiation '%.200s'", id);
	return reply_whole_doc(r, status, doc, hist, ag);
}

enum MHD_Result
conn_negotiation_get(struct agora_req *r)
{
	return reply_negotiation(r, 200, agora_req_param(r, "id"));
}

/* ---- approve / reject / terminate ---------------------------------------- */

static enum MHD_Result
act(struct agora_req *r, enum neg_action a)
{
	const json_t *reason = NULL;
	const struct agora_jfield f[] = { { "reason", AGORA_J_STRING, false, 500, &reason } };
	if (r->json && !agora_req_fields(r, r->json, f, ARRAY_LEN(f), true, NULL))
		return MHD_YES;
	json_t *doc = lookup(r);
	if (!doc)
		return MHD_YES;
	bool provider = strcmp(sget(doc, "role"), "provider") == 0;
	const char *owner = sget(doc, "owner");
	bool may = provider ? connector_may_change(r, owner)
			    : r->role == AGORA_ROLE_ADMIN ||
				      (r->api_key_id && owner && !strcmp(r->api_key_id, owner));
	if (!may) {
		json_decref(doc);
		return agora_reply_error(r, AGORA_E_FORBIDDEN, provider
					 ? "only the offer's publisher or an admin may decide on this negotiation"
					 : "only the key that started this negotiation or an admin may end it");
	}
	if (a != NEG_TERMINATE && !provider) {
		json_decref(doc);
		return agora_reply_error(r, AGORA_E_NEGOTIATION_STATE,
					 "only incoming (provider) negotiations are approved or rejected");
	}
	enum agora_error e = negotiation_act(r->app, sget(doc, "id"), a, json_string_value(reason));
	if (e != AGORA_E__COUNT) {
		enum MHD_Result ret = agora_reply_error(r, e, "negotiation '%s' is %s", sget(doc, "id"),
							sget(doc, "state"));
		json_decref(doc);
		return ret;
	}
	json_decref(doc);
	return reply_negotiation(r, 200, agora_req_param(r, "id"));
}

enum MHD_Result
conn_negotiation_approve(struct agora_req *r)
{
	return act(r, NEG_APPROVE);
}

enum MHD_Result
conn_negotiation_reject(struct agora_req *r)
{
	return act(r, NEG_REJECT);
}

enum MHD_Result
conn_negotiation_terminate(struct agora_req *r)
{
	return act(r, NEG_TERMINATE);
}

/* ---- DSP ------------------------------------------------------------------ */

static enum MHD_Result
reply_answer(struct agora_req *r, struct neg_answer *a)
{
	return agora_reply_json(r, a->status, a->body);
}

#define KIND(k) (1u << AGORA_DSP_MSG_##k)

static enum MHD_Result
dsp_message(struct agora_req *r, enum agora_dsp_role role, unsigned kinds)
{
	struct neg_answer a;
	negotiation_receive(r->app, role, agora_req_param(r, "pid"), r->participant, r->json, kinds, &a);
	return reply_answer(r, &a);
}

enum MHD_Result
conn_dsp_neg_request(struct agora_req *r)
{
	struct neg_answer a;
	negotiation_receive_request(r->app, r->participant, r->json, &a);
	return reply_answer(r, &a);
}

enum MHD_Result
conn_dsp_neg_get(struct agora_req *r)
{
	const char *pid = agora_req_param(r, "pid");
	json_t *doc = NULL;
	enum agora_qs qs = strlen(pid) <= 200 ? db_neg_get(NULL, pid, false, &doc) : AGORA_QS_NONE;
	if (qs < 0) {
		const char *rs[] = { "the database is unavailable; retry later" };
		return agora_reply_json(r, 503, agora_dsp_error_new(pid, NULL, "unavailable", rs, 1));
	}
	enum agora_dsp_state st;
	if (qs == AGORA_QS_NONE || strcmp(sget(doc, "role"), "provider") != 0 ||
	    strcmp(sget(doc, "counterpart"), r->participant) != 0 ||
	    !agora_dsp_state_from_name(sget(doc, "state"), &st)) {
		json_decref(doc);
		const char *rs[] = { "no such negotiation of yours" };
		return agora_reply_json(r, 404, agora_dsp_error_new(pid, NULL, "not_found", rs, 1));
	}
	json_t *out = agora_dsp_negotiation_new(pid, sget(doc, "counterpartPid"), st);
	json_decref(doc);
	return agora_reply_json(r, 200, out);
}

enum MHD_Result
conn_dsp_neg_verification(struct agora_req *r)
{
	return dsp_message(r, AGORA_DSP_PROVIDER, KIND(AGREEMENT_VERIFICATION));
}

enum MHD_Result
conn_dsp_neg_events(struct agora_req *r)
{
	return dsp_message(r, AGORA_DSP_PROVIDER, KIND(EVENT_ACCEPTED) | KIND(EVENT_FINALIZED));
}

enum MHD_Result
conn_dsp_neg_termination(struct agora_req *r)
{
	return dsp_message(r, AGORA_DSP_PROVIDER, KIND(TERMINATION));
}

enum MHD_Result
conn_dsp_cb_agreement(struct agora_req *r)
{
	return dsp_message(r, AGORA_DSP_CONSUMER, KIND(CONTRACT_AGREEMENT));
}

enum MHD_Result
conn_dsp_cb_events(struct agora_req *r)
{
	return dsp_message(r, AGORA_DSP_CONSUMER, KIND(EVENT_ACCEPTED) | KIND(EVENT_FINALIZED));
}

enum MHD_Result
conn_dsp_cb_termination(struct agora_req *r)
{
	return dsp_message(r, AGORA_DSP_CONSUMER, KIND(TERMINATION));
}

/* Counter-offers are not supported (docs/NEGOTIATION.md). */
enum MHD_Result
conn_dsp_cb_offers(struct agora_req *r)
{
	const char *rs[] = { "counter-offers are not supported; terminate and request again" };
	return agora_reply_json(r, 400, agora_dsp_error_new(sget(r->json, "providerPid"),
							     agora_req_param(r, "pid"), "unsupported", rs, 1));
}
