/* transfer.c (cli) — `agora transfer`: start a transfer under an agreement
 * (POST /api/v1/transfers), follow it with --wait (GET
 * /api/v1/transfers/{id}: state, bytes, expectedBytes, sha256) and save
 * what arrived with -o (GET /api/v1/transfers/{id}/data), checked against
 * the transfer's SHA-256. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct agora_opt opts[] = {
	CLI_CONN_OPTS,
	{ "format", NULL, "pull|push", "pull", "HttpData-PULL or HttpData-PUSH", NULL },
	{ "purpose", NULL, "PURPOSE", NULL, "the purpose of use the policy may ask for", NULL },
	{ "query", NULL, "JSON", NULL, "a query for the provider's source (a JSON object)", NULL },
	{ "wait", NULL, NULL, NULL, "wait until the transfer is COMPLETED or TERMINATED", NULL },
	{ "output", NULL, "FILE", NULL, "with --wait: save the data to FILE (also -o FILE)", NULL },
	{ "timeout", NULL, "SECONDS", "120", "how long --wait waits", NULL },
};

static const char summary[] =
	"agora transfer AGREEMENT [--format pull|push] [--purpose P] [--query JSON]\n"
	"               [--wait [-o FILE] [--timeout SECONDS]]\n\n"
	"Start a transfer of the data an agreement covers; prints the transfer id.\n"
	"With --wait it follows the transfer (a progress bar on a terminal) until it\n"
	"is COMPLETED (exit 0) or TERMINATED (exit 1).  With -o FILE the received\n"
	"data is then downloaded into FILE (through FILE.part, resumed if one is\n"
	"there) and its SHA-256 checked against the transfer's: a mismatch exits 1.";

static uint64_t
u64(const json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);
	return json_is_integer(v) && json_integer_value(v) > 0 ? (uint64_t)json_integer_value(v) : 0;
}

/* Poll until the transfer ends; the last document in *doc. */
static int
wait_for(const struct cli_conn *c, const char *path, const char *id, long timeout_s, json_t **doc)
{
	struct cli_progress bar;
	cli_progress_init(&bar, "transfer");
	uint64_t deadline = agora_mono_ns() + (uint64_t)timeout_s * 1000000000ull;
	long interval = 100;
	int rc;
	*doc = NULL;
	for (;;) {
		json_decref(*doc);
		*doc = NULL;
		rc = cli_call(c, "GET", path, NULL, doc);
		if (rc != CLI_EXIT_OK)
			break;
		const char *state = cli_str(*doc, "state");
		uint64_t bytes = u64(*doc, "bytes"), total = u64(*doc, "expectedBytes");
		bool end = !strcmp(state, "COMPLETED") || !strcmp(state, "TERMINATED");
		if (end) {
			cli_progress_end(&bar, bytes, total);
			break;
		}
		cli_progress_update(&bar, bytes, total,
				    strcmp(state, "STARTED") ? state : NULL);
		if (agora_mono_ns() >= deadline) {
			cli_progress_end(&bar, bytes, total);
			fprintf(stderr, "agora: transfer %s is still %s after %ld s (--timeout)\n", id,
				state, timeout_s);
			rc = CLI_EXIT_TIMEOUT;
			break;
		}
		cli_sleep_ms(interval);
		interval = interval * 3 / 2 > 1000 ? 1000 : interval * 3 / 2;
	}
	return rc;
}

int
cli_cmd_transfer(int argc, char **argv)
{
	const char *w[2];
	int nw;
	int rc = cli_parse(argc, argv, "agora transfer", summary, opts, ARRAY_LEN(opts), w, 2, 2,
			   &nw);
	if (rc >= 0)
		return rc;
#define OPT(n) agora_config_get(opts, ARRAY_LEN(opts), n)
	const char *format = OPT("format");
	const char *output = OPT("output");
	long timeout_s = 0;
	json_t *query = NULL;
	if (!strcmp(format, "pull") || !strcmp(format, "HttpData-PULL")) {
		format = "HttpData-PULL";
	} else if (!strcmp(format, "push") || !strcmp(format, "HttpData-PUSH")) {
		format = "HttpData-PUSH";
	} else {
		fprintf(stderr, "agora: --format must be pull or push\n");
		return CLI_EXIT_USAGE;
	}
	if (!agora_parse_long(OPT("timeout"), 1, 7 * 86400, &timeout_s)) {
		fprintf(stderr, "agora: --timeout must be a number of seconds from 1 to 604800\n");
		return CLI_EXIT_USAGE;
	}
	if (output && (!*output || !OPT("wait"))) {
		fprintf(stderr, "agora: -o FILE needs --wait (the data is there once COMPLETED)\n");
		return CLI_EXIT_USAGE;
	}
	if (OPT("query")) {
		json_error_t e;
		query = json_loads(OPT("query"), 0, &e);
		if (!json_is_object(query)) {
			fprintf(stderr, "agora: --query must be a JSON object%s%s\n",
				query ? "" : ": ", query ? "" : e.text);
			json_decref(query);
			return CLI_EXIT_USAGE;
		}
	}
	struct cli_conn c;
	if ((rc = cli_conn_init(&c, opts, ARRAY_LEN(opts))) >= 0) {
		json_decref(query);
		return rc;
	}
	json_t *body = json_pack("{s:s, s:s}", "agreementId", w[1], "format", format);
	if (OPT("purpose"))
		json_object_set_new(body, "purpose", json_string(OPT("purpose")));
	if (query)
		json_object_set_new(body, "query", query);
	json_t *j = NULL, *doc = NULL;
	char *path = NULL;
	rc = cli_call(&c, "POST", "/api/v1/transfers", body, &j);
	json_decref(body);
	if (rc != CLI_EXIT_OK)
		goto out;
	const char *id = json_string_value(json_object_get(j, "id"));
	if (!id) {
		fprintf(stderr, "agora: the connector's answer has no transfer id\n");
		rc = CLI_EXIT_UNREACHABLE;
		goto out;
	}
	if (!OPT("wait")) {
		if (c.json)
			cli_print_json(j);
		else
			printf("%s\n", id);
		goto out;
	}
	if (!c.json)
		printf("%s\n", id);
	char *seg = agora_path_segment(id);
	path = xasprintf("/api/v1/transfers/%s", seg);
	free(seg);
	rc = wait_for(&c, path, id, timeout_s, &doc);
	if (rc != CLI_EXIT_OK) {
		if (rc == CLI_EXIT_TIMEOUT && c.json)
			cli_print_json(doc);
		goto out;
	}
	const char *state = cli_str(doc, "state");
	const char *sha = json_string_value(json_object_get(doc, "sha256"));
	json_t *verified = json_object_get(doc, "verified");
	char hb[16];
	cli_human_bytes(u64(doc, "bytes"), hb);
	if (!strcmp(state, "TERMINATED")) {
		fprintf(stderr, "agora: transfer %s was TERMINATED: %s\n", id, cli_str(doc, "reason"));
		rc = CLI_EXIT_FAILED;
	} else if (json_is_false(verified)) {
		/* The connector found the bytes it received differ from what the
		 * provider announced. */
		fprintf(stderr, "agora: transfer %s COMPLETED but its data did not verify (sha256 %s)\n",
			id, sha ? sha : "-");
		rc = CLI_EXIT_FAILED;
	} else {
		fprintf(stderr, "transfer %s COMPLETED: %s, sha256 %s\n", id, hb, sha ? sha : "-");
	}
	if (rc == CLI_EXIT_OK && output) {
		char *dpath = xasprintf("%s/data", path);
		char got[65];
		uint64_t size = 0;
		if (!sha)
			fprintf(stderr, "agora: the transfer names no sha256: %s is not checked\n", output);
		rc = cli_download(&c, dpath, output, sha, u64(doc, "bytes"), got, &size);
		free(dpath);
		if (rc == CLI_EXIT_OK) {
			cli_human_bytes(size, hb);
			fprintf(stderr, "%s: %s, sha256 %s%s\n", output, hb, got,
				sha ? " (matches)" : "");
		}
	}
	if (c.json)
		cli_print_json(doc);
out:
	free(path);
	json_decref(doc);
	json_decref(j);
	cli_conn_cleanup(&c);
	return rc;
}
