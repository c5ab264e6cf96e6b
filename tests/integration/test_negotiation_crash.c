/* test_negotiation_crash.c — crash safety of contract negotiation (issue 5):
 * 200 negotiations run at once between a consumer connector and a provider
 * connector through the broker, all real processes on one PostgreSQL; in
 * the middle the broker and the provider connector are killed with SIGKILL
 * (no chance to finish a request, commit or flush anything) and restarted
 * on the same databases, data directories and ports — twice, early and
 * late in the run.  Afterwards every negotiation must be FINALIZED (or
 * TERMINATED, which nothing here justifies, so it fails the test too),
 * every agreement the consumer holds must be at the broker and the
 * provider with its three signatures, no agreement may exist twice (in any
 * database or in the ledger), no message may have been refused or given
 * up, every message sent again must change nothing, and `agora ledger
 * verify` must accept the log, consistent with the tree head it verified
 * between the crashes.
 *
 * What makes this hold is the transactional outbox (docs/OUTBOX.md): a
 * message is written in the transaction that changes the state, so a crash
 * between the change and the delivery leaves the message in the outbox and
 * it is sent at the next start; a crash between a delivery and the commit
 * that records it sends the message again, and the receivers answer a
 * repeated identical message from their history without acting twice. */
#include "connector_fixture.h"
#include "util.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CITY "urn:agora:participant:city"	/* provider */
#define MOBI "urn:agora:participant:mobility"	/* consumer */
#define N_NEG 200
#define N_POSTERS 4
#define OUTAGE_MS 300
#define SETTLE_S 60
#define OPEN "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\"}]}"

static struct cfx city, mobi;

static void
setup(void)
{
	fx_start();
	cfx_start(&city, CITY, "FR");
	cfx_start(&mobi, MOBI, "DE");
}

static void
teardown(void)
{
	cfx_stop(&mobi);
	cfx_stop(&city);
	fx_stop();
}

TestSuite(negotiation_crash, .init = setup, .fini = teardown, .timeout = 180);

/* ---- time and SQL ------------------------------------------------------------ */

static double
now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static PGconn *
pg(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	return c;
}

/* Run sql with params; the result must be rows (freed by the caller). */
static PGresult *
q(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQresultErrorMessage(r));
	return r;
}

/* One integer from sql with one text parameter (may be NULL for none). */
static long
qcount(PGconn *c, const char *sql, const char *param)
{
	const char *p[] = { param };
	PGresult *r = q(c, sql, param ? 1 : 0, param ? p : NULL);
	cr_assert_eq(PQntuples(r), 1, "%s", sql);
	long v = strtol(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return v;
}

/* ---- setup helpers (as in test_negotiation.c) ------------------------------- */

static char *
post_id(struct cfx *c, const char *path, const char *body)
{
	struct harness_resp *r = cfx_call(c, "POST", path, CONN_ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "POST %s: %s", path, r->body);
	char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
	harness_resp_free(r);
	return id;
}

/* The city publishes an auto-accepted dataset; returns its id and (in
 * *offer) the offer's, once the broker lists it. */
static char *
publish(char **offer)
{
	char *pb = xasprintf("{\"policy\":%s}", OPEN);
	char *pol = post_id(&city, "/api/v1/policies", pb);
	char *ds = post_id(&city, "/api/v1/datasets",
			   "{\"title\":\"Air quality\",\"theme\":[\"environment\"],\"source\":{\"type\":\"file\"}}");
	char *ob = xasprintf("{\"datasetSelector\":{\"ids\":[\"%s\"]},\"contractPolicyId\":\"%s\",\"autoAccept\":true}",
			     ds, pol);
	*offer = post_id(&city, "/api/v1/offers", ob);
	char *path = xasprintf("/api/v1/catalog/datasets/%s", ds);
	bool seen = false;
	for (int i = 0; i < 200 && !seen; i++) {
		struct harness_resp *r = fx_call("GET", path, NULL, NULL);
		seen = r->status == 200 && strstr(r->body, *offer);
		harness_resp_free(r);
		if (!seen)
			usleep(50000);
	}
	cr_assert(seen, "the broker lists %s with offer %s", ds, *offer);
	free(path);
	free(pb);
	free(pol);
	free(ob);
	return ds;
}

/* ---- kill and restart ----------------------------------------------------------- */

static void
kill9(struct harness_proc *p, const char *what)
{
	cr_assert(harness_proc_alive(p), "%s is running before the kill", what);
	cr_assert_eq(kill(harness_proc_pid(p), SIGKILL), 0, "kill %s", what);
}

/* Reap a SIGKILLed process (harness_proc_stop's SIGTERM finds it dead). */
static void
reap(struct harness_proc *p, const char *what)
{
	int st = harness_proc_stop(p);
	cr_assert_eq(st, 128 + SIGKILL, "%s died of SIGKILL (status %d)", what, st);
}

static void
wait_up(const char *url, const char *log, const char *what)
{
	char *health = xasprintf("%s/healthz", url);
	bool up = harness_wait_http(health, 15000);
	if (!up) {
		char *l = harness_file_read(log);
		cr_log_error("%s log:\n%s", what, l ? l : "(none)");
		free(l);
	}
	cr_assert(up, "%s came back", what);
	free(health);
}

/* The broker again, exactly as fx_start() ran it: same port, database,
 * data directory (its signing key) and log. */
static void
broker_restart(void)
{
	const char *listen = fx.url + strlen("http://");
	char *data = xasprintf("%s/data", fx.dir);
	const char *argv[] = { harness_bin("agora-broker"), "--listen", listen, "--db", fx.db,
			       "--data-dir", data, "--public-url", fx.url, "--admin-key", ADMIN_KEY,
			       "--threads", "2", NULL };
	fx.proc = harness_proc_start(argv, NULL, fx.log);
	free(data);
}

/* Connector c again, exactly as cfx_start() ran it. */
static void
connector_restart(struct cfx *c)
{
	const char *listen = c->url + strlen("http://");
	char *data = xasprintf("%s/data", c->dir);
	char *keyfile = xasprintf("%s/key.pem", c->dir);
	const char *argv[] = { harness_bin("agora-connector"), "--listen", listen, "--db", c->db,
			       "--data-dir", data, "--public-url", c->url, "--broker", fx.url,
			       "--participant-id", c->p.id, "--key", keyfile, "--api-key", CONN_ADMIN_KEY,
			       "--max-upload", CONN_MAX_UPLOAD, "--http-allow", "sensors.example.org",
			       "--push-debounce", "20", "--threads", "2", NULL };
	c->proc = harness_proc_start(argv, NULL, c->log);
	free(data);
	free(keyfile);
}

/* ---- the consumer's requests, from several threads ---------------------------- */

struct posters {
	const char *body;
	atomic_int next;		/* slots handed out */
	atomic_int done;		/* slots answered 201 */
	atomic_int retries;		/* 503s while the broker was down */
	double t_last;			/* when the last slot was answered 201 */
	char *ids[N_NEG];
	char failure[512];		/* the first unexpected answer */
	pthread_mutex_t mu;
};

/* POST /api/v1/negotiations until the slots run out.  The consumer reads
 * the offer from the broker's catalog first, so while the broker is down
 * it answers 503: retried, as a client would.  No Criterion asserts here
 * (not the test's thread): failures are recorded for the main thread. */
static void *
poster(void *arg)
{
	struct posters *ps = arg;
	char *url = xasprintf("%s/api/v1/negotiations", mobi.url);
	const char *headers[] = { "Authorization: Bearer " CONN_ADMIN_KEY, NULL };
	for (int i; (i = atomic_fetch_add(&ps->next, 1)) < N_NEG;) {
		double until = now_s() + 30;
		for (;;) {
			struct harness_resp *r = harness_http("POST", url, headers, ps->body);
			const char *id = json_string_value(json_object_get(r->json, "id"));
			if (r->status == 201 && id) {
				ps->ids[i] = xstrdup(id);
				if (atomic_fetch_add(&ps->done, 1) + 1 == N_NEG) {
					pthread_mutex_lock(&ps->mu);
					ps->t_last = now_s();
					pthread_mutex_unlock(&ps->mu);
				}
				harness_resp_free(r);
				break;
			}
			bool again = (r->status == 503 || r->status == 0) && now_s() < until;
			if (!again) {
				pthread_mutex_lock(&ps->mu);
				if (!ps->failure[0])
					snprintf(ps->failure, sizeof ps->failure, "POST %d: %ld %s %s", i,
						 r->status, r->err, r->body);
				pthread_mutex_unlock(&ps->mu);
			}
			harness_resp_free(r);
			if (!again)
				break;
			atomic_fetch_add(&ps->retries, 1);
			usleep(20000);
		}
	}
	free(url);
	return NULL;
}

/* ---- at least once: every message sent again ------------------------------------ */

/* The outbox delivers at least once: a crash after a message went out but
 * before the commit that removes it sends it again at the next start.
 * Whether the SIGKILL hit that window is chance, so after the run every
 * message each party ever sent is queued once more (same kind, endpoint,
 * audience, body and ref as the original put, in the original order):
 * each must be answered 2xx from the receiver's history, changing
 * nothing.  The CASEs have no ELSE: a message type not foreseen here
 * leaves url NULL and the INSERT fails. */
static const char *const REPLAY_CONSUMER =
	"INSERT INTO outbox (kind, url, audience, body, ref)"
	" SELECT CASE m.type WHEN 'ContractRequestMessage' THEN 'contract_request'"
	"   WHEN 'ContractAgreementVerificationMessage' THEN 'agreement_verification' END,"
	" n.counterpart || CASE m.type WHEN 'ContractRequestMessage' THEN '/dsp/negotiations/request'"
	"   WHEN 'ContractAgreementVerificationMessage' THEN '/dsp/negotiations/' || n.counterpart_pid"
	"   || '/agreement/verification' END,"
	" n.counterpart, m.body, n.id"
	" FROM negotiation_messages m JOIN negotiations n ON n.id = m.negotiation_id"
	" WHERE m.direction = 'out' ORDER BY m.seq";
static const char *const REPLAY_PROVIDER =
	"INSERT INTO outbox (kind, url, audience, body, ref)"
	" SELECT CASE m.type WHEN 'ContractAgreementMessage' THEN 'contract_agreement'"
	"   WHEN 'ContractNegotiationEventMessage:FINALIZED' THEN 'event_finalized' END,"
	" n.callback || '/negotiations/' || n.counterpart_pid || CASE m.type"
	"   WHEN 'ContractAgreementMessage' THEN '/agreement'"
	"   WHEN 'ContractNegotiationEventMessage:FINALIZED' THEN '/events' END,"
	" n.counterpart, m.body, n.id"
	" FROM negotiation_messages m JOIN negotiations n ON n.id = m.negotiation_id"
	" WHERE m.direction = 'out' ORDER BY m.seq";
static const char *const REPLAY_BROKER =
	"INSERT INTO outbox (kind, url, audience, body, ref)"
	" SELECT m.leg || ' ' || m.type,"
	" CASE m.leg WHEN 'consumer' THEN rtrim(n.callback, '/') || '/negotiations/' || n.consumer_pid"
	"   || CASE m.type WHEN 'ContractAgreementMessage' THEN '/agreement'"
	"   WHEN 'ContractNegotiationEventMessage:FINALIZED' THEN '/events' END"
	" WHEN 'provider' THEN rtrim(n.provider_endpoint, '/') || CASE m.type"
	"   WHEN 'ContractRequestMessage' THEN '/dsp/negotiations/request'"
	"   WHEN 'ContractAgreementVerificationMessage' THEN '/dsp/negotiations/' || n.provider_pid"
	"   || '/agreement/verification' END END,"
	" CASE m.leg WHEN 'consumer' THEN n.consumer_id ELSE n.provider_id END, m.body, n.id"
	" FROM negotiation_messages m JOIN negotiations n ON n.id = m.negotiation_id"
	" WHERE m.direction = 'out' ORDER BY m.id";

/* Queue the replay on c and wake its outbox; returns how many. */
static long
replay(PGconn *c, const char *insert)
{
	PGresult *r = PQexec(c, "BEGIN");
	PQclear(r);
	r = PQexec(c, insert);
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s: %s", insert, PQresultErrorMessage(r));
	long n = strtol(PQcmdTuples(r), NULL, 10);
	PQclear(r);
	r = PQexec(c, "SELECT pg_notify('agora_outbox', '')");
	PQclear(r);
	r = PQexec(c, "COMMIT");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	return n;
}

/* Wait (bounded) until the three outboxes are empty; then none may hold
 * anything, and nothing may have been refused or given up. */
static void
assert_drained(PGconn *bdb, PGconn *pdb, PGconn *cdb, const char *when)
{
	const char *outbox_sql = "SELECT count(*) FROM outbox";
	const char *dead_sql = "SELECT count(*) FROM outbox_dead";
	long left = 0;
	for (int i = 0; i < 1500; i++) {
		left = qcount(bdb, outbox_sql, NULL) + qcount(pdb, outbox_sql, NULL) +
		       qcount(cdb, outbox_sql, NULL);
		if (!left)
			break;
		usleep(20000);
	}
	cr_assert_eq(left, 0, "%s: the outboxes drain", when);
	cr_assert_eq(qcount(bdb, dead_sql, NULL), 0, "%s: no message of the broker refused or given up", when);
	cr_assert_eq(qcount(pdb, dead_sql, NULL), 0, "%s: no message of the provider refused or given up", when);
	cr_assert_eq(qcount(cdb, dead_sql, NULL), 0, "%s: no message of the consumer refused or given up", when);
}

/* ---- the test ------------------------------------------------------------------- */

static int
run_agora(const char *args, char **out)
{
	char *log = xasprintf("%s/agora.out", fx.dir);
	char *cmd = xasprintf("%s %s > %s 2>&1", harness_bin("agora"), args, log);
	int st = system(cmd);
	*out = harness_file_read(log);
	free(cmd);
	free(log);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

static const char *const FINAL_SQL =
	"SELECT count(*) FROM negotiations WHERE state IN ('FINALIZED', 'TERMINATED')";
static const char *const FIN_SQL = "SELECT count(*) FROM negotiations WHERE state = 'FINALIZED'";
/* Crash when this many have finalized at the consumer. */
static const long kill_after[2] = { 10, 100 };

/* SIGKILL the broker and the provider connector at once, log what was in
 * flight (and insist something was), restart both after OUTAGE_MS. */
static void
crash_and_restart(PGconn *bdb, PGconn *pdb, PGconn *cdb, struct posters *ps, double t0,
		  double *t_kill, double *t_up)
{
	kill9(fx.proc, "the broker");
	kill9(city.proc, "the provider connector");
	*t_kill = now_s();
	reap(fx.proc, "the broker");
	reap(city.proc, "the provider connector");
	fx.proc = city.proc = NULL;

	/* What was in flight (nothing moves now but the consumer). */
	int posted = atomic_load(&ps->done);
	long c_final = qcount(cdb, FINAL_SQL, NULL);
	long b_neg = qcount(bdb, "SELECT count(*) FROM negotiations", NULL);
	long b_final = qcount(bdb, FINAL_SQL, NULL);
	long p_neg = qcount(pdb, "SELECT count(*) FROM negotiations", NULL);
	long p_final = qcount(pdb, FINAL_SQL, NULL);
	long b_out = qcount(bdb, "SELECT count(*) FROM outbox", NULL);
	long p_out = qcount(pdb, "SELECT count(*) FROM outbox", NULL);
	long c_out = qcount(cdb, "SELECT count(*) FROM outbox", NULL);
	cr_log_info("crash at %.3f s: %d posted, consumer %ld final, %ld in its outbox; broker %ld/%ld "
		    "final, %ld in its outbox; provider %ld/%ld final, %ld in its outbox",
		    *t_kill - t0, posted, c_final, c_out, b_final, b_neg, b_out, p_final, p_neg, p_out);
	/* The crash must hit negotiations in the middle, or it proves nothing. */
	cr_assert_lt(c_final, N_NEG, "some negotiations are in flight at the crash");
	cr_assert(b_neg > b_final || p_neg > p_final || b_out + p_out > 0,
		  "the broker or the provider had work in flight at the crash");

	usleep(OUTAGE_MS * 1000);
	broker_restart();
	connector_restart(&city);
	wait_up(fx.url, fx.log, "the broker");
	wait_up(city.url, city.log, "the provider connector");
	*t_up = now_s();
	cr_log_info("restarted %.3f s after the kill", *t_up - *t_kill);
}

Test(negotiation_crash, broker_and_provider_killed_mid_flight)
{
	char *offer;
	char *ds = publish(&offer);
	PGconn *bdb = pg(fx.db), *pdb = pg(city.db), *cdb = pg(mobi.db);
	char *state = xasprintf("%s/ledger-state.json", fx.dir);
	char *verify = xasprintf("ledger verify --broker %s --state %s", fx.url, state);
	char *out = NULL;
	int st;

	struct posters ps = { .mu = PTHREAD_MUTEX_INITIALIZER };
	char *body = xasprintf("{\"datasetId\":\"%s\",\"offerId\":\"%s\",\"provider\":\"%s\"}", ds, offer,
			       CITY);
	ps.body = body;
	double t0 = now_s();
	pthread_t th[N_POSTERS];
	for (int i = 0; i < N_POSTERS; i++)
		cr_assert_eq(pthread_create(&th[i], NULL, poster, &ps), 0);

	/* Two crashes: an early one, while requests are still on their way
	 * consumer → broker → provider, and a late one, while
	 * agreements, verifications and FINALIZED events are on the way.
	 * Between them the ledger is verified once, so the check after the
	 * crashes covers agreement entries written before them. */
	double t_kill = 0, t_up = 0;
	for (int k = 0; k < 2; k++) {
		long fin;
		while ((fin = qcount(cdb, FIN_SQL, NULL)) < kill_after[k] && now_s() - t0 < 30)
			usleep(2000);
		cr_assert_geq(fin, kill_after[k], "%ld finalized before kill %d (30 s)", fin, k + 1);
		if (k == 1) {
			st = run_agora(verify, &out);
			cr_assert_eq(st, 0, "ledger verify between the crashes: %s", out);
			free(out);
		}
		crash_and_restart(bdb, pdb, cdb, &ps, t0, &t_kill, &t_up);
	}

	for (int i = 0; i < N_POSTERS; i++)
		pthread_join(th[i], NULL);
	cr_assert_str_empty(ps.failure, "%s", ps.failure);
	cr_assert_eq(atomic_load(&ps.done), N_NEG, "all %d requests accepted", N_NEG);

	/* (1) Every negotiation reaches a final state at the consumer. */
	long final = 0;
	while ((final = qcount(cdb, FINAL_SQL, NULL)) < N_NEG && now_s() - t_up < SETTLE_S)
		usleep(20000);
	double t_final = now_s();
	cr_log_info("all posted at %.3f s (%d retried POSTs); "
		    "%ld/%d final at %.3f s, %.3f s after the last restart",
		    ps.t_last - t0, atomic_load(&ps.retries), final, N_NEG, t_final - t0,
		    t_final - t_up);
	if (final < N_NEG) {
		PGresult *r = q(cdb, "SELECT state, count(*) FROM negotiations GROUP BY state", 0, NULL);
		for (int i = 0; i < PQntuples(r); i++)
			cr_log_error("consumer: %s %s", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1));
		PQclear(r);
	}
	cr_assert_eq(final, N_NEG, "every negotiation is FINALIZED or TERMINATED");
	cr_assert_eq(qcount(cdb, "SELECT count(*) FROM negotiations WHERE role = 'consumer'", NULL), N_NEG);
	for (int i = 0; i < N_NEG; i++)
		cr_assert_eq(qcount(cdb, "SELECT count(*) FROM negotiations WHERE id = $1", ps.ids[i]), 1,
			     "negotiation %s is stored", ps.ids[i]);

	/* The last messages (the broker's FINALIZED event, the acknowledgements)
	 * leave the outboxes; none was refused or given up on the way. */
	assert_drained(bdb, pdb, cdb, "after the crash");

	/* Every message again (see REPLAY_CONSUMER): answered from history. */
	const char *hist_sql = "SELECT count(*) FROM negotiation_messages";
	const char *ledger_sql = "SELECT count(*) FROM ledger_entries";
	long hb = qcount(bdb, hist_sql, NULL), hp = qcount(pdb, hist_sql, NULL),
	     hc = qcount(cdb, hist_sql, NULL), nl = qcount(bdb, ledger_sql, NULL);
	double tr = now_s();
	long nb = replay(bdb, REPLAY_BROKER), np = replay(pdb, REPLAY_PROVIDER),
	     nc = replay(cdb, REPLAY_CONSUMER);
	cr_assert(nb >= 4 * N_NEG && np >= 2 * N_NEG && nc >= 2 * N_NEG, "replayed %ld/%ld/%ld", nb, np, nc);
	assert_drained(bdb, pdb, cdb, "after the replay");
	cr_assert_eq(qcount(bdb, hist_sql, NULL), hb, "the broker acted on no repeated message");
	cr_assert_eq(qcount(pdb, hist_sql, NULL), hp, "the provider acted on no repeated message");
	cr_assert_eq(qcount(cdb, hist_sql, NULL), hc, "the consumer acted on no repeated message");
	cr_assert_eq(qcount(bdb, ledger_sql, NULL), nl, "the ledger did not grow");
	cr_log_info("replayed %ld broker, %ld provider and %ld consumer messages in %.3f s", nb, np, nc,
		    now_s() - tr);

	/* Nothing here justifies a termination (open policy, auto-accept, every
	 * message eventually delivered): a TERMINATED one would be the crash's
	 * doing. */
	PGresult *rows = q(cdb,
			   "SELECT n.id, n.state, n.agreement_id, n.code, n.reason,"
			   " coalesce(jsonb_array_length(a.signatures), 0), a.receipt IS NOT NULL"
			   " FROM negotiations n LEFT JOIN agreements a ON a.id = n.agreement_id"
			   " ORDER BY n.id",
			   0, NULL);
	cr_assert_eq(PQntuples(rows), N_NEG);
	int finalized = 0;
	for (int i = 0; i < PQntuples(rows); i++) {
		const char *id = PQgetvalue(rows, i, 0), *state_i = PQgetvalue(rows, i, 1);
		cr_assert_str_eq(state_i, "FINALIZED", "%s ended %s: %s %s", id, state_i,
				 PQgetvalue(rows, i, 3), PQgetvalue(rows, i, 4));
		finalized++;
		/* (2) The consumer's agreement: three signatures, a receipt … */
		cr_assert(!PQgetisnull(rows, i, 2), "%s has an agreement", id);
		const char *aid = PQgetvalue(rows, i, 2);
		cr_assert_eq(strtol(PQgetvalue(rows, i, 5), NULL, 10), 3, "%s: three signatures", aid);
		cr_assert_str_eq(PQgetvalue(rows, i, 6), "t", "%s: the ledger receipt", aid);
		/* … is at the broker, exactly once, finalized, with the three and
		 * its ledger entry … */
		const char *p[] = { aid, id };
		PGresult *b = q(bdb,
				"SELECT state, jsonb_array_length(signatures), ledger_index, consumer_pid"
				" FROM negotiations WHERE agreement_id = $1",
				1, p);
		cr_assert_eq(PQntuples(b), 1, "the broker has %s once", aid);
		cr_assert_str_eq(PQgetvalue(b, 0, 0), "FINALIZED", "broker: %s", aid);
		cr_assert_str_eq(PQgetvalue(b, 0, 1), "3", "broker: %s has three signatures", aid);
		cr_assert_str_eq(PQgetvalue(b, 0, 3), id, "broker: %s belongs to %s", aid, id);
		cr_assert_eq(qcount(bdb,
				    "SELECT count(*) FROM ledger_entries WHERE kind = 'agreement'"
				    " AND entry->>'agreementId' = $1",
				    aid),
			     1, "one ledger entry for %s", aid);
		char *idx = xstrdup(PQgetvalue(b, 0, 2));
		PQclear(b);
		const char *pi[] = { aid, idx };
		b = q(bdb, "SELECT count(*) FROM ledger_entries WHERE idx = $2::bigint AND entry->>'agreementId' = $1",
		      2, pi);
		cr_assert_str_eq(PQgetvalue(b, 0, 0), "1", "the broker's ledger_index of %s is its entry", aid);
		PQclear(b);
		free(idx);
		/* … and at the provider, exactly once, finalized, with the three. */
		b = q(pdb,
		      "SELECT n.state, jsonb_array_length(a.signatures) FROM agreements a"
		      " JOIN negotiations n ON n.id = a.negotiation_id WHERE a.id = $1",
		      1, p);
		cr_assert_eq(PQntuples(b), 1, "the provider has %s once", aid);
		cr_assert_str_eq(PQgetvalue(b, 0, 0), "FINALIZED", "provider: %s", aid);
		cr_assert_str_eq(PQgetvalue(b, 0, 1), "3", "provider: %s has three signatures", aid);
		PQclear(b);
	}
	/* The same through the APIs (what the consumer is told, what the broker
	 * and the provider serve), for a sample: the SQL above covers all. */
	for (int i = 0; i < PQntuples(rows); i += 20) {
		char *npath = xasprintf("/api/v1/negotiations/%s", PQgetvalue(rows, i, 0));
		struct harness_resp *r = cfx_call(&mobi, "GET", npath, CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "consumer %s: %s", npath, r->body);
		cr_assert_str_eq(json_string_value(json_object_get(r->json, "state")), "FINALIZED", "%s", r->body);
		cr_assert_str_eq(json_string_value(json_object_get(r->json, "agreementId")),
				 PQgetvalue(rows, i, 2), "%s", r->body);
		harness_resp_free(r);
		free(npath);
		char *path = xasprintf("/api/v1/agreements/%s", PQgetvalue(rows, i, 2));
		r = fx_call("GET", path, ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "broker %s: %s", path, r->body);
		cr_assert_eq(json_array_size(json_object_get(r->json, "signatures")), 3, "%s", r->body);
		harness_resp_free(r);
		r = cfx_call(&city, "GET", path, CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "provider %s: %s", path, r->body);
		cr_assert_eq(json_array_size(json_object_get(r->json, "signatures")), 3, "%s", r->body);
		harness_resp_free(r);
		free(path);
	}
	PQclear(rows);

	/* (3) Nothing twice: one broker negotiation per consumer negotiation,
	 * one provider negotiation and agreement per broker leg, one ledger
	 * entry per agreement — and nothing beyond the consumer's. */
	cr_assert_eq(qcount(bdb, "SELECT count(*) FROM negotiations", NULL), N_NEG);
	cr_assert_eq(qcount(bdb, "SELECT count(DISTINCT agreement_id) FROM negotiations", NULL), finalized);
	cr_assert_eq(qcount(pdb, "SELECT count(*) FROM negotiations", NULL), N_NEG);
	cr_assert_eq(qcount(pdb, "SELECT count(*) FROM negotiations WHERE state = 'FINALIZED'", NULL), finalized);
	cr_assert_eq(qcount(pdb, "SELECT count(*) FROM agreements", NULL), finalized);
	cr_assert_eq(qcount(pdb, "SELECT count(DISTINCT counterpart_pid) FROM negotiations", NULL), N_NEG);
	cr_assert_eq(qcount(cdb, "SELECT count(*) FROM agreements", NULL), finalized);
	cr_assert_eq(qcount(bdb, "SELECT count(*) FROM ledger_entries WHERE kind = 'agreement'", NULL),
		     finalized, "one ledger entry per agreement");
	cr_assert_eq(qcount(bdb,
			    "SELECT count(DISTINCT entry->>'agreementId') FROM ledger_entries"
			    " WHERE kind = 'agreement'",
			    NULL),
		     finalized);
	/* Every agreement the broker holds has its ledger entry. */
	cr_assert_eq(qcount(bdb,
			    "SELECT count(*) FROM negotiations n WHERE agreement_id IS NOT NULL"
			    " AND NOT EXISTS (SELECT 1 FROM"
			    " ledger_entries l WHERE l.kind = 'agreement' AND l.entry->>'agreementId' = n.agreement_id)",
			    NULL),
		     0);

	/* (4) The ledger verifies, and is consistent with the head seen
	 * before the crash. */
	double tv = now_s();
	st = run_agora(verify, &out);
	cr_assert_eq(st, 0, "ledger verify after the crash: %s", out);
	cr_assert(strstr(out, "consistent with the head of size"), "%s", out);
	out[strcspn(out, "\n")] = '\0';
	cr_log_info("ledger verify: %.3f s: %s", now_s() - tv, out);
	cr_log_info("whole run %.3f s", now_s() - t0);
	free(out);

	for (int i = 0; i < N_NEG; i++)
		free(ps.ids[i]);
	pthread_mutex_destroy(&ps.mu);
	PQfinish(bdb);
	PQfinish(pdb);
	PQfinish(cdb);
	free(body);
	free(verify);
	free(state);
	free(ds);
	free(offer);
}
