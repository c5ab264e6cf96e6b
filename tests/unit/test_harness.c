/* test_harness.c — the test helpers themselves. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "harness.h"
#include "util.h"

static bool
exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fputs(text, f);
	fclose(f);
}

Test(harness, tmpdir_and_rmtree)
{
	char *d = harness_tmpdir();
	char *d2 = harness_tmpdir();
	cr_assert_str_neq(d, d2);
	struct stat st;
	cr_assert(stat(d, &st) == 0 && S_ISDIR(st.st_mode));
	const char *t = getenv("TMPDIR");
	char *prefix = xasprintf("%s/", t && *t ? t : "/tmp");
	cr_assert(strncmp(d, prefix, strlen(prefix)) == 0, "%s", d);

	/* Nested content, and a symlink whose target must survive. */
	char *sub = xasprintf("%s/a/b", d);
	char *a = xasprintf("%s/a", d);
	cr_assert(mkdir(a, 0700) == 0 && mkdir(sub, 0700) == 0);
	char *f = xasprintf("%s/file", sub);
	write_file(f, "x");
	char *outside = xasprintf("%s/keep", d2);
	write_file(outside, "keep");
	char *link = xasprintf("%s/link", a);
	cr_assert(symlink(d2, link) == 0);

	harness_rmtree(d);
	cr_assert_not(exists(d));
	cr_assert(exists(outside), "rmtree followed a symlink");
	harness_rmtree(d2);
	cr_assert_not(exists(d2));
	harness_rmtree(d2); /* already gone: no-op */
	harness_rmtree(NULL);
	free(d), free(d2), free(prefix), free(sub), free(a), free(f), free(outside), free(link);
}

Test(harness, file_read)
{
	char *d = harness_tmpdir();
	char *p = xasprintf("%s/log", d);
	write_file(p, "line one\nline two\n");
	char *s = harness_file_read(p);
	cr_assert_str_eq(s, "line one\nline two\n");
	free(s);
	char *missing = xasprintf("%s/none", d);
	cr_assert_null(harness_file_read(missing));
	harness_rmtree(d);
	free(d), free(p), free(missing);
}

Test(harness, free_port_is_bindable)
{
	int p = harness_free_port();
	cr_assert(p > 0 && p < 65536, "%d", p);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)p),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	cr_assert(bind(fd, (struct sockaddr *)&a, sizeof a) == 0, "port %d: %s", p, strerror(errno));
	close(fd);
}

Test(harness, proc_stop_terminates)
{
	const char *argv[] = { "/bin/sleep", "30", NULL };
	struct harness_proc *p = harness_proc_start(argv, NULL, NULL);
	cr_assert_not_null(p);
	cr_assert(harness_proc_pid(p) > 0);
	cr_assert(harness_proc_alive(p));
	uint64_t t0 = agora_mono_ns();
	cr_assert_eq(harness_proc_stop(p), 128 + SIGTERM);
	cr_assert_lt(agora_mono_ns() - t0, 2000000000u);
	cr_assert_eq(harness_proc_stop(NULL), -1);
}

Test(harness, proc_exit_status_and_path_search)
{
	const char *argv[] = { "sh", "-c", "exit 3", NULL };
	struct harness_proc *p = harness_proc_start(argv, NULL, NULL);
	for (int i = 0; i < 500 && harness_proc_alive(p); i++)
		usleep(10000);
	cr_assert_not(harness_proc_alive(p));
	cr_assert_eq(harness_proc_stop(p), 3);
}

Test(harness, proc_env_and_log)
{
	char *d = harness_tmpdir();
	char *log = xasprintf("%s/out.log", d);
	write_file(log, "earlier\n");
	setenv("HARNESS_T_KEEP", "kept", 1);
	setenv("HARNESS_T_OVER", "old", 1);
	const char *argv[] = { "/bin/sh", "-c",
			       "echo \"$HARNESS_T_KEEP $HARNESS_T_OVER $HARNESS_T_NEW\"; echo to-stderr >&2",
			       NULL };
	const char *env[] = { "HARNESS_T_OVER=new", "HARNESS_T_NEW=fresh", NULL };
	struct harness_proc *p = harness_proc_start(argv, env, log);
	for (int i = 0; i < 500 && harness_proc_alive(p); i++)
		usleep(10000);
	cr_assert_eq(harness_proc_stop(p), 0);
	char *out = harness_file_read(log);
	cr_assert_str_eq(out, "earlier\nkept new fresh\nto-stderr\n");
	free(out);
	harness_rmtree(d);
	free(d), free(log);
}

Test(harness, proc_exec_failure_is_127)
{
	char *d = harness_tmpdir();
	char *log = xasprintf("%s/out.log", d);
	const char *argv[] = { "/nonexistent/agora-nothing", NULL };
	struct harness_proc *p = harness_proc_start(argv, NULL, log);
	for (int i = 0; i < 500 && harness_proc_alive(p); i++)
		usleep(10000);
	cr_assert_eq(harness_proc_stop(p), 127);
	char *out = harness_file_read(log);
	cr_assert_not_null(strstr(out, "exec failed: /nonexistent/agora-nothing"), "%s", out);
	free(out);
	harness_rmtree(d);
	free(d), free(log);
}

Test(harness, proc_ignoring_term_is_killed, .timeout = 20)
{
	const char *argv[] = { "/bin/sh", "-c", "trap '' TERM; exec sleep 30", NULL };
	struct harness_proc *p = harness_proc_start(argv, NULL, NULL);
	usleep(200000); /* let the trap be installed */
	uint64_t t0 = agora_mono_ns();
	cr_assert_eq(harness_proc_stop(p), 128 + SIGKILL);
	double s = (double)(agora_mono_ns() - t0) / 1e9;
	cr_assert(s >= 4.9 && s < 8, "took %.2f s", s);
}

Test(harness, proc_dies_with_its_parent)
{
	/* Become the subreaper so the orphaned grandchild is ours to reap. */
	cr_assert(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
	int fds[2];
	cr_assert(pipe(fds) == 0);
	pid_t mid = fork();
	cr_assert(mid >= 0);
	if (mid == 0) {
		const char *argv[] = { "/bin/sleep", "30", NULL };
		struct harness_proc *p = harness_proc_start(argv, NULL, NULL);
		pid_t pid = harness_proc_pid(p);
		/* Wait for the exec, which is after the child's prctl. */
		char *comm = xasprintf("/proc/%d/comm", (int)pid);
		for (int i = 0; i < 500; i++) {
			char *c = harness_file_read(comm);
			bool execed = c && strcmp(c, "sleep\n") == 0;
			free(c);
			if (execed)
				break;
			usleep(10000);
		}
		(void)!write(fds[1], &pid, sizeof pid);
		/* "Crashes" without stopping its child: the handle is dropped,
		 * not stopped (freed only so that valgrind sees no leak). */
		free(comm);
		free(p);
		_exit(0);
	}
	pid_t pid;
	cr_assert_eq(read(fds[0], &pid, sizeof pid), (ssize_t)sizeof pid);
	int st;
	cr_assert_eq(waitpid(mid, &st, 0), mid);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM, "status %#x", st);
	close(fds[0]);
	close(fds[1]);
}

Test(harness, bin_paths)
{
	unsetenv("AGORA_BUILD_DIR");
	const char *a = harness_bin("agora-broker");
	cr_assert_str_eq(a, "build/bin/agora-broker");
	cr_assert_eq(harness_bin("agora-broker"), a);
	setenv("AGORA_BUILD_DIR", "/opt/build-asan", 1);
	cr_assert_str_eq(harness_bin("agora-connector"), "/opt/build-asan/bin/agora-connector");
}

/* --- HTTP against python's http.server ------------------------------------ */

Test(harness, http_against_a_real_server, .timeout = 30)
{
	if (access("/usr/bin/python3", X_OK) != 0)
		cr_skip_test("/usr/bin/python3 not installed");
	char *d = harness_tmpdir();
	char *f = xasprintf("%s/doc.json", d);
	write_file(f, "{\"n\": 42}");
	char *log = xasprintf("%s/server.log", d);
	int port = harness_free_port();
	char ports[16];
	snprintf(ports, sizeof ports, "%d", port);
	const char *argv[] = { "/usr/bin/python3", "-m", "http.server", ports, "--bind",
			       "127.0.0.1", "--directory", d, NULL };
	struct harness_proc *p = harness_proc_start(argv, NULL, log);
	char *base = xasprintf("http://127.0.0.1:%d/", port);
	cr_assert(harness_wait_http(base, 10000), "server did not come up");

	char *u = xasprintf("http://127.0.0.1:%d/doc.json", port);
	const char *hdrs[] = { "X-Request-Id: test-1", NULL };
	struct harness_resp *r = harness_http("GET", u, hdrs, NULL);
	cr_assert_eq(r->status, 200, "err: %s", r->err);
	cr_assert_str_empty(r->err);
	cr_assert_not_null(r->json);
	cr_assert_eq(json_integer_value(json_object_get(r->json, "n")), 42);
	cr_assert_str_eq(r->body, "{\"n\": 42}");
	cr_assert_eq(r->body_len, 9);
	cr_assert_str_eq(harness_resp_header(r, "content-type"), "application/json");
	harness_resp_free(r);

	/* http.server has no POST: a status, not a transport error. */
	r = harness_http("POST", u, NULL, "{\"a\":1}");
	cr_assert_eq(r->status, 501, "err: %s", r->err);
	cr_assert_null(r->json);
	harness_resp_free(r);
	harness_resp_free(NULL);

	cr_assert_eq(harness_proc_stop(p), 128 + SIGTERM);
	char *out = harness_file_read(log);
	cr_assert_not_null(strstr(out, "\"POST /doc.json HTTP/1.1\" 501"), "%s", out);
	free(out);

	/* Nothing listens any more. */
	uint64_t t0 = agora_mono_ns();
	cr_assert_not(harness_wait_http(base, 300));
	cr_assert_geq(agora_mono_ns() - t0, 300000000u);
	r = harness_http("GET", u, NULL, NULL);
	cr_assert_eq(r->status, 0);
	cr_assert(strncmp(r->err, "connect: ", 9) == 0, "%s", r->err);
	cr_assert_str_eq(r->body, "");
	cr_assert_null(r->json);
	harness_resp_free(r);

	harness_rmtree(d);
	free(d), free(f), free(log), free(base), free(u);
}

/* --- DSP validator ---------------------------------------------------------- */

Test(harness, dsp_validate)
{
	bool skipped = true;
	bool ok = harness_dsp_validate("{\"@context\":[\"https://w3id.org/dspace/2025/1/context.jsonld\"],"
				       "\"@type\":\"CatalogRequestMessage\",\"filter\":[]}",
				       &skipped);
	cr_assert(ok);
	if (access("../shared/tools/dsp-validate", R_OK) != 0) {
		cr_assert(skipped);
		cr_skip_test("../shared not present");
	}
	if (skipped)
		cr_skip_test("python3-jsonschema not installed");
	cr_assert_not(harness_dsp_validate("{\"@context\":[\"https://w3id.org/dspace/2025/1/context.jsonld\"],"
					   "\"@type\":\"CatalogRequestMessage\",\"filter\":\"nope\"}",
					   &skipped));
	cr_assert_not(skipped);
	cr_assert_not(harness_dsp_validate("not json", NULL));
}

/* --- databases ------------------------------------------------------------- */

static void
need_pg(void)
{
	const char *pg = getenv("AGORA_TEST_PG");
	if (!pg || !*pg)
		cr_skip_test("AGORA_TEST_PG not set (run under scripts/pg-test-cluster run -- ...)");
}

Test(harness, db_create_count_drop, .init = need_pg)
{
	char *db = harness_db_create();
	char *db2 = harness_db_create();
	cr_assert_str_neq(db, db2);
	cr_assert_eq(harness_db_count(db, "SELECT 1"), 1);

	PGconn *c = PQconnectdb(db);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	PGresult *r = PQexec(c, "CREATE TABLE t (x int); INSERT INTO t VALUES (1), (2), (3)");
	cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(c));
	PQclear(r);
	cr_assert_eq(harness_db_count(db, "SELECT count(*) FROM t"), 3);
	cr_assert_eq(harness_db_count(db, "SELECT (current_database() LIKE 'agora\\_t%')::int"), 1);
	cr_assert_eq(harness_db_count(db2, "SELECT count(*) FROM pg_tables WHERE tablename = 't'"), 0);

	/* Dropped even while a session is still connected to it. */
	char *name = xstrdup(PQdb(c));
	harness_db_drop(db);
	const char *base = getenv("AGORA_TEST_PG");
	char *sql = xasprintf("SELECT count(*) FROM pg_database WHERE datname = '%s'", name);
	cr_assert_eq(harness_db_count(base, sql), 0);
	PQfinish(c);
	harness_db_drop(db2);
	harness_db_drop(NULL);
	free(sql), free(name), free(db), free(db2);
}

Test(harness, db_create_skips_without_pg)
{
	unsetenv("AGORA_TEST_PG");
	(void)harness_db_create();
	cr_assert_fail("harness_db_create returned without AGORA_TEST_PG");
}
