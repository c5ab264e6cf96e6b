/* test_participants.c — the participant registry over HTTP: create, read,
 * list with paging, patch, key rotation, credentials, and bad input that
 * must change nothing. */
#include "broker_fixture.h"
#include "jose.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

TestSuite(participants, .init = fx_start, .fini = fx_stop, .timeout = 60);

#define CITY "urn:agora:participant:city-of-lyon"

static json_t *
broker_jwk(void)
{
	struct harness_resp *r = fx_call("GET", "/.well-known/jwks.json", NULL, NULL);
	json_t *k = json_incref(json_array_get(json_object_get(r->json, "keys"), 0));
	harness_resp_free(r);
	return k;
}

Test(participants, create_returns_a_verifiable_credential)
{
	struct agora_key *k = agora_key_generate();
	char *body = fx_participant_body(CITY, k);
	struct harness_resp *r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "id")), CITY);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "status")), "active");
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "name")), "Test Org");
	cr_assert_str_eq(harness_resp_header(r, "Location"), "/api/v1/participants/" CITY);
	json_t *attrs = json_object_get(r->json, "attributes");
	cr_assert_str_eq(json_string_value(json_object_get(attrs, "country")), "FR");

	/* The credential is a JWT the broker's published key verifies. */
	const char *cred = json_string_value(json_object_get(r->json, "credential"));
	cr_assert_not_null(cred);
	char err[128];
	struct agora_jws *jws = agora_jws_parse(cred, err, sizeof err);
	cr_assert_not_null(jws, "%s", err);
	json_t *bjwk = broker_jwk();
	struct agora_key *bk = agora_key_from_jwk(bjwk, err, sizeof err);
	cr_assert(agora_jws_verify(jws, bk));
	cr_assert_str_eq(agora_jws_kid(jws), json_string_value(json_object_get(bjwk, "kid")));
	struct agora_jwt_expect want = { .typ = "JWT", .iss = fx.url, .sub = CITY };
	json_t *claims = NULL;
	cr_assert_eq(agora_jwt_validate(jws, &want, &claims, err, sizeof err), AGORA_JWT_OK, "%s", err);
	json_t *cattrs = json_object_get(claims, "attributes");
	cr_assert_str_eq(json_string_value(json_object_get(cattrs, "industry")), "public-sector");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(cattrs, "memberships"), 0)),
			 "eu-mobility");
	json_decref(claims);
	json_decref(bjwk);
	agora_key_free(bk);
	agora_jws_free(jws);
	harness_resp_free(r);

	/* The same id again: 409, and still one row. */
	r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, body);
	fx_assert_error(r, 409, "participant_exists");
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM participants"), 1);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM participant_keys"), 1);
	free(body);
	agora_key_free(k);
}

Test(participants, get_and_public_jwks)
{
	struct participant p;
	fx_participant(&p, CITY);
	struct harness_resp *r = fx_call("GET", "/api/v1/participants/" CITY, ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "endpoint")), "http://127.0.0.1:9");
	cr_assert_null(json_object_get(r->json, "credential"));
	harness_resp_free(r);

	r = fx_call("GET", "/api/v1/participants/" CITY "/jwks.json", NULL, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	json_t *k = json_array_get(json_object_get(r->json, "keys"), 0);
	cr_assert_str_eq(json_string_value(json_object_get(k, "kid")), p.kid);
	harness_resp_free(r);

	r = fx_call("GET", "/api/v1/participants/urn:agora:participant:nobody", ADMIN_KEY, NULL);
	fx_assert_error(r, 404, "participant_not_found");
	harness_resp_free(r);
	r = fx_call("GET", "/api/v1/participants/urn:agora:participant:nobody/jwks.json", NULL, NULL);
	fx_assert_error(r, 404, "participant_not_found");
	harness_resp_free(r);
	r = fx_call("GET", "/api/v1/participants/'%20OR%201=1--", ADMIN_KEY, NULL);
	fx_assert_error(r, 404, "participant_not_found");
	harness_resp_free(r);
}

Test(participants, list_pages_with_a_cursor)
{
	struct participant a, b, c;
	fx_participant(&a, "urn:agora:participant:a");
	fx_participant(&b, "urn:agora:participant:b");
	fx_participant(&c, "urn:agora:participant:c");
	struct harness_resp *r = fx_call("GET", "/api/v1/participants?limit=2", ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	json_t *res = json_object_get(r->json, "results");
	cr_assert_eq(json_array_size(res), 2);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "id")), a.id);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 1), "id")), b.id);
	const char *next = json_string_value(json_object_get(r->json, "next"));
	cr_assert_not_null(next);
	char *path = xasprintf("/api/v1/participants?limit=2&cursor=%s", next);
	harness_resp_free(r);
	r = fx_call("GET", path, ADMIN_KEY, NULL);
	res = json_object_get(r->json, "results");
	cr_assert_eq(json_array_size(res), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(res, 0), "id")), c.id);
	cr_assert(json_is_null(json_object_get(r->json, "next")));
	harness_resp_free(r);
	free(path);

	const char *bad[] = { "/api/v1/participants?limit=0", "/api/v1/participants?limit=101",
			      "/api/v1/participants?limit=abc", "/api/v1/participants?cursor=***",
			      "/api/v1/participants?status=deleted" };
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		r = fx_call("GET", bad[i], ADMIN_KEY, NULL);
		fx_assert_error(r, 400, "invalid_query");
		harness_resp_free(r);
	}
}

/* Each bad body gets its 400 and leaves the registry empty. */
Test(participants, bad_input_changes_nothing)
{
	struct agora_key *k = agora_key_generate();
	json_t *jwk = agora_jwk_from_key(k);
	char *x = xstrdup(json_string_value(json_object_get(jwk, "x")));
	struct {
		const char *body;
		long status;
		const char *error;
	} cases[] = {
		{ "{", 400, "invalid_json" },
		{ "[1,2]", 400, "invalid_request" },
		{ "{\"id\":\"urn:a:b\",\"id\":\"urn:a:c\"}", 400, "invalid_json" },
		{ "{\"id\":5,\"name\":\"n\",\"endpoint\":\"http://x\",\"jwks\":{\"keys\":[]}}", 400, "invalid_request" },
		{ "{\"name\":\"n\",\"endpoint\":\"http://x\",\"jwks\":{\"keys\":[]}}", 400, "invalid_request" },
		{ "{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x\",\"jwks\":{\"keys\":[]},\"admin\":true}", 400, "unknown_field" },
		{ "{\"id\":\"not-a-urn\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[]}}", 400, "invalid_request" },
		{ "{\"id\":\"urn:a:../../etc\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[]}}", 400, "invalid_request" },
		{ "{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"ftp://x.y\",\"jwks\":{\"keys\":[]}}", 400, "invalid_request" },
		{ "{\"id\":\"urn:a:b\",\"name\":\"\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[]}}", 400, "invalid_request" },
		{ "{\"id\":\"urn:a:b\",\"name\":\"a\\u0000b\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[]}}", 400, "invalid_json" },
		{ "{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[]}}", 400, "invalid_jwk" },
		{ "{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}}", 400, "invalid_jwk" },
		{ "{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"short\"}]}}", 400, "invalid_jwk" },
		{ "{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":\"none\"}}", 400, "invalid_request" },
		{ "{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[],\"other\":1}}", 400, "unknown_field" },
	};
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		struct harness_resp *r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, cases[i].body);
		cr_log_info("case %zu", i);
		fx_assert_error(r, cases[i].status, cases[i].error);
		harness_resp_free(r);
	}
	/* Keys: a private key, a duplicate, too many; attributes: unknown or wrong. */
	char *with_d = xasprintf("{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\",\"d\":\"%s\"}]}}", x, x);
	char *dup = xasprintf("{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"},{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]}}", x, x);
	char *attr1 = xasprintf("{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]},\"attributes\":{\"role\":\"admin\"}}", x);
	char *attr2 = xasprintf("{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]},\"attributes\":{\"country\":\"France\"}}", x);
	char *attr3 = xasprintf("{\"id\":\"urn:a:b\",\"name\":\"n\",\"endpoint\":\"http://x.y\",\"jwks\":{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"%s\"}]},\"attributes\":{\"memberships\":[1]}}", x);
	struct {
		char *body;
		const char *error;
	} more[] = { { with_d, "invalid_jwk" }, { dup, "invalid_jwk" }, { attr1, "unknown_field" },
		     { attr2, "invalid_request" }, { attr3, "invalid_request" } };
	for (size_t i = 0; i < ARRAY_LEN(more); i++) {
		struct harness_resp *r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, more[i].body);
		fx_assert_error(r, 400, more[i].error);
		harness_resp_free(r);
		free(more[i].body);
	}
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM participants"), 0);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM participant_keys"), 0);
	json_decref(jwk);
	free(x);
	agora_key_free(k);
}

/* A JSON body of n bytes: {"id":"aaa…"}. */
static char *
big_body(size_t n)
{
	char *big = xmalloc(n + 1);
	memcpy(big, "{\"id\":\"", 7);
	memset(big + 7, 'a', n - 9);
	memcpy(big + n - 2, "\"}", 3);
	return big;
}

Test(participants, oversized_and_wrong_media_type)
{
	/* 2 MiB body: 413 before the handler, nothing stored.  With
	 * "Expect: 100-continue" (as curl sends for a body this large) the
	 * answer comes before the body is sent. */
	char *big = big_body(2 * 1024 * 1024);
	char *url = xasprintf("%s/api/v1/participants", fx.url);
	const char *eh[] = { "Authorization: Bearer " ADMIN_KEY, "Content-Type: application/json",
			     "Expect: 100-continue", NULL };
	struct harness_resp *r = harness_http("POST", url, eh, big);
	fx_assert_error(r, 413, "body_too_large");
	harness_resp_free(r);
	/* Without it the client writes the whole body at once: the server
	 * reads and drops it before answering, so the 413 is there to read
	 * every time (answering first would close the connection under the
	 * client's writes, which then saw only a broken pipe). */
	const char *nh[] = { "Authorization: Bearer " ADMIN_KEY, "Content-Type: application/json",
			     NULL };
	for (int i = 0; i < 5; i++) {
		r = harness_http("POST", url, nh, big);
		fx_assert_error(r, 413, "body_too_large");
		harness_resp_free(r);
	}
	free(big);
	/* Announcing more than the server will drain (8 MiB): 413 at once. */
	big = big_body(9 * 1024 * 1024);
	r = harness_http("POST", url, eh, big);
	fx_assert_error(r, 413, "body_too_large");
	harness_resp_free(r);
	free(big);

	const char *h[] = { "Authorization: Bearer " ADMIN_KEY, "Content-Type: text/plain", NULL };
	r = harness_http("POST", url, h, "{}");
	fx_assert_error(r, 415, "unsupported_media_type");
	harness_resp_free(r);
	free(url);
	/* The server is still fine afterwards. */
	r = fx_call("GET", "/healthz", NULL, NULL);
	cr_assert_eq(r->status, 200);
	harness_resp_free(r);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM participants"), 0);
}

Test(participants, patch_suspends_and_rotates_keys)
{
	struct participant p;
	fx_participant(&p, CITY);
	const char *path = "/api/v1/participants/" CITY;

	struct harness_resp *r = fx_call("PATCH", path, ADMIN_KEY, "{\"status\":\"suspended\"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "status")), "suspended");
	harness_resp_free(r);
	r = fx_call("GET", "/api/v1/participants?status=suspended", ADMIN_KEY, NULL);
	cr_assert_eq(json_array_size(json_object_get(r->json, "results")), 1);
	harness_resp_free(r);

	const char *bad[][2] = {
		{ "{}", "invalid_request" },
		{ "{\"status\":\"deleted\"}", "invalid_request" },
		{ "{\"id\":\"urn:x:y\"}", "unknown_field" },
		{ "{\"jwks\":{\"keys\":[]}}", "invalid_jwk" },
		{ "{\"endpoint\":\"javascript:alert(1)\"}", "invalid_request" },
	};
	for (size_t i = 0; i < ARRAY_LEN(bad); i++) {
		r = fx_call("PATCH", path, ADMIN_KEY, bad[i][0]);
		fx_assert_error(r, 400, bad[i][1]);
		harness_resp_free(r);
	}
	r = fx_call("PATCH", "/api/v1/participants/urn:agora:participant:none", ADMIN_KEY,
		    "{\"status\":\"active\"}");
	fx_assert_error(r, 404, "participant_not_found");
	harness_resp_free(r);

	/* Rotation: the new key replaces the old. */
	struct agora_key *k2 = agora_key_generate();
	json_t *jwk2 = agora_jwk_from_key(k2);
	json_t *patch = json_pack("{s:s, s:{s:[O]}}", "status", "active", "jwks", "keys", jwk2);
	char *pb = json_dumps(patch, JSON_COMPACT);
	r = fx_call("PATCH", path, ADMIN_KEY, pb);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	char kid2[44];
	agora_key_thumbprint(k2, kid2);
	char *q = xasprintf("SELECT count(*) FROM participant_keys WHERE kid = '%s'", kid2);
	cr_assert_eq(harness_db_count(fx.db, q), 1);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM participant_keys"), 1);
	free(q);
	free(pb);
	json_decref(patch);
	json_decref(jwk2);
	agora_key_free(k2);
}
