/* httpc.c — see httpc.h. */
#if !defined(_GNU_SOURCE) && !defined(_POSIX_C_SOURCE)
#define _POSIX_C_SOURCE 200809L /* sigaction */
#endif
#include "httpc.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "log.h"
#include "util.h"

/* Idle connections kept in the shared cache (libcurl's default of 5 would
 * close warm connections as soon as a few worker threads are busy). */
#define MAX_IDLE_CONNECTIONS 64L

/* Response headers are bounded too: a peer that streams header lines
 * forever is cut off like one that streams a body. */
#define MAX_HEADER_BYTES ((size_t)256 << 10)

static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned init_refs;
static CURLSH *share;
static pthread_mutex_t share_mu[CURL_LOCK_DATA_LAST];

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static pthread_key_t easy_key;

static void
share_lock(CURL *h, curl_lock_data data, curl_lock_access access, void *ud)
{
	(void)h;
	(void)access;
	(void)ud;
	pthread_mutex_lock(&share_mu[data]);
}

static void
share_unlock(CURL *h, curl_lock_data data, void *ud)
{
	(void)h;
	(void)ud;
	pthread_mutex_unlock(&share_mu[data]);
}

static void
easy_destroy(void *p)
{
	curl_easy_cleanup(p);
}

static void
key_create(void)
{
	if (pthread_key_create(&easy_key, easy_destroy) != 0)
		abort();
}

bool
agora_httpc_global_init(void)
{
	bool ok = true;
	pthread_once(&key_once, key_create);
	pthread_mutex_lock(&init_mu);
	if (init_refs++ > 0)
		goto out;
	struct sigaction sa;
	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
	CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
	if (rc != CURLE_OK) {
		agora_logf(AGORA_LOG_ERROR, "httpc", "curl_global_init: %s", curl_easy_strerror(rc));
		init_refs--;
		ok = false;
		goto out;
	}
	for (size_t i = 0; i < ARRAY_LEN(share_mu); i++)
		pthread_mutex_init(&share_mu[i], NULL);
	share = curl_share_init();
	if (!share)
		abort();
	curl_share_setopt(share, CURLSHOPT_LOCKFUNC, share_lock);
	curl_share_setopt(share, CURLSHOPT_UNLOCKFUNC, share_unlock);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_CONNECT);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
	curl_share_setopt(share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
out:
	pthread_mutex_unlock(&init_mu);
	return ok;
}

void
agora_httpc_global_cleanup(void)
{
	pthread_mutex_lock(&init_mu);
	if (init_refs == 0 || --init_refs > 0)
		goto out;
	CURL *easy = pthread_getspecific(easy_key);
	if (easy) {
		curl_easy_cleanup(easy);
		pthread_setspecific(easy_key, NULL);
	}
	/* CURLSHE_IN_USE means another thread still holds a handle: leak the
	 * share rather than free memory that handle points to. */
	if (curl_share_cleanup(share) != CURLSHE_OK) {
		agora_logf(AGORA_LOG_WARN, "httpc", "share still in use at cleanup");
	} else {
		for (size_t i = 0; i < ARRAY_LEN(share_mu); i++)
			pthread_mutex_destroy(&share_mu[i]);
	}
	share = NULL;
	curl_global_cleanup();
out:
	pthread_mutex_unlock(&init_mu);
}

/* The calling thread's easy handle, created on first use and released by
 * the key destructor when the thread exits. */
static CURL *
thread_easy(void)
{
	pthread_once(&key_once, key_create);
	CURL *easy = pthread_getspecific(easy_key);
	if (!easy) {
		easy = curl_easy_init();
		if (!easy)
			abort();
		pthread_setspecific(easy_key, easy);
	}
	return easy;
}

struct xfer {
	struct agora_buf body;
	size_t max_body;
	bool too_large;
	char **headers;
	size_t nheaders;
	size_t cap_headers;
	size_t header_bytes;
	unsigned sends;		/* times libcurl was about to send the request */
	bool once;		/* never resend it (see on_prereq) */
	bool headers_done;	/* the blank line ending the headers arrived */
};

static void
free_headers(char **headers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(headers[i]);
	free(headers);
}

static size_t
on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	if (n > x->max_body - x->body.len) {
		x->too_large = true;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	agora_buf_append(&x->body, ptr, n);
	return n;
}

static size_t
on_header(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct xfer *x = ud;
	size_t n = size * nmemb;
	x->header_bytes += n;
	if (x->header_bytes > MAX_HEADER_BYTES) {
		x->too_large = true;
		return 0;
	}
	size_t len = n;
	while (len > 0 && (ptr[len - 1] == '\n' || ptr[len - 1] == '\r'))
		len--;
	if (len == 0) {
		x->headers_done = true;
		return n;
	}
	if (len >= 5 && memcmp(ptr, "HTTP/", 5) == 0) {
		x->headers_done = false;
		/* A new status line (after 1xx): keep only the final response's. */
		for (size_t i = 0; i < x->nheaders; i++)
			free(x->headers[i]);
		x->nheaders = 0;
		return n;
	}
	const char *colon = memchr(ptr, ':', len);
	if (!colon || colon == ptr)
		return n;
	size_t name_len = (size_t)(colon - ptr);
	while (name_len > 0 && (ptr[name_len - 1] == ' ' || ptr[name_len - 1] == '\t'))
		name_len--;
	const char *v = colon + 1;
	const char *end = ptr + len;
	while (v < end && (*v == ' ' || *v == '\t'))
		v++;
	while (end > v && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	if (x->nheaders == x->cap_headers) {
		x->cap_headers = x->cap_headers ? 2 * x->cap_headers : 16;
		x->headers = xrealloc(x->headers, x->cap_headers * sizeof *x->headers);
	}
	x->headers[x->nheaders++] =
		xasprintf("%.*s: %.*s", (int)name_len, ptr, (int)(end - v), v);
	return n;
}

/* When a reused connection dies before any byte of the response, libcurl
 * silently sends the request again on a fresh connection.  The request may
 * have been processed all the same (only the answer was lost), and our
 * callers' requests carry one-time participant tokens (a new jti per
 * attempt, OUTBOX.md): the copy would be a replay, refused with a 404 the
 * caller takes for a final answer.  So a request that changes something
 * goes out at most once per call; the caller gets a transport error and
 * retries with a fresh token.  GET and HEAD keep libcurl's resend: they
 * change nothing, and the usual case is a kept-alive connection the server
 * closed for idleness just as it was reused, where the request never
 * arrived and the resend is what the caller wants. */
static int
on_prereq(void *ud, char *primary_ip, char *local_ip, int primary_port, int local_port)
{
	struct xfer *x = ud;
	(void)primary_ip, (void)local_ip, (void)primary_port, (void)local_port;
	return x->sends++ == 0 || !x->once ? CURL_PREREQFUNC_OK : CURL_PREREQFUNC_ABORT;
}

static bool
has_header(const char *const *headers, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; headers && headers[i]; i++)
		if (strncasecmp(headers[i], name, len) == 0 && headers[i][len] == ':')
			return true;
	return false;
}

static struct curl_slist *
slist_add(struct curl_slist *l, const char *s)
{
	struct curl_slist *r = curl_slist_append(l, s);
	if (!r)
		abort();
	return r;
}

static void
set_method(CURL *easy, const struct agora_httpc_req *req, const char *m)
{
	bool has_body = req->body != NULL;
	if (strcasecmp(m, "HEAD") == 0) {
		curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
	} else if (has_body || strcasecmp(m, "POST") == 0 || strcasecmp(m, "PUT") == 0
		   || strcasecmp(m, "PATCH") == 0) {
		curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)(has_body ? req->body_len : 0));
		curl_easy_setopt(easy, CURLOPT_POSTFIELDS, has_body ? req->body : "");
		if (strcasecmp(m, "POST") != 0)
			curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, m);
	} else if (strcasecmp(m, "GET") != 0) {
		curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, m);
	}
}

static enum agora_httpc_error
classify(CURLcode rc, bool too_large)
{
	if (too_large || rc == CURLE_FILESIZE_EXCEEDED)
		return AGORA_HTTPC_ERR_TOO_LARGE;
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return AGORA_HTTPC_ERR_TIMEOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		return AGORA_HTTPC_ERR_CONNECT;
	default:
		return AGORA_HTTPC_ERR_TRANSPORT;
	}
}

bool
agora_httpc_request(const struct agora_httpc_req *req, struct agora_httpc_resp *resp)
{
	memset(resp, 0, sizeof *resp);
	struct xfer x = {
		.max_body = req->max_response ? req->max_response : AGORA_HTTPC_MAX_RESPONSE,
	};
	agora_buf_init(&x.body);
	const char *method = req->method ? req->method : "GET";
	x.once = strcasecmp(method, "GET") != 0 && strcasecmp(method, "HEAD") != 0;
	long connect_ms = req->connect_timeout_ms > 0 ? req->connect_timeout_ms
						      : AGORA_HTTPC_CONNECT_TIMEOUT_MS;
	long total_ms = req->timeout_ms > 0 ? req->timeout_ms : AGORA_HTTPC_TIMEOUT_MS;
	char errbuf[CURL_ERROR_SIZE] = "";

	struct curl_slist *hdrs = NULL;
	for (size_t i = 0; req->headers && req->headers[i]; i++)
		hdrs = slist_add(hdrs, req->headers[i]);
	/* No 100-continue round trip; no form-urlencoded type invented for a body. */
	if (!has_header(req->headers, "Expect"))
		hdrs = slist_add(hdrs, "Expect:");
	if (req->body && !has_header(req->headers, "Content-Type"))
		hdrs = slist_add(hdrs, "Content-Type:");

	CURL *easy = thread_easy();
	curl_easy_reset(easy);
	if (share)
		curl_easy_setopt(easy, CURLOPT_SHARE, share);
	curl_easy_setopt(easy, CURLOPT_URL, req->url);
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_MAXCONNECTS, MAX_IDLE_CONNECTIONS);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connect_ms);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, total_ms);
	curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(easy, CURLOPT_USERAGENT, "agora-httpc");
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(easy, CURLOPT_PREREQFUNCTION, on_prereq);
	curl_easy_setopt(easy, CURLOPT_PREREQDATA, &x);
	/* Fails before the body when Content-Length already says too much
	 * (not for HEAD, whose Content-Length describes a body never sent). */
	if (strcasecmp(method, "HEAD") != 0)
		curl_easy_setopt(easy, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)x.max_body);
	set_method(easy, req, method);

	CURLcode rc = curl_easy_perform(easy);
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &resp->status);
	/* libcurl takes a connection closed in the middle of the headers for
	 * the end of a response without a body: a 2xx whose body was lost. */
	bool cut = rc == CURLE_OK && !x.headers_done;
	if (rc == CURLE_OK && !cut) {
		char *ct = NULL;
		if (curl_easy_getinfo(easy, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			resp->content_type = xstrdup(ct);
		resp->body_len = x.body.len;
		resp->body = agora_buf_steal(&x.body);
		resp->headers = x.headers;
		resp->nheaders = x.nheaders;
	} else {
		resp->error = cut ? AGORA_HTTPC_ERR_TRANSPORT : classify(rc, x.too_large);
		const char *why = errbuf[0] ? errbuf : curl_easy_strerror(rc);
		if (cut)
			why = "the connection closed inside the response headers";
		if (rc == CURLE_ABORTED_BY_CALLBACK && x.sends > 1)
			why = "the connection closed before any response (not resent)";
		switch (resp->error) {
		case AGORA_HTTPC_ERR_TOO_LARGE:
			snprintf(resp->err, sizeof resp->err,
				 "response too large: body exceeds %zu bytes", x.max_body);
			break;
		case AGORA_HTTPC_ERR_TIMEOUT:
			snprintf(resp->err, sizeof resp->err, "timeout: %.200s", why);
			break;
		case AGORA_HTTPC_ERR_CONNECT:
			snprintf(resp->err, sizeof resp->err, "connect: %.200s", why);
			break;
		default:
			snprintf(resp->err, sizeof resp->err, "transport: %.200s", why);
			break;
		}
		agora_buf_cleanup(&x.body);
		free_headers(x.headers, x.nheaders);
	}
	/* Do not leave the handle pointing at this frame or at freed lists. */
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, NULL);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);
	curl_easy_setopt(easy, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(easy, CURLOPT_PREREQDATA, NULL);
	curl_slist_free_all(hdrs);
	return rc == CURLE_OK && !cut;
}

void
agora_httpc_resp_cleanup(struct agora_httpc_resp *resp)
{
	if (!resp)
		return;
	free(resp->body);
	free(resp->content_type);
	free_headers(resp->headers, resp->nheaders);
	memset(resp, 0, sizeof *resp);
}

const char *
agora_httpc_resp_header(const struct agora_httpc_resp *resp, const char *name)
{
	size_t len = strlen(name);
	for (size_t i = 0; i < resp->nheaders; i++) {
		const char *h = resp->headers[i];
		if (strncasecmp(h, name, len) == 0 && h[len] == ':')
			return h + len + 2; /* stored as "Name: value" */
	}
	return NULL;
}

json_t *
agora_httpc_json(const struct agora_httpc_resp *resp)
{
	if (!resp->body || resp->body_len == 0)
		return NULL;
	return json_loadb(resp->body, resp->body_len, 0, NULL);
}
