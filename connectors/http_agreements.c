/* http_agreements.c — /api/v1/agreements: the agreements this connector
 * is a party to, with their signatures and (consumer side) the broker's
 * ledger receipt; revocation by the provider, forwarded to the broker
 * through the outbox; the broker's news of a revocation
 * (/dsp/callback/agreements/{id}/revoked). */
#include "connector.h"
#include "db_connector.h"
#include "log.h"
#include "negotiation.h"
#include "outbox.h"
#include "transfer.h"
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

enum MHD_Result
conn_agreement_list(struct agora_req *r)
{
	long limit;
	char *after;
	if (!agora_req_page(r, PAGE_DEFAULT, PAGE_MAX, &limit, &after))
		return MHD_YES;
	json_t *list = NULL;
	enum agora_qs qs = db_agreement_list(after, (int)limit + 1, &list);
	free(after);
	if (qs < 0)
		return db_unavailable(r);
	json_t *next = agora_page_next(list, limit, "id");
	return agora_reply_json(r, 200, json_pack("{s:o, s:o}", "results", list, "next", next));
}

static json_t *
lookup(struct agora_req *r, char **owner)
{
	const char *id = agora_req_param(r, "id");
	json_t *doc = NULL;
	enum agora_qs qs = strlen(id) <= 200 ? db_agreement_get(NULL, id, &doc, owner) : AGORA_QS_NONE;
	if (qs < 0)
		db_unavailable(r);
	else if (qs == AGORA_QS_NONE)
		agora_reply_error(r, AGORA_E_AGREEMENT_NOT_FOUND, "no agreement '%.200s'", id);
	return qs == AGORA_QS_ONE ? doc : NULL;
}

enum MHD_Result
conn_agreement_get(struct agora_req *r)
{
	json_t *doc = lookup(r, NULL);
	return doc ? agora_reply_json(r, 200, doc) : MHD_YES;
}

struct revoke_ctx {
	const struct connector *c;
	const char *id;
};

/* Mark it revoked and, in the same transaction, queue the revocation for
 * the broker (POST {broker}/api/v1/agreements/{id}/revoke with our
 * participant token): the broker appends the `revoked` ledger entry and
 * tells the consumer.  NONE when it is already revoked. */
static enum agora_qs
revoke_tx(PGconn *db, void *arg)
{
	struct revoke_ctx *x = arg;
	enum agora_qs qs = db_agreement_revoke(db, x->id);
	if (qs != AGORA_QS_ONE)
		return qs;
	size_t n = strlen(x->c->broker_url);
	while (n > 0 && x->c->broker_url[n - 1] == '/')
		n--;
	char *seg = agora_path_segment(x->id);
	char *url = xasprintf("%.*s/api/v1/agreements/%s/revoke", (int)n, x->c->broker_url, seg);
	json_t *body = json_pack("{s:s}", "agreementId", x->id);
	qs = agora_outbox_put(db, "agreement_revoke", url, x->c->broker_url, body, x->id);
	json_decref(body);
	free(url);
	free(seg);
	return qs;
}

/* Provider side only: the local copy is revoked at once; the broker (and
 * through it the consumer) follows when the outbox delivers. */
enum MHD_Result
conn_agreement_revoke(struct agora_req *r)
{
	struct connector *c = r->app;
	char *owner = NULL;
	json_t *doc = lookup(r, &owner);
	if (!doc)
		return MHD_YES;
	enum MHD_Result ret;
	const char *role = json_string_value(json_object_get(doc, "role"));
	if (!role || strcmp(role, "provider") != 0) {
		ret = agora_reply_error(r, AGORA_E_FORBIDDEN, "only the provider revokes an agreement");
	} else if (!connector_may_change(r, owner)) {
		ret = agora_reply_error(r, AGORA_E_FORBIDDEN, "only the offer's publisher or an admin may revoke it");
	} else {
		struct revoke_ctx x = { c, agora_req_param(r, "id") };
		enum agora_qs qs = agora_db_tx(revoke_tx, &x, false);
		if (qs < 0)
			ret = db_unavailable(r);
		else if (qs == AGORA_QS_NONE)
			ret = agora_reply_error(r, AGORA_E_AGREEMENT_REVOKED, "agreement '%s' is already revoked",
						agora_req_param(r, "id"));
		else {
			dataplane_agreement_revoked(agora_req_param(r, "id"));
			json_t *now = lookup(r, NULL);
			ret = now ? agora_reply_json(r, 200, now) : MHD_YES;
		}
	}
	free(owner);
	json_decref(doc);
	return ret;
}

static enum agora_qs
revoked_tx(PGconn *db, void *arg)
{
	enum agora_qs qs = db_agreement_revoke(db, arg);
	return qs == AGORA_QS_NONE ? AGORA_QS_ONE : qs;	/* already revoked: fine */
}

/* POST /dsp/callback/agreements/{id}/revoked from the broker (participant
 * token; anyone else, or an agreement we do not hold: 404): the broker
 * revoked it and logged it; mark our copy.  Idempotent, since the outbox
 * delivers at least once. */
enum MHD_Result
conn_dsp_cb_agreement_revoked(struct agora_req *r)
{
	const struct connector *c = r->app;
	const char *id = agora_req_param(r, "id");
	if (!r->participant || strcmp(r->participant, c->broker_url) != 0)
		return agora_reply_error(r, AGORA_E_AGREEMENT_NOT_FOUND, "no agreement '%.200s'", id);
	json_t *doc = lookup(r, NULL);
	if (!doc)
		return MHD_YES;
	json_decref(doc);
	enum agora_qs qs = agora_db_tx(revoked_tx, (void *)id, false);
	if (qs < 0)
		return db_unavailable(r);
	dataplane_agreement_revoked(id);
	agora_logf(AGORA_LOG_INFO, "agreements", "%s revoked (told by the broker)", id);
	json_t *now = lookup(r, NULL);
	if (!now)
		return MHD_YES;
	json_t *out = json_pack("{s:s, s:O*}", "id", id, "status", json_object_get(now, "status"));
	json_decref(now);
	return agora_reply_json(r, 200, out);
}
