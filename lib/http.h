/* http.h — the HTTP server every Agora process runs, on libmicrohttpd.
 *
 * One static route table per process: method, path pattern with {params},
 * handler, and the credentials the route accepts.  The server reads and
 * bounds the body (1 MiB for JSON, 413 past it), parses JSON, authenticates,
 * and calls the handler with everything unpacked; the handler replies
 * exactly once through agora_reply_*().  It also keeps X-Request-Id, writes
 * one JSON access-log line per request and counts Prometheus metrics.
 */
#ifndef AGORA_HTTP_H
#define AGORA_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "errors.h"

#define AGORA_JSON_BODY_LIMIT (1024 * 1024)
/* body_limit of a streaming route: the handler sees the body chunk by
 * chunk (r->stream_phase) and bounds it itself. */
#define AGORA_BODY_STREAM ((size_t)-1)
#define AGORA_MAX_PARAMS 4

/* Credentials a route accepts (bitmask); 0 = public. */
enum agora_auth {
	AGORA_AUTH_APIKEY = 1,		/* an API key with a role in .roles */
	AGORA_AUTH_PARTICIPANT = 2,	/* a self-issued participant JWT */
	AGORA_AUTH_DSP = 4,		/* with PARTICIPANT: a DSP endpoint, whose
					 * unauthenticated callers get 404 */
};

enum agora_role {
	AGORA_ROLE_ADMIN = 1,
	AGORA_ROLE_PUBLISHER = 2,
	AGORA_ROLE_CONSUMER = 4,
	AGORA_ROLE_VIEWER = 8,
};
#define AGORA_ROLES_ANY (AGORA_ROLE_ADMIN | AGORA_ROLE_PUBLISHER | AGORA_ROLE_CONSUMER | AGORA_ROLE_VIEWER)

struct agora_req;
typedef enum MHD_Result (*agora_handler)(struct agora_req *r);

struct agora_route {
	const char *method;	/* "GET", "POST", … (GET routes answer HEAD too) */
	const char *pattern;	/* "/api/v1/participants/{id}"; a last segment
				 * "{name*}" takes the rest of the path */
	agora_handler handler;
	unsigned auth;		/* enum agora_auth bits */
	unsigned roles;		/* enum agora_role bits, for AGORA_AUTH_APIKEY */
	size_t body_limit;	/* 0: AGORA_JSON_BODY_LIMIT (1 MiB) */
};

enum agora_stream_phase {
	AGORA_STREAM_NONE,	/* not a streaming route */
	AGORA_STREAM_BEGIN,	/* headers read, authenticated; no body yet */
	AGORA_STREAM_CHUNK,	/* r->chunk / r->chunk_len hold the next bytes */
	AGORA_STREAM_END,	/* the whole body was delivered: reply now */
};

struct agora_req {
	struct MHD_Connection *conn;
	const struct agora_route *route;
	const char *method;
	const char *path;
	const char *query_string;	/* raw (still percent-encoded), "" if none */
	const char *param_names[AGORA_MAX_PARAMS];
	char *param_values[AGORA_MAX_PARAMS];
	const char *body;	/* raw body (NUL-terminated), or "" */
	size_t body_len;
	const json_t *json;	/* parsed body, NULL when the body was empty */
	char request_id[65];
	/* Who called: filled by authentication. */
	unsigned role;		/* enum agora_role of the API key, 0 if none */
	char *api_key_id;	/* "admin" for the bootstrap admin key */
	char *participant;	/* participant id of a verified token */
	void *app;		/* the server's application context */
	/* Streaming routes (body_limit == AGORA_BODY_STREAM) only.  The handler
	 * is called once per phase.  At BEGIN it may reply (refusing the
	 * upload); during CHUNK it cannot reply, so it calls
	 * agora_stream_fail() and the server answers that error once the body
	 * has been drained (or closes the connection when it is too long).
	 * stream_cleanup(stream_ctx), if set, runs when the request ends,
	 * completed or aborted. */
	enum agora_stream_phase stream_phase;
	const char *chunk;
	size_t chunk_len;
	void *stream_ctx;
	void (*stream_cleanup)(void *ctx);
	/* Any route: done(done_ctx, completed) runs when the request ends,
	 * after the response was sent (completed: every byte of it was handed
	 * to the kernel) or was aborted (client gone, timeout, shutdown). */
	void (*done)(void *ctx, bool completed);
	void *done_ctx;
};

/* During AGORA_STREAM_CHUNK: stop taking the body and answer e at the end. */
void agora_stream_fail(struct agora_req *r, enum agora_error e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The participant authenticator of a process: verify the self-issued token
 * (the raw JWT, without "Bearer ") for request r.  Return AGORA_E__COUNT
 * and set r->participant (heap) on success, else the error (detail filled). */
typedef enum agora_error (*agora_participant_auth)(struct agora_req *r, const char *jwt,
						   char *detail, size_t detail_len);

struct agora_server_config {
	const char *listen;		/* "HOST:PORT"; port 0 picks a free one */
	unsigned threads;		/* worker threads in the pool */
	unsigned max_connections;
	unsigned per_ip_connections;
	unsigned timeout_s;		/* idle connection timeout */
	const struct agora_route *routes;
	size_t nroutes;
	agora_participant_auth participant_auth;
	/* SHA-256 of the bootstrap admin key (role admin), if has_admin_key. */
	bool has_admin_key;
	uint8_t admin_key_hash[32];
	void *app;
};

struct agora_server;

/* Start listening; NULL (logged) when the address cannot be bound. */
struct agora_server *agora_server_start(const struct agora_server_config *cfg);
uint16_t agora_server_port(const struct agora_server *s);
void agora_server_stop(struct agora_server *s);
/* Prometheus text of this server's request counters and latency histogram
 * (heap string). */
char *agora_server_metrics(const struct agora_server *s);

/* An OpenAPI 3.1 description of this server's route table (paths,
 * methods, path parameters, accepted credentials and roles, the shared
 * error schema): always what the code serves.  Heap string. */
char *agora_server_openapi(const struct agora_server *s, const char *title);

/* Path parameter / query parameter of the request (borrowed), or NULL. */
const char *agora_req_param(const struct agora_req *r, const char *name);
const char *agora_req_query(const struct agora_req *r, const char *name);
const char *agora_req_header(const struct agora_req *r, const char *name);

/* Keyset paging: ?limit= (1..max, default def) and ?cursor= (opaque: the
 * base64url of the last key of the previous page).  On a bad value replies
 * 400 invalid_query and returns false; else *after is the key to continue
 * after (heap) or NULL for the first page. */
bool agora_req_page(struct agora_req *r, long def, long max, long *limit, char **after);
/* For a list fetched with limit + 1 rows: drop the extra row and return
 * the next cursor (new reference: a string, or null on the last page),
 * made from member `key` of the last row kept. */
json_t *agora_page_next(json_t *list, long limit, const char *key);

/* Replies.  Each queues exactly one response; the json body is stolen. */
enum MHD_Result agora_reply_json(struct agora_req *r, unsigned status, json_t *body);
enum MHD_Result agora_reply_error(struct agora_req *r, enum agora_error e, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
enum MHD_Result agora_reply_text(struct agora_req *r, unsigned status, const char *content_type,
				 const char *text);
/* Serve size bytes of an open file (zero-copy; the fd is closed when the
 * response is done), with Range support when range is true: a valid
 * single "bytes=" range answers 206 with Content-Range, an unsatisfiable
 * one 416. */
enum MHD_Result agora_reply_fd(struct agora_req *r, const char *content_type, int fd,
			       uint64_t size, bool range);
/* Parse a Range header ("bytes=a-b", "bytes=a-", "bytes=-n") against a
 * representation of size bytes: 1 and [*from, *to] for one satisfiable
 * range, 0 when there is no usable Range (serve everything: absent, not
 * bytes, several ranges, malformed), -1 when unsatisfiable (416). */
int agora_http_parse_range(const char *h, uint64_t size, uint64_t *from, uint64_t *to);
/* The router's path matcher, exposed for the unit tests and fuzz-http: true
 * when path matches pattern ("/a/{id}/b"; a last segment "{name*}" takes
 * the rest of the path, one or more segments).  With r, a match also fills
 * r->param_names/param_values (heap strings the caller frees); a failed
 * match may leave some filled too. */
bool agora_http_route_match(const char *pattern, const char *path, struct agora_req *r);
/* Stream a body produced by reader (libmicrohttpd's content-reader
 * contract: return bytes written, MHD_CONTENT_READER_END_OF_STREAM or
 * MHD_CONTENT_READER_END_WITH_ERROR) with size bytes, or
 * MHD_SIZE_UNKNOWN for a chunked body; free_cb(ctx) runs when the response
 * is destroyed.  block is the buffer size handed to the reader.  *resp (may
 * be NULL) receives the response, valid until free_cb runs: the reader
 * may add trailers (MHD_add_response_footer) before it ends a chunked body. */
enum MHD_Result agora_reply_stream(struct agora_req *r, unsigned status, const char *content_type,
				   uint64_t size, size_t block, MHD_ContentReaderCallback reader,
				   void *ctx, MHD_ContentReaderFreeCallback free_cb,
				   struct MHD_Response **resp);
/* Queue a response built by the caller (e.g. MHD_create_response_from_pipe)
 * with the usual headers; the response is consumed. */
enum MHD_Result agora_reply_response(struct agora_req *r, unsigned status, const char *content_type,
				     struct MHD_Response *resp);
/* An error whose body carries extra members (e.g. "problems"): extra is
 * stolen and merged into {"code","error","detail"}. */
enum MHD_Result agora_reply_error_with(struct agora_req *r, enum agora_error e, json_t *extra,
				       const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Add a header to the response the next agora_reply_* queues. */
void agora_reply_header(struct agora_req *r, const char *name, const char *value);

/* Role names ("admin", …) ↔ bits; 0 when unknown. */
unsigned agora_role_parse(const char *name);
const char *agora_role_name(unsigned role);

#endif
