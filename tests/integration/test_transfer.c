/* test_transfer.c — transfers between two real connectors through a real
 * broker (docs/TRANSFER.md): pull and push of files, observations with
 * anonymize and aggregate duties, count limits, time windows, purposes,
 * the receipts in the ledger, and the delete duty. */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "nego_fixture.h"
#include "util.h"

TestSuite(transfer, .init = nfx_start, .fini = nfx_stop, .timeout = 120);

static const char content[] = "station,no2\nlyon-3e,41.5\nlyon-7e,38.0\n";

static char *
sha_hex(const void *p, size_t n)
{
	uint8_t h[32];
	char *hex = xmalloc(65);
	agora_sha256(p, n, h);
	agora_hex(h, 32, hex);
	return hex;
}

/* A file dataset with content under policy, negotiated to an agreement;
 * *ds receives the dataset id. */
static char *
agreement_for(const char *title, const char *policy, char **ds_out)
{
	char *offer;
	char *ds = nfx_publish(title, policy, true, &offer);
	char *path = xasprintf("/api/v1/datasets/%s/content", ds);
	struct harness_resp *r = cfx_call_raw(&city, "PUT", path, CONN_ADMIN_KEY, "text/csv", content,
					      strlen(content));
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	char *neg = nfx_request(ds, offer);
	json_t *n = nfx_wait_state(&mobi, neg, "FINALIZED");
	cr_assert_str_eq(json_string_value(json_object_get(n, "state")), "FINALIZED", "%s",
			 json_dumps(n, 0));
	char *aid = xstrdup(json_string_value(json_object_get(n, "agreementId")));
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

static char *
start_transfer(const char *agreement, const char *extra)
{
	char *b = xasprintf("{\"agreementId\":\"%s\"%s%s}", agreement, extra ? "," : "", extra ? extra : "");
	char *id = nfx_post_id(&mobi, "/api/v1/transfers", b);
	free(b);
	return id;
}

/* Poll the consumer's transfer until it is TERMINATED, or COMPLETED with
 * its receipt reported (and, when want_deleted, the data deleted). */
static json_t *
wait_transfer(const char *id, bool want_deleted)
{
	char *path = xasprintf("/api/v1/transfers/%s", id);
	json_t *doc = NULL;
	for (int i = 0; i < 400; i++) {
		struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		json_decref(doc);
		doc = json_incref(r->json);
		harness_resp_free(r);
		const char *st = json_string_value(json_object_get(doc, "state"));
		if (!strcmp(st, "TERMINATED"))
			break;
		if (!strcmp(st, "COMPLETED") && json_object_get(doc, "reportedAt") &&
		    (!want_deleted || json_object_get(doc, "deletedAt")))
			break;
		usleep(50000);
	}
	free(path);
	return doc;
}

static const char *
sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The ledger entries of kind for transfer (broker pid). */
static int
ledger_count(const char *kind, const char *transfer)
{
	struct harness_resp *r = fx_call("GET", "/api/v1/ledger/entries?start=0&end=999", NULL, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	int n = 0;
	size_t i;
	json_t *e;
	json_array_foreach(json_object_get(r->json, "entries"), i, e) {
		const json_t *en = json_object_get(e, "entry");
		if (!strcmp(sget(en, "kind"), kind) && (!transfer || !strcmp(sget(en, "transferId"), transfer)))
			n++;
	}
	harness_resp_free(r);
	return n;
}

Test(transfer, pull_file_end_to_end)
{
	char *ds;
	char *ag = agreement_for("Pulled file", OPEN, &ds);
	char *id = start_transfer(ag, "\"format\":\"HttpData-PULL\",\"purpose\":\"research\"");
	json_t *t = wait_transfer(id, false);
	cr_assert_str_eq(sget(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	char *want = sha_hex(content, strlen(content));
	cr_expect_eq(json_integer_value(json_object_get(t, "bytes")), (json_int_t)strlen(content));
	cr_expect_str_eq(sget(t, "sha256"), want);
	cr_expect_str_eq(sget(t, "expectedSha256"), want);
	cr_expect(json_is_true(json_object_get(t, "verified")), "%s", json_dumps(t, 0));
	cr_expect_str_eq(sget(t, "agreementId"), ag);
	cr_expect_str_eq(sget(t, "datasetId"), ds);

	/* The received bytes, whole and by Range. */
	char *dpath = xasprintf("/api/v1/transfers/%s/data", id);
	struct harness_resp *r = cfx_call(&mobi, "GET", dpath, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200);
	cr_expect_eq(r->body_len, strlen(content));
	cr_expect(!memcmp(r->body, content, strlen(content)));
	harness_resp_free(r);

	/* The broker's view: both legs, STARTED → COMPLETED, the ledger
	 * holds the start and both sides' receipts, which match. */
	const char *bpid = sget(t, "brokerPid");
	cr_assert_not_null(bpid);
	char *bpath = xasprintf("/api/v1/transfers/%s", bpid);
	r = fx_call("GET", bpath, ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_expect_str_eq(sget(r->json, "state"), "COMPLETED");
	cr_expect_str_eq(sget(r->json, "consumer_id"), MOBI);
	cr_expect_str_eq(sget(r->json, "provider_id"), CITY);
	cr_expect_str_eq(sget(r->json, "purpose"), "research");
	cr_expect_eq(json_integer_value(json_object_get(r->json, "use_number")), 1);
	json_t *prep = json_object_get(r->json, "provider_report");
	json_t *crep = json_object_get(r->json, "consumer_report");
	cr_expect_str_eq(sget(prep, "sha256"), want);
	cr_expect_str_eq(sget(crep, "sha256"), want);
	/* Every DSP message the broker sent or received passes the official
	 * schemas (skipped without ../shared). */
	size_t i;
	json_t *m;
	int n = 0;
	json_array_foreach(json_object_get(r->json, "history"), i, m) {
		char *text = json_dumps(json_object_get(m, "body"), JSON_COMPACT);
		bool skipped = false;
		cr_expect(harness_dsp_validate(text, &skipped), "dsp-validate refused %s", text);
		free(text);
		n++;
	}
	cr_expect_geq(n, 6, "request, start and completion on both legs");
	harness_resp_free(r);
	cr_expect_eq(ledger_count("transfer_started", bpid), 1);
	cr_expect_eq(ledger_count("transfer_completed", bpid), 2);

	/* The provider's side is COMPLETED too. */
	r = cfx_call(&city, "GET", "/api/v1/transfers?role=provider", CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	json_t *pt = json_array_get(json_object_get(r->json, "transfers"), 0);
	cr_expect_str_eq(sget(pt, "state"), "COMPLETED", "%s", r->body);
	cr_expect_str_eq(sget(pt, "sha256"), want);
	harness_resp_free(r);
	json_decref(t);
	free(want);
	free(dpath);
	free(bpath);
	free(id);
	free(ag);
	free(ds);
}
