/* negotiate.c (cli) — `agora negotiate`: ask for an offer through the
 * user's connector (POST /api/v1/negotiations) and, with --wait, follow
 * the negotiation until it is FINALIZED or TERMINATED. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static struct agora_opt opts[] = {
	CLI_CONN_OPTS,
	{ "offer", NULL, "ID", NULL, "the offer to accept (see agora catalog search); required", NULL },
	{ "provider", NULL, "ID", NULL,
	  "the dataset's publisher (default: looked up in the catalog)", NULL },
	{ "wait", NULL, NULL, NULL, "wait until the negotiation is FINALIZED or TERMINATED", NULL },
	{ "timeout", NULL, "SECONDS", "120", "how long --wait waits", NULL },
};

static const char summary[] =
	"agora negotiate DATASET --offer ID [--provider P] [--wait [--timeout SECONDS]]\n\n"
	"Start a contract negotiation for DATASET under offer ID.  Prints the\n"
	"negotiation id.  With --wait it follows the negotiation: FINALIZED prints\n"
	"the agreement id instead (exit 0; the negotiation id goes to stderr),\n"
	"TERMINATED prints the reason on stderr (exit 1), no end within --timeout\n"
	"exits 5.";

/* The publisher of dataset as the catalog shows it to this connector
 * (heap), or NULL with the reason printed and *rc set. */
static char *
find_provider(const struct cli_conn *c, const char *dataset, int *rc)
{
	char *cursor = NULL, *found = NULL;
	for (int page = 0; page < 1000 && !found; page++) {
		struct agora_buf b;
		agora_buf_init(&b);
		agora_buf_puts(&b, "/api/v1/catalog");
		cli_query_add(&b, "limit", "100");
		cli_query_add(&b, "sort", "title");
		if (cursor)
			cli_query_add(&b, "cursor", cursor);
		char *path = agora_buf_steal(&b);
		json_t *j = NULL;
		*rc = cli_call(c, "GET", path, NULL, &j);
		free(path);
		free(cursor);
		cursor = NULL;
		if (*rc != CLI_EXIT_OK)
			return NULL;
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(j, "results"), i, d) {
			const char *id = json_string_value(json_object_get(d, "id"));
			const char *pub = json_string_value(
				json_object_get(json_object_get(d, "publisher"), "id"));
			if (id && pub && !strcmp(id, dataset)) {
				found = xstrdup(pub);
				break;
			}
		}
		const char *next = json_string_value(json_object_get(j, "next"));
		if (next && *next)
			cursor = xstrdup(next);
		json_decref(j);
		if (!cursor)
			break;
	}
	free(cursor);
	if (!found) {
		fprintf(stderr, "agora: dataset %s is not in the catalog your connector sees; "
				"give --provider if you know its publisher\n", dataset);
		*rc = CLI_EXIT_REFUSED;
	}
	return found;
}

/* Poll the negotiation until it ends; exit status. */
static int
wait_for(const struct cli_conn *c, const char *id, long timeout_s)
{
	char *seg = agora_path_segment(id);
	char *path = xasprintf("/api/v1/negotiations/%s", seg);
	free(seg);
	bool tty = isatty(STDERR_FILENO) == 1;
	uint64_t deadline = agora_mono_ns() + (uint64_t)timeout_s * 1000000000ull;
	long interval = 100;
	char last[32] = "";
	int rc;
	json_t *doc = NULL;
	for (;;) {
		json_decref(doc);
		doc = NULL;
		rc = cli_call(c, "GET", path, NULL, &doc);
		if (rc != CLI_EXIT_OK)
			break;
		const char *state = cli_str(doc, "state");
		if (tty && strcmp(state, last) != 0)
			fprintf(stderr, "negotiation %s: %s\n", id, state);
		snprintf(last, sizeof last, "%s", state);
		if (!strcmp(state, "FINALIZED")) {
			if (c->json) {
				cli_print_json(doc);
			} else {
				if (!tty)
					fprintf(stderr, "negotiation %s: FINALIZED\n", id);
				printf("%s\n", cli_str(doc, "agreementId"));
			}
			rc = CLI_EXIT_OK;
			break;
		}
		if (!strcmp(state, "TERMINATED")) {
			const char *code = json_string_value(json_object_get(doc, "code"));
			fprintf(stderr, "agora: negotiation %s was TERMINATED: %s%s%s\n", id,
				code ? code : "", code ? ": " : "", cli_str(doc, "reason"));
			if (c->json)
				cli_print_json(doc);
			rc = CLI_EXIT_FAILED;
			break;
		}
		if (agora_mono_ns() >= deadline) {
			fprintf(stderr, "agora: negotiation %s is still %s after %ld s (--timeout)\n", id,
				state, timeout_s);
			if (c->json)
				cli_print_json(doc);
			rc = CLI_EXIT_TIMEOUT;
			break;
		}
		cli_sleep_ms(interval);
		interval = interval * 3 / 2 > 1000 ? 1000 : interval * 3 / 2;
	}
	json_decref(doc);
	free(path);
	return rc;
}

int
cli_cmd_negotiate(int argc, char **argv)
{
	const char *w[2];
	int nw;
	int rc = cli_parse(argc, argv, "agora negotiate", summary, opts, ARRAY_LEN(opts), w, 2, 2,
			   &nw);
	if (rc >= 0)
		return rc;
#define OPT(n) agora_config_get(opts, ARRAY_LEN(opts), n)
	const char *dataset = w[1];
	const char *offer = OPT("offer");
	long timeout_s = 0;
	if (!offer || !*offer) {
		fprintf(stderr, "agora: --offer ID is required (see agora catalog search)\n");
		return CLI_EXIT_USAGE;
	}
	if (!agora_parse_long(OPT("timeout"), 1, 7 * 86400, &timeout_s)) {
		fprintf(stderr, "agora: --timeout must be a number of seconds from 1 to 604800\n");
		return CLI_EXIT_USAGE;
	}
	struct cli_conn c;
	if ((rc = cli_conn_init(&c, opts, ARRAY_LEN(opts))) >= 0)
		return rc;
	char *provider = OPT("provider") ? xstrdup(OPT("provider")) : find_provider(&c, dataset, &rc);
	json_t *j = NULL;
	if (!provider)
		goto out;
	json_t *body = json_pack("{s:s, s:s, s:s}", "datasetId", dataset, "offerId", offer,
				 "provider", provider);
	rc = cli_call(&c, "POST", "/api/v1/negotiations", body, &j);
	json_decref(body);
	if (rc != CLI_EXIT_OK)
		goto out;
	const char *id = json_string_value(json_object_get(j, "id"));
	if (!id) {
		fprintf(stderr, "agora: the connector's answer has no negotiation id\n");
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
		fprintf(stderr, "negotiation %s\n", id);
	rc = wait_for(&c, id, timeout_s);
out:
	json_decref(j);
	free(provider);
	cli_conn_cleanup(&c);
	return rc;
}
