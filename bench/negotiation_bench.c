/* negotiation_bench.c — contract negotiation benchmark client (issue 5).
 *
 *   negotiation_bench latency    OPTIONS --count N
 *       N negotiations one after the other; prints their median, p95, mean.
 *   negotiation_bench throughput OPTIONS --concurrency C --seconds S
 *       C workers, each starting a negotiation and waiting for it to be
 *       FINALIZED, then starting the next, for S seconds; prints the
 *       negotiations finalized per second and their latency.
 *
 *   OPTIONS: --url CONSUMER_URL --key API_KEY --dataset ID --offer ID
 *            --provider PARTICIPANT_ID
 *            (--notify CONNINFO | --poll-ms MS)
 *
 * A negotiation is timed from the POST /api/v1/negotiations request to the
 * consumer connector until a GET /api/v1/negotiations/{id} on it answers
 * state FINALIZED.  The consumer connector has no long-poll endpoint, so
 * there are two ways to know when to ask:
 *   --poll-ms MS     GET every MS milliseconds (the polling a client
 *                    would do; each GET costs the connector three queries);
 *   --notify CONN    LISTEN on the consumer connector's database for the
 *                    notification of a trigger negotiation_bench.sh adds
 *                    there (AFTER UPDATE OF state ... pg_notify), then one
 *                    GET to confirm through the API.  One listener thread
 *                    wakes the waiting worker; a worker that hears nothing
 *                    for 250 ms GETs anyway, so a missed notification
 *                    costs time, never correctness.
 * Any negotiation ending TERMINATED, or an unexpected answer, counts as
 * failed (and is reported; the run's exit status is then 1).
 */
#include "httpc.h"
#include "util.h"

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 256
/* How long a worker waits for the notification before it asks with a GET
 * anyway (a lost notification).  Longer than a negotiation takes with 32
 * in flight on a loaded machine: at 250 ms, 1239 of 1253 negotiations of
 * one run timed out and sent a GET that found them still running — one
 * extra request each, measured as agora's load. */
#define NOTIFY_FALLBACK_MS 1000
#define GIVE_UP_MS 60000

static struct {
	const char *url, *key, *dataset, *offer, *provider, *notify;
	long poll_ms;
	char *body;		/* the POST body, the same for every negotiation */
	char *auth;
} opt = { .poll_ms = 2 };

static double
now_ms(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void
sleep_ms(double ms)
{
	struct timespec t = { (time_t)(ms / 1000), (long)((ms - (time_t)(ms / 1000) * 1000) * 1e6) };
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* ---- notification waiting ------------------------------------------------ */

/* One slot per worker: the negotiation it waits for, and whether the
 * listener has heard that it ended. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char id[MAX_WORKERS][64];
	bool done[MAX_WORKERS];
	atomic_long heard, fallbacks;
	atomic_bool stop;
	pthread_t thread;
	PGconn *conn;
} nt = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };

static void *
listener(void *arg)
{
	(void)arg;
	while (!atomic_load(&nt.stop)) {
		struct pollfd p = { PQsocket(nt.conn), POLLIN, 0 };
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (!PQconsumeInput(nt.conn)) {
			fprintf(stderr, "notify: connection lost: %s", PQerrorMessage(nt.conn));
			return NULL;
		}
		PGnotify *n;
		while ((n = PQnotifies(nt.conn))) {
			/* payload: "<id> <state>" */
			const char *sp = strchr(n->extra, ' ');
			size_t len = sp ? (size_t)(sp - n->extra) : strlen(n->extra);
			pthread_mutex_lock(&nt.mu);
			for (int i = 0; i < MAX_WORKERS; i++)
				if (nt.id[i][0] && strlen(nt.id[i]) == len &&
				    !memcmp(nt.id[i], n->extra, len)) {
					nt.done[i] = true;
					atomic_fetch_add(&nt.heard, 1);
					pthread_cond_broadcast(&nt.cv);
					break;
				}
			pthread_mutex_unlock(&nt.mu);
			PQfreemem(n);
		}
	}
	return NULL;
}

static bool
listener_start(void)
{
	nt.conn = PQconnectdb(opt.notify);
	PGresult *r = PQstatus(nt.conn) == CONNECTION_OK ? PQexec(nt.conn, "LISTEN agora_bench_negotiation") : NULL;
	bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	if (!ok) {
		fprintf(stderr, "notify: cannot LISTEN: %s", PQerrorMessage(nt.conn));
		return false;
	}
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&nt.cv, &ca);
	return pthread_create(&nt.thread, NULL, listener, NULL) == 0;
}

static void
listener_stop(void)
{
	atomic_store(&nt.stop, true);
	pthread_join(nt.thread, NULL);
	PQfinish(nt.conn);
}

/* Wait until the listener heard slot's negotiation end, or ms passed. */
static void
notify_wait(int slot, long ms)
{
	struct timespec dl;
	clock_gettime(CLOCK_MONOTONIC, &dl);
	dl.tv_sec += ms / 1000;
	dl.tv_nsec += (ms % 1000) * 1000000L;
	if (dl.tv_nsec >= 1000000000L) {
		dl.tv_sec++;
		dl.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&nt.mu);
	while (!nt.done[slot])
		if (pthread_cond_timedwait(&nt.cv, &nt.mu, &dl) == ETIMEDOUT) {
			atomic_fetch_add(&nt.fallbacks, 1);
			break;
		}
	pthread_mutex_unlock(&nt.mu);
}

/* ---- one negotiation --------------------------------------------------------- */

static bool
call(const char *method, const char *path, const char *body, long *status, json_t **doc)
{
	char *url = xasprintf("%s%s", opt.url, path);
	const char *headers[] = { opt.auth, "Content-Type: application/json", NULL };
	struct agora_httpc_req req = { .method = method, .url = url, .headers = headers,
				       .body = body, .body_len = body ? strlen(body) : 0 };
	struct agora_httpc_resp resp;
	bool ok = agora_httpc_request(&req, &resp);
	*status = resp.status;
	*doc = ok ? agora_httpc_json(&resp) : NULL;
	if (!ok)
		fprintf(stderr, "%s %s: %s\n", method, path, resp.err);
	agora_httpc_resp_cleanup(&resp);
	free(url);
	return ok;
}

/* Runs one negotiation to its end in worker slot.  Returns its latency in
 * ms, or -1 when it did not reach FINALIZED (reason on stderr). */
static double
negotiate(int slot)
{
	double t0 = now_ms();
	long st;
	json_t *doc;
	if (!call("POST", "/api/v1/negotiations", opt.body, &st, &doc) || st != 201) {
		fprintf(stderr, "POST /api/v1/negotiations: %ld\n", st);
		json_decref(doc);
		return -1;
	}
	char id[64];
	const char *sid = json_string_value(json_object_get(doc, "id"));
	snprintf(id, sizeof id, "%s", sid ? sid : "");
	json_decref(doc);
	char *path = xasprintf("/api/v1/negotiations/%s", id);
	if (opt.notify) {
		pthread_mutex_lock(&nt.mu);
		snprintf(nt.id[slot], sizeof nt.id[slot], "%s", id);
		nt.done[slot] = false;
		pthread_mutex_unlock(&nt.mu);
	}
	double lat = -1;
	for (;;) {
		if (opt.notify)
			notify_wait(slot, NOTIFY_FALLBACK_MS);
		else
			sleep_ms((double)opt.poll_ms);
		if (!call("GET", path, NULL, &st, &doc) || st != 200) {
			fprintf(stderr, "GET %s: %ld\n", path, st);
			json_decref(doc);
			break;
		}
		const char *state = json_string_value(json_object_get(doc, "state"));
		if (state && !strcmp(state, "FINALIZED")) {
			lat = now_ms() - t0;
			json_decref(doc);
			break;
		}
		if (!state || !strcmp(state, "TERMINATED") || now_ms() - t0 > GIVE_UP_MS) {
			char *s = json_dumps(doc, JSON_COMPACT);
			fprintf(stderr, "negotiation %s did not finalize: %.400s\n", id, s ? s : "?");
			free(s);
			json_decref(doc);
			break;
		}
		json_decref(doc);
	}
	if (opt.notify) {
		pthread_mutex_lock(&nt.mu);
		nt.id[slot][0] = '\0';
		pthread_mutex_unlock(&nt.mu);
	}
	free(path);
	return lat;
}

/* ---- statistics -------------------------------------------------------------- */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Sorts v; nearest-rank quantile. */
static double
quantile(double *v, size_t n, double q)
{
	if (!n)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	size_t k = (size_t)(q * (double)n + 0.999999);
	if (k < 1)
		k = 1;
	return v[k > n ? n - 1 : k - 1];
}

static double
mean(const double *v, size_t n)
{
	double s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return n ? s / (double)n : 0;
}

/* ---- modes ------------------------------------------------------------------- */

static int
run_latency(long count)
{
	double *lat = xcalloc((size_t)count, sizeof *lat);
	size_t n = 0, failed = 0;
	for (long i = 0; i < count; i++) {
		double l = negotiate(0);
		if (l < 0)
			failed++;
		else
			lat[n++] = l;
	}
	double m = mean(lat, n);
	double p50 = quantile(lat, n, 0.5), p95 = quantile(lat, n, 0.95), max = n ? lat[n - 1] : 0;
	printf("mode=latency n=%zu failed=%zu median_ms=%.2f p95_ms=%.2f mean_ms=%.2f max_ms=%.2f"
	       " notifications=%ld fallbacks=%ld\n",
	       n, failed, p50, p95, m, max, atomic_load(&nt.heard), atomic_load(&nt.fallbacks));
	free(lat);
	return failed ? 1 : 0;
}

static struct {
	pthread_mutex_t mu;
	double start, end;	/* the measured window (ms, monotonic) */
	double *lat;
	size_t n, cap, failed, late;
} tp = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void *
tp_worker(void *arg)
{
	int slot = (int)(intptr_t)arg;
	while (now_ms() < tp.end) {
		double l = negotiate(slot);
		double t = now_ms();
		pthread_mutex_lock(&tp.mu);
		if (l < 0)
			tp.failed++;
		else if (t > tp.end)
			tp.late++;	/* finished after the window: not counted */
		else {
			if (tp.n == tp.cap) {
				tp.cap = tp.cap ? tp.cap * 2 : 4096;
				tp.lat = xrealloc(tp.lat, tp.cap * sizeof *tp.lat);
			}
			tp.lat[tp.n++] = l;
		}
		pthread_mutex_unlock(&tp.mu);
	}
	return NULL;
}

static int
run_throughput(long conc, long seconds)
{
	pthread_t th[MAX_WORKERS];
	tp.start = now_ms();
	tp.end = tp.start + (double)seconds * 1000;
	for (long i = 0; i < conc; i++)
		if (pthread_create(&th[i], NULL, tp_worker, (void *)(intptr_t)i) != 0) {
			perror("pthread_create");
			return 2;
		}
	for (long i = 0; i < conc; i++)
		pthread_join(th[i], NULL);
	double rate = (double)tp.n / (double)seconds;
	double m = mean(tp.lat, tp.n);
	double p50 = quantile(tp.lat, tp.n, 0.5), p95 = quantile(tp.lat, tp.n, 0.95);
	printf("mode=throughput concurrency=%ld seconds=%ld finalized=%zu failed=%zu late=%zu rate=%.1f"
	       " median_ms=%.2f p95_ms=%.2f mean_ms=%.2f notifications=%ld fallbacks=%ld\n",
	       conc, seconds, tp.n, tp.failed, tp.late, rate, p50, p95, m, atomic_load(&nt.heard),
	       atomic_load(&nt.fallbacks));
	free(tp.lat);
	return tp.failed ? 1 : 0;
}

static _Noreturn void
usage(void)
{
	fprintf(stderr,
		"usage: negotiation_bench latency|throughput --url URL --key KEY --dataset ID --offer ID\n"
		"         --provider ID (--notify CONNINFO | --poll-ms MS)\n"
		"         [--count N] [--concurrency C] [--seconds S]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	if (argc < 2)
		usage();
	const char *mode = argv[1];
	long count = 200, conc = 32, seconds = 20;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--url")) opt.url = v;
		else if (!strcmp(a, "--key")) opt.key = v;
		else if (!strcmp(a, "--dataset")) opt.dataset = v;
		else if (!strcmp(a, "--offer")) opt.offer = v;
		else if (!strcmp(a, "--provider")) opt.provider = v;
		else if (!strcmp(a, "--notify")) opt.notify = v;
		else if (!strcmp(a, "--poll-ms")) opt.poll_ms = atol(v);
		else if (!strcmp(a, "--count")) count = atol(v);
		else if (!strcmp(a, "--concurrency")) conc = atol(v);
		else if (!strcmp(a, "--seconds")) seconds = atol(v);
		else usage();
	}
	if (!opt.url || !opt.key || !opt.dataset || !opt.offer || !opt.provider || count < 1 ||
	    conc < 1 || conc > MAX_WORKERS || seconds < 1 || opt.poll_ms < 0)
		usage();
	json_t *b = json_pack("{s:s, s:s, s:s}", "datasetId", opt.dataset, "offerId", opt.offer,
			      "provider", opt.provider);
	opt.body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	opt.auth = xasprintf("Authorization: Bearer %s", opt.key);
	if (!agora_httpc_global_init())
		return 2;
	if (opt.notify && !listener_start())
		return 2;
	int rc;
	if (!strcmp(mode, "latency"))
		rc = run_latency(count);
	else if (!strcmp(mode, "throughput"))
		rc = run_throughput(conc, seconds);
	else
		usage();
	if (opt.notify)
		listener_stop();
	agora_httpc_global_cleanup();
	free(opt.body);
	free(opt.auth);
	return rc;
}
