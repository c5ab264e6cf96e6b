/* http_agreements.c — /api/v1/agreements: the agreements this connector
 * is a party to, with their signatures and (consumer side) the broker's
 * ledger receipt; revocation by the provider. */
#include "connector.h"
#include "db_connector.h"
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

static enum agora_qs
revoke_tx(PGconn *db, void *arg)
{
	return db_agreement_revoke(db, arg);
}

/* Provider side only.  The broker is not told yet: its revocation
 * endpoint (a `revoked` ledger entry, POST /api/v1/agreements/{id}/revoke
 * on the broker) is being built with the broker's side of issue 5; once it
 * exists this queues a message for it through the outbox in the same
 * transaction. */
enum MHD_Result
conn_agreement_revoke(struct agora_req *r)
{
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
		enum agora_qs qs = agora_db_tx(revoke_tx, (void *)agora_req_param(r, "id"), false);
		if (qs < 0)
			ret = db_unavailable(r);
		else if (qs == AGORA_QS_NONE)
			ret = agora_reply_error(r, AGORA_E_AGREEMENT_REVOKED, "agreement '%s' is already revoked",
						agora_req_param(r, "id"));
		else {
			json_t *now = lookup(r, NULL);
			ret = now ? agora_reply_json(r, 200, now) : MHD_YES;
		}
	}
	free(owner);
	json_decref(doc);
	return ret;
}
