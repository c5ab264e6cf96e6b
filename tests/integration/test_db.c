/* test_db.c — lib/db.c against a real PostgreSQL: migrations (once, in
 * order, under concurrency), prepared statements per thread, and the
 * transaction helper's retry on serialization failures and deadlocks,
 * statements deferred to the transaction's next round trip. */
#include "db.h"
#include "harness.h"
#include "util.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *conninfo;

static void
setup(void)
{
	conninfo = harness_db_create();
}

static void
teardown(void)
{
	agora_db_close();
	harness_db_drop(conninfo);
	free(conninfo);
}

TestSuite(db, .init = setup, .fini = teardown, .timeout = 60);

static const struct agora_migration migrations[] = {
	{ 1, "0001-first", "CREATE TABLE t (id int PRIMARY KEY, v text);" },
	{ 2, "0002-second", "ALTER TABLE t ADD COLUMN w int NOT NULL DEFAULT 0;\n"
			    "INSERT INTO t (id, v) VALUES (1, 'one');" },
	{ 0, NULL, NULL }
};

static void *
migrate_thread(void *arg)
{
	(void)arg;
	return (void *)(intptr_t)agora_db_migrate(conninfo, "test", migrations);
}

Test(db, migrations_apply_once_under_concurrency)
{
	pthread_t th[4];
	for (int i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, migrate_thread, NULL);
	for (int i = 0; i < 4; i++) {
		void *ok;
		pthread_join(th[i], &ok);
		cr_assert(ok, "every concurrent start succeeds");
	}
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM schema_migrations"), 2);
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t"), 1);
	cr_assert_eq(harness_db_count(conninfo, "SELECT max(version) FROM schema_migrations"), 2);
	/* Again: nothing to do, nothing changes. */
	cr_assert(agora_db_migrate(conninfo, "test", migrations));
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t"), 1);
}

Test(db, failing_migration_rolls_back)
{
	static const struct agora_migration bad[] = {
		{ 1, "0001-ok", "CREATE TABLE a (id int);" },
		{ 2, "0002-broken", "CREATE TABLE b (id int); SELECT no_such_function();" },
		{ 0, NULL, NULL }
	};
	cr_assert_not(agora_db_migrate(conninfo, "test", bad));
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM schema_migrations"), 1);
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM pg_tables WHERE tablename = 'b'"), 0);
}

static const struct agora_stmt stmts[] = {
	{ "insert_t", "INSERT INTO t (id, v) VALUES ($1::int, $2)" },
	{ "fail_with", "SELECT fail_with($1)" },
	{ "count_t", "SELECT count(*) FROM t WHERE id > $1::int" },
	{ NULL, NULL }
};
static const struct agora_stmt *const tables[] = { stmts, NULL };

struct retry_ctx {
	int calls;
	const char *sqlstate;	/* raised on the first call */
	int fail_times;
	int base;	/* ids used: base + call number */
};

static enum agora_qs
retry_fn(PGconn *c, void *arg)
{
	struct retry_ctx *ctx = arg;
	ctx->calls++;
	char id[16];
	snprintf(id, sizeof id, "%d", 100 + ctx->base + ctx->calls);
	const char *p[] = { id, "x" };
	PGresult *r = agora_db_exec(c, "insert_t", 2, p);
	enum agora_qs qs = agora_db_status(r, "insert_t");
	PQclear(r);
	if (qs != AGORA_QS_ONE)
		return qs;
	if (ctx->calls <= ctx->fail_times) {
		const char *fp[] = { ctx->sqlstate };
		r = agora_db_exec(c, "fail_with", 1, fp);
		qs = agora_db_status(r, "fail_with");
		PQclear(r);
		return qs;
	}
	return AGORA_QS_ONE;
}

static void
prepare_db(void)
{
	cr_assert(agora_db_migrate(conninfo, "test", migrations));
	PGconn *c = PQconnectdb(conninfo);
	PGresult *r = PQexec(c, "CREATE FUNCTION fail_with(code text) RETURNS int LANGUAGE plpgsql AS "
				"$$ BEGIN RAISE EXCEPTION 'injected' USING ERRCODE = code; END $$");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
	agora_db_setup(conninfo, tables);
}

Test(db, tx_retries_serialization_failures)
{
	prepare_db();
	struct retry_ctx ctx = { 0, "40001", 2, 0 };
	cr_assert_eq(agora_db_tx(retry_fn, &ctx, true), AGORA_QS_ONE);
	cr_assert_eq(ctx.calls, 3, "two failures, then success");
	/* Only the successful attempt's row is there. */
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t WHERE id > 100"), 1);
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t WHERE id = 103"), 1);
}

Test(db, tx_retries_deadlocks_then_gives_up)
{
	prepare_db();
	struct retry_ctx ctx = { 0, "40P01", 1, 0 };
	cr_assert_eq(agora_db_tx(retry_fn, &ctx, false), AGORA_QS_ONE);
	cr_assert_eq(ctx.calls, 2);
	struct retry_ctx always = { 0, "40001", 100, 50 };
	cr_assert_eq(agora_db_tx(retry_fn, &always, true), AGORA_QS_RETRY);
	cr_assert_eq(always.calls, 5, "bounded number of attempts");
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t WHERE id > 100"), 1);
}

Test(db, other_errors_are_not_retried)
{
	prepare_db();
	struct retry_ctx ctx = { 0, "22023", 1, 0 };
	cr_assert_eq(agora_db_tx(retry_fn, &ctx, false), AGORA_QS_HARD_ERROR);
	cr_assert_eq(ctx.calls, 1);
	/* A unique violation is reported as a conflict and rolled back. */
	struct retry_ctx dup = { 0, "23505", 1, 0 };
	cr_assert_eq(agora_db_tx(retry_fn, &dup, false), AGORA_QS_CONFLICT);
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t WHERE id > 100"), 0);
	/* The connection is usable afterwards. */
	cr_assert(agora_db_ping());
}

/* agora_db_after_commit: hooks run once per (hook, arg) after the commit,
 * with how often they were asked for; never for a rolled back attempt (a
 * retried transaction starts without hooks), never outside agora_db_tx. */
static struct {
	int runs;
	unsigned times;
	long rows_seen;		/* rows of t the hook could see: the commit is visible */
} hooked;

static void
count_hook(void *arg, unsigned times)
{
	(void)arg;
	hooked.runs++;
	hooked.times = times;
	hooked.rows_seen = harness_db_count(conninfo, "SELECT count(*) FROM t WHERE id > 100");
}

static enum agora_qs
hooking_fn(PGconn *c, void *arg)
{
	struct retry_ctx *ctx = arg;
	cr_assert_eq(agora_db_after_commit(count_hook, NULL), 1, "first time in this attempt");
	cr_assert_eq(agora_db_after_commit(count_hook, NULL), 2);
	return retry_fn(c, ctx);
}

Test(db, after_commit_hooks_run_after_the_commit_only)
{
	prepare_db();
	cr_assert_eq(agora_db_after_commit(count_hook, NULL), 0, "outside agora_db_tx: refused");
	struct retry_ctx ctx = { 0, "40001", 1, 0 };
	cr_assert_eq(agora_db_tx(hooking_fn, &ctx, true), AGORA_QS_ONE);
	cr_assert_eq(ctx.calls, 2, "one failure, then success");
	cr_assert_eq(hooked.runs, 1, "once, for the attempt that committed");
	cr_assert_eq(hooked.times, 2);
	cr_assert_eq(hooked.rows_seen, 1, "after the commit: its row is visible to others");
	struct retry_ctx bad = { 0, "22023", 1, 10 };
	cr_assert_eq(agora_db_tx(hooking_fn, &bad, false), AGORA_QS_HARD_ERROR);
	cr_assert_eq(hooked.runs, 1, "not for a rollback");
	cr_assert_eq(agora_db_after_commit(count_hook, NULL), 0, "and not after the transaction");
}

/* A connection the server closed while it sat idle in this thread (here
 * pg_terminate_backend; in the load test's kill -9 of PostgreSQL, every
 * one) is replaced by agora_db_conn() before it is handed out: the first
 * statement after PostgreSQL is back must not fail (it did — a 503 for the
 * first request each HTTP thread served, and a 404 that dead-lettered a
 * DSP message, when that statement was the replay-cache check). */
Test(db, connection_closed_by_the_server_is_replaced)
{
	prepare_db();
	PGconn *c = agora_db_conn();
	cr_assert_not_null(c);
	PGresult *r = PQexec(c, "SELECT pg_backend_pid()");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK);
	char *pid = xstrdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	char *kill = xasprintf("SELECT count(*) FROM (SELECT pg_terminate_backend(%s)) t", pid);
	cr_assert_eq(harness_db_count(conninfo, kill), 1);
	char *gone = xasprintf("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", pid);
	for (int i = 0; i < 100 && harness_db_count(conninfo, gone); i++)
		usleep(20000);
	cr_assert_eq(harness_db_count(conninfo, gone), 0, "backend %s terminated", pid);
	c = agora_db_conn();
	cr_assert_not_null(c);
	r = PQexec(c, "SELECT pg_backend_pid()");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "the first statement after: %s",
		     PQresultErrorMessage(r));
	cr_assert_str_neq(PQgetvalue(r, 0, 0), pid, "a new backend");
	PQclear(r);
	/* Prepared statements come with the new connection. */
	const char *p[] = { "7", "seven" };
	r = agora_db_exec(c, "insert_t", 2, p);
	cr_assert_eq(agora_db_status(r, "insert_t"), AGORA_QS_ONE);
	PQclear(r);
	free(gone);
	free(kill);
	free(pid);
}

/* agora_db_defer: a deferred statement goes with the next statement (which
 * sees its effect) or with the COMMIT; its result reaches done; a failure
 * rolls the whole transaction back — a serialization failure is retried,
 * a unique violation is a plain error, not the next statement's conflict;
 * outside agora_db_tx it runs at once. */
struct defer_ctx {
	int calls;
	const char *ids[3];	/* deferred inserts */
	const char *fail;	/* deferred fail_with on the first call */
	bool then_count;	/* a statement after them */
	long counted;
	int done_calls;
};

static void
defer_done(void *arg, const PGresult *r)
{
	struct defer_ctx *x = arg;
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK);
	x->done_calls++;
}

static enum agora_qs
defer_fn(PGconn *c, void *arg)
{
	struct defer_ctx *x = arg;
	x->calls++;
	for (size_t i = 0; i < 3 && x->ids[i]; i++) {
		const char *p[] = { x->ids[i], "deferred" };
		cr_assert_eq(agora_db_defer(c, "insert_t", 2, p, defer_done, x), AGORA_QS_ONE);
	}
	if (x->fail && x->calls == 1) {
		const char *fp[] = { x->fail };
		cr_assert_eq(agora_db_defer(c, "fail_with", 1, fp, NULL, NULL), AGORA_QS_ONE);
	}
	if (!x->then_count)
		return AGORA_QS_ONE;
	const char *p[] = { "200" };
	PGresult *r = agora_db_exec(c, "count_t", 1, p);
	enum agora_qs qs = agora_db_status(r, "count_t");
	if (qs == AGORA_QS_ONE)
		x->counted = atol(PQgetvalue(r, 0, 0));
	PQclear(r);
	return qs;
}

Test(db, deferred_statements_go_with_the_next_round_trip)
{
	prepare_db();
	/* With a statement after them, which sees them. */
	struct defer_ctx a = { .ids = { "201", "202" }, .then_count = true };
	cr_assert_eq(agora_db_tx(defer_fn, &a, false), AGORA_QS_ONE);
	cr_assert_eq(a.counted, 2);
	cr_assert_eq(a.done_calls, 2);
	/* Only deferred statements: BEGIN, them and COMMIT in one. */
	struct defer_ctx b = { .ids = { "203" } };
	cr_assert_eq(agora_db_tx(defer_fn, &b, false), AGORA_QS_ONE);
	cr_assert_eq(b.done_calls, 1);
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t WHERE id > 200"), 3);
	/* A deferred unique violation fails the transaction as a plain error,
	 * at the next statement or at the COMMIT, and nothing of it stays. */
	struct defer_ctx dup = { .ids = { "204", "201" }, .then_count = true };
	cr_assert_eq(agora_db_tx(defer_fn, &dup, false), AGORA_QS_HARD_ERROR);
	cr_assert_eq(dup.calls, 1);
	struct defer_ctx dup2 = { .ids = { "205", "201" } };
	cr_assert_eq(agora_db_tx(defer_fn, &dup2, false), AGORA_QS_HARD_ERROR);
	cr_assert_eq(dup2.done_calls, 1, "done for the one that succeeded only");
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t WHERE id > 200"), 3);
	/* A deferred serialization failure: the transaction runs again. */
	struct defer_ctx retry = { .ids = { "206" }, .fail = "40001" };
	cr_assert_eq(agora_db_tx(defer_fn, &retry, true), AGORA_QS_ONE);
	cr_assert_eq(retry.calls, 2);
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t WHERE id = 206"), 1);
	/* Outside agora_db_tx: at once. */
	const char *p[] = { "207", "now" };
	cr_assert_eq(agora_db_defer(agora_db_conn(), "insert_t", 2, p, NULL, NULL), AGORA_QS_ONE);
	cr_assert_eq(harness_db_count(conninfo, "SELECT count(*) FROM t WHERE id = 207"), 1);
	const char *d[] = { "207", "again" };
	cr_assert_eq(agora_db_defer(agora_db_conn(), "insert_t", 2, d, NULL, NULL), AGORA_QS_CONFLICT);
	cr_assert(agora_db_ping());
}
