/* test_agreement_verify.c — `agora agreement verify` on agreements from
 * a real negotiation (consumer connector → broker → provider connector on
 * one PostgreSQL): the genuine document verifies, online and offline;
 * tampered copies are refused, naming the first failure. */
#include "agreement.h"
#include "nego_fixture.h"
#include "crypto.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

TestSuite(agreement_verify, .init = nfx_start, .fini = nfx_stop, .timeout = 120);

/* The consumer's agreement document, once it holds its receipt. */
static json_t *
consumer_doc(const char *aid)
{
	char *ap = xasprintf("/api/v1/agreements/%s", aid);
	json_t *doc = NULL;
	for (int i = 0; i < 200 && !doc; i++) {
		struct harness_resp *r = cfx_call(&mobi, "GET", ap, CONN_ADMIN_KEY, NULL);
		cr_assert_eq(r->status, 200, "%s", r->body);
		if (json_object_get(r->json, "receipt"))
			doc = json_incref(r->json);
		harness_resp_free(r);
		if (!doc)
			usleep(50000);
	}
	cr_assert_not_null(doc, "the consumer's copy of %s has a receipt", aid);
	free(ap);
	return doc;
}

static char *
write_doc(const json_t *doc, const char *name)
{
	char *path = xasprintf("%s/%s", fx.dir, name);
	cr_assert_eq(json_dump_file(doc, path, JSON_INDENT(2)), 0);
	return path;
}

/* Run the agora CLI; exit status, output (stdout+stderr) in *out. */
static int
run_agora(const char *args, char **out)
{
	char *log = xasprintf("%s/agora.out", fx.dir);
	char *cmd = xasprintf("%s %s > %s 2>&1", harness_bin("agora"), args, log);
	int st = system(cmd);
	*out = harness_file_read(log);
	free(cmd);
	free(log);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/* verify doc (online, --broker); assert the exit status and that the
 * output contains want. */
static void
expect(const json_t *doc, int status, const char *want)
{
	char *file = write_doc(doc, "agreement.json");
	char *args = xasprintf("agreement verify %s --broker %s", file, fx.url);
	char *out = NULL;
	int st = run_agora(args, &out);
	cr_assert_eq(st, status, "exit %d, expected %d: %s", st, status, out);
	cr_assert(strstr(out, want), "expected \"%s\" in: %s", want, out);
	free(out);
	free(args);
	free(file);
}

static json_t *
get_json(const char *path)
{
	struct harness_resp *r = fx_call("GET", path, NULL, NULL);
	cr_assert_eq(r->status, 200, "GET %s: %s", path, r->body);
	json_t *j = json_incref(r->json);
	harness_resp_free(r);
	return j;
}

Test(agreement_verify, genuine_agreement_verifies_online_and_offline)
{
	char *aid = nfx_negotiate("Air quality");
	json_t *doc = consumer_doc(aid);
	expect(doc, 0, "OK");
	char *s = json_dumps(doc, JSON_COMPACT);
	const char *broker_id = json_string_value(json_object_get(json_array_get(json_object_get(doc, "signatures"), 1), "signer"));
	cr_assert_not_null(broker_id, "%s", s);

	/* The provider's and the broker's copies verify too. */
	char *ap = xasprintf("/api/v1/agreements/%s", aid);
	struct harness_resp *r = fx_call("GET", ap, ADMIN_KEY, NULL);
	cr_assert_eq(r->status, 200, "%s", r->body);
	expect(r->json, 0, "OK");
	harness_resp_free(r);

	/* Fully offline: every key from a file, the broker not asked. */
	json_t *keys = json_object();
	json_object_set_new(keys, broker_id, get_json("/.well-known/jwks.json"));
	json_object_set_new(keys, CITY, get_json("/api/v1/participants/" CITY "/jwks.json"));
	json_object_set_new(keys, MOBI, get_json("/api/v1/participants/" MOBI "/jwks.json"));
	char *kf = write_doc(keys, "keys.json");
	char *file = write_doc(doc, "agreement.json");
	char *args = xasprintf("agreement verify %s --jwks %s", file, kf);
	char *out = NULL;
	cr_assert_eq(run_agora(args, &out), 0, "%s", out);
	cr_assert(strstr(out, aid) && strstr(out, "OK"), "%s", out);
	free(out);
	free(args);
	/* A key file without the consumer's keys cannot verify it. */
	json_object_del(keys, MOBI);
	free(kf);
	kf = write_doc(keys, "keys.json");
	args = xasprintf("agreement verify %s --jwks %s", file, kf);
	cr_assert_eq(run_agora(args, &out), 1, "%s", out);
	cr_assert(strstr(out, "signature 3 (consumer)"), "%s", out);
	free(out);
	free(args);

	/* Usage and reachability. */
	cr_assert_eq(run_agora("agreement verify /nonexistent.json --broker http://127.0.0.1:1", &out), 2, "%s", out);
	free(out);
	cr_assert_eq(run_agora("agreement verify", &out), 2, "%s", out);
	free(out);
	args = xasprintf("agreement verify %s", file);
	cr_assert_eq(run_agora(args, &out), 2, "no --broker nor --jwks: %s", out);
	free(out);
	free(args);
	args = xasprintf("agreement verify %s --broker http://127.0.0.1:%d", file, harness_free_port());
	cr_assert_eq(run_agora(args, &out), 3, "%s", out);
	free(out);
	free(args);
	cr_assert_eq(run_agora("agreement verify --help", &out), 0, "%s", out);
	cr_assert(strstr(out, "agreement verify"), "%s", out);
	free(out);

	free(file);
	free(kf);
	json_decref(keys);
	free(ap);
	free(s);
	json_decref(doc);
	free(aid);
}

Test(agreement_verify, tampered_copies_are_refused)
{
	char *aid = nfx_negotiate("Air quality");
	char *other = nfx_negotiate("Noise levels");
	json_t *doc = consumer_doc(aid);
	json_t *doc2 = consumer_doc(other);
	expect(doc, 0, "OK");

	/* A changed permission: the provider's signature no longer covers it. */
	json_t *t = json_deep_copy(doc);
	json_t *perm = json_array_get(json_object_get(json_object_get(t, "agreement"), "permission"), 0);
	cr_assert(json_is_object(perm));
	json_object_set_new(perm, "action", json_string("distribute"));
	expect(t, 1, "signature 1 (provider): jws: payload is not the canonical form of the agreement");
	json_decref(t);

	/* Signatures out of order. */
	t = json_deep_copy(doc);
	json_t *sigs = json_object_get(t, "signatures");
	json_t *s0 = json_incref(json_array_get(sigs, 0));
	json_array_set(sigs, 0, json_array_get(sigs, 1));
	json_array_set_new(sigs, 1, s0);
	expect(t, 1, "signature 1 (provider): role must be provider");
	json_decref(t);

	/* The consumer's signature made with a key the consumer never
	 * registered. */
	t = json_deep_copy(doc);
	struct agora_key *k = agora_key_generate();
	json_t *forged = agora_agreement_sign(json_object_get(t, "agreement"), "consumer", MOBI, k, NULL);
	cr_assert_not_null(forged);
	json_array_set_new(json_object_get(t, "signatures"), 2, forged);
	expect(t, 1, "signature 3 (consumer): no key known for consumer " MOBI);
	json_decref(t);
	/* … and the broker's made by the provider's key. */
	t = json_deep_copy(doc);
	forged = agora_agreement_sign(json_object_get(t, "agreement"), "broker", fx.url, city.p.key, NULL);
	json_array_set_new(json_object_get(t, "signatures"), 1, forged);
	expect(t, 1, "signature 2 (broker): no key known for broker");
	json_decref(t);
	agora_key_free(k);

	/* A receipt claiming another index: the proof does not lead to the
	 * signed root. */
	t = json_deep_copy(doc);
	json_t *rc = json_object_get(t, "receipt");
	json_int_t idx = json_integer_value(json_object_get(rc, "index"));
	json_object_set_new(rc, "index", json_integer(idx > 0 ? idx - 1 : idx + 1));
	expect(t, 1, "receipt: the inclusion proof of entry");
	json_decref(t);

	/* A genuine receipt — of the other agreement. */
	t = json_deep_copy(doc);
	json_object_set(t, "receipt", json_object_get(doc2, "receipt"));
	char *want = xasprintf("receipt: the ledger entry is for agreement '%s', not '%s'", other, aid);
	expect(t, 1, want);
	free(want);
	json_decref(t);

	/* No receipt at all. */
	t = json_deep_copy(doc);
	json_object_del(t, "receipt");
	expect(t, 1, "receipt: the document holds none");
	json_decref(t);

	/* The other agreement's document is genuine in itself. */
	expect(doc2, 0, "OK");

	json_decref(doc);
	json_decref(doc2);
	free(aid);
	free(other);
}
