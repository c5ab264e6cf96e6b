/* cli.h — pieces of the `agora` command that other subcommands share:
 * HTTP GETs of a broker's JSON and the ledger verifications (signed tree
 * heads, receipts).  Messages go to err (one line, no newline). */
#ifndef AGORA_CLI_H
#define AGORA_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exit statuses of the agora command. */
enum { CLI_OK = 0, CLI_MISMATCH = 1, CLI_USAGE = 2, CLI_FETCH = 3 };

/* GET base + path and parse a 200 JSON answer: new reference, or NULL with
 * the reason in err. */
json_t *cli_get_json(const char *base, const char *path, char *err, size_t errlen);

/* A parsed, signature-checked signed tree head. */
struct cli_sth {
	uint64_t tree_size;
	uint8_t root[32];
	char timestamp[40];
	char kid[64];
};

/* Check sth {"treeSize","timestamp","rootHash","signature"}: the JWS
 * (EdDSA only) verifies with the key of jwks whose kid it names, and its
 * payload is exactly the JCS form of the three other members.  Fills out.
 * false with the reason in err. */
bool cli_sth_verify(const json_t *sth, const json_t *jwks, struct cli_sth *out, char *err,
		    size_t errlen);

/* Check a receipt {"index","treeSize","sth","proof","leafHash"?,"entry"?}
 * offline: the STH verifies with jwks, covers treeSize, and the proof
 * shows the leaf (recomputed from "entry" when present, and then equal to
 * "leafHash" if that is present too) at index.  *index and *sth set on
 * success.  false with the reason in err. */
bool cli_receipt_verify(const json_t *receipt, const json_t *jwks, uint64_t *index,
			struct cli_sth *sth, char *err, size_t errlen);

/* agora ledger verify / agora ledger receipt verify: exit statuses. */
int cli_ledger_verify(const char *broker, const char *state_path, bool quiet);
int cli_ledger_receipt_verify(const char *file, const char *broker, const char *jwks_file);

/* agora agreement verify (agreement.c): the document's three signatures
 * (keys from the broker's JWKS and its participants' public JWKS, or all
 * from jwks_file {"<id>": {"keys":[…]}} when not NULL) and its ledger
 * receipt, which must record this agreement.  Exit status. */
int cli_agreement_verify(const char *file, const char *broker, const char *jwks_file);

#endif
