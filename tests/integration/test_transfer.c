/* test_transfer.c — transfers between two real connectors through a real
 * broker (docs/TRANSFER.md): pull and push of files, observations with
 * anonymize and aggregate duties, count limits, time windows, purposes,
 * the receipts in the ledger, and the delete duty. */
#include <criterion/criterion.h>

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "crypto.h"
#include "transfer_fixture.h"
#include "util.h"

TestSuite(transfer, .init = nfx_start, .fini = nfx_stop, .timeout = 120);

#define content tfx_content
#define sha_hex tfx_sha
#define agreement_for tfx_agreement
#define sget tfx_str
#define ledger_count tfx_ledger_count

static char *
start_transfer(const char *agreement, const char *extra)
{
	return tfx_start(agreement, extra);
}

static json_t *
wait_transfer(const char *id, bool want_deleted)
{
	return tfx_wait(id, NULL, want_deleted);
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
	/* Both sides' reports (the provider's goes out from its worker) and
	 * the consumer's completion (sent after its report). */
	for (int k = 0; k < 100; k++) {
		r = fx_call("GET", bpath, ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		if (json_is_object(json_object_get(r->json, "provider_report")) &&
		    json_is_object(json_object_get(r->json, "consumer_report")) &&
		    !strcmp(sget(r->json, "state"), "COMPLETED"))
			break;
		harness_resp_free(r);
		r = NULL;
		usleep(50000);
	}
	cr_assert_not_null(r, "both reports reached the broker");
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
	/* The ledger verifies afterwards (agora ledger verify replays it). */
	char *cmd = xasprintf("%s ledger verify --broker %s --state %s/ledger-state.json > /dev/null 2>&1",
			      harness_bin("agora"), fx.url, fx.dir);
	int st = system(cmd);
	cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "agora ledger verify: status %d", st);
	free(cmd);

	/* The provider's side is COMPLETED too (the completion travels
	 * through the broker's outbox). */
	json_t *pt = NULL;
	for (int k = 0; k < 100; k++) {
		r = cfx_call(&city, "GET", "/api/v1/transfers?role=provider", CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		json_decref(pt);
		pt = json_incref(json_array_get(json_object_get(r->json, "results"), 0));
		harness_resp_free(r);
		if (!strcmp(sget(pt, "state"), "COMPLETED"))
			break;
		usleep(50000);
	}
	cr_expect_str_eq(sget(pt, "state"), "COMPLETED", "%s", json_dumps(pt, 0));
	cr_expect_str_eq(sget(pt, "sha256"), want);
	json_decref(pt);
	json_decref(t);
	free(want);
	free(dpath);
	free(bpath);
	free(id);
	free(ag);
	free(ds);
}

/* The reason a terminated transfer gives (its history's TransferError or
 * termination, or the row's reason). */
static void
expect_refused(const json_t *t, const char *code, const char *needle)
{
	char *text = json_dumps(t, 0);
	cr_expect_str_eq(sget(t, "state"), "TERMINATED", "%s", text);
	cr_expect_str_eq(sget(t, "code"), code, "%s", text);
	cr_expect(sget(t, "reason") && strstr(sget(t, "reason"), needle), "reason names '%s': %s", needle,
		  text);
	free(text);
}

Test(transfer, count_limit_allows_exactly_one_use)
{
	char *ag = agreement_for("Once only",
				 "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":"
				 "[{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1}]}]}",
				 NULL);
	char *first = start_transfer(ag, NULL);
	json_t *t = wait_transfer(first, false);
	cr_assert_str_eq(sget(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	json_decref(t);
	char *second = start_transfer(ag, NULL);
	t = wait_transfer(second, false);
	expect_refused(t, "policy_denied", "count lteq 1");
	json_decref(t);
	/* Nothing moved for the refused one, and no second use was counted. */
	cr_expect_eq(ledger_count("transfer_started", NULL), 1);
	free(first);
	free(second);
	free(ag);
}

Test(transfer, purpose_is_checked_per_transfer)
{
	char *ag = agreement_for("Research only",
				 "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":"
				 "[{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"research\"}]}]}",
				 NULL);
	char *bad = start_transfer(ag, "\"purpose\":\"marketing\"");
	json_t *t = wait_transfer(bad, false);
	expect_refused(t, "policy_denied", "purpose eq research");
	json_decref(t);
	char *none = start_transfer(ag, NULL);
	t = wait_transfer(none, false);
	expect_refused(t, "policy_denied", "purpose");
	json_decref(t);
	char *good = start_transfer(ag, "\"purpose\":\"research\"");
	t = wait_transfer(good, false);
	cr_expect_str_eq(sget(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	json_decref(t);
	free(bad);
	free(none);
	free(good);
	free(ag);
}

Test(transfer, time_window_closes)
{
	char until[32], policy[512];
	agora_time_rfc3339(agora_now() + 3, until);
	snprintf(policy, sizeof policy,
		 "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":"
		 "[{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"%s\"}]}]}", until);
	char *ag = agreement_for("Short window", policy, NULL);
	sleep(4);
	char *id = start_transfer(ag, NULL);
	json_t *t = wait_transfer(id, false);
	expect_refused(t, "policy_denied", "dateTime lt");
	json_decref(t);
	free(id);
	free(ag);
}

Test(transfer, push_file)
{
	char *ag = agreement_for("Pushed file", OPEN, NULL);
	char *id = start_transfer(ag, "\"format\":\"HttpData-PUSH\"");
	json_t *t = wait_transfer(id, false);
	cr_assert_str_eq(sget(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	char *want = sha_hex(content, strlen(content));
	cr_expect_str_eq(sget(t, "sha256"), want);
	cr_expect(json_is_true(json_object_get(t, "verified")), "%s", json_dumps(t, 0));
	char *dpath = xasprintf("/api/v1/transfers/%s/data", id);
	struct harness_resp *r = cfx_call(&mobi, "GET", dpath, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200);
	cr_expect_eq(r->body_len, strlen(content));
	cr_expect(!memcmp(r->body, content, strlen(content)));
	harness_resp_free(r);
	/* A push with a guessed secret reaches nothing. */
	char *ppath = xasprintf("%s/push/%s", mobi.url, id);
	const char *hdrs[] = { "Authorization: Bearer not-the-secret", NULL };
	r = harness_http("PUT", ppath, hdrs, "junk");
	fx_assert_error(r, 404, "transfer_not_found");
	harness_resp_free(r);
	int completed = 0;
	for (int k = 0; k < 100 && completed < 2; k++) {
		completed = ledger_count("transfer_completed", sget(t, "brokerPid"));
		if (completed < 2)
			usleep(50000);
	}
	cr_expect_eq(completed, 2, "both sides' receipts in the ledger (%d)", completed);
	json_decref(t);
	free(want);
	free(dpath);
	free(ppath);
	free(id);
	free(ag);
}

Test(transfer, delete_duty_runs_and_is_reported)
{
	char *ag = agreement_for("Delete after 2 s",
				 "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"duty\":[{\"action\":"
				 "\"delete\",\"constraint\":[{\"leftOperand\":\"elapsedTime\",\"operator\":\"eq\","
				 "\"rightOperand\":\"PT2S\"}]}]}]}",
				 NULL);
	char *id = start_transfer(ag, NULL);
	json_t *t = wait_transfer(id, true);
	cr_assert_str_eq(sget(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	cr_assert_not_null(json_object_get(t, "deletedAt"), "%s", json_dumps(t, 0));
	char *dpath = xasprintf("/api/v1/transfers/%s/data", id);
	struct harness_resp *r = cfx_call(&mobi, "GET", dpath, CONN_ADMIN_KEY, NULL);
	fx_assert_error(r, 404, "no_content");
	harness_resp_free(r);
	cr_expect_eq(ledger_count("deleted", sget(t, "brokerPid")), 1);
	/* Deleted in time: the next transfer is allowed. */
	char *next = start_transfer(ag, NULL);
	json_t *t2 = wait_transfer(next, false);
	cr_expect_str_eq(sget(t2, "state"), "COMPLETED", "%s", json_dumps(t2, 0));
	json_decref(t2);
	json_decref(t);
	free(dpath);
	free(next);
	free(id);
	free(ag);
}

/* An observations dataset at the city (sensor, no2, label) with four rows,
 * offered under policy and negotiated: the agreement id. */
static char *
observations_agreement(const char *title, const char *policy)
{
	char *pb = xasprintf("{\"policy\":%s}", policy);
	char *pol = nfx_post_id(&city, "/api/v1/policies", pb);
	char *db = xasprintf("{\"title\":\"%s\",\"theme\":[\"environment\"],\"source\":{\"type\":"
			     "\"observations\",\"thingField\":\"sensor\",\"fields\":[{\"name\":\"no2\","
			     "\"type\":\"number\"},{\"name\":\"label\",\"type\":\"string\"}]}}",
			     title);
	char *ds = nfx_post_id(&city, "/api/v1/datasets", db);
	static const char csv[] = "timestamp,sensor,no2,label\n"
				  "2026-01-01T00:10:00Z,s1,10,a\n"
				  "2026-01-01T00:20:00Z,s1,20,b\n"
				  "2026-01-01T00:30:00Z,s2,30,c\n"
				  "2026-01-01T01:10:00Z,s1,40,d\n";
	char *path = xasprintf("/api/v1/datasets/%s/observations", ds);
	struct harness_resp *r = cfx_call_raw(&city, "POST", path, CONN_ADMIN_KEY, "text/csv", csv,
					      strlen(csv));
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "accepted")), 4, "%s", r->body);
	harness_resp_free(r);
	char *ob = xasprintf("{\"datasetSelector\":{\"ids\":[\"%s\"]},\"contractPolicyId\":\"%s\","
			     "\"autoAccept\":true}", ds, pol);
	char *offer = nfx_post_id(&city, "/api/v1/offers", ob);
	char *cpath = xasprintf("/api/v1/catalog/datasets/%s", ds);
	bool seen = false;
	for (int i = 0; i < 200 && !seen; i++) {
		r = fx_call("GET", cpath, NULL, NULL);
		seen = r->status == 200 && json_array_size(json_object_get(r->json, "offers")) > 0;
		harness_resp_free(r);
		if (!seen)
			usleep(50000);
	}
	cr_assert(seen);
	char *neg = nfx_request(ds, offer);
	json_t *n = nfx_wait_state(&mobi, neg, "FINALIZED");
	cr_assert_str_eq(sget(n, "state"), "FINALIZED", "%s", json_dumps(n, 0));
	char *ag = xstrdup(sget(n, "agreementId"));
	json_decref(n);
	free(pb);
	free(pol);
	free(db);
	free(ds);
	free(path);
	free(ob);
	free(offer);
	free(cpath);
	free(neg);
	return ag;
}

/* The data the consumer received for transfer id (heap, NUL-terminated). */
static char *
received(const char *id)
{
	json_t *t = wait_transfer(id, false);
	cr_assert_str_eq(sget(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	cr_expect(json_is_true(json_object_get(t, "verified")), "%s", json_dumps(t, 0));
	json_decref(t);
	char *path = xasprintf("/api/v1/transfers/%s/data", id);
	struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	char *body = xstrndup(r->body, r->body_len);
	harness_resp_free(r);
	free(path);
	return body;
}

Test(transfer, observations_anonymized)
{
	char *ag = observations_agreement(
		"Pseudonymous sensors",
		"{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"duty\":["
		"{\"action\":\"anonymize\",\"fields\":[\"sensor\"],\"agora:method\":\"hash\"},"
		"{\"action\":\"anonymize\",\"fields\":[\"label\"]}]}]}");
	char *id = start_transfer(ag, NULL);
	char *csv = received(id);
	/* Header without the dropped field; no raw sensor id or label left. */
	cr_expect(!strncmp(csv, "timestamp,thing,no2\r\n", 21), "%s", csv);
	cr_expect(!strstr(csv, "s1") && !strstr(csv, "s2") && !strstr(csv, "label") && !strstr(csv, ",a\r"), "%s", csv);
	int lines = 0;
	for (const char *p = csv; *p; p++)
		lines += *p == '\n';
	cr_expect_eq(lines, 5, "%s", csv);
	/* The same sensor has the same pseudonym (rows 1 and 2 are s1), the
	 * other sensor another (row 3 is s2). */
	char p1[40] = "", p2[40] = "", p3[40] = "";
	const char *l1 = strchr(csv, '\n') + 1;
	const char *l2 = strchr(l1, '\n') + 1;
	const char *l3 = strchr(l2, '\n') + 1;
	sscanf(l1, "%*[^,],%32[0-9a-f]", p1);
	sscanf(l2, "%*[^,],%32[0-9a-f]", p2);
	sscanf(l3, "%*[^,],%32[0-9a-f]", p3);
	cr_expect_str_neq(p1, p3, "%s", csv);
	cr_expect_eq(strlen(p1), 32, "%s", csv);
	cr_expect_str_eq(p1, p2, "%s", csv);
	/* Asking for the dropped field is refused before anything moves. */
	char *bad = start_transfer(ag, "\"query\":{\"fields\":[\"label\"]}");
	json_t *t = wait_transfer(bad, false);
	cr_expect_str_eq(sget(t, "state"), "TERMINATED", "%s", json_dumps(t, 0));
	cr_expect_str_eq(sget(t, "code"), "query_not_permitted", "%s", json_dumps(t, 0));
	json_decref(t);
	free(bad);
	free(csv);
	free(id);
	free(ag);
}

Test(transfer, observations_aggregated)
{
	char *ag = observations_agreement(
		"Hourly only",
		"{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"duty\":["
		"{\"action\":\"aggregate\",\"agora:bucket\":\"PT1H\"}]}]}");
	char *id = start_transfer(ag, "\"query\":{\"format\":\"ndjson\"}");
	char *nd = received(id);
	/* Raw rows never leave: hourly buckets per sensor, exact statistics. */
	cr_expect(!strstr(nd, "00:10:00"), "%s", nd);
	cr_expect(strstr(nd, "\"no2\":{\"count\":2,\"min\":10,\"max\":20,\"mean\":15}") != NULL, "%s", nd);
	cr_expect(strstr(nd, "\"no2\":{\"count\":1,\"min\":30,\"max\":30,\"mean\":30}") != NULL, "%s", nd);
	cr_expect(strstr(nd, "\"no2\":{\"count\":1,\"min\":40,\"max\":40,\"mean\":40}") != NULL, "%s", nd);
	cr_expect(!strstr(nd, "label"), "%s", nd);
	int lines = 0;
	for (const char *p = nd; *p; p++)
		lines += *p == '\n';
	cr_expect_eq(lines, 3, "%s", nd);
	free(nd);
	free(id);
	free(ag);
}

Test(transfer, inform_duty_tells_the_provider)
{
	char *ag = agreement_for("Tell me when you have it",
				 "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"duty\":"
				 "[{\"action\":\"inform\"}]}]}",
				 NULL);
	char *id = start_transfer(ag, NULL);
	json_t *t = wait_transfer(id, false);
	cr_assert_str_eq(sget(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	/* The ledger records the inform duty, and the provider's transfer
	 * shows what the consumer said it received. */
	int informed = 0;
	bool told = false;
	char *want = sha_hex(content, strlen(content));
	for (int k = 0; k < 100 && (!informed || !told); k++) {
		informed = ledger_count("informed", sget(t, "brokerPid"));
		struct harness_resp *r = cfx_call(&city, "GET", "/api/v1/transfers?role=provider",
						  CONN_ADMIN_KEY, NULL);
		const char *pid = sget(json_array_get(json_object_get(r->json, "results"), 0), "id");
		char *path = xasprintf("/api/v1/transfers/%s", pid ? pid : "none");
		harness_resp_free(r);
		r = cfx_call(&city, "GET", path, CONN_ADMIN_KEY, NULL);
		size_t i;
		json_t *ev;
		json_array_foreach(json_object_get(r->json, "events"), i, ev)
			if (!strcmp(sget(ev, "type"), "UsageNotification") &&
			    !strcmp(sget(json_object_get(ev, "body"), "sha256"), want))
				told = true;
		harness_resp_free(r);
		free(path);
		if (!informed || !told)
			usleep(50000);
	}
	cr_expect_eq(informed, 1);
	cr_expect(told, "the provider's transfer has the consumer's notification");
	json_decref(t);
	free(want);
	free(id);
	free(ag);
}

/* Run one statement (param $1, may be NULL) on a connector's database:
 * the rows it changed. */
static long
db_exec(const char *conninfo, const char *sql, const char *param)
{
	PGconn *db = PQconnectdb(conninfo);
	cr_assert_eq(PQstatus(db), CONNECTION_OK, "%s", PQerrorMessage(db));
	const char *p[] = { param };
	PGresult *r = PQexecParams(db, sql, param ? 1 : 0, NULL, p, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", sql, PQresultErrorMessage(r));
	long n = atol(PQcmdTuples(r));
	PQclear(r);
	PQfinish(db);
	return n;
}

/* A pull resumed with every byte already received (the consumer connector
 * killed after the last byte, before it recorded the data as received —
 * found by make test-load's kill -9 of the consumer) gets 416 from the
 * provider; it must start over, not fail until its attempts run out with
 * the transfer STARTED for good.  The part file is put in place by hand,
 * for a transfer the worker has not pulled (autoPull false), then the pull
 * is switched on. */
Test(transfer, resumed_pull_of_complete_data_starts_over)
{
	char *ag = agreement_for("Air quality resumed", OPEN, NULL);
	char *id = start_transfer(ag, "\"autoPull\":false");
	json_t *t = tfx_wait(id, "STARTED", false);
	cr_assert_str_eq(sget(t, "state"), "STARTED");
	json_decref(t);
	char *hex = sha_hex(id, strlen(id));
	char *part = xasprintf("%s/data/received/%s.part", mobi.dir, hex);
	char *dir = xasprintf("%s/data/received", mobi.dir);
	cr_assert_eq(agora_mkdir_p(dir), 0);
	FILE *f = fopen(part, "wb");
	cr_assert_not_null(f, "%s", part);
	cr_assert_eq(fwrite(content, 1, strlen(content), f), strlen(content));
	fclose(f);
	cr_assert_eq(db_exec(mobi.db, "UPDATE transfers SET auto_pull = true WHERE id = $1", id), 1);
	t = wait_transfer(id, false);
	char *text = json_dumps(t, 0);
	cr_assert_str_eq(sget(t, "state"), "COMPLETED", "%s", text);
	cr_assert(json_is_true(json_object_get(t, "verified")), "%s", text);
	char *want = sha_hex(content, strlen(content));
	cr_assert_str_eq(sget(t, "sha256"), want, "%s", text);
	free(want);
	free(text);
	json_decref(t);
	free(dir);
	free(part);
	free(hex);
	free(id);
	free(ag);
}

/* A pull whose receipt was reported to the broker, but whose completion
 * did not commit — the consumer connector killed, or its database gone,
 * between the two (found by make test-load's kill -9 round: the transfer
 * stayed STARTED at all three parties, nothing left to send) — is
 * completed once it can be.  A trigger makes the completion's commit
 * fail until it is dropped. */
Test(transfer, reported_pull_completes_after_a_failed_commit)
{
	char *ag = agreement_for("Air quality completion", OPEN, NULL);
	db_exec(mobi.db, "CREATE FUNCTION test_no_completion() RETURNS trigger LANGUAGE plpgsql AS"
		" $$ BEGIN RAISE EXCEPTION 'the test blocks completions'; END $$", NULL);
	db_exec(mobi.db, "CREATE TRIGGER test_no_completion BEFORE UPDATE ON transfers FOR EACH ROW"
		" WHEN (NEW.state = 'COMPLETED' AND OLD.state <> 'COMPLETED')"
		" EXECUTE FUNCTION test_no_completion()", NULL);
	char *id = start_transfer(ag, NULL);
	json_t *t = NULL;
	char *path = xasprintf("/api/v1/transfers/%s", id);
	for (int i = 0; i < 200; i++) {	/* until the receipt is reported */
		struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		json_decref(t);
		t = json_incref(r->json);
		harness_resp_free(r);
		if (json_object_get(t, "reportedAt") || !strcmp(sget(t, "state"), "TERMINATED"))
			break;
		usleep(50000);
	}
	char *text = json_dumps(t, 0);
	cr_assert(json_object_get(t, "reportedAt"), "%s", text);
	free(text);
	/* Tried and refused (the scan retries each second): still STARTED. */
	usleep(1500000);
	json_decref(t);
	t = tfx_wait(id, "STARTED", false);
	cr_assert_str_eq(sget(t, "state"), "STARTED");
	json_decref(t);
	db_exec(mobi.db, "DROP TRIGGER test_no_completion ON transfers", NULL);
	t = wait_transfer(id, false);
	text = json_dumps(t, 0);
	cr_assert_str_eq(sget(t, "state"), "COMPLETED", "%s", text);
	cr_assert(json_is_true(json_object_get(t, "verified")), "%s", text);
	free(text);
	json_decref(t);
	/* The completion reached the provider through the broker. */
	const char *pstate = NULL;
	json_t *pt = NULL;
	for (int i = 0; i < 200; i++) {
		struct harness_resp *r = cfx_call(&city, "GET", "/api/v1/transfers?role=provider",
						  CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		json_decref(pt);
		pt = json_incref(json_array_get(json_object_get(r->json, "results"), 0));
		harness_resp_free(r);
		pstate = sget(pt, "state");
		if (pstate && !strcmp(pstate, "COMPLETED"))
			break;
		usleep(50000);
	}
	cr_assert_str_eq(pstate, "COMPLETED");
	json_decref(pt);
	free(path);
	free(id);
	free(ag);
}

/* The provider's report of what it sent, when it did not get through (the
 * broker down at that moment; here: its record forgotten by hand after the
 * fact), is made again by the worker's scan — and the broker, which has it,
 * answers the repeat with the same ledger entry. */
Test(transfer, provider_report_is_retried_by_the_scan)
{
	char *ag = agreement_for("Air quality provider report", OPEN, NULL);
	char *id = start_transfer(ag, NULL);
	json_t *t = wait_transfer(id, false);
	cr_assert_str_eq(sget(t, "state"), "COMPLETED");
	char *bpid = xstrdup(sget(t, "brokerPid"));
	json_decref(t);
	char *pid = NULL;
	for (int i = 0; i < 200 && !pid; i++) {
		struct harness_resp *r = cfx_call(&city, "GET", "/api/v1/transfers?role=provider",
						  CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		json_t *pt = json_array_get(json_object_get(r->json, "results"), 0);
		if (pt && json_object_get(pt, "reportedAt"))
			pid = xstrdup(sget(pt, "id"));
		harness_resp_free(r);
		if (!pid)
			usleep(50000);
	}
	cr_assert_not_null(pid, "the provider reported what it sent");
	int entries = ledger_count("transfer_completed", bpid);
	cr_assert_eq(entries, 2);

	cr_assert_eq(db_exec(city.db, "UPDATE transfers SET reported_at = NULL WHERE id = $1", pid), 1);
	/* The id is a urn:uuid: no quoting to worry about. */
	char *reported = xasprintf("SELECT count(*) FROM transfers WHERE id = '%s'"
				   " AND reported_at IS NOT NULL", pid);
	bool again = false;
	for (int i = 0; i < 100 && !again; i++) {
		again = harness_db_count(city.db, reported) == 1;
		if (!again)
			usleep(50000);
	}
	free(reported);
	cr_assert(again, "the scan reported it again");
	cr_expect_eq(ledger_count("transfer_completed", bpid), 2);
	free(pid);
	free(bpid);
	free(id);
	free(ag);
}
