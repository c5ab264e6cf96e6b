/* db.c — see db.h. */
#include "db.h"
#include "log.h"
#include "util.h"

#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *db_conninfo;
static const struct agora_stmt *const *db_tables;
static pthread_key_t conn_key;
static pthread_once_t key_once = PTHREAD_ONCE_INIT;

static void
conn_destroy(void *p)
{
	PQfinish(p);
}

static void
make_key(void)
{
	pthread_key_create(&conn_key, conn_destroy);
}

const char *
agora_db_conninfo(void)
{
	return db_conninfo;
}

void
agora_db_setup(const char *conninfo, const struct agora_stmt *const *tables)
{
	pthread_once(&key_once, make_key);
	db_conninfo = conninfo;
	db_tables = tables;
}

static PGconn *
connect_and_prepare(void)
{
	PGconn *c = PQconnectdb(db_conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		agora_logf(AGORA_LOG_ERROR, "db", "connect failed: %s", PQerrorMessage(c));
		PQfinish(c);
		return NULL;
	}
	for (const struct agora_stmt *const *t = db_tables; t && *t; t++) {
		for (const struct agora_stmt *s = *t; s->name; s++) {
			PGresult *r = PQprepare(c, s->name, s->sql, 0, NULL);
			if (PQresultStatus(r) != PGRES_COMMAND_OK) {
				agora_logf(AGORA_LOG_ERROR, "db", "prepare %s failed: %s", s->name,
					   PQresultErrorMessage(r));
				PQclear(r);
				PQfinish(c);
				return NULL;
			}
			PQclear(r);
		}
	}
	return c;
}

/* Whether an idle connection was closed by the server meanwhile (a
 * restart of PostgreSQL, pg_terminate_backend): the server then sends a
 * FATAL error and closes, so the socket turns readable.  libpq notices only
 * when the next statement fails, which would make that statement — often a
 * request's first — fail after PostgreSQL is back.  A poll() per call, no
 * wait. */
static bool
closed_by_server(PGconn *c)
{
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		return false;
	/* The FATAL message and the end of the stream may take two reads. */
	for (int i = 0; i < 4; i++) {
		struct pollfd p = { PQsocket(c), POLLIN, 0 };
		if (p.fd < 0 || poll(&p, 1, 0) <= 0)
			return false;
		if (!PQconsumeInput(c) || PQstatus(c) != CONNECTION_OK)
			return true;
	}
	return false;
}

PGconn *
agora_db_conn(void)
{
	pthread_once(&key_once, make_key);
	PGconn *c = pthread_getspecific(conn_key);
	if (c && PQstatus(c) == CONNECTION_OK && !closed_by_server(c))
		return c;
	if (c) {
		PQfinish(c);
		pthread_setspecific(conn_key, NULL);
	}
	c = connect_and_prepare();
	pthread_setspecific(conn_key, c);
	return c;
}

void
agora_db_close(void)
{
	pthread_once(&key_once, make_key);
	PGconn *c = pthread_getspecific(conn_key);
	PQfinish(c);
	pthread_setspecific(conn_key, NULL);
}

/* The BEGIN of the transaction agora_db_tx runs on this thread, not sent
 * yet: it goes with the transaction's first statement, in one round trip
 * (agora_db_exec), or on its own when something else comes first
 * (agora_db_flush_begin). */
static _Thread_local struct {
	PGconn *c;
	const char *sql;
} pending_begin;

/* The connection of the transaction agora_db_tx runs on this thread
 * (NULL outside one). */
static _Thread_local PGconn *tx_conn;

/* Statements agora_db_defer queued in that transaction, not sent yet:
 * they go with its next round trip. */
#define MAX_DEFERRED 16
static _Thread_local struct {
	size_t n;
	struct {
		const char *name;
		int nparams;
		char **params;
		agora_db_result_fn done;
		void *arg;
	} s[MAX_DEFERRED];
} deferred;

static void
deferred_drop(void)
{
	for (size_t i = 0; i < deferred.n; i++) {
		for (int k = 0; k < deferred.s[i].nparams; k++)
			free(deferred.s[i].params[k]);
		free(deferred.s[i].params);
	}
	deferred.n = 0;
}

static bool
has_pending(PGconn *c)
{
	return c && (pending_begin.c == c || (tx_conn == c && deferred.n > 0));
}

/* Send what is pending on c (the BEGIN, the deferred statements) followed
 * by `last` (may be NULL) in one round trip.  Returns NULL when every
 * deferred statement succeeded, else the first failure's result (the
 * caller's to PQclear; logged with its statement's name), after which the
 * server skipped the rest — `last` included, whose result is then
 * PGRES_PIPELINE_ABORTED. */
#define MAX_STEPS 4
static PGresult *
flush(PGconn *c, const struct agora_db_step *last, size_t nlast)
{
	struct agora_db_step steps[MAX_DEFERRED + 1 + MAX_STEPS];
	PGresult *res[MAX_DEFERRED];
	size_t n = 0, first_deferred;
	if (pending_begin.c == c) {
		pending_begin.c = NULL;
		steps[n++] = (struct agora_db_step){ .sql = pending_begin.sql };
	}
	first_deferred = n;
	size_t nd = tx_conn == c ? deferred.n : 0;
	for (size_t i = 0; i < nd; i++) {
		res[i] = NULL;
		steps[n++] = (struct agora_db_step){ .stmt = deferred.s[i].name,
						     .n = deferred.s[i].nparams,
						     .params = (const char *const *)deferred.s[i].params,
						     .res = &res[i] };
	}
	for (size_t i = 0; i < nlast; i++)
		steps[n++] = last[i];
	agora_db_pipeline(c, steps, n);
	PGresult *fail = NULL;
	for (size_t i = 0; i < nd; i++) {
		ExecStatusType st = PQresultStatus(res[i]);
		if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
			if (deferred.s[i].done)
				deferred.s[i].done(deferred.s[i].arg, res[i]);
			PQclear(res[i]);
		} else if (!fail && st != PGRES_PIPELINE_ABORTED) {
			agora_db_status(res[i], deferred.s[i].name);	/* logs it */
			fail = res[i];
		} else {
			PQclear(res[i]);
		}
	}
	(void)first_deferred;
	if (nd)
		deferred_drop();
	return fail;
}

/* A deferred statement's failure as the result of the statement it went
 * with: a serialization failure or deadlock stays one (the transaction is
 * retried); anything else becomes a plain error, so that a unique
 * violation of a deferred INSERT is not taken for one of that statement. */
static PGresult *
deferred_failure(PGconn *c, PGresult *fail)
{
	const char *state = PQresultErrorField(fail, PG_DIAG_SQLSTATE);
	if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01")))
		return fail;
	PQclear(fail);
	return PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
}

bool
agora_db_flush_begin(PGconn *c)
{
	if (!has_pending(c))
		return true;
	bool begin = pending_begin.c == c;
	PGresult *fail = flush(c, NULL, 0);
	PQclear(fail);
	/* After a failure the transaction is failed: what follows fails too
	 * (and agora_db_tx rolls back). */
	return !fail && (!begin || PQtransactionStatus(c) == PQTRANS_INTRANS);
}

PGresult *
agora_db_exec(PGconn *c, const char *name, int nparams, const char *const *params)
{
	PGresult *r = NULL;
	if (has_pending(c)) {
		struct agora_db_step last = { .stmt = name, .n = nparams, .params = params, .res = &r };
		PGresult *fail = flush(c, &last, 1);
		if (fail) {
			PQclear(r);
			r = deferred_failure(c, fail);
		} else if (r && PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
			PQclear(r);	/* BEGIN failed (logged): say so */
			r = NULL;
		}
	} else {
		r = PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);
	}
	if (!r)
		r = PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
	return r;
}

void
agora_db_exec_steps(PGconn *c, const struct agora_db_step *steps, size_t n)
{
	if (n > MAX_STEPS)
		abort();	/* a programming error */
	struct agora_db_step last[MAX_STEPS] = { { 0 } };
	PGresult *res[MAX_STEPS];
	for (size_t i = 0; i < n; i++) {
		last[i] = steps[i];
		last[i].res = &res[i];
		res[i] = NULL;
	}
	PGresult *fail = c ? flush(c, last, n) : NULL;
	for (size_t i = 0; i < n; i++) {
		PGresult *r = res[i];
		if (fail && i == 0) {
			PQclear(r);
			r = deferred_failure(c, fail);
		} else if (!r || PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
			/* skipped after an earlier failure (logged, or the
			 * caller's to classify in an earlier result) */
			PQclear(r);
			r = PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
		}
		*steps[i].res = r;
	}
}

enum agora_qs
agora_db_defer(PGconn *c, const char *name, int nparams, const char *const *params,
	       agora_db_result_fn done, void *arg)
{
	if (!c || c != tx_conn || deferred.n == MAX_DEFERRED) {
		PGresult *r = agora_db_exec(c, name, nparams, params);
		enum agora_qs qs = agora_db_status(r, name);
		if (done && qs >= 0)
			done(arg, r);
		PQclear(r);
		return qs;
	}
	size_t i = deferred.n++;
	deferred.s[i].name = name;
	deferred.s[i].nparams = nparams;
	deferred.s[i].params = nparams ? xcalloc((size_t)nparams, sizeof(char *)) : NULL;
	for (int k = 0; k < nparams; k++)
		deferred.s[i].params[k] = params[k] ? xstrdup(params[k]) : NULL;
	deferred.s[i].done = done;
	deferred.s[i].arg = arg;
	return AGORA_QS_ONE;
}

enum agora_qs
agora_db_status(PGresult *res, const char *name)
{
	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
		return PQntuples(res) > 0 ? AGORA_QS_ONE : AGORA_QS_NONE;
	case PGRES_COMMAND_OK: {
		const char *n = PQcmdTuples(res);
		return (n && *n && !strcmp(n, "0")) ? AGORA_QS_NONE : AGORA_QS_ONE;
	}
	default:
		break;
	}
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (state && (!strcmp(state, "40001") || !strcmp(state, "40P01")))
		return AGORA_QS_RETRY;
	if (state && !strcmp(state, "23505"))
		return AGORA_QS_CONFLICT;
	agora_log(AGORA_LOG_ERROR, "db",
		  json_pack("{s:s, s:s, s:s}", "statement", name ? name : "?", "sqlstate",
			    state ? state : "", "detail", PQresultErrorMessage(res)));
	return AGORA_QS_HARD_ERROR;
}

enum agora_qs
agora_db_get_json(const char *name, const char *param, json_t **doc, char **second)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return AGORA_QS_HARD_ERROR;
	const char *p[] = { param };
	PGresult *r = agora_db_exec(c, name, param ? 1 : 0, p);
	enum agora_qs qs = agora_db_status(r, name);
	if (qs == AGORA_QS_ONE) {
		*doc = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
		if (second)
			*second = xstrdup(PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return qs;
}

bool
agora_db_pipeline(PGconn *c, const struct agora_db_step *steps, size_t n)
{
	bool ok = PQenterPipelineMode(c) == 1;
	size_t sent = 0;
	for (; ok && sent < n; sent++) {
		const struct agora_db_step *s = &steps[sent];
		ok = s->stmt ? PQsendQueryPrepared(c, s->stmt, s->n, s->params, NULL, NULL, 0) == 1
			     : PQsendQueryParams(c, s->sql, 0, NULL, NULL, NULL, NULL, 0) == 1;
	}
	if (sent > 0 && PQpipelineSync(c) != 1)
		ok = false;
	/* Each step's result, then the NULL that ends it; then the Sync's. */
	for (size_t i = 0; i < n; i++) {
		const struct agora_db_step *s = &steps[i];
		PGresult *r = i < sent ? PQgetResult(c) : NULL;
		if (!r)
			r = PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
		else
			while (PQgetResult(c))
				;	/* cannot be: one statement, one result */
		/* A result handed back is the caller's to classify (and log). */
		ExecStatusType st = PQresultStatus(r);
		if (st == PGRES_PIPELINE_ABORTED ||
		    (s->res ? st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK
			    : agora_db_status(r, s->stmt ? s->stmt : s->sql) < 0))
			ok = false;
		if (s->res)
			*s->res = r;
		else
			PQclear(r);
	}
	/* Drain up to the Sync (a broken connection ends with NULLs). */
	for (int guard = 0; guard < 16 && PQpipelineStatus(c) != PQ_PIPELINE_OFF; guard++) {
		PGresult *r = PQgetResult(c);
		ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
		PQclear(r);
		if ((st == PGRES_PIPELINE_SYNC || !r) && PQexitPipelineMode(c) == 1)
			break;
		if (PQstatus(c) != CONNECTION_OK)
			break;
	}
	return ok && PQpipelineStatus(c) == PQ_PIPELINE_OFF;
}

static enum agora_qs
simple(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	enum agora_qs qs = agora_db_status(r, sql);
	PQclear(r);
	return qs;
}

/* COMMIT, with whatever is still pending (the BEGIN, deferred statements)
 * in the same round trip. */
static enum agora_qs
commit(PGconn *c)
{
	if (!has_pending(c))
		return simple(c, "COMMIT");
	PGresult *r = NULL;
	struct agora_db_step last = { .sql = "COMMIT", .res = &r };
	PGresult *fail = flush(c, &last, 1);
	enum agora_qs qs;
	if (fail) {
		PQclear(r);
		r = deferred_failure(c, fail);
		const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
		qs = state && (!strcmp(state, "40001") || !strcmp(state, "40P01"))
			     ? AGORA_QS_RETRY : AGORA_QS_HARD_ERROR;
	} else {
		qs = agora_db_status(r, "COMMIT");
	}
	PQclear(r);
	return qs;
}

/* The hooks of the transaction agora_db_tx runs on this thread. */
#define MAX_COMMIT_HOOKS 8
static _Thread_local struct {
	bool in_tx;
	size_t n;
	struct {
		agora_db_commit_hook hook;
		void *arg;
		unsigned times;
	} h[MAX_COMMIT_HOOKS];
} tx_hooks;

bool
agora_db_in_tx(void)
{
	return tx_hooks.in_tx;
}

unsigned
agora_db_after_commit(agora_db_commit_hook hook, void *arg)
{
	if (!tx_hooks.in_tx || !hook)
		return 0;
	for (size_t i = 0; i < tx_hooks.n; i++)
		if (tx_hooks.h[i].hook == hook && tx_hooks.h[i].arg == arg)
			return ++tx_hooks.h[i].times;
	if (tx_hooks.n == MAX_COMMIT_HOOKS)
		return 0;
	tx_hooks.h[tx_hooks.n].hook = hook;
	tx_hooks.h[tx_hooks.n].arg = arg;
	tx_hooks.h[tx_hooks.n].times = 1;
	tx_hooks.n++;
	return 1;
}

/* Leave the transaction; run its hooks when it committed. */
static void
tx_leave(bool committed)
{
	size_t n = tx_hooks.n;
	tx_hooks.in_tx = false;
	tx_hooks.n = 0;
	for (size_t i = 0; committed && i < n; i++)
		tx_hooks.h[i].hook(tx_hooks.h[i].arg, tx_hooks.h[i].times);
}

enum agora_qs
agora_db_tx(enum agora_qs (*fn)(PGconn *c, void *ctx), void *ctx, bool serializable)
{
	enum agora_qs qs = AGORA_QS_HARD_ERROR;
	for (int attempt = 0; attempt < 5; attempt++) {
		PGconn *c = agora_db_conn();
		if (!c)
			return AGORA_QS_HARD_ERROR;
		/* BEGIN goes with fn's first statement (agora_db_exec). */
		pending_begin.c = c;
		pending_begin.sql = serializable ? "BEGIN ISOLATION LEVEL SERIALIZABLE" : "BEGIN";
		tx_hooks.in_tx = true;
		tx_hooks.n = 0;
		tx_conn = c;
		deferred_drop();
		qs = fn(c, ctx);
		/* fn ran or deferred a statement */
		bool begun = pending_begin.c != c || deferred.n > 0;
		if (qs >= 0 && qs != AGORA_QS_CONFLICT) {
			enum agora_qs cq = begun ? commit(c) : AGORA_QS_ONE;
			pending_begin.c = NULL;
			tx_conn = NULL;
			tx_leave(cq >= 0);
			if (cq >= 0)
				return qs;
			qs = cq;
			if (PQtransactionStatus(c) != PQTRANS_IDLE)
				simple(c, "ROLLBACK");
		} else {
			deferred_drop();
			bool sent = pending_begin.c != c;
			pending_begin.c = NULL;
			tx_conn = NULL;
			tx_leave(false);
			if (sent)
				simple(c, "ROLLBACK");
		}
		if (qs != AGORA_QS_RETRY)
			return qs;
		/* Jittered backoff: 1, 2, 4, 8 ms times a random factor. */
		struct timespec ts = { 0, (long)((1L << attempt) * 1000000L * (50 + rand() % 100) / 100) };
		nanosleep(&ts, NULL);
	}
	return qs;
}

bool
agora_db_ping(void)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return false;
	PGresult *r = PQexec(c, "SELECT 1");
	bool ok = PQresultStatus(r) == PGRES_TUPLES_OK;
	PQclear(r);
	if (!ok)
		agora_db_close();
	return ok;
}

static bool
exec_ok(PGconn *c, const char *sql, int n, const char *const *params)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
	if (!ok)
		agora_logf(AGORA_LOG_ERROR, "migrate", "%s", PQresultErrorMessage(r));
	PQclear(r);
	return ok;
}

bool
agora_db_migrate(const char *conninfo, const char *component,
		 const struct agora_migration *migrations)
{
	bool ok = false;
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		agora_logf(AGORA_LOG_ERROR, "migrate", "connect failed: %s", PQerrorMessage(c));
		goto out;
	}
	/* Quiet NOTICEs such as "relation already exists, skipping". */
	if (!exec_ok(c, "SET client_min_messages = warning", 0, NULL))
		goto out;
	const char *lock_params[] = { component };
	if (!exec_ok(c, "SELECT pg_advisory_lock(hashtext('agora-migrate:' || $1))", 1, lock_params))
		goto out;
	if (!exec_ok(c,
		     "CREATE TABLE IF NOT EXISTS schema_migrations ("
		     " version integer PRIMARY KEY, name text NOT NULL,"
		     " applied_at timestamptz NOT NULL DEFAULT now())", 0, NULL))
		goto unlock;
	for (const struct agora_migration *m = migrations; m->name; m++) {
		char ver[16];
		snprintf(ver, sizeof ver, "%d", m->version);
		const char *p[] = { ver, m->name };
		PGresult *r = PQexecParams(c, "SELECT 1 FROM schema_migrations WHERE version = $1",
					   1, NULL, p, NULL, NULL, 0);
		bool done = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;
		bool query_ok = PQresultStatus(r) == PGRES_TUPLES_OK;
		PQclear(r);
		if (!query_ok)
			goto unlock;
		if (done)
			continue;
		if (!exec_ok(c, "BEGIN", 0, NULL))
			goto unlock;
		/* PQexec (not Params) so a file may hold several statements. */
		PGresult *mr = PQexec(c, m->sql);
		bool applied = PQresultStatus(mr) == PGRES_COMMAND_OK ||
			       PQresultStatus(mr) == PGRES_TUPLES_OK;
		if (!applied)
			agora_log(AGORA_LOG_ERROR, "migrate",
				  json_pack("{s:s, s:s}", "migration", m->name, "detail",
					    PQresultErrorMessage(mr)));
		PQclear(mr);
		if (!applied ||
		    !exec_ok(c, "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", 2, p) ||
		    !exec_ok(c, "COMMIT", 0, NULL)) {
			exec_ok(c, "ROLLBACK", 0, NULL);
			goto unlock;
		}
		agora_log(AGORA_LOG_INFO, "migrate",
			  json_pack("{s:s, s:s}", "component", component, "applied", m->name));
	}
	ok = true;
unlock:
	exec_ok(c, "SELECT pg_advisory_unlock(hashtext('agora-migrate:' || $1))", 1, lock_params);
out:
	PQfinish(c);
	return ok;
}

enum agora_qs
agora_db_one_json(PGconn *c, const char *name, int n, const char *const *params, json_t **out)
{
	*out = NULL;
	if (!c && !(c = agora_db_conn()))
		return AGORA_QS_HARD_ERROR;
	PGresult *res = agora_db_exec(c, name, n, params);
	enum agora_qs qs = agora_db_status(res, name);
	if (qs == AGORA_QS_ONE && PQntuples(res) > 0 && !PQgetisnull(res, 0, 0)) {
		*out = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_ANY, NULL);
		if (!*out)
			qs = AGORA_QS_HARD_ERROR;
	} else if (qs == AGORA_QS_ONE) {
		qs = AGORA_QS_NONE;
	}
	PQclear(res);
	return qs;
}

enum agora_qs
agora_db_command(PGconn *c, const char *name, int n, const char *const *params)
{
	if (!c && !(c = agora_db_conn()))
		return AGORA_QS_HARD_ERROR;
	PGresult *res = agora_db_exec(c, name, n, params);
	enum agora_qs qs = agora_db_status(res, name);
	PQclear(res);
	return qs;
}
