/* http_policies.c — /api/v1/policies and /api/v1/offers: ODRL policies
 * validated by the policy library, and offers (EDC's contract definitions)
 * that attach an access policy and a contract policy to the datasets a
 * selector picks. */
#include "connector.h"
#include "db_connector.h"
#include "jsonv.h"
#include "policy.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

static enum MHD_Result
db_unavailable(struct agora_req *r)
{
	return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
}

/* ---- policies ---------------------------------------------------------- */

struct policy_ctx {
	const char *id, *owner;
	const json_t *policy;
	const char *description;
};

static enum agora_qs
policy_tx(PGconn *db, void *arg)
{
	struct policy_ctx *p = arg;
	return db_policy_insert(db, p->id, p->owner, p->policy, p->description);
}

enum MHD_Result
conn_policy_create(struct agora_req *r)
{
	const json_t *policy;
	const struct agora_jfield f[] = { { "policy", AGORA_J_OBJECT, true, 0, &policy } };
	if (!agora_req_fields(r, r->json, f, ARRAY_LEN(f), true, NULL))
		return MHD_YES;
	struct agora_policy_problems *probs = agora_policy_problems_new();
	struct agora_policy *pol = agora_policy_parse(policy, NULL, probs);
	if (!pol) {
		size_t n = agora_policy_problems_count(probs);
		enum MHD_Result ret = agora_reply_error_with(
			r, AGORA_E_INVALID_POLICY, json_pack("{s:o}", "problems", agora_policy_problems_to_json(probs)),
			"the policy has %zu problem%s; the first: %s: %s", n, n == 1 ? "" : "s",
			n ? agora_policy_problem_path(probs, 0) : "", n ? agora_policy_problem_message(probs, 0) : "");
		agora_policy_problems_free(probs);
		return ret;
	}
	agora_policy_problems_free(probs);
	char *desc = agora_policy_describe(pol);
	agora_policy_free(pol);
	char id[46];
	agora_urn_uuid(id);
	struct policy_ctx p = { id, r->api_key_id, policy, desc };
	enum agora_qs qs = agora_db_tx(policy_tx, &p, false);
	free(desc);
	if (qs != AGORA_QS_ONE)
		return db_unavailable(r);
	json_t *doc = NULL;
	if (db_policy_get(id, &doc, NULL) != AGORA_QS_ONE)
		return db_unavailable(r);
	return agora_reply_json(r, 201, doc);
}

enum MHD_Result
conn_policy_list(struct agora_req *r)
{
	json_t *list = NULL;
	if (db_policy_list(&list) < 0)
		return db_unavailable(r);
	return agora_reply_json(r, 200, json_pack("{s:o}", "results", list));
}

static json_t *
lookup(struct agora_req *r, bool policy, bool change)
{
	const char *id = agora_req_param(r, "id");
	json_t *doc = NULL;
	char *owner = NULL;
	enum agora_qs qs = strlen(id) > 200 ? AGORA_QS_NONE
			   : policy ? db_policy_get(id, &doc, &owner) : db_offer_get(id, &doc, &owner);
	if (qs < 0) {
		db_unavailable(r);
	} else if (qs == AGORA_QS_NONE) {
		agora_reply_error(r, policy ? AGORA_E_POLICY_NOT_FOUND : AGORA_E_OFFER_NOT_FOUND,
				  "no %s '%.200s'", policy ? "policy" : "offer", id);
	} else if (change && !connector_may_change(r, owner)) {
		agora_reply_error(r, AGORA_E_FORBIDDEN, "only its owner or an admin may change it");
		json_decref(doc);
		doc = NULL;
	}
	free(owner);
	return doc;
}

enum MHD_Result
conn_policy_get(struct agora_req *r)
{
	json_t *doc = lookup(r, true, false);
	return doc ? agora_reply_json(r, 200, doc) : MHD_YES;
}

static enum agora_qs
policy_delete_tx(PGconn *db, void *arg)
{
	return db_policy_delete(db, arg);
}

enum MHD_Result
conn_policy_delete(struct agora_req *r)
{
	json_t *doc = lookup(r, true, true);
	if (!doc)
		return MHD_YES;
	json_decref(doc);
	const char *id = agora_req_param(r, "id");
	enum agora_qs qs = agora_db_tx(policy_delete_tx, (void *)id, false);
	if (qs < 0)
		return db_unavailable(r);
	if (qs == AGORA_QS_NONE)	/* still referenced by an offer */
		return agora_reply_error(r, AGORA_E_POLICY_IN_USE, "an offer still uses policy '%s'", id);
	return agora_reply_json(r, 200, json_pack("{s:s, s:b}", "id", id, "deleted", 1));
}

/* ---- offers ------------------------------------------------------------ */

static bool
check_selector(struct agora_req *r, const json_t *sel)
{
	const json_t *ids, *kw, *theme, *all;
	const struct agora_jfield f[] = {
		{ "ids", AGORA_J_STRINGS, false, 1000, &ids },
		{ "keyword", AGORA_J_STRINGS, false, 50, &kw },
		{ "theme", AGORA_J_STRINGS, false, 20, &theme },
		{ "all", AGORA_J_BOOLEAN, false, 0, &all },
	};
	if (!agora_req_fields(r, sel, f, ARRAY_LEN(f), true, "datasetSelector."))
		return false;
	if (!json_array_size(ids) && !json_array_size(kw) && !json_array_size(theme) && !json_is_true(all)) {
		agora_reply_error(r, AGORA_E_INVALID_REQUEST,
				  "datasetSelector needs ids, keyword, theme or \"all\":true");
		return false;
	}
	return true;
}

/* The policy named by field `field` exists (else 400 naming it). */
static bool
policy_exists(struct agora_req *r, const char *field, const char *id)
{
	json_t *doc = NULL;
	enum agora_qs qs = strlen(id) <= 200 ? db_policy_get(id, &doc, NULL) : AGORA_QS_NONE;
	json_decref(doc);
	if (qs < 0)
		db_unavailable(r);
	else if (qs == AGORA_QS_NONE)
		agora_reply_error(r, AGORA_E_INVALID_REQUEST, "field '%s': no policy '%.200s'", field, id);
	return qs == AGORA_QS_ONE;
}

struct offer_ctx {
	const char *id, *owner;
	const json_t *selector;
	const char *access, *contract;
	bool auto_accept;
	bool remove;
};

static enum agora_qs
offer_tx(PGconn *db, void *arg)
{
	struct offer_ctx *o = arg;
	enum agora_qs qs = o->remove ? db_offer_delete(db, o->id)
				     : db_offer_insert(db, o->id, o->owner, o->selector, o->access,
						       o->contract, o->auto_accept);
	if (qs != AGORA_QS_ONE)
		return qs;
	return db_catalog_bump(db) < 0 ? AGORA_QS_HARD_ERROR : AGORA_QS_ONE;
}

enum MHD_Result
conn_offer_create(struct agora_req *r)
{
	const json_t *sel, *access, *contract, *aa;
	const struct agora_jfield f[] = {
		{ "datasetSelector", AGORA_J_OBJECT, true, 4, &sel },
		{ "accessPolicyId", AGORA_J_STRING, false, 200, &access },
		{ "contractPolicyId", AGORA_J_STRING, true, 200, &contract },
		{ "autoAccept", AGORA_J_BOOLEAN, false, 0, &aa },
	};
	if (!agora_req_fields(r, r->json, f, ARRAY_LEN(f), true, NULL) || !check_selector(r, sel))
		return MHD_YES;
	if (!policy_exists(r, "contractPolicyId", json_string_value(contract)))
		return MHD_YES;
	if (access && !policy_exists(r, "accessPolicyId", json_string_value(access)))
		return MHD_YES;
	char id[46];
	agora_urn_uuid(id);
	struct offer_ctx o = { id, r->api_key_id, sel, json_string_value(access),
			       json_string_value(contract), json_is_true(aa), false };
	if (agora_db_tx(offer_tx, &o, false) != AGORA_QS_ONE)
		return db_unavailable(r);
	connector_push_wake(r->app);
	json_t *doc = NULL;
	if (db_offer_get(id, &doc, NULL) != AGORA_QS_ONE)
		return db_unavailable(r);
	return agora_reply_json(r, 201, doc);
}

enum MHD_Result
conn_offer_list(struct agora_req *r)
{
	json_t *list = NULL;
	if (db_offer_list(&list) < 0)
		return db_unavailable(r);
	return agora_reply_json(r, 200, json_pack("{s:o}", "results", list));
}

enum MHD_Result
conn_offer_get(struct agora_req *r)
{
	json_t *doc = lookup(r, false, false);
	return doc ? agora_reply_json(r, 200, doc) : MHD_YES;
}

enum MHD_Result
conn_offer_delete(struct agora_req *r)
{
	json_t *doc = lookup(r, false, true);
	if (!doc)
		return MHD_YES;
	json_decref(doc);
	struct offer_ctx o = { .id = agora_req_param(r, "id"), .remove = true };
	enum agora_qs qs = agora_db_tx(offer_tx, &o, false);
	if (qs < 0)
		return db_unavailable(r);
	connector_push_wake(r->app);
	return agora_reply_json(r, 200, json_pack("{s:s, s:b}", "id", o.id, "deleted", 1));
}
