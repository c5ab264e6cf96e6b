/* http_agreements.c — /api/v1/agreements: the agreements the broker
 * signed, with their three signatures and ledger receipts, for their
 * parties and admins; revocation by an admin or by the agreement's
 * provider (ledger entry "revoked", the other parties told through the
 * outbox). */
#include "broker.h"
#include "transfer.h"
#include "db_negotiations.h"
#include "ledger.h"
#include "log.h"
#include "outbox.h"
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

/* Queue the news of the revocation for the party at base (its connector's
 * base URL; for the consumer its callbackAddress, PUBLIC_URL/dsp/callback)
 * in the caller's transaction: POST {base}…/dsp/callback/agreements/{id}/revoked. */
static enum agora_qs
notify_party(PGconn *c, const char *base, bool is_callback, const char *party,
	     const json_t *body, const char *agreement_id)
{
	if (!base || !party)
		return AGORA_QS_ONE;
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	char *seg = agora_path_segment(agreement_id);
	char *url = xasprintf("%.*s%s/agreements/%s/revoked", (int)n, base,
			      is_callback ? "" : "/dsp/callback", seg);
	enum agora_qs qs = agora_outbox_put(c, "agreement_revoked", url, party, body, agreement_id);
	free(url);
	free(seg);
	return qs;
}

struct revoke_ctx {
	const struct broker *b;
	const char *id;
	const char *by;		/* who revokes: the broker (admin) or a participant */
	const char *participant;	/* the calling participant, NULL for an admin key */
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
	/* Only the provider (assigner) may revoke with its participant token;
	 * to anyone else the agreement does not exist. */
	if (qs == AGORA_QS_NONE || (qs == AGORA_QS_ONE && n.ledger_index < 0) ||
	    (qs == AGORA_QS_ONE && x->participant &&
	     (!n.provider_id || strcmp(n.provider_id, x->participant) != 0))) {
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
		if (qs == AGORA_QS_ONE)
			qs = broker_transfers_revoked(c, x->b, n.agreement_id);
		/* The parties that did not ask learn it through the outbox: the
		 * consumer always, the provider when an admin revoked. */
		json_t *news = json_pack("{s:s, s:s, s:I}", "agreementId", n.agreement_id, "revokedBy",
					 x->by, "ledgerIndex", (json_int_t)x->index);
		if (qs == AGORA_QS_ONE)
			qs = notify_party(c, n.callback, true, n.consumer_id, news, n.agreement_id);
		if (qs == AGORA_QS_ONE && !x->participant)
			qs = notify_party(c, n.provider_endpoint, false, n.provider_id, news,
					  n.agreement_id);
		json_decref(news);
	}
	db_bneg_cleanup(&n);
	return qs;
}

/* An admin key, or the participant token of the agreement's provider
 * (its connector forwards a revocation made there).  Everyone else: 404. */
enum MHD_Result
broker_agreement_revoke(struct agora_req *r)
{
	const struct broker *b = r->app;
	const char *participant = is_admin(r) ? NULL : r->participant;
	if (!is_admin(r) && !participant)
		return agora_reply_error(r, AGORA_E_AGREEMENT_NOT_FOUND, "no agreement '%.200s'",
					 agora_req_param(r, "id"));
	struct revoke_ctx x = { b, agora_req_param(r, "id"), participant ? participant : b->svc.public_url,
				participant, AGORA_E__COUNT, -1 };
	enum agora_qs qs = agora_db_tx(revoke_tx, &x, false);
	if (x.err == AGORA_E_AGREEMENT_NOT_FOUND)
		return agora_reply_error(r, x.err, "no agreement '%.200s'", x.id);
	if (x.err == AGORA_E_AGREEMENT_REVOKED)
		return agora_reply_error(r, x.err, "agreement '%.200s' was revoked already (ledger entry %lld)",
					 x.id, x.index);
	if (qs != AGORA_QS_ONE)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	agora_logf(AGORA_LOG_INFO, "agreements", "%s revoked by %s (ledger entry %lld)", x.id, x.by,
		   x.index);
	return agora_reply_json(r, 200, json_pack("{s:s, s:s, s:I}", "id", x.id, "status", "revoked",
						  "ledgerIndex", (json_int_t)x.index));
}
