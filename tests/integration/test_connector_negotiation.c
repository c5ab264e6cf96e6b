/* test_connector_negotiation.c — the connector's side of contract
 * negotiation (docs/NEGOTIATION.md steps 1, 3, 5, 7, 8) across real
 * processes: a real broker (participant directory, catalog) and real
 * connectors on PostgreSQL.
 *
 * The broker does not speak DSP negotiation yet, so each connector is
 * started with --broker pointing at a small libmicrohttpd server in this
 * test, the "stub broker".  It has its own Ed25519 key (its JWKS at
 * /.well-known/jwks.json is the broker key the connector checks broker
 * signatures and tokens against), forwards every /api/v1/… call to the
 * real broker (re-signing the caller's participant token for the real
 * broker's URL with the caller's key, which the test holds), records every
 * DSP message it receives and answers them as the broker would (a 201
 * ContractNegotiation to a request, or a 400 ContractNegotiationError in
 * "refuse" mode).  The test plays the broker's other moves itself: it
 * mints participant tokens as the stub (iss = the stub's URL, the
 * connector's broker id) and signs agreements with the stub's key.  So
 * the connectors, their outbox deliveries, the directory lookups, the
 * catalog reads and all signatures are real; only the broker's DSP
 * decisions are scripted.
 */
#include "agreement.h"
#include "connector_fixture.h"
#include "dsp.h"
#include "jose.h"
#include "pauth.h"
#include "util.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROV "urn:agora:participant:provider"
#define CONS "urn:agora:participant:consumer"
#define BUYER "urn:agora:participant:buyer"
#define MALLORY "urn:agora:participant:mallory"

/* ---- the stub broker ------------------------------------------------------ */

#define MAX_MSGS 64

static struct {
	struct MHD_Daemon *d;
	char url[64];
	struct participant me;		/* id = url, its key is "the broker key" */
	const struct participant *known[4];	/* whose tokens it re-signs */
	pthread_mutex_t mu;
	pthread_cond_t cv;
	char *paths[MAX_MSGS];
	char *bodies[MAX_MSGS];
	int n;
	bool refuse;			/* answer requests with 400 */
	int acks;
} stub;

struct upload {
	struct agora_buf b;
};

static const struct participant *
known_participant(const char *authz)
{
	if (!authz || strncmp(authz, "Bearer ", 7) != 0)
		return NULL;
	char err[128];
	struct agora_jws *j = agora_jws_parse(authz + 7, err, sizeof err);
	if (!j)
		return NULL;
	json_t *claims = json_loads((const char *)j->payload, 0, NULL);
	const char *iss = json_string_value(json_object_get(claims, "iss"));
	const struct participant *p = NULL;
	for (size_t i = 0; iss && i < ARRAY_LEN(stub.known); i++)
		if (stub.known[i] && !strcmp(stub.known[i]->id, iss))
			p = stub.known[i];
	json_decref(claims);
	agora_jws_free(j);
	return p;
}

static enum MHD_Result
respond(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)body,
								 MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result
respond_json(struct MHD_Connection *conn, unsigned status, json_t *body)
{
	char *s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	enum MHD_Result ret = respond(conn, status, s);
	free(s);
	return ret;
}

/* Forward to the real broker, as the same participant. */
static enum MHD_Result
forward(struct MHD_Connection *conn, const char *method, const char *path, const char *body,
	size_t len)
{
	char *url = xasprintf("%s%s", fx.url, path);
	const struct participant *p =
		known_participant(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization"));
	char *authz = NULL;
	if (p) {
		char *tok = agora_pauth_mint(p->key, p->kid, p->id, fx.url, method, url, body, len);
		authz = xasprintf("Authorization: Bearer %s", tok);
		free(tok);
	}
	const char *headers[] = { authz ? authz : "X-Stub: 1", "Content-Type: application/json", NULL };
	struct agora_httpc_req req = { .method = method, .url = url, .headers = headers, .body = body,
				       .body_len = len, .timeout_ms = 10000 };
	struct agora_httpc_resp resp;
	enum MHD_Result ret;
	if (agora_httpc_request(&req, &resp))
		ret = respond(conn, (unsigned)resp.status, resp.body ? resp.body : "");
	else
		ret = respond(conn, 502, "{}");
	agora_httpc_resp_cleanup(&resp);
	free(authz);
	free(url);
	return ret;
}

static enum MHD_Result
stub_handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
	     const char *version, const char *data, size_t *size, void **con_cls)
{
	(void)cls;
	(void)version;
	struct upload *u = *con_cls;
	if (!u) {
		u = xcalloc(1, sizeof *u);
		agora_buf_init(&u->b);
		*con_cls = u;
		return MHD_YES;
	}
	if (*size) {
		agora_buf_append(&u->b, data, *size);
		*size = 0;
		return MHD_YES;
	}
	agora_buf_append(&u->b, "", 1);
	const char *body = u->b.data;
	size_t len = u->b.len - 1;
	if (!strcmp(url, "/.well-known/jwks.json")) {
		json_t *jwk = agora_jwk_from_key(stub.me.key);
		json_object_set_new(jwk, "kid", json_string(stub.me.kid));
		return respond_json(conn, 200, json_pack("{s:[o]}", "keys", jwk));
	}
	if (strncmp(url, "/dsp/", 5) != 0)
		return forward(conn, method, url, len ? body : NULL, len);
	pthread_mutex_lock(&stub.mu);
	if (stub.n < MAX_MSGS) {
		stub.paths[stub.n] = xstrdup(url);
		stub.bodies[stub.n] = xstrdup(body);
		stub.n++;
	}
	bool refuse = stub.refuse;
	int ack = ++stub.acks;
	pthread_cond_broadcast(&stub.cv);
	pthread_mutex_unlock(&stub.mu);
	if (!strcmp(url, "/dsp/negotiations/request")) {
		json_t *m = json_loads(body, 0, NULL);
		const char *cpid = json_string_value(json_object_get(m, "consumerPid"));
		json_t *out;
		if (refuse) {
			const char *rs[] = { "constraint agora:country eq DE is not satisfied" };
			out = agora_dsp_error_new(NULL, cpid, "policy_refused", rs, 1);
		} else {
			char ppid[64];
			snprintf(ppid, sizeof ppid, "urn:uuid:broker-leg-%d", ack);
			out = agora_dsp_negotiation_new(ppid, cpid, AGORA_DSP_STATE_REQUESTED);
		}
		json_decref(m);
		return respond_json(conn, refuse ? 400 : 201, out);
	}
	return respond(conn, 200, "{}");
}

static void
stub_done(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode t)
{
	(void)cls;
	(void)conn;
	(void)t;
	struct upload *u = *con_cls;
	if (u) {
		agora_buf_cleanup(&u->b);
		free(u);
	}
}

static void
stub_start(void)
{
	memset(&stub, 0, sizeof stub);
	pthread_mutex_init(&stub.mu, NULL);
	pthread_cond_init(&stub.cv, NULL);
	int port = harness_free_port();
	snprintf(stub.url, sizeof stub.url, "http://127.0.0.1:%d", port);
	snprintf(stub.me.id, sizeof stub.me.id, "%s", stub.url);
	stub.me.key = agora_key_generate();
	agora_key_thumbprint(stub.me.key, stub.me.kid);
	agora_httpc_global_init();
	stub.d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				  (uint16_t)port, NULL, NULL, stub_handler, NULL,
				  MHD_OPTION_NOTIFY_COMPLETED, stub_done, NULL, MHD_OPTION_END);
	cr_assert_not_null(stub.d, "the stub broker starts");
}

static void
stub_stop(void)
{
	MHD_stop_daemon(stub.d);
	for (int i = 0; i < stub.n; i++) {
		free(stub.paths[i]);
		free(stub.bodies[i]);
	}
	agora_key_free(stub.me.key);
	agora_httpc_global_cleanup();
}

/* The first DSP message the stub received at path after index *from (which
 * advances), parsed; fails the test after 10 s. */
static json_t *
stub_wait(const char *path, int *from)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 10;
	pthread_mutex_lock(&stub.mu);
	for (;;) {
		for (int i = from ? *from : 0; i < stub.n; i++)
			if (!strcmp(stub.paths[i], path)) {
				json_t *m = json_loads(stub.bodies[i], 0, NULL);
				bool skipped = false;
				bool valid = harness_dsp_validate(stub.bodies[i], &skipped);
				if (from)
					*from = i + 1;
				pthread_mutex_unlock(&stub.mu);
				cr_assert(valid, "the message to %s passes dsp-validate: %s", path,
					  json_dumps(m, JSON_COMPACT));
				cr_assert_not_null(m);
				return m;
			}
		if (pthread_cond_timedwait(&stub.cv, &stub.mu, &until) != 0)
			break;
	}
	pthread_mutex_unlock(&stub.mu);
	cr_assert_fail("no message arrived at %s", path);
	return NULL;
}

static int
stub_count(const char *path)
{
	int k = 0;
	pthread_mutex_lock(&stub.mu);
	for (int i = 0; i < stub.n; i++)
		k += !strcmp(stub.paths[i], path);
	pthread_mutex_unlock(&stub.mu);
	return k;
}

/* ---- connectors behind the stub ----------------------------------------- */

static struct cfx prov, cons;
static struct participant buyer, mallory;

static void
conn_start(struct cfx *c, const char *id)
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
	json_t *reg = json_pack("{s:s, s:s, s:s, s:{s:[o]}, s:{s:s}}", "id", id, "name", id, "endpoint",
				c->url, "jwks", "keys", agora_jwk_from_key(c->p.key), "attributes",
				"country", "FR");
	char *body = json_dumps(reg, JSON_COMPACT);
	struct harness_resp *r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "register %s: %s", id, r->body);
	harness_resp_free(r);
	free(body);
	json_decref(reg);
	const char *argv[] = { harness_bin("agora-connector"), "--listen", listen, "--db", c->db,
			       "--data-dir", data, "--public-url", c->url, "--broker", stub.url,
			       "--participant-id", id, "--key", keyfile, "--api-key", CONN_ADMIN_KEY,
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

static void
setup(void)
{
	fx_start();
	stub_start();
	conn_start(&prov, PROV);
	conn_start(&cons, CONS);
	stub.known[0] = &prov.p;
	stub.known[1] = &cons.p;
	fx_participant(&buyer, BUYER);
	fx_participant(&mallory, MALLORY);
}

static void
teardown(void)
{
	cfx_stop(&cons);
	cfx_stop(&prov);
	stub_stop();
	agora_key_free(buyer.key);
	agora_key_free(mallory.key);
	fx_stop();
}

TestSuite(negotiation, .init = setup, .fini = teardown, .timeout = 120);

/* ---- helpers ---------------------------------------------------------------- */

static char *
post_id(struct cfx *c, const char *path, const char *body)
{
	struct harness_resp *r = cfx_call(c, "POST", path, CONN_ADMIN_KEY, body);
	cr_assert_eq(r->status, 201, "POST %s: %s", path, r->body);
	char *id = xstrdup(json_string_value(json_object_get(r->json, "id")));
	harness_resp_free(r);
	return id;
}

/* A dataset with an open-use offer at c: *ds and *offer (heap). */
static void
publish(struct cfx *c, bool auto_accept, char **ds, char **offer)
{
	char *pol = post_id(c, "/api/v1/policies",
			    "{\"policy\":{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\"}]}}");
	*ds = post_id(c, "/api/v1/datasets", "{\"title\":\"Air quality\",\"source\":{\"type\":\"file\"}}");
	char *ob = xasprintf("{\"datasetSelector\":{\"ids\":[\"%s\"]},\"contractPolicyId\":\"%s\","
			     "\"autoAccept\":%s}", *ds, pol, auto_accept ? "true" : "false");
	*offer = post_id(c, "/api/v1/offers", ob);
	free(ob);
	free(pol);
}

static const char *
sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* Assert a DSP ContractNegotiationError reply. */
static void
assert_dsp_error(struct harness_resp *r, long status)
{
	cr_assert_eq(r->status, status, "want %ld: %s", status, r->body);
	cr_assert_str_eq(sget(r->json, "@type"), "ContractNegotiationError", "%s", r->body);
	cr_assert(harness_dsp_validate(r->body, NULL), "the error passes dsp-validate: %s", r->body);
}

/* A DSP call to c as the broker (the stub). */
static struct harness_resp *
as_broker(struct cfx *c, const char *path, json_t *msg)
{
	char *body = json_dumps(msg, JSON_COMPACT);
	struct harness_resp *r = cfx_dsp(c, &stub.me, "POST", path, body);
	free(body);
	return r;
}

static json_t *
request_msg(const char *cpid, const char *ds, const char *offer_id, const char *consumer)
{
	json_t *offer = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s}]}", "@id", offer_id, "@type", "Offer",
				  "target", ds, "assigner", PROV, "permission", "action", "use");
	char *cb = xasprintf("%s/dsp/callback", stub.url);
	json_t *m = agora_dsp_contract_request_new(cpid, NULL, offer, cb);
	if (consumer)
		json_object_set_new(m, "consumer", json_string(consumer));
	json_decref(offer);
	free(cb);
	return m;
}

static json_t *
get_json(struct cfx *c, const char *fmt, const char *id)
{
	char *path = xasprintf(fmt, id);
	struct harness_resp *r = cfx_call(c, "GET", path, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "GET %s: %s", path, r->body);
	json_t *j = json_incref(r->json);
	harness_resp_free(r);
	free(path);
	return j;
}

/* Wait until negotiation id at c has member key (or state == want). */
static json_t *
wait_neg(struct cfx *c, const char *id, const char *key, const char *want)
{
	json_t *n = NULL;
	for (int i = 0; i < 200; i++) {
		json_decref(n);
		n = get_json(c, "/api/v1/negotiations/%s", id);
		const char *v = sget(n, key);
		if (v && (!want || !strcmp(v, want)))
			return n;
		usleep(50000);
	}
	cr_assert_fail("negotiation %s never got %s=%s: %s", id, key, want ? want : "*",
		       json_dumps(n, JSON_COMPACT));
	return NULL;
}

static struct agora_key *
test_keys(void *ctx, const char *role, const char *signer, const char *kid)
{
	(void)ctx;
	(void)kid;
	const struct participant *p = !strcmp(role, "broker") ? &stub.me
				      : !strcmp(signer, PROV)  ? &prov.p
				      : !strcmp(signer, CONS)  ? &cons.p
				      : !strcmp(signer, BUYER) ? &buyer
								: NULL;
	if (!p)
		return NULL;
	uint8_t pub[32];
	agora_key_public_raw(p->key, pub);
	return agora_key_from_public_raw(pub);
}

/* ---- provider role ---------------------------------------------------------- */

Test(negotiation, provider_auto_accept_to_finalized)
{
	char *ds, *offer;
	publish(&prov, true, &ds, &offer);
	json_t *req = request_msg("urn:uuid:leg-1", ds, offer, BUYER);

	/* Only the broker may ask. */
	char *body = json_dumps(req, JSON_COMPACT);
	struct harness_resp *r = cfx_dsp(&prov, &mallory, "POST", "/dsp/negotiations/request", body);
	assert_dsp_error(r, 404);
	harness_resp_free(r);
	/* Unauthenticated: 404 too. */
	r = cfx_call(&prov, "POST", "/dsp/negotiations/request", NULL, body);
	cr_assert_eq(r->status, 404);
	harness_resp_free(r);

	r = as_broker(&prov, "/dsp/negotiations/request", req);
	cr_assert_eq(r->status, 201, "%s", r->body);
	cr_assert(harness_dsp_validate(r->body, NULL), "%s", r->body);
	cr_assert_str_eq(sget(r->json, "consumerPid"), "urn:uuid:leg-1");
	char *ppid = xstrdup(sget(r->json, "providerPid"));
	json_t *first = json_incref(r->json);
	harness_resp_free(r);

	/* The same request again: the same answer, no second negotiation. */
	r = as_broker(&prov, "/dsp/negotiations/request", req);
	cr_assert_eq(r->status, 201, "%s", r->body);
	cr_assert(json_equal(r->json, first), "%s", r->body);
	harness_resp_free(r);

	/* autoAccept: the agreement, signed by the provider, to the callback. */
	json_t *am = stub_wait("/dsp/callback/negotiations/urn:uuid:leg-1/agreement", NULL);
	cr_assert_str_eq(sget(am, "@type"), "ContractAgreementMessage");
	cr_assert_str_eq(sget(am, "providerPid"), ppid);
	json_t *ag = json_object_get(am, "agreement");
	cr_assert_str_eq(sget(ag, "target"), ds);
	cr_assert_str_eq(sget(ag, "assigner"), PROV);
	cr_assert_str_eq(sget(ag, "assignee"), BUYER);
	cr_assert_str_eq(sget(json_array_get(json_object_get(ag, "permission"), 0), "action"), "use");
	char err[256] = "";
	cr_assert(agora_agreement_verify_chain(ag, json_object_get(am, "signatures"), 1, test_keys, NULL,
					       err, sizeof err), "%s", err);
	cr_assert_eq(stub_count("/dsp/callback/negotiations/urn:uuid:leg-1/agreement"), 1);

	json_t *neg = get_json(&prov, "/api/v1/negotiations/%s", ppid);
	cr_assert_str_eq(sget(neg, "state"), "AGREED");
	cr_assert_str_eq(sget(neg, "role"), "provider");
	cr_assert_str_eq(sget(neg, "consumer"), BUYER);
	cr_assert_str_eq(sget(neg, "agreementId"), sget(ag, "@id"));
	json_decref(neg);

	/* A forged verification: the consumer's signature by another key. */
	json_t *psig = json_array_get(json_object_get(am, "signatures"), 0);
	json_t *bsig = agora_agreement_sign(ag, "broker", stub.url, stub.me.key, NULL);
	json_t *forged = agora_agreement_sign(ag, "consumer", BUYER, mallory.key, NULL);
	json_t *csig = agora_agreement_sign(ag, "consumer", BUYER, buyer.key, NULL);
	json_t *vm = agora_dsp_verification_new(ppid, "urn:uuid:leg-1");
	json_object_set_new(vm, "signatures", json_pack("[O, O, O]", psig, bsig, forged));
	char *vpath = xasprintf("/dsp/negotiations/%s/agreement/verification", ppid);
	r = as_broker(&prov, vpath, vm);
	assert_dsp_error(r, 400);
	harness_resp_free(r);
	json_t *agr = get_json(&prov, "/api/v1/agreements/%s", sget(ag, "@id"));
	cr_assert_eq(json_array_size(json_object_get(agr, "signatures")), 1, "nothing stored");
	json_decref(agr);

	/* The real verification → VERIFIED → FINALIZED, event to the callback. */
	json_object_set_new(vm, "signatures", json_pack("[O, O, O]", psig, bsig, csig));
	r = as_broker(&prov, vpath, vm);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	json_t *ev = stub_wait("/dsp/callback/negotiations/urn:uuid:leg-1/events", NULL);
	cr_assert_str_eq(sget(ev, "eventType"), "FINALIZED");
	json_decref(ev);
	/* Repeated: the same answer, no second event. */
	r = as_broker(&prov, vpath, vm);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	neg = get_json(&prov, "/api/v1/negotiations/%s", ppid);
	cr_assert_str_eq(sget(neg, "state"), "FINALIZED");
	cr_assert(json_array_size(json_object_get(neg, "history")) >= 4, "%s", json_dumps(neg, 0));
	json_decref(neg);
	agr = get_json(&prov, "/api/v1/agreements/%s", sget(ag, "@id"));
	cr_assert_eq(json_array_size(json_object_get(agr, "signatures")), 3);
	cr_assert_str_eq(sget(agr, "status"), "active");
	json_decref(agr);
	usleep(200000);
	cr_assert_eq(stub_count("/dsp/callback/negotiations/urn:uuid:leg-1/events"), 1);

	/* Out of order: a termination after FINALIZED is refused (400). */
	const char *rs[] = { "too late" };
	json_t *tm = agora_dsp_termination_new(ppid, "urn:uuid:leg-1", "x", rs, 1);
	char *tpath = xasprintf("/dsp/negotiations/%s/termination", ppid);
	r = as_broker(&prov, tpath, tm);
	assert_dsp_error(r, 400);
	harness_resp_free(r);
	/* Unknown pid, and a party that is not the counterpart: 404. */
	r = as_broker(&prov, "/dsp/negotiations/urn:uuid:nope/termination", tm);
	assert_dsp_error(r, 404);
	harness_resp_free(r);
	char *tbody = json_dumps(tm, JSON_COMPACT);
	r = cfx_dsp(&prov, &buyer, "POST", tpath, tbody);
	assert_dsp_error(r, 404);
	harness_resp_free(r);
	/* GET /dsp/negotiations/{pid} for the broker. */
	char *gpath = xasprintf("/dsp/negotiations/%s", ppid);
	r = cfx_dsp(&prov, &stub.me, "GET", gpath, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(sget(r->json, "state"), "FINALIZED");
	cr_assert(harness_dsp_validate(r->body, NULL));
	harness_resp_free(r);

	/* Revocation by the provider. */
	char *rv = xasprintf("/api/v1/agreements/%s/revoke", sget(ag, "@id"));
	r = cfx_call(&prov, "POST", rv, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(sget(r->json, "status"), "revoked");
	harness_resp_free(r);
	r = cfx_call(&prov, "POST", rv, CONN_ADMIN_KEY, NULL);
	fx_assert_error(r, 409, "agreement_revoked");
	harness_resp_free(r);

	free(rv);
	free(gpath);
	free(tbody);
	free(tpath);
	json_decref(tm);
	free(vpath);
	json_decref(vm);
	json_decref(bsig);
	json_decref(forged);
	json_decref(csig);
	json_decref(am);
	json_decref(first);
	free(ppid);
	free(body);
	json_decref(req);
	free(ds);
	free(offer);
}

Test(negotiation, provider_manual_approve_and_reject)
{
	char *ds, *offer;
	publish(&prov, false, &ds, &offer);
	/* A request whose offer is wider than the contract policy is refused. */
	json_t *bad = request_msg("urn:uuid:leg-x", ds, offer, BUYER);
	json_object_set_new(json_array_get(json_object_get(json_object_get(bad, "offer"), "permission"), 0),
			    "action", json_string("transfer"));
	struct harness_resp *r = as_broker(&prov, "/dsp/negotiations/request", bad);
	assert_dsp_error(r, 400);
	harness_resp_free(r);
	json_decref(bad);
	/* Without the "consumer" member. */
	bad = request_msg("urn:uuid:leg-y", ds, offer, NULL);
	r = as_broker(&prov, "/dsp/negotiations/request", bad);
	assert_dsp_error(r, 400);
	harness_resp_free(r);
	json_decref(bad);

	json_t *req = request_msg("urn:uuid:leg-2", ds, offer, BUYER);
	r = as_broker(&prov, "/dsp/negotiations/request", req);
	cr_assert_eq(r->status, 201, "%s", r->body);
	char *ppid = xstrdup(sget(r->json, "providerPid"));
	harness_resp_free(r);
	json_t *req3 = request_msg("urn:uuid:leg-3", ds, offer, BUYER);
	r = as_broker(&prov, "/dsp/negotiations/request", req3);
	cr_assert_eq(r->status, 201, "%s", r->body);
	char *ppid3 = xstrdup(sget(r->json, "providerPid"));
	harness_resp_free(r);

	/* Both wait in REQUESTED; the list shows them with dataset and consumer. */
	r = cfx_call(&prov, "GET", "/api/v1/negotiations?state=REQUESTED", CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	json_t *res = json_object_get(r->json, "results");
	cr_assert_eq(json_array_size(res), 2, "%s", r->body);
	cr_assert_str_eq(sget(json_array_get(res, 0), "datasetId"), ds);
	cr_assert_str_eq(sget(json_array_get(res, 0), "consumer"), BUYER);
	harness_resp_free(r);
	r = cfx_call(&prov, "GET", "/api/v1/negotiations?state=BOGUS", CONN_ADMIN_KEY, NULL);
	fx_assert_error(r, 400, "invalid_query");
	harness_resp_free(r);
	usleep(200000);
	cr_assert_eq(stub_count("/dsp/callback/negotiations/urn:uuid:leg-2/agreement"), 0);

	/* A consumer key may not approve; the publisher (admin) may. */
	char *ckey = cfx_key(&prov, "consumer");
	char *ap = xasprintf("/api/v1/negotiations/%s/approve", ppid);
	r = cfx_call(&prov, "POST", ap, ckey, NULL);
	fx_assert_error(r, 403, "forbidden");
	harness_resp_free(r);
	r = cfx_call(&prov, "POST", ap, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(sget(r->json, "state"), "AGREED");
	harness_resp_free(r);
	json_t *am = stub_wait("/dsp/callback/negotiations/urn:uuid:leg-2/agreement", NULL);
	char err[256] = "";
	cr_assert(agora_agreement_verify_chain(json_object_get(am, "agreement"),
					       json_object_get(am, "signatures"), 1, test_keys, NULL,
					       err, sizeof err), "%s", err);
	json_decref(am);
	/* Approving twice: the state does not allow it. */
	r = cfx_call(&prov, "POST", ap, CONN_ADMIN_KEY, NULL);
	fx_assert_error(r, 409, "negotiation_state");
	harness_resp_free(r);

	/* Reject the other: TERMINATED, and the termination to the callback. */
	char *rj = xasprintf("/api/v1/negotiations/%s/reject", ppid3);
	r = cfx_call(&prov, "POST", rj, CONN_ADMIN_KEY, "{\"reason\":\"not for you\"}");
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(sget(r->json, "state"), "TERMINATED");
	harness_resp_free(r);
	json_t *tm = stub_wait("/dsp/callback/negotiations/urn:uuid:leg-3/termination", NULL);
	cr_assert_str_eq(sget(tm, "code"), "rejected");
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(tm, "reason"), 0)), "not for you");
	json_decref(tm);

	free(rj);
	free(ap);
	free(ckey);
	free(ppid);
	free(ppid3);
	json_decref(req);
	json_decref(req3);
	free(ds);
	free(offer);
}

/* ---- consumer role ---------------------------------------------------------- */

/* The provider's dataset, pushed through the stub to the real broker's
 * catalog; wait until the consumer can see it there. */
static void
published_at_broker(char **ds, char **offer)
{
	publish(&prov, true, ds, offer);
	char *path = xasprintf("/api/v1/catalog/datasets/%s", *ds);
	for (int i = 0; i < 200; i++) {
		struct harness_resp *r = fx_call("GET", path, NULL, NULL);
		long st = r->status;
		harness_resp_free(r);
		if (st == 200)
			break;
		usleep(50000);
	}
	free(path);
}

static char *
start_negotiation(const char *ds, const char *offer)
{
	char *ckey = cfx_key(&cons, "consumer");
	char *b = xasprintf("{\"datasetId\":\"%s\",\"offerId\":\"%s\",\"provider\":\"%s\"}", ds, offer, PROV);
	struct harness_resp *r = cfx_call(&cons, "POST", "/api/v1/negotiations", ckey, b);
	cr_assert_eq(r->status, 201, "%s", r->body);
	cr_assert_str_eq(sget(r->json, "state"), "REQUESTED");
	char *id = xstrdup(sget(r->json, "id"));
	harness_resp_free(r);
	free(b);
	free(ckey);
	return id;
}

Test(negotiation, consumer_flow_to_finalized)
{
	char *ds, *offer;
	published_at_broker(&ds, &offer);

	/* Offers the catalog does not show are refused before anything is sent. */
	char *b = xasprintf("{\"datasetId\":\"%s\",\"offerId\":\"urn:uuid:no-such-offer\",\"provider\":\"%s\"}",
			    ds, PROV);
	struct harness_resp *r = cfx_call(&cons, "POST", "/api/v1/negotiations", CONN_ADMIN_KEY, b);
	fx_assert_error(r, 400, "offer_not_available");
	harness_resp_free(r);
	free(b);
	/* A caller's offer wider than the published one. */
	b = xasprintf("{\"datasetId\":\"%s\",\"offerId\":\"%s\",\"provider\":\"%s\","
		      "\"offer\":{\"permission\":[{\"action\":\"transfer\"}]}}", ds, offer, PROV);
	r = cfx_call(&cons, "POST", "/api/v1/negotiations", CONN_ADMIN_KEY, b);
	fx_assert_error(r, 400, "offer_not_narrower");
	harness_resp_free(r);
	free(b);

	char *id = start_negotiation(ds, offer);
	/* The request, through the outbox, to the broker. */
	json_t *rq = stub_wait("/dsp/negotiations/request", NULL);
	cr_assert_str_eq(sget(rq, "@type"), "ContractRequestMessage");
	cr_assert_str_eq(sget(rq, "consumerPid"), id);
	char *cb = xasprintf("%s/dsp/callback", cons.url);
	cr_assert_str_eq(sget(rq, "callbackAddress"), cb);
	json_t *ro = json_object_get(rq, "offer");
	cr_assert_str_eq(sget(ro, "@id"), offer);
	cr_assert_str_eq(sget(ro, "target"), ds);
	cr_assert_str_eq(sget(ro, "@type"), "Offer");
	/* The broker's 201 gives the providerPid. */
	json_t *neg = wait_neg(&cons, id, "counterpartPid", NULL);
	char *ppid = xstrdup(sget(neg, "counterpartPid"));
	cr_assert_str_eq(sget(neg, "state"), "REQUESTED");
	json_decref(neg);

	/* The agreement as the broker forwards it: provider + broker signatures. */
	char ts[32];
	agora_time_rfc3339(agora_now(), ts);
	json_t *ag = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "@id", "urn:uuid:agreement-c1",
			       "@type", "Agreement", "target", ds, "assigner", PROV, "assignee", CONS,
			       "timestamp", ts, "permission", json_object_get(ro, "permission"));
	json_t *psig = agora_agreement_sign(ag, "provider", PROV, prov.p.key, NULL);
	json_t *bsig = agora_agreement_sign(ag, "broker", stub.url, stub.me.key, NULL);
	json_t *forged = agora_agreement_sign(ag, "broker", stub.url, mallory.key, NULL);
	json_t *am = agora_dsp_agreement_message_new(ppid, id, ag);
	char *apath = xasprintf("/dsp/callback/negotiations/%s/agreement", id);
	/* Forged broker signature: 400, nothing stored. */
	json_object_set_new(am, "signatures", json_pack("[O, O]", psig, forged));
	r = as_broker(&cons, apath, am);
	assert_dsp_error(r, 400);
	harness_resp_free(r);
	r = cfx_call(&cons, "GET", "/api/v1/agreements/urn:uuid:agreement-c1", CONN_ADMIN_KEY, NULL);
	fx_assert_error(r, 404, "agreement_not_found");
	harness_resp_free(r);
	/* From someone other than the broker: 404. */
	json_object_set_new(am, "signatures", json_pack("[O, O]", psig, bsig));
	char *abody = json_dumps(am, JSON_COMPACT);
	r = cfx_dsp(&cons, &prov.p, "POST", apath, abody);
	assert_dsp_error(r, 404);
	harness_resp_free(r);
	/* The real one. */
	r = as_broker(&cons, apath, am);
	cr_assert_eq(r->status, 200, "%s", r->body);
	json_t *first = json_incref(r->json);
	harness_resp_free(r);
	/* Repeated: the same answer. */
	r = as_broker(&cons, apath, am);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert(json_equal(r->json, first), "%s", r->body);
	harness_resp_free(r);

	/* The verification with three signatures, to the broker. */
	char *vpath = xasprintf("/dsp/negotiations/%s/agreement/verification", ppid);
	json_t *vm = stub_wait(vpath, NULL);
	cr_assert_str_eq(sget(vm, "consumerPid"), id);
	char err[256] = "";
	cr_assert(agora_agreement_verify_chain(ag, json_object_get(vm, "signatures"), 3, test_keys, NULL,
					       err, sizeof err), "%s", err);
	usleep(200000);
	cr_assert_eq(stub_count(vpath), 1, "one verification for the repeated agreement");
	neg = get_json(&cons, "/api/v1/negotiations/%s", id);
	cr_assert_str_eq(sget(neg, "state"), "VERIFIED");
	cr_assert_str_eq(sget(neg, "agreementId"), "urn:uuid:agreement-c1");
	json_decref(neg);

	/* A counter-offer is not supported. */
	char *opath = xasprintf("/dsp/callback/negotiations/%s/offers", id);
	json_t *om = agora_dsp_contract_offer_new(ppid, id, ro, NULL);
	r = as_broker(&cons, opath, om);
	assert_dsp_error(r, 400);
	harness_resp_free(r);

	/* FINALIZED with the ledger receipt. */
	json_t *ev = agora_dsp_event_new(ppid, id, AGORA_DSP_MSG_EVENT_FINALIZED);
	json_object_set_new(ev, "receipt", json_pack("{s:i, s:i, s:{s:s}, s:[]}", "index", 7, "treeSize", 8,
						     "sth", "rootHash", "00", "proof"));
	char *epath = xasprintf("/dsp/callback/negotiations/%s/events", id);
	r = as_broker(&cons, epath, ev);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	neg = get_json(&cons, "/api/v1/negotiations/%s", id);
	cr_assert_str_eq(sget(neg, "state"), "FINALIZED");
	cr_assert(json_is_object(json_object_get(neg, "agreement")));
	json_decref(neg);
	json_t *agr = get_json(&cons, "/api/v1/agreements/%s", "urn:uuid:agreement-c1");
	cr_assert_eq(json_array_size(json_object_get(agr, "signatures")), 3);
	cr_assert_eq(json_integer_value(json_object_get(json_object_get(agr, "receipt"), "index")), 7);
	cr_assert_str_eq(sget(agr, "status"), "active");
	json_decref(agr);
	/* The agreement message again now: same answer still (idempotent),
	 * while a different one is out of order (400). */
	r = as_broker(&cons, apath, am);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	json_object_set_new(am, "note", json_string("different"));
	r = as_broker(&cons, apath, am);
	assert_dsp_error(r, 400);
	harness_resp_free(r);

	free(epath);
	json_decref(ev);
	json_decref(om);
	free(opath);
	json_decref(vm);
	free(vpath);
	json_decref(first);
	free(abody);
	free(apath);
	json_decref(am);
	json_decref(forged);
	json_decref(bsig);
	json_decref(psig);
	json_decref(ag);
	free(ppid);
	free(cb);
	json_decref(rq);
	free(id);
	free(ds);
	free(offer);
}

/* The agreement message the broker forwards to consumer negotiation id
 * (ppid its providerPid): agreement aid of ds with these permissions,
 * signed by the provider and the broker. */
static json_t *
agreement_msg(const char *ds, const char *ppid, const char *id, const char *aid,
	      const json_t *permission)
{
	char ts[32];
	agora_time_rfc3339(agora_now(), ts);
	json_t *ag = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "@id", aid, "@type", "Agreement",
			       "target", ds, "assigner", PROV, "assignee", CONS, "timestamp", ts,
			       "permission", permission);
	json_t *am = agora_dsp_agreement_message_new(ppid, id, ag);
	json_object_set_new(am, "signatures",
			    json_pack("[o, o]", agora_agreement_sign(ag, "provider", PROV, prov.p.key, NULL),
				      agora_agreement_sign(ag, "broker", stub.url, stub.me.key, NULL)));
	json_decref(ag);
	return am;
}

/* One DSP message from the broker, posted from a thread of its own. */
struct post {
	struct cfx *c;
	const char *path;
	json_t *msg;
	long status;
	char *body;
};

static void *
post_thread(void *arg)
{
	struct post *p = arg;
	struct harness_resp *r = as_broker(p->c, p->path, p->msg);
	p->status = r->status;
	p->body = xstrdup(r->body ? r->body : "");
	harness_resp_free(r);
	return NULL;
}

/* Post p[0] and p[1] (to the same connector) at once: p[0] is held before
 * its COMMIT (a trigger on the outbox its transaction writes to waits for
 * a lock of the test's) until p[1] is in its transaction too, waiting —
 * second_waits counts that — then both finish. */
static void
post_racing(struct post p[2], const char *second_waits)
{
	PGconn *db = PQconnectdb(p[0].c->db);
	cr_assert_eq(PQstatus(db), CONNECTION_OK, "%s", PQerrorMessage(db));
	PGresult *r = PQexec(db, "CREATE FUNCTION test_hold() RETURNS trigger LANGUAGE plpgsql AS"
				 " $$BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END$$;"
				 " CREATE TRIGGER test_hold BEFORE INSERT ON outbox FOR EACH ROW"
				 " EXECUTE FUNCTION test_hold(); SELECT pg_advisory_lock(4242)");
	cr_assert_eq(PQresultStatus(r), PGRES_TUPLES_OK, "%s", PQerrorMessage(db));
	PQclear(r);
	const char *waits[] = { "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
				" AND query LIKE 'INSERT INTO outbox%'",
				second_waits };
	pthread_t t[2];
	for (int i = 0; i < 2; i++) {
		cr_assert_eq(pthread_create(&t[i], NULL, post_thread, &p[i]), 0);
		long waiting = 0;
		for (int k = 0; k < 250 && !waiting; k++) {
			usleep(20000);
			waiting = harness_db_count(p[0].c->db, waits[i]);
		}
		cr_assert_eq(waiting, 1, "message %d waits", i);
	}
	r = PQexec(db, "SELECT pg_advisory_unlock(4242)");
	PQclear(r);
	for (int i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	r = PQexec(db, "DROP TRIGGER test_hold ON outbox");
	PQclear(r);
	PQfinish(db);
}

/* An agreement whose id another negotiation stored is refused (400
 * invalid_agreement, nothing stored), also when the two arrive at once. */
Test(negotiation, consumer_agreement_id_taken)
{
	char *ds, *offer;
	published_at_broker(&ds, &offer);
	char *id[4], *path[4];
	json_t *am[4];
	json_t *rq = NULL;
	for (int i = 0; i < 4; i++) {
		id[i] = start_negotiation(ds, offer);
		json_t *neg = wait_neg(&cons, id[i], "counterpartPid", NULL);
		if (!rq)	/* the rules: those of the requested offer */
			rq = stub_wait("/dsp/negotiations/request", NULL);
		json_t *ro = json_object_get(rq, "offer");
		am[i] = agreement_msg(ds, sget(neg, "counterpartPid"), id[i],
				      i < 2 ? "urn:uuid:agreement-taken" : "urn:uuid:agreement-raced",
				      json_object_get(ro, "permission"));
		path[i] = xasprintf("/dsp/callback/negotiations/%s/agreement", id[i]);
		json_decref(neg);
	}
	struct harness_resp *r = as_broker(&cons, path[0], am[0]);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	r = as_broker(&cons, path[1], am[1]);
	assert_dsp_error(r, 400);
	cr_assert_str_eq(sget(r->json, "code"), "invalid_agreement", "%s", r->body);
	harness_resp_free(r);
	json_t *neg = get_json(&cons, "/api/v1/negotiations/%s", id[1]);
	cr_assert_str_eq(sget(neg, "state"), "REQUESTED");
	cr_assert_null(json_object_get(neg, "agreementId"));
	json_decref(neg);

	/* At once: the second waits for the first (for a lock on the
	 * agreement id, or the first's uncommitted row) and is refused, not
	 * failed. */
	struct post p[2] = { { &cons, path[2], am[2], 0, NULL }, { &cons, path[3], am[3], 0, NULL } };
	post_racing(p, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
		       " AND query LIKE '%agreement%'");
	cr_assert_eq(p[0].status, 200, "%s", p[0].body);
	cr_assert_eq(p[1].status, 400, "%s", p[1].body);
	json_t *e = json_loads(p[1].body, 0, NULL);
	cr_assert_str_eq(sget(e, "code"), "invalid_agreement", "%s", p[1].body);
	json_decref(e);
	neg = get_json(&cons, "/api/v1/negotiations/%s", id[2]);
	cr_assert_str_eq(sget(neg, "state"), "VERIFIED");
	json_decref(neg);
	neg = get_json(&cons, "/api/v1/negotiations/%s", id[3]);
	cr_assert_str_eq(sget(neg, "state"), "REQUESTED");
	json_decref(neg);

	for (int i = 0; i < 4; i++) {
		free(id[i]);
		free(path[i]);
		json_decref(am[i]);
	}
	for (int i = 0; i < 2; i++)
		free(p[i].body);
	json_decref(rq);
	free(ds);
	free(offer);
}

/* The same request twice at once: the second waits for the first and gets
 * its answer; one negotiation, one agreement. */
Test(negotiation, provider_identical_requests_at_once)
{
	char *ds, *offer;
	publish(&prov, true, &ds, &offer);
	json_t *req = request_msg("urn:uuid:leg-twice", ds, offer, BUYER);
	struct post p[2] = { { &prov, "/dsp/negotiations/request", req, 0, NULL },
			     { &prov, "/dsp/negotiations/request", req, 0, NULL } };
	/* The second waits for a lock on the consumerPid, or for the first's
	 * uncommitted row. */
	post_racing(p, "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
		       " AND (query LIKE '%agora-request%' OR query LIKE 'INSERT INTO negotiations%')");
	for (int i = 0; i < 2; i++)
		cr_assert_eq(p[i].status, 201, "%s", p[i].body);
	json_t *a = json_loads(p[0].body, 0, NULL), *b = json_loads(p[1].body, 0, NULL);
	cr_assert(json_equal(a, b), "%s / %s", p[0].body, p[1].body);
	cr_assert_eq(harness_db_count(prov.db, "SELECT count(*) FROM negotiations"), 1);
	cr_assert_eq(harness_db_count(prov.db, "SELECT count(*) FROM agreements"), 1);
	json_decref(a);
	json_decref(b);
	for (int i = 0; i < 2; i++)
		free(p[i].body);
	json_decref(req);
	free(ds);
	free(offer);
}

Test(negotiation, consumer_refused_and_terminated)
{
	char *ds, *offer;
	published_at_broker(&ds, &offer);

	/* The broker refuses (policy): TERMINATED with its code and reason. */
	stub.refuse = true;
	char *id = start_negotiation(ds, offer);
	json_t *neg = wait_neg(&cons, id, "state", "TERMINATED");
	cr_assert_str_eq(sget(neg, "code"), "policy_refused");
	cr_assert(strstr(sget(neg, "reason"), "agora:country"), "%s", sget(neg, "reason"));
	json_decref(neg);
	stub.refuse = false;

	/* Terminated by the consumer once the broker named its pid. */
	int from = 0;
	json_decref(stub_wait("/dsp/negotiations/request", &from));
	char *id2 = start_negotiation(ds, offer);
	json_decref(stub_wait("/dsp/negotiations/request", &from));
	neg = wait_neg(&cons, id2, "counterpartPid", NULL);
	char *ppid = xstrdup(sget(neg, "counterpartPid"));
	json_decref(neg);
	char *tp = xasprintf("/api/v1/negotiations/%s/terminate", id2);
	struct harness_resp *r = cfx_call(&cons, "POST", tp, CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(sget(r->json, "state"), "TERMINATED");
	harness_resp_free(r);
	char *tpath = xasprintf("/dsp/negotiations/%s/termination", ppid);
	json_t *tm = stub_wait(tpath, NULL);
	cr_assert_str_eq(sget(tm, "consumerPid"), id2);
	json_decref(tm);
	r = cfx_call(&cons, "POST", tp, CONN_ADMIN_KEY, NULL);
	fx_assert_error(r, 409, "negotiation_state");
	harness_resp_free(r);

	/* Terminated by the broker: a termination at the callback. */
	char *id3 = start_negotiation(ds, offer);
	neg = wait_neg(&cons, id3, "counterpartPid", NULL);
	const char *rs[] = { "the provider rejected the request" };
	json_t *t3 = agora_dsp_termination_new(sget(neg, "counterpartPid"), id3, "rejected", rs, 1);
	char *t3p = xasprintf("/dsp/callback/negotiations/%s/termination", id3);
	r = as_broker(&cons, t3p, t3);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	json_decref(neg);
	neg = get_json(&cons, "/api/v1/negotiations/%s", id3);
	cr_assert_str_eq(sget(neg, "state"), "TERMINATED");
	cr_assert_str_eq(sget(neg, "code"), "rejected");
	json_decref(neg);

	/* The list, by role and state. */
	r = cfx_call(&cons, "GET", "/api/v1/negotiations?role=consumer&state=TERMINATED", CONN_ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_array_size(json_object_get(r->json, "results")), 3, "%s", r->body);
	harness_resp_free(r);

	free(t3p);
	json_decref(t3);
	free(id3);
	free(tpath);
	free(tp);
	free(ppid);
	free(id2);
	free(id);
	free(ds);
	free(offer);
}
