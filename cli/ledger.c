/* ledger.c (cli) — `agora ledger verify` and `agora ledger receipt
 * verify`: an auditor's replay of the broker's clearing-house ledger
 * (docs/LEDGER.md), trusting nothing but the broker's published key. */
#include "cli.h"
#include "crypto.h"
#include "httpc.h"
#include "jcs.h"
#include "jose.h"
#include "merkle.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define PAGE 1000
#define MAX_RESPONSE ((size_t)256 << 20)

static bool
fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return false;
}

json_t *
cli_get_json(const char *base, const char *path, char *err, size_t errlen)
{
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	char *url = xasprintf("%.*s%s", (int)bl, base, path);
	struct agora_httpc_req req = { .url = url, .timeout_ms = 120000,
				       .max_response = MAX_RESPONSE };
	struct agora_httpc_resp resp;
	json_t *j = NULL;
	if (!agora_httpc_request(&req, &resp))
		fail(err, errlen, "GET %s: %s", url, resp.err);
	else if (resp.status != 200)
		fail(err, errlen, "GET %s: HTTP %ld: %.200s", url, resp.status,
		     resp.body ? resp.body : "");
	else if (!(j = agora_httpc_json(&resp)))
		fail(err, errlen, "GET %s: the answer is not JSON", url);
	agora_httpc_resp_cleanup(&resp);
	free(url);
	return j;
}

bool
cli_sth_verify(const json_t *sth, const json_t *jwks, struct cli_sth *out, char *err,
	       size_t errlen)
{
	const json_t *size = json_object_get(sth, "treeSize");
	const char *ts = json_string_value(json_object_get(sth, "timestamp"));
	const char *root = json_string_value(json_object_get(sth, "rootHash"));
	const char *sig = json_string_value(json_object_get(sth, "signature"));
	if (!json_is_integer(size) || json_integer_value(size) < 0 || !ts || !root || !sig ||
	    strlen(ts) >= sizeof out->timestamp)
		return fail(err, errlen, "the signed tree head is malformed");
	if (!agora_merkle_from_hex(root, out->root))
		return fail(err, errlen, "the signed tree head's rootHash is not 64 hex digits");
	out->tree_size = (uint64_t)json_integer_value(size);
	snprintf(out->timestamp, sizeof out->timestamp, "%s", ts);
	char e[128];
	struct agora_jws *j = agora_jws_parse(sig, e, sizeof e);
	if (!j)
		return fail(err, errlen, "the tree head's signature is not a compact JWS: %s", e);
	bool ok = false;
	const char *kid = agora_jws_kid(j);
	struct agora_key *key = kid ? agora_jwks_key(jwks, kid) : NULL;
	json_t *body = json_pack("{s:O, s:s, s:s}", "treeSize", size, "timestamp", ts, "rootHash",
				 root);
	size_t len = 0;
	char *canon = agora_jcs(body, &len);
	json_decref(body);
	if (!kid || strlen(kid) >= sizeof out->kid)
		fail(err, errlen, "the tree head's signature names no key (kid)");
	else if (!key)
		fail(err, errlen, "the tree head is signed with key %s, which the broker's JWKS does not hold",
		     kid);
	else if (!agora_jws_verify(j, key))
		fail(err, errlen, "the tree head's signature does not verify with key %s", kid);
	else if (!canon || j->payload_len != len || memcmp(j->payload, canon, len) != 0)
		fail(err, errlen, "the tree head's signed payload differs from its treeSize, timestamp and rootHash");
	else {
		snprintf(out->kid, sizeof out->kid, "%s", kid);
		ok = true;
	}
	free(canon);
	agora_key_free(key);
	agora_jws_free(j);
	return ok;
}

/* proof: a JSON array of hex hashes into out (≤ AGORA_MERKLE_MAX_PROOF). */
static bool
parse_proof(const json_t *proof, uint8_t (*out)[32], size_t *n)
{
	if (!json_is_array(proof) || json_array_size(proof) > AGORA_MERKLE_MAX_PROOF)
		return false;
	for (size_t i = 0; i < json_array_size(proof); i++)
		if (!agora_merkle_from_hex(json_string_value(json_array_get(proof, i)) ?: "", out[i]))
			return false;
	*n = json_array_size(proof);
	return true;
}

/* Leaf hash of an entry object, from its JCS form. */
static bool
entry_leaf(const json_t *entry, uint8_t out[32])
{
	size_t len = 0;
	char *canon = json_is_object(entry) ? agora_jcs(entry, &len) : NULL;
	if (!canon)
		return false;
	agora_merkle_leaf_hash(canon, len, out);
	free(canon);
	return true;
}

bool
cli_receipt_verify(const json_t *receipt, const json_t *jwks, uint64_t *index,
		   struct cli_sth *sth, char *err, size_t errlen)
{
	const json_t *ji = json_object_get(receipt, "index");
	const json_t *jn = json_object_get(receipt, "treeSize");
	if (!json_is_integer(ji) || json_integer_value(ji) < 0 || !json_is_integer(jn))
		return fail(err, errlen, "the receipt lacks an integer index and treeSize");
	if (!cli_sth_verify(json_object_get(receipt, "sth"), jwks, sth, err, errlen))
		return false;
	if ((uint64_t)json_integer_value(jn) != sth->tree_size)
		return fail(err, errlen, "the receipt's treeSize %lld differs from its tree head's %llu",
			    (long long)json_integer_value(jn), (unsigned long long)sth->tree_size);
	uint8_t leaf[32], given[32];
	const json_t *entry = json_object_get(receipt, "entry");
	const char *lh = json_string_value(json_object_get(receipt, "leafHash"));
	if (lh && !agora_merkle_from_hex(lh, given))
		return fail(err, errlen, "the receipt's leafHash is not 64 hex digits");
	if (entry) {
		if (!entry_leaf(entry, leaf))
			return fail(err, errlen, "the receipt's entry is not a JSON object JCS can canonicalise");
		if (lh && memcmp(leaf, given, 32) != 0)
			return fail(err, errlen, "the receipt's entry does not hash to its leafHash");
	} else if (lh) {
		memcpy(leaf, given, 32);
	} else {
		return fail(err, errlen, "the receipt holds neither entry nor leafHash");
	}
	uint8_t proof[AGORA_MERKLE_MAX_PROOF][32];
	size_t np = 0;
	if (!parse_proof(json_object_get(receipt, "proof"), proof, &np))
		return fail(err, errlen, "the receipt's proof is not an array of hex hashes");
	*index = (uint64_t)json_integer_value(ji);
	if (!agora_merkle_verify_inclusion(leaf, (size_t)*index, (size_t)sth->tree_size,
					   (const uint8_t(*)[32])proof, np, sth->root))
		return fail(err, errlen,
			    "the inclusion proof of entry %llu does not lead to the signed root of tree size %llu",
			    (unsigned long long)*index, (unsigned long long)sth->tree_size);
	return true;
}

/* ---- agora ledger verify --------------------------------------------------- */

static char *
default_state_path(void)
{
	const char *home = getenv("HOME");
	return xasprintf("%s/.agora/ledger-state.json", home && *home ? home : ".");
}

/* Write state atomically (tmp + rename), creating the directory. */
static bool
save_state(const char *path, const json_t *state, char *err, size_t errlen)
{
	char *dir = xstrdup(path);
	char *slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		agora_mkdir_p(dir);
	}
	free(dir);
	char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
	bool ok = json_dump_file(state, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) == 0 &&
		  rename(tmp, path) == 0;
	if (!ok) {
		fail(err, errlen, "cannot write %s: %s", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return ok;
}

/* Fetch a consistency proof and check it: false with err. */
static bool
check_consistency(const char *broker, uint64_t first, const uint8_t first_root[32],
		  const struct cli_sth *sth, char *err, size_t errlen)
{
	char *path = xasprintf("/api/v1/ledger/consistency?first=%llu&second=%llu",
			       (unsigned long long)first, (unsigned long long)sth->tree_size);
	json_t *c = cli_get_json(broker, path, err, errlen);
	free(path);
	if (!c)
		return false;
	uint8_t proof[AGORA_MERKLE_MAX_PROOF][32];
	size_t np = 0;
	bool ok = parse_proof(json_object_get(c, "proof"), proof, &np);
	json_decref(c);
	if (!ok)
		return fail(err, errlen, "the consistency proof is not an array of hex hashes");
	if (!agora_merkle_verify_consistency((size_t)first, (size_t)sth->tree_size, first_root,
					     sth->root, (const uint8_t(*)[32])proof, np))
		return fail(err, errlen,
			    "the consistency proof from tree size %llu to %llu does not verify",
			    (unsigned long long)first, (unsigned long long)sth->tree_size);
	return true;
}

/* Fetch and check an inclusion proof of leaf i against the head. */
static bool
check_inclusion(const char *broker, uint64_t i, const uint8_t leaf[32], const struct cli_sth *sth,
		char *err, size_t errlen)
{
	char *path = xasprintf("/api/v1/ledger/proof?index=%llu&tree_size=%llu",
			       (unsigned long long)i, (unsigned long long)sth->tree_size);
	json_t *p = cli_get_json(broker, path, err, errlen);
	free(path);
	if (!p)
		return false;
	uint8_t proof[AGORA_MERKLE_MAX_PROOF][32];
	size_t np = 0;
	bool ok = parse_proof(json_object_get(p, "proof"), proof, &np);
	json_decref(p);
	if (!ok || !agora_merkle_verify_inclusion(leaf, (size_t)i, (size_t)sth->tree_size,
						  (const uint8_t(*)[32])proof, np, sth->root))
		return fail(err, errlen, "index %llu: the broker's inclusion proof does not verify",
			    (unsigned long long)i);
	return true;
}

int
cli_ledger_verify(const char *broker, const char *state_path, bool quiet)
{
	char err[512] = "";
	int rc = CLI_FETCH;
	char *spath = state_path ? xstrdup(state_path) : default_state_path();
	uint8_t (*leaves)[32] = NULL;
	json_t *state = NULL, *sthj = NULL;
	json_t *jwks = cli_get_json(broker, "/.well-known/jwks.json", err, sizeof err);
	if (!jwks)
		goto out;
	sthj = cli_get_json(broker, "/api/v1/ledger/sth", err, sizeof err);
	if (!sthj)
		goto out;
	struct cli_sth sth;
	rc = CLI_MISMATCH;
	if (!cli_sth_verify(sthj, jwks, &sth, err, sizeof err))
		goto out;
	if (sth.tree_size > AGORA_MERKLE_MAX_SIZE || sth.tree_size > ((size_t)1 << 40)) {
		snprintf(err, sizeof err, "tree size %llu is implausible", (unsigned long long)sth.tree_size);
		goto out;
	}

	/* The whole log, page by page: every leaf recomputed from its entry. */
	size_t n = (size_t)sth.tree_size;
	leaves = xmalloc((n ? n : 1) * 32);
	for (size_t start = 0; start < n; start += PAGE) {
		size_t end = start + PAGE - 1 < n - 1 ? start + PAGE - 1 : n - 1;
		char *path = xasprintf("/api/v1/ledger/entries?start=%zu&end=%zu", start, end);
		json_t *page = cli_get_json(broker, path, err, sizeof err);
		free(path);
		if (!page) {
			rc = CLI_FETCH;
			goto out;
		}
		const json_t *list = json_object_get(page, "entries");
		size_t got = json_array_size(list);
		for (size_t k = 0; k < got && start + k <= end; k++) {
			size_t i = start + k;
			const json_t *e = json_array_get(list, k);
			const json_t *ji = json_object_get(e, "index");
			uint8_t given[32];
			if (!json_is_integer(ji) || (size_t)json_integer_value(ji) != i) {
				snprintf(err, sizeof err, "index %zu: the broker answered entry %lld instead",
					 i, (long long)json_integer_value(ji));
			} else if (!entry_leaf(json_object_get(e, "entry"), leaves[i])) {
				snprintf(err, sizeof err, "index %zu: the entry is not a JSON object", i);
			} else if (!agora_merkle_from_hex(
					   json_string_value(json_object_get(e, "leafHash")) ?: "", given)) {
				snprintf(err, sizeof err, "index %zu: leafHash is not 64 hex digits", i);
			} else if (memcmp(given, leaves[i], 32) != 0) {
				snprintf(err, sizeof err,
					 "index %zu: the entry does not hash to its leafHash (entry altered)", i);
			} else {
				continue;
			}
			json_decref(page);
			goto out;
		}
		json_decref(page);
		if (got != end - start + 1) {
			snprintf(err, sizeof err, "index %zu: the broker returned %zu entries for %zu..%zu",
				 start + got, got, start, end);
			goto out;
		}
		if (!quiet && n > PAGE && ((start / PAGE) % 10 == 9 || end + 1 == n))
			fprintf(stderr, "agora: verified %zu of %zu entries\n", end + 1, n);
	}
	uint8_t root[32];
	agora_merkle_root((const uint8_t(*)[32])leaves, n, root);
	if (memcmp(root, sth.root, 32) != 0) {
		snprintf(err, sizeof err,
			 "tree size %zu: the entries' root differs from the signed rootHash", n);
		goto out;
	}
	/* The broker's own proofs must agree with the log we rebuilt. */
	if (n > 0) {
		size_t probe[] = { 0, n / 2, n - 1 };
		for (size_t k = 0; k < ARRAY_LEN(probe); k++)
			if (!check_inclusion(broker, probe[k], leaves[probe[k]], &sth, err, sizeof err))
				goto out;
	}

	/* The head verified last time must be a prefix of this one. */
	state = json_load_file(spath, 0, NULL);
	if (!json_is_object(state)) {
		json_decref(state);
		state = json_object();
	}
	json_t *brokers = json_object_get(state, "brokers");
	if (!json_is_object(brokers)) {
		brokers = json_object();
		json_object_set_new(state, "brokers", brokers);
	}
	const json_t *prev = json_object_get(brokers, broker);
	char prevmsg[160] = "no earlier verified head";
	if (prev) {
		const json_t *ps = json_object_get(prev, "treeSize");
		uint8_t proot[32];
		if (!json_is_integer(ps) || json_integer_value(ps) < 0 ||
		    !agora_merkle_from_hex(json_string_value(json_object_get(prev, "rootHash")) ?: "",
					   proot)) {
			snprintf(err, sizeof err, "%s: the saved head for %s is malformed", spath, broker);
			goto out;
		}
		size_t m = (size_t)json_integer_value(ps);
		uint8_t mine[32];
		if (m > n) {
			snprintf(err, sizeof err,
				 "the log shrank: tree size %zu was verified before, the broker now signs %zu",
				 m, n);
			goto out;
		}
		agora_merkle_root((const uint8_t(*)[32])leaves, m, mine);
		if (memcmp(mine, proot, 32) != 0) {
			snprintf(err, sizeof err,
				 "tree size %zu: the log's first %zu entries no longer have the root verified before (history rewritten)",
				 m, m);
			goto out;
		}
		if (m > 0 && !check_consistency(broker, m, proot, &sth, err, sizeof err))
			goto out;
		snprintf(prevmsg, sizeof prevmsg, "consistent with the head of size %zu verified before", m);
	}
	char hex[65];
	agora_merkle_to_hex(sth.root, hex);
	json_object_set_new(brokers, broker,
			    json_pack("{s:I, s:s, s:s}", "treeSize", (json_int_t)n, "rootHash", hex,
				      "timestamp", sth.timestamp));
	if (!save_state(spath, state, err, sizeof err)) {
		rc = CLI_FETCH;
		goto out;
	}
	printf("ledger OK: %zu entries, root %s, tree head of %s signed by %s; %s\n", n, hex,
	       sth.timestamp, sth.kid, prevmsg);
	rc = CLI_OK;
out:
	if (rc != CLI_OK)
		fprintf(stderr, "agora: ledger verification FAILED: %s\n", err);
	free(leaves);
	free(spath);
	json_decref(state);
	json_decref(sthj);
	json_decref(jwks);
	return rc;
}

int
cli_ledger_receipt_verify(const char *file, const char *broker, const char *jwks_file)
{
	char err[512] = "";
	json_error_t je;
	int rc = CLI_USAGE;
	json_t *jwks = NULL;
	json_t *doc = json_load_file(file, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		snprintf(err, sizeof err, "%s: %s (line %d)", file, je.text, je.line);
		goto out;
	}
	rc = CLI_FETCH;
	jwks = jwks_file ? json_load_file(jwks_file, 0, &je)
			 : cli_get_json(broker, "/.well-known/jwks.json", err, sizeof err);
	if (!jwks) {
		if (jwks_file)
			snprintf(err, sizeof err, "%s: %s", jwks_file, je.text);
		goto out;
	}
	/* An agreement as the API returns it carries its receipt. */
	const json_t *receipt = json_object_get(doc, "receipt") ?: doc;
	uint64_t index;
	struct cli_sth sth;
	rc = CLI_MISMATCH;
	if (!cli_receipt_verify(receipt, jwks, &index, &sth, err, sizeof err))
		goto out;
	char hex[65];
	agora_merkle_to_hex(sth.root, hex);
	const char *kind = json_string_value(json_object_get(json_object_get(receipt, "entry"), "kind"));
	printf("receipt OK: entry %llu%s%s%s is in the tree of size %llu, root %s, signed %s by %s\n",
	       (unsigned long long)index, kind ? " (" : "", kind ? kind : "", kind ? ")" : "",
	       (unsigned long long)sth.tree_size, hex, sth.timestamp, sth.kid);
	rc = CLI_OK;
out:
	if (rc != CLI_OK)
		fprintf(stderr, "agora: receipt verification FAILED: %s\n", err);
	json_decref(doc);
	json_decref(jwks);
	return rc;
}
