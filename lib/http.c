/* http.c — see http.h.
 *
 * Request life cycle on libmicrohttpd:
 *   uri_log callback    → allocate struct request (start time, request id)
 *   access handler #1   → route match (404/405), media type (415),
 *                         Content-Length check (413 before the body when the
 *                         client expects 100-continue or announces more than
 *                         DRAIN_LIMIT)
 *   access handler #2…n → append the body, bounded; an over-long body is
 *                         drained and answered 413, or cut off
 *   access handler last → authenticate, parse JSON, call the handler
 *   completed callback  → access-log line, metrics, free
 */
#include "http.h"
#include "apikeys.h"
#include "config.h"
#include "crypto.h"
#include "log.h"
#include "util.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* A body past the limit (chunked, or announced by a client that does not
 * wait for 100 Continue) is read and dropped up to this much, so the client
 * sees the 413; past it the connection is closed. */
#define DRAIN_LIMIT (8u * AGORA_JSON_BODY_LIMIT)
#define MAX_SEGMENTS 16

static const double latency_buckets[] = { 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
					  0.25, 0.5, 1, 2.5, 5 };
#define NBUCKETS ARRAY_LEN(latency_buckets)

struct route_metrics {
	_Atomic uint64_t by_status[600];
	_Atomic uint64_t buckets[NBUCKETS];
	_Atomic uint64_t count;
	_Atomic uint64_t sum_us;
};

/* A connection's deadline for receiving its current request (see the
 * watchdog below); 0 while a request is being handled or streamed. */
struct conn_watch {
	int fd;
	_Atomic uint64_t deadline_ns;
	struct conn_watch *prev, *next;
};

struct agora_server {
	struct MHD_Daemon *daemon;
	struct agora_server_config cfg;
	struct route_metrics *metrics;	/* nroutes + 1: the last is "unmatched" */
	pthread_mutex_t watch_lock;
	struct conn_watch *watched;
	uint64_t receive_ns;		/* the time a request may take to arrive */
	pthread_t watchdog;
	_Atomic bool stopping;
};

static void watch_arm(struct agora_server *srv, struct MHD_Connection *conn, bool on);

enum phase { PHASE_NEW, PHASE_BODY, PHASE_DONE };

struct request {
	struct agora_req req;
	struct agora_server *srv;
	enum phase phase;
	uint64_t start_ns;
	unsigned status;
	struct agora_buf body;
	bool too_large;
	size_t drained;
	json_t *json;
	enum agora_error stream_error;	/* AGORA_E__COUNT while none */
	char stream_detail[256];
	char **extra_headers;
	size_t nextra;
};

/* ---- replies ---------------------------------------------------------- */

static enum MHD_Result
queue(struct agora_req *ar, unsigned status, struct MHD_Response *resp, const char *ctype)
{
	struct request *rq = (struct request *)ar;
	MHD_add_response_header(resp, "Content-Type", ctype);
	MHD_add_response_header(resp, "X-Request-Id", ar->request_id);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	bool cache_set = false;
	for (size_t i = 0; i + 1 < rq->nextra; i += 2) {
		MHD_add_response_header(resp, rq->extra_headers[i], rq->extra_headers[i + 1]);
		cache_set |= strcasecmp(rq->extra_headers[i], "Cache-Control") == 0;
	}
	/* API answers are never cached; static files say otherwise. */
	if (!cache_set)
		MHD_add_response_header(resp, "Cache-Control", "no-store");
	rq->status = status;
	rq->phase = PHASE_DONE;
	enum MHD_Result ret = MHD_queue_response(ar->conn, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

void
agora_reply_header(struct agora_req *ar, const char *name, const char *value)
{
	struct request *rq = (struct request *)ar;
	rq->extra_headers = xrealloc(rq->extra_headers, (rq->nextra + 2) * sizeof(char *));
	rq->extra_headers[rq->nextra++] = xstrdup(name);
	rq->extra_headers[rq->nextra++] = xstrdup(value);
}

enum MHD_Result
agora_reply_text(struct agora_req *ar, unsigned status, const char *content_type, const char *text)
{
	size_t len = strlen(text);
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(len, (void *)text, MHD_RESPMEM_MUST_COPY);
	return queue(ar, status, resp, content_type);
}

enum MHD_Result
agora_reply_json(struct agora_req *ar, unsigned status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(15));
	json_decref(body);
	if (!s)
		abort();	/* only on allocation failure */
	struct MHD_Response *resp =
		MHD_create_response_from_buffer(strlen(s), s, MHD_RESPMEM_MUST_FREE);
	return queue(ar, status, resp, "application/json");
}

enum MHD_Result
agora_reply_error(struct agora_req *ar, enum agora_error e, const char *fmt, ...)
{
	char detail[512];
	if (fmt) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(detail, sizeof detail, fmt, ap);
		va_end(ap);
	}
	const struct agora_error_info *info = agora_error_info(e);
	if (info->http_status == 401)
		agora_reply_header(ar, "WWW-Authenticate", "Bearer");
	return agora_reply_json(ar, info->http_status, agora_error_json(e, fmt ? detail : NULL));
}

enum MHD_Result
agora_reply_error_with(struct agora_req *ar, enum agora_error e, json_t *extra, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	const struct agora_error_info *info = agora_error_info(e);
	json_t *body = agora_error_json(e, detail);
	json_object_update_missing(body, extra);
	json_decref(extra);
	if (info->http_status == 401)
		agora_reply_header(ar, "WWW-Authenticate", "Bearer");
	return agora_reply_json(ar, info->http_status, body);
}

/* Parse "bytes=a-b" / "bytes=a-" / "bytes=-n" against size.  1: a valid
 * range in [*from, *to]; 0: no usable Range (serve all); -1: unsatisfiable. */
int
agora_http_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to)
{
	if (!h || strncmp(h, "bytes=", 6) != 0)
		return 0;
	const char *p = h + 6;
	if (strchr(p, ','))
		return 0;	/* multipart ranges: serve the whole thing */
	char *end;
	if (*p == '-') {
		/* Digits only: strtoull would take "--2", "-+2" or "- 2" too. */
		if (p[1] < '0' || p[1] > '9')
			return 0;
		unsigned long long n = strtoull(p + 1, &end, 10);
		if (end == p + 1 || *end || n == 0)
			return -1;
		if (size == 0)
			return -1;
		*from = n >= size ? 0 : size - n;
		*to = size - 1;
		return 1;
	}
	if (*p < '0' || *p > '9')
		return 0;
	unsigned long long a = strtoull(p, &end, 10);
	if (*end != '-')
		return 0;
	p = end + 1;
	unsigned long long b = size ? size - 1 : 0;
	if (*p) {
		if (*p < '0' || *p > '9')
			return 0;
		b = strtoull(p, &end, 10);
		if (*end || b < a)
			return 0;
		if (b >= size)
			b = size - 1;
	}
	if (a >= size)
		return -1;
	*from = a;
	*to = b;
	return 1;
}

enum MHD_Result
agora_reply_fd(struct agora_req *ar, const char *content_type, int fd, uint64_t size, bool range)
{
	uint64_t from = 0, to = size ? size - 1 : 0;
	int rr = range ? agora_http_parse_range(agora_req_header(ar, "Range"), size, &from, &to) : 0;
	if (range)
		agora_reply_header(ar, "Accept-Ranges", "bytes");
	if (rr < 0) {
		close(fd);
		char cr[64];
		snprintf(cr, sizeof cr, "bytes */%llu", (unsigned long long)size);
		agora_reply_header(ar, "Content-Range", cr);
		return agora_reply_error(ar, AGORA_E_RANGE_NOT_SATISFIABLE, "the file has %llu bytes",
					 (unsigned long long)size);
	}
	uint64_t len = size == 0 ? 0 : to - from + 1;
	struct MHD_Response *resp = MHD_create_response_from_fd_at_offset64(len, fd, from);
	if (!resp) {
		close(fd);
		return agora_reply_error(ar, AGORA_E_INTERNAL, "cannot serve the file");
	}
	if (rr > 0) {
		char cr[96];
		snprintf(cr, sizeof cr, "bytes %llu-%llu/%llu", (unsigned long long)from,
			 (unsigned long long)to, (unsigned long long)size);
		agora_reply_header(ar, "Content-Range", cr);
	}
	return queue(ar, rr > 0 ? 206 : 200, resp, content_type);
}

enum MHD_Result
agora_reply_response(struct agora_req *ar, unsigned status, const char *content_type,
		     struct MHD_Response *resp)
{
	return queue(ar, status, resp, content_type);
}

enum MHD_Result
agora_reply_stream(struct agora_req *ar, unsigned status, const char *content_type, uint64_t size,
		   size_t block, MHD_ContentReaderCallback reader, void *ctx,
		   MHD_ContentReaderFreeCallback free_cb, struct MHD_Response **out)
{
	struct MHD_Response *resp = MHD_create_response_from_callback(size, block, reader, ctx, free_cb);
	if (out)
		*out = resp;
	if (!resp) {
		if (free_cb)
			free_cb(ctx);
		return agora_reply_error(ar, AGORA_E_INTERNAL, "cannot stream the response");
	}
	return queue(ar, status, resp, content_type);
}

/* ---- request accessors ------------------------------------------------ */

const char *
agora_req_param(const struct agora_req *r, const char *name)
{
	for (int i = 0; i < AGORA_MAX_PARAMS && r->param_names[i]; i++)
		if (!strcmp(r->param_names[i], name))
			return r->param_values[i];
	return NULL;
}

const char *
agora_req_query(const struct agora_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
}

const char *
agora_req_header(const struct agora_req *r, const char *name)
{
	return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

bool
agora_req_page(struct agora_req *r, long def, long max, long *limit, char **after)
{
	*limit = def;
	*after = NULL;
	const char *lim = agora_req_query(r, "limit");
	if (lim && !agora_parse_long(lim, 1, max, limit)) {
		agora_reply_error(r, AGORA_E_INVALID_QUERY, "limit must be an integer from 1 to %ld", max);
		return false;
	}
	const char *cursor = agora_req_query(r, "cursor");
	if (cursor && *cursor) {
		size_t n;
		char *a = (char *)agora_b64url_decode(cursor, strlen(cursor), &n);
		if (!a || n == 0 || n > 256 || strlen(a) != n) {
			free(a);
			agora_reply_error(r, AGORA_E_INVALID_QUERY, "cursor is not one this API gave");
			return false;
		}
		*after = a;
	}
	return true;
}

json_t *
agora_page_next(json_t *list, long limit, const char *key)
{
	if (json_array_size(list) <= (size_t)limit)
		return json_null();
	json_array_remove(list, (size_t)limit);
	const char *last = json_string_value(json_object_get(json_array_get(list, (size_t)limit - 1), key));
	if (!last)
		return json_null();
	char *c = agora_b64url_encode(last, strlen(last));
	json_t *next = json_string(c);
	free(c);
	return next;
}

/* ---- roles ------------------------------------------------------------ */

static const struct {
	unsigned bit;
	const char *name;
} roles_tab[] = {
	{ AGORA_ROLE_ADMIN, "admin" },
	{ AGORA_ROLE_PUBLISHER, "publisher" },
	{ AGORA_ROLE_CONSUMER, "consumer" },
	{ AGORA_ROLE_VIEWER, "viewer" },
};

unsigned
agora_role_parse(const char *name)
{
	for (size_t i = 0; name && i < ARRAY_LEN(roles_tab); i++)
		if (!strcmp(roles_tab[i].name, name))
			return roles_tab[i].bit;
	return 0;
}

const char *
agora_role_name(unsigned role)
{
	for (size_t i = 0; i < ARRAY_LEN(roles_tab); i++)
		if (roles_tab[i].bit == role)
			return roles_tab[i].name;
	return "none";
}

/* ---- routing ---------------------------------------------------------- */

/* Match path against pattern; on success fill the request's params.  A
 * last pattern segment "{name*}" takes the rest of the path (one or more
 * segments, without the leading slash). */
static bool
match(const char *pattern, const char *path, struct agora_req *r)
{
	int np = 0;
	const char *p = pattern, *u = path;
	while (*p && *u) {
		if (*p != '/' || *u != '/')
			return false;
		p++;
		u++;
		const char *pe = strchr(p, '/'), *ue = strchr(u, '/');
		size_t pl = pe ? (size_t)(pe - p) : strlen(p);
		size_t ul = ue ? (size_t)(ue - u) : strlen(u);
		if (!pe && pl > 3 && p[0] == '{' && p[pl - 2] == '*' && p[pl - 1] == '}') {
			if (*u == '\0' || np >= AGORA_MAX_PARAMS)
				return false;
			if (r) {
				r->param_names[np] = xstrndup(p + 1, pl - 3);
				r->param_values[np] = xstrdup(u);
			}
			return true;
		}
		if (pl > 2 && p[0] == '{' && p[pl - 1] == '}') {
			if (ul == 0 || np >= AGORA_MAX_PARAMS)
				return false;
			if (r) {
				r->param_names[np] = xstrndup(p + 1, pl - 2);
				r->param_values[np] = xstrndup(u, ul);
			}
			np++;
		} else if (pl != ul || strncmp(p, u, pl) != 0) {
			return false;
		}
		p += pl;
		u += ul;
	}
	return *p == '\0' && *u == '\0';
}

bool
agora_http_route_match(const char *pattern, const char *path, struct agora_req *r)
{
	return match(pattern, path, r);
}

static void
free_params(struct agora_req *r)
{
	for (int i = 0; i < AGORA_MAX_PARAMS; i++) {
		free((char *)r->param_names[i]);
		free(r->param_values[i]);
		r->param_names[i] = NULL;
		r->param_values[i] = NULL;
	}
}

/* Jansson's and PostgreSQL's idea of a valid string: UTF-8, no NUL. */
static bool
utf8_ok(const char *s)
{
	json_t *j = s ? json_string(s) : NULL;
	json_decref(j);
	return j != NULL;
}

static enum MHD_Result
query_utf8(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	const char **bad = cls;
	if (!utf8_ok(key) || (value && !utf8_ok(value))) {
		*bad = key;
		return MHD_NO;
	}
	return MHD_YES;
}

/* Find the route; on a path match with the wrong method, 405 with Allow.
 * A path or query parameter that is not UTF-8 (after unescaping) is
 * refused here: it names nothing, and it would reach error details, DSP
 * messages and PostgreSQL, which all refuse it. */
static enum MHD_Result
route(struct request *rq, const char *method)
{
	struct agora_server *srv = rq->srv;
	const char *m = strcmp(method, "HEAD") == 0 ? "GET" : method;
	struct agora_buf allow;
	agora_buf_init(&allow);
	size_t nseg = 0;
	for (const char *c = rq->req.path; *c; c++)
		nseg += *c == '/';
	if (nseg <= MAX_SEGMENTS && rq->req.path[0] == '/') {
		for (size_t i = 0; i < srv->cfg.nroutes; i++) {
			const struct agora_route *rt = &srv->cfg.routes[i];
			if (!match(rt->pattern, rq->req.path, NULL))
				continue;
			if (strcmp(rt->method, m) == 0) {
				match(rt->pattern, rq->req.path, &rq->req);
				rq->req.route = rt;
				agora_buf_cleanup(&allow);
				if (!utf8_ok(rq->req.path))
					return agora_reply_error(&rq->req, AGORA_E_NOT_FOUND,
								 "no resource at this path (not UTF-8)");
				const char *bad = NULL;
				MHD_get_connection_values(rq->req.conn, MHD_GET_ARGUMENT_KIND, query_utf8, &bad);
				if (bad)
					return agora_reply_error(&rq->req, AGORA_E_INVALID_QUERY,
								 "a query parameter is not valid UTF-8");
				return MHD_YES;
			}
			agora_buf_printf(&allow, "%s%s", allow.len ? ", " : "", rt->method);
		}
	}
	enum MHD_Result ret;
	if (allow.len) {
		agora_reply_header(&rq->req, "Allow", allow.data);
		ret = agora_reply_error(&rq->req, AGORA_E_METHOD_NOT_ALLOWED, "%s is not allowed here; use %s",
					method, allow.data);
	} else {
		ret = agora_reply_error(&rq->req, AGORA_E_NOT_FOUND, "no resource at this path");
	}
	agora_buf_cleanup(&allow);
	return ret;
}

/* ---- authentication --------------------------------------------------- */

static bool
looks_like_jwt(const char *t)
{
	const char *d1 = strchr(t, '.');
	return d1 && strchr(d1 + 1, '.');
}

/* Returns AGORA_E__COUNT when the request may proceed. */
static enum agora_error
authenticate(struct request *rq, char *detail, size_t dlen)
{
	struct agora_req *r = &rq->req;
	const struct agora_route *rt = r->route;
	if (!rt->auth)
		return AGORA_E__COUNT;
	const char *token = NULL;
	const char *authz = agora_req_header(r, "Authorization");
	const char *xkey = agora_req_header(r, "X-Api-Key");
	if (authz) {
		if (strncasecmp(authz, "Bearer ", 7) != 0) {
			snprintf(detail, dlen, "the Authorization scheme must be Bearer");
			return AGORA_E_MISSING_CREDENTIALS;
		}
		token = authz + 7;
		while (*token == ' ')
			token++;
	} else if (xkey) {
		token = xkey;
	}
	if (!token || !*token) {
		snprintf(detail, dlen, "this endpoint needs credentials");
		return AGORA_E_MISSING_CREDENTIALS;
	}
	if (authz && looks_like_jwt(token)) {
		if (!(rt->auth & AGORA_AUTH_PARTICIPANT) || !rq->srv->cfg.participant_auth) {
			snprintf(detail, dlen, "this endpoint takes an API key, not a participant token");
			return AGORA_E_MISSING_CREDENTIALS;
		}
		return rq->srv->cfg.participant_auth(r, token, detail, dlen);
	}
	if (!(rt->auth & AGORA_AUTH_APIKEY)) {
		snprintf(detail, dlen, "this endpoint takes a participant token");
		return AGORA_E_MISSING_CREDENTIALS;
	}
	if (strlen(token) > 256) {
		snprintf(detail, dlen, "the API key is unknown or revoked");
		return AGORA_E_INVALID_API_KEY;
	}
	uint8_t hash[32];
	agora_sha256(token, strlen(token), hash);
	if (rq->srv->cfg.has_admin_key && agora_ct_equal(hash, rq->srv->cfg.admin_key_hash, 32)) {
		r->role = AGORA_ROLE_ADMIN;
		r->api_key_id = xstrdup("admin");
	} else {
		char hex[65];
		agora_hex(hash, 32, hex);
		enum agora_qs qs = agora_apikey_lookup(hex, &r->api_key_id, &r->role);
		if (qs < 0) {
			snprintf(detail, dlen, "the key store is unavailable");
			return AGORA_E_UNAVAILABLE;
		}
		if (qs == AGORA_QS_NONE) {
			snprintf(detail, dlen, "the API key is unknown or revoked");
			return AGORA_E_INVALID_API_KEY;
		}
	}
	if (!(r->role & rt->roles)) {
		snprintf(detail, dlen, "role %s may not %s %s", agora_role_name(r->role), rt->method,
			 rt->pattern);
		return AGORA_E_FORBIDDEN;
	}
	return AGORA_E__COUNT;
}

/* ---- the access handler ----------------------------------------------- */

/* JSON bodies may come without a Content-Type, or with curl -d's default
 * form type (people try the API with curl); any other type is refused. */
static bool
json_media_type(const char *ct)
{
	if (!ct)
		return true;
	size_t n = strcspn(ct, ";");
	while (n && ct[n - 1] == ' ')
		n--;
	return (n == 16 && !strncasecmp(ct, "application/json", n)) ||
	       (n == 19 && !strncasecmp(ct, "application/ld+json", n)) ||
	       (n == 33 && !strncasecmp(ct, "application/x-www-form-urlencoded", n));
}

void
agora_stream_fail(struct agora_req *ar, enum agora_error e, const char *fmt, ...)
{
	struct request *rq = (struct request *)ar;
	rq->stream_error = e;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(rq->stream_detail, sizeof rq->stream_detail, fmt, ap);
	va_end(ap);
}

static bool
streaming(const struct request *rq)
{
	return rq->req.route && rq->req.route->body_limit == AGORA_BODY_STREAM;
}

/* A streaming route: authenticate before the body, then hand it over. */
static enum MHD_Result
stream_begin(struct request *rq)
{
	char detail[256] = "";
	rq->req.body = "";	/* a participant token's bh then covers no body */
	enum agora_error e = authenticate(rq, detail, sizeof detail);
	if (e != AGORA_E__COUNT)
		return agora_reply_error(&rq->req, e, "%s", detail);
	rq->req.stream_phase = AGORA_STREAM_BEGIN;
	return rq->req.route->handler(&rq->req);
}

static enum MHD_Result
stream_data(struct request *rq, const char *data, size_t n)
{
	if (rq->stream_error != AGORA_E__COUNT) {
		rq->drained += n;
		return rq->drained > DRAIN_LIMIT ? MHD_NO : MHD_YES;
	}
	rq->req.stream_phase = AGORA_STREAM_CHUNK;
	rq->req.chunk = data;
	rq->req.chunk_len = n;
	enum MHD_Result ret = rq->req.route->handler(&rq->req);
	rq->req.chunk = NULL;
	rq->req.chunk_len = 0;
	return ret;
}

static enum MHD_Result
stream_end(struct request *rq)
{
	if (rq->stream_error != AGORA_E__COUNT)
		return agora_reply_error(&rq->req, rq->stream_error, "%s", rq->stream_detail);
	rq->req.stream_phase = AGORA_STREAM_END;
	return rq->req.route->handler(&rq->req);
}

static size_t
body_limit(const struct request *rq)
{
	const struct agora_route *rt = rq->req.route;
	return rt && rt->body_limit ? rt->body_limit : AGORA_JSON_BODY_LIMIT;
}

static enum MHD_Result
finish(struct request *rq)
{
	struct agora_req *r = &rq->req;
	char detail[256] = "";
	watch_arm(rq->srv, r->conn, false);	/* the request is in */
	if (rq->too_large)
		return agora_reply_error(r, AGORA_E_BODY_TOO_LARGE, "the body exceeds %zu bytes",
					 body_limit(rq));
	agora_buf_append(&rq->body, "", 0);
	r->body = rq->body.data;
	r->body_len = rq->body.len;
	enum agora_error e = authenticate(rq, detail, sizeof detail);
	if (e != AGORA_E__COUNT && e != AGORA_E_UNAVAILABLE && (r->route->auth & AGORA_AUTH_DSP)) {
		/* DSP: do not tell strangers that the resource exists.  But a
		 * token that could not be checked (the directory or the replay
		 * cache is unavailable) is 503, which reveals nothing and which
		 * the sender's outbox retries; a 404 it would take for final. */
		agora_log(AGORA_LOG_INFO, "dsp auth refused",
			  json_pack("{s:s, s:s, s:s}", "rid", r->request_id, "error",
				    agora_error_info(e)->symbol, "detail", detail));
		return agora_reply_error(r, AGORA_E_NOT_FOUND, "no resource at this path");
	}
	if (e != AGORA_E__COUNT)
		return agora_reply_error(r, e, "%s", detail);
	if (r->body_len) {
		json_error_t jerr;
		rq->json = json_loadb(r->body, r->body_len, JSON_REJECT_DUPLICATES, &jerr);
		if (!rq->json)
			return agora_reply_error(r, AGORA_E_INVALID_JSON, "line %d, column %d: %s",
						 jerr.line, jerr.column, jerr.text);
		r->json = rq->json;
	}
	return r->route->handler(r);
}

struct header_count {
	unsigned content_length, transfer_encoding, host;
};

static enum MHD_Result
count_header(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	(void)kind;
	(void)value;
	struct header_count *n = cls;
	n->content_length += !strcasecmp(key, "Content-Length");
	n->transfer_encoding += !strcasecmp(key, "Transfer-Encoding");
	n->host += !strcasecmp(key, "Host");
	return MHD_YES;
}

/* Headers that make the request's framing or target ambiguous (RFC 9112
 * §3.2, §6.1, §6.3): a reason, or NULL when the request is fine.
 * libmicrohttpd picks one of two Content-Lengths and lets
 * Transfer-Encoding override Content-Length, then keeps the connection:
 * what a front end took for the body would be read here as a request. */
static const char *
framing_problem(struct MHD_Connection *conn, const char *version)
{
	struct header_count n = { 0 };
	MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &n);
	if (n.content_length && n.transfer_encoding)
		return "both Content-Length and Transfer-Encoding";
	if (n.content_length > 1)
		return "more than one Content-Length";
	if (n.transfer_encoding > 1)
		return "more than one Transfer-Encoding";
	const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
	if (te && strcasecmp(te, "chunked"))
		return "the only Transfer-Encoding taken is chunked";
	if (n.host > 1 || (n.host == 0 && version && !strcmp(version, "HTTP/1.1")))
		return "an HTTP/1.1 request needs exactly one Host";
	return NULL;
}

/* Did the client ask for "100 Continue" before sending its body? */
static bool
expects_continue(struct MHD_Connection *conn)
{
	const char *v = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Expect");
	return v && strcasecmp(v, "100-continue") == 0;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	       const char *version, const char *upload_data, size_t *upload_data_size,
	       void **req_cls)
{
	(void)cls;
	(void)url;
	struct request *rq = *req_cls;
	if (rq->phase == PHASE_NEW) {
		rq->req.conn = conn;
		rq->req.method = method;
		rq->phase = PHASE_BODY;
		const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
		size_t rlen = rid ? strlen(rid) : 0;
		bool rid_ok = rlen > 0 && rlen < sizeof rq->req.request_id &&
			      strspn(rid, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == rlen;
		if (rid_ok) {
			memcpy(rq->req.request_id, rid, rlen + 1);
		} else {
			uint8_t b[12];
			agora_random(b, sizeof b);
			agora_hex(b, sizeof b, rq->req.request_id);
		}
		const char *framing = framing_problem(conn, version);
		if (framing) {
			/* Request smuggling or a confused client: answer, then close
			 * (RFC 9112 §6.3), so nothing after it is read as a request. */
			agora_reply_header(&rq->req, "Connection", "close");
			agora_reply_error(&rq->req, AGORA_E_INVALID_REQUEST, "%s", framing);
			return MHD_YES;
		}
		if (route(rq, method) != MHD_YES || rq->phase == PHASE_DONE)
			return MHD_YES;
		if (streaming(rq)) {
			watch_arm(rq->srv, conn, false);
			return stream_begin(rq);
		}
		const char *clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
		const char *te = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
		bool has_body = (clen && strcmp(clen, "0") != 0) || te;
		if (has_body && !json_media_type(MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
									      "Content-Type")))
			return agora_reply_error(&rq->req, AGORA_E_UNSUPPORTED_MEDIA_TYPE,
						 "send the body as application/json");
		if (clen) {
			char *end;
			unsigned long long n = strtoull(clen, &end, 10);
			/* Too large.  A client waiting for "100 Continue" gets the
			 * 413 instead, before it sends the body; so does one that
			 * announces more than DRAIN_LIMIT (the connection is then
			 * closed).  Any other client sends its body straight away:
			 * answering at once would close the connection under its
			 * writes, and it might never read the 413 — so the body is
			 * read and dropped first, as an over-long chunked one is. */
			if (*end == '\0' && n > body_limit(rq)) {
				if (n > DRAIN_LIMIT || expects_continue(conn))
					return agora_reply_error(&rq->req, AGORA_E_BODY_TOO_LARGE,
								 "the body exceeds %zu bytes",
								 body_limit(rq));
				rq->too_large = true;
			}
		}
		return MHD_YES;
	}
	if (rq->phase == PHASE_DONE) {
		/* A reply is queued; anything still arriving is dropped. */
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (*upload_data_size) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (streaming(rq))
			return stream_data(rq, upload_data, n);
		if (!rq->too_large && rq->body.len + n <= body_limit(rq)) {
			agora_buf_append(&rq->body, upload_data, n);
			return MHD_YES;
		}
		rq->too_large = true;
		agora_buf_cleanup(&rq->body);
		rq->drained += n;
		return rq->drained > DRAIN_LIMIT ? MHD_NO : MHD_YES;
	}
	return streaming(rq) ? stream_end(rq) : finish(rq);
}

static void *
uri_logger(void *cls, const char *uri, struct MHD_Connection *conn)
{
	(void)conn;
	struct request *rq = xcalloc(1, sizeof *rq);
	rq->srv = cls;
	rq->start_ns = agora_mono_ns();
	/* The path without the query string (MHD hands the raw URI here). */
	size_t n = strcspn(uri, "?");
	char *path = xstrndup(uri, n);
	MHD_http_unescape(path);
	rq->req.path = path;
	rq->req.query_string = xstrdup(uri[n] == '?' ? uri + n + 1 : "");
	rq->req.app = rq->srv->cfg.app;
	rq->stream_error = AGORA_E__COUNT;
	agora_buf_init(&rq->body);
	return rq;
}

static void
completed(void *cls, struct MHD_Connection *conn, void **req_cls,
	  enum MHD_RequestTerminationCode toe)
{
	struct agora_server *srv = cls;
	struct request *rq = *req_cls;
	watch_arm(srv, conn, true);	/* the next request on this connection */
	if (!rq)
		return;
	uint64_t us = (agora_mono_ns() - rq->start_ns) / 1000;
	size_t ri = rq->req.route ? (size_t)(rq->req.route - srv->cfg.routes) : srv->cfg.nroutes;
	struct route_metrics *m = &srv->metrics[ri];
	unsigned st = rq->status < 600 ? rq->status : 0;
	atomic_fetch_add(&m->by_status[st], 1);
	atomic_fetch_add(&m->count, 1);
	atomic_fetch_add(&m->sum_us, us);
	for (size_t b = 0; b < NBUCKETS; b++)
		if ((double)us / 1e6 <= latency_buckets[b])
			atomic_fetch_add(&m->buckets[b], 1);

	json_t *f = json_pack("{s:s, s:s, s:s, s:i, s:f}", "rid", rq->req.request_id, "method",
			      rq->req.method ? rq->req.method : "?", "path", rq->req.path,
			      "status", (int)rq->status, "ms", (double)us / 1000.0);
	if (rq->req.route)
		json_object_set_new(f, "route", json_string(rq->req.route->pattern));
	if (rq->req.participant)
		json_object_set_new(f, "participant", json_string(rq->req.participant));
	if (rq->req.api_key_id)
		json_object_set_new(f, "apiKey", json_string(rq->req.api_key_id));
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK)
		json_object_set_new(f, "aborted", json_integer(toe));
	agora_log(AGORA_LOG_INFO, "request", f);

	if (rq->req.stream_cleanup)
		rq->req.stream_cleanup(rq->req.stream_ctx);
	if (rq->req.done)
		rq->req.done(rq->req.done_ctx, toe == MHD_REQUEST_TERMINATED_COMPLETED_OK);
	free_params(&rq->req);
	free((char *)rq->req.path);
	free((char *)rq->req.query_string);
	free(rq->req.api_key_id);
	free(rq->req.participant);
	for (size_t i = 0; i < rq->nextra; i++)
		free(rq->extra_headers[i]);
	free(rq->extra_headers);
	agora_buf_cleanup(&rq->body);
	json_decref(rq->json);
	free(rq);
	*req_cls = NULL;
}

static void
mhd_logger(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char msg[512];
	vsnprintf(msg, sizeof msg, fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	agora_log(AGORA_LOG_WARN, "httpd", json_pack("{s:s}", "detail", msg));
}

/* ---- lifecycle -------------------------------------------------------- */

static bool
parse_listen(const char *listen, struct sockaddr_storage *ss, socklen_t *len)
{
	char host[256];
	const char *colon = strrchr(listen, ':');
	if (!colon || (size_t)(colon - listen) >= sizeof host)
		return false;
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	char *h = host;
	if (h[0] == '[') {	/* [::1]:8480 */
		h++;
		h[strcspn(h, "]")] = '\0';
	}
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai;
	if (getaddrinfo(*h ? h : NULL, colon + 1, &hints, &ai) != 0)
		return false;
	memcpy(ss, ai->ai_addr, ai->ai_addrlen);
	*len = ai->ai_addrlen;
	freeaddrinfo(ai);
	return true;
}

/* ---- slow clients ----------------------------------------------------- *
 * libmicrohttpd's --timeout is an idle timeout: a client that sends a
 * header byte every second (slowloris) is never idle and holds its
 * connection forever.  So each request must also arrive — headers, and a
 * JSON body — within twice --timeout of the connection becoming ready for
 * it; a watchdog thread shuts down the sockets of those that do not, and
 * libmicrohttpd then closes them.  Streaming uploads (content,
 * observations) are exempt once their headers are in: they are bounded by
 * the idle timeout and the upload limit. */

static struct conn_watch *
watch_of(struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci =
		conn ? MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT) : NULL;
	return ci ? ci->socket_context : NULL;
}

static void
watch_arm(struct agora_server *srv, struct MHD_Connection *conn, bool on)
{
	struct conn_watch *w = watch_of(conn);
	if (w)
		atomic_store(&w->deadline_ns, on ? agora_mono_ns() + srv->receive_ns : 0);
}

static void
notify_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
		  enum MHD_ConnectionNotificationCode code)
{
	struct agora_server *srv = cls;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		struct conn_watch *w = xcalloc(1, sizeof *w);
		const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
		w->fd = ci ? ci->connect_fd : -1;
		atomic_store(&w->deadline_ns, agora_mono_ns() + srv->receive_ns);
		pthread_mutex_lock(&srv->watch_lock);
		w->next = srv->watched;
		if (w->next)
			w->next->prev = w;
		srv->watched = w;
		pthread_mutex_unlock(&srv->watch_lock);
		*socket_context = w;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
		struct conn_watch *w = *socket_context;
		pthread_mutex_lock(&srv->watch_lock);
		if (w->prev)
			w->prev->next = w->next;
		else
			srv->watched = w->next;
		if (w->next)
			w->next->prev = w->prev;
		pthread_mutex_unlock(&srv->watch_lock);
		free(w);
		*socket_context = NULL;
	}
}

static void *
watchdog(void *arg)
{
	struct agora_server *srv = arg;
	while (!atomic_load(&srv->stopping)) {
		usleep(250 * 1000);
		uint64_t now = agora_mono_ns();
		pthread_mutex_lock(&srv->watch_lock);
		for (struct conn_watch *w = srv->watched; w; w = w->next) {
			uint64_t d = atomic_load(&w->deadline_ns);
			if (d && now > d && w->fd >= 0) {
				shutdown(w->fd, SHUT_RDWR);
				atomic_store(&w->deadline_ns, 0);
			}
		}
		pthread_mutex_unlock(&srv->watch_lock);
	}
	return NULL;
}

struct agora_server *
agora_server_start(const struct agora_server_config *cfg)
{
	struct sockaddr_storage ss;
	socklen_t sslen;
	if (!parse_listen(cfg->listen, &ss, &sslen)) {
		agora_logf(AGORA_LOG_ERROR, "listen", "cannot parse listen address '%s' (want HOST:PORT)",
			   cfg->listen);
		return NULL;
	}
	struct agora_server *srv = xcalloc(1, sizeof *srv);
	srv->cfg = *cfg;
	srv->metrics = xcalloc(cfg->nroutes + 1, sizeof *srv->metrics);
	pthread_mutex_init(&srv->watch_lock, NULL);
	srv->receive_ns = 2ull * (cfg->timeout_s ? cfg->timeout_s : 30) * 1000000000ull;
	unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ERROR_LOG;
	if (ss.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	srv->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, access_handler, srv,
		MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)(cfg->threads ? cfg->threads : 4),
		MHD_OPTION_CONNECTION_LIMIT, (unsigned int)(cfg->max_connections ? cfg->max_connections : 1024),
		MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int)cfg->per_ip_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)(cfg->timeout_s ? cfg->timeout_s : 30),
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_URI_LOG_CALLBACK, uri_logger, srv,
		MHD_OPTION_NOTIFY_COMPLETED, completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
		MHD_OPTION_END);
	if (!srv->daemon) {
		agora_logf(AGORA_LOG_ERROR, "listen", "cannot listen on %s", cfg->listen);
		pthread_mutex_destroy(&srv->watch_lock);
		free(srv->metrics);
		free(srv);
		return NULL;
	}
	if (pthread_create(&srv->watchdog, NULL, watchdog, srv) != 0)
		abort();
	return srv;
}

uint16_t
agora_server_port(const struct agora_server *s)
{
	const union MHD_DaemonInfo *i = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	return i ? i->port : 0;
}

void
agora_server_stop(struct agora_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	pthread_join(s->watchdog, NULL);
	MHD_stop_daemon(s->daemon);
	pthread_mutex_destroy(&s->watch_lock);
	free(s->metrics);
	free(s);
}

char *
agora_server_metrics(const struct agora_server *s)
{
	struct agora_buf b;
	agora_buf_init(&b);
	agora_buf_puts(&b, "# HELP agora_http_requests_total HTTP requests by route and status.\n"
			   "# TYPE agora_http_requests_total counter\n");
	for (size_t i = 0; i <= s->cfg.nroutes; i++) {
		const char *method = i < s->cfg.nroutes ? s->cfg.routes[i].method : "";
		const char *pat = i < s->cfg.nroutes ? s->cfg.routes[i].pattern : "unmatched";
		for (unsigned st = 0; st < 600; st++) {
			uint64_t n = atomic_load(&s->metrics[i].by_status[st]);
			if (n)
				agora_buf_printf(&b, "agora_http_requests_total{method=\"%s\",route=\"%s\",status=\"%u\"} %llu\n",
						 method, pat, st, (unsigned long long)n);
		}
	}
	agora_buf_puts(&b, "# HELP agora_http_request_duration_seconds Request latency by route.\n"
			   "# TYPE agora_http_request_duration_seconds histogram\n");
	for (size_t i = 0; i <= s->cfg.nroutes; i++) {
		const struct route_metrics *m = &s->metrics[i];
		uint64_t count = atomic_load(&m->count);
		if (!count)
			continue;
		const char *method = i < s->cfg.nroutes ? s->cfg.routes[i].method : "";
		const char *pat = i < s->cfg.nroutes ? s->cfg.routes[i].pattern : "unmatched";
		for (size_t k = 0; k < NBUCKETS; k++)
			agora_buf_printf(&b, "agora_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"%g\"} %llu\n",
					 method, pat, latency_buckets[k],
					 (unsigned long long)atomic_load(&m->buckets[k]));
		agora_buf_printf(&b, "agora_http_request_duration_seconds_bucket{method=\"%s\",route=\"%s\",le=\"+Inf\"} %llu\n",
				 method, pat, (unsigned long long)count);
		agora_buf_printf(&b, "agora_http_request_duration_seconds_sum{method=\"%s\",route=\"%s\"} %.6f\n",
				 method, pat, (double)atomic_load(&m->sum_us) / 1e6);
		agora_buf_printf(&b, "agora_http_request_duration_seconds_count{method=\"%s\",route=\"%s\"} %llu\n",
				 method, pat, (unsigned long long)count);
	}
	return agora_buf_steal(&b);
}

/* ---- OpenAPI -------------------------------------------------------------- */

static json_t *
openapi_operation(const struct agora_route *rt)
{
	json_t *op = json_object();
	json_t *params = json_array();
	for (const char *p = strchr(rt->pattern, '{'); p; p = strchr(p + 1, '{')) {
		size_t n = strcspn(p + 1, "*}");
		char *name = xstrndup(p + 1, n);
		json_array_append_new(params, json_pack("{s:s, s:s, s:b, s:{s:s}}", "name", name, "in",
							"path", "required", 1, "schema", "type",
							"string"));
		free(name);
	}
	if (json_array_size(params))
		json_object_set_new(op, "parameters", params);
	else
		json_decref(params);
	json_t *sec = json_array();
	if (rt->auth & AGORA_AUTH_APIKEY)
		json_array_append_new(sec, json_pack("{s:[]}", "apiKey"));
	if (rt->auth & AGORA_AUTH_PARTICIPANT)
		json_array_append_new(sec, json_pack("{s:[]}", "participantToken"));
	json_object_set_new(op, "security", sec);
	if (rt->auth & AGORA_AUTH_APIKEY) {
		json_t *roles = json_array();
		for (size_t i = 0; i < ARRAY_LEN(roles_tab); i++)
			if (rt->roles & roles_tab[i].bit)
				json_array_append_new(roles, json_string(roles_tab[i].name));
		json_object_set_new(op, "x-agora-roles", roles);
	}
	if (rt->body_limit == AGORA_BODY_STREAM)
		json_object_set_new(op, "x-agora-streamed-body", json_true());
	if (strstr(rt->pattern, "*}"))
		json_object_set_new(op, "x-agora-rest-of-path", json_true());
	json_object_set_new(op, "responses",
			    json_pack("{s:{s:s}, s:{s:s}}", "2XX", "description", "success", "default",
				      "$ref", "#/components/responses/Error"));
	return op;
}

char *
agora_server_openapi(const struct agora_server *s, const char *title)
{
	json_t *paths = json_object();
	for (size_t i = 0; i < s->cfg.nroutes; i++) {
		const struct agora_route *rt = &s->cfg.routes[i];
		/* OpenAPI has no rest-of-path parameter: "{path*}" is shown as
		 * "{path}" and the operation says it takes the rest. */
		char *key = xstrdup(rt->pattern);
		char *star = strstr(key, "*}");
		if (star)
			memmove(star, star + 1, strlen(star));
		json_t *item = json_object_get(paths, key);
		if (!item) {
			item = json_object();
			json_object_set_new(paths, key, item);
		}
		free(key);
		char method[16];
		size_t k;
		for (k = 0; rt->method[k] && k + 1 < sizeof method; k++)
			method[k] = (char)(rt->method[k] | 0x20);
		method[k] = '\0';
		json_object_set_new(item, method, openapi_operation(rt));
	}
	static const char components[] =
		"{\"securitySchemes\":{"
		"\"apiKey\":{\"type\":\"http\",\"scheme\":\"bearer\"},"
		"\"participantToken\":{\"type\":\"http\",\"scheme\":\"bearer\",\"bearerFormat\":\"JWT\"}},"
		"\"responses\":{\"Error\":{\"description\":\"an error from the error table (docs/API.md)\","
		"\"content\":{\"application/json\":{\"schema\":{\"type\":\"object\","
		"\"required\":[\"code\",\"error\",\"detail\"],\"properties\":{"
		"\"code\":{\"type\":\"integer\"},\"error\":{\"type\":\"string\"},"
		"\"detail\":{\"type\":\"string\"}}}}}}}}";
	json_t *doc = json_pack("{s:s, s:{s:s, s:s}, s:o, s:o}", "openapi", "3.1.0", "info", "title",
				title, "version", AGORA_VERSION, "paths", paths, "components",
				json_loads(components, 0, NULL));
	char *out = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	return out;
}
