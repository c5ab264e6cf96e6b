/* test_outbox.c — lib/outbox.c against a real PostgreSQL and a peer that is
 * a libmicrohttpd daemon inside the test process.  The peer verifies every
 * request's participant token with agora_pauth_verify (signature, aud, htm,
 * htu, bh, jti replay) and answers per path:
 *
 *   /ok       200 {"ok":true}
 *   /created  201 ContractNegotiation
 *   /flaky/N  500 for the first N requests to that path, then 200
 *   /fail     500 always
 *   /refuse   400 ContractNegotiationError
 *   /slow     200 after 1.5 s
 *
 * Result callbacks write a row into `results` on the worker's connection, so
 * the tests also see that what a callback writes commits with the removal.
 */
#include "harness.h"
#include "jose.h"
#include "outbox.h"
#include "pauth.h"
#include "util.h"

#include <criterion/criterion.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PEER_AUD "urn:agora:participant:peer"
#define SELF_A "urn:agora:participant:a"
#define SELF_B "urn:agora:participant:b"

static char *conninfo;
static struct agora_key *key;
static char kid[44];

/* ---- the peer ----------------------------------------------------------------- */

struct seen_req {
	char path[64];
	char msg[64];		/* body.msgId */
	char iss[64];		/* verified token issuer, "" when refused */
	uint64_t t_ns;
	unsigned status;	/* what the peer answered */
};

static struct {
	pthread_mutex_t mu;
	struct MHD_Daemon *d;
	int port;
	struct seen_req *reqs;
	size_t n, cap;
	char **jtis;
	size_t njti, capjti;
	unsigned auth_failures;
} peer = { .mu = PTHREAD_MUTEX_INITIALIZER };

static enum agora_qs
peer_key(void *ctx, const char *id, const char *k, json_t **jwk, char **status)
{
	(void)ctx;
	if (strcmp(id, SELF_A) && strcmp(id, SELF_B))
		return AGORA_QS_NONE;
	*status = xstrdup("active");
	*jwk = strcmp(k, kid) ? NULL : agora_jwk_from_key(key);
	return AGORA_QS_ONE;
}

static enum agora_qs
peer_seen(void *ctx, const char *participant, const char *jti, long long exp)
{
	(void)ctx;
	(void)participant;
	(void)exp;
	enum agora_qs qs = AGORA_QS_ONE;
	pthread_mutex_lock(&peer.mu);
	for (size_t i = 0; i < peer.njti; i++)
		if (!strcmp(peer.jtis[i], jti))
			qs = AGORA_QS_NONE;
	if (qs == AGORA_QS_ONE) {
		if (peer.njti == peer.capjti) {
			peer.capjti = peer.capjti ? 2 * peer.capjti : 256;
			peer.jtis = xrealloc(peer.jtis, peer.capjti * sizeof *peer.jtis);
		}
		peer.jtis[peer.njti++] = xstrdup(jti);
	}
	pthread_mutex_unlock(&peer.mu);
	return qs;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *body, const char *extra)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	if (extra)
		MHD_add_response_header(r, "X-Extra", extra);
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static void
peer_completed(void *cls, struct MHD_Connection *c, void **state,
	       enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)c;
	(void)toe;
	struct agora_buf *b = *state;
	if (b) {
		agora_buf_cleanup(b);
		free(b);
		*state = NULL;
	}
}

static enum MHD_Result
peer_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	     const char *version, const char *upload, size_t *upload_size, void **state)
{
	(void)cls;
	(void)version;
	struct agora_buf *b = *state;
	if (!b) {
		b = xcalloc(1, sizeof *b);
		agora_buf_init(b);
		*state = b;
		return MHD_YES;
	}
	if (*upload_size) {
		agora_buf_append(b, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	uint64_t t = agora_mono_ns();
	struct seen_req s = { .t_ns = t };
	snprintf(s.path, sizeof s.path, "%s", url);

	/* Authenticate exactly as a connector or the broker would. */
	const char *authz = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	char *full = xasprintf("http://127.0.0.1:%d%s", peer.port, url);
	struct agora_pauth_request preq = { PEER_AUD, method, full, b->data ? b->data : "",
					    b->len };
	struct agora_pauth_ops ops = { peer_key, peer_seen, NULL };
	char detail[256] = "", *who = NULL;
	enum agora_error e = AGORA_E_INVALID_TOKEN;
	if (authz && !strncmp(authz, "Bearer ", 7))
		e = agora_pauth_verify(authz + 7, &preq, &ops, &who, detail, sizeof detail);
	free(full);
	if (who)
		snprintf(s.iss, sizeof s.iss, "%s", who);
	free(who);

	json_t *body = json_loadb(b->data ? b->data : "", b->len, 0, NULL);
	const char *msg = json_string_value(json_object_get(body, "msgId"));
	snprintf(s.msg, sizeof s.msg, "%s", msg ? msg : "");
	json_decref(body);

	pthread_mutex_lock(&peer.mu);
	size_t before = 0;
	for (size_t i = 0; i < peer.n; i++)
		before += !strcmp(peer.reqs[i].path, url);
	pthread_mutex_unlock(&peer.mu);

	unsigned status;
	const char *answer;
	if (e != AGORA_E__COUNT) {
		fprintf(stderr, "peer: token refused on %s: %s\n", url, detail);
		status = 401, answer = "{\"error\":\"invalid token\"}";
	} else if (!strcmp(url, "/ok")) {
		status = 200, answer = "{\"ok\":true}";
	} else if (!strcmp(url, "/created")) {
		status = 201, answer = "{\"@type\":\"ContractNegotiation\",\"providerPid\":"
				       "\"urn:uuid:provider-1\",\"state\":\"REQUESTED\"}";
	} else if (!strncmp(url, "/flaky/", 7)) {
		bool fail = before < strtoul(url + 7, NULL, 10);
		status = fail ? 500 : 200;
		answer = fail ? "{\"error\":\"boom\"}"
			      : "{\"@type\":\"ContractNegotiation\",\"providerPid\":\"p-9\"}";
	} else if (!strcmp(url, "/fail")) {
		status = 500, answer = "{\"error\":\"boom\"}";
	} else if (!strcmp(url, "/refuse")) {
		status = 400, answer = "{\"@type\":\"ContractNegotiationError\",\"providerPid\":"
				       "\"urn:uuid:p\",\"consumerPid\":\"urn:uuid:c\",\"code\":"
				       "\"400\",\"reason\":[\"offer does not match the catalog\"]}";
	} else if (!strcmp(url, "/slow")) {
		usleep(1500 * 1000);
		status = 200, answer = "{}";
	} else {
		status = 404, answer = "{}";
	}
	s.status = status;
	pthread_mutex_lock(&peer.mu);
	if (e != AGORA_E__COUNT)
		peer.auth_failures++;
	if (peer.n == peer.cap) {
		peer.cap = peer.cap ? 2 * peer.cap : 256;
		peer.reqs = xrealloc(peer.reqs, peer.cap * sizeof *peer.reqs);
	}
	peer.reqs[peer.n++] = s;
	pthread_mutex_unlock(&peer.mu);
	return reply(conn, status, answer, NULL);
}

static void
peer_start(void)
{
	peer.port = harness_free_port();
	peer.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				  (uint16_t)peer.port, NULL, NULL, peer_handler, NULL,
				  MHD_OPTION_NOTIFY_COMPLETED, peer_completed, NULL,
				  MHD_OPTION_END);
	cr_assert_not_null(peer.d, "peer on port %d", peer.port);
}

/* How many requests for path (NULL: any) carrying msg (NULL: any). */
static long
peer_count(const char *path, const char *msg)
{
	long n = 0;
	pthread_mutex_lock(&peer.mu);
	for (size_t i = 0; i < peer.n; i++)
		n += (!path || !strcmp(peer.reqs[i].path, path)) &&
		     (!msg || !strcmp(peer.reqs[i].msg, msg));
	pthread_mutex_unlock(&peer.mu);
	return n;
}

/* The k-th (0-based) request carrying msg; false when there is none. */
static bool
peer_req(const char *msg, size_t k, struct seen_req *out)
{
	bool found = false;
	pthread_mutex_lock(&peer.mu);
	for (size_t i = 0; i < peer.n && !found; i++)
		if (!strcmp(peer.reqs[i].msg, msg) && k-- == 0) {
			*out = peer.reqs[i];
			found = true;
		}
	pthread_mutex_unlock(&peer.mu);
	return found;
}

/* Index of the k-th request carrying msg in arrival order, or -1. */
static long
peer_index(const char *msg, size_t k)
{
	long idx = -1;
	pthread_mutex_lock(&peer.mu);
	for (size_t i = 0; i < peer.n && idx < 0; i++)
		if (!strcmp(peer.reqs[i].msg, msg) && k-- == 0)
			idx = (long)i;
	pthread_mutex_unlock(&peer.mu);
	return idx;
}

/* ---- result callbacks --------------------------------------------------------- */

struct result {
	char kind[32], ref[64];
	long status;
	enum agora_outbox_outcome outcome;
	char *reply;		/* compact JSON or NULL */
	char msg[64];		/* sent_body.msgId */
	uint64_t t_ns;
};

static struct {
	pthread_mutex_t mu;
	struct result r[512];
	size_t n;
	const char *fail_ref;	/* the callback breaks its transaction for this ref… */
	int fail_times;		/* …this many times */
} res = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void
on_result(void *ctx, PGconn *c, const char *kind, const char *ref, const json_t *sent,
	  long status, const json_t *reply, enum agora_outbox_outcome outcome)
{
	(void)ctx;
	pthread_mutex_lock(&res.mu);
	bool sabotage = res.fail_ref && ref && !strcmp(ref, res.fail_ref) && res.fail_times > 0;
	if (sabotage)
		res.fail_times--;
	pthread_mutex_unlock(&res.mu);
	if (sabotage) {
		/* A statement that fails leaves the transaction aborted. */
		PQclear(PQexec(c, "SELECT no_such_column FROM results"));
		return;
	}
	char st[16], oc[16];
	snprintf(st, sizeof st, "%ld", status);
	snprintf(oc, sizeof oc, "%d", (int)outcome);
	char *rep = reply ? json_dumps(reply, JSON_COMPACT) : NULL;
	const char *p[] = { ref, oc, st, rep };
	PGresult *r = PQexecParams(c, "INSERT INTO results (ref, outcome, status, reply)"
				      " VALUES ($1, $2::int, $3::int, $4)", 4, NULL, p, NULL, NULL, 0);
	/* No cr_assert off the test's thread: the tests check `results`. */
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "on_result: %s", PQresultErrorMessage(r));
	PQclear(r);
	pthread_mutex_lock(&res.mu);
	if (res.n == ARRAY_LEN(res.r)) {
		pthread_mutex_unlock(&res.mu);
		free(rep);
		return;
	}
	struct result *x = &res.r[res.n++];
	snprintf(x->kind, sizeof x->kind, "%s", kind);
	snprintf(x->ref, sizeof x->ref, "%s", ref ? ref : "");
	const char *msg = json_string_value(json_object_get(sent, "msgId"));
	snprintf(x->msg, sizeof x->msg, "%s", msg ? msg : "");
	x->status = status;
	x->outcome = outcome;
	x->reply = rep;
	x->t_ns = agora_mono_ns();
	pthread_mutex_unlock(&res.mu);
}

/* The result for msg (copied), false when there is none yet. */
static bool
result_for(const char *msg, struct result *out)
{
	bool found = false;
	pthread_mutex_lock(&res.mu);
	for (size_t i = 0; i < res.n && !found; i++)
		if (!strcmp(res.r[i].msg, msg)) {
			*out = res.r[i];
			found = true;
		}
	pthread_mutex_unlock(&res.mu);
	return found;
}

static long
results_count(void)
{
	pthread_mutex_lock(&res.mu);
	long n = (long)res.n;
	pthread_mutex_unlock(&res.mu);
	return n;
}

/* ---- fixture and helpers ------------------------------------------------------- */

static const struct agora_stmt *const tables[] = { agora_outbox_stmts, NULL };

static void
setup(void)
{
	conninfo = harness_db_create();
	PGconn *c = PQconnectdb(conninfo);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	PGresult *r = PQexec(c, agora_outbox_schema_sql);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	r = PQexec(c, "CREATE TABLE results (ref text, outcome int, status int, reply text)");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	agora_db_setup(conninfo, tables);
	key = agora_key_generate();
	cr_assert(agora_key_thumbprint(key, kid));
	peer_start();
}

static void
teardown(void)
{
	if (peer.d)
		MHD_stop_daemon(peer.d);
	agora_db_close();
	agora_key_free(key);
	harness_db_drop(conninfo);
	free(conninfo);
}

TestSuite(outbox, .init = setup, .fini = teardown, .timeout = 60);

static struct agora_outbox *
start(const char *self, unsigned max_attempts, unsigned base_ms, unsigned max_ms, long timeout_ms)
{
	struct agora_outbox_config cfg = {
		.conninfo = conninfo,
		.key = key,
		.kid = kid,
		.self_id = self,
		.max_attempts = max_attempts,
		.base_delay_ms = base_ms,
		.max_delay_ms = max_ms,
		.timeout_ms = timeout_ms,
		.on_result = on_result,
	};
	struct agora_outbox *ob = agora_outbox_start(&cfg);
	cr_assert_not_null(ob);
	return ob;
}

static PGconn *
begin(void)
{
	PGconn *c = agora_db_conn();
	cr_assert_not_null(c);
	PGresult *r = PQexec(c, "BEGIN");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	return c;
}

static void
end(PGconn *c, const char *how)
{
	PGresult *r = PQexec(c, how);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
}

static void
put(PGconn *c, const char *path, const char *msg, const char *ref)
{
	char *url = xasprintf("http://127.0.0.1:%d%s", peer.port, path);
	json_t *b = json_pack("{s:s, s:s, s:{s:s}}", "@type", "TestMessage", "msgId", msg,
			      "nested", "x", "é\"\\");
	cr_assert_eq(agora_outbox_put(c, "test-kind", url, PEER_AUD, b, ref), AGORA_QS_ONE);
	json_decref(b);
	free(url);
}

/* Commit one message in its own transaction. */
static void
put1(const char *path, const char *msg, const char *ref)
{
	PGconn *c = begin();
	put(c, path, msg, ref);
	end(c, "COMMIT");
}

static long
db_count(const char *sql)
{
	return harness_db_count(conninfo, sql);
}

/* Test-side waiting (the outbox itself never polls): until f() >= want. */
#define WAIT_UNTIL(expr, ms)                                                        \
	do {                                                                        \
		uint64_t end_ = agora_mono_ns() + (uint64_t)(ms) * 1000000ULL;      \
		while (!(expr) && agora_mono_ns() < end_)                           \
			usleep(2000);                                               \
	} while (0)

static double
ms_since(uint64_t t0, uint64_t t1)
{
	return (double)(t1 - t0) / 1e6;
}

/* The listener has issued LISTEN: from then on an idle worker sleeps up to
 * 30 s, so only the NOTIFY can explain a prompt delivery. */
static const char listening_sql[] =
	"SELECT count(*) FROM pg_stat_activity"
	" WHERE query = 'LISTEN agora_outbox' AND datname = current_database()";

static void
wait_listening(void)
{
	WAIT_UNTIL(db_count(listening_sql) == 1, 5000);
	cr_assert_eq(db_count(listening_sql), 1);
	usleep(100 * 1000);	/* let the workers settle into their idle wait */
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* ---- tests ---------------------------------------------------------------------- */

Test(outbox, delivered_promptly_after_commit)
{
	struct agora_outbox *ob = start(SELF_A, 0, 0, 0, 0);
	wait_listening();
	enum { N = 10 };
	double lat[N];
	for (int i = 0; i < N; i++) {
		char msg[32];
		snprintf(msg, sizeof msg, "m%d", i);
		PGconn *c = begin();
		put(c, "/created", msg, NULL);
		/* No agora_outbox_wake(): the NOTIFY alone must wake a worker. */
		uint64_t t0 = agora_mono_ns();
		end(c, "COMMIT");
		WAIT_UNTIL(peer_count(NULL, msg) == 1, 3000);
		struct seen_req s;
		cr_assert(peer_req(msg, 0, &s), "message %s was not delivered", msg);
		lat[i] = ms_since(t0, s.t_ns);
		cr_assert_lt(lat[i], 2000.0, "commit → peer took %.1f ms", lat[i]);
		cr_assert_str_eq(s.iss, SELF_A, "token verified, iss = self_id");
		usleep(20 * 1000);
	}
	qsort(lat, N, sizeof lat[0], cmp_double);
	fprintf(stderr, "outbox: commit → peer latency over %d messages: min %.2f ms, "
			"median %.2f ms, max %.2f ms\n", N, lat[0], lat[N / 2], lat[N - 1]);
	/* The 201's body reaches the callback; the row is gone. */
	WAIT_UNTIL(results_count() == N, 2000);
	struct result r;
	cr_assert(result_for("m0", &r));
	cr_assert_eq(r.outcome, AGORA_OUTBOX_DELIVERED);
	cr_assert_eq(r.status, 201);
	cr_assert_str_eq(r.kind, "test-kind");
	cr_assert_not_null(r.reply);
	cr_assert_not_null(strstr(r.reply, "\"providerPid\":\"urn:uuid:provider-1\""), "%s", r.reply);
	agora_outbox_stop(ob);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
	cr_assert_eq(db_count("SELECT count(*) FROM results WHERE outcome = 0 AND status = 201"), N);
	cr_assert_eq(peer.auth_failures, 0);
}

Test(outbox, in_process_wake_and_the_whole_body_is_signed)
{
	struct agora_outbox *ob = start(SELF_A, 0, 0, 0, 0);
	wait_listening();
	PGconn *c = begin();
	put(c, "/ok", "w1", "ref-w");
	uint64_t t0 = agora_mono_ns();
	end(c, "COMMIT");
	agora_outbox_wake(ob);
	WAIT_UNTIL(results_count() == 1, 3000);
	struct seen_req s;
	cr_assert(peer_req("w1", 0, &s));
	fprintf(stderr, "outbox: commit + wake → peer %.2f ms\n", ms_since(t0, s.t_ns));
	cr_assert_lt(ms_since(t0, s.t_ns), 2000.0);
	cr_assert_eq(peer.auth_failures, 0, "bh over the exact bytes sent, htu, htm, aud");
	struct result r;
	cr_assert(result_for("w1", &r));
	cr_assert_str_eq(r.ref, "ref-w", "ref handed back");
	agora_outbox_stop(ob);
}

Test(outbox, rolled_back_put_is_never_sent)
{
	struct agora_outbox *ob = start(SELF_A, 0, 0, 0, 0);
	wait_listening();
	PGconn *c = begin();
	put(c, "/ok", "ghost", "r1");
	end(c, "ROLLBACK");
	/* A later committed message proves the workers have looked since. */
	put1("/ok", "real", "r1");
	WAIT_UNTIL(peer_count(NULL, "real") == 1, 3000);
	cr_assert_eq(peer_count(NULL, "real"), 1);
	usleep(300 * 1000);
	cr_assert_eq(peer_count(NULL, "ghost"), 0);
	cr_assert_eq(peer_count(NULL, NULL), 1);
	agora_outbox_stop(ob);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
}

Test(outbox, retries_with_backoff_until_success)
{
	/* Delays ≈ 100, 200, 400 ms (± 20 %) after the three 500s. */
	struct agora_outbox *ob = start(SELF_A, 0, 100, 400, 0);
	put1("/flaky/3", "f1", "neg-7");
	long max_attempts_seen = 0;
	char *last_error = NULL;
	uint64_t end_ = agora_mono_ns() + 5000ULL * 1000000ULL;
	while (results_count() < 1 && agora_mono_ns() < end_) {
		PGconn *c = PQconnectdb(conninfo);
		PGresult *r = PQexec(c, "SELECT attempts, last_error FROM outbox");
		if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
			long a = atol(PQgetvalue(r, 0, 0));
			if (a > max_attempts_seen) {
				max_attempts_seen = a;
				free(last_error);
				last_error = xstrdup(PQgetvalue(r, 0, 1));
			}
		}
		PQclear(r);
		PQfinish(c);
		usleep(5000);
	}
	struct result r;
	cr_assert(result_for("f1", &r), "delivered in the end");
	cr_assert_eq(r.outcome, AGORA_OUTBOX_DELIVERED);
	cr_assert_eq(r.status, 200);
	cr_assert_str_eq(r.ref, "neg-7");
	cr_assert_not_null(r.reply);
	cr_assert_str_eq(r.reply, "{\"@type\":\"ContractNegotiation\",\"providerPid\":\"p-9\"}");
	cr_assert_eq(max_attempts_seen, 3, "attempts recorded between tries");
	cr_assert_not_null(last_error);
	cr_assert_not_null(strstr(last_error, "HTTP 500"), "%s", last_error);
	free(last_error);
	cr_assert_eq(peer_count("/flaky/3", "f1"), 4);
	/* Exponential spacing: each gap at least 80 % of base·2^k. */
	double want[] = { 80, 160, 320 };
	for (size_t k = 0; k < 3; k++) {
		struct seen_req a, b;
		cr_assert(peer_req("f1", k, &a) && peer_req("f1", k + 1, &b));
		double gap = ms_since(a.t_ns, b.t_ns);
		fprintf(stderr, "outbox: retry gap %zu: %.1f ms\n", k + 1, gap);
		cr_assert_geq(gap, want[k], "gap %zu was %.1f ms", k + 1, gap);
	}
	agora_outbox_stop(ob);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox_dead"), 0);
	cr_assert_eq(db_count("SELECT count(*) FROM results WHERE ref = 'neg-7' AND reply LIKE '%p-9%'"), 1);
}

Test(outbox, client_error_is_refused_and_dead_lettered)
{
	struct agora_outbox *ob = start(SELF_A, 0, 20, 100, 0);
	put1("/refuse", "bad", "neg-r");
	WAIT_UNTIL(results_count() == 1, 3000);
	struct result r;
	cr_assert(result_for("bad", &r));
	cr_assert_eq(r.outcome, AGORA_OUTBOX_REFUSED);
	cr_assert_eq(r.status, 400);
	cr_assert_not_null(r.reply);
	cr_assert_not_null(strstr(r.reply, "\"@type\":\"ContractNegotiationError\""), "%s", r.reply);
	usleep(400 * 1000);	/* several base delays: no retry comes */
	cr_assert_eq(peer_count("/refuse", NULL), 1, "a 4xx is not retried");
	cr_assert_eq(results_count(), 1);
	agora_outbox_stop(ob);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox_dead WHERE outcome = 'refused'"
			      " AND status = 400 AND attempts = 1 AND ref = 'neg-r'"
			      " AND reply LIKE '%offer does not match%'"
			      " AND body->>'msgId' = 'bad' AND kind = 'test-kind'"), 1);
	cr_assert_eq(db_count("SELECT count(*) FROM results WHERE outcome = 1 AND status = 400"), 1);
}

Test(outbox, gives_up_after_max_attempts)
{
	struct agora_outbox *ob = start(SELF_A, 3, 20, 100, 0);
	put1("/fail", "doomed", "neg-g");
	/* Nothing listens on this port: transport errors count the same. */
	int closed = harness_free_port();
	PGconn *c = begin();
	char *url = xasprintf("http://127.0.0.1:%d/nowhere", closed);
	json_t *b = json_pack("{s:s}", "msgId", "unreachable");
	cr_assert_eq(agora_outbox_put(c, "test-kind", url, PEER_AUD, b, NULL), AGORA_QS_ONE);
	json_decref(b);
	free(url);
	end(c, "COMMIT");
	WAIT_UNTIL(results_count() == 2, 5000);
	struct result r;
	cr_assert(result_for("doomed", &r));
	cr_assert_eq(r.outcome, AGORA_OUTBOX_GAVE_UP);
	cr_assert_eq(r.status, 500);
	cr_assert(result_for("unreachable", &r));
	cr_assert_eq(r.outcome, AGORA_OUTBOX_GAVE_UP);
	cr_assert_eq(r.status, 0);
	cr_assert_null(r.reply);
	usleep(300 * 1000);
	cr_assert_eq(peer_count("/fail", "doomed"), 3, "exactly max_attempts tries");
	agora_outbox_stop(ob);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox_dead WHERE outcome = 'gave_up'"
			      " AND attempts = 3 AND status = 500 AND last_error LIKE 'HTTP 500%'"), 1);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox_dead WHERE outcome = 'gave_up'"
			      " AND attempts = 3 AND status IS NULL AND last_error LIKE 'connect%'"), 1);
}

Test(outbox, slow_peer_times_out)
{
	struct agora_outbox *ob = start(SELF_A, 2, 20, 100, 300);
	uint64_t t0 = agora_mono_ns();
	put1("/slow", "slow", NULL);
	WAIT_UNTIL(results_count() == 1, 5000);
	struct result r;
	cr_assert(result_for("slow", &r));
	cr_assert_eq(r.outcome, AGORA_OUTBOX_GAVE_UP);
	cr_assert_eq(r.status, 0);
	double took = ms_since(t0, r.t_ns);
	/* Two attempts of 300 ms each, not two of the peer's 1.5 s. */
	cr_assert_lt(took, 1400.0, "gave up after %.0f ms", took);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox_dead WHERE last_error LIKE 'timeout%'"), 1);
	agora_outbox_stop(ob);
}

Test(outbox, same_ref_is_delivered_in_order)
{
	struct agora_outbox *ob = start(SELF_A, 0, 100, 400, 0);
	PGconn *c = begin();
	put(c, "/flaky/2", "first", "neg-o");
	put(c, "/ok", "second", "neg-o");
	put(c, "/ok", "other", "neg-x");
	end(c, "COMMIT");
	WAIT_UNTIL(results_count() == 3, 5000);
	cr_assert_eq(results_count(), 3);
	cr_assert_eq(peer_count(NULL, "first"), 3, "two 500s, then 200");
	cr_assert_eq(peer_count(NULL, "second"), 1);
	long first_ok = peer_index("first", 2), second = peer_index("second", 0);
	long other = peer_index("other", 0), first_fail = peer_index("first", 1);
	cr_assert_gt(second, first_ok, "the later message waited for the earlier one");
	cr_assert_lt(other, first_fail, "another ref is not held back");
	struct result a, b;
	cr_assert(result_for("first", &a) && result_for("second", &b));
	cr_assert_lt(a.t_ns, b.t_ns);
	agora_outbox_stop(ob);
}

static void *
put_many(void *arg)
{
	int base = (int)(intptr_t)arg;
	for (int t = 0; t < 10; t++) {
		PGconn *c = begin();
		for (int i = 0; i < 10; i++) {
			char msg[32];
			snprintf(msg, sizeof msg, "x%d", base + t * 10 + i);
			put(c, "/ok", msg, NULL);
		}
		end(c, "COMMIT");
	}
	agora_db_close();
	return NULL;
}

Test(outbox, two_replicas_deliver_each_message_once)
{
	struct agora_outbox *a = start(SELF_A, 0, 0, 0, 0);
	struct agora_outbox *b = start(SELF_B, 0, 0, 0, 0);
	pthread_t th[2];
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, put_many, (void *)(intptr_t)(i * 100));
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	WAIT_UNTIL(results_count() == 200, 10000);
	usleep(200 * 1000);
	agora_outbox_stop(a);
	agora_outbox_stop(b);
	cr_assert_eq(results_count(), 200);
	cr_assert_eq(peer_count(NULL, NULL), 200, "no message sent twice");
	for (int i = 0; i < 200; i++) {
		char msg[32];
		snprintf(msg, sizeof msg, "x%d", i);
		cr_assert_eq(peer_count(NULL, msg), 1, "%s delivered %ld times", msg,
			     peer_count(NULL, msg));
	}
	long by_a = 0;
	pthread_mutex_lock(&peer.mu);
	for (size_t i = 0; i < peer.n; i++)
		by_a += !strcmp(peer.reqs[i].iss, SELF_A);
	pthread_mutex_unlock(&peer.mu);
	fprintf(stderr, "outbox: replica a sent %ld, replica b %ld\n", by_a, 200 - by_a);
	cr_assert_eq(peer.auth_failures, 0);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
	cr_assert_eq(db_count("SELECT count(*) FROM results"), 200);
}

Test(outbox, messages_put_while_stopped_go_out_at_start)
{
	for (int i = 0; i < 5; i++) {
		char msg[32];
		snprintf(msg, sizeof msg, "early%d", i);
		put1("/ok", msg, i % 2 ? "r-odd" : NULL);
	}
	usleep(200 * 1000);
	cr_assert_eq(peer_count(NULL, NULL), 0);
	uint64_t t0 = agora_mono_ns();
	struct agora_outbox *ob = start(SELF_A, 0, 0, 0, 0);
	WAIT_UNTIL(results_count() == 5, 5000);
	cr_assert_eq(results_count(), 5);
	fprintf(stderr, "outbox: backlog of 5 sent %.1f ms after start\n",
		ms_since(t0, agora_mono_ns()));
	cr_assert_eq(peer_count(NULL, NULL), 5);
	agora_outbox_stop(ob);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
}

Test(outbox, stop_is_prompt_during_a_backoff)
{
	struct agora_outbox *ob = start(SELF_A, 0, 20000, 60000, 0);
	put1("/fail", "waits", NULL);
	WAIT_UNTIL(db_count("SELECT count(*) FROM outbox WHERE attempts = 1") == 1, 3000);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox WHERE attempts = 1"
			      " AND next_at > now() + interval '10 seconds'"), 1,
		     "waiting for a backoff of ~20 s");
	uint64_t t0 = agora_mono_ns();
	agora_outbox_stop(ob);
	double took = ms_since(t0, agora_mono_ns());
	fprintf(stderr, "outbox: stop took %.2f ms\n", took);
	cr_assert_lt(took, 1000.0);
	/* The message survives for the next start. */
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 1);
	/* And an idle outbox stops at once too. */
	ob = start(SELF_A, 0, 20000, 60000, 0);
	wait_listening();
	t0 = agora_mono_ns();
	agora_outbox_stop(ob);
	cr_assert_lt(ms_since(t0, agora_mono_ns()), 1000.0);
}

static void
sabotage(const char *ref, int times)
{
	pthread_mutex_lock(&res.mu);
	res.fail_ref = ref;
	res.fail_times = times;
	pthread_mutex_unlock(&res.mu);
}

Test(outbox, failed_callback_rolls_back_and_is_retried)
{
	sabotage("neg-cb", 1);
	struct agora_outbox *ob = start(SELF_A, 0, 300, 600, 0);
	put1("/ok", "cb", "neg-cb");
	WAIT_UNTIL(results_count() == 1, 5000);
	struct result r;
	cr_assert(result_for("cb", &r));
	cr_assert_eq(r.outcome, AGORA_OUTBOX_DELIVERED);
	agora_outbox_stop(ob);
	cr_assert_eq(peer_count(NULL, "cb"), 2, "sent again: the first result was not recorded");
	/* The lost result counted as a failed attempt: resent after a backoff,
	 * not at once. */
	struct seen_req a, b;
	cr_assert(peer_req("cb", 0, &a) && peer_req("cb", 1, &b));
	cr_assert_geq(ms_since(a.t_ns, b.t_ns), 240.0, "resent after %.1f ms",
		      ms_since(a.t_ns, b.t_ns));
	cr_assert_eq(db_count("SELECT count(*) FROM results WHERE ref = 'neg-cb'"), 1);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox_dead"), 0);
}

Test(outbox, callback_that_always_fails_does_not_loop)
{
	sabotage("neg-loop", 1000);
	struct agora_outbox *ob = start(SELF_A, 3, 20, 50, 0);
	put1("/ok", "loop", "neg-loop");
	WAIT_UNTIL(db_count("SELECT count(*) FROM outbox_dead") == 1, 5000);
	usleep(200 * 1000);
	agora_outbox_stop(ob);
	cr_assert_eq(peer_count(NULL, "loop"), 3, "max_attempts sends, then dead-lettered");
	cr_assert_eq(db_count("SELECT count(*) FROM outbox_dead WHERE outcome = 'gave_up'"
			      " AND attempts = 3 AND last_error = 'the result could not be recorded'"), 1);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
	cr_assert_eq(results_count(), 0);
}

Test(outbox, put_refuses_bad_arguments)
{
	PGconn *c = begin();
	json_t *arr = json_array();
	cr_assert_eq(agora_outbox_put(c, "k", "http://x/", PEER_AUD, arr, NULL), AGORA_QS_HARD_ERROR);
	json_t *obj = json_object();
	cr_assert_eq(agora_outbox_put(c, "k", NULL, PEER_AUD, obj, NULL), AGORA_QS_HARD_ERROR);
	json_decref(arr);
	json_decref(obj);
	end(c, "ROLLBACK");
	struct agora_outbox_config cfg = { .conninfo = conninfo };
	cr_assert_null(agora_outbox_start(&cfg), "key, kid and self_id are required");
}

/* Puts inside agora_db_tx: the transaction carries no NOTIFY (PostgreSQL
 * would serialise its commit with every other notifying one); the commit
 * hook hands the ids to this process's workers, which claim them at once.
 * With workers idle here, nobody else is notified either. */
struct tx_put {
	const char *msg, *ref;
	bool fail;
};

static enum agora_qs
tx_put_fn(PGconn *c, void *ctx)
{
	const struct tx_put *t = ctx;
	put(c, "/ok", t->msg, t->ref);
	return t->fail ? AGORA_QS_HARD_ERROR : AGORA_QS_ONE;
}

Test(outbox, put_in_agora_db_tx_is_woken_after_commit_without_notify)
{
	struct agora_outbox *ob = start(SELF_A, 0, 0, 0, 0);
	wait_listening();
	PGconn *l = PQconnectdb(conninfo);
	PGresult *r = PQexec(l, "LISTEN agora_outbox");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	PQclear(r);
	double lat[5];
	for (int i = 0; i < 5; i++) {
		char msg[32];
		snprintf(msg, sizeof msg, "tx%d", i);
		struct tx_put t = { msg, "ref-tx", false };
		uint64_t t0 = agora_mono_ns();
		cr_assert_eq(agora_db_tx(tx_put_fn, &t, false), AGORA_QS_ONE);
		WAIT_UNTIL(peer_count(NULL, msg) == 1, 3000);
		struct seen_req s;
		cr_assert(peer_req(msg, 0, &s), "%s was not delivered", msg);
		lat[i] = ms_since(t0, s.t_ns);
		cr_assert_lt(lat[i], 2000.0, "commit → peer took %.1f ms", lat[i]);
		usleep(20 * 1000);
	}
	qsort(lat, 5, sizeof lat[0], cmp_double);
	fprintf(stderr, "outbox: agora_db_tx commit → peer: median %.2f ms\n", lat[2]);
	/* A rolled back one is neither sent nor woken for. */
	struct tx_put bad = { "tx-ghost", "ref-tx", true };
	cr_assert_eq(agora_db_tx(tx_put_fn, &bad, false), AGORA_QS_HARD_ERROR);
	usleep(300 * 1000);
	cr_assert_eq(peer_count(NULL, "tx-ghost"), 0);
	cr_assert(PQconsumeInput(l));
	PGnotify *n = PQnotifies(l);
	cr_assert_null(n, "no NOTIFY while this process had idle workers");
	PQfreemem(n);
	PQfinish(l);
	agora_outbox_stop(ob);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
}

/* A message not due yet when a scan looks (a retry) goes out when it falls
 * due, even when the only worker is woken for other work in between: the
 * time it is due was kept only in that worker's wait, and after the other
 * work the worker slept until the idle cap (30 s) — what made the
 * negotiation crash test wait 30 s after a restart now and then, and once
 * time out.  One worker; the message is put by hand with next_at 1.5 s
 * ahead, a scan finds it not due, then a commit here hands the worker
 * another message. */
Test(outbox, message_due_later_goes_out_when_due_after_other_work)
{
	struct agora_outbox_config cfg = {
		.conninfo = conninfo, .key = key, .kid = kid, .self_id = SELF_A,
		.on_result = on_result, .workers = 1,
	};
	struct agora_outbox *ob = agora_outbox_start(&cfg);
	cr_assert_not_null(ob);
	wait_listening();
	PGconn *db = PQconnectdb(conninfo);
	cr_assert_eq(PQstatus(db), CONNECTION_OK, "%s", PQerrorMessage(db));
	char *url = xasprintf("http://127.0.0.1:%d/ok", peer.port);
	const char *p[] = { url, PEER_AUD };
	PGresult *r = PQexecParams(db, "INSERT INTO outbox (kind, url, audience, body, ref, next_at)"
				   " VALUES ('test-kind', $1, $2, '{\"msgId\":\"later\"}', 'ref-later',"
				   " now() + interval '1500 milliseconds')", 2, NULL, p, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(db);
	free(url);
	agora_outbox_wake(ob);	/* a scan: nothing due yet */
	usleep(300 * 1000);
	cr_assert_eq(peer_count(NULL, "later"), 0);
	struct tx_put t = { "meanwhile", "ref-meanwhile", false };
	cr_assert_eq(agora_db_tx(tx_put_fn, &t, false), AGORA_QS_ONE);
	WAIT_UNTIL(peer_count(NULL, "meanwhile") == 1, 3000);
	cr_assert_eq(peer_count(NULL, "meanwhile"), 1);
	WAIT_UNTIL(peer_count(NULL, "later") == 1, 10000);
	cr_assert_eq(peer_count(NULL, "later"), 1, "the message due later waited for the idle cap");
	agora_outbox_stop(ob);
	cr_assert_eq(db_count("SELECT count(*) FROM outbox"), 0);
}
