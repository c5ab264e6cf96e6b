/* harness.c — see harness.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* execvpe, nftw */
#endif
#include "harness.h"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "util.h"

extern char **environ;

static void
sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/* --- files --------------------------------------------------------------- */

static const char *
tmp_root(void)
{
	const char *t = getenv("TMPDIR");
	return t && *t ? t : "/tmp";
}

char *
harness_tmpdir(void)
{
	char *path = xasprintf("%s/agora-test.XXXXXX", tmp_root());
	if (!mkdtemp(path))
		cr_assert_fail("harness_tmpdir: mkdtemp(%s): %s", path, strerror(errno));
	return path;
}

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	if (remove(path) != 0 && errno != ENOENT)
		fprintf(stderr, "harness_rmtree: %s: %s\n", path, strerror(errno));
	return 0;
}

void
harness_rmtree(const char *dir)
{
	/* AGORA_TEST_KEEP=1 keeps logs and data for a post-mortem. */
	if (!dir || getenv("AGORA_TEST_KEEP"))
		return;
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

char *
harness_file_read(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		return NULL;
	struct agora_buf b;
	agora_buf_init(&b);
	char tmp[8192];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		agora_buf_append(&b, tmp, n);
	fclose(f);
	return agora_buf_steal(&b);
}

/* --- databases ------------------------------------------------------------ */

static const char *
base_conninfo(void)
{
	const char *ci = getenv("AGORA_TEST_PG");
	if (!ci || !*ci)
		cr_skip_test("AGORA_TEST_PG is not set: run the tests under "
			     "`scripts/pg-test-cluster run -- ...`");
	return ci;
}

/* conninfo (keyword/value or URI) with dbname replaced, as keyword/value. */
static char *
with_dbname(const char *conninfo, const char *dbname)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	if (!opts) {
		cr_assert_fail("harness: bad conninfo \"%s\": %s", conninfo, err ? err : "?");
		return NULL;
	}
	struct agora_buf b;
	agora_buf_init(&b);
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		const char *v = strcmp(o->keyword, "dbname") == 0 ? dbname : o->val;
		if (!v)
			continue;
		agora_buf_printf(&b, "%s%s='", b.len ? " " : "", o->keyword);
		for (const char *c = v; *c; c++) {
			if (*c == '\'' || *c == '\\')
				agora_buf_append(&b, "\\", 1);
			agora_buf_append(&b, c, 1);
		}
		agora_buf_append(&b, "'", 1);
	}
	PQconninfoFree(opts);
	return agora_buf_steal(&b);
}

/* The dbname in conninfo (heap), or NULL. */
static char *
conninfo_dbname(const char *conninfo)
{
	char *err = NULL;
	PQconninfoOption *opts = PQconninfoParse(conninfo, &err);
	if (!opts) {
		PQfreemem(err);
		return NULL;
	}
	char *name = NULL;
	for (PQconninfoOption *o = opts; o->keyword; o++)
		if (strcmp(o->keyword, "dbname") == 0 && o->val)
			name = xstrdup(o->val);
	PQconninfoFree(opts);
	return name;
}

static PGconn *
db_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	if (PQstatus(c) != CONNECTION_OK) {
		char *msg = xstrdup(PQerrorMessage(c));
		PQfinish(c);
		cr_assert_fail("harness: cannot connect to \"%s\": %s", conninfo, msg);
		return NULL;
	}
	return c;
}

static void
db_exec(PGconn *c, const char *sql)
{
	PGresult *r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
		char *msg = xstrdup(PQerrorMessage(c));
		PQclear(r);
		PQfinish(c);
		cr_assert_fail("harness: %s: %s", sql, msg);
		return;
	}
	PQclear(r);
}

char *
harness_db_create(void)
{
	static atomic_uint counter;
	const char *base = base_conninfo();
	uint32_t rnd = 0;
	if (getrandom(&rnd, sizeof rnd, 0) != (ssize_t)sizeof rnd)
		rnd = (uint32_t)agora_mono_ns();
	char name[64];
	snprintf(name, sizeof name, "agora_t%d_%u_%08x", (int)getpid(),
		 atomic_fetch_add(&counter, 1), rnd);
	PGconn *c = db_connect(base);
	char *sql = xasprintf("CREATE DATABASE %s", name); /* name is [a-z0-9_] */
	db_exec(c, sql);
	free(sql);
	PQfinish(c);
	return with_dbname(base, name);
}

void
harness_db_drop(const char *conninfo)
{
	if (!conninfo)
		return;
	char *name = conninfo_dbname(conninfo);
	if (!name)
		return;
	const char *base = getenv("AGORA_TEST_PG");
	char *admin = base && *base ? xstrdup(base) : with_dbname(conninfo, "postgres");
	PGconn *c = PQconnectdb(admin);
	if (PQstatus(c) != CONNECTION_OK) {
		fprintf(stderr, "harness_db_drop: cannot connect: %s", PQerrorMessage(c));
		goto out;
	}
	const char *params[1] = { name };
	PGresult *r = PQexecParams(c,
				   "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
				   " WHERE datname = $1 AND pid <> pg_backend_pid()",
				   1, NULL, params, NULL, NULL, 0);
	PQclear(r);
	char *ident = PQescapeIdentifier(c, name, strlen(name));
	char *sql = xasprintf("DROP DATABASE IF EXISTS %s WITH (FORCE)", ident);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK)
		fprintf(stderr, "harness_db_drop: %s: %s", sql, PQerrorMessage(c));
	PQclear(r);
	free(sql);
	PQfreemem(ident);
out:
	PQfinish(c);
	free(admin);
	free(name);
}

long
harness_db_count(const char *conninfo, const char *sql)
{
	PGconn *c = db_connect(conninfo);
	PGresult *r = PQexec(c, sql);
	char *msg = NULL;
	long v = -1;
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		msg = xstrdup(PQerrorMessage(c));
	} else if (PQntuples(r) != 1 || PQnfields(r) != 1 || PQgetisnull(r, 0, 0)) {
		msg = xasprintf("expected one non-null value, got %d rows × %d columns",
				PQntuples(r), PQnfields(r));
	} else {
		char *end;
		errno = 0;
		v = strtol(PQgetvalue(r, 0, 0), &end, 10);
		if (errno || *end)
			msg = xasprintf("not an integer: \"%s\"", PQgetvalue(r, 0, 0));
	}
	PQclear(r);
	PQfinish(c);
	if (msg)
		cr_assert_fail("harness_db_count: %s: %s", sql, msg);
	return v;
}

/* --- processes ------------------------------------------------------------ */

struct harness_proc {
	pid_t pid;
	bool exited;
	int status; /* raw wait status once exited */
};

static bool
env_overridden(const char *entry, const char *const env[])
{
	const char *eq = strchr(entry, '=');
	size_t klen = eq ? (size_t)(eq - entry) : strlen(entry);
	for (size_t i = 0; env && env[i]; i++)
		if (strncmp(env[i], entry, klen) == 0 && env[i][klen] == '=')
			return true;
	return false;
}

struct harness_proc *
harness_proc_start(const char *const argv[], const char *const env[], const char *log_path)
{
	/* Everything the child needs is prepared before fork: after fork only
	 * async-signal-safe calls are allowed. */
	size_t n = 0, m = 0;
	while (environ[n])
		n++;
	while (env && env[m])
		m++;
	char **envp = xcalloc(n + m + 1, sizeof *envp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		if (!env_overridden(environ[i], env))
			envp[k++] = environ[i];
	for (size_t i = 0; i < m; i++)
		envp[k++] = (char *)env[i];
	envp[k] = NULL;

	int fd = -1;
	if (log_path) {
		fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0) {
			free(envp);
			cr_assert_fail("harness_proc_start: %s: %s", log_path, strerror(errno));
			return NULL;
		}
	}
	pid_t parent = getpid();
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		free(envp);
		if (fd >= 0)
			close(fd);
		cr_assert_fail("harness_proc_start: fork: %s", strerror(errno));
		return NULL;
	}
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(127); /* the parent died before prctl */
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		/* A clean signal state: the test may ignore SIGPIPE or block signals. */
		struct sigaction sa = { .sa_handler = SIG_DFL };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGPIPE, &sa, NULL);
		sigset_t none;
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		execvpe(argv[0], (char *const *)argv, envp);
		const char *msg = "harness_proc_start: exec failed: ";
		const char *why = strerror(errno);
		(void)!write(STDERR_FILENO, msg, strlen(msg));
		(void)!write(STDERR_FILENO, argv[0], strlen(argv[0]));
		(void)!write(STDERR_FILENO, ": ", 2);
		(void)!write(STDERR_FILENO, why, strlen(why));
		(void)!write(STDERR_FILENO, "\n", 1);
		_exit(127);
	}
	free(envp);
	if (fd >= 0)
		close(fd);
	struct harness_proc *p = xcalloc(1, sizeof *p);
	p->pid = pid;
	return p;
}

static bool
reap(struct harness_proc *p, bool block)
{
	if (p->exited)
		return true;
	int st;
	pid_t r;
	do
		r = waitpid(p->pid, &st, block ? 0 : WNOHANG);
	while (r < 0 && errno == EINTR);
	if (r == p->pid) {
		p->exited = true;
		p->status = st;
	} else if (r < 0) {
		p->exited = true; /* not our child any more: nothing to wait for */
		p->status = 0;
	}
	return p->exited;
}

bool
harness_proc_alive(struct harness_proc *proc)
{
	return proc && !reap(proc, false);
}

pid_t
harness_proc_pid(const struct harness_proc *proc)
{
	return proc ? proc->pid : -1;
}

int
harness_proc_stop(struct harness_proc *proc)
{
	if (!proc)
		return -1;
	if (!reap(proc, false)) {
		kill(proc->pid, SIGTERM);
		for (int i = 0; i < 500 && !reap(proc, false); i++)
			sleep_ms(10);
		if (!proc->exited) {
			kill(proc->pid, SIGKILL);
			reap(proc, true);
		}
	}
	int st = proc->status;
	free(proc);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* --- network and HTTP ----------------------------------------------------- */

int
harness_free_port(void)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert(fd >= 0, "harness_free_port: socket: %s", strerror(errno));
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0
	    || getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		int e = errno;
		close(fd);
		cr_assert_fail("harness_free_port: %s", strerror(e));
	}
	close(fd);
	return ntohs(a.sin_port);
}

static pthread_once_t httpc_once = PTHREAD_ONCE_INIT;

static void
httpc_init(void)
{
	/* Never cleaned up: the process ends with the test. */
	if (!agora_httpc_global_init())
		abort();
}

bool
harness_wait_http(const char *url, int timeout_ms)
{
	pthread_once(&httpc_once, httpc_init);
	uint64_t deadline = agora_mono_ns() + (uint64_t)timeout_ms * 1000000u;
	for (;;) {
		struct agora_httpc_req req = { .url = url, .connect_timeout_ms = 250,
					       .timeout_ms = 1000 };
		struct agora_httpc_resp resp;
		bool ok = agora_httpc_request(&req, &resp);
		agora_httpc_resp_cleanup(&resp);
		if (ok)
			return true;
		if (agora_mono_ns() >= deadline)
			return false;
		sleep_ms(20);
	}
}

struct harness_resp *
harness_http(const char *method, const char *url, const char *const headers[],
	     const char *body)
{
	pthread_once(&httpc_once, httpc_init);
	size_t n = 0;
	bool has_type = false;
	for (; headers && headers[n]; n++)
		if (strncasecmp(headers[n], "Content-Type:", 13) == 0)
			has_type = true;
	const char **h = xcalloc(n + 2, sizeof *h);
	size_t k = 0;
	for (size_t i = 0; i < n; i++)
		h[k++] = headers[i];
	if (body && !has_type)
		h[k++] = "Content-Type: application/json";
	h[k] = NULL;

	struct agora_httpc_req req = {
		.method = method,
		.url = url,
		.headers = h,
		.body = body,
		.body_len = body ? strlen(body) : 0,
		.timeout_ms = 30000,
		.max_response = (size_t)64 << 20,
	};
	struct harness_resp *r = xcalloc(1, sizeof *r);
	if (agora_httpc_request(&req, &r->raw)) {
		r->status = r->raw.status;
		if (r->raw.body_len > 0)
			r->json = json_loadb(r->raw.body, r->raw.body_len, 0, NULL);
	} else {
		snprintf(r->err, sizeof r->err, "%s", r->raw.err);
		r->raw.body = xstrdup(""); /* owned by raw like a real body */
	}
	r->body = r->raw.body;
	r->body_len = r->raw.body_len;
	free(h);
	return r;
}

void
harness_resp_free(struct harness_resp *r)
{
	if (!r)
		return;
	json_decref(r->json);
	agora_httpc_resp_cleanup(&r->raw);
	free(r);
}

const char *
harness_resp_header(const struct harness_resp *r, const char *name)
{
	return agora_httpc_resp_header(&r->raw, name);
}

/* --- binaries and tools --------------------------------------------------- */

struct interned {
	struct interned *next;
	char *name;
	char *path;
};

const char *
harness_bin(const char *name)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static struct interned *list;
	pthread_mutex_lock(&mu);
	struct interned *e = list;
	while (e && strcmp(e->name, name) != 0)
		e = e->next;
	if (!e) {
		const char *dir = getenv("AGORA_BUILD_DIR");
		e = xcalloc(1, sizeof *e);
		e->name = xstrdup(name);
		e->path = xasprintf("%s/bin/%s", dir && *dir ? dir : "build", name);
		e->next = list;
		list = e;
	}
	pthread_mutex_unlock(&mu);
	return e->path;
}

/* Runs argv with stdout and stderr on out_fd (-1: /dev/null) and returns
 * its exit status, -1 when it did not exit. */
static int
run_wait(const char *const argv[], int out_fd)
{
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int fd = out_fd >= 0 ? out_fd : open("/dev/null", O_WRONLY);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define DSP_VALIDATE "../shared/tools/dsp-validate"
#define PYTHON "/usr/bin/python3"

bool
harness_dsp_validate(const char *json_text, bool *skipped)
{
	static atomic_int usable = -1; /* -1 unknown, 0 no, 1 yes */
	static atomic_bool told;
	if (skipped)
		*skipped = false;
	const char *why = NULL;
	if (access(DSP_VALIDATE, R_OK) != 0) {
		why = "../shared not present";
	} else {
		if (atomic_load(&usable) < 0) {
			const char *argv[] = { PYTHON, "-c", "import jsonschema", NULL };
			atomic_store(&usable, access(PYTHON, X_OK) == 0 && run_wait(argv, -1) == 0);
		}
		if (!atomic_load(&usable))
			why = "python3-jsonschema not installed";
	}
	if (why) {
		if (skipped)
			*skipped = true;
		if (!atomic_exchange(&told, true))
			fprintf(stderr, "dsp-validate: skipped (%s)\n", why);
		return true;
	}

	/* The message and the validator's report go to temporary files; the
	 * report is shown only when the message is invalid. */
	char *path = xasprintf("%s/agora-dsp-XXXXXX.json", tmp_root());
	char *out_path = xasprintf("%s/agora-dsp-XXXXXX.out", tmp_root());
	int fd = mkstemps(path, 5);
	int out = mkstemps(out_path, 4);
	if (fd < 0 || out < 0) {
		cr_assert_fail("harness_dsp_validate: mkstemps in %s: %s", tmp_root(),
			       strerror(errno));
		return false;
	}
	size_t len = strlen(json_text);
	bool written = write(fd, json_text, len) == (ssize_t)len;
	close(fd);
	int rc = -1;
	if (written) {
		const char *argv[] = { PYTHON, DSP_VALIDATE, path, NULL };
		rc = run_wait(argv, out);
	}
	close(out);
	if (rc != 0) {
		char *report = harness_file_read(out_path);
		fprintf(stderr, "dsp-validate: %s", report ? report : "(no output)\n");
		free(report);
	}
	unlink(path);
	unlink(out_path);
	free(path);
	free(out_path);
	return rc == 0;
}
