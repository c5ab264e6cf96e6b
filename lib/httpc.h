/* httpc.h — outbound HTTP on libcurl, with timeouts on every call.
 *
 * All threads share one connection cache, DNS cache and TLS session cache
 * (a CURLSH), and each thread reuses its own easy handle, so repeated calls
 * to the same peer reuse a warm connection.  Only http and https URLs are
 * accepted; redirects are returned to the caller, never followed.
 *
 * Call agora_httpc_global_init() once before starting threads (it is safe
 * to call more than once; each call needs a matching cleanup), and
 * agora_httpc_global_cleanup() after every thread that used httpc has
 * exited.
 */
#ifndef AGORA_HTTPC_H
#define AGORA_HTTPC_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

/* Defaults applied where a request field is 0. */
#define AGORA_HTTPC_CONNECT_TIMEOUT_MS 5000L
#define AGORA_HTTPC_TIMEOUT_MS 30000L
#define AGORA_HTTPC_MAX_RESPONSE ((size_t)8 << 20)

struct agora_httpc_req {
	const char *method;               /* NULL → "GET" */
	const char *url;
	const char *const *headers;       /* NULL-terminated "Name: value", may be NULL */
	const void *body;                 /* may be NULL */
	size_t body_len;
	long connect_timeout_ms;          /* 0 → AGORA_HTTPC_CONNECT_TIMEOUT_MS */
	long timeout_ms;                  /* whole transfer; 0 → AGORA_HTTPC_TIMEOUT_MS */
	size_t max_response;              /* body bytes; 0 → AGORA_HTTPC_MAX_RESPONSE */
};

/* Why a request failed (resp.error); AGORA_HTTPC_OK when a response arrived. */
enum agora_httpc_error {
	AGORA_HTTPC_OK = 0,
	AGORA_HTTPC_ERR_CONNECT,          /* resolve failed or connection refused */
	AGORA_HTTPC_ERR_TIMEOUT,          /* connect or total timeout */
	AGORA_HTTPC_ERR_TOO_LARGE,        /* body exceeded max_response; transfer aborted */
	AGORA_HTTPC_ERR_TRANSPORT,        /* anything else: TLS, reset, bad URL, protocol */
};

/* Response storage owned by the caller (agora_httpc_request fills it,
 * agora_httpc_resp_cleanup frees what it points to). */
struct agora_httpc_resp {
	long status;                      /* HTTP status; 0 when no response */
	char *body;                       /* NUL-terminated (body_len excludes it) */
	size_t body_len;
	char *content_type;               /* NULL when the response had none */
	char **headers;                   /* "Name: value" lines of the final response */
	size_t nheaders;
	enum agora_httpc_error error;
	char err[256];                    /* "" on success, else a one-line reason */
};

/* Initialise libcurl and the shared caches.  Returns false (and logs) when
 * libcurl cannot be initialised.  Also ignores SIGPIPE if it is at its
 * default disposition: with CURLOPT_NOSIGNAL set, a write to a peer that
 * closed would otherwise kill the process. */
bool agora_httpc_global_init(void);
/* Releases the calling thread's handle and, on the last matching call, the
 * shared caches and libcurl. */
void agora_httpc_global_cleanup(void);

/* Performs one request.  resp is overwritten (need not be initialised) and
 * must always be released with agora_httpc_resp_cleanup().
 * Returns true when an HTTP response arrived, whatever its status; false on
 * a transport error, a timeout or a body larger than max_response, with
 * resp->error and resp->err saying which (status is kept if headers had
 * already arrived, body is freed). */
bool agora_httpc_request(const struct agora_httpc_req *req, struct agora_httpc_resp *resp);

/* Frees what resp points to and zeroes it.  Accepts NULL. */
void agora_httpc_resp_cleanup(struct agora_httpc_resp *resp);

/* The value of the first response header called name (case-insensitive),
 * borrowed from resp; NULL when absent. */
const char *agora_httpc_resp_header(const struct agora_httpc_resp *resp, const char *name);

/* Parses the body as JSON.  Returns a new reference, or NULL when the body
 * is empty or not JSON. */
json_t *agora_httpc_json(const struct agora_httpc_resp *resp);

#endif
