/* outbox.c — see outbox.h and docs/OUTBOX.md.
 *
 * Threads: one listener per outbox sleeps on its LISTEN connection and
 * turns each NOTIFY into a wake-up of the workers (a generation counter
 * under a condition variable); each worker claims one due message at a
 * time with FOR UPDATE SKIP LOCKED, sends it while holding the row lock,
 * and records the outcome in the same transaction.  A worker that finds
 * nothing due sleeps until the earliest next_at (capped) or a wake-up.
 *
 * The outbox is shared by the broker and the connector, so its SQL lives
 * here rather than in a component's db_*.c file.
 */
#include "outbox.h"
#include "httpc.h"
#include "log.h"
#include "pauth.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Longest sleep without a wake-up: bounds how late a message is seen whose
 * sender (another replica) died holding it, or whose NOTIFY was missed. */
#define IDLE_CAP_MS 30000L
/* The same while the LISTEN connection is down, and after a database error. */
#define DEGRADED_CAP_MS 1000L
/* Response bodies above this are a transport error (retried). */
#define MAX_REPLY ((size_t)1 << 20)
/* Ids of messages committed in this process and not yet claimed; beyond
 * that, a worker scans instead. */
#define MAX_HINTS 1024
/* Ids put in one transaction that are handed to the workers. */
#define MAX_TX_IDS 32

const char agora_outbox_schema_sql[] =
	"CREATE TABLE outbox (\n"
	"  id bigserial PRIMARY KEY,\n"
	"  kind text NOT NULL,\n"
	"  url text NOT NULL,\n"
	"  audience text NOT NULL,\n"
	"  body jsonb NOT NULL,\n"
	"  ref text,\n"
	"  attempts int NOT NULL DEFAULT 0,\n"
	"  next_at timestamptz NOT NULL DEFAULT now(),\n"
	"  last_error text,\n"
	"  created_at timestamptz NOT NULL DEFAULT now());\n"
	"CREATE INDEX outbox_due ON outbox (next_at);\n"
	"CREATE INDEX outbox_ref ON outbox (ref, id) WHERE ref IS NOT NULL;\n"
	"CREATE TABLE outbox_dead (\n"
	"  id bigint PRIMARY KEY,\n"
	"  kind text NOT NULL,\n"
	"  url text NOT NULL,\n"
	"  audience text NOT NULL,\n"
	"  body jsonb NOT NULL,\n"
	"  ref text,\n"
	"  attempts int NOT NULL,\n"
	"  outcome text NOT NULL CHECK (outcome IN ('refused', 'gave_up')),\n"
	"  status int,\n"
	"  reply text,\n"
	"  last_error text,\n"
	"  created_at timestamptz NOT NULL,\n"
	"  dead_at timestamptz NOT NULL DEFAULT now());\n"
	"CREATE INDEX outbox_dead_ref ON outbox_dead (ref) WHERE ref IS NOT NULL;\n";

const struct agora_stmt agora_outbox_stmts[] = {
	/* pg_notify is transactional: listeners hear it at commit, never
	 * after a rollback; equal notifications in one transaction fold. */
	{ "agora_outbox_put",
	  "WITH i AS (INSERT INTO outbox (kind, url, audience, body, ref)"
	  " VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id)"
	  " SELECT i.id, pg_notify('agora_outbox', '') FROM i" },
	/* The same without the NOTIFY, inside agora_db_tx: the commit hook
	 * wakes this process's workers, and other processes' through a NOTIFY
	 * sent after the commit (see wake_ids()). */
	{ "agora_outbox_put_quiet",
	  "INSERT INTO outbox (kind, url, audience, body, ref)"
	  " VALUES ($1, $2, $3, $4::jsonb, $5) RETURNING id" },
	/* A claim locks one due message whose ref has no older message left:
	 * a message being sent is locked (skipped by others) but still exists,
	 * so it holds back the later ones of its ref until it is gone.  It also
	 * lets the settling commit skip the WAL flush (see deliver_one;
	 * set_config(…, true) lasts until the transaction ends). */
#define CLAIM(pick)                                                                          \
	"SELECT o.id, o.kind, o.url, o.audience, o.body::text, o.ref, o.attempts,"           \
	" set_config('synchronous_commit', 'off', true) FROM outbox o"                       \
	" WHERE o.next_at <= now() AND NOT EXISTS (SELECT 1 FROM outbox o2"                  \
	" WHERE o2.ref = o.ref AND o2.id < o.id) " pick " FOR UPDATE OF o SKIP LOCKED"
	{ "agora_outbox_claim", CLAIM("ORDER BY o.next_at, o.id LIMIT 1") },
	/* One message, by id: what a worker woken for a commit in this process
	 * claims.  A primary-key lookup: the general claim above walks the due
	 * index through every row deleted since the oldest transaction still
	 * open began — and under load, workers holding their claim across a
	 * request are such transactions. */
	{ "agora_outbox_claim_id", CLAIM("AND o.id = $1::bigint") },
	/* The oldest message of one ref: after a message of that ref is
	 * settled, the next one (which waited for it) goes. */
	{ "agora_outbox_claim_ref", CLAIM("AND o.ref = $1 ORDER BY o.id LIMIT 1") },
	{ "agora_outbox_has_ref", "SELECT 1 FROM outbox WHERE ref = $1 LIMIT 1" },
	{ "agora_outbox_delete", "DELETE FROM outbox WHERE id = $1::bigint" },
	{ "agora_outbox_retry",
	  "UPDATE outbox SET attempts = $2::int, last_error = $4,"
	  " next_at = clock_timestamp() + $3::bigint * interval '1 millisecond'"
	  " WHERE id = $1::bigint" },
	{ "agora_outbox_bury",
	  "WITH d AS (DELETE FROM outbox WHERE id = $1::bigint RETURNING *)"
	  " INSERT INTO outbox_dead (id, kind, url, audience, body, ref, attempts, created_at,"
	  " outcome, status, reply, last_error)"
	  " SELECT id, kind, url, audience, body, ref, $2::int, created_at, $3, $4::int, $5, $6"
	  " FROM d" },
	/* Milliseconds until the earliest message that was not due when the
	 * claim of the same transaction found nothing (now() is the
	 * transaction's start: one due since counts, with a wait ≤ 0). */
	{ "agora_outbox_next",
	  "SELECT ceil(extract(epoch FROM min(next_at) - clock_timestamp()) * 1000)::bigint"
	  " FROM outbox WHERE next_at > now()" },
	{ NULL, NULL }
};

struct agora_outbox {
	struct agora_outbox_config cfg;	/* defaults applied */
	pthread_mutex_t mu;
	pthread_cond_t cv;		/* CLOCK_MONOTONIC */
	uint64_t gen;			/* bumped to make every worker scan */
	long long hints[MAX_HINTS];	/* ids committed here, not yet claimed */
	unsigned hint_head, nhints;	/* a ring */
	bool scan_wanted;		/* one worker is to scan (hints lost) */
	uint64_t scan_at;		/* a worker scans then (monotonic ns; 0: none),
					   for a retry scheduled here */
	unsigned idle;			/* workers waiting */
	bool notify_wanted;		/* the listener is to NOTIFY other processes */
	bool stopping;
	bool listening;			/* the LISTEN connection is up */
	int stop_pipe[2];		/* wakes the listener out of poll() */
	int kick_pipe[2];		/* asks the listener to NOTIFY */
	pthread_t listener;
	bool listener_started;
	pthread_t *workers;
	unsigned nworkers;		/* started */
};

/* ---- the outboxes of this process ------------------------------------------ */

/* What a commit hook wakes: every outbox started in this process (one, but
 * tests start two replicas in one process). */
#define MAX_OUTBOXES 8
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct agora_outbox *reg[MAX_OUTBOXES];

static void
reg_add(struct agora_outbox *ob)
{
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < MAX_OUTBOXES; i++)
		if (!reg[i]) {
			reg[i] = ob;
			break;
		}
	pthread_mutex_unlock(&reg_mu);
}

static void
reg_remove(struct agora_outbox *ob)
{
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < MAX_OUTBOXES; i++)
		if (reg[i] == ob)
			reg[i] = NULL;
	pthread_mutex_unlock(&reg_mu);
}

/* Does this process run an outbox (whose workers a commit hook can wake)? */
static bool
reg_any(void)
{
	bool any = false;
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < MAX_OUTBOXES && !any; i++)
		any = reg[i] != NULL;
	pthread_mutex_unlock(&reg_mu);
	return any;
}

/* The ids put in the transaction agora_db_tx runs on this thread. */
static _Thread_local struct {
	unsigned n;
	bool overflow;
	long long id[MAX_TX_IDS];
} tx_ids;

static void wake_ids(struct agora_outbox *ob, const long long *ids, unsigned n, bool overflow);

/* agora_db_tx committed the puts in tx_ids. */
static void
after_commit(void *arg, unsigned times)
{
	(void)arg;
	(void)times;
	pthread_mutex_lock(&reg_mu);
	for (size_t i = 0; i < MAX_OUTBOXES; i++)
		if (reg[i])
			wake_ids(reg[i], tx_ids.id, tx_ids.n, tx_ids.overflow);
	pthread_mutex_unlock(&reg_mu);
	tx_ids.n = 0;
	tx_ids.overflow = false;
}

/* ---- queueing ------------------------------------------------------------- */

/* The id of a message put in agora_db_tx, for the commit hook. */
static void
put_id(void *arg, const PGresult *r)
{
	(void)arg;
	if (PQntuples(r) < 1)
		return;
	if (tx_ids.n < MAX_TX_IDS)
		tx_ids.id[tx_ids.n++] = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	else
		tx_ids.overflow = true;
}

enum agora_qs
agora_outbox_put(PGconn *c, const char *kind, const char *url, const char *audience,
		 const json_t *body, const char *ref)
{
	if (!c || !kind || !url || !audience || !json_is_object(body)) {
		agora_log(AGORA_LOG_ERROR, "outbox: message refused",
			  json_pack("{s:s?, s:s?, s:s}", "kind", kind, "url", url, "reason",
				    !json_is_object(body) ? "body is not an object"
							  : "missing connection, kind, url or audience"));
		return AGORA_QS_HARD_ERROR;
	}
	char *text = json_dumps(body, JSON_COMPACT);
	if (!text)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { kind, url, audience, text, ref };
	/* In agora_db_tx, in a process with an outbox, the wake-up follows the
	 * commit; elsewhere (a transaction of the caller's own, or no outbox
	 * here to wake) the NOTIFY is part of it. */
	unsigned nth = reg_any() ? agora_db_after_commit(after_commit, NULL) : 0;
	const char *stmt = nth ? "agora_outbox_put_quiet" : "agora_outbox_put";
	if (nth == 1) {		/* a new transaction: forget a rolled back one's */
		tx_ids.n = 0;
		tx_ids.overflow = false;
	}
	enum agora_qs qs;
	if (nth) {
		/* The INSERT goes with the transaction's next round trip
		 * (usually its COMMIT); the id arrives before the hook runs. */
		qs = agora_db_defer(c, stmt, 5, p, put_id, NULL);
	} else {
		PGresult *r = agora_db_exec(c, stmt, 5, p);
		qs = agora_db_status(r, stmt);
		PQclear(r);
	}
	free(text);
	return qs == AGORA_QS_ONE || qs == AGORA_QS_RETRY ? qs : AGORA_QS_HARD_ERROR;
}

/* ---- waking and waiting ----------------------------------------------------- */

static void
wake_locked(struct agora_outbox *ob)
{
	ob->gen++;
	pthread_cond_broadcast(&ob->cv);
}

/* Messages ids[0..n) were committed in this process (more when
 * overflow): a worker is woken for each, and claims it by id.  Only when
 * fewer workers are idle here, other processes (replicas on the same
 * database) are told, by a NOTIFY the listener sends after the commit —
 * never inside it, where PostgreSQL would hold its notification lock
 * across the commit's WAL flush and serialise every notifying commit of
 * the cluster. */
static void
wake_ids(struct agora_outbox *ob, const long long *ids, unsigned n, bool overflow)
{
	bool kick = false;
	pthread_mutex_lock(&ob->mu);
	unsigned free_idle = ob->idle > ob->nhints ? ob->idle - ob->nhints : 0;
	if ((free_idle < n || overflow) && !ob->notify_wanted)
		kick = ob->notify_wanted = true;
	for (unsigned i = 0; i < n; i++) {
		if (ob->nhints == MAX_HINTS) {
			overflow = true;
			break;
		}
		ob->hints[(ob->hint_head + ob->nhints++) % MAX_HINTS] = ids[i];
		pthread_cond_signal(&ob->cv);
	}
	if (overflow) {
		ob->scan_wanted = true;
		pthread_cond_signal(&ob->cv);
	}
	pthread_mutex_unlock(&ob->mu);
	if (kick && ob->kick_pipe[1] >= 0) {
		ssize_t w = write(ob->kick_pipe[1], "n", 1);
		(void)w;
	}
}

void
agora_outbox_wake(struct agora_outbox *ob)
{
	if (ob)
		wake_ids(ob, NULL, 0, true);
}

/* What a worker is to do next. */
enum job { JOB_STOP, JOB_HINT, JOB_SCAN, JOB_WAIT };

/* With ob->mu held: a hint to claim, a scan to make, or nothing; *seen is
 * the generation the caller has acted on. */
static enum job
next_job(struct agora_outbox *ob, uint64_t *seen, long long *hint)
{
	if (ob->stopping)
		return JOB_STOP;
	if (ob->nhints) {
		*hint = ob->hints[ob->hint_head];
		ob->hint_head = (ob->hint_head + 1) % MAX_HINTS;
		ob->nhints--;
		return JOB_HINT;
	}
	if (ob->gen != *seen || ob->scan_wanted ||
	    (ob->scan_at && agora_mono_ns() >= ob->scan_at)) {
		*seen = ob->gen;
		ob->scan_wanted = false;
		if (ob->scan_at && agora_mono_ns() >= ob->scan_at)
			ob->scan_at = 0;
		return JOB_SCAN;
	}
	return JOB_WAIT;
}

/* Wait for a job: until a wake-up, stop, or ms (negative: nothing
 * scheduled), capped by how much we can trust wake-ups; a timeout means
 * scan. */
static enum job
wait_job(struct agora_outbox *ob, uint64_t *seen, long long *hint, long ms)
{
	pthread_mutex_lock(&ob->mu);
	enum job j = next_job(ob, seen, hint);
	if (j != JOB_WAIT) {
		pthread_mutex_unlock(&ob->mu);
		return j;
	}
	long cap = ob->listening ? IDLE_CAP_MS : DEGRADED_CAP_MS;
	if (ms < 0 || ms > cap)
		ms = cap;
	uint64_t until = agora_mono_ns() + (uint64_t)ms * 1000000ULL;
	ob->idle++;
	while ((j = next_job(ob, seen, hint)) == JOB_WAIT) {
		/* scan_at may have moved closer meanwhile */
		uint64_t t = ob->scan_at && ob->scan_at < until ? ob->scan_at : until;
		struct timespec dl = { (time_t)(t / 1000000000ULL), (long)(t % 1000000000ULL) };
		if (pthread_cond_timedwait(&ob->cv, &ob->mu, &dl) == ETIMEDOUT &&
		    agora_mono_ns() >= until) {
			j = next_job(ob, seen, hint);
			if (j == JOB_WAIT)
				j = JOB_SCAN;
			break;
		}
	}
	ob->idle--;
	pthread_mutex_unlock(&ob->mu);
	return j;
}

/* A retry was scheduled in delay_ms: make sure a worker scans then. */
static void
scan_later(struct agora_outbox *ob, long delay_ms)
{
	uint64_t at = agora_mono_ns() + (uint64_t)delay_ms * 1000000ULL;
	pthread_mutex_lock(&ob->mu);
	if (!ob->scan_at || at < ob->scan_at) {
		ob->scan_at = at;
		pthread_cond_broadcast(&ob->cv);	/* waiters recompute their deadline */
	}
	pthread_mutex_unlock(&ob->mu);
}

/* Poll the stop pipe for ms; true when stop was asked. */
static bool
stop_requested(struct agora_outbox *ob, int ms)
{
	struct pollfd p = { ob->stop_pipe[0], POLLIN, 0 };
	return poll(&p, 1, ms) > 0;
}

static void
set_listening(struct agora_outbox *ob, bool on)
{
	pthread_mutex_lock(&ob->mu);
	ob->listening = on;
	/* Coming up: look for what was committed while nobody listened. */
	if (on)
		wake_locked(ob);
	pthread_mutex_unlock(&ob->mu);
}

/* NOTIFY the other processes listening on this database, on the listener's
 * connection.  Nothing else is in that transaction: committing it
 * asynchronously makes PostgreSQL's notification lock a brief one. */
static bool
notify_others(PGconn *l)
{
	PGresult *r = PQexec(l, "NOTIFY agora_outbox");
	bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
	PQclear(r);
	return ok;
}

static void *
listener(void *arg)
{
	struct agora_outbox *ob = arg;
	PGconn *l = NULL;
	bool warned = false;
	int self_pid = 0;
	for (;;) {
		if (!l) {
			l = PQconnectdb(ob->cfg.conninfo);
			/* Our NOTIFYs commit asynchronously (see notify_others). */
			PGresult *r = PQstatus(l) == CONNECTION_OK
					      ? PQexec(l, "SET synchronous_commit = off")
					      : NULL;
			bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
			PQclear(r);
			if (ok) {
				r = PQexec(l, "LISTEN agora_outbox");
				ok = PQresultStatus(r) == PGRES_COMMAND_OK;
				PQclear(r);
			}
			if (!ok) {
				if (!warned)
					agora_logf(AGORA_LOG_WARN, "outbox", "cannot listen: %s",
						   PQerrorMessage(l));
				warned = true;
				PQfinish(l);
				l = NULL;
				if (stop_requested(ob, (int)DEGRADED_CAP_MS))
					break;
				continue;
			}
			warned = false;
			self_pid = PQbackendPID(l);
			set_listening(ob, true);
		}
		struct pollfd p[3] = { { ob->stop_pipe[0], POLLIN, 0 }, { PQsocket(l), POLLIN, 0 },
				       { ob->kick_pipe[0], POLLIN, 0 } };
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			agora_logf(AGORA_LOG_ERROR, "outbox", "poll: %s", strerror(errno));
			break;
		}
		if (p[0].revents)
			break;
		bool ok = true;
		if (p[2].revents) {
			char buf[64];
			ssize_t rd = read(ob->kick_pipe[0], buf, sizeof buf);
			(void)rd;
			pthread_mutex_lock(&ob->mu);
			bool want = ob->notify_wanted;
			ob->notify_wanted = false;
			pthread_mutex_unlock(&ob->mu);
			if (want)
				ok = notify_others(l);
		}
		if (!ok || !PQconsumeInput(l)) {
			agora_logf(AGORA_LOG_WARN, "outbox", "listen connection lost: %s",
				   PQerrorMessage(l));
			set_listening(ob, false);
			PQfinish(l);
			l = NULL;
			continue;
		}
		/* Our own NOTIFYs are for the others: our workers were woken
		 * in-process already. */
		bool woken = false;
		PGnotify *n;
		while ((n = PQnotifies(l))) {
			woken |= n->be_pid != self_pid;
			PQfreemem(n);
		}
		if (woken) {
			pthread_mutex_lock(&ob->mu);
			wake_locked(ob);
			pthread_mutex_unlock(&ob->mu);
		}
	}
	PQfinish(l);
	return NULL;
}

/* ---- delivering -------------------------------------------------------------- */

/* One claimed row (heap strings). */
struct msg {
	char id[24];
	char *kind, *url, *audience, *body, *ref;
	int attempts;		/* before this one */
};

static void
msg_cleanup(struct msg *m)
{
	free(m->kind);
	free(m->url);
	free(m->audience);
	free(m->body);
	free(m->ref);
}

static bool
exec_ok(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	bool ok = agora_db_status(r, sql) >= 0;
	PQclear(r);
	return ok;
}

static bool
run(PGconn *c, const char *name, int n, const char *const *p)
{
	PGresult *r = agora_db_exec(c, name, n, p);
	bool ok = agora_db_status(r, name) >= 0;
	PQclear(r);
	return ok;
}

/* min(max, base·2^attempts) ± 20 %, and at least what Retry-After asks
 * (up to max). */
static long
backoff_ms(const struct agora_outbox_config *cfg, int attempts, long retry_after_ms)
{
	double d = cfg->base_delay_ms;
	for (int i = 0; i < attempts && d < cfg->max_delay_ms; i++)
		d *= 2;
	if (d > cfg->max_delay_ms)
		d = cfg->max_delay_ms;
	uint32_t r;
	agora_random(&r, sizeof r);
	d *= 0.8 + 0.4 * (r / 4294967295.0);
	if (retry_after_ms > d)
		d = retry_after_ms < (long)cfg->max_delay_ms ? retry_after_ms : cfg->max_delay_ms;
	return d < 1 ? 1 : (long)d;
}

/* Retry-After in seconds (the HTTP-date form is ignored), as ms; 0 if none. */
static long
retry_after(const struct agora_httpc_resp *resp)
{
	const char *v = agora_httpc_resp_header(resp, "Retry-After");
	if (!v)
		return 0;
	char *end;
	long s = strtol(v, &end, 10);
	return end != v && s > 0 && s < 86400 ? s * 1000 : 0;
}

/* Move m to outbox_dead. */
static bool
bury(PGconn *c, const struct msg *m, int attempts, const char *outcome, long status,
     const char *reply, const char *last_error)
{
	char a[16], st[16];
	snprintf(a, sizeof a, "%d", attempts);
	snprintf(st, sizeof st, "%ld", status);
	const char *p[] = { m->id, a, outcome, status ? st : NULL, reply, last_error };
	return run(c, "agora_outbox_bury", 6, p);
}

static bool
reschedule(PGconn *c, const struct msg *m, int attempts, long delay_ms, const char *last_error)
{
	char a[16], d[24];
	snprintf(a, sizeof a, "%d", attempts);
	snprintf(d, sizeof d, "%ld", delay_ms);
	const char *p[] = { m->id, a, d, last_error };
	return run(c, "agora_outbox_retry", 4, p);
}

/* The result could not be recorded (the callback failed, or COMMIT did):
 * count it as a failed attempt so the message is not resent in a loop, and
 * give up without the callback once the attempts are used. */
static void
record_failure(struct agora_outbox *ob, PGconn *c, const struct msg *m)
{
	int attempts = m->attempts + 1;
	const char *why = "the result could not be recorded";
	bool ok;
	if ((unsigned)attempts >= ob->cfg.max_attempts) {
		agora_log(AGORA_LOG_ERROR, "outbox: dead-lettered without a result callback",
			  json_pack("{s:s, s:s, s:s?}", "id", m->id, "kind", m->kind, "ref",
				    m->ref));
		ok = bury(c, m, attempts, "gave_up", 0, NULL, why);
	} else {
		long d = backoff_ms(&ob->cfg, m->attempts, 0);
		ok = reschedule(c, m, attempts, d, why);
		scan_later(ob, d);
	}
	if (!ok)
		agora_logf(AGORA_LOG_ERROR, "outbox", "cannot record the failure of message %s",
			   m->id);
}

/* POST the message.  Returns the outcome, or -1 to retry, with *status,
 * resp filled and err naming a failure. */
static int
send_msg(const struct agora_outbox *ob, const struct msg *m, struct agora_httpc_resp *resp,
	 char *err, size_t errlen)
{
	const struct agora_outbox_config *cfg = &ob->cfg;
	size_t len = strlen(m->body);
	char *tok = agora_pauth_mint(cfg->key, cfg->kid, cfg->self_id, m->audience, "POST",
				     m->url, m->body, len);
	memset(resp, 0, sizeof *resp);
	if (!tok) {
		snprintf(err, errlen, "cannot sign the participant token");
		return -1;
	}
	char *auth = xasprintf("Authorization: Bearer %s", tok);
	free(tok);
	const char *headers[] = { "Content-Type: application/json",
				  "Accept: application/json", auth, NULL };
	struct agora_httpc_req req = {
		.method = "POST",
		.url = m->url,
		.headers = headers,
		.body = m->body,
		.body_len = len,
		.timeout_ms = cfg->timeout_ms,
		.connect_timeout_ms = cfg->timeout_ms < AGORA_HTTPC_CONNECT_TIMEOUT_MS
					      ? cfg->timeout_ms : AGORA_HTTPC_CONNECT_TIMEOUT_MS,
		.max_response = MAX_REPLY,
	};
	bool got = agora_httpc_request(&req, resp);
	free(auth);
	if (!got) {
		snprintf(err, errlen, "%s", resp->err);
		return -1;
	}
	long s = resp->status;
	if (s >= 200 && s < 300)
		return AGORA_OUTBOX_DELIVERED;
	snprintf(err, errlen, "HTTP %ld: %.200s", s, resp->body ? resp->body : "");
	if (s >= 400 && s < 500 && s != 408 && s != 429)
		return AGORA_OUTBOX_REFUSED;
	return -1;	/* 408, 429, 5xx, and 1xx/3xx (not followed) */
}

/* Record the outcome of m and run the callback, in the claim's transaction,
 * which deliver_one opened with a savepoint when there is a callback.  The
 * callback runs under that savepoint: when it fails (leaves the
 * transaction failed), rolling back to the savepoint undoes its writes and
 * keeps the row ours, and the failure is recorded instead of the outcome.
 * The removal (delete or dead-letter) follows the callback, after the
 * savepoint is released: deleting, inside a subtransaction, a row its
 * parent locked makes PostgreSQL create a MultiXact per message, which
 * every later scan over the dead row must resolve (several % of the
 * cluster's CPU under load).  A delivered message's release, delete and
 * COMMIT go in one round trip, followed by the look-up of the next message
 * of its ref (*more): then *committed is true.  Otherwise the transaction
 * is left open for deliver_one to commit; a failed statement of our own
 * leaves it failed, and its COMMIT then fails (see deliver_one). */
static void
finish(struct agora_outbox *ob, PGconn *c, const struct msg *m, int outcome,
       const struct agora_httpc_resp *resp, const char *err, bool *committed, bool *more)
{
	const struct agora_outbox_config *cfg = &ob->cfg;
	int attempts = m->attempts + 1;
	*committed = false;
	if (outcome < 0 && (unsigned)attempts < cfg->max_attempts) {
		long d = backoff_ms(cfg, m->attempts, retry_after(resp));
		agora_log(AGORA_LOG_INFO, "outbox: retry",
			  json_pack("{s:s, s:s, s:s?, s:i, s:I, s:s}", "id", m->id, "kind",
				    m->kind, "ref", m->ref, "attempts", attempts, "delay_ms",
				    (json_int_t)d, "error", err));
		scan_later(ob, d);
		if (!cfg->on_result || exec_ok(c, "RELEASE SAVEPOINT agora_outbox_result"))
			reschedule(c, m, attempts, d, err);
		return;
	}
	if (outcome < 0)
		outcome = AGORA_OUTBOX_GAVE_UP;
	bool refused = outcome == AGORA_OUTBOX_REFUSED;
	if (outcome != AGORA_OUTBOX_DELIVERED)
		agora_log(AGORA_LOG_WARN, refused ? "outbox: refused" : "outbox: gave up",
			  json_pack("{s:s, s:s, s:s, s:s?, s:i, s:s}", "id", m->id, "kind",
				    m->kind, "url", m->url, "ref", m->ref, "attempts", attempts,
				    "error", err));
	if (cfg->on_result) {
		json_t *sent = json_loads(m->body, 0, NULL);
		json_t *reply = resp->status ? agora_httpc_json(resp) : NULL;
		cfg->on_result(cfg->ctx, c, m->kind, m->ref, sent, resp->status, reply,
			       (enum agora_outbox_outcome)outcome);
		json_decref(reply);
		json_decref(sent);
		if (PQtransactionStatus(c) != PQTRANS_INTRANS) {
			agora_log(AGORA_LOG_ERROR, "outbox: result not recorded",
				  json_pack("{s:s, s:s, s:s?}", "id", m->id, "kind", m->kind, "ref",
					    m->ref));
			if (exec_ok(c, "ROLLBACK TO SAVEPOINT agora_outbox_result") &&
			    exec_ok(c, "RELEASE SAVEPOINT agora_outbox_result"))
				record_failure(ob, c, m);
			return;
		}
	}
	if (outcome == AGORA_OUTBOX_DELIVERED) {
		const char *p[] = { m->id }, *rp[] = { m->ref };
		PGresult *has = NULL;
		struct agora_db_step steps[] = {
			{ .sql = "RELEASE SAVEPOINT agora_outbox_result" },
			{ .stmt = "agora_outbox_delete", .n = 1, .params = p },
			{ .sql = "COMMIT" },
			/* After the commit: what waited for this message. */
			{ .stmt = "agora_outbox_has_ref", .n = 1, .params = rp, .res = &has },
		};
		size_t first = cfg->on_result ? 0 : 1, n = ARRAY_LEN(steps) - (m->ref ? 0 : 1);
		agora_db_pipeline(c, steps + first, n - first);
		/* Committed unless a step before COMMIT failed (then the
		 * transaction is still open, failed). */
		*committed = PQtransactionStatus(c) == PQTRANS_IDLE;
		*more = has && PQresultStatus(has) == PGRES_TUPLES_OK && PQntuples(has) > 0;
		PQclear(has);
		return;
	}
	if (!cfg->on_result || exec_ok(c, "RELEASE SAVEPOINT agora_outbox_result"))
		bury(c, m, attempts, refused ? "refused" : "gave_up", resp->status, resp->body, err);
}

static char *
dup_col(PGresult *r, int col)
{
	return PQgetisnull(r, 0, col) ? NULL : xstrdup(PQgetvalue(r, 0, col));
}

/* How a worker claims. */
enum claim { CLAIM_ANY, CLAIM_ID, CLAIM_REF };

/* Claim (by mode: the oldest due message, message `arg`, the oldest of ref
 * `arg`), send and settle one message.  1 when one was handled (whatever
 * came of it; *ref, heap, is its ref or NULL), 0 when none could be
 * claimed, -1 on a database error. */
static long next_due_ms(PGconn *c);
static bool ref_has_more(PGconn *c, const char *ref);

static int
deliver_one(struct agora_outbox *ob, PGconn *c, enum claim how, const char *arg, char **ref,
	    bool *more, long *next_ms)
{
	static const char *const stmts[] = { "agora_outbox_claim", "agora_outbox_claim_id",
					     "agora_outbox_claim_ref" };
	*ref = NULL;
	*more = false;
	/* The settling commit need not wait for the disk (the claim sets
	 * synchronous_commit off for this transaction): if a crash loses it,
	 * the row comes back and the message is sent again, which receivers
	 * answer as the first time (at-least-once delivery).  BEGIN, the
	 * claim and the callback's savepoint go in one round trip. */
	const char *p[] = { arg };
	PGresult *r = NULL;
	struct agora_db_step steps[] = {
		{ .sql = "BEGIN" },
		{ .stmt = stmts[how], .n = how == CLAIM_ANY ? 0 : 1, .params = p, .res = &r },
		{ .sql = "SAVEPOINT agora_outbox_result" },
	};
	bool ok = agora_db_pipeline(c, steps, ob->cfg.on_result ? 3 : 2);
	enum agora_qs qs = PQresultStatus(r) == PGRES_PIPELINE_ABORTED ? AGORA_QS_HARD_ERROR
									 : agora_db_status(r, stmts[how]);
	if (!ok && qs >= 0)
		qs = AGORA_QS_HARD_ERROR;	/* BEGIN or SAVEPOINT failed */
	if (qs != AGORA_QS_ONE) {
		PQclear(r);
		if (qs == AGORA_QS_NONE && next_ms)
			*next_ms = next_due_ms(c);
		if (PQtransactionStatus(c) != PQTRANS_IDLE)
			exec_ok(c, "ROLLBACK");
		return qs == AGORA_QS_NONE ? 0 : -1;
	}
	struct msg m = { .attempts = atoi(PQgetvalue(r, 0, 6)) };
	snprintf(m.id, sizeof m.id, "%s", PQgetvalue(r, 0, 0));
	m.kind = dup_col(r, 1);
	m.url = dup_col(r, 2);
	m.audience = dup_col(r, 3);
	m.body = dup_col(r, 4);
	m.ref = dup_col(r, 5);
	PQclear(r);

	struct agora_httpc_resp resp;
	char err[256] = "";
	bool committed = false;
	int outcome = send_msg(ob, &m, &resp, err, sizeof err);
	finish(ob, c, &m, outcome, &resp, err, &committed, more);
	/* A failed statement of finish's own: COMMIT would only roll back. */
	bool failed = PQtransactionStatus(c) == PQTRANS_INERROR;
	if (failed)
		agora_log(AGORA_LOG_ERROR, "outbox: result not recorded",
			  json_pack("{s:s, s:s, s:s?}", "id", m.id, "kind", m.kind, "ref", m.ref));
	if (!committed && (failed || !exec_ok(c, "COMMIT")) && PQstatus(c) == CONNECTION_OK) {
		/* Unlocked now, but recording the failure keeps a COMMIT that
		 * always fails (say, a deferred constraint the callback broke)
		 * from resending the message in a tight loop. */
		exec_ok(c, "ROLLBACK");
		if (exec_ok(c, "BEGIN")) {
			record_failure(ob, c, &m);
			if (!exec_ok(c, "COMMIT"))
				exec_ok(c, "ROLLBACK");
		}
	}
	if (!committed && m.ref)
		*more = ref_has_more(c, m.ref);
	if (outcome == AGORA_OUTBOX_DELIVERED)
		agora_log(AGORA_LOG_DEBUG, "outbox: delivered",
			  json_pack("{s:s, s:s, s:s?, s:I}", "id", m.id, "kind", m.kind, "ref",
				    m.ref, "status", (json_int_t)resp.status));
	agora_httpc_resp_cleanup(&resp);
	*ref = m.ref;
	m.ref = NULL;
	msg_cleanup(&m);
	return 1;
}

/* Does ref have messages left (after one of them was settled)?  One cheap
 * read outside a transaction before claiming: usually it has none. */
static bool
ref_has_more(PGconn *c, const char *ref)
{
	const char *p[] = { ref };
	PGresult *r = agora_db_exec(c, "agora_outbox_has_ref", 1, p);
	bool more = agora_db_status(r, "agora_outbox_has_ref") != AGORA_QS_NONE;
	PQclear(r);
	return more;
}

/* In the claim's transaction: ms until the earliest message not due at
 * its start (at least 1); -1 for none (or an error). */
static long
next_due_ms(PGconn *c)
{
	PGresult *r = agora_db_exec(c, "agora_outbox_next", 0, NULL);
	long ms = -1;
	if (agora_db_status(r, "agora_outbox_next") == AGORA_QS_ONE && !PQgetisnull(r, 0, 0)) {
		ms = atol(PQgetvalue(r, 0, 0));
		if (ms < 1)
			ms = 1;
	}
	PQclear(r);
	return ms;
}

/* A worker: claims the messages committed in this process by id (woken
 * by the commit hook), then the next message of the same ref when the
 * settling found one (it may have
 * waited for the one just settled, here or in another replica); scans for
 * any due message at start, when another process notifies, when a retry
 * falls due and after a timeout — and keeps scanning while it finds some,
 * so a backlog drains without waiting. */
static void *
worker(void *arg)
{
	struct agora_outbox *ob = arg;
	uint64_t seen = 0;
	char *chain = NULL;	/* the ref of the message just settled */
	long ms = -1;		/* until the next scan, -1: the idle cap */
	enum job j = JOB_SCAN;	/* at start: send what is due already */
	long long hint = 0;
	pthread_mutex_lock(&ob->mu);
	seen = ob->gen;
	pthread_mutex_unlock(&ob->mu);
	PGconn *tuned = NULL;
	while (j != JOB_STOP) {
		PGconn *c = agora_db_conn();
		if (c && c != tuned) {
			/* The outbox is a queue: few live rows among many dead
			 * ones (a deleted row stays until no open transaction
			 * can see it, and workers hold theirs across a send).
			 * A plan cached while the table looked small would scan
			 * all of them; every lookup here has an index. */
			PGresult *sr = PQexec(c, "SET enable_seqscan = off");
			PQclear(sr);
			tuned = c;
		}
		if (!c) {
			free(chain);
			chain = NULL;
			j = wait_job(ob, &seen, &hint, DEGRADED_CAP_MS);
			continue;
		}
		char *ref = NULL;
		bool more = false;
		int n = 0;
		if (chain) {
			n = deliver_one(ob, c, CLAIM_REF, chain, &ref, &more, NULL);
			free(chain);
			chain = more ? ref : (free(ref), NULL);
			if (n > 0)
				continue;
		}
		if (j == JOB_HINT) {
			char id[24];
			snprintf(id, sizeof id, "%lld", hint);
			deliver_one(ob, c, CLAIM_ID, id, &chain, &more, NULL);
			j = JOB_WAIT;	/* done with it: the next job, without waiting if any */
		} else if (j == JOB_SCAN) {
			ms = -1;
			n = deliver_one(ob, c, CLAIM_ANY, NULL, &chain, &more, &ms);
			if (!more) {
				free(chain);
				chain = NULL;
			}
			if (n > 0)
				continue;	/* scan again: a backlog drains */
			if (n < 0)
				ms = DEGRADED_CAP_MS;
			/* A message not due yet (a retry — often one whose
			 * scan came a little before its next_at, which the
			 * database set after scan_later's clock): any worker
			 * scans then.  Kept only in this worker's wait, it was
			 * lost when a hint woke the worker first, and the
			 * message waited for the idle cap (30 s). */
			else if (ms > 0)
				scan_later(ob, ms);
		}
		if (chain && !more) {
			free(chain);
			chain = NULL;
		}
		if (chain)
			continue;
		j = wait_job(ob, &seen, &hint, ms);
		ms = -1;
	}
	free(chain);
	agora_db_close();
	return NULL;
}

/* ---- life cycle ---------------------------------------------------------------- */

struct agora_outbox *
agora_outbox_start(const struct agora_outbox_config *cfg)
{
	if (!cfg || !cfg->conninfo || !cfg->key || !cfg->kid || !cfg->self_id) {
		agora_logf(AGORA_LOG_ERROR, "outbox", "start: conninfo, key, kid and self_id are required");
		return NULL;
	}
	if (!agora_httpc_global_init())
		return NULL;
	struct agora_outbox *ob = xcalloc(1, sizeof *ob);
	ob->cfg = *cfg;
	struct agora_outbox_config *c = &ob->cfg;
	if (!c->workers)
		c->workers = 2;
	if (!c->max_attempts)
		c->max_attempts = 12;
	if (!c->base_delay_ms)
		c->base_delay_ms = 200;
	if (!c->max_delay_ms)
		c->max_delay_ms = 60000;
	if (c->max_delay_ms < c->base_delay_ms)
		c->max_delay_ms = c->base_delay_ms;
	if (c->timeout_ms <= 0)
		c->timeout_ms = 10000;
	ob->stop_pipe[0] = ob->stop_pipe[1] = -1;
	ob->kick_pipe[0] = ob->kick_pipe[1] = -1;
	pthread_mutex_init(&ob->mu, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&ob->cv, &ca);
	pthread_condattr_destroy(&ca);
	ob->workers = xcalloc(c->workers, sizeof *ob->workers);
	if (pipe2(ob->stop_pipe, O_CLOEXEC) != 0 ||
	    pipe2(ob->kick_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    pthread_create(&ob->listener, NULL, listener, ob) != 0)
		goto fail;
	ob->listener_started = true;
	for (; ob->nworkers < c->workers; ob->nworkers++)
		if (pthread_create(&ob->workers[ob->nworkers], NULL, worker, ob) != 0)
			goto fail;
	reg_add(ob);
	agora_log(AGORA_LOG_INFO, "outbox: started",
		  json_pack("{s:i, s:i}", "workers", (int)c->workers, "max_attempts",
			    (int)c->max_attempts));
	return ob;
fail:
	agora_logf(AGORA_LOG_ERROR, "outbox", "cannot start: %s", strerror(errno));
	agora_outbox_stop(ob);
	return NULL;
}

void
agora_outbox_stop(struct agora_outbox *ob)
{
	if (!ob)
		return;
	reg_remove(ob);
	pthread_mutex_lock(&ob->mu);
	ob->stopping = true;
	pthread_cond_broadcast(&ob->cv);
	pthread_mutex_unlock(&ob->mu);
	if (ob->stop_pipe[1] >= 0) {
		ssize_t w = write(ob->stop_pipe[1], "x", 1);
		(void)w;
	}
	if (ob->listener_started)
		pthread_join(ob->listener, NULL);
	for (unsigned i = 0; i < ob->nworkers; i++)
		pthread_join(ob->workers[i], NULL);
	for (int i = 0; i < 2; i++) {
		if (ob->stop_pipe[i] >= 0)
			close(ob->stop_pipe[i]);
		if (ob->kick_pipe[i] >= 0)
			close(ob->kick_pipe[i]);
	}
	pthread_cond_destroy(&ob->cv);
	pthread_mutex_destroy(&ob->mu);
	free(ob->workers);
	free(ob);
	agora_httpc_global_cleanup();
}
