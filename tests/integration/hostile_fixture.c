/* hostile_fixture.c — see hostile_fixture.h. */
#include "hostile_fixture.h"
#include "pauth.h"
#include "util.h"

#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

long hfx_requests;
struct participant intruder;

void
hfx_check(const char *what, const struct harness_resp *r, long want, const char *symbol,
	  enum hfx_body kind)
{
	/* Expectations, not assertions: one run reports every failing case. */
	if (r->status == 0) {
		cr_expect_fail("%s: no response (%s)", what, r->err);
		return;
	}
	if (r->status >= 500) {
		cr_expect_fail("%s: a server error %ld: %.300s", what, r->status, r->body);
		return;
	}
	if (want == 4 ? r->status < 400 || r->status >= 500 : r->status != want) {
		cr_expect_fail("%s: want %s%ld, got %ld: %.300s", what, want == 4 ? "a " : "",
			       want == 4 ? 400L : want, r->status, r->body);
		return;
	}
	if (kind == HFX_NONE)
		return;
	const json_t *j = r->json;
	if (!json_is_object(j)) {
		cr_expect_fail("%s: the error body is a JSON object: %.300s", what, r->body);
		return;
	}
	const char *type = json_string_value(json_object_get(j, "@type"));
	bool dsp = type && strlen(type) > 5 && !strcmp(type + strlen(type) - 5, "Error");
	bool api = json_integer_value(json_object_get(j, "code")) > 1000 &&
		   json_is_string(json_object_get(j, "error")) && json_is_string(json_object_get(j, "detail"));
	if (kind == HFX_API)
		cr_expect(api, "%s: {code,error,detail} error body: %.300s", what, r->body);
	else if (kind == HFX_DSP)
		cr_expect(dsp, "%s: a DSP error object (@type …Error): %.300s", what, r->body);
	else
		cr_expect(api || dsp, "%s: an API or DSP error body: %.300s", what, r->body);
	if (symbol && api)
		cr_expect_str_eq(json_string_value(json_object_get(j, "error")), symbol, "%s: %.300s", what,
				 r->body);
}

struct harness_resp *
hfx_http(const char *method, const char *base, const char *path, const char *const headers[],
	 const char *body)
{
	char *url = xasprintf("%s%s", base, path);
	struct harness_resp *r = harness_http(method, url, headers, body);
	hfx_requests++;
	free(url);
	return r;
}

/* The body after the head, de-chunked when the head says chunked (heap). */
static char *
dechunk(const char *head, const char *body)
{
	size_t hl = (size_t)(body - head);
	char *h = xstrndup(head, hl);
	bool chunked = strcasestr(h, "transfer-encoding: chunked") != NULL;
	free(h);
	if (!chunked)
		return xstrdup(body);
	struct agora_buf b;
	agora_buf_init(&b);
	const char *p = body;
	for (;;) {
		char *end;
		unsigned long n = strtoul(p, &end, 16);
		const char *data = strstr(end, "\r\n");
		if (!n || !data || strlen(data + 2) < n)
			break;
		agora_buf_append(&b, data + 2, n);
		p = data + 2 + n + 2;
	}
	agora_buf_append(&b, "", 1);
	char *s = xstrdup(b.data);
	agora_buf_cleanup(&b);
	return s;
}

/* A response read off a raw socket, as a harness_resp (status, body, json). */
static struct harness_resp *
raw_resp(long status, char *text)
{
	struct harness_resp *r = xcalloc(1, sizeof *r);
	r->status = status > 0 ? status : 0;
	if (status <= 0)
		snprintf(r->err, sizeof r->err, "%s", status == 0 ? "connection closed" : "timeout");
	const char *b = text ? strstr(text, "\r\n\r\n") : NULL;
	r->body = r->raw.body = b ? dechunk(text, b + 4) : xstrdup("");
	r->body_len = strlen(r->body);
	r->json = json_loads(r->body, 0, NULL);
	free(text);
	return r;
}

struct harness_resp *
hfx_call(const char *base, const char *method, const char *path, const char *authz,
	 const char *ctype, const char *body, size_t len)
{
	const char *host = strstr(base, "//") + 2;
	char *auth = authz ? xasprintf("Authorization: %s\r\n", authz) : xstrdup("");
	char *type = ctype ? xasprintf("Content-Type: %s\r\n", ctype) : xstrdup("");
	char *head = xasprintf("%s %s HTTP/1.1\r\nHost: %s\r\n%s%sContent-Length: %zu\r\n"
			       "Connection: close\r\n\r\n",
			       method, path, host, auth, type, body ? len : 0);
	size_t hl = strlen(head);
	char *req = xmalloc(hl + len + 1);
	memcpy(req, head, hl);
	if (body)
		memcpy(req + hl, body, len);
	char *text = NULL;
	long st = hfx_raw(base, req, hl + (body ? len : 0), 10000, &text);
	free(auth);
	free(type);
	free(head);
	free(req);
	return raw_resp(st, text);
}

struct harness_resp *
hfx_as(const struct participant *p, const char *aud, const char *method, const char *base,
       const char *path, const char *ctype, const char *body, size_t len)
{
	/* htu is the recipient's public URL + the path without the query. */
	char *htu = xasprintf("%s%.*s", base, (int)strcspn(path, "?"), path);
	char *tok = agora_pauth_mint(p->key, p->kid, p->id, aud, method, htu, body ? body : "",
				     body ? len : 0);
	char *authz = xasprintf("Bearer %s", tok);
	struct harness_resp *r = hfx_call(base, method, path, authz, ctype, body, len);
	free(htu);
	free(tok);
	free(authz);
	return r;
}

static int
dial(const char *base)
{
	const char *colon = strrchr(base, ':');
	int port = atoi(colon + 1);
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof a), 0, "connect %s", base);
	return fd;
}

long
hfx_raw(const char *base, const void *req, size_t len, int timeout_ms, char **text)
{
	hfx_requests++;
	int fd = dial(base);
	size_t off = 0;
	while (off < len) {
		ssize_t n = send(fd, (const char *)req + off, len - off, MSG_NOSIGNAL);
		if (n <= 0)
			break;	/* the server may close early: read what it said */
		off += (size_t)n;
	}
	struct agora_buf b;
	agora_buf_init(&b);
	struct pollfd p = { .fd = fd, .events = POLLIN };
	bool timed_out = false;
	for (;;) {
		/* Once something came, 150 ms of silence ends the exchange (a
		 * kept-alive connection would otherwise wait for --timeout). */
		int pr = poll(&p, 1, b.len ? 150 : timeout_ms);
		if (pr <= 0) {
			timed_out = true;
			break;
		}
		char buf[4096];
		ssize_t n = recv(fd, buf, sizeof buf, 0);
		if (n <= 0)
			break;
		agora_buf_append(&b, buf, (size_t)n);
	}
	close(fd);
	agora_buf_append(&b, "", 1);
	long status = 0;
	if (b.len > 12 && !strncmp(b.data, "HTTP/1.", 7))
		status = strtol(b.data + 9, NULL, 10);
	else if (timed_out)
		status = -1;
	if (text)
		*text = xstrdup(b.data);
	agora_buf_cleanup(&b);
	return status;
}

json_t *
hfx_raw_json(const char *text)
{
	const char *b = text ? strstr(text, "\r\n\r\n") : NULL;
	return b ? json_loads(b + 4, 0, NULL) : NULL;
}

void
hfx_alive(const char *what)
{
	cr_assert(harness_proc_alive(fx.proc), "%s: the broker died", what);
	cr_assert(harness_proc_alive(city.proc), "%s: the city's connector died", what);
	cr_assert(harness_proc_alive(mobi.proc), "%s: the mobility connector died", what);
}

/* Tables left out of the "database unchanged" check, and why:
 * - seen_tokens (broker, connectors): the replay cache.  Every token whose
 *   signature verifies leaves its jti there, also when the request is then
 *   refused (that is how a replay is caught), so refused requests from a
 *   genuine participant legitimately add rows.
 * - offer_visibility, catalog_viewer_state (broker): the per-viewer
 *   visibility cache of the catalog search, computed on a participant's
 *   first search (a read); refused searches may fill it.
 * - catalog_generation (broker): the search cache's invalidation counter,
 *   bumped by statement triggers on that visibility cache too (0004).
 * Every table these derive from (participants, datasets, catalog_offers,
 * …) is compared.  The HTTP access metrics live in memory, not in the
 * database. */
static const char *const excluded[] = { "seen_tokens", "offer_visibility", "catalog_viewer_state",
					"catalog_generation" };

/* "table=rows:md5" lines of every other table in the public schema (heap). */
static char *
snapshot(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	PGresult *t = PQexec(c, "SELECT table_name FROM information_schema.tables "
				"WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1");
	cr_assert_eq(PQresultStatus(t), PGRES_TUPLES_OK, "%s", PQerrorMessage(c));
	struct agora_buf out;
	agora_buf_init(&out);
	for (int i = 0; i < PQntuples(t); i++) {
		const char *name = PQgetvalue(t, i, 0);
		bool skip = false;
		for (size_t k = 0; k < ARRAY_LEN(excluded); k++)
			skip |= !strcmp(name, excluded[k]);
		if (skip)
			continue;
		char *id = PQescapeIdentifier(c, name, strlen(name));
		char *sql = xasprintf("SELECT count(*), coalesce(md5(string_agg(t::text, ',' ORDER BY t::text)), '-') "
				      "FROM %s t", id);
		PGresult *r = PQexec(c, sql);
		cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s: %s", sql, PQerrorMessage(c));
		char *line = xasprintf("%s=%s:%s\n", name, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
		agora_buf_append(&out, line, strlen(line));
		free(line);
		PQclear(r);
		free(sql);
		PQfreemem(id);
	}
	PQclear(t);
	PQfinish(c);
	agora_buf_append(&out, "", 1);
	char *s = xstrdup(out.data);
	agora_buf_cleanup(&out);
	return s;
}

static void
snap_all(char *s[3])
{
	s[0] = snapshot(fx.db);
	s[1] = snapshot(city.db);
	s[2] = snapshot(mobi.db);
}

void
hfx_settle(void)
{
	char *a[3], *b[3];
	snap_all(a);
	for (int i = 0; i < 50; i++) {
		usleep(200000);
		snap_all(b);
		bool same = true;
		for (int k = 0; k < 3; k++)
			same &= !strcmp(a[k], b[k]);
		for (int k = 0; k < 3; k++) {
			free(a[k]);
			a[k] = b[k];
		}
		if (same)
			break;
	}
	for (int k = 0; k < 3; k++)
		free(a[k]);
}

void
hfx_group_begin(struct hfx_group *g, const char *name)
{
	g->name = name;
	g->start = hfx_requests;
	snap_all(g->snap);
}

/* Every table whose line differs between a and b (heap, for the message). */
static char *
diffs(const char *a, const char *b)
{
	struct agora_buf out;
	agora_buf_init(&out);
	while (*a && *b) {
		size_t la = strcspn(a, "\n"), lb = strcspn(b, "\n");
		if (la != lb || strncmp(a, b, la))
			agora_buf_printf(&out, " [before %.*s, after %.*s]", (int)la, a, (int)lb, b);
		a += la + (a[la] ? 1 : 0);
		b += lb + (b[lb] ? 1 : 0);
	}
	if (*a || *b)
		agora_buf_printf(&out, " [table lists differ]");
	agora_buf_append(&out, "", 1);
	char *s = xstrdup(out.data);
	agora_buf_cleanup(&out);
	return s;
}

void
hfx_group_end(struct hfx_group *g)
{
	static const char *const who[] = { "broker", "city", "mobility" };
	hfx_alive(g->name);
	char *after[3];
	snap_all(after);
	bool same = true;
	for (int k = 0; k < 3; k++) {
		if (strcmp(g->snap[k], after[k])) {
			same = false;
			char *d = diffs(g->snap[k], after[k]);
			cr_expect_fail("group %s changed the %s database:%s", g->name, who[k], d);
			free(d);
		}
		free(g->snap[k]);
		free(after[k]);
	}
	cr_log_info("hostile group %s: %ld requests%s", g->name, hfx_requests - g->start,
		    same ? ", databases unchanged" : "");
}

void
hfx_report(const char *test)
{
	cr_log_info("hostile %s: %ld requests", test, hfx_requests);
	const char *path = getenv("AGORA_HOSTILE_COUNT");
	FILE *f = path ? fopen(path, "a") : NULL;
	if (f) {
		fprintf(f, "%ld\n", hfx_requests);
		fclose(f);
	}
}
