/* agreements.c (cli) — `agora agreements list`: the agreements the user's
 * connector is a party to (GET /api/v1/agreements), either role. */
#include "cli.h"

#include <stdio.h>

static struct agora_opt opts[] = {
	CLI_CONN_OPTS,
};

static const char summary[] =
	"agora agreements list\n\n"
	"The agreements your connector holds, as provider or consumer: id, dataset,\n"
	"provider, consumer, status (active or revoked).  The full documents, with\n"
	"signatures and ledger receipts, with --json (check one with\n"
	"agora agreement verify).";

int
cli_cmd_agreements_list(int argc, char **argv)
{
	const char *w[2];
	int nw;
	int rc = cli_parse(argc, argv, "agora agreements list", summary, opts, ARRAY_LEN(opts), w, 2,
			   2, &nw);
	if (rc >= 0)
		return rc;
	struct cli_conn c;
	if ((rc = cli_conn_init(&c, opts, ARRAY_LEN(opts))) >= 0)
		return rc;
	json_t *all = NULL;
	rc = cli_list_all(&c, "/api/v1/agreements", 200, &all);
	if (rc == CLI_EXIT_OK && c.json) {
		cli_print_json(all);
	} else if (rc == CLI_EXIT_OK) {
		json_t *rows = json_array();
		json_array_append_new(rows, json_pack("[s,s,s,s,s]", "ID", "DATASET", "PROVIDER",
						      "CONSUMER", "STATUS"));
		size_t i;
		json_t *a;
		json_array_foreach(json_object_get(all, "results"), i, a) {
			json_t *odrl = json_object_get(a, "agreement");
			json_array_append_new(rows, json_pack("[s,s,s,s,s]", cli_str(a, "id"),
							      cli_str(odrl, "target"),
							      cli_str(odrl, "assigner"),
							      cli_str(odrl, "assignee"),
							      cli_str(a, "status")));
		}
		if (json_array_size(rows) > 1)
			cli_table(rows);
		else
			fprintf(stderr, "no agreements\n");
		json_decref(rows);
	}
	json_decref(all);
	cli_conn_cleanup(&c);
	return rc;
}
