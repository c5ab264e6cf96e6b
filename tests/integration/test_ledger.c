/* test_ledger.c — the clearing-house ledger over HTTP against a real
 * broker and PostgreSQL: entries logged with registrations, signed tree
 * heads, proofs checked with lib/merkle, bad queries, `agora ledger
 * verify` on an honest and on a tampered log, receipts, and gapless
 * indices under concurrent appends. */
#include "broker_fixture.h"
#include "jcs.h"
#include "jose.h"
#include "merkle.h"
#include "util.h"

#include <criterion/criterion.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

TestSuite(ledger, .init = fx_start, .fini = fx_stop, .timeout = 120);

#define PID(buf, i) snprintf(buf, sizeof buf, "urn:agora:participant:org-%d", i)

static void
register_n(int from, int to)
{
	for (int i = from; i < to; i++) {
		char id[64];
		PID(id, i);
		struct participant p;
		fx_participant(&p, id);
		agora_key_free(p.key);
	}
}

static json_t *
get_json(const char *path)
{
	struct harness_resp *r = fx_call("GET", path, NULL, NULL);
	cr_assert_eq(r->status, 200, "GET %s: %ld %s", path, r->status, r->body);
	json_t *j = json_incref(r->json);
	harness_resp_free(r);
	return j;
}

static void
assert_query_error(const char *path)
{
	struct harness_resp *r = fx_call("GET", path, NULL, NULL);
	fx_assert_error(r, 400, "invalid_query");
	harness_resp_free(r);
}

/* The STH, with its signature checked against the broker's JWKS. */
static json_t *
verified_sth(uint8_t root[32])
{
	json_t *sth = get_json("/api/v1/ledger/sth");
	json_t *jwks = get_json("/.well-known/jwks.json");
	json_t *jwk = json_array_get(json_object_get(jwks, "keys"), 0);
	char err[128];
	struct agora_key *k = agora_key_from_jwk(jwk, err, sizeof err);
	cr_assert_not_null(k, "%s", err);
	struct agora_jws *jws =
		agora_jws_parse(json_string_value(json_object_get(sth, "signature")), err, sizeof err);
	cr_assert_not_null(jws, "%s", err);
	cr_assert(agora_jws_verify(jws, k), "the STH signature verifies with the broker key");
	cr_assert_str_eq(agora_jws_kid(jws), json_string_value(json_object_get(jwk, "kid")));
	json_t *signed_part = json_pack("{s:O, s:O, s:O}", "treeSize", json_object_get(sth, "treeSize"),
					"timestamp", json_object_get(sth, "timestamp"), "rootHash",
					json_object_get(sth, "rootHash"));
	size_t len;
	char *canon = agora_jcs(signed_part, &len);
	cr_assert_eq(jws->payload_len, len);
	cr_assert(memcmp(jws->payload, canon, len) == 0, "payload is JCS of the three members: %s",
		  jws->payload);
	cr_assert(agora_merkle_from_hex(json_string_value(json_object_get(sth, "rootHash")), root));
	free(canon);
	json_decref(signed_part);
	agora_jws_free(jws);
	agora_key_free(k);
	json_decref(jwks);
	return sth;
}

/* Leaf hashes of entries 0..n-1, each checked against its entry's JCS. */
static uint8_t (*leaves_of(size_t n))[32]
{
	uint8_t (*leaves)[32] = xmalloc((n ? n : 1) * 32);
	if (n == 0)
		return leaves;
	char *path = xasprintf("/api/v1/ledger/entries?start=0&end=%zu", n - 1);
	json_t *page = get_json(path);
	free(path);
	json_t *list = json_object_get(page, "entries");
	cr_assert_eq(json_array_size(list), n);
	for (size_t i = 0; i < n; i++) {
		json_t *e = json_array_get(list, i);
		cr_assert_eq(json_integer_value(json_object_get(e, "index")), (json_int_t)i);
		size_t len;
		char *canon = agora_jcs(json_object_get(e, "entry"), &len);
		agora_merkle_leaf_hash(canon, len, leaves[i]);
		free(canon);
		uint8_t given[32];
		cr_assert(agora_merkle_from_hex(json_string_value(json_object_get(e, "leafHash")), given));
		cr_assert(memcmp(given, leaves[i], 32) == 0, "leafHash of entry %zu", i);
	}
	json_decref(page);
	return leaves;
}

static void
parse_proof(json_t *a, uint8_t (*out)[32], size_t *n)
{
	*n = json_array_size(a);
	cr_assert(*n <= AGORA_MERKLE_MAX_PROOF);
	for (size_t i = 0; i < *n; i++)
		cr_assert(agora_merkle_from_hex(json_string_value(json_array_get(a, i)), out[i]));
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

static void
sql(const char *stmt)
{
	PGconn *c = PQconnectdb(fx.db);
	cr_assert_eq(PQstatus(c), CONNECTION_OK, "%s", PQerrorMessage(c));
	PGresult *r = PQexec(c, stmt);
	cr_assert(PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK,
		  "%s: %s", stmt, PQresultErrorMessage(r));
	PQclear(r);
	PQfinish(c);
}

Test(ledger, empty_log_has_a_signed_empty_head)
{
	uint8_t root[32], empty[32];
	json_t *sth = verified_sth(root);
	cr_assert_eq(json_integer_value(json_object_get(sth, "treeSize")), 0);
	agora_merkle_root(NULL, 0, empty);
	cr_assert(memcmp(root, empty, 32) == 0, "root of the empty tree is SHA-256('')");
	json_decref(sth);
	assert_query_error("/api/v1/ledger/entries?start=0&end=0");
	assert_query_error("/api/v1/ledger/proof?index=0&tree_size=1");
}

Test(ledger, registrations_are_logged_and_signed)
{
	register_n(0, 3);
	uint8_t root[32], mine[32];
	json_t *sth = verified_sth(root);
	cr_assert_eq(json_integer_value(json_object_get(sth, "treeSize")), 3);
	uint8_t (*leaves)[32] = leaves_of(3);
	agora_merkle_root((const uint8_t(*)[32])leaves, 3, mine);
	cr_assert(memcmp(root, mine, 32) == 0, "the signed root is the root of the entries");

	json_t *page = get_json("/api/v1/ledger/entries?start=1&end=1");
	json_t *e = json_object_get(json_array_get(json_object_get(page, "entries"), 0), "entry");
	cr_assert_str_eq(json_string_value(json_object_get(e, "kind")), "participant_registered");
	cr_assert_str_eq(json_string_value(json_object_get(json_object_get(e, "participant"), "id")),
			 "urn:agora:participant:org-1");
	int64_t ms;
	cr_assert(agora_time_parse_rfc3339(json_string_value(json_object_get(e, "timestamp")), &ms));
	cr_assert_eq(json_array_size(json_object_get(json_object_get(e, "participant"), "keys")), 1);
	json_decref(page);

	/* A registration refused (duplicate id) logs nothing. */
	struct agora_key *k2 = agora_key_generate();
	char *body = fx_participant_body("urn:agora:participant:org-0", k2);
	struct harness_resp *r = fx_call("POST", "/api/v1/participants", ADMIN_KEY, body);
	fx_assert_error(r, 409, "participant_exists");
	harness_resp_free(r);
	free(body);
	agora_key_free(k2);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM ledger_entries"), 3);

	/* Entries are append-only in the database too. */
	PGconn *c = PQconnectdb(fx.db);
	PGresult *res = PQexec(c, "UPDATE ledger_entries SET kind = 'x' WHERE idx = 0");
	cr_assert_eq(PQresultStatus(res), PGRES_FATAL_ERROR, "the trigger refuses UPDATE");
	PQclear(res);
	res = PQexec(c, "DELETE FROM ledger_sth");
	cr_assert_eq(PQresultStatus(res), PGRES_FATAL_ERROR, "the trigger refuses DELETE");
	PQclear(res);
	PQfinish(c);
	free(leaves);
	json_decref(sth);
}

Test(ledger, proofs_verify_for_every_size)
{
	register_n(0, 7);
	uint8_t root[32];
	json_t *sth = verified_sth(root);
	cr_assert_eq(json_integer_value(json_object_get(sth, "treeSize")), 7);
	uint8_t (*leaves)[32] = leaves_of(7);
	uint8_t roots[8][32];
	for (size_t n = 0; n <= 7; n++)
		agora_merkle_root((const uint8_t(*)[32])leaves, n, roots[n]);
	cr_assert(memcmp(roots[7], root, 32) == 0);
	uint8_t proof[AGORA_MERKLE_MAX_PROOF][32];
	size_t np;
	for (size_t n = 1; n <= 7; n++) {
		for (size_t i = 0; i < n; i++) {
			char *path = xasprintf("/api/v1/ledger/proof?index=%zu&tree_size=%zu", i, n);
			json_t *p = get_json(path);
			free(path);
			cr_assert_eq(json_integer_value(json_object_get(p, "index")), (json_int_t)i);
			cr_assert_eq(json_integer_value(json_object_get(p, "treeSize")), (json_int_t)n);
			parse_proof(json_object_get(p, "proof"), proof, &np);
			cr_assert(agora_merkle_verify_inclusion(leaves[i], i, n,
								(const uint8_t(*)[32])proof, np,
								roots[n]),
				  "inclusion of %zu in %zu", i, n);
			/* and the proof is bound to its leaf */
			if (n > 1)
				cr_assert(!agora_merkle_verify_inclusion(leaves[(i + 1) % n], i, n,
									 (const uint8_t(*)[32])proof,
									 np, roots[n]));
			json_decref(p);
		}
		for (size_t m = 0; m <= n; m++) {
			char *path = xasprintf("/api/v1/ledger/consistency?first=%zu&second=%zu", m, n);
			json_t *p = get_json(path);
			free(path);
			cr_assert_eq(json_integer_value(json_object_get(p, "first")), (json_int_t)m);
			cr_assert_eq(json_integer_value(json_object_get(p, "second")), (json_int_t)n);
			parse_proof(json_object_get(p, "proof"), proof, &np);
			cr_assert(agora_merkle_verify_consistency(m, n, roots[m], roots[n],
								  (const uint8_t(*)[32])proof, np),
				  "consistency %zu -> %zu", m, n);
			json_decref(p);
		}
	}
	free(leaves);
	json_decref(sth);
}

Test(ledger, bad_queries_are_refused)
{
	register_n(0, 2);
	assert_query_error("/api/v1/ledger/entries");
	assert_query_error("/api/v1/ledger/entries?start=0");
	assert_query_error("/api/v1/ledger/entries?start=abc&end=1");
	assert_query_error("/api/v1/ledger/entries?start=-1&end=1");
	assert_query_error("/api/v1/ledger/entries?start=1&end=0");
	assert_query_error("/api/v1/ledger/entries?start=0&end=1000");
	assert_query_error("/api/v1/ledger/entries?start=2&end=3");
	assert_query_error("/api/v1/ledger/proof?index=0");
	assert_query_error("/api/v1/ledger/proof?index=1&tree_size=1");
	assert_query_error("/api/v1/ledger/proof?index=0&tree_size=3");
	assert_query_error("/api/v1/ledger/proof?index=0x1&tree_size=2");
	assert_query_error("/api/v1/ledger/consistency?first=2&second=1");
	assert_query_error("/api/v1/ledger/consistency?first=1&second=3");
	assert_query_error("/api/v1/ledger/consistency?second=2");
	/* A range past the end is cut at the signed tree size. */
	json_t *p = get_json("/api/v1/ledger/entries?start=1&end=999");
	cr_assert_eq(json_array_size(json_object_get(p, "entries")), 1);
	json_decref(p);
}

Test(ledger, cli_verifies_an_honest_log_and_names_a_tampered_entry)
{
	char *state = xasprintf("%s/state.json", fx.dir);
	char *args = xasprintf("ledger verify --broker %s --state %s", fx.url, state);
	char *out = NULL;
	int st = run_agora(args, &out);
	cr_assert_eq(st, 0, "empty log verifies: %s", out);
	free(out);
	register_n(0, 5);
	st = run_agora(args, &out);
	cr_assert_eq(st, 0, "honest log verifies: %s", out);
	cr_assert(strstr(out, "ledger OK: 5 entries"), "%s", out);
	free(out);
	register_n(5, 8);
	st = run_agora(args, &out);
	cr_assert_eq(st, 0, "a grown log verifies: %s", out);
	cr_assert(strstr(out, "consistent with the head of size 5"), "%s", out);
	free(out);
	char *saved = harness_file_read(state);
	cr_assert(saved && strstr(saved, "\"treeSize\": 8"), "state file: %s", saved);
	free(saved);

	/* An operator edits entry 3 behind the broker's back. */
	sql("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only");
	sql("UPDATE ledger_entries SET entry = jsonb_set(entry, '{participant,name}', '\"Evil Org\"')"
	    " WHERE idx = 3");
	sql("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only");
	st = run_agora(args, &out);
	cr_assert_eq(st, 1, "tampering detected: %s", out);
	cr_assert(strstr(out, "index 3"), "the message names the index: %s", out);
	free(out);

	/* Rewriting the leaf hash too moves the root: the signature catches it. */
	sql("ALTER TABLE ledger_entries DISABLE TRIGGER ledger_entries_append_only");
	sql("UPDATE ledger_entries SET leaf_hash = sha256('\\x00'::bytea || convert_to('x', 'UTF8'))"
	    " WHERE idx = 3");
	sql("ALTER TABLE ledger_entries ENABLE TRIGGER ledger_entries_append_only");
	st = run_agora(args, &out);
	cr_assert_eq(st, 1, "still detected: %s", out);
	free(out);

	/* Usage errors. */
	st = run_agora("ledger verify", &out);
	cr_assert_eq(st, 2, "%s", out);
	free(out);
	st = run_agora("--help", &out);
	cr_assert_eq(st, 0, "%s", out);
	free(out);
	free(args);
	free(state);
}

Test(ledger, cli_checks_a_receipt_offline)
{
	register_n(0, 6);
	json_t *sth = get_json("/api/v1/ledger/sth");
	json_t *proof = get_json("/api/v1/ledger/proof?index=4&tree_size=6");
	json_t *page = get_json("/api/v1/ledger/entries?start=4&end=4");
	json_t *e = json_array_get(json_object_get(page, "entries"), 0);
	json_t *receipt = json_pack("{s:i, s:i, s:O, s:O, s:O, s:O}", "index", 4, "treeSize", 6,
				    "sth", sth, "proof", json_object_get(proof, "proof"),
				    "leafHash", json_object_get(e, "leafHash"), "entry",
				    json_object_get(e, "entry"));
	char *file = xasprintf("%s/receipt.json", fx.dir);
	cr_assert_eq(json_dump_file(receipt, file, 0), 0);
	char *args = xasprintf("ledger receipt verify %s --broker %s", file, fx.url);
	char *out;
	int st = run_agora(args, &out);
	cr_assert_eq(st, 0, "%s", out);
	cr_assert(strstr(out, "receipt OK: entry 4 (participant_registered)"), "%s", out);
	free(out);

	/* The same receipt for another index, or with a changed entry: refused. */
	json_object_set_new(receipt, "index", json_integer(3));
	cr_assert_eq(json_dump_file(receipt, file, 0), 0);
	st = run_agora(args, &out);
	cr_assert_eq(st, 1, "%s", out);
	free(out);
	json_object_set_new(receipt, "index", json_integer(4));
	json_object_set_new(json_object_get(receipt, "entry"), "kind", json_string("agreement"));
	cr_assert_eq(json_dump_file(receipt, file, 0), 0);
	st = run_agora(args, &out);
	cr_assert_eq(st, 1, "%s", out);
	cr_assert(strstr(out, "leafHash"), "%s", out);
	free(out);
	json_decref(receipt);
	json_decref(page);
	json_decref(proof);
	json_decref(sth);
	free(args);
	free(file);
}

#define THREADS 8
#define PER_THREAD 5

/* No Criterion asserts off the test's thread: count the failures. */
static void *
registrar(void *arg)
{
	int t = (int)(intptr_t)arg;
	intptr_t failed = 0;
	char *url = xasprintf("%s/api/v1/participants", fx.url);
	const char *headers[] = { "Authorization: Bearer " ADMIN_KEY, NULL };
	for (int i = t * PER_THREAD; i < (t + 1) * PER_THREAD; i++) {
		char id[64];
		PID(id, i);
		struct agora_key *k = agora_key_generate();
		char *body = fx_participant_body(id, k);
		struct harness_resp *r = harness_http("POST", url, headers, body);
		failed += r->status != 201;
		harness_resp_free(r);
		free(body);
		agora_key_free(k);
	}
	free(url);
	return (void *)failed;
}

Test(ledger, concurrent_appends_get_gapless_indices)
{
	pthread_t th[THREADS];
	for (int t = 0; t < THREADS; t++)
		cr_assert_eq(pthread_create(&th[t], NULL, registrar, (void *)(intptr_t)t), 0);
	for (int t = 0; t < THREADS; t++) {
		void *failed;
		pthread_join(th[t], &failed);
		cr_assert_eq((intptr_t)failed, 0, "thread %d: every registration answers 201", t);
	}
	const long n = THREADS * PER_THREAD;
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(*) FROM ledger_entries"), n);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(DISTINCT idx) FROM ledger_entries"), n);
	cr_assert_eq(harness_db_count(fx.db, "SELECT min(idx) FROM ledger_entries"), 0);
	cr_assert_eq(harness_db_count(fx.db, "SELECT max(idx) FROM ledger_entries"), n - 1);
	cr_assert_eq(harness_db_count(fx.db, "SELECT count(DISTINCT entry->'participant'->>'id')"
					     " FROM ledger_entries"), n);
	uint8_t root[32], mine[32];
	json_t *sth = verified_sth(root);
	cr_assert_eq(json_integer_value(json_object_get(sth, "treeSize")), n);
	uint8_t (*leaves)[32] = leaves_of((size_t)n);
	agora_merkle_root((const uint8_t(*)[32])leaves, (size_t)n, mine);
	cr_assert(memcmp(root, mine, 32) == 0, "the incremental root equals the full recomputation");
	/* Every head the sequencer signed on the way is a prefix of this one. */
	cr_assert_geq(harness_db_count(fx.db, "SELECT count(*) FROM ledger_sth"), 2);
	free(leaves);
	json_decref(sth);
}
