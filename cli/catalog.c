/* catalog.c (cli) — `agora catalog search`: the federated catalog as the
 * user's connector sees it (GET /api/v1/catalog, which asks the broker as
 * this participant, so offers hidden from it are not listed). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct agora_opt opts[] = {
	CLI_CONN_OPTS,
	{ "theme", NULL, "THEME", NULL, "only datasets with this theme", NULL },
	{ "keyword", NULL, "KEYWORD", NULL, "only datasets with this keyword", NULL },
	{ "publisher", NULL, "ID", NULL, "only datasets of this participant", NULL },
	{ "limit", NULL, "N", NULL, "at most N datasets (1-100; default 20)", NULL },
};

static const char summary[] =
	"agora catalog search [TEXT] [--theme T] [--keyword K] [--publisher P] [--limit N]\n\n"
	"Search the federated catalog through your connector.  One line per dataset\n"
	"(id, title, publisher), then one indented line per offer you may negotiate\n"
	"(offer id and what its policy says in plain language).";

int
cli_cmd_catalog_search(int argc, char **argv)
{
	const char *w[3];
	int nw;
	int rc = cli_parse(argc, argv, "agora catalog search", summary, opts, ARRAY_LEN(opts), w, 2,
			   3, &nw);
	if (rc >= 0)
		return rc;
#define OPT(n) agora_config_get(opts, ARRAY_LEN(opts), n)
	long limit = 0;
	if (OPT("limit") && !agora_parse_long(OPT("limit"), 1, 100, &limit)) {
		fprintf(stderr, "agora: --limit must be an integer from 1 to 100\n");
		return CLI_EXIT_USAGE;
	}
	struct cli_conn c;
	if ((rc = cli_conn_init(&c, opts, ARRAY_LEN(opts))) >= 0)
		return rc;
	struct agora_buf b;
	agora_buf_init(&b);
	agora_buf_puts(&b, "/api/v1/catalog");
	if (nw == 3 && *w[2])
		cli_query_add(&b, "q", w[2]);
	static const char *const filters[] = { "theme", "keyword", "publisher", "limit" };
	for (size_t i = 0; i < ARRAY_LEN(filters); i++)
		if (OPT(filters[i]))
			cli_query_add(&b, filters[i], OPT(filters[i]));
	char *path = agora_buf_steal(&b);
	json_t *j = NULL;
	rc = cli_call(&c, "GET", path, NULL, &j);
	free(path);
	if (rc == CLI_EXIT_OK && c.json) {
		cli_print_json(j);
	} else if (rc == CLI_EXIT_OK) {
		json_t *results = json_object_get(j, "results");
		size_t i;
		json_t *d;
		json_array_foreach(results, i, d) {
			json_t *pub = json_object_get(d, "publisher");
			const char *pname = json_string_value(json_object_get(pub, "name"));
			const char *pid = cli_str(pub, "id");
			if (pname && *pname && strcmp(pname, pid) != 0)
				printf("%s  %s  (%s, %s)\n", cli_str(d, "id"), cli_str(d, "title"), pname,
				       pid);
			else
				printf("%s  %s  (%s)\n", cli_str(d, "id"), cli_str(d, "title"), pid);
			size_t k;
			json_t *o;
			json_array_foreach(json_object_get(d, "offers"), k, o)
				printf("    offer %s  %s\n", cli_str(o, "id"), cli_str(o, "description"));
		}
		json_int_t count = json_integer_value(json_object_get(j, "count"));
		if (json_array_size(results) == 0)
			fprintf(stderr, "no dataset matches\n");
		else if (count > (json_int_t)json_array_size(results))
			fprintf(stderr, "%zu of %lld datasets shown (--limit for more)\n",
				json_array_size(results), (long long)count);
	}
	json_decref(j);
	cli_conn_cleanup(&c);
	return rc;
}
