/* test_transfer_streams.c — transfers over time: tokens that expire and
 * are refreshed, running streams cut by a revocation or by a time window
 * that closes (re-authorisation every second here), and a consumer whose
 * delete duty is overdue refused further transfers. */
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "dsp_transfer.h"
#include "transfer_fixture.h"
#include "util.h"

static void
start(void)
{
	/* Short lives, so that the tests see them end. */
	setenv("AGORA_TOKEN_LIFETIME", "3", 1);
	setenv("AGORA_REAUTH_INTERVAL", "1", 1);
	nfx_start();
}

TestSuite(streams, .init = start, .fini = nfx_stop, .timeout = 180);

#define ROWS 150000

/* An observations dataset with ROWS rows under policy, negotiated; returns
 * the agreement id. */
static char *
big_observations(const char *policy)
{
	char *pb = xasprintf("{\"policy\":%s}", policy);
	char *pol = nfx_post_id(&city, "/api/v1/policies", pb);
	char *ds = nfx_post_id(&city, "/api/v1/datasets",
			       "{\"title\":\"Many readings\",\"source\":{\"type\":\"observations\","
			       "\"thingField\":\"sensor\",\"fields\":[{\"name\":\"no2\",\"type\":\"number\"}]}}");
	struct agora_buf csv;
	agora_buf_init(&csv);
	agora_buf_puts(&csv, "timestamp,sensor,no2\n");
	for (int i = 0; i < ROWS; i++) {
		char ts[32];
		agora_time_rfc3339(1767225600 + i, ts);
		agora_buf_printf(&csv, "%s,s%d,%d.5\n", ts, i % 50, i % 400);
	}
	char *path = xasprintf("/api/v1/datasets/%s/observations", ds);
	struct harness_resp *r = cfx_call_raw(&city, "POST", path, CONN_ADMIN_KEY, "text/csv", csv.data,
					      csv.len);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	agora_buf_cleanup(&csv);
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
	cr_assert_str_eq(tfx_str(n, "state"), "FINALIZED");
	char *ag = xstrdup(tfx_str(n, "agreementId"));
	json_decref(n);
	free(pb);
	free(pol);
	free(ds);
	free(path);
	free(ob);
	free(offer);
	free(cpath);
	free(neg);
	return ag;
}

struct edr {
	char *transfer, *endpoint, *token;
};

static void
edr_get(const char *transfer, struct edr *e)
{
	char *path = xasprintf("/api/v1/transfers/%s/edr", transfer);
	struct harness_resp *r = cfx_call(&mobi, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	e->transfer = xstrdup(transfer);
	e->endpoint = xstrdup(tfx_str(r->json, "endpoint"));
	e->token = xstrdup(tfx_str(r->json, "authorization"));
	harness_resp_free(r);
	free(path);
}

static void
edr_free(struct edr *e)
{
	free(e->transfer);
	free(e->endpoint);
	free(e->token);
}

/* A client pulling the data slowly from a small socket buffer.  act(ctx)
 * runs once, after `after` bytes; from then on the client reads at full
 * speed.  Returns the bytes read; *complete: the chunked body ended with
 * its last chunk (nothing was cut). */
static long long
slow_pull(const struct edr *e, long long after, void (*act)(void *), void *ctx, bool *complete)
{
	int port = 0;
	cr_assert(sscanf(strrchr(city.url, ':') + 1, "%d", &port) == 1);
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int small = 32 * 1024;
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof a), 0);
	const char *path = strstr(e->endpoint + 8, "/data/");
	char *req = xasprintf("GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
			      "Connection: close\r\n\r\n", path, e->token);
	cr_assert_eq(send(s, req, strlen(req), 0), (ssize_t)strlen(req));
	free(req);
	long long total = 0;
	bool acted = false;
	char buf[16384], tail[8] = "";
	time_t t0 = time(NULL);
	for (;;) {
		ssize_t n = recv(s, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		total += n;
		if (n >= 7)
			memcpy(tail, buf + n - 7, 7);
		if (!acted && total >= after) {
			acted = true;
			act(ctx);
		}
		if (!acted)
			usleep(50000);
		if (time(NULL) - t0 > 120)
			break;
	}
	close(s);
	*complete = !strcmp(tail, "\r\n0\r\n\r\n") || !memcmp(tail + 2, "0\r\n\r\n", 5);
	return total;
}

static void
revoke_agreement(void *ctx)
{
	char *path = xasprintf("/api/v1/agreements/%s/revoke", (const char *)ctx);
	struct harness_resp *r = cfx_call(&city, "POST", path, CONN_ADMIN_KEY, "{}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	free(path);
}

static void
nothing(void *ctx)
{
	(void)ctx;
}

Test(streams, revocation_cuts_a_running_stream)
{
	char *ag = big_observations(OPEN);
	char *id = tfx_start(ag, "\"autoPull\":false");
	json_t *t = tfx_wait(id, "STARTED", false);
	cr_assert_str_eq(tfx_str(t, "state"), "STARTED");
	json_decref(t);
	struct edr e;
	edr_get(id, &e);
	bool complete = true;
	long long got = slow_pull(&e, 512 * 1024, revoke_agreement, ag, &complete);
	cr_expect_not(complete, "the stream was cut, not finished (%lld bytes)", got);
	cr_expect_gt(got, 512 * 1024, "it was running when cut (%lld bytes)", got);
	t = tfx_wait(id, "TERMINATED", false);
	cr_expect_str_eq(tfx_str(t, "state"), "TERMINATED");
	json_decref(t);
	edr_free(&e);
	free(id);
	free(ag);
}

Test(streams, closing_time_window_cuts_a_running_stream)
{
	char until[32], policy[512];
	agora_time_rfc3339(agora_now() + 14, until);
	snprintf(policy, sizeof policy,
		 "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":"
		 "[{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"%s\"}]}]}", until);
	char *ag = big_observations(policy);
	char *id = tfx_start(ag, "\"autoPull\":false");
	json_t *t = tfx_wait(id, "STARTED", false);
	cr_assert_str_eq(tfx_str(t, "state"), "STARTED");
	json_decref(t);
	struct edr e;
	edr_get(id, &e);
	/* Read slowly well past the end of the window, then quickly: the
	 * stream's re-authorisation after the window ends cuts it. */
	bool complete = true;
	long long got = slow_pull(&e, 1LL << 40, nothing, NULL, &complete);
	cr_expect_not(complete, "the stream was cut when the window closed (%lld bytes)", got);
	edr_free(&e);
	free(id);
	free(ag);
}

Test(streams, expired_token_refreshed)
{
	char *ag = tfx_agreement("Refreshed", OPEN, NULL);
	char *id = tfx_start(ag, "\"autoPull\":false");
	json_t *t = tfx_wait(id, "STARTED", false);
	cr_assert_str_eq(tfx_str(t, "state"), "STARTED");
	json_decref(t);
	struct edr e;
	edr_get(id, &e);
	/* Each ask while STARTED gives a fresh token (the first one's
	 * 3 s lifetime is over), and the fresh one opens the data. */
	sleep(4);
	struct edr f;
	edr_get(id, &f);
	cr_expect_str_neq(f.token, e.token, "a fresh token after the first one's lifetime");
	char *fa = xasprintf("Authorization: Bearer %s", f.token);
	const char *fh[] = { fa, NULL };
	struct harness_resp *r = harness_http("GET", f.endpoint, fh, NULL);
	cr_expect_eq(r->status, 200, "%s", r->body);
	cr_expect_eq(r->body_len, strlen(tfx_content));
	harness_resp_free(r);
	free(fa);
	edr_free(&e);
	edr_free(&f);
	free(id);
	free(ag);
}

Test(streams, overdue_delete_duty_refuses_further_transfers)
{
	char *ag = tfx_agreement("Delete within 2 s",
				 "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"duty\":[{\"action\":"
				 "\"delete\",\"constraint\":[{\"leftOperand\":\"elapsedTime\",\"operator\":\"eq\","
				 "\"rightOperand\":\"PT2S\"}]}]}]}",
				 NULL);
	char *id = tfx_start(ag, NULL);
	json_t *t = tfx_wait(id, NULL, false);
	cr_assert_str_eq(tfx_str(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	json_decref(t);
	/* The consumer connector stalls before it deletes. */
	pid_t pid = harness_proc_pid(mobi.proc);
	kill(pid, SIGSTOP);
	sleep(4);
	/* A request straight to the broker, as the consumer. */
	json_t *m = agora_dspt_request_new("urn:uuid:11111111-2222-4333-8444-555555555555", ag,
					   AGORA_DSPT_PULL, "http://127.0.0.1:9/dsp/callback", NULL);
	char *body = json_dumps(m, JSON_COMPACT);
	char *tok = fx_token(&mobi.p, "POST", "/dsp/transfers/request", body, NULL);
	struct harness_resp *r = fx_call("POST", "/dsp/transfers/request", tok, body);
	kill(pid, SIGCONT);
	cr_expect_eq(r->status, 400, "%s", r->body);
	cr_expect_str_eq(tfx_str(r->json, "@type"), "TransferError", "%s", r->body);
	cr_expect_str_eq(tfx_str(r->json, "code"), "duty_overdue", "%s", r->body);
	harness_resp_free(r);
	/* Once it has deleted (and said so), transfers are allowed again. */
	t = tfx_wait(id, NULL, true);
	cr_expect_not_null(json_object_get(t, "deletedAt"), "%s", json_dumps(t, 0));
	json_decref(t);
	char *next = tfx_start(ag, NULL);
	t = tfx_wait(next, NULL, false);
	cr_expect_str_eq(tfx_str(t, "state"), "COMPLETED", "%s", json_dumps(t, 0));
	json_decref(t);
	json_decref(m);
	free(body);
	free(tok);
	free(next);
	free(id);
	free(ag);
}
