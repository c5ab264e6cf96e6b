/* broker_fixture.c — see broker_fixture.h. */
#include "broker_fixture.h"
#include "jose.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fx fx;

void
fx_start(void)
{
	memset(&fx, 0, sizeof fx);
	fx.dir = harness_tmpdir();
	fx.db = harness_db_create();
	int port = harness_free_port();
	fx.url = xasprintf("http://127.0.0.1:%d", port);
	char *listen = xasprintf("127.0.0.1:%d", port);
	char *data = xasprintf("%s/data", fx.dir);
	fx.log = xasprintf("%s/broker.log", fx.dir);
	const char *argv[] = { harness_bin("agora-broker"), "--listen", listen, "--db", fx.db,
			       "--data-dir", data, "--public-url", fx.url, "--admin-key", ADMIN_KEY,
			       "--threads", "2", NULL };
	fx.proc = harness_proc_start(argv, NULL, fx.log);
	char *health = xasprintf("%s/healthz", fx.url);
	bool up = harness_wait_http(health, 15000);
	if (!up) {
		char *log = harness_file_read(fx.log);
		cr_log_error("broker log:\n%s", log ? log : "(none)");
		free(log);
	}
	cr_assert(up, "the broker did not come up");
	free(health);
	free(listen);
	free(data);
}

void
fx_stop(void)
{
	int st = harness_proc_stop(fx.proc);
	if (st != 0) {
		char *log = harness_file_read(fx.log);
		cr_log_error("broker exited with %d; log:\n%s", st, log ? log : "");
		free(log);
	}
	harness_db_drop(fx.db);
	harness_rmtree(fx.dir);
	free(fx.dir);
	free(fx.db);
	free(fx.url);
	free(fx.log);
	cr_expect_eq(st, 0, "the broker stops cleanly on SIGTERM");
}

struct harness_resp *
fx_call(const char *method, const char *path, const char *auth, const char *body)
{
	char *url = xasprintf("%s%s", fx.url, path);
	char *h = auth ? xasprintf("Authorization: Bearer %s", auth) : NULL;
	const char *headers[] = { h, NULL };
	struct harness_resp *r = harness_http(method, url, h ? headers : NULL, body);
	free(url);
	free(h);
	cr_assert_neq(r->status, 0, "%s %s: no response: %s", method, path, r->err);
	return r;
}

void
fx_assert_error(const struct harness_resp *r, long status, const char *symbol)
{
	cr_assert_eq(r->status, status, "want %ld %s, got %ld: %s", status, symbol, r->status,
		     r->body);
	cr_assert(json_is_object(r->json), "error body is JSON: %s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "error")), symbol, "body: %s",
			 r->body);
	json_int_t code = json_integer_value(json_object_get(r->json, "code"));
	cr_assert(code > 1000, "stable code > 1000: %s", r->body);
	cr_assert(json_is_string(json_object_get(r->json, "detail")), "detail: %s", r->body);
}

char *
fx_participant_body(const char *id, const struct agora_key *k)
{
	json_t *jwk = agora_jwk_from_key(k);
	json_t *b = json_pack("{s:s, s:s, s:s, s:{s:[o]}, s:{s:s, s:s, s:s, s:[s]}}", "id", id,
			      "name", "Test Org", "endpoint", "http://127.0.0.1:9", "jwks", "keys",
			      jwk, "attributes", "country", "FR", "industry", "public-sector",
			      "certification", "basic", "memberships", "eu-mobility");
	char *s = json_dumps(b, JSON_COMPACT);
	json_decref(b);
	return s;
}

void
fx_participant(struct participant *p, const char *id)
{
	snprintf(p->id, sizeof p->id, "%s", id);
	p->key = agora_key_generate();
	agora_key_thumbprint(p->key, p->kid);
	char *body = fx_participant_body(id, p->key);
	struct harness_resp *r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "register %s: %s", id, r->body);
	harness_resp_free(r);
	free(body);
}

static char *
b64json(json_t *v)
{
	char *s = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
	char *b = agora_b64url_encode(s, strlen(s));
	free(s);
	return b;
}

char *
fx_token(const struct participant *p, const char *method, const char *path, const char *body,
	 const struct tok *o)
{
	static const struct tok none;
	if (!o)
		o = &none;
	json_t *hdr = json_object();
	json_object_set_new(hdr, "alg", json_string(o->alg ? o->alg : "EdDSA"));
	json_object_set_new(hdr, "typ", json_string(o->typ ? o->typ : "JWT"));
	json_object_set_new(hdr, "kid", json_string(o->kid ? o->kid : p->kid));
	int64_t now = agora_now();
	uint8_t h[32];
	agora_sha256(body ? body : "", body ? strlen(body) : 0, h);
	char *bh = agora_b64url_encode(h, 32);
	char *htu = xasprintf("%s%s", fx.url, path);
	char jti[46];
	agora_urn_uuid(jti);
	json_t *claims = json_object();
	json_object_set_new(claims, "iss", json_string(o->iss ? o->iss : p->id));
	json_object_set_new(claims, "sub", json_string(o->sub ? o->sub : p->id));
	json_object_set_new(claims, "aud", json_string(o->aud ? o->aud : fx.url));
	json_object_set_new(claims, "iat", json_integer(now + o->iat_offset));
	json_object_set_new(claims, "exp", json_integer(now + (o->exp_offset ? o->exp_offset : 120)));
	if (!o->no_jti)
		json_object_set_new(claims, "jti", json_string(o->jti ? o->jti : jti));
	json_object_set_new(claims, "htm", json_string(o->htm ? o->htm : method));
	json_object_set_new(claims, "htu", json_string(o->htu ? o->htu : htu));
	json_object_set_new(claims, "bh", json_string(o->bh ? o->bh : bh));
	char *h64 = b64json(hdr), *p64 = b64json(claims);
	char *input = xasprintf("%s.%s", h64, p64);
	uint8_t sig[64];
	cr_assert(agora_ed25519_sign(o->sign_with ? o->sign_with : p->key, input, strlen(input), sig));
	char *s64 = agora_b64url_encode(sig, 64);
	char *tok = xasprintf("%s.%s", input, s64);
	json_decref(hdr);
	json_decref(claims);
	free(bh);
	free(htu);
	free(h64);
	free(p64);
	free(input);
	free(s64);
	return tok;
}
