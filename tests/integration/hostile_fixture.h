/* hostile_fixture.h — the hostile-input suite's common parts (issue 9):
 * counted requests, reply checks (a 4xx with its error body, never a 5xx),
 * raw-socket requests for protocol abuse, and database snapshots (row
 * counts and an md5 per table) taken before and after each group. */
#ifndef AGORA_HOSTILE_FIXTURE_H
#define AGORA_HOSTILE_FIXTURE_H

#include "nego_fixture.h"

/* What kind of error body a refusal must carry. */
enum hfx_body {
	HFX_API,	/* {"code":>1000,"error","detail"} */
	HFX_DSP,	/* a DSP error object: @type …Error */
	HFX_EITHER,	/* DSP endpoints before the handler: either of the above */
	HFX_NONE,	/* no body asked for (HEAD, closed connections) */
};

/* The requests this test process made so far. */
extern long hfx_requests;

/* Check one reply: `want` is the exact status, or 4 for "any 4xx";
 * `symbol` the error symbol (NULL: any).  Fails the test with `what`. */
void hfx_check(const char *what, const struct harness_resp *r, long want, const char *symbol,
	       enum hfx_body kind);

/* A counted HTTP call to base+path; headers NULL-terminated or NULL.  The
 * body is sent as given (Content-Type application/json unless a header
 * names another). */
struct harness_resp *hfx_http(const char *method, const char *base, const char *path,
			      const char *const headers[], const char *body);
/* A counted raw HTTP/1.1 request (Connection: close): authz is the whole
 * Authorization value (NULL: none), ctype the Content-Type (NULL: none),
 * body len bytes as given (NULs and invalid UTF-8 included). */
struct harness_resp *hfx_call(const char *base, const char *method, const char *path,
			      const char *authz, const char *ctype, const char *body, size_t len);
/* A counted call authenticated by participant p at the broker or at a
 * connector (aud = recipient id, htu = base+path), the body hashed as given
 * (len bytes, sent raw as hfx_call does). */
struct harness_resp *hfx_as(const struct participant *p, const char *aud, const char *method,
			    const char *base, const char *path, const char *ctype, const char *body,
			    size_t len);

/* Raw bytes to the server at base (http://127.0.0.1:PORT); reads until the
 * server closes, timeout_ms pass without an answer, or 150 ms pass
 * without more after one.  Returns the status of the first
 * response (0 when the connection closed without one, -1 on timeout with
 * no answer); the response text (heap) in *text when not NULL. */
long hfx_raw(const char *base, const void *req, size_t len, int timeout_ms, char **text);
/* Parse a raw response's JSON body (new reference, NULL when none). */
json_t *hfx_raw_json(const char *text);

/* The broker and both connectors are still running. */
void hfx_alive(const char *what);

/* A group of hostile requests: snapshots of the broker's, the city's and
 * the mobility company's databases before; at the end the same snapshots
 * again (asserted equal), the processes alive, the group's request count
 * logged. */
struct hfx_group {
	const char *name;
	char *snap[3];
	long start;
};
void hfx_group_begin(struct hfx_group *g, const char *name);
void hfx_group_end(struct hfx_group *g);
/* Wait until the databases stop changing (outbox deliveries, catalog
 * pushes of the setup settle). */
void hfx_settle(void);
/* The test's request count in a cr_log_info line, and into the file the
 * suite totals ($AGORA_HOSTILE_COUNT, when set). */
void hfx_report(const char *test);

/* A third participant, registered through the broker's admin API with
 * its own key, that has no business with anything of city's or mobi's. */
extern struct participant intruder;
#define INTRUDER "urn:agora:participant:intruder"

#endif
