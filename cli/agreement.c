/* agreement.c (cli) — `agora agreement verify`: an agreement document as a
 * connector or the broker serves it (GET /api/v1/agreements/{id}) checked
 * offline — the provider's, broker's and consumer's signatures in that
 * order, and the ledger receipt showing that the broker logged this very
 * agreement — trusting nothing but the published keys. */
#include "agreement.h"
#include "cli.h"
#include "crypto.h"
#include "httpc.h"
#include "jcs.h"
#include "jose.h"
#include "merkle.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where the keys come from: three JWKS, borrowed by the lookup. */
struct keyring {
	const char *broker_id;
	const json_t *broker, *provider, *consumer;
};

/* agora_agreement_key_fn: the provider's and consumer's keys from their
 * own JWKS (the chain checks they are the assigner and assignee), the
 * broker's only when it signs as the broker we trust. */
static struct agora_key *
lookup(void *ctx, const char *role, const char *signer, const char *kid)
{
	const struct keyring *k = ctx;
	if (!kid)
		return NULL;
	if (!strcmp(role, "provider"))
		return agora_jwks_key(k->provider, kid);
	if (!strcmp(role, "consumer"))
		return agora_jwks_key(k->consumer, kid);
	if (!strcmp(role, "broker") && !strcmp(signer, k->broker_id))
		return agora_jwks_key(k->broker, kid);
	return NULL;
}

/* The chain's "signatures[i] (role): why" as "signature i+1 (role): why". */
static void
name_signature(const char *chain_err, char *err, size_t errlen)
{
	unsigned i;
	int used = 0;
	if (sscanf(chain_err, "signatures[%u]%n", &i, &used) == 1 && used > 0 &&
	    i < AGORA_AGREEMENT_MAX_SIGNATURES) {
		const char *rest = chain_err + used;
		if (rest[0] == ' ' && rest[1] == '(') {
			const char *close = strchr(rest, ')');
			rest = close ? close + 1 : rest;
		}
		if (rest[0] == ':')
			rest++;
		while (*rest == ' ')
			rest++;
		snprintf(err, errlen, "signature %u (%s): %s", i + 1, agora_agreement_roles[i], rest);
	} else {
		snprintf(err, errlen, "signatures: %s", chain_err);
	}
}

/* GET base + path as JSON: CLI_OK with *out (new), CLI_MISMATCH when the
 * broker answers 404 (unknown participant), CLI_FETCH otherwise. */
static int
fetch(const char *base, const char *path, json_t **out, char *err, size_t errlen)
{
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	char *url = xasprintf("%.*s%s", (int)bl, base, path);
	struct agora_httpc_req req = { .url = url, .timeout_ms = 30000 };
	struct agora_httpc_resp resp;
	int rc = CLI_FETCH;
	*out = NULL;
	if (!agora_httpc_request(&req, &resp))
		snprintf(err, errlen, "GET %s: %s", url, resp.err);
	else if (resp.status == 404) {
		snprintf(err, errlen, "GET %s: 404: unknown at the broker", url);
		rc = CLI_MISMATCH;
	} else if (resp.status != 200)
		snprintf(err, errlen, "GET %s: HTTP %ld", url, resp.status);
	else if (!(*out = agora_httpc_json(&resp)))
		snprintf(err, errlen, "GET %s: the answer is not JSON", url);
	else
		rc = CLI_OK;
	agora_httpc_resp_cleanup(&resp);
	free(url);
	return rc;
}

/* The JWKS of participant id: from the --jwks file's map, or the broker's
 * public /api/v1/participants/{id}/jwks.json. */
static int
participant_jwks(const char *broker, const json_t *file, const char *id, const char *what,
		 json_t **out, char *err, size_t errlen)
{
	if (file) {
		*out = json_incref(json_object_get(file, id));
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			snprintf(err, errlen, "%s: the --jwks file has no {\"keys\":[…]} for '%.200s'", what,
				 id);
			return CLI_MISMATCH;
		}
		return CLI_OK;
	}
	char *segment = agora_path_segment(id);
	char *path = xasprintf("/api/v1/participants/%s/jwks.json", segment);
	free(segment);
	char why[400];
	int rc = fetch(broker, path, out, why, sizeof why);
	free(path);
	if (rc != CLI_OK)
		snprintf(err, errlen, "%s: %s", what, why);
	return rc;
}

static const char *
sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

/* The receipt's entry must be the broker's ledger record of this
 * agreement (server/negotiation.c, step 4): kind "agreement", its id, the
 * SHA-256 of its canonical form, its parties and the first two
 * signatures. */
static bool
entry_names_agreement(const json_t *entry, const json_t *agreement, const json_t *sigs,
		      char *err, size_t errlen)
{
	const char *id = sget(agreement, "@id");
	char hex[65];
	if (!agora_jcs_sha256_hex(agreement, hex)) {
		snprintf(err, errlen, "receipt: the agreement cannot be canonicalised (RFC 8785)");
		return false;
	}
	const json_t *ls = json_object_get(entry, "signatures");
	if (!json_is_object(entry))
		snprintf(err, errlen, "receipt: it holds no ledger entry to compare with the agreement");
	else if (!sget(entry, "kind") || strcmp(sget(entry, "kind"), "agreement") != 0)
		snprintf(err, errlen, "receipt: the ledger entry is a '%s' entry, not an agreement",
			 sget(entry, "kind") ? sget(entry, "kind") : "?");
	else if (!sget(entry, "agreementId") || strcmp(sget(entry, "agreementId"), id) != 0)
		snprintf(err, errlen, "receipt: the ledger entry is for agreement '%.200s', not '%.200s'",
			 sget(entry, "agreementId") ? sget(entry, "agreementId") : "?", id);
	else if (!sget(entry, "agreementSha256") || strcmp(sget(entry, "agreementSha256"), hex) != 0)
		snprintf(err, errlen,
			 "receipt: the ledger entry's agreementSha256 is not the SHA-256 of the agreement's canonical form (%s)",
			 hex);
	else if (!sget(entry, "assigner") || !sget(entry, "assignee") || !sget(entry, "target") ||
		 strcmp(sget(entry, "assigner"), sget(agreement, "assigner")) != 0 ||
		 strcmp(sget(entry, "assignee"), sget(agreement, "assignee")) != 0 ||
		 strcmp(sget(entry, "target"), sget(agreement, "target")) != 0)
		snprintf(err, errlen, "receipt: the ledger entry's target, assigner or assignee differ from the agreement's");
	else if (!json_is_array(ls) || json_array_size(ls) != 2 ||
		 !json_equal(json_array_get(ls, 0), json_object_get(json_array_get(sigs, 0), "jws")) ||
		 !json_equal(json_array_get(ls, 1), json_object_get(json_array_get(sigs, 1), "jws")))
		snprintf(err, errlen, "receipt: the ledger entry does not hold the provider's and broker's signatures of this document");
	else
		return true;
	return false;
}

int
cli_agreement_verify(const char *file, const char *broker, const char *jwks_file)
{
	char err[768] = "", why[512] = "";
	json_error_t je;
	int rc = CLI_USAGE;
	json_t *doc = NULL, *keys = NULL, *bj = NULL, *pj = NULL, *cj = NULL;
	if (!(doc = json_load_file(file, JSON_REJECT_DUPLICATES, &je))) {
		snprintf(err, sizeof err, "%s: %s (line %d)", file, je.text, je.line);
		goto out;
	}
	if (jwks_file && !(keys = json_load_file(jwks_file, JSON_REJECT_DUPLICATES, &je))) {
		snprintf(err, sizeof err, "%s: %s (line %d)", jwks_file, je.text, je.line);
		goto out;
	}
	if (keys && !json_is_object(keys)) {
		snprintf(err, sizeof err, "%s: must be an object {\"<id>\": {\"keys\":[…]}}", jwks_file);
		goto out;
	}
	rc = CLI_MISMATCH;
	const json_t *agreement = json_object_get(doc, "agreement");
	const json_t *sigs = json_object_get(doc, "signatures");
	const json_t *receipt = json_object_get(doc, "receipt");
	const char *id = sget(agreement, "@id");
	const char *assigner = sget(agreement, "assigner"), *assignee = sget(agreement, "assignee");
	if (!json_is_object(agreement) || !id || !assigner || !assignee || !sget(agreement, "target")) {
		snprintf(err, sizeof err, "agreement: missing, or without string @id, target, assigner and assignee");
		goto out;
	}
	if (sget(doc, "id") && strcmp(sget(doc, "id"), id) != 0) {
		snprintf(err, sizeof err, "agreement: the document's id '%.200s' is not the agreement's @id '%.200s'",
			 sget(doc, "id"), id);
		goto out;
	}
	if (!json_is_object(receipt)) {
		snprintf(err, sizeof err, "receipt: the document holds none");
		goto out;
	}
	/* The broker: --broker names it (its id is its URL); offline without
	 * --broker, the one the broker signature names, which the file must
	 * hold and whose key must then also sign the ledger's tree head. */
	const char *broker_id = broker;
	if (!broker_id)
		broker_id = sget(json_array_get(sigs, 1), "signer");
	if (!broker_id) {
		snprintf(err, sizeof err, "signature 2 (broker): no signer, and no --broker to name the broker");
		goto out;
	}
	if (keys) {
		bj = json_incref(json_object_get(keys, broker_id));
		if (!json_is_object(bj)) {
			snprintf(err, sizeof err, "the --jwks file has no {\"keys\":[…]} for the broker '%.200s'",
				 broker_id);
			goto out;
		}
		if (!strcmp(broker_id, assigner) || !strcmp(broker_id, assignee)) {
			snprintf(err, sizeof err, "signature 2 (broker): signed by '%.200s', a party, not the broker",
				 broker_id);
			goto out;
		}
	} else if ((rc = fetch(broker, "/.well-known/jwks.json", &bj, why, sizeof why)) != CLI_OK) {
		snprintf(err, sizeof err, "the broker's JWKS: %s", why);
		rc = CLI_FETCH;
		goto out;
	}
	if ((rc = participant_jwks(broker, keys, assigner, "signature 1 (provider)", &pj, err,
				   sizeof err)) != CLI_OK ||
	    (rc = participant_jwks(broker, keys, assignee, "signature 3 (consumer)", &cj, err,
				   sizeof err)) != CLI_OK)
		goto out;
	rc = CLI_MISMATCH;
	/* 1. The three signatures, in order, each over JCS(agreement). */
	struct keyring kr = { broker_id, bj, pj, cj };
	if (!agora_agreement_verify_chain(agreement, sigs, AGORA_AGREEMENT_MAX_SIGNATURES, lookup, &kr,
					  why, sizeof why)) {
		name_signature(why, err, sizeof err);
		goto out;
	}
	/* 2. The receipt: its inclusion proof against the broker's signed
	 * tree head, and its entry is this agreement's. */
	uint64_t index;
	struct cli_sth sth;
	if (!cli_receipt_verify(receipt, bj, &index, &sth, why, sizeof why)) {
		snprintf(err, sizeof err, "receipt: %s", why);
		goto out;
	}
	if (!json_object_get(receipt, "entry")) {
		snprintf(err, sizeof err, "receipt: it holds no ledger entry to compare with the agreement");
		goto out;
	}
	if (!entry_names_agreement(json_object_get(receipt, "entry"), agreement, sigs, err, sizeof err))
		goto out;
	char root[65];
	agora_merkle_to_hex(sth.root, root);
	printf("agreement %s OK\n"
	       "  target %s\n"
	       "  signature 1 (provider) %s\n"
	       "  signature 2 (broker)   %s\n"
	       "  signature 3 (consumer) %s\n"
	       "  ledger entry %llu in the tree of size %llu, root %s, signed %s by %s\n",
	       id, sget(agreement, "target"), assigner, broker_id, assignee,
	       (unsigned long long)index, (unsigned long long)sth.tree_size, root, sth.timestamp,
	       sth.kid);
	if (sget(doc, "status") && !strcmp(sget(doc, "status"), "revoked"))
		printf("  note: the document says it is revoked (see the ledger's revoked entries)\n");
	rc = CLI_OK;
out:
	if (rc != CLI_OK)
		fprintf(stderr, "agora: agreement verification FAILED: %s\n", err);
	json_decref(doc);
	json_decref(keys);
	json_decref(bj);
	json_decref(pj);
	json_decref(cj);
	return rc;
}
