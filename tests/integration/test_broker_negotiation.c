/* test_broker_negotiation.c — the broker's side of contract negotiation
 * (docs/NEGOTIATION.md) against a real broker and PostgreSQL.  Two small
 * in-test HTTP servers play the provider's connector and the consumer's
 * callback: they record what the broker sends them (every message is
 * checked with dsp-validate) and answer like DSP peers.  The test sends
 * the provider's and the consumer's messages itself, signed with their
 * registered keys (lib/agreement), and checks the ledger receipt with
 * lib/merkle. */
#include "agreement.h"
#include "broker_fixture.h"
#include "dsp.h"
#include "jcs.h"
#include "jose.h"
#include "merkle.h"
#include "util.h"

#include <criterion/criterion.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

TestSuite(negotiation, .init = fx_start, .fini = fx_stop, .timeout = 120);

#define PROV "urn:agora:participant:provider-org"
#define CONS "urn:agora:participant:consumer-org"
#define OTHER "urn:agora:participant:other-org"
#define DATASET "urn:agora:dataset:air-lyon"
#define OFFER_ID "urn:agora:offer:air-lyon-1"
#define DE_DATASET "urn:agora:dataset:berlin-traffic"
#define DE_OFFER_ID "urn:agora:offer:berlin-1"
#define DSP_CTX "https://w3id.org/dspace/2025/1/context.jsonld"
#define PROVIDER_PID "urn:uuid:7b0b9a8e-1111-4000-8000-000000000001"

/* ---- the peers: an in-test DSP server that records what it receives ---- */

#define MAX_SEEN 64

struct seen {
	char *path;
	char *body;
	json_t *json;
	bool authorized;	/* carried a Bearer token */
};

struct peer {
	struct MHD_Daemon *d;
	int port;
	pthread_mutex_t mu;
	struct seen seen[MAX_SEEN];
	int n;
	unsigned refuse_request;	/* answer the request with this status (0: 201) */
};

struct upload {
	struct agora_buf b;
};

static enum MHD_Result
peer_handler(void *cls, struct MHD_Connection *c, const char *url, const char *method,
	     const char *version, const char *data, size_t *size, void **state)
{
	(void)version;
	(void)method;
	struct peer *p = cls;
	struct upload *u = *state;
	if (!u) {
		u = xcalloc(1, sizeof *u);
		agora_buf_init(&u->b);
		*state = u;
		return MHD_YES;
	}
	if (*size) {
		agora_buf_append(&u->b, data, *size);
		*size = 0;
		return MHD_YES;
	}
	agora_buf_append(&u->b, "", 0);
	const char *authz = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
	json_t *j = json_loads(u->b.data, 0, NULL);
	unsigned status = 200;
	json_t *reply;
	const char *cpid = json_string_value(json_object_get(j, "consumerPid"));
	const char *ppid = json_string_value(json_object_get(j, "providerPid"));
	if (strstr(url, "/negotiations/request") && p->refuse_request) {
		status = p->refuse_request;
		reply = agora_dsp_error_new(NULL, cpid, "refused", (const char *const[]){ "no thanks" }, 1);
	} else if (strstr(url, "/negotiations/request")) {
		status = 201;
		reply = agora_dsp_negotiation_new(PROVIDER_PID, cpid ? cpid : "?", AGORA_DSP_STATE_REQUESTED);
	} else {
		reply = agora_dsp_negotiation_new(ppid ? ppid : "?", cpid ? cpid : "?",
						  AGORA_DSP_STATE_REQUESTED);
	}
	pthread_mutex_lock(&p->mu);
	if (p->n < MAX_SEEN) {
		struct seen *s = &p->seen[p->n++];
		s->path = xstrdup(url);
		s->body = xstrdup(u->b.data);
		s->json = j;
		j = NULL;
		s->authorized = authz && !strncmp(authz, "Bearer ", 7);
	}
	pthread_mutex_unlock(&p->mu);
	json_decref(j);
	char *text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	struct MHD_Response *resp = MHD_create_response_from_buffer(strlen(text), text,
								    MHD_RESPMEM_MUST_FREE);
	MHD_add_response_header(resp, "Content-Type", "application/json");
	enum MHD_Result ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return ret;
}

static void
peer_done(void *cls, struct MHD_Connection *c, void **state, enum MHD_RequestTerminationCode t)
{
	(void)cls;
	(void)c;
	(void)t;
	struct upload *u = *state;
	if (u) {
		agora_buf_cleanup(&u->b);
		free(u);
	}
}

static void
peer_start(struct peer *p)
{
	memset(p, 0, sizeof *p);
	pthread_mutex_init(&p->mu, NULL);
	p->port = harness_free_port();
	p->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
				(uint16_t)p->port, NULL, NULL, peer_handler, p,
				MHD_OPTION_NOTIFY_COMPLETED, peer_done, p, MHD_OPTION_END);
	cr_assert_not_null(p->d, "peer server on port %d", p->port);
}

static void
peer_stop(struct peer *p)
{
	MHD_stop_daemon(p->d);
	for (int i = 0; i < p->n; i++) {
		free(p->seen[i].path);
		free(p->seen[i].body);
		json_decref(p->seen[i].json);
	}
	pthread_mutex_destroy(&p->mu);
}

static int
peer_count(struct peer *p, const char *suffix)
{
	int k = 0;
	pthread_mutex_lock(&p->mu);
	for (int i = 0; i < p->n; i++) {
		size_t a = strlen(p->seen[i].path), b = strlen(suffix);
		if (a >= b && !strcmp(p->seen[i].path + a - b, suffix))
			k++;
	}
	pthread_mutex_unlock(&p->mu);
	return k;
}

/* Wait (≤ 10 s) for a message whose path ends with suffix; check it is
 * authenticated and valid DSP; return its body (borrowed from p). */
static json_t *
peer_wait(struct peer *p, const char *suffix)
{
	for (int t = 0; t < 1000; t++) {
		pthread_mutex_lock(&p->mu);
		for (int i = 0; i < p->n; i++) {
			size_t a = strlen(p->seen[i].path), b = strlen(suffix);
			if (a >= b && !strcmp(p->seen[i].path + a - b, suffix)) {
				struct seen *s = &p->seen[i];
				pthread_mutex_unlock(&p->mu);
				cr_assert(s->authorized, "%s came with a participant token", suffix);
				cr_assert_not_null(s->json, "%s: JSON body: %s", suffix, s->body);
				cr_assert(harness_dsp_validate(s->body, NULL), "dsp-validate: %s", s->body);
				return s->json;
			}
		}
		pthread_mutex_unlock(&p->mu);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_fail("nothing arrived at ...%s", suffix);
	return NULL;
}

/* ---- the world: participants, catalog, peers ------------------------------ */

struct world {
	struct participant prov, cons, other;
	struct peer provider, callback;
	char *cb_url;
};

static void
register_at(struct participant *p, const char *id, const char *country, int port)
{
	snprintf(p->id, sizeof p->id, "%s", id);
	p->key = agora_key_generate();
	agora_key_thumbprint(p->key, p->kid);
	char *ep = xasprintf("http://127.0.0.1:%d", port);
	json_t *b = json_pack("{s:s, s:s, s:s, s:{s:[o]}, s:{s:s, s:s}}", "id", id, "name", id,
			      "endpoint", ep, "jwks", "keys", agora_jwk_from_key(p->key),
			      "attributes", "country", country, "industry", "public-sector");
	char *s = json_dumps(b, JSON_COMPACT);
	struct harness_resp *r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, s);
	cr_assert_eq(r->status, 201, "register %s: %s", id, r->body);
	harness_resp_free(r);
	free(s);
	free(ep);
	json_decref(b);
}

/* The catalog offer: use, until 2099 (so that an offer without the
 * constraint is broader). */
static json_t *
catalog_offer(const char *id, const char *lo, const char *ro)
{
	return json_pack("{s:s, s:s, s:[{s:s, s:[{s:s, s:s, s:s}]}]}", "@id", id, "@type", "Offer",
			 "permission", "action", "use", "constraint", "leftOperand", lo, "operator",
			 lo[0] == 'd' ? "lt" : "eq", "rightOperand", ro);
}

static json_t *
dataset(const char *id, json_t *offer)
{
	return json_pack("{s:s, s:s, s:s, s:s, s:[s], s:[s], s:s, s:s, s:s, s:{s:[f,f,f,f]},"
			 " s:{s:s, s:n}, s:s, s:s, s:[o], s:[{s:s, s:s, s:s, s:i, s:s}]}",
			 "@id", id, "@type", "Dataset", "title", "Air quality", "description",
			 "NO2 hourly", "keyword", "air", "theme", "environment", "license",
			 "https://creativecommons.org/licenses/by/4.0/", "issued",
			 "2026-01-01T00:00:00Z", "modified", "2026-06-01T00:00:00Z", "spatial", "bbox",
			 4.83, 45.74, 4.87, 45.77, "temporal", "start", "2026-01-01T00:00:00Z", "end",
			 "accrualPeriodicity", "PT1H", "mediaType", "text/csv", "hasPolicy", offer,
			 "distribution", "@type", "Distribution", "format", "HttpData-PULL",
			 "mediaType", "text/csv", "byteSize", 1234, "accessService", "urn:test#dsp");
}

static void
push_catalog(const struct participant *p)
{
	char *svc = xasprintf("%s#dsp", p->id);
	json_t *ds = json_pack("[o, o]",
			       dataset(DATASET, catalog_offer(OFFER_ID, "dateTime", "2099-01-01T00:00:00Z")),
			       dataset(DE_DATASET, catalog_offer(DE_OFFER_ID, "agora:country", "DE")));
	json_t *cat = json_pack("{s:[s], s:s, s:s, s:s, s:[{s:s, s:s, s:s}], s:o}", "@context",
				DSP_CTX, "@id", "urn:uuid:8d4b2c4e-0000-4000-8000-000000000001", "@type",
				"Catalog", "participantId", p->id, "service", "@id", svc, "@type",
				"DataService", "endpointURL", "http://127.0.0.1:9/dsp", "dataset", ds);
	json_t *b = json_pack("{s:o}", "catalog", cat);
	char *s = json_dumps(b, JSON_COMPACT);
	char *path = xasprintf("/api/v1/catalogs/%s", p->id);
	char *t = fx_token(p, "PUT", path, s, NULL);
	struct harness_resp *r = fx_call("PUT", path, t, s);
	cr_assert_eq(r->status, 200, "push: %s", r->body);
	harness_resp_free(r);
	json_decref(b);
	free(s);
	free(t);
	free(path);
	free(svc);
}

static void
world_start(struct world *w)
{
	peer_start(&w->provider);
	peer_start(&w->callback);
	w->cb_url = xasprintf("http://127.0.0.1:%d/cb", w->callback.port);
	register_at(&w->prov, PROV, "FR", w->provider.port);
	register_at(&w->cons, CONS, "FR", w->callback.port);
	register_at(&w->other, OTHER, "FR", 9);
	push_catalog(&w->prov);
}

static void
world_stop(struct world *w)
{
	peer_stop(&w->provider);
	peer_stop(&w->callback);
	agora_key_free(w->prov.key);
	agora_key_free(w->cons.key);
	agora_key_free(w->other.key);
	free(w->cb_url);
}

/* ---- messages --------------------------------------------------------------- */

/* POST a message (borrowed) as p to path. */
static struct harness_resp *
dsp_post(const struct participant *p, const char *path, const json_t *msg)
{
	char *s = json_dumps(msg, JSON_COMPACT);
	char *t = p ? fx_token(p, "POST", path, s, NULL) : NULL;
	struct harness_resp *r = fx_call("POST", path, t, s);
	free(s);
	free(t);
	return r;
}

static void
assert_dsp_error(const struct harness_resp *r, long status, const char *code)
{
	cr_assert_eq(r->status, status, "want %ld, got %ld: %s", status, r->status, r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "@type")),
			 "ContractNegotiationError", "%s", r->body);
	if (code)
		cr_assert_str_eq(json_string_value(json_object_get(r->json, "code")), code, "%s",
				 r->body);
	cr_assert(harness_dsp_validate(r->body, NULL), "dsp-validate: %s", r->body);
}

/* The consumer's requested offer: the catalog's, with target. */
static json_t *
requested_offer(const char *dataset_id, const char *offer_id, bool broader)
{
	json_t *o = dataset_id[strlen(dataset_id) - 1] == 'c'	/* berlin-traffic */
			    ? catalog_offer(offer_id, "agora:country", "DE")
			    : catalog_offer(offer_id, "dateTime", "2099-01-01T00:00:00Z");
	if (broader)
		json_object_del(json_array_get(json_object_get(o, "permission"), 0), "constraint");
	json_object_set_new(o, "target", json_string(dataset_id));
	return o;
}

static struct harness_resp *
request(struct world *w, const char *cpid, json_t *offer)
{
	json_t *m = agora_dsp_contract_request_new(cpid, NULL, offer, w->cb_url);
	json_decref(offer);
	cr_assert(harness_dsp_validate(json_dumps(m, JSON_COMPACT), NULL));
	struct harness_resp *r = dsp_post(&w->cons, "/dsp/negotiations/request", m);
	json_decref(m);
	return r;
}

/* Request the air dataset; returns the broker's pid (heap). */
static char *
request_ok(struct world *w, const char *cpid)
{
	struct harness_resp *r = request(w, cpid, requested_offer(DATASET, OFFER_ID, false));
	cr_assert_eq(r->status, 201, "request: %s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "@type")), "ContractNegotiation");
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "state")), "REQUESTED");
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "consumerPid")), cpid);
	cr_assert(harness_dsp_validate(r->body, NULL), "%s", r->body);
	char *bid = xstrdup(json_string_value(json_object_get(r->json, "providerPid")));
	harness_resp_free(r);
	return bid;
}

/* The broker's request to the provider: its consumerPid (our leg). */
static const char *
provider_request(struct world *w)
{
	json_t *m = peer_wait(&w->provider, "/dsp/negotiations/request");
	cr_assert_str_eq(json_string_value(json_object_get(m, "@type")), "ContractRequestMessage");
	cr_assert_str_eq(json_string_value(json_object_get(m, "consumer")), CONS);
	char *cb = xasprintf("%s/dsp/callback", fx.url);
	cr_assert_str_eq(json_string_value(json_object_get(m, "callbackAddress")), cb);
	free(cb);
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(m, "offer"), "target")),
			 DATASET);
	return json_string_value(json_object_get(m, "consumerPid"));
}

static json_t *
agreement_doc(const char *id)
{
	json_t *o = requested_offer(DATASET, OFFER_ID, false);
	json_t *a = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O}", "@id", id, "@type", "Agreement",
			      "target", DATASET, "assigner", PROV, "assignee", CONS, "timestamp",
			      "2026-11-25T10:00:00Z", "permission", json_object_get(o, "permission"));
	json_decref(o);
	return a;
}

static struct harness_resp *
post_agreement(struct world *w, const char *leg, const json_t *ag, const struct agora_key *key,
	       const struct participant *as)
{
	json_t *sig = agora_agreement_sign(ag, "provider", PROV, key, w->prov.kid);
	json_t *m = agora_dsp_agreement_message_new(PROVIDER_PID, leg, ag);
	json_object_set_new(m, "signatures", json_pack("[o]", sig));
	char *path = xasprintf("/dsp/callback/negotiations/%s/agreement", leg);
	struct harness_resp *r = dsp_post(as, path, m);
	free(path);
	json_decref(m);
	return r;
}

/* Wait until the broker stored the provider's pid (the request's reply). */
static void
wait_provider_pid(const char *bid)
{
	char *path = xasprintf("/api/v1/negotiations/%s", bid);
	for (int t = 0; t < 500; t++) {
		struct harness_resp *r = fx_call("GET", path, ADMIN_KEY, NULL);
		bool ok = r->status == 200 && json_is_string(json_object_get(r->json, "providerPid"));
		harness_resp_free(r);
		if (ok) {
			free(path);
			return;
		}
		struct timespec ts = { 0, 20 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_fail("the provider's pid was never stored");
}

static json_t *
admin_get(const char *path)
{
	struct harness_resp *r = fx_call("GET", path, ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "GET %s: %s", path, r->body);
	json_t *j = json_incref(r->json);
	harness_resp_free(r);
	return j;
}

static long long
tree_size(void)
{
	json_t *sth = admin_get("/api/v1/ledger/sth");
	long long n = json_integer_value(json_object_get(sth, "treeSize"));
	json_decref(sth);
	return n;
}

/* ---- key lookup for verifying the broker's chains --------------------------- */

struct keys {
	struct world *w;
	struct agora_key *broker;
};

static struct agora_key *
key_of(void *ctx, const char *role, const char *signer, const char *kid)
{
	struct keys *k = ctx;
	(void)kid;
	uint8_t pub[32];
	if (!strcmp(role, "broker")) {
		if (strcmp(signer, fx.url))
			return NULL;
		agora_key_public_raw(k->broker, pub);
	} else if (!strcmp(role, "provider")) {
		agora_key_public_raw(k->w->prov.key, pub);
	} else {
		agora_key_public_raw(k->w->cons.key, pub);
	}
	return agora_key_from_public_raw(pub);
}

static struct agora_key *
broker_key(void)
{
	json_t *jwks = admin_get("/.well-known/jwks.json");
	struct agora_key *k = agora_key_from_jwk(json_array_get(json_object_get(jwks, "keys"), 0),
						 NULL, 0);
	cr_assert_not_null(k);
	json_decref(jwks);
	return k;
}

/* ---- tests ------------------------------------------------------------------ */

Test(negotiation, full_happy_path)
{
	struct world w;
	world_start(&w);
	const char *cpid = "urn:uuid:c0000000-0000-4000-8000-000000000001";
	char *bid = request_ok(&w, cpid);
	const char *leg = provider_request(&w);
	char *legs = xstrdup(leg);

	/* Step 3 → 4: the provider agrees and signs. */
	json_t *ag = agreement_doc("urn:uuid:a0000000-0000-4000-8000-000000000001");
	long long before = tree_size();
	struct harness_resp *r = post_agreement(&w, legs, ag, w.prov.key, &w.prov);
	cr_assert_eq(r->status, 200, "agreement: %s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "state")), "AGREED");
	cr_assert(harness_dsp_validate(r->body, NULL));
	harness_resp_free(r);
	cr_assert_eq(tree_size(), before + 1, "one ledger entry for the agreement");

	/* Step 5: the consumer gets the agreement with two signatures that verify. */
	char *sfx = xasprintf("/cb/negotiations/%s/agreement", cpid);
	json_t *am = peer_wait(&w.callback, sfx);
	free(sfx);
	cr_assert_str_eq(json_string_value(json_object_get(am, "providerPid")), bid);
	const json_t *sigs = json_object_get(am, "signatures");
	cr_assert_eq(json_array_size(sigs), 2, "%s", json_dumps(am, 0));
	struct keys ks = { &w, broker_key() };
	char err[256];
	cr_assert(agora_agreement_verify_chain(json_object_get(am, "agreement"), sigs, 2, key_of, &ks,
					       err, sizeof err), "chain of 2: %s", err);

	/* Step 5 → 6: the consumer signs and verifies. */
	json_t *csig = agora_agreement_sign(json_object_get(am, "agreement"), "consumer", CONS,
					    w.cons.key, NULL);
	json_t *three = json_pack("[O, O, o]", json_array_get(sigs, 0), json_array_get(sigs, 1), csig);
	json_t *v = agora_dsp_verification_new(bid, cpid);
	json_object_set_new(v, "signatures", json_deep_copy(three));
	char *vpath = xasprintf("/dsp/negotiations/%s/agreement/verification", bid);
	r = dsp_post(&w.cons, vpath, v);
	cr_assert_eq(r->status, 200, "verification: %s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "state")), "VERIFIED");
	harness_resp_free(r);

	/* Step 7: the provider receives the three signatures. */
	json_t *pv = peer_wait(&w.provider, "/dsp/negotiations/" PROVIDER_PID "/agreement/verification");
	cr_assert_str_eq(json_string_value(json_object_get(pv, "consumerPid")), legs);
	cr_assert_eq(json_array_size(json_object_get(pv, "signatures")), 3);
	cr_assert(agora_agreement_verify_chain(ag, json_object_get(pv, "signatures"), 3, key_of, &ks,
					       err, sizeof err), "chain of 3: %s", err);

	/* Step 7 → 8: FINALIZED from the provider, with the receipt to the consumer. */
	json_t *ev = agora_dsp_event_new(PROVIDER_PID, legs, AGORA_DSP_MSG_EVENT_FINALIZED);
	char *epath = xasprintf("/dsp/callback/negotiations/%s/events", legs);
	r = dsp_post(&w.prov, epath, ev);
	cr_assert_eq(r->status, 200, "finalized: %s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "state")), "FINALIZED");
	harness_resp_free(r);
	sfx = xasprintf("/cb/negotiations/%s/events", cpid);
	json_t *fe = peer_wait(&w.callback, sfx);
	free(sfx);
	cr_assert_str_eq(json_string_value(json_object_get(fe, "eventType")), "FINALIZED");
	const json_t *rc = json_object_get(fe, "receipt");
	const json_t *entry = json_object_get(rc, "entry");
	cr_assert_str_eq(json_string_value(json_object_get(entry, "kind")), "agreement");
	cr_assert_str_eq(json_string_value(json_object_get(entry, "agreementId")),
			 "urn:uuid:a0000000-0000-4000-8000-000000000001");
	cr_assert_eq(json_array_size(json_object_get(entry, "signatures")), 2);
	/* The receipt verifies: leaf from the entry, proof to the signed root. */
	size_t n;
	char *canon = agora_jcs(entry, &n);
	uint8_t leaf[32], root[32], proof[64][32];
	agora_merkle_leaf_hash(canon, n, leaf);
	free(canon);
	char hex[65];
	agora_merkle_to_hex(leaf, hex);
	cr_assert_str_eq(hex, json_string_value(json_object_get(rc, "leafHash")));
	const json_t *sth = json_object_get(rc, "sth");
	cr_assert(agora_merkle_from_hex(json_string_value(json_object_get(sth, "rootHash")), root));
	const json_t *pr = json_object_get(rc, "proof");
	for (size_t i = 0; i < json_array_size(pr) && i < 64; i++)
		cr_assert(agora_merkle_from_hex(json_string_value(json_array_get(pr, i)), proof[i]));
	cr_assert(agora_merkle_verify_inclusion(
			  leaf, (size_t)json_integer_value(json_object_get(rc, "index")),
			  (size_t)json_integer_value(json_object_get(sth, "treeSize")), proof,
			  json_array_size(pr), root),
		  "inclusion proof verifies");
	/* …and the STH is the broker's. */
	struct agora_jws *jws = agora_jws_parse(json_string_value(json_object_get(sth, "signature")),
						err, sizeof err);
	cr_assert_not_null(jws, "%s", err);
	cr_assert(agora_jws_verify(jws, ks.broker), "the STH is signed by the broker");
	agora_jws_free(jws);

	/* The agreements API: three signatures, the receipt, parties only. */
	char *apath = "/api/v1/agreements/urn:uuid:a0000000-0000-4000-8000-000000000001";
	json_t *doc = admin_get(apath);
	cr_assert_str_eq(json_string_value(json_object_get(doc, "status")), "active");
	cr_assert_eq(json_array_size(json_object_get(doc, "signatures")), 3);
	cr_assert(json_is_object(json_object_get(doc, "receipt")));
	json_decref(doc);
	char *t = fx_token(&w.cons, "GET", apath, NULL, NULL);
	r = fx_call("GET", apath, t, NULL);
	cr_assert_eq(r->status, 200, "the consumer sees its agreement: %s", r->body);
	harness_resp_free(r);
	free(t);
	t = fx_token(&w.other, "GET", apath, NULL, NULL);
	r = fx_call("GET", apath, t, NULL);
	fx_assert_error(r, 404, "agreement_not_found");
	harness_resp_free(r);
	free(t);
	t = fx_token(&w.prov, "GET", "/api/v1/agreements", NULL, NULL);
	r = fx_call("GET", "/api/v1/agreements", t, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_eq(json_array_size(json_object_get(r->json, "results")), 1);
	harness_resp_free(r);
	free(t);

	/* The admin view: FINALIZED, with the history of both legs. */
	char *npath = xasprintf("/api/v1/negotiations/%s", bid);
	json_t *neg = admin_get(npath);
	cr_assert_str_eq(json_string_value(json_object_get(neg, "state")), "FINALIZED");
	cr_assert_geq(json_array_size(json_object_get(neg, "history")), 8, "%s",
		      json_dumps(neg, JSON_COMPACT));
	json_decref(neg);
	json_t *lst = admin_get("/api/v1/negotiations?state=FINALIZED");
	cr_assert_eq(json_array_size(json_object_get(lst, "results")), 1);
	json_decref(lst);

	/* Revocation (admin): a ledger entry; twice is a conflict. */
	long long size = tree_size();
	char *rpath = "/api/v1/agreements/urn:uuid:a0000000-0000-4000-8000-000000000001/revoke";
	r = fx_call("POST", rpath, ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "revoke: %s", r->body);
	harness_resp_free(r);
	cr_assert_eq(tree_size(), size + 1);
	r = fx_call("POST", rpath, ADMIN_KEY, NULL);
	fx_assert_error(r, 409, "agreement_revoked");
	harness_resp_free(r);
	doc = admin_get(apath);
	cr_assert_str_eq(json_string_value(json_object_get(doc, "status")), "revoked");
	json_decref(doc);

	agora_key_free(ks.broker);
	json_decref(three);
	json_decref(v);
	json_decref(ev);
	json_decref(ag);
	free(vpath);
	free(epath);
	free(npath);
	free(legs);
	free(bid);
	world_stop(&w);
}

Test(negotiation, policy_refusal_names_the_constraint)
{
	struct world w;
	world_start(&w);
	struct harness_resp *r = request(&w, "urn:uuid:c0000000-0000-4000-8000-000000000002",
					 requested_offer(DE_DATASET, DE_OFFER_ID, false));
	assert_dsp_error(r, 400, "policy_denied");
	char *reason = json_dumps(json_object_get(r->json, "reason"), 0);
	cr_assert(strstr(reason, "agora:country eq DE"), "the reason names the constraint: %s", reason);
	free(reason);
	harness_resp_free(r);
	json_t *lst = admin_get("/api/v1/negotiations?state=TERMINATED");
	cr_assert_eq(json_array_size(json_object_get(lst, "results")), 1, "stored TERMINATED");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(json_object_get(lst, "results"), 0), "code")),
			 "policy_denied");
	json_decref(lst);
	cr_assert_eq(peer_count(&w.provider, "/dsp/negotiations/request"), 0);
	world_stop(&w);
}

Test(negotiation, broader_offer_is_refused)
{
	struct world w;
	world_start(&w);
	struct harness_resp *r = request(&w, "urn:uuid:c0000000-0000-4000-8000-000000000003",
					 requested_offer(DATASET, OFFER_ID, true));
	assert_dsp_error(r, 400, "offer_mismatch");
	harness_resp_free(r);
	/* An offer id the catalog does not have. */
	r = request(&w, "urn:uuid:c0000000-0000-4000-8000-000000000004",
		    requested_offer(DATASET, "urn:agora:offer:nope", false));
	assert_dsp_error(r, 400, "not_found");
	harness_resp_free(r);
	cr_assert_eq(peer_count(&w.provider, "/dsp/negotiations/request"), 0);
	world_stop(&w);
}

Test(negotiation, unauthenticated_and_wrong_party_get_404)
{
	struct world w;
	world_start(&w);
	json_t *o = requested_offer(DATASET, OFFER_ID, false);
	json_t *m = agora_dsp_contract_request_new("urn:uuid:c0000000-0000-4000-8000-000000000005",
						   NULL, o, w.cb_url);
	json_decref(o);
	struct harness_resp *r = dsp_post(NULL, "/dsp/negotiations/request", m);
	cr_assert_eq(r->status, 404, "%s", r->body);
	harness_resp_free(r);
	json_decref(m);

	char *bid = request_ok(&w, "urn:uuid:c0000000-0000-4000-8000-000000000006");
	char *leg = xstrdup(provider_request(&w));
	/* Another participant terminating someone else's negotiation. */
	json_t *t = agora_dsp_termination_new(bid, "urn:uuid:c0000000-0000-4000-8000-000000000006",
					      NULL, NULL, 0);
	char *path = xasprintf("/dsp/negotiations/%s/termination", bid);
	r = dsp_post(&w.other, path, t);
	assert_dsp_error(r, 404, "not_found");
	harness_resp_free(r);
	/* …and reading it. */
	char *gpath = xasprintf("/dsp/negotiations/%s", bid);
	char *tok = fx_token(&w.other, "GET", gpath, NULL, NULL);
	r = fx_call("GET", gpath, tok, NULL);
	assert_dsp_error(r, 404, "not_found");
	harness_resp_free(r);
	free(tok);
	tok = fx_token(&w.cons, "GET", gpath, NULL, NULL);
	r = fx_call("GET", gpath, tok, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "state")), "REQUESTED");
	harness_resp_free(r);
	free(tok);
	/* The consumer posting on the provider's leg. */
	json_t *ag = agreement_doc("urn:uuid:a0000000-0000-4000-8000-000000000006");
	r = post_agreement(&w, leg, ag, w.prov.key, &w.cons);
	assert_dsp_error(r, 404, "not_found");
	harness_resp_free(r);
	/* Counter-offers: 400 for the provider, 404 for anyone else. */
	json_t *co = requested_offer(DATASET, OFFER_ID, false);
	json_t *com = agora_dsp_contract_offer_new(PROVIDER_PID, leg, co, NULL);
	json_decref(co);
	char *opath = xasprintf("/dsp/callback/negotiations/%s/offers", leg);
	r = dsp_post(&w.prov, opath, com);
	assert_dsp_error(r, 400, "unsupported");
	harness_resp_free(r);
	r = dsp_post(&w.other, opath, com);
	assert_dsp_error(r, 404, "not_found");
	harness_resp_free(r);
	json_decref(com);
	free(opath);
	/* An unknown process. */
	r = post_agreement(&w, "urn:uuid:ffffffff-0000-4000-8000-000000000000", ag, w.prov.key, &w.prov);
	assert_dsp_error(r, 404, "not_found");
	harness_resp_free(r);
	json_decref(ag);
	json_decref(t);
	free(path);
	free(gpath);
	free(leg);
	free(bid);
	world_stop(&w);
}

Test(negotiation, verification_before_agreement_is_illegal)
{
	struct world w;
	world_start(&w);
	const char *cpid = "urn:uuid:c0000000-0000-4000-8000-000000000007";
	char *bid = request_ok(&w, cpid);
	json_t *v = agora_dsp_verification_new(bid, cpid);
	char *path = xasprintf("/dsp/negotiations/%s/agreement/verification", bid);
	struct harness_resp *r = dsp_post(&w.cons, path, v);
	assert_dsp_error(r, 400, "invalid_transition");
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "providerPid")), bid);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "consumerPid")), cpid);
	harness_resp_free(r);
	json_decref(v);
	free(path);
	free(bid);
	world_stop(&w);
}

Test(negotiation, forged_provider_signature_is_refused_and_nothing_stored)
{
	struct world w;
	world_start(&w);
	const char *cpid = "urn:uuid:c0000000-0000-4000-8000-000000000008";
	char *bid = request_ok(&w, cpid);
	char *leg = xstrdup(provider_request(&w));
	long long before = tree_size();
	json_t *ag = agreement_doc("urn:uuid:a0000000-0000-4000-8000-000000000008");
	struct agora_key *forger = agora_key_generate();
	struct harness_resp *r = post_agreement(&w, leg, ag, forger, &w.prov);
	assert_dsp_error(r, 400, "invalid_signature");
	harness_resp_free(r);
	/* An agreement whose canonical form differs from what was signed. */
	json_t *sig = agora_agreement_sign(ag, "provider", PROV, w.prov.key, NULL);
	json_object_set_new(ag, "timestamp", json_string("2026-11-25T10:00:01Z"));
	json_t *m = agora_dsp_agreement_message_new(PROVIDER_PID, leg, ag);
	json_object_set_new(m, "signatures", json_pack("[o]", sig));
	char *path = xasprintf("/dsp/callback/negotiations/%s/agreement", leg);
	r = dsp_post(&w.prov, path, m);
	assert_dsp_error(r, 400, "invalid_signature");
	harness_resp_free(r);
	cr_assert_eq(tree_size(), before, "no ledger entry");
	char *npath = xasprintf("/api/v1/negotiations/%s", bid);
	json_t *neg = admin_get(npath);
	cr_assert_str_eq(json_string_value(json_object_get(neg, "state")), "REQUESTED");
	cr_assert(json_is_null(json_object_get(neg, "agreementId")) ||
		  !json_object_get(neg, "agreementId"));
	json_decref(neg);
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	cr_assert_eq(w.callback.n, 0, "the consumer got nothing");
	agora_key_free(forger);
	json_decref(m);
	json_decref(ag);
	free(path);
	free(npath);
	free(leg);
	free(bid);
	world_stop(&w);
}

Test(negotiation, repeated_identical_message_gets_the_same_answer)
{
	struct world w;
	world_start(&w);
	const char *cpid = "urn:uuid:c0000000-0000-4000-8000-000000000009";
	json_t *o = requested_offer(DATASET, OFFER_ID, false);
	json_t *m = agora_dsp_contract_request_new(cpid, NULL, o, w.cb_url);
	json_decref(o);
	struct harness_resp *a = dsp_post(&w.cons, "/dsp/negotiations/request", m);
	struct harness_resp *b = dsp_post(&w.cons, "/dsp/negotiations/request", m);
	cr_assert_eq(a->status, 201, "%s", a->body);
	cr_assert_eq(b->status, 201, "%s", b->body);
	cr_assert(json_equal(a->json, b->json), "%s vs %s", a->body, b->body);
	/* A different request with the same consumerPid is out of order. */
	json_object_set_new(m, "callbackAddress", json_string("http://127.0.0.1:9/other"));
	struct harness_resp *c = dsp_post(&w.cons, "/dsp/negotiations/request", m);
	assert_dsp_error(c, 400, "invalid_transition");
	provider_request(&w);
	wait_provider_pid(json_string_value(json_object_get(a->json, "providerPid")));
	cr_assert_eq(peer_count(&w.provider, "/dsp/negotiations/request"), 1, "one request forwarded");
	json_t *lst = admin_get("/api/v1/negotiations");
	cr_assert_eq(json_array_size(json_object_get(lst, "results")), 1);
	json_decref(lst);
	/* The same termination twice: the same answer, one propagation. */
	const char *bid = json_string_value(json_object_get(a->json, "providerPid"));
	json_t *t = agora_dsp_termination_new(bid, cpid, "changed_mind",
					      (const char *const[]){ "no longer needed" }, 1);
	char *path = xasprintf("/dsp/negotiations/%s/termination", bid);
	struct harness_resp *t1 = dsp_post(&w.cons, path, t);
	struct harness_resp *t2 = dsp_post(&w.cons, path, t);
	cr_assert_eq(t1->status, 200, "%s", t1->body);
	cr_assert_eq(t2->status, 200, "%s", t2->body);
	cr_assert(json_equal(t1->json, t2->json));
	peer_wait(&w.provider, "/dsp/negotiations/" PROVIDER_PID "/termination");
	struct timespec ts = { 0, 200 * 1000 * 1000 };
	nanosleep(&ts, NULL);
	cr_assert_eq(peer_count(&w.provider, "/termination"), 1);
	harness_resp_free(a);
	harness_resp_free(b);
	harness_resp_free(c);
	harness_resp_free(t1);
	harness_resp_free(t2);
	json_decref(t);
	json_decref(m);
	free(path);
	world_stop(&w);
}

Test(negotiation, consumer_termination_propagates_to_the_provider)
{
	struct world w;
	world_start(&w);
	const char *cpid = "urn:uuid:c0000000-0000-4000-8000-00000000000a";
	char *bid = request_ok(&w, cpid);
	char *leg = xstrdup(provider_request(&w));
	wait_provider_pid(bid);
	json_t *t = agora_dsp_termination_new(bid, cpid, "changed_mind",
					      (const char *const[]){ "budget cut" }, 1);
	char *path = xasprintf("/dsp/negotiations/%s/termination", bid);
	struct harness_resp *r = dsp_post(&w.cons, path, t);
	cr_assert_eq(r->status, 200, "%s", r->body);
	cr_assert_str_eq(json_string_value(json_object_get(r->json, "state")), "TERMINATED");
	harness_resp_free(r);
	json_t *pt = peer_wait(&w.provider, "/dsp/negotiations/" PROVIDER_PID "/termination");
	cr_assert_str_eq(json_string_value(json_object_get(pt, "consumerPid")), leg);
	cr_assert_str_eq(json_string_value(json_object_get(pt, "providerPid")), PROVIDER_PID);
	cr_assert_str_eq(json_string_value(json_object_get(pt, "code")), "changed_mind");
	/* Nothing may follow a final state. */
	json_t *ag = agreement_doc("urn:uuid:a0000000-0000-4000-8000-00000000000a");
	r = post_agreement(&w, leg, ag, w.prov.key, &w.prov);
	assert_dsp_error(r, 400, "invalid_transition");
	harness_resp_free(r);
	json_decref(ag);
	json_decref(t);
	free(path);
	free(leg);
	free(bid);
	world_stop(&w);
}

Test(negotiation, provider_termination_and_refusal_reach_the_consumer)
{
	struct world w;
	world_start(&w);
	/* The provider refuses the request: the consumer is told. */
	w.provider.refuse_request = 400;
	const char *cpid = "urn:uuid:c0000000-0000-4000-8000-00000000000b";
	char *bid = request_ok(&w, cpid);
	char *sfx = xasprintf("/cb/negotiations/%s/termination", cpid);
	json_t *ct = peer_wait(&w.callback, sfx);
	free(sfx);
	cr_assert_str_eq(json_string_value(json_object_get(ct, "providerPid")), bid);
	cr_assert_str_eq(json_string_value(json_object_get(ct, "code")), "refused");
	free(bid);
	/* The provider terminates an accepted request. */
	w.provider.refuse_request = 0;
	cpid = "urn:uuid:c0000000-0000-4000-8000-00000000000c";
	bid = request_ok(&w, cpid);
	json_t *pm = NULL;
	for (int t = 0; t < 1000 && !pm; t++) {
		pthread_mutex_lock(&w.provider.mu);
		/* The first request was refused; the second is the one. */
		for (int i = 1; i < w.provider.n; i++) {
			const char *type = json_string_value(json_object_get(w.provider.seen[i].json,
									     "@type"));
			if (type && !strcmp(type, "ContractRequestMessage"))
				pm = w.provider.seen[i].json;
		}
		pthread_mutex_unlock(&w.provider.mu);
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	cr_assert_not_null(pm, "second request reached the provider");
	const char *leg = json_string_value(json_object_get(pm, "consumerPid"));
	json_t *t = agora_dsp_termination_new(PROVIDER_PID, leg, "out_of_stock",
					      (const char *const[]){ "dataset withdrawn" }, 1);
	char *path = xasprintf("/dsp/callback/negotiations/%s/termination", leg);
	struct harness_resp *r = dsp_post(&w.prov, path, t);
	cr_assert_eq(r->status, 200, "%s", r->body);
	harness_resp_free(r);
	sfx = xasprintf("/cb/negotiations/%s/termination", cpid);
	ct = peer_wait(&w.callback, sfx);
	free(sfx);
	cr_assert_str_eq(json_string_value(json_object_get(ct, "code")), "out_of_stock");
	json_decref(t);
	free(path);
	free(bid);
	world_stop(&w);
}
