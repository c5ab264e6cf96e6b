/* cli.h — pieces of the `agora` command that other subcommands share:
 * HTTP GETs of a broker's JSON and the ledger verifications (signed tree
 * heads, receipts), and for the commands that talk to the user's own
 * connector (docs/CLI.md): argument parsing, the connection, API calls,
 * streamed uploads and downloads, the progress bar.  Messages of the
 * verify helpers go to err (one line, no newline). */
#ifndef AGORA_CLI_H
#define AGORA_CLI_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "util.h"

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

/* ---- the connector commands (docs/CLI.md) --------------------------- */

/* Their exit statuses.  The verify commands above keep their own (3 there
 * means the broker could not be reached). */
enum {
	CLI_EXIT_OK = 0,
	CLI_EXIT_FAILED = 1,      /* TERMINATED, hash mismatch */
	CLI_EXIT_USAGE = 2,
	CLI_EXIT_REFUSED = 3,     /* the API answered 4xx */
	CLI_EXIT_UNREACHABLE = 4, /* no answer, or 5xx */
	CLI_EXIT_TIMEOUT = 5,     /* --wait ran out of --timeout */
};

/* The options every connector command takes; put first in its table. */
#define CLI_CONN_OPTS                                                                         \
	{ "connector", "AGORA_CONNECTOR", "URL", "http://127.0.0.1:8481",                     \
	  "your connector's base URL", NULL },                                                \
	{ "api-key", "AGORA_API_KEY", "KEY", NULL, "an API key of your connector", NULL },    \
	{ "api-key-file", "AGORA_API_KEY_FILE", "FILE", NULL,                                 \
	  "read the API key from the first line of FILE (wins over --api-key)", NULL },       \
	{ "json", NULL, NULL, NULL, "print the API's JSON document instead of a table", NULL }

/* Long flags (without "--") that take a value in any command, so that the
 * dispatcher can tell a flag's value from the command's words. */
bool cli_flag_takes_value(const char *name);

/* Parse a command line: argv[1..] holds the words (the command's name
 * words first, then its operands) and the flags of opts; "-o X" means
 * "--output X", "--" ends the flags.  At most maxw words, at least minw.
 * Returns -1 to go on, or the exit status to return now (0 after --help,
 * CLI_EXIT_USAGE with a message on stderr). */
int cli_parse(int argc, char **argv, const char *prog, const char *summary,
	      struct agora_opt *opts, size_t nopts, const char **words, int minw, int maxw,
	      int *nwords);

/* The connection: base URL, API key (heap; never printed), --json. */
struct cli_conn {
	char *base;
	char *key;
	bool json;
};

/* Fill c from the parsed CLI_CONN_OPTS.  -1 on success; otherwise an exit
 * status, the reason printed. */
int cli_conn_init(struct cli_conn *c, const struct agora_opt *opts, size_t nopts);
void cli_conn_cleanup(struct cli_conn *c);

/* One JSON call to the connector: method, path (with query), body (borrowed,
 * NULL for none).  On a 2xx answer sets *out (new reference; JSON null for
 * an empty body) and returns CLI_EXIT_OK; otherwise prints the reason —
 * the error symbol and detail of an API error — and returns
 * CLI_EXIT_REFUSED (4xx) or CLI_EXIT_UNREACHABLE (no answer, 5xx). */
int cli_call(const struct cli_conn *c, const char *method, const char *path, const json_t *body,
	     json_t **out);

/* Report an HTTP error answer (status, body) the way cli_call does;
 * returns the exit status for it. */
int cli_report_http_error(long status, const char *body, size_t len);

/* Append "&name=value" (or "?name=value" for the first) percent-encoded. */
void cli_query_add(struct agora_buf *b, const char *name, const char *value);

/* Print j to stdout, indented, one document. */
void cli_print_json(const json_t *j);

/* Everything from a paged list (GET path?limit=…&cursor=… answering
 * {"results","next"}) as one {"results":[…],"next":null}; *out is a new
 * reference.  Exit status as cli_call. */
int cli_list_all(const struct cli_conn *c, const char *path, long page, json_t **out);

/* A string member, or "-" when absent (borrowed). */
const char *cli_str(const json_t *o, const char *key);

/* Print rows (an array of arrays of strings) as aligned columns. */
void cli_table(const json_t *rows);

/* Sleep ms milliseconds. */
void cli_sleep_ms(long ms);

/* ---- progress bar (progress.c) ------------------------------------------ */

/* Drawn on stderr only when stderr is a terminal, at most 10 times a
 * second: "LABEL  12.3 MiB / 40.0 MiB  31%  2.1 MiB/s  ETA 0:13". */
struct cli_progress {
	bool on;
	const char *label;
	uint64_t start_ns, last_ns;
	uint64_t first;		/* bytes when first seen: the rate counts from there */
	bool seen;
	size_t drawn;		/* width of the last line drawn */
};
void cli_progress_init(struct cli_progress *p, const char *label);
/* done bytes so far of total (0: unknown); note is shown after, may be NULL. */
void cli_progress_update(struct cli_progress *p, uint64_t done, uint64_t total, const char *note);
/* Draw the last state and end the line (nothing when off or never drawn). */
void cli_progress_end(struct cli_progress *p, uint64_t done, uint64_t total);
/* n as "512 B", "1.5 KiB", "12.3 MiB", "1.02 GiB" into buf. */
void cli_human_bytes(uint64_t n, char buf[static 16]);

/* ---- streamed bodies (stream.c; lib/httpc only holds bodies in memory) -- */

/* Send file's bytes as the body of method path with Content-Type ctype,
 * read as they go (never whole in memory), with a progress bar labelled
 * label.  The file's SHA-256 (hex) and size are set; *out as cli_call. */
int cli_upload(const struct cli_conn *c, const char *method, const char *path, const char *ctype,
	       const char *file, const char *label, char sha256[static 65], uint64_t *size,
	       json_t **out);

/* GET path into file: written to FILE.part (resumed with Range when one
 * is there), renamed to file only when want_sha256 (hex; NULL: no check)
 * matches.  On a mismatch the .part is removed and CLI_EXIT_FAILED
 * returned.  total: expected size for the bar (0 unknown).  The SHA-256 and
 * size of what was received are set. */
int cli_download(const struct cli_conn *c, const char *path, const char *file,
		 const char *want_sha256, uint64_t total, char sha256[static 65], uint64_t *size);

/* ---- the commands -------------------------------------------------------- */

int cli_cmd_catalog_search(int argc, char **argv);
int cli_cmd_negotiate(int argc, char **argv);
int cli_cmd_transfer(int argc, char **argv);
int cli_cmd_datasets(int argc, char **argv);
int cli_cmd_agreements_list(int argc, char **argv);

#endif
