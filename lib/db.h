/* db.h — PostgreSQL access on libpq.
 *
 * One connection per thread (each libmicrohttpd worker gets its own,
 * opened on first use and re-opened after a failure).  Every statement a
 * component uses is declared once in a table of struct agora_stmt and
 * prepared by name on each new connection; SQL lives only in db_*.c files.
 * Functions that run queries return enum agora_qs.
 */
#ifndef AGORA_DB_H
#define AGORA_DB_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>

enum agora_qs {
	AGORA_QS_HARD_ERROR = -2,	/* broken connection, bad SQL, … */
	AGORA_QS_RETRY = -1,		/* serialization failure or deadlock */
	AGORA_QS_NONE = 0,		/* no row */
	AGORA_QS_ONE = 1,		/* one row (or success) */
	AGORA_QS_CONFLICT = 2,		/* unique violation */
};

/* SQL expression rendering a timestamptz column as RFC 3339 UTC. */
#define AGORA_SQL_TS(col) \
	"to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

/* An UPDATE (without RETURNING) that fails — division by zero — when it
 * matches no row, instead of reporting "none": for agora_db_defer, whose
 * statement usually goes with the COMMIT, where "no row" could not stop the
 * transaction any more. */
#define AGORA_SQL_ONE_ROW(update) \
	"WITH u AS (" update " RETURNING 1) SELECT 1 / count(*)::int FROM u"

struct agora_stmt {
	const char *name;
	const char *sql;
};

struct agora_migration {
	int version;
	const char *name;
	const char *sql;
};

/* Set the connection string and the statement tables (a NULL-terminated
 * array of pointers to {NULL,NULL}-terminated arrays) before any thread
 * calls agora_db_conn().  Pointers are borrowed for the process's life. */
void agora_db_setup(const char *conninfo, const struct agora_stmt *const *tables);

/* The connection string given to agora_db_setup() (for a connection of
 * one's own, e.g. a streaming cursor). */
const char *agora_db_conninfo(void);
/* This thread's connection, connected and prepared; NULL when the database
 * cannot be reached (logged). */
PGconn *agora_db_conn(void);
/* Close this thread's connection (threads that exit call it implicitly). */
void agora_db_close(void);

/* Execute prepared statement `name`; never NULL (PQclear it).  Inside
 * agora_db_tx the transaction's BEGIN goes with its first statement, in
 * one round trip, and so do the statements deferred before it
 * (agora_db_defer): code that sends anything on c by other means (PQexec*,
 * PQprepare, COPY) calls agora_db_flush_begin(c) first. */
PGresult *agora_db_exec(PGconn *c, const char *name, int nparams, const char *const *params);
/* One statement of agora_db_pipeline: prepared statement `stmt` with its
 * parameters, or, when stmt is NULL, `sql` without parameters (BEGIN,
 * COMMIT, SAVEPOINT …).  When res is not NULL the statement's result is
 * stored there (never NULL; PQclear it), else it is checked and cleared. */
struct agora_db_step {
	const char *stmt;
	const char *sql;
	int n;
	const char *const *params;
	PGresult **res;
};
/* Send steps[0..n) in one round trip (libpq pipeline mode, one Sync at the
 * end) and collect their results.  After a failing step the server skips
 * the rest (their results are PGRES_PIPELINE_ABORTED); a transaction the
 * steps opened stays open (failed, when a step failed).  true when every
 * step succeeded (failures of steps without res logged by agora_db_status
 * with the statement name or SQL). */
bool agora_db_pipeline(PGconn *c, const struct agora_db_step *steps, size_t n);
/* Like agora_db_exec for up to 4 prepared statements (steps[i].stmt; res
 * not NULL) sent in one round trip, after what is pending (the BEGIN,
 * deferred statements): for statements that do not need each other's
 * answers — each still runs with a snapshot of its own, after the one
 * before it (a read after a row lock sees what committed while it
 * waited).  Every *steps[i].res is set, never NULL (PQclear them); a
 * statement skipped after a failure gets a plain error. */
void agora_db_exec_steps(PGconn *c, const struct agora_db_step *steps, size_t n);
/* Send the BEGIN of the agora_db_tx running on c when it has not gone yet
 * (see agora_db_exec), and its deferred statements (agora_db_defer); true
 * when there was nothing to send or it all succeeded. */
bool agora_db_flush_begin(PGconn *c);
/* Inside agora_db_tx, on its connection: queue prepared statement `name`
 * to go with the transaction's next round trip — the next agora_db_exec,
 * agora_db_flush_begin, or the COMMIT — instead of taking one of its own,
 * and return ONE.  For writes whose outcome the caller needs only as
 * success or failure, and that cannot match no row (an INSERT, an UPDATE
 * of a row the transaction has locked): they usually go with the COMMIT,
 * where "no row" could not roll anything back.  When one fails, the server
 * skips what follows it: the statement it went with fails (with its
 * SQLSTATE when a serialization failure or deadlock, else as a plain
 * error, so that a deferred unique violation is not taken for that
 * statement's), or the COMMIT does, and agora_db_tx rolls back (and
 * retries a serialization failure).  done(arg, result), when not NULL,
 * gets the statement's result (borrowed) once it succeeded, before the
 * COMMIT's hooks run.  Parameters are copied.  Outside agora_db_tx (or
 * past 16 queued statements) the statement runs at once: its
 * agora_db_status. */
typedef void (*agora_db_result_fn)(void *arg, const PGresult *r);
enum agora_qs agora_db_defer(PGconn *c, const char *name, int nparams, const char *const *params,
			     agora_db_result_fn done, void *arg);
/* true while agora_db_tx runs a transaction on this thread (whether or not
 * its BEGIN has gone yet). */
bool agora_db_in_tx(void);

/* Classify a result: ONE for rows ≥ 1 or a command that succeeded,
 * NONE for zero rows, CONFLICT/RETRY/HARD_ERROR from the SQLSTATE.
 * Logs hard errors with the statement name. */
enum agora_qs agora_db_status(PGresult *res, const char *name);

/* Run prepared statement `name` with one parameter and read its first row:
 * column 0 parsed as JSON into *doc (new reference), column 1 (if second
 * is not NULL) copied into *second (heap).  ONE, NONE or an error. */
enum agora_qs agora_db_get_json(const char *name, const char *param, json_t **doc, char **second);

/* Run prepared statement name on c (NULL: this thread's connection) and
 * parse column 0 of row 0 as JSON (any value) into *out (new reference):
 * ONE, NONE (no row, or SQL NULL) or an error (HARD_ERROR also when the
 * text is not JSON). */
enum agora_qs agora_db_one_json(PGconn *c, const char *name, int n, const char *const *params,
				json_t **out);
/* Run prepared statement name on c (NULL: this thread's connection) for
 * its effect: agora_db_status() of its result. */
enum agora_qs agora_db_command(PGconn *c, const char *name, int n, const char *const *params);
/* Run fn(conn, ctx) in one transaction (BEGIN ISOLATION LEVEL
 * `serializable` when serializable is true, else READ COMMITTED) and
 * COMMIT it; roll back and run it again, up to 5 times with jittered
 * backoff, when fn or COMMIT reports a serialization failure (40001) or a
 * deadlock (40P01).  fn returns AGORA_QS_*; a negative value or CONFLICT
 * rolls back.  Returns fn's final status (HARD_ERROR when no connection). */
enum agora_qs agora_db_tx(enum agora_qs (*fn)(PGconn *c, void *ctx), void *ctx,
			  bool serializable);

/* Inside agora_db_tx's fn: run hook(arg, times) on this thread once the
 * transaction has committed — times = how often it was asked for with this
 * hook and arg during the transaction.  Nothing runs when the transaction
 * rolls back (a retry starts with no hooks).  For work that must follow a
 * commit without being part of it: waking the outbox's workers, the
 * ledger's sequencer (instead of a NOTIFY in the transaction, which
 * PostgreSQL serialises with every other notifying commit across its WAL
 * flush).  Returns how often it has been asked for now (1 the first time in
 * a transaction: state kept for the hook can start afresh), or 0, doing
 * nothing, outside agora_db_tx: the caller then does whatever it did before
 * (e.g. NOTIFY in the transaction). */
typedef void (*agora_db_commit_hook)(void *arg, unsigned times);
unsigned agora_db_after_commit(agora_db_commit_hook hook, void *arg);

/* true when SELECT 1 succeeds on this thread's connection. */
bool agora_db_ping(void);

/* Apply the migrations that schema_migrations does not list yet, in order,
 * each in its own transaction, under a session advisory lock so that
 * concurrent starts apply each once.  Uses a connection of its own.
 * false (logged) on error. */
bool agora_db_migrate(const char *conninfo, const char *component,
		      const struct agora_migration *migrations);

#endif
