/* agora-load.c — the load driver of `make test-load` (tests/load/run-load).
 *
 *   agora-load --broker URL --consumer URL --key API_KEY --dataset ID
 *              --offer ID --provider PARTICIPANT --sha256 HEX
 *              [--clients 64] [--seconds 60] [--mix 50,25,25]
 *              [--fault-flag FILE] [--fault-grace-ms 3000]
 *              [--op-timeout 60] [--json FILE] [--record FILE]
 *
 * --clients threads, each for --seconds repeating one operation drawn at
 * random by the weights of --mix (search, negotiation, transfer):
 *   search       GET {broker}/api/v1/catalog/datasets?q=… (a word from a
 *                small list, sometimes with a theme filter), or every
 *                fourth time GET …/catalog/datasets/{dataset}: a 200 with
 *                a JSON body.
 *   negotiation  POST {consumer}/api/v1/negotiations, then GET
 *                …/negotiations/{id} (backing off from 10 to 200 ms) until
 *                FINALIZED; its agreement joins the pool.  TERMINATED, or
 *                nothing final within --op-timeout, is an error.
 *   transfer     POST {consumer}/api/v1/transfers on an agreement of the
 *                pool (a negotiation instead while the pool is empty),
 *                GET …/transfers/{id} until COMPLETED and verified, then
 *                GET …/transfers/{id}/data, whose SHA-256 must be --sha256
 *                (the content the provider serves) as must the transfer's.
 * Every HTTP request's latency is kept per kind (search,
 * negotiation_post, negotiation_get, transfer_post, transfer_get,
 * transfer_data) and so is each operation's end to end (negotiation: POST
 * to FINALIZED seen; transfer: POST to the data fetched and checked).
 *
 * Faults: while --fault-flag FILE exists, and for --fault-grace-ms after
 * it was last seen, a failing request (no answer, 5xx, or a state it
 * could not get) is counted as expected-during-fault, not as an error; the
 * operation goes on (polls keep polling) until --op-timeout; after a
 * failed operation the client pauses 100 ms.  A TERMINATED negotiation or
 * transfer, a wrong digest or a 4xx is an error whenever it happens.
 *
 * --record FILE receives, as they happen, one line per fact the driver
 * was acknowledged, for the checks after the run (run-load):
 *   negotiation ID            the consumer answered 201 for it
 *   agreement NEGOTIATION ID  it was seen FINALIZED with that agreement
 *   transfer ID               the consumer answered 201 for it
 *   completed ID              it was seen COMPLETED, its data checked
 * --json FILE receives the summary; stdout a table.  Exit status 0 when
 * no error (expected-during-fault ones aside), 1 otherwise, 2 on usage. */
#include "crypto.h"
#include "httpc.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 1024
#define REQUEST_TIMEOUT_MS 15000L
#define MAX_REPORTED_ERRORS 20
#define ERROR_PAUSE_MS 100

static struct {
	const char *broker, *consumer, *key, *dataset, *offer, *provider, *sha256;
	const char *fault_flag, *json_path, *record_path;
	long clients, seconds, grace_ms, op_timeout_s;
	long weight[3];
	char *auth;
} opt = { .clients = 64, .seconds = 60, .grace_ms = 3000, .op_timeout_s = 60,
	  .weight = { 50, 25, 25 } };

/* ---- kinds and statistics ------------------------------------------------------ */

enum kind {
	K_SEARCH, K_NEG_POST, K_NEG_GET, K_TR_POST, K_TR_GET, K_TR_DATA, K_NEGOTIATION, K_TRANSFER,
	K_COUNT
};
static const char *const kind_name[K_COUNT] = {
	"search", "negotiation_post", "negotiation_get", "transfer_post", "transfer_get",
	"transfer_data", "negotiation", "transfer",
};

/* One client's samples of one kind (merged after the run: no lock). */
struct series {
	double *ms;
	size_t n, cap;
	long errors, fault_errors;
	long resent;		/* GETs sent again after a closed kept-alive connection */
};

struct client {
	int id;
	unsigned seed;
	struct series s[K_COUNT];
};

static void
series_add(struct series *s, double ms)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 1024;
		s->ms = xrealloc(s->ms, s->cap * sizeof *s->ms);
	}
	s->ms[s->n++] = ms;
}

static double
now_ms(void)
{
	return (double)agora_mono_ns() / 1e6;
}

static void
sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&t, &t) != 0 && errno == EINTR)
		;
}

/* ---- the fault window ------------------------------------------------------------- */

/* When the flag file was last seen (ms, monotonic); a thread looks every
 * 20 ms so that requests need not. */
static _Atomic double fault_seen_ms = -1e18;
static atomic_bool stopping;

static void *
fault_watch(void *arg)
{
	(void)arg;
	struct stat st;
	while (!atomic_load(&stopping)) {
		if (stat(opt.fault_flag, &st) == 0)
			atomic_store(&fault_seen_ms, now_ms());
		sleep_ms(20);
	}
	return NULL;
}

static bool
in_fault(void)
{
	return opt.fault_flag && now_ms() - atomic_load(&fault_seen_ms) <= (double)opt.grace_ms;
}

/* ---- errors and the record ------------------------------------------------------- */

static pthread_mutex_t out_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *record;
static long reported;

/* Count an error of kind k for client c; an unexpected one is also
 * printed (the first MAX_REPORTED_ERRORS).  `transient` says whether a
 * fault could explain it (no answer, 5xx, a state not reached in time). */
static void
fail(struct client *c, enum kind k, bool transient, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void
fail(struct client *c, enum kind k, bool transient, const char *fmt, ...)
{
	if (transient && in_fault()) {
		c->s[k].fault_errors++;
		return;
	}
	c->s[k].errors++;
	pthread_mutex_lock(&out_mu);
	if (reported++ < MAX_REPORTED_ERRORS) {
		va_list ap;
		va_start(ap, fmt);
		fprintf(stderr, "agora-load: client %d: %s: ", c->id, kind_name[k]);
		vfprintf(stderr, fmt, ap);
		fputc('\n', stderr);
		va_end(ap);
	}
	pthread_mutex_unlock(&out_mu);
}

static void
record_line(const char *what, const char *a, const char *b)
{
	if (!record)
		return;
	pthread_mutex_lock(&out_mu);
	fprintf(record, "%s %s%s%s\n", what, a, b ? " " : "", b ? b : "");
	fflush(record);
	pthread_mutex_unlock(&out_mu);
}

/* ---- the agreement pool ------------------------------------------------------------ */

static struct {
	pthread_mutex_t mu;
	char **ids;
	size_t n, cap;
} pool = { .mu = PTHREAD_MUTEX_INITIALIZER };

static void
pool_add(const char *id)
{
	pthread_mutex_lock(&pool.mu);
	if (pool.n == pool.cap) {
		pool.cap = pool.cap ? pool.cap * 2 : 256;
		pool.ids = xrealloc(pool.ids, pool.cap * sizeof *pool.ids);
	}
	pool.ids[pool.n++] = xstrdup(id);
	pthread_mutex_unlock(&pool.mu);
}

/* A random agreement of the pool (heap), or NULL while it is empty. */
static char *
pool_pick(struct client *c)
{
	char *id = NULL;
	pthread_mutex_lock(&pool.mu);
	if (pool.n)
		id = xstrdup(pool.ids[(size_t)rand_r(&c->seed) % pool.n]);
	pthread_mutex_unlock(&pool.mu);
	return id;
}

/* ---- HTTP ---------------------------------------------------------------------------- */

/* One request, timed into kind k.  Returns the status (0: no answer);
 * *body (heap, NUL-terminated) and *len when wanted and answered. */
static long
request(struct client *c, enum kind k, const char *method, const char *url, const char *body,
	char **out, size_t *out_len)
{
	const char *headers[] = { opt.auth, "Content-Type: application/json", NULL };
	struct agora_httpc_req req = { .method = method, .url = url, .headers = headers,
				       .body = body, .body_len = body ? strlen(body) : 0,
				       .timeout_ms = REQUEST_TIMEOUT_MS };
	struct agora_httpc_resp resp;
	double t0 = now_ms();
	bool ok = agora_httpc_request(&req, &resp);
	/* lib/httpc sends a request at most once: a kept-alive connection the
	 * server closed (its idle timeout) just as it was reused fails without
	 * an answer.  A GET is idempotent, so the driver sends it again once,
	 * as an HTTP client may (RFC 9110 §9.2.2), and counts it. */
	if (!ok && !strcmp(method, "GET") && resp.error == AGORA_HTTPC_ERR_TRANSPORT &&
	    strstr(resp.err, "not resent")) {
		c->s[k].resent++;
		agora_httpc_resp_cleanup(&resp);
		t0 = now_ms();
		ok = agora_httpc_request(&req, &resp);
	}
	double ms = now_ms() - t0;
	long status = ok ? resp.status : 0;
	if (ok && status < 500)
		series_add(&c->s[k], ms);
	if (!ok)
		fail(c, k, true, "%s %s: %s", method, url, resp.err);
	else if (status >= 500)
		fail(c, k, true, "%s %s: HTTP %ld %.200s", method, url, status, resp.body);
	if (out) {
		*out = ok ? resp.body : NULL;
		if (out_len)
			*out_len = ok ? resp.body_len : 0;
		resp.body = NULL;
	}
	agora_httpc_resp_cleanup(&resp);
	return status;
}

/* A JSON request whose answer must have status want: the parsed body
 * (new reference), or NULL after counting the error. */
static json_t *
request_json(struct client *c, enum kind k, const char *method, const char *url,
	     const char *body, long want)
{
	char *text = NULL;
	long st = request(c, k, method, url, body, &text, NULL);
	json_t *j = NULL;
	if (st == want)
		j = json_loads(text, 0, NULL);
	if (st == want && !j)
		fail(c, k, false, "%s %s: the answer is not JSON: %.200s", method, url, text);
	else if (st && st != want && st < 500)
		fail(c, k, false, "%s %s: HTTP %ld, want %ld: %.300s", method, url, st, want, text);
	free(text);
	return j;
}

/* Whether o has member k, and not null. */
static bool
has(const json_t *o, const char *k)
{
	const json_t *v = json_object_get(o, k);
	return v && !json_is_null(v);
}

static const char *
str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));
	return s ? s : "";
}

/* ---- operations ----------------------------------------------------------------------- */

static const char *const words[] = { "air", "quality", "traffic", "bike", "parking", "load",
				     "sensor", "lyon", "no2", "mobility" };

static void
op_search(struct client *c)
{
	char *url;
	unsigned r = (unsigned)rand_r(&c->seed);
	if (r % 4 == 0)
		url = xasprintf("%s/api/v1/catalog/datasets/%s", opt.broker, opt.dataset);
	else
		url = xasprintf("%s/api/v1/catalog/datasets?q=%s&limit=10%s", opt.broker,
				words[r / 4 % ARRAY_LEN(words)], r % 3 ? "" : "&theme=environment");
	json_decref(request_json(c, K_SEARCH, "GET", url, NULL, 200));
	free(url);
}

/* Poll url until its "state" is one of final (NULL-terminated) and, when
 * extra is given, the document has that member too; or until the
 * operation's deadline.  The last document (new reference) or NULL. */
static json_t *
poll_state(struct client *c, enum kind k, const char *url, const char *const *final,
	   const char *extra, double deadline)
{
	long wait = 10;
	for (;;) {
		sleep_ms(wait);
		wait = wait * 3 / 2 > 200 ? 200 : wait * 3 / 2;
		json_t *doc = request_json(c, k, "GET", url, NULL, 200);
		if (doc) {
			const char *st = str(doc, "state");
			for (const char *const *f = final; *f; f++)
				if (!strcmp(st, *f) &&
				    (strcmp(st, final[0]) || !extra || has(doc, extra)))
					return doc;
			if (now_ms() > deadline)
				return doc;
			json_decref(doc);
		} else if (now_ms() > deadline) {
			return NULL;
		}
	}
}

/* One negotiation to its end; the agreement id (heap) when FINALIZED. */
static char *
op_negotiate(struct client *c)
{
	double t0 = now_ms(), deadline = t0 + (double)opt.op_timeout_s * 1000;
	char *url = xasprintf("%s/api/v1/negotiations", opt.consumer);
	json_t *b = json_pack("{s:s, s:s, s:s}", "datasetId", opt.dataset, "offerId", opt.offer,
			      "provider", opt.provider);
	char *body = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	json_t *doc = request_json(c, K_NEG_POST, "POST", url, body, 201);
	char *aid = NULL;
	free(body);
	free(url);
	if (!doc) {
		fail(c, K_NEGOTIATION, true, "not started");
		return NULL;
	}
	char *id = xstrdup(str(doc, "id"));
	json_decref(doc);
	record_line("negotiation", id, NULL);
	url = xasprintf("%s/api/v1/negotiations/%s", opt.consumer, id);
	doc = poll_state(c, K_NEG_GET, url, (const char *const[]){ "FINALIZED", "TERMINATED", NULL },
			 "agreementId", deadline);
	const char *st = doc ? str(doc, "state") : "unknown";
	if (!strcmp(st, "FINALIZED") && *str(doc, "agreementId")) {
		aid = xstrdup(str(doc, "agreementId"));
		series_add(&c->s[K_NEGOTIATION], now_ms() - t0);
		record_line("agreement", id, aid);
		pool_add(aid);
	} else if (!strcmp(st, "TERMINATED")) {
		fail(c, K_NEGOTIATION, false, "%s TERMINATED: %s %s", id, str(doc, "code"),
		     str(doc, "reason"));
	} else {
		fail(c, K_NEGOTIATION, true, "%s still %s after %ld s", id, st, opt.op_timeout_s);
	}
	json_decref(doc);
	free(url);
	free(id);
	return aid;
}

static void
op_transfer(struct client *c)
{
	char *aid = pool_pick(c);
	if (!aid) {
		free(op_negotiate(c));
		return;
	}
	double t0 = now_ms(), deadline = t0 + (double)opt.op_timeout_s * 1000;
	char *url = xasprintf("%s/api/v1/transfers", opt.consumer);
	char *body = xasprintf("{\"agreementId\":\"%s\",\"format\":\"HttpData-PULL\"}", aid);
	json_t *doc = request_json(c, K_TR_POST, "POST", url, body, 201);
	free(body);
	free(url);
	free(aid);
	if (!doc) {
		fail(c, K_TRANSFER, true, "not started");
		return;
	}
	char *id = xstrdup(str(doc, "id"));
	json_decref(doc);
	record_line("transfer", id, NULL);
	url = xasprintf("%s/api/v1/transfers/%s", opt.consumer, id);
	/* COMPLETED with its receipt reported to the broker (reportedAt), as
	 * tfx_wait waits for; TERMINATED ends the wait too. */
	doc = poll_state(c, K_TR_GET, url, (const char *const[]){ "COMPLETED", "TERMINATED", NULL },
			 "reportedAt", deadline);
	const char *st = doc ? str(doc, "state") : "unknown";
	if (!strcmp(st, "COMPLETED") && has(doc, "reportedAt")) {
		if (!json_is_true(json_object_get(doc, "verified")) || strcmp(str(doc, "sha256"), opt.sha256)) {
			fail(c, K_TRANSFER, false, "%s COMPLETED with sha256 %s (verified: %s), want %s", id,
			     str(doc, "sha256"), json_is_true(json_object_get(doc, "verified")) ? "yes" : "no",
			     opt.sha256);
		} else {
			char *durl = xasprintf("%s/data", url), *data = NULL;
			size_t len = 0;
			long hs = request(c, K_TR_DATA, "GET", durl, NULL, &data, &len);
			char hex[65] = "";
			if (hs == 200) {
				uint8_t h[32];
				agora_sha256(data, len, h);
				agora_hex(h, 32, hex);
			}
			if (hs == 200 && !strcmp(hex, opt.sha256)) {
				series_add(&c->s[K_TRANSFER], now_ms() - t0);
				record_line("completed", id, NULL);
			} else if (hs == 200) {
				fail(c, K_TRANSFER, false, "%s: data of %zu bytes hashes to %s, want %s", id,
				     len, hex, opt.sha256);
			} else if (hs && hs < 500) {
				fail(c, K_TR_DATA, false, "%s: HTTP %ld", durl, hs);
			}
			free(data);
			free(durl);
		}
	} else if (!strcmp(st, "TERMINATED")) {
		fail(c, K_TRANSFER, false, "%s TERMINATED: %s %s", id, str(doc, "code"), str(doc, "reason"));
	} else {
		fail(c, K_TRANSFER, true, "%s still %s after %ld s", id, st, opt.op_timeout_s);
	}
	json_decref(doc);
	free(url);
	free(id);
}

/* ---- the run ---------------------------------------------------------------------------- */

static double end_ms;

/* Errors of every kind, expected or not, client c has counted so far. */
static long
errors_of(const struct client *c)
{
	long n = 0;
	for (int k = 0; k < K_COUNT; k++)
		n += c->s[k].errors + c->s[k].fault_errors;
	return n;
}

static void *
client_main(void *arg)
{
	struct client *c = arg;
	long total = opt.weight[0] + opt.weight[1] + opt.weight[2];
	while (now_ms() < end_ms) {
		long before = errors_of(c), r = rand_r(&c->seed) % total;
		if (r < opt.weight[0])
			op_search(c);
		else if (r < opt.weight[0] + opt.weight[1])
			free(op_negotiate(c));
		else
			op_transfer(c);
		/* A client whose operation failed (a process down) waits a
		 * little, as a real one would, instead of spinning on refused
		 * connections. */
		if (errors_of(c) != before)
			sleep_ms(ERROR_PAUSE_MS);
	}
	return NULL;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

/* Nearest-rank quantile of sorted v. */
static double
quantile(const double *v, size_t n, double q)
{
	if (!n)
		return 0;
	size_t k = (size_t)(q * (double)n + 0.999999);
	return v[(k < 1 ? 1 : k > n ? n : k) - 1];
}

/* Merge the clients' series of each kind, print the table and return
 * the summary (new reference). */
static json_t *
summarise(struct client *cl, double elapsed_s, long *errors)
{
	json_t *kinds = json_object();
	*errors = 0;
	printf("%-17s %8s %8s %7s %7s %9s %9s %9s %9s\n", "kind", "count", "errors", "fault", "resent",
	       "p50 ms", "p95 ms", "p99 ms", "max ms");
	for (int k = 0; k < K_COUNT; k++) {
		struct series all = { 0 };
		for (long i = 0; i < opt.clients; i++) {
			struct series *s = &cl[i].s[k];
			for (size_t j = 0; j < s->n; j++)
				series_add(&all, s->ms[j]);
			all.errors += s->errors;
			all.fault_errors += s->fault_errors;
			all.resent += s->resent;
		}
		qsort(all.ms, all.n, sizeof *all.ms, cmp_double);
		double p50 = quantile(all.ms, all.n, 0.50), p95 = quantile(all.ms, all.n, 0.95),
		       p99 = quantile(all.ms, all.n, 0.99), max = all.n ? all.ms[all.n - 1] : 0;
		printf("%-17s %8zu %8ld %7ld %7ld %9.1f %9.1f %9.1f %9.1f\n", kind_name[k], all.n,
		       all.errors, all.fault_errors, all.resent, p50, p95, p99, max);
		json_object_set_new(kinds, kind_name[k],
				    json_pack("{s:I, s:I, s:I, s:I, s:f, s:f, s:f, s:f, s:f}", "count",
					      (json_int_t)all.n, "errors", (json_int_t)all.errors,
					      "faultErrors", (json_int_t)all.fault_errors, "resent",
					      (json_int_t)all.resent, "perSecond",
					      (double)all.n / elapsed_s, "p50ms", p50, "p95ms", p95,
					      "p99ms", p99, "maxms", max));
		*errors += all.errors;
		free(all.ms);
	}
	return json_pack("{s:I, s:f, s:o, s:I}", "clients", (json_int_t)opt.clients, "seconds",
			 elapsed_s, "kinds", kinds, "errors", (json_int_t)*errors);
}

static _Noreturn void
usage(void)
{
	fprintf(stderr,
		"usage: agora-load --broker URL --consumer URL --key API_KEY --dataset ID --offer ID\n"
		"                  --provider PARTICIPANT --sha256 HEX [--clients N] [--seconds S]\n"
		"                  [--mix SEARCH,NEGOTIATION,TRANSFER] [--fault-flag FILE]\n"
		"                  [--fault-grace-ms MS] [--op-timeout S] [--json FILE] [--record FILE]\n");
	exit(2);
}

static bool
parse_mix(const char *v)
{
	char *end;
	for (int i = 0; i < 3; i++) {
		opt.weight[i] = strtol(v, &end, 10);
		if (end == v || opt.weight[i] < 0 || (i < 2 && *end != ',') || (i == 2 && *end))
			return false;
		v = end + 1;
	}
	return opt.weight[0] + opt.weight[1] + opt.weight[2] > 0;
}

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i += 2) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		if (!strcmp(a, "--broker")) opt.broker = v;
		else if (!strcmp(a, "--consumer")) opt.consumer = v;
		else if (!strcmp(a, "--key")) opt.key = v;
		else if (!strcmp(a, "--dataset")) opt.dataset = v;
		else if (!strcmp(a, "--offer")) opt.offer = v;
		else if (!strcmp(a, "--provider")) opt.provider = v;
		else if (!strcmp(a, "--sha256")) opt.sha256 = v;
		else if (!strcmp(a, "--clients")) opt.clients = atol(v);
		else if (!strcmp(a, "--seconds")) opt.seconds = atol(v);
		else if (!strcmp(a, "--mix")) { if (!parse_mix(v)) usage(); }
		else if (!strcmp(a, "--fault-flag")) opt.fault_flag = v;
		else if (!strcmp(a, "--fault-grace-ms")) opt.grace_ms = atol(v);
		else if (!strcmp(a, "--op-timeout")) opt.op_timeout_s = atol(v);
		else if (!strcmp(a, "--json")) opt.json_path = v;
		else if (!strcmp(a, "--record")) opt.record_path = v;
		else usage();
	}
	if (!opt.broker || !opt.consumer || !opt.key || !opt.dataset || !opt.offer || !opt.provider ||
	    !opt.sha256 || opt.clients < 1 || opt.clients > MAX_CLIENTS || opt.seconds < 1 ||
	    opt.grace_ms < 0 || opt.op_timeout_s < 1)
		usage();
	if (opt.record_path && !(record = fopen(opt.record_path, "w"))) {
		perror(opt.record_path);
		return 2;
	}
	opt.auth = xasprintf("Authorization: Bearer %s", opt.key);
	if (!agora_httpc_global_init())
		return 2;
	pthread_t watch;
	if (opt.fault_flag && pthread_create(&watch, NULL, fault_watch, NULL) != 0)
		return 2;
	struct client *cl = xcalloc((size_t)opt.clients, sizeof *cl);
	pthread_t *th = xcalloc((size_t)opt.clients, sizeof *th);
	double t0 = now_ms();
	end_ms = t0 + (double)opt.seconds * 1000;
	for (long i = 0; i < opt.clients; i++) {
		cl[i].id = (int)i;
		cl[i].seed = (unsigned)(i * 2654435761u) ^ (unsigned)getpid();
		if (pthread_create(&th[i], NULL, client_main, &cl[i]) != 0) {
			perror("pthread_create");
			return 2;
		}
	}
	for (long i = 0; i < opt.clients; i++)
		pthread_join(th[i], NULL);
	double elapsed = (now_ms() - t0) / 1000;
	atomic_store(&stopping, true);
	if (opt.fault_flag)
		pthread_join(watch, NULL);
	long errors;
	json_t *sum = summarise(cl, elapsed, &errors);
	json_object_set_new(sum, "agreements", json_integer((json_int_t)pool.n));
	printf("%ld clients, %.1f s, %zu agreements, %ld errors\n", opt.clients, elapsed, pool.n, errors);
	if (opt.json_path && json_dump_file(sum, opt.json_path, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
		perror(opt.json_path);
		errors++;
	}
	json_decref(sum);
	for (long i = 0; i < opt.clients; i++)
		for (int k = 0; k < K_COUNT; k++)
			free(cl[i].s[k].ms);
	for (size_t i = 0; i < pool.n; i++)
		free(pool.ids[i]);
	free(pool.ids);
	free(cl);
	free(th);
	free(opt.auth);
	if (record)
		fclose(record);
	agora_httpc_global_cleanup();
	return errors ? 1 : 0;
}
