/* test_cli.c — the `agora` command's connector commands, run as a
 * subprocess (build/bin/agora):
 *
 *  - against real processes (broker, a provider connector "city" and a
 *    consumer connector "mobility" on a throwaway PostgreSQL): catalog
 *    search, negotiate --wait, agreements list, datasets add|list|upload,
 *    --json, exit statuses for refusals, unreachable connectors, usage;
 *  - `agora transfer` against a small fake connector (libmicrohttpd inside
 *    this test) serving canned transfer JSON and data: the transfer API
 *    (POST/GET /api/v1/transfers…) does not exist in the connector of this
 *    branch yet, so the command is tested against the agreed shape
 *    (DESIGN.md §12) until it does. */
#include "transfer_fixture.h"
#include "crypto.h"
#include "util.h"

#include <criterion/criterion.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- running the command --------------------------------------------------- */

struct run {
	int status;
	char *out;	/* stdout */
	char *err;	/* stderr */
};

static void
run_free(struct run *r)
{
	free(r->out);
	free(r->err);
}

/* Run `agora ARGS` (a shell fragment, printf-style) with files in dir,
 * with none of the AGORA_* connection variables set but those of env
 * ("NAME=value …", may be ""); stdin is /dev/null, stdout and stderr are
 * captured apart (neither is a terminal). */
static struct run
vrun(const char *dir, const char *env, const char *fmt, va_list ap)
{
	char *args = NULL;
	cr_assert(vasprintf(&args, fmt, ap) >= 0);
	char *out = xasprintf("%s/cli.out", dir), *err = xasprintf("%s/cli.err", dir);
	char *cmd = xasprintf("env -u AGORA_API_KEY -u AGORA_API_KEY_FILE -u AGORA_CONNECTOR "
			      "%s %s %s > %s 2> %s < /dev/null",
			      env, harness_bin("agora"), args, out, err);
	int st = system(cmd);
	struct run r = { WIFEXITED(st) ? WEXITSTATUS(st) : 128, harness_file_read(out),
			 harness_file_read(err) };
	cr_assert(r.out && r.err);
	free(cmd);
	free(out);
	free(err);
	free(args);
	return r;
}

static struct run
run_in(const char *dir, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct run r = vrun(dir, "", fmt, ap);
	va_end(ap);
	return r;
}

/* run_in with --connector url --api-key key in front of the arguments. */
static struct run
run_at(const char *dir, const char *url, const char *key, const char *fmt, ...)
{
	char *f = xasprintf("--connector %s --api-key %s %s", url, key, fmt);
	va_list ap;
	va_start(ap, fmt);
	struct run r = vrun(dir, "", f, ap);
	va_end(ap);
	free(f);
	return r;
}

static struct run
run_env(const char *dir, const char *env, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	struct run r = vrun(dir, env, fmt, ap);
	va_end(ap);
	return r;
}

#define ASSERT_EXIT(r, want) \
	cr_assert_eq((r).status, (want), "exit %d, expected %d\nstdout: %s\nstderr: %s", (r).status, \
		     (want), (r).out, (r).err)

static json_t *
parse(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, 0, &e);
	cr_assert_not_null(j, "--json output parses: %s: %s", e.text, text);
	return j;
}

static char *
write_file(const char *dir, const char *name, const void *data, size_t len)
{
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f, "%s", path);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	fclose(f);
	return path;
}

static void
sha256_hex(const void *data, size_t len, char out[65])
{
	uint8_t d[AGORA_SHA256_LEN];
	agora_sha256(data, len, d);
	agora_hex(d, sizeof d, out);
}

/* len pseudo-random bytes (heap). */
static unsigned char *
some_bytes(size_t len, unsigned seed)
{
	unsigned char *b = xmalloc(len);
	for (size_t i = 0; i < len; i++) {
		seed = seed * 1103515245u + 12345u;
		b[i] = (unsigned char)(seed >> 16);
	}
	return b;
}

/* The first line of s (heap). */
static char *
first_line(const char *s)
{
	return xstrndup(s, strcspn(s, "\n"));
}

/* ---- against the real broker and connectors -------------------------------- */

TestSuite(cli, .init = nfx_start, .fini = nfx_stop, .timeout = 180);

/* agora transfer against the real connectors and broker: the whole way to
 * a verified file, and a refused second use under a count limit. */
Test(cli, transfer_for_real)
{
	char *ag = tfx_agreement("CLI transfer",
				 "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":"
				 "[{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1}]}]}",
				 NULL);
	struct run r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "transfer %s --wait -o %s/got.csv", ag,
			      fx.dir);
	ASSERT_EXIT(r, 0);
	run_free(&r);
	char *path = xasprintf("%s/got.csv", fx.dir);
	char *got = harness_file_read(path);
	cr_assert_not_null(got);
	cr_expect_str_eq(got, tfx_content);
	free(got);
	/* The second use is refused by the count limit: exit 1, the reason. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "transfer %s --wait", ag);
	ASSERT_EXIT(r, 1);
	cr_expect(strstr(r.err, "count lteq 1"), "the reason names the constraint: %s", r.err);
	run_free(&r);
	free(path);
	free(ag);
}


Test(cli, search_negotiate_and_list_agreements)
{
	char *offer;
	char *ds = nfx_publish("Air quality Lyon", OPEN, true, &offer);

	/* Human output: the dataset, its publisher, its offer with a description. */
	struct run r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "catalog search 'air quality'");
	ASSERT_EXIT(r, 0);
	cr_assert(strstr(r.out, ds) && strstr(r.out, "Air quality Lyon") && strstr(r.out, CITY),
		  "%s", r.out);
	char *ol = xasprintf("    offer %s  ", offer);
	cr_assert(strstr(r.out, ol), "an indented offer line: %s", r.out);
	free(ol);
	run_free(&r);

	/* --json: the API's document. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "catalog search 'air quality' --theme environment --json");
	ASSERT_EXIT(r, 0);
	json_t *j = parse(r.out);
	cr_assert_eq(json_integer_value(json_object_get(j, "count")), 1, "%s", r.out);
	json_t *d = json_array_get(json_object_get(j, "results"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(d, "id")), ds);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "publisher"), "id")), CITY);
	json_t *o = json_array_get(json_object_get(d, "offers"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(o, "id")), offer);
	cr_assert(json_is_string(json_object_get(o, "description")));
	json_decref(j);
	run_free(&r);

	/* Nothing matches: no output, still success. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "catalog search zzzunmatchedzzz");
	ASSERT_EXIT(r, 0);
	cr_assert_str_eq(r.out, "");
	run_free(&r);
	/* A filter the broker refuses is the API's refusal: 3 and its symbol. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "catalog search \"$(head -c 600 /dev/zero | tr '\\0' a)\"");
	ASSERT_EXIT(r, 3);
	cr_assert(strstr(r.err, "invalid_query"), "%s", r.err);
	run_free(&r);

	/* negotiate --wait, the provider found through the catalog: exit 0
	 * and the agreement id on stdout. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "negotiate %s --offer %s --wait", ds, offer);
	ASSERT_EXIT(r, 0);
	char *aid = first_line(r.out);
	cr_assert(!strncmp(aid, "urn:", 4), "the agreement id: %s", r.out);
	cr_assert(strstr(r.err, "FINALIZED"), "%s", r.err);
	run_free(&r);

	/* Without --wait, with --provider and --json: the 201 document. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "negotiate %s --offer %s --provider %s --json", ds, offer, CITY);
	ASSERT_EXIT(r, 0);
	j = parse(r.out);
	const char *nid = json_string_value(json_object_get(j, "id"));
	cr_assert(nid && !strncmp(nid, "urn:", 4), "%s", r.out);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "REQUESTED");
	json_decref(nfx_wait_state(&mobi, nid, "FINALIZED"));
	json_decref(j);
	run_free(&r);

	/* agreements list: both sides see the agreement. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "agreements list");
	ASSERT_EXIT(r, 0);
	cr_assert(strstr(r.out, "ID") && strstr(r.out, "STATUS"), "a header: %s", r.out);
	const char *line = strstr(r.out, aid);
	cr_assert_not_null(line, "%s", r.out);
	char *l = first_line(line);
	cr_assert(strstr(l, ds) && strstr(l, CITY) && strstr(l, MOBI) && strstr(l, "active"), "%s", l);
	free(l);
	run_free(&r);
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "agreements list --json");
	ASSERT_EXIT(r, 0);
	j = parse(r.out);
	bool found = false;
	size_t i;
	json_array_foreach(json_object_get(j, "results"), i, d) {
		if (!strcmp(json_string_value(json_object_get(d, "id")), aid)) {
			found = true;
			cr_assert_str_eq(json_string_value(json_object_get(json_object_get(d, "agreement"), "target")), ds);
			cr_assert(json_is_array(json_object_get(d, "signatures")));
		}
	}
	cr_assert(found, "%s", r.out);
	cr_assert(json_is_null(json_object_get(j, "next")));
	json_decref(j);
	run_free(&r);

	free(aid);
	free(ds);
	free(offer);
}

Test(cli, negotiation_refused_timed_out_or_unknown)
{
	/* Only French participants may sign; the mobility company is German:
	 * the broker terminates it, exit 1 with the reason. */
	char *offer;
	char *ds = nfx_publish("Traffic counters",
			       "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":["
			       "{\"leftOperand\":\"agora:country\",\"operator\":\"eq\",\"rightOperand\":\"FR\"}]}]}",
			       true, &offer);
	struct run r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "negotiate %s --offer %s --provider %s --wait", ds,
			      offer, CITY);
	ASSERT_EXIT(r, 1);
	cr_assert(strstr(r.err, "TERMINATED") && strstr(r.err, "agora:country"), "%s", r.err);
	cr_assert_str_eq(r.out, "", "no agreement id");
	run_free(&r);

	/* An offer the provider must approve by hand: --wait runs out of time. */
	char *manual;
	char *ds2 = nfx_publish("Parking occupancy", OPEN, false, &manual);
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "negotiate %s --offer %s --wait --timeout 1", ds2, manual);
	ASSERT_EXIT(r, 5);
	cr_assert(strstr(r.err, "--timeout"), "%s", r.err);
	run_free(&r);

	/* An offer that does not exist: the connector refuses, exit 3. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY,
		   "negotiate %s --offer urn:uuid:00000000-0000-4000-8000-000000000000 --provider %s",
		   ds2, CITY);
	ASSERT_EXIT(r, 3);
	cr_assert(strstr(r.err, "offer_not_available"), "%s", r.err);
	run_free(&r);

	/* A dataset the catalog does not show, no --provider: exit 3. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "negotiate urn:uuid:no-such-dataset --offer %s", offer);
	ASSERT_EXIT(r, 3);
	cr_assert(strstr(r.err, "not in the catalog"), "%s", r.err);
	run_free(&r);

	/* Usage errors: 2. */
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "negotiate %s", ds);
	ASSERT_EXIT(r, 2);
	cr_assert(strstr(r.err, "--offer"), "%s", r.err);
	run_free(&r);
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "negotiate --offer %s", offer);
	ASSERT_EXIT(r, 2);
	run_free(&r);
	r = run_at(fx.dir, mobi.url, CONN_ADMIN_KEY, "negotiate %s --offer %s --wait --timeout soon", ds, offer);
	ASSERT_EXIT(r, 2);
	run_free(&r);

	free(ds);
	free(ds2);
	free(offer);
	free(manual);
}

#define DATASET "{\"title\":\"Noise levels, Lyon 7e\",\"theme\":[\"environment\"],\"keyword\":[\"noise\"]," \
	"\"mediaType\":\"application/octet-stream\",\"source\":{\"type\":\"file\"}}"
#define OBS "{\"title\":\"NO2 sensors\",\"source\":{\"type\":\"observations\",\"fields\":" \
	"[{\"name\":\"no2\",\"type\":\"number\",\"min\":0,\"max\":400}],\"timeField\":\"timestamp\",\"thingField\":\"sensor\"}}"

Test(cli, datasets_add_list_upload)
{
	char *file = write_file(fx.dir, "dataset.json", DATASET, strlen(DATASET));
	struct run r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets add %s", file);
	ASSERT_EXIT(r, 0);
	char *id = first_line(r.out);
	cr_assert(!strncmp(id, "urn:uuid:", 9), "%s", r.out);
	run_free(&r);

	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets list");
	ASSERT_EXIT(r, 0);
	const char *line = strstr(r.out, id);
	cr_assert_not_null(line, "%s", r.out);
	char *l = first_line(line);
	cr_assert(strstr(l, "Noise levels, Lyon 7e") && strstr(l, "file"), "%s", l);
	free(l);
	run_free(&r);

	/* Content, streamed from a file: the connector's SHA-256 is the file's. */
	size_t len = 300 * 1024 + 17;
	unsigned char *data = some_bytes(len, 7);
	char want[65];
	sha256_hex(data, len, want);
	char *blob = write_file(fx.dir, "noise.bin", data, len);
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets upload %s %s", id, blob);
	ASSERT_EXIT(r, 0);
	cr_assert(strstr(r.out, want), "the file's sha256 in: %s", r.out);
	cr_assert_eq(strchr(r.err, '\r'), NULL, "no progress bar when stderr is not a terminal: %s", r.err);
	run_free(&r);
	char *cp = xasprintf("/api/v1/datasets/%s/content", id);
	struct harness_resp *h = cfx_call(&city, "GET", cp, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(h->status, 200);
	cr_assert_eq(h->body_len, len);
	char got[65];
	sha256_hex(h->body, h->body_len, got);
	cr_assert_str_eq(got, want, "the stored content is the file");
	harness_resp_free(h);
	free(cp);

	/* On a terminal (script(1) gives it a pseudo-terminal): a progress bar. */
	char *log = xasprintf("%s/tty.log", fx.dir);
	char *cmd = xasprintf("script -qec '%s --connector %s --api-key " CONN_ADMIN_KEY
			      " datasets upload %s %s' /dev/null > %s 2>&1 < /dev/null",
			      harness_bin("agora"), city.url, id, blob, log);
	int st = system(cmd);
	char *text = harness_file_read(log);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "script: %d: %s", st, text);
	cr_assert(strstr(text, "\rupload [") && strstr(text, "300 KiB / 300 KiB 100%"), "%s", text);
	free(text);
	free(cmd);
	free(log);

	/* --json of list and upload. */
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets upload %s %s --json", id, blob);
	ASSERT_EXIT(r, 0);
	json_t *j = parse(r.out);
	cr_assert_str_eq(json_string_value(json_object_get(j, "sha256")), want);
	cr_assert_eq(json_integer_value(json_object_get(j, "byteSize")), (json_int_t)len);
	json_decref(j);
	run_free(&r);
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets list --json");
	ASSERT_EXIT(r, 0);
	j = parse(r.out);
	json_t *first = json_array_get(json_object_get(j, "results"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(first, "id")), id, "%s", r.out);
	cr_assert_str_eq(json_string_value(json_object_get(first, "sha256")), want);
	json_decref(j);
	run_free(&r);

	/* Bigger than the connector takes (--max-upload 1 MiB): refused, 3. */
	size_t big = 1048576 + 10;
	unsigned char *bd = some_bytes(big, 9);
	char *bigf = write_file(fx.dir, "big.bin", bd, big);
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets upload %s %s", id, bigf);
	ASSERT_EXIT(r, 3);
	cr_assert(strstr(r.err, "upload_too_large") && strstr(r.err, "413"), "%s", r.err);
	run_free(&r);

	/* Observations as CSV: accepted and rejected rows. */
	char *of = write_file(fx.dir, "obs.json", OBS, strlen(OBS));
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets add %s", of);
	ASSERT_EXIT(r, 0);
	char *oid = first_line(r.out);
	run_free(&r);
	const char *csv = "timestamp,sensor,no2\n"
			  "2026-11-25T08:00:00Z,s1,21.5\n"
			  "2026-11-25T09:00:00Z,s1,22\n"
			  "2026-11-25T10:00:00Z,s1,abc\n";
	char *cf = write_file(fx.dir, "obs.csv", csv, strlen(csv));
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets upload %s %s --observations", oid, cf);
	ASSERT_EXIT(r, 0);
	cr_assert(strstr(r.out, "2 accepted, 1 rejected"), "%s", r.out);
	cr_assert(strstr(r.err, "row 4"), "the rejected row: %s", r.err);
	run_free(&r);
	cr_assert_eq(harness_db_count(city.db, "SELECT count(*) FROM observations"), 2);
	/* Content upload to an observations dataset: the API's wrong_source. */
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets upload %s %s", oid, cf);
	ASSERT_EXIT(r, 3);
	cr_assert(strstr(r.err, "wrong_source"), "%s", r.err);
	run_free(&r);

	/* A document the API refuses, and one that is not JSON. */
	char *bad = write_file(fx.dir, "bad.json", "{\"description\":\"no title\"}", 26);
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets add %s", bad);
	ASSERT_EXIT(r, 3);
	cr_assert(strstr(r.err, "the connector refused: invalid_request (HTTP 400, code 1002)"), "%s", r.err);
	run_free(&r);
	char *notjson = write_file(fx.dir, "notjson.json", "{\"title\":", 9);
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets add %s", notjson);
	ASSERT_EXIT(r, 2);
	run_free(&r);
	r = run_at(fx.dir, city.url, CONN_ADMIN_KEY, "datasets upload %s %s/missing.bin", id, fx.dir);
	ASSERT_EXIT(r, 2);
	run_free(&r);

	free(data);
	free(bd);
	free(blob);
	free(bigf);
	free(file);
	free(of);
	free(cf);
	free(bad);
	free(notjson);
	free(oid);
	free(id);
}

Test(cli, credentials_reachability_and_usage)
{
	/* A wrong key: 3, the error symbol on stderr, the key never printed. */
	struct run r = run_in(fx.dir, "datasets list --connector %s --api-key wrong-key-4242", city.url);
	ASSERT_EXIT(r, 3);
	cr_assert(strstr(r.err, "invalid_api_key") && strstr(r.err, "401"), "%s", r.err);
	cr_assert(!strstr(r.err, "wrong-key-4242") && !strstr(r.out, "wrong-key-4242"));
	run_free(&r);

	/* The key from the environment and from a file. */
	r = run_in(fx.dir, "datasets list --connector %s", city.url);
	ASSERT_EXIT(r, 2);
	cr_assert(strstr(r.err, "no API key"), "%s", r.err);
	run_free(&r);
	char *env = xasprintf("AGORA_API_KEY=%s AGORA_CONNECTOR=%s", CONN_ADMIN_KEY, city.url);
	r = run_env(fx.dir, env, "agreements list");
	ASSERT_EXIT(r, 0);
	run_free(&r);
	free(env);
	char *kf = write_file(fx.dir, "key.txt", CONN_ADMIN_KEY "\n", strlen(CONN_ADMIN_KEY) + 1);
	r = run_in(fx.dir, "agreements list --connector %s --api-key-file %s", city.url, kf);
	ASSERT_EXIT(r, 0);
	run_free(&r);
	r = run_in(fx.dir, "agreements list --connector %s --api-key-file %s/nokey", city.url, fx.dir);
	ASSERT_EXIT(r, 2);
	run_free(&r);
	/* The default connector (not called: something else may listen there). */
	r = run_in(fx.dir, "datasets --help");
	ASSERT_EXIT(r, 0);
	cr_assert(strstr(r.out, "[AGORA_CONNECTOR] (default: http://127.0.0.1:8481)"), "%s", r.out);
	run_free(&r);

	/* A connector that cannot be reached: 4. */
	int port = harness_free_port();
	r = run_in(fx.dir, "catalog search x --connector http://127.0.0.1:%d --api-key k", port);
	ASSERT_EXIT(r, 4);
	cr_assert(strstr(r.err, "cannot reach the connector"), "%s", r.err);
	run_free(&r);
	r = run_in(fx.dir, "datasets upload urn:x %s --connector http://127.0.0.1:%d --api-key k", kf, port);
	ASSERT_EXIT(r, 4);
	run_free(&r);

	/* Usage: 2. */
	const char *usage[] = {
		"",
		"frobnicate",
		"datasets",
		"datasets frob " CONN_ADMIN_KEY,
		"datasets add",
		"datasets upload urn:x",
		"datasets list extra",
		"datasets list --observations",
		"catalog",
		"catalog search a b",
		"catalog search x --limit 0",
		"catalog search x --bogus",
		"catalog search x -x",
		"agreements",
		"agreements list --limit",
		"transfer",
	};
	for (size_t i = 0; i < ARRAY_LEN(usage); i++) {
		r = run_in(fx.dir, "%s --api-key " CONN_ADMIN_KEY " --connector %s", usage[i], city.url);
		cr_assert_eq(r.status, 2, "'agora %s': exit %d: %s", usage[i], r.status, r.err);
		cr_assert_neq(r.err[0], '\0', "'agora %s' says why", usage[i]);
		run_free(&r);
	}

	r = run_in(fx.dir, "datasets list --api-key k --connector ftp://example.org");
	ASSERT_EXIT(r, 2);
	run_free(&r);

	/* Help and version: 0, on stdout; the overview lists the exit codes. */
	r = run_in(fx.dir, "--help");
	ASSERT_EXIT(r, 0);
	cr_assert(strstr(r.out, "catalog search") && strstr(r.out, "5 --wait ran out of --timeout"), "%s", r.out);
	run_free(&r);
	const char *helps[] = { "catalog search", "negotiate", "transfer", "datasets", "agreements list" };
	for (size_t i = 0; i < ARRAY_LEN(helps); i++) {
		r = run_in(fx.dir, "%s --help", helps[i]);
		ASSERT_EXIT(r, 0);
		cr_assert(strstr(r.out, helps[i]) && strstr(r.out, "--connector"), "%s", r.out);
		run_free(&r);
	}
	r = run_in(fx.dir, "--version");
	ASSERT_EXIT(r, 0);
	cr_assert(!strncmp(r.out, "agora ", 6), "%s", r.out);
	run_free(&r);
	free(kf);
}

/* ---- transfer, against a fake connector ------------------------------------ */

/* What the fake connector does with the transfer it creates. */
enum fake_mode { FAKE_OK, FAKE_BAD_HASH, FAKE_TERMINATED, FAKE_STUCK };

static struct {
	struct MHD_Daemon *d;
	char url[64];
	enum fake_mode mode;
	unsigned char *data;
	size_t len;
	char sha[65];
	pthread_mutex_t mu;
	int polls;
	json_t *created;	/* the last POST body */
	char range[64];		/* the last Range header of a data request */
	char auth[128];		/* the last Authorization header */
	char *dir;
} fake = { .mu = PTHREAD_MUTEX_INITIALIZER };

#define TID "urn:uuid:7c0ffee0-0000-4000-8000-000000000001"
#define FAKE_KEY "fake-connector-key"

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *ctype, const void *body, size_t len)
{
	struct MHD_Response *resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(resp, "Content-Type", ctype);
	enum MHD_Result ret = MHD_queue_response(conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static enum MHD_Result
reply_json(struct MHD_Connection *conn, unsigned status, json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	enum MHD_Result ret = reply(conn, status, "application/json", s, strlen(s));
	free(s);
	return ret;
}

static enum MHD_Result
fake_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	     const char *version, const char *upload, size_t *upload_size, void **state)
{
	(void)cls;
	(void)version;
	/* Gather a POST body across calls. */
	if (!*state) {
		*state = xcalloc(1, sizeof(struct agora_buf));
		return MHD_YES;
	}
	struct agora_buf *body = *state;
	if (*upload_size) {
		agora_buf_append(body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	pthread_mutex_lock(&fake.mu);
	snprintf(fake.auth, sizeof fake.auth, "%s", auth ? auth : "");
	enum MHD_Result ret;
	if (!auth || strcmp(auth, "Bearer " FAKE_KEY) != 0) {
		ret = reply_json(conn, 401, json_pack("{s:i, s:s, s:s}", "code", 1102, "error",
						      "invalid_api_key", "detail", "the API key is unknown or revoked"));
	} else if (!strcmp(method, "POST") && !strcmp(url, "/api/v1/transfers")) {
		json_decref(fake.created);
		fake.created = json_loadb(body->data ? body->data : "", body->len, 0, NULL);
		const char *ag = json_string_value(json_object_get(fake.created, "agreementId"));
		fake.polls = 0;
		if (ag && !strcmp(ag, "urn:uuid:unknown"))
			ret = reply_json(conn, 404, json_pack("{s:i, s:s, s:s}", "code", 1702, "error",
							      "agreement_not_found", "detail",
							      "no agreement 'urn:uuid:unknown'"));
		else
			ret = reply_json(conn, 201, json_pack("{s:s, s:s}", "id", TID, "state", "REQUESTED"));
	} else if (!strcmp(method, "GET") && !strcmp(url, "/api/v1/transfers/" TID)) {
		int n = ++fake.polls;
		json_t *t = json_pack("{s:s, s:I, s:I}", "id", TID, "bytes", (json_int_t)0,
				      "expectedBytes", (json_int_t)fake.len);
		const char *st = n < 2 ? "REQUESTED" : n < 4 || fake.mode == FAKE_STUCK ? "STARTED" : "COMPLETED";
		if (n >= 4 && fake.mode == FAKE_TERMINATED)
			st = "TERMINATED";
		json_object_set_new(t, "state", json_string(st));
		json_object_set_new(t, "bytes", json_integer(n < 2 ? 0 : n < 4 ? (json_int_t)fake.len / 2 : (json_int_t)fake.len));
		if (!strcmp(st, "COMPLETED")) {
			json_object_set_new(t, "sha256", json_string(fake.mode == FAKE_BAD_HASH ?
				"0000000000000000000000000000000000000000000000000000000000000000" : fake.sha));
			json_object_set_new(t, "verified", json_true());
		}
		if (!strcmp(st, "TERMINATED"))
			json_object_set_new(t, "reason", json_string("the provider's source failed: HTTP 502"));
		ret = reply_json(conn, 200, t);
	} else if (!strcmp(method, "GET") && !strcmp(url, "/api/v1/transfers/" TID "/data")) {
		const char *range = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Range");
		snprintf(fake.range, sizeof fake.range, "%s", range ? range : "");
		unsigned long long from = 0;
		if (range && sscanf(range, "bytes=%llu-", &from) == 1 && from < fake.len) {
			struct MHD_Response *resp = MHD_create_response_from_buffer(
				fake.len - from, fake.data + from, MHD_RESPMEM_MUST_COPY);
			char cr[96];
			snprintf(cr, sizeof cr, "bytes %llu-%zu/%zu", from, fake.len - 1, fake.len);
			MHD_add_response_header(resp, "Content-Range", cr);
			ret = MHD_queue_response(conn, 206, resp);
			MHD_destroy_response(resp);
		} else {
			ret = reply(conn, 200, "application/octet-stream", fake.data, fake.len);
		}
	} else {
		ret = reply_json(conn, 404, json_pack("{s:i, s:s, s:s}", "code", 1005, "error", "not_found",
						      "detail", "no such resource"));
	}
	pthread_mutex_unlock(&fake.mu);
	return ret;
}

static void
fake_done(void *cls, struct MHD_Connection *conn, void **state, enum MHD_RequestTerminationCode tc)
{
	(void)cls;
	(void)conn;
	(void)tc;
	if (*state) {
		agora_buf_cleanup(*state);
		free(*state);
		*state = NULL;
	}
}

static void
fake_start(void)
{
	fake.dir = harness_tmpdir();
	fake.len = 200 * 1024 + 3;
	fake.data = some_bytes(fake.len, 3);
	sha256_hex(fake.data, fake.len, fake.sha);
	int port = harness_free_port();
	snprintf(fake.url, sizeof fake.url, "http://127.0.0.1:%d", port);
	fake.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, (uint16_t)port,
				  NULL, NULL, fake_handler, NULL, MHD_OPTION_NOTIFY_COMPLETED, fake_done,
				  NULL, MHD_OPTION_END);
	cr_assert_not_null(fake.d, "the fake connector listens on %d", port);
}

static void
fake_stop(void)
{
	MHD_stop_daemon(fake.d);
	json_decref(fake.created);
	fake.created = NULL;
	free(fake.data);
	harness_rmtree(fake.dir);
	free(fake.dir);
}

TestSuite(cli_transfer, .init = fake_start, .fini = fake_stop, .timeout = 60);


static bool
exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

Test(cli_transfer, wait_and_save_checks_the_hash)
{
	char *out = xasprintf("%s/received.bin", fake.dir);
	char *part = xasprintf("%s.part", out);
	fake.mode = FAKE_OK;
	struct run r = run_at(fake.dir, fake.url, FAKE_KEY,
			      "transfer urn:uuid:agreement-1 --purpose research "
			      "--query '{\"from\":\"2026-01-01\"}' --wait -o %s", out);
	ASSERT_EXIT(r, 0);
	cr_assert_str_eq(r.out, TID "\n");
	cr_assert(strstr(r.err, "COMPLETED") && strstr(r.err, fake.sha), "%s", r.err);
	cr_assert_eq(strchr(r.err, '\r'), NULL, "no progress bar when stderr is not a terminal: %s", r.err);
	/* What was asked for. */
	cr_assert_str_eq(json_string_value(json_object_get(fake.created, "agreementId")), "urn:uuid:agreement-1");
	cr_assert_str_eq(json_string_value(json_object_get(fake.created, "format")), "HttpData-PULL");
	cr_assert_str_eq(json_string_value(json_object_get(fake.created, "purpose")), "research");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(fake.created, "query"), "from")), "2026-01-01");
	cr_assert_str_eq(fake.range, "", "nothing to resume");
	/* The file is the data; no .part left. */
	char *got = harness_file_read(out);
	cr_assert_not_null(got);
	cr_assert_eq(memcmp(got, fake.data, fake.len), 0);
	free(got);
	struct stat st;
	cr_assert_eq(stat(out, &st), 0);
	cr_assert_eq((size_t)st.st_size, fake.len);
	cr_assert(!exists(part));
	run_free(&r);
	unlink(out);

	/* A .part from an earlier run is resumed with Range. */
	free(write_file(fake.dir, "received.bin.part", fake.data, 1000));
	r = run_at(fake.dir, fake.url, FAKE_KEY, "transfer urn:uuid:agreement-1 --format push --wait -o %s", out);
	ASSERT_EXIT(r, 0);
	cr_assert_str_eq(fake.range, "bytes=1000-");
	cr_assert_str_eq(json_string_value(json_object_get(fake.created, "format")), "HttpData-PUSH");
	cr_assert_eq(stat(out, &st), 0);
	cr_assert_eq((size_t)st.st_size, fake.len);
	got = harness_file_read(out);
	cr_assert_eq(memcmp(got, fake.data, fake.len), 0);
	free(got);
	cr_assert(!exists(part));
	run_free(&r);
	unlink(out);

	/* --json: the final transfer document. */
	r = run_at(fake.dir, fake.url, FAKE_KEY, "transfer urn:uuid:agreement-1 --wait --json");
	ASSERT_EXIT(r, 0);
	json_t *j = parse(r.out);
	cr_assert_str_eq(json_string_value(json_object_get(j, "state")), "COMPLETED");
	cr_assert_str_eq(json_string_value(json_object_get(j, "sha256")), fake.sha);
	cr_assert_eq(json_integer_value(json_object_get(j, "bytes")), (json_int_t)fake.len);
	json_decref(j);
	run_free(&r);

	/* Without --wait: only the id. */
	r = run_at(fake.dir, fake.url, FAKE_KEY, "transfer urn:uuid:agreement-1");
	ASSERT_EXIT(r, 0);
	cr_assert_str_eq(r.out, TID "\n");
	run_free(&r);

	/* The data does not match the transfer's SHA-256: exit 1, no file. */
	fake.mode = FAKE_BAD_HASH;
	r = run_at(fake.dir, fake.url, FAKE_KEY, "transfer urn:uuid:agreement-1 --wait -o %s", out);
	ASSERT_EXIT(r, 1);
	cr_assert(strstr(r.err, "SHA-256 mismatch"), "%s", r.err);
	cr_assert(!exists(out) && !exists(part));
	run_free(&r);
	free(out);
	free(part);
}

/* On a terminal (script(1) gives the command a pseudo-terminal) the
 * transfer and the download draw a progress bar: carriage returns, bytes
 * in human units, a percentage of expectedBytes. */
Test(cli_transfer, progress_bar_on_a_terminal)
{
	fake.mode = FAKE_OK;
	char *out = xasprintf("%s/tty.bin", fake.dir);
	char *log = xasprintf("%s/tty.log", fake.dir);
	char *cmd = xasprintf("script -qec '%s --connector %s --api-key " FAKE_KEY
			      " transfer urn:uuid:agreement-1 --wait -o %s' /dev/null > %s 2>&1 < /dev/null",
			      harness_bin("agora"), fake.url, out, log);
	int st = system(cmd);
	char *text = harness_file_read(log);
	cr_assert_not_null(text);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "script: %d: %s", st, text);
	cr_assert(strstr(text, "\rtransfer ["), "the transfer's bar: %s", text);
	cr_assert(strstr(text, "100 KiB / 200 KiB  49%"), "half of it: %s", text);
	cr_assert(strstr(text, "200 KiB / 200 KiB 100%"), "all of it: %s", text);
	cr_assert(strstr(text, "\rdownload ["), "the download's bar: %s", text);
	struct stat sb;
	cr_assert_eq(stat(out, &sb), 0);
	cr_assert_eq((size_t)sb.st_size, fake.len);
	free(text);
	free(cmd);
	free(log);
	free(out);
}

Test(cli_transfer, terminated_timeout_refused_and_usage)
{
	fake.mode = FAKE_TERMINATED;
	struct run r = run_at(fake.dir, fake.url, FAKE_KEY, "transfer urn:uuid:agreement-1 --wait");
	ASSERT_EXIT(r, 1);
	cr_assert(strstr(r.err, "TERMINATED") && strstr(r.err, "HTTP 502"), "%s", r.err);
	run_free(&r);

	fake.mode = FAKE_STUCK;
	r = run_at(fake.dir, fake.url, FAKE_KEY, "transfer urn:uuid:agreement-1 --wait --timeout 1");
	ASSERT_EXIT(r, 5);
	cr_assert(strstr(r.err, "still STARTED"), "%s", r.err);
	run_free(&r);

	r = run_at(fake.dir, fake.url, FAKE_KEY, "transfer urn:uuid:unknown");
	ASSERT_EXIT(r, 3);
	cr_assert(strstr(r.err, "agreement_not_found"), "%s", r.err);
	run_free(&r);
	r = run_in(fake.dir, "transfer urn:uuid:agreement-1 --connector %s --api-key nope", fake.url);
	ASSERT_EXIT(r, 3);
	cr_assert(strstr(r.err, "invalid_api_key") && !strstr(r.err, "nope"), "%s", r.err);
	cr_assert_str_eq(fake.auth, "Bearer nope", "the key is sent as a bearer token");
	run_free(&r);

	const char *usage[] = {
		"transfer urn:uuid:a -o x",			/* -o needs --wait */
		"transfer urn:uuid:a --format carrier-pigeon",
		"transfer urn:uuid:a --query 'not json'",
		"transfer urn:uuid:a --query '[1]'",
		"transfer urn:uuid:a --wait --timeout 0",
		"transfer",
		"transfer a b",
	};
	for (size_t i = 0; i < ARRAY_LEN(usage); i++) {
		r = run_at(fake.dir, fake.url, FAKE_KEY, "%s", usage[i]);
		cr_assert_eq(r.status, 2, "'agora %s': exit %d: %s", usage[i], r.status, r.err);
		run_free(&r);
	}
}
