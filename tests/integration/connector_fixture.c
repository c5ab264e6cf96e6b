/* connector_fixture.c — see connector_fixture.h. */
#include "connector_fixture.h"
#include "jose.h"
#include "pauth.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
cfx_start(struct cfx *c, const char *id, const char *country)
{
	memset(c, 0, sizeof *c);
	c->dir = harness_tmpdir();
	c->db = harness_db_create();
	int port = harness_free_port();
	c->url = xasprintf("http://127.0.0.1:%d", port);
	char *listen = xasprintf("127.0.0.1:%d", port);
	char *data = xasprintf("%s/data", c->dir);
	char *keyfile = xasprintf("%s/key.pem", c->dir);
	c->log = xasprintf("%s/connector.log", c->dir);

	snprintf(c->p.id, sizeof c->p.id, "%s", id);
	c->p.key = agora_key_generate();
	agora_key_thumbprint(c->p.key, c->p.kid);
	char err[128];
	cr_assert(agora_key_save_pem(c->p.key, keyfile, err, sizeof err), "%s", err);
	json_t *jwk = agora_jwk_from_key(c->p.key);
	json_t *reg = json_pack("{s:s, s:s, s:s, s:{s:[o]}, s:{s:s, s:s}}", "id", id, "name", id,
				"endpoint", c->url, "jwks", "keys", jwk, "attributes", "country", country,
				"industry", "public-sector");
	char *body = json_dumps(reg, JSON_COMPACT);
	struct harness_resp *r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "register %s: %s", id, r->body);
	harness_resp_free(r);
	free(body);
	json_decref(reg);

	/* A suite with an upstream of its own widens the allow-list. */
	const char *allow = getenv("AGORA_TEST_HTTP_ALLOW") ? getenv("AGORA_TEST_HTTP_ALLOW")
							    : "sensors.example.org";
	const char *argv[] = { harness_bin("agora-connector"), "--listen", listen, "--db", c->db,
			       "--data-dir", data, "--public-url", c->url, "--broker", fx.url,
			       "--participant-id", id, "--key", keyfile, "--api-key", CONN_ADMIN_KEY,
			       "--max-upload", CONN_MAX_UPLOAD, "--http-allow", allow,
			       "--push-debounce", "20", "--threads", "2", NULL };
	c->proc = harness_proc_start(argv, NULL, c->log);
	char *health = xasprintf("%s/healthz", c->url);
	bool up = harness_wait_http(health, 15000);
	if (!up) {
		char *log = harness_file_read(c->log);
		cr_log_error("connector log:\n%s", log ? log : "(none)");
		free(log);
	}
	cr_assert(up, "the connector did not come up");
	free(health);
	free(listen);
	free(data);
	free(keyfile);
}

void
cfx_stop(struct cfx *c)
{
	int st = harness_proc_stop(c->proc);
	if (st != 0) {
		char *log = harness_file_read(c->log);
		cr_log_error("connector exited with %d; log:\n%s", st, log ? log : "");
		free(log);
	}
	harness_db_drop(c->db);
	harness_rmtree(c->dir);
	agora_key_free(c->p.key);
	free(c->dir);
	free(c->db);
	free(c->url);
	free(c->log);
	cr_expect_eq(st, 0, "the connector stops cleanly on SIGTERM");
}

struct harness_resp *
cfx_call_raw(const struct cfx *c, const char *method, const char *path, const char *key,
	     const char *ctype, const char *body, size_t len)
{
	char *url = xasprintf("%s%s", c->url, path);
	char *h1 = key ? xasprintf("Authorization: Bearer %s", key) : xstrdup("X-No-Auth: 1");
	char *h2 = xasprintf("Content-Type: %s", ctype);
	const char *headers[] = { h1, h2, NULL };
	(void)len;
	struct harness_resp *r = harness_http(method, url, headers, body);
	free(url);
	free(h1);
	free(h2);
	cr_assert_neq(r->status, 0, "%s %s: no response: %s", method, path, r->err);
	return r;
}

struct harness_resp *
cfx_call(const struct cfx *c, const char *method, const char *path, const char *key, const char *body)
{
	return cfx_call_raw(c, method, path, key, "application/json", body, body ? strlen(body) : 0);
}

struct harness_resp *
cfx_dsp(const struct cfx *c, const struct participant *from, const char *method, const char *path,
	const char *body)
{
	char *url = xasprintf("%s%s", c->url, path);
	char *tok = agora_pauth_mint(from->key, from->kid, from->id, c->p.id, method, url, body,
				     body ? strlen(body) : 0);
	char *h = xasprintf("Authorization: Bearer %s", tok);
	const char *headers[] = { h, NULL };
	struct harness_resp *r = harness_http(method, url, headers, body);
	free(url);
	free(tok);
	free(h);
	cr_assert_neq(r->status, 0, "%s %s: no response: %s", method, path, r->err);
	return r;
}

char *
cfx_key(const struct cfx *c, const char *role)
{
	char *body = xasprintf("{\"name\":\"%s key\",\"role\":\"%s\"}", role, role);
	struct harness_resp *r = cfx_call(c, "POST", "/api/v1/api-keys", CONN_ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "%s", r->body);
	char *k = xstrdup(json_string_value(json_object_get(r->json, "key")));
	harness_resp_free(r);
	free(body);
	return k;
}
