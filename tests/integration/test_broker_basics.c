/* test_broker_basics.c — health, well-known documents, errors, metrics,
 * request ids, API keys: a real broker on a real database. */
#include "broker.h"
#include "broker_fixture.h"
#include "jose.h"
#include "openapi_check.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TestSuite(basics, .init = fx_start, .fini = fx_stop, .timeout = 60);

Test(basics, healthz_and_readyz)
{
	struct harness_resp *r = fx_call("GET", "/healthz", NULL, NULL);
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(r->body, "{\"status\":\"ok\"}");
	cr_assert_str_eq(harness_resp_header(r, "Content-Type"), "application/json");
	harness_resp_free(r);
	r = fx_call("GET", "/readyz", NULL, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "database")), "ok");
	harness_resp_free(r);
}

Test(basics, request_id_travels)
{
	char *url = xasprintf("%s/healthz", fx.url);
	const char *h[] = { "X-Request-Id: test-req.42", NULL };
	struct harness_resp *r = harness_http("GET", url, h, NULL);
	cr_assert_str_eq(harness_resp_header(r, "X-Request-Id"), "test-req.42");
	harness_resp_free(r);
	/* An unusable id (spaces, too long) is replaced by a fresh one. */
	const char *bad[] = { "X-Request-Id: has spaces", NULL };
	r = harness_http("GET", url, bad, NULL);
	const char *rid = harness_resp_header(r, "X-Request-Id");
	cr_assert_eq(strlen(rid), 24);
	cr_assert_eq(strspn(rid, "0123456789abcdef"), 24);
	harness_resp_free(r);
	free(url);
	/* The access log has one JSON line per request with that id. */
	char *log = harness_file_read(fx.log);
	cr_assert(strstr(log, "\"rid\":\"test-req.42\""), "access log line: %s", log);
	cr_assert(strstr(log, "\"msg\":\"request\""));
	free(log);
}

Test(basics, jwks_is_the_signing_key)
{
	struct harness_resp *r = fx_call("GET", "/.well-known/jwks.json", NULL, NULL);
	cr_assert_eq(r->status, 200);
	json_t *k = json_array_get(json_object_get(r->json, "keys"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(k, "kty")), "OKP");
	cr_assert_str_eq(json_string_value(json_object_get(k, "crv")), "Ed25519");
	cr_assert_null(json_object_get(k, "d"), "no private part published");
	char tp[44];
	cr_assert(agora_jwk_thumbprint(k, tp));
	cr_assert_str_eq(json_string_value(json_object_get(k, "kid")), tp);
	harness_resp_free(r);
	/* The key file was created with mode 0600. */
	char *path = xasprintf("%s/data/broker-key.pem", fx.dir);
	struct stat st;
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
	free(path);
}

Test(basics, dspace_version)
{
	struct harness_resp *r = fx_call("GET", "/.well-known/dspace-version", NULL, NULL);
	cr_assert_eq(r->status, 200);
	json_t *v = json_array_get(json_object_get(r->json, "protocolVersions"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(v, "version")), "2025-1");
	cr_assert_str_eq(json_string_value(json_object_get(v, "path")), "/dsp");
	cr_assert_str_eq(json_string_value(json_object_get(v, "binding")), "HTTPS");
	/* DSP's VersionResponse has no @type: wrap it for the validator. */
	json_t *msg = json_deep_copy(r->json);
	json_object_set_new(msg, "@type", json_string("VersionResponse"));
	char *text = json_dumps(msg, 0);
	bool skipped = false;
	cr_assert(harness_dsp_validate(text, &skipped), "dsp-validate accepts %s", text);
	free(text);
	json_decref(msg);
	harness_resp_free(r);
}

Test(basics, unknown_path_and_method)
{
	struct harness_resp *r = fx_call("GET", "/api/v1/nothing", NULL, NULL);
	fx_assert_error(r, 404, "not_found");
	harness_resp_free(r);
	r = fx_call("DELETE", "/api/v1/participants", ADMIN_KEY, NULL);
	fx_assert_error(r, 405, "method_not_allowed");
	cr_assert_str_eq(harness_resp_header(r, "Allow"), "POST, GET");
	harness_resp_free(r);
	r = fx_call("GET", "/api/v1/participants/a/b/c/d", ADMIN_KEY, NULL);
	fx_assert_error(r, 404, "not_found");
	harness_resp_free(r);
}

Test(basics, metrics_count_requests)
{
	for (int i = 0; i < 3; i++)
		harness_resp_free(fx_call("GET", "/readyz", NULL, NULL));
	harness_resp_free(fx_call("GET", "/nope", NULL, NULL));
	/* A request is counted when libmicrohttpd reports it completed, which
	 * is after its answer went out: the client may ask for /metrics first
	 * (seen under ASan), so wait for the last one to be counted. */
	struct harness_resp *r = NULL;
	for (int i = 0; i < 100; i++) {
		harness_resp_free(r);
		r = fx_call("GET", "/metrics", NULL, NULL);
		cr_assert_eq(r->status, 200);
		if (strstr(r->body, "route=\"unmatched\",status=\"404\"}"))
			break;
		usleep(20000);
	}
	cr_assert(strstr(r->body, "agora_http_requests_total{method=\"GET\",route=\"/readyz\",status=\"200\"} 3\n"),
		  "%s", r->body);
	cr_assert(strstr(r->body, "agora_http_requests_total{method=\"\",route=\"unmatched\",status=\"404\"} 1\n"),
		  "%s", r->body);
	cr_assert(strstr(r->body, "agora_http_request_duration_seconds_count{method=\"GET\",route=\"/readyz\"} 3\n"),
		  "%s", r->body);
	harness_resp_free(r);
}

Test(basics, credentials_required)
{
	struct harness_resp *r = fx_call("GET", "/api/v1/participants", NULL, NULL);
	fx_assert_error(r, 401, "missing_credentials");
	cr_assert_str_eq(harness_resp_header(r, "WWW-Authenticate"), "Bearer");
	harness_resp_free(r);
	r = fx_call("GET", "/api/v1/participants", "wrong-key", NULL);
	fx_assert_error(r, 401, "invalid_api_key");
	harness_resp_free(r);
	/* Basic auth is not a scheme we take. */
	char *url = xasprintf("%s/api/v1/participants", fx.url);
	const char *basic[] = { "Authorization: Basic YTpi", NULL };
	r = harness_http("GET", url, basic, NULL);
	fx_assert_error(r, 401, "missing_credentials");
	harness_resp_free(r);
	/* X-Api-Key works as well as Bearer. */
	const char *xkey[] = { "X-Api-Key: " ADMIN_KEY, NULL };
	r = harness_http("GET", url, xkey, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	free(url);
}

Test(basics, api_keys_roles_and_revocation)
{
	struct harness_resp *r = fx_call("POST", "/api/v1/api-keys", ADMIN_KEY,
					 "{\"name\":\"ops dashboard\",\"role\":\"viewer\"}");
	cr_assert_eq(r->status, 201, "%s", r->body);
	char *key = xstrdup(json_string_value(json_object_get(r->json, "key")));
	char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "role")), "viewer");
	cr_assert(strncmp(key, "agk_", 4) == 0);
	harness_resp_free(r);

	/* Stored as a hash only. */
	long n = harness_db_count(fx.db, "SELECT count(*) FROM api_keys WHERE key_hash = encode(sha256(convert_to('placeholder', 'UTF8')), 'hex')");
	cr_assert_eq(n, 0);
	char *q = xasprintf("SELECT count(*) FROM api_keys WHERE key_hash = encode(sha256('%s'::bytea), 'hex')", key);
	cr_assert_eq(harness_db_count(fx.db, q), 1);
	free(q);

	r = fx_call("GET", "/api/v1/participants", key, NULL);
	cr_assert_eq(r->status, 200, "viewer may read: %s", r->body);
	harness_resp_free(r);
	char *body = fx_participant_body("urn:agora:participant:x", agora_key_generate());
	r = fx_call("POST", "/api/v1/participants", key, body);
	fx_assert_error(r, 403, "forbidden");
	harness_resp_free(r);
	free(body);

	r = fx_call("GET", "/api/v1/api-keys", ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200);
	cr_assert_null(strstr(r->body, key), "the list never shows secrets");
	cr_assert_eq(json_array_size(json_object_get(r->json, "results")), 1);
	harness_resp_free(r);

	char *path = xasprintf("/api/v1/api-keys/%s", id);
	r = fx_call("DELETE", path, ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	r = fx_call("GET", "/api/v1/participants", key, NULL);
	fx_assert_error(r, 401, "invalid_api_key");
	harness_resp_free(r);
	r = fx_call("DELETE", path, ADMIN_KEY, NULL);
	fx_assert_error(r, 404, "api_key_not_found");
	harness_resp_free(r);

	r = fx_call("POST", "/api/v1/api-keys", ADMIN_KEY, "{\"name\":\"x\",\"role\":\"root\"}");
	fx_assert_error(r, 400, "invalid_request");
	harness_resp_free(r);
	r = fx_call("POST", "/api/v1/api-keys", ADMIN_KEY, "{\"name\":\"x\",\"role\":\"viewer\",\"extra\":1}");
	fx_assert_error(r, 400, "unknown_field");
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM api_keys"), 1);
	free(path);
	free(key);
	free(id);
}

Test(basics, help_and_version)
{
	char *log = xasprintf("%s/help.log", fx.dir);
	const char *argv[] = { harness_bin("agora-broker"), "--help", NULL };
	struct harness_proc *p = harness_proc_start(argv, NULL, log);
	while (harness_proc_alive(p))
		usleep(10000);
	cr_assert_eq(harness_proc_stop(p), 0);
	char *out = harness_file_read(log);
	cr_assert(strstr(out, "Usage: agora-broker"), "%s", out);
	cr_assert(strstr(out, "--public-url URL"), "%s", out);
	cr_assert(strstr(out, "[AGORA_DB]"), "%s", out);
	free(out);
	const char *bad[] = { harness_bin("agora-broker"), "--no-such-flag", NULL };
	p = harness_proc_start(bad, NULL, log);
	while (harness_proc_alive(p))
		usleep(10000);
	cr_assert_eq(harness_proc_stop(p), 2);
	free(log);
}

Test(basics, protocol_abuse_is_refused_and_survived)
{
	/* 70 KB of headers: 431 from the HTTP layer, connection closed. */
	size_t n = 70000;
	char *big = xmalloc(n + 16);
	strcpy(big, "X-Big: ");
	memset(big + 7, 'a', n);
	big[7 + n] = '\0';
	const char *h[] = { big, NULL };
	char *url = xasprintf("%s/healthz", fx.url);
	struct harness_resp *r = harness_http("GET", url, h, NULL);
	cr_assert_eq(r->status, 431, "%ld %s", r->status, r->err);
	harness_resp_free(r);
	free(big);

	/* A chunked body past 1 MiB: 413 with the error body. */
	size_t bn = 3 * 1024 * 1024;
	char *body = xmalloc(bn + 1);
	memset(body, ' ', bn);
	body[bn] = '\0';
	body[0] = '{';
	body[bn - 1] = '}';
	char *purl = xasprintf("%s/api/v1/participants", fx.url);
	const char *ch[] = { "Authorization: Bearer " ADMIN_KEY, "Transfer-Encoding: chunked", NULL };
	r = harness_http("POST", purl, ch, body);
	fx_assert_error(r, 413, "body_too_large");
	harness_resp_free(r);
	/* Just under the limit but not JSON: the limit is on bytes, parsing is next. */
	body[1024 * 1024 - 1] = '\0';
	r = harness_http("POST", purl, ch, body);
	fx_assert_error(r, 400, "invalid_json");
	harness_resp_free(r);
	free(body);
	free(purl);

	/* HEAD works on GET routes; the server is fine after all this. */
	r = harness_http("HEAD", url, NULL, NULL);
	cr_assert_eq(r->status, 200);
	harness_resp_free(r);
	free(url);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM participants"), 0);
}

Test(basics, openapi_describes_every_route)
{
	struct harness_resp *r = fx_call("GET", "/openapi.json", NULL, NULL);
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(harness_resp_header(r, "Content-Type"), "application/json");
	openapi_check_routes(r->json, broker_routes, broker_nroutes, "broker.yaml");
	json_t *paths = json_object_get(r->json, "paths");
	/* The route table's extras are added to the hand-written operations. */
	json_t *ui = json_object_get(json_object_get(paths, "/ui/{path}"), "get");
	cr_assert(json_is_true(json_object_get(ui, "x-agora-rest-of-path")));
	json_t *patch = json_object_get(json_object_get(paths, "/api/v1/participants/{id}"), "patch");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(patch, "x-agora-roles"), 0)), "admin");
	cr_assert_eq(json_array_size(json_object_get(patch, "x-agora-roles")), 1);
	/* Security schemes, the shared Error schema and a DSP message. */
	json_t *comp = json_object_get(r->json, "components");
	json_t *schemes = json_object_get(comp, "securitySchemes");
	cr_assert(json_object_get(schemes, "apiKey") && json_object_get(schemes, "participantToken"));
	json_t *whoami = json_object_get(json_object_get(paths, "/api/v1/whoami"), "get");
	cr_assert_not_null(json_object_get(json_array_get(json_object_get(whoami, "security"), 0), "participantToken"));
	json_t *err = json_object_get(json_object_get(comp, "schemas"), "Error");
	cr_assert_eq(json_array_size(json_object_get(err, "required")), 3);
	json_t *req = json_object_get(json_object_get(comp, "schemas"), "ContractRequestMessage");
	cr_assert(json_is_array(json_object_get(req, "required")));
	harness_resp_free(r);
}

Test(basics, web_ui_served)
{
	/* Run from the source tree, the broker finds web/ by itself. */
	struct harness_resp *r = fx_call("GET", "/?q=air", NULL, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(harness_resp_header(r, "Content-Type"), "text/html; charset=utf-8");
	cr_assert(strstr(harness_resp_header(r, "Content-Security-Policy"), "default-src 'self'"));
	cr_assert(strstr(r->body, "/ui/broker/app.js"), "the broker's page");
	harness_resp_free(r);
	r = fx_call("GET", "/ui/common/api.js", NULL, NULL);
	cr_assert_eq(r->status, 200);
	cr_assert_str_eq(harness_resp_header(r, "Content-Type"), "text/javascript; charset=utf-8");
	harness_resp_free(r);
	r = fx_call("GET", "/ui/%2e%2e/Makefile", NULL, NULL);
	fx_assert_error(r, 404, "not_found");
	harness_resp_free(r);
	/* API answers are still never cached. */
	r = fx_call("GET", "/healthz", NULL, NULL);
	cr_assert_str_eq(harness_resp_header(r, "Cache-Control"), "no-store");
	harness_resp_free(r);
}
