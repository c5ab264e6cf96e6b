/* harness.h — helpers shared by Agora's Criterion tests.
 *
 * Linked into every test binary.  Tests run from the repository root.
 * Helpers that cannot do their job fail the current test with a message
 * (cr_assert_fail) rather than return an error, unless they say otherwise;
 * database helpers skip the test when $AGORA_TEST_PG is not set (run the
 * tests under `scripts/pg-test-cluster run -- ...`).
 */
#ifndef AGORA_HARNESS_H
#define AGORA_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <jansson.h>

#include "httpc.h"

/* --- files --------------------------------------------------------------- */

/* A fresh directory under $TMPDIR (default /tmp); the caller frees the
 * string and removes the directory with harness_rmtree(). */
char *harness_tmpdir(void);
/* Removes dir and everything below it (symlinks are not followed).
 * Accepts NULL; missing paths are ignored. */
void harness_rmtree(const char *dir);
/* The whole file as a NUL-terminated heap string, or NULL when it cannot
 * be read. */
char *harness_file_read(const char *path);

/* --- databases (need $AGORA_TEST_PG) ------------------------------------- */

/* Creates an empty database with a unique name and returns a conninfo
 * string for it (heap).  Skips the test when $AGORA_TEST_PG is unset. */
char *harness_db_create(void);
/* Terminates the database's sessions and drops it.  Accepts NULL. */
void harness_db_drop(const char *conninfo);
/* Runs sql, which must return one row with one integer column. */
long harness_db_count(const char *conninfo, const char *sql);

/* --- processes ------------------------------------------------------------ */

struct harness_proc;

/* Starts argv[0] (searched in PATH when it has no '/') with argv, the
 * current environment plus env ("K=V" entries override, NULL-terminated,
 * may be NULL), stdout and stderr appended to log_path (NULL: inherited).
 * The child receives SIGTERM if the thread that started it dies.
 * If exec fails the child exits 127 after writing the reason to the log. */
struct harness_proc *harness_proc_start(const char *const argv[], const char *const env[],
					const char *log_path);
/* SIGTERM, up to 5 s grace, then SIGKILL; frees proc.  Returns the exit
 * status, 128 + signal number when the child was killed by a signal, or -1
 * for NULL. */
int harness_proc_stop(struct harness_proc *proc);
/* True while the child has not exited. */
bool harness_proc_alive(struct harness_proc *proc);
pid_t harness_proc_pid(const struct harness_proc *proc);

/* --- network and HTTP ----------------------------------------------------- */

/* A TCP port on 127.0.0.1 that was free a moment ago. */
int harness_free_port(void);
/* Polls url until it answers any HTTP status; false after timeout_ms. */
bool harness_wait_http(const char *url, int timeout_ms);

struct harness_resp {
	long status;          /* 0 when no response arrived (see err) */
	json_t *json;         /* parsed body (owned), NULL unless it was JSON */
	char *body;           /* NUL-terminated, never NULL */
	size_t body_len;
	char err[256];        /* transport error, "" otherwise */
	struct agora_httpc_resp raw; /* headers etc. */
};

/* One HTTP call (30 s timeout, 64 MiB limit).  body may be NULL; when set it
 * is sent with Content-Type: application/json unless headers name another.
 * headers is NULL-terminated "Name: value" or NULL.  Never returns NULL: a
 * transport failure gives status 0 and err. */
struct harness_resp *harness_http(const char *method, const char *url,
				  const char *const headers[], const char *body);
void harness_resp_free(struct harness_resp *r);
/* Case-insensitive response header lookup (borrowed), NULL when absent. */
const char *harness_resp_header(const struct harness_resp *r, const char *name);

/* --- binaries and tools --------------------------------------------------- */

/* "$AGORA_BUILD_DIR/bin/NAME", default "build/bin/NAME".  The string lives
 * until the process exits. */
const char *harness_bin(const char *name);

/* Validates a DSP message with ../shared/tools/dsp-validate (true when
 * valid).  When the validator or python3-jsonschema is missing, sets
 * *skipped (may be NULL), says so once on stderr and returns true. */
bool harness_dsp_validate(const char *json_text, bool *skipped);

#endif
