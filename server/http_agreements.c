/* http_agreements.c — /api/v1/agreements: the agreements the broker
 * signed, with their three signatures and ledger receipts, for their
 * parties and admins; revocation by an admin (ledger entry "revoked"). */
#include "broker.h"
#include "db_negotiations.h"
#include "ledger.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define PAGE_DEFAULT 20
#define PAGE_MAX 100

/* An admin API key sees everything; a participant its own agreements. */
static bool
is_admin(const struct agora_req *r)
{
	return !r->participant && (r->role & AGORA_ROLE_ADMIN);
}

static bool
is_party(const struct agora_req *r, const struct db_neg *n)
{
	return is_admin(r) || (r->participant && ((n->consumer_id && !strcmp(r->participant, n->consumer_id)) ||
						  (n->provider_id && !strcmp(r->participant, n->provider_id))));
}

enum MHD_Result
broker_agreement_list(struct agora_req *r)
{
	long limit;
	char *after;
	if (!agora_req_page(r, PAGE_DEFAULT, PAGE_MAX, &limit, &after))
		return MHD_YES;
	json_t *list = NULL;
	enum agora_qs qs = db_bneg_agreements(is_admin(r) ? NULL : r->participant, after,
					     (int)limit + 1, &list);
	free(after);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	json_t *next = agora_page_next(list, limit, "id");
	return agora_reply_json(r, 200, json_pack("{s:o, s:o}", "results", list, "next", next));
}

/* The agreement of the path if the caller may see it: 0 and *n filled;
 * else the reply is sent and -1 returned. */
static int
lookup(struct agora_req *r, struct db_neg *n)
{
	const char *id = agora_req_param(r, "id");
	enum agora_qs qs = db_bneg_get(NULL, DB_NEG_BY_AGREEMENT, id, NULL, false, n);
	if (qs < 0) {
		agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
		return -1;
	}
	if (qs == AGORA_QS_NONE || n->ledger_index < 0 || !is_party(r, n)) {
		agora_reply_error(r, AGORA_E_AGREEMENT_NOT_FOUND, "no agreement '%.200s'", id);
		return -1;
	}
	return 0;
}

enum MHD_Result
broker_agreement_get(struct agora_req *r)
{
	struct db_neg n;
	if (lookup(r, &n) != 0) {
		db_bneg_cleanup(&n);
		return MHD_YES;
	}
	json_t *receipt = ledger_receipt(n.ledger_index);
	if (!receipt) {
		db_bneg_cleanup(&n);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the ledger is unavailable");
	}
	json_t *o = json_pack("{s:s, s:s, s:O, s:O, s:o, s:s, s:s, s:I}", "id", n.agreement_id,
			      "negotiationId", n.id, "agreement", n.agreement, "signatures",
			      n.signatures, "receipt", receipt, "status",
			      n.revoked ? "revoked" : "active", "state",
			      agora_dsp_state_name(n.state), "ledgerIndex",
			      (json_int_t)n.ledger_index);
	if (n.revoke_index >= 0)
		json_object_set_new(o, "revocationIndex", json_integer(n.revoke_index));
	db_bneg_cleanup(&n);
	return agora_reply_json(r, 200, o);
}

struct revoke_ctx {
	const char *id;
	const char *by;
	enum agora_error err;
	long long index;
};

static enum agora_qs
revoke_tx(PGconn *c, void *ctx)
{
	struct revoke_ctx *x = ctx;
	struct db_neg n;
	x->err = AGORA_E__COUNT;
	enum agora_qs qs = db_bneg_get(c, DB_NEG_BY_AGREEMENT, x->id, NULL, true, &n);
	if (qs == AGORA_QS_NONE || (qs == AGORA_QS_ONE && n.ledger_index < 0)) {
		x->err = AGORA_E_AGREEMENT_NOT_FOUND;
		qs = AGORA_QS_NONE;
	} else if (qs == AGORA_QS_ONE && n.revoked) {
		x->err = AGORA_E_AGREEMENT_REVOKED;
		x->index = n.revoke_index;
		qs = AGORA_QS_NONE;
	} else if (qs == AGORA_QS_ONE) {
		json_t *entry = json_pack("{s:s, s:s, s:s, s:s, s:s}", "agreementId", n.agreement_id,
					  "target", n.dataset_id, "assigner", n.provider_id, "assignee",
					  n.consumer_id, "revokedBy", x->by);
		qs = ledger_append(c, LEDGER_KIND_REVOKED, entry, &x->index);
		json_decref(entry);
		if (qs == AGORA_QS_ONE)
			qs = db_bneg_revoke(c, n.id, x->index);
	}
	db_bneg_cleanup(&n);
	return qs;
}

enum MHD_Result
broker_agreement_revoke(struct agora_req *r)
{
	const struct broker *b = r->app;
	struct revoke_ctx x = { agora_req_param(r, "id"), b->svc.public_url, AGORA_E__COUNT, -1 };
	enum agora_qs qs = agora_db_tx(revoke_tx, &x, false);
	if (x.err == AGORA_E_AGREEMENT_NOT_FOUND)
		return agora_reply_error(r, x.err, "no agreement '%.200s'", x.id);
	if (x.err == AGORA_E_AGREEMENT_REVOKED)
		return agora_reply_error(r, x.err, "agreement '%.200s' was revoked already (ledger entry %lld)",
					 x.id, x.index);
	if (qs != AGORA_QS_ONE)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	return agora_reply_json(r, 200, json_pack("{s:s, s:s, s:I}", "id", x.id, "status", "revoked",
						  "ledgerIndex", (json_int_t)x.index));
}
