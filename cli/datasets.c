/* datasets.c (cli) — `agora datasets list|add|upload`: the user's own
 * datasets on their connector (/api/v1/datasets). */
#include "cli.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct agora_opt opts[] = {
	CLI_CONN_OPTS,
	{ "observations", NULL, NULL, NULL,
	  "upload: FILE is CSV observations (POST …/observations) rather than content", NULL },
	{ "content-type", NULL, "TYPE", NULL,
	  "upload: the Content-Type sent (default application/octet-stream; text/csv with "
	  "--observations)", NULL },
};

static const char summary[] =
	"agora datasets list\n"
	"agora datasets add FILE.json       (FILE - reads standard input)\n"
	"agora datasets upload ID FILE [--observations] [--content-type TYPE]\n\n"
	"list: your connector's datasets (id, title, source, size, published).\n"
	"add: create a dataset from a JSON document (docs/CONNECTOR.md); prints its id.\n"
	"upload: stream FILE as the dataset's content (PUT …/content; the connector's\n"
	"SHA-256 must equal the file's, else exit 1), or with --observations as CSV\n"
	"observations (POST …/observations; prints accepted and rejected rows).\n"
	"A progress bar is drawn on a terminal.";

static int
list(const struct cli_conn *c)
{
	json_t *all = NULL;
	int rc = cli_list_all(c, "/api/v1/datasets", 100, &all);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (c->json) {
		cli_print_json(all);
	} else {
		json_t *rows = json_array();
		json_array_append_new(rows, json_pack("[s,s,s,s,s]", "ID", "TITLE", "SOURCE", "SIZE",
						      "PUBLISHED"));
		size_t i;
		json_t *d;
		json_array_foreach(json_object_get(all, "results"), i, d) {
			char size[16] = "-";
			json_t *bs = json_object_get(d, "byteSize");
			if (json_is_integer(bs))
				cli_human_bytes((uint64_t)json_integer_value(bs), size);
			json_array_append_new(
				rows, json_pack("[s,s,s,s,s]", cli_str(d, "id"), cli_str(d, "title"),
						cli_str(json_object_get(d, "source"), "type"), size,
						json_is_true(json_object_get(d, "published")) ? "yes" : "no"));
		}
		if (json_array_size(rows) > 1)
			cli_table(rows);
		else
			fprintf(stderr, "no datasets\n");
		json_decref(rows);
	}
	json_decref(all);
	return rc;
}

static int
add(const struct cli_conn *c, const char *file)
{
	json_error_t e;
	json_t *doc = !strcmp(file, "-") ? json_loadf(stdin, 0, &e) : json_load_file(file, 0, &e);
	if (!json_is_object(doc)) {
		if (doc)
			fprintf(stderr, "agora: %s: a dataset is a JSON object\n", file);
		else
			fprintf(stderr, "agora: %s: line %d: %s\n", file, e.line, e.text);
		json_decref(doc);
		return CLI_EXIT_USAGE;
	}
	json_t *j = NULL;
	int rc = cli_call(c, "POST", "/api/v1/datasets", doc, &j);
	json_decref(doc);
	if (rc == CLI_EXIT_OK) {
		if (c->json)
			cli_print_json(j);
		else
			printf("%s\n", cli_str(j, "id"));
	}
	json_decref(j);
	return rc;
}

static int
upload(const struct cli_conn *c, const char *id, const char *file, bool observations,
       const char *ctype)
{
	char *seg = agora_path_segment(id);
	char *path = xasprintf("/api/v1/datasets/%s/%s", seg, observations ? "observations" : "content");
	free(seg);
	char sha[65];
	uint64_t size = 0;
	json_t *j = NULL;
	if (!ctype)
		ctype = observations ? "text/csv" : "application/octet-stream";
	int rc = cli_upload(c, observations ? "POST" : "PUT", path, ctype, file, "upload", sha, &size,
			    &j);
	free(path);
	if (rc != CLI_EXIT_OK)
		return rc;
	if (c->json)
		cli_print_json(j);
	if (observations) {
		json_int_t acc = json_integer_value(json_object_get(j, "accepted"));
		json_t *rej = json_object_get(j, "rejected");
		json_t *rc_n = json_object_get(j, "rejectedCount");
		json_int_t nrej = json_is_integer(rc_n) ? json_integer_value(rc_n)
							 : (json_int_t)json_array_size(rej);
		if (!c->json)
			printf("%s: %lld accepted, %lld rejected\n", id, (long long)acc,
			       (long long)nrej);
		size_t i;
		json_t *r;
		json_array_foreach(rej, i, r) {
			if (i == 10) {
				fprintf(stderr, "  … %lld more\n", (long long)nrej - 10);
				break;
			}
			json_t *col = json_object_get(r, "column");
			char *cs = col ? json_dumps(col, JSON_ENCODE_ANY) : NULL;
			fprintf(stderr, "  row %lld%s%s: %s\n",
				(long long)json_integer_value(json_object_get(r, "row")),
				cs ? " column " : "", cs ? cs : "", cli_str(r, "reason"));
			free(cs);
		}
	} else {
		const char *theirs = json_string_value(json_object_get(j, "sha256"));
		char hb[16];
		cli_human_bytes(size, hb);
		if (!theirs || strcmp(theirs, sha) != 0) {
			fprintf(stderr,
				"agora: %s: the connector stored sha256 %s, the file's is %s\n", id,
				theirs ? theirs : "(none)", sha);
			rc = CLI_EXIT_FAILED;
		} else if (!c->json) {
			printf("%s: %s, sha256 %s\n", id, hb, sha);
		}
	}
	json_decref(j);
	return rc;
}

int
cli_cmd_datasets(int argc, char **argv)
{
	const char *w[4];
	int nw;
	int rc = cli_parse(argc, argv, "agora datasets", summary, opts, ARRAY_LEN(opts), w, 2, 4,
			   &nw);
	if (rc >= 0)
		return rc;
#define OPT(n) agora_config_get(opts, ARRAY_LEN(opts), n)
	const char *sub = w[1];
	bool ok = (!strcmp(sub, "list") && nw == 2) || (!strcmp(sub, "add") && nw == 3) ||
		  (!strcmp(sub, "upload") && nw == 4);
	if (!ok) {
		fprintf(stderr, "usage: agora datasets list\n"
				"       agora datasets add FILE.json\n"
				"       agora datasets upload ID FILE [--observations]\n");
		return CLI_EXIT_USAGE;
	}
	if ((OPT("observations") || OPT("content-type")) && strcmp(sub, "upload") != 0) {
		fprintf(stderr, "agora: --observations and --content-type go with upload\n");
		return CLI_EXIT_USAGE;
	}
	struct cli_conn c;
	if ((rc = cli_conn_init(&c, opts, ARRAY_LEN(opts))) >= 0)
		return rc;
	if (!strcmp(sub, "list"))
		rc = list(&c);
	else if (!strcmp(sub, "add"))
		rc = add(&c, w[2]);
	else
		rc = upload(&c, w[2], w[3], OPT("observations") != NULL, OPT("content-type"));
	cli_conn_cleanup(&c);
	return rc;
}
