/* transfer_fixture.c — see transfer_fixture.h. */
#include "transfer_fixture.h"
#include "crypto.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char tfx_content[] = "station,no2\nlyon-3e,41.5\nlyon-7e,38.0\n";

const char *
tfx_str(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

char *
tfx_sha(const void *p, size_t n)
{
	uint8_t h[32];
	char *hex = xmalloc(65);
	agora_sha256(p, n, h);
	agora_hex(h, 32, hex);
	return hex;
}

char *
tfx_agreement(const char *title, const char *policy, char **ds_out)
{
	char *offer;
	char *ds = nfx_publish(title, policy, true, &offer);
	char *path = xasprintf("/api/v1/datasets/%s/content", ds);
	struct harness_resp *r = cfx_call_raw(&city, "PUT", path, CONN_ADMIN_KEY, "text/csv", tfx_content,
					      strlen(tfx_content));
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	char *neg = nfx_request(ds, offer);
	json_t *n = nfx_wait_state(&mobi, neg, "FINALIZED");
	char *text = json_dumps(n, 0);
	cr_assert_str_eq(tfx_str(n, "state"), "FINALIZED", "%s", text);
	free(text);
	char *aid = xstrdup(tfx_str(n, "agreementId"));
	json_decref(n);
	free(neg);
	free(offer);
	free(path);
	if (ds_out)
		*ds_out = ds;
	else
		free(ds);
	return aid;
}

char *
tfx_start(const char *agreement, const char *extra)
{
	char *b = xasprintf("{\"agreementId\":\"%s\"%s%s}", agreement, extra ? "," : "", extra ? extra : "");
	char *id = nfx_post_id(&mobi, "/api/v1/transfers", b);
	free(b);
	return id;
}

json_t *
tfx_wait(const char *id, const char *until, bool want_deleted)
{
	char *path = xasprintf("/api/v1/transfers/%s", id);
	json_t *doc = NULL;
	for (int i = 0; i < 400; i++) {
		struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		json_decref(doc);
		doc = json_incref(r->json);
		harness_resp_free(r);
		const char *st = tfx_str(doc, "state");
		if (!strcmp(st, "TERMINATED") || (until && !strcmp(st, until)))
			break;
		if (!until && !strcmp(st, "COMPLETED") && json_object_get(doc, "reportedAt") &&
		    (!want_deleted || json_object_get(doc, "deletedAt")))
			break;
		usleep(50000);
	}
	free(path);
	return doc;
}

int
tfx_ledger_count(const char *kind, const char *transfer)
{
	struct harness_resp *r = fx_call("GET", "/api/v1/ledger/entries?start=0&end=999", NULL, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(r->json, "entries"), i, e) {
		const json_t *en = json_object_get(e, "entry");
		if (!strcmp(tfx_str(en, "kind"), kind) &&
		    (!transfer || (tfx_str(en, "transferId") && !strcmp(tfx_str(en, "transferId"), transfer))))
			n++;
	}
	harness_resp_free(r);
	return n;
}
