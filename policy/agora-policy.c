/* agora-policy: validate, evaluate, describe and compare ODRL policies.
 *
 *   agora-policy [--config CFG.json] validate POLICY.json
 *   agora-policy [--config CFG.json] eval POLICY.json REQUEST.json
 *   agora-policy [--config CFG.json] describe POLICY.json
 *   agora-policy [--config CFG.json] narrows A.json B.json
 *
 * POLICY.json may be a bare policy or a DSP message / dataset that carries
 * exactly one (offer, agreement, hasPolicy).  "-" reads standard input. */
#include "policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef AGORA_VERSION
#define AGORA_VERSION "dev"
#endif

enum { EX_OK = 0, EX_NO = 1, EX_INPUT = 2 };

static void usage_to(FILE *f)
{
	fputs("usage: agora-policy [--config CFG.json] validate POLICY.json\n"
	      "       agora-policy [--config CFG.json] eval POLICY.json REQUEST.json\n"
	      "       agora-policy [--config CFG.json] describe POLICY.json\n"
	      "       agora-policy [--config CFG.json] narrows A.json B.json\n"
	      "       agora-policy --help | --version\n",
	      f);
}

static void usage(void)
{
	usage_to(stderr);
}

/* Returns a new reference or NULL (message on stderr). */
static json_t *load(const char *path)
{
	json_error_t err;
	json_t *j = strcmp(path, "-") == 0 ? json_loadf(stdin, JSON_REJECT_DUPLICATES, &err)
	                                   : json_load_file(path, JSON_REJECT_DUPLICATES, &err);
	if (!j)
		fprintf(stderr, "agora-policy: %s: %s (line %d)\n", path, err.text, err.line);
	return j;
}

static void print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
	if (s) {
		puts(s);
		free(s);
	}
}

/* Parses the policy in PATH; prints problems as the validate command does
 * when PRINT is set.  Returns NULL on any failure with *RC set. */
static struct agora_policy *load_policy(const char *path, const struct agora_policy_config *cfg,
                                        bool print, int *rc)
{
	json_t *doc = load(path);
	if (!doc) {
		*rc = EX_INPUT;
		return NULL;
	}
	const json_t *pj = agora_policy_find(doc);
	struct agora_policy_problems *pr = agora_policy_problems_new();
	struct agora_policy *p = agora_policy_parse(pj ? pj : doc, cfg, pr);
	if (!p) {
		json_t *out = json_pack("{s:b, s:o}", "valid", 0, "problems",
		                        agora_policy_problems_to_json(pr));
		if (print)
			print_json(out);
		else {
			char *s = json_dumps(out, JSON_COMPACT);
			fprintf(stderr, "agora-policy: %s: invalid policy: %s\n", path, s ? s : "");
			free(s);
		}
		json_decref(out);
		*rc = print ? EX_NO : EX_INPUT;
	}
	agora_policy_problems_free(pr);
	json_decref(doc);
	return p;
}

int main(int argc, char **argv)
{
	if (argc == 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) {
		usage_to(stdout);
		return EX_OK;
	}
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("agora-policy %s\n", AGORA_VERSION);
		return EX_OK;
	}
	struct agora_policy_config *cfg = agora_policy_config_new();
	int rc = EX_INPUT;
	int i = 1;
	if (i + 1 < argc && strcmp(argv[i], "--config") == 0) {
		json_t *cj = load(argv[i + 1]);
		struct agora_policy_problems *pr = agora_policy_problems_new();
		if (!cj || agora_policy_config_load_json(cfg, cj, pr) != 0) {
			json_t *out = agora_policy_problems_to_json(pr);
			char *s = json_dumps(out, JSON_COMPACT);
			fprintf(stderr, "agora-policy: %s: bad configuration %s\n", argv[i + 1], s ? s : "");
			free(s);
			json_decref(out);
			json_decref(cj);
			agora_policy_problems_free(pr);
			goto out;
		}
		json_decref(cj);
		agora_policy_problems_free(pr);
		i += 2;
	}
	if (argc - i < 2) {
		usage();
		goto out;
	}
	const char *cmd = argv[i];
	if (strcmp(cmd, "validate") == 0 && argc - i == 2) {
		struct agora_policy *p = load_policy(argv[i + 1], cfg, true, &rc);
		if (p) {
			puts("{\"valid\":true}");
			rc = EX_OK;
		}
		agora_policy_free(p);
	} else if (strcmp(cmd, "eval") == 0 && argc - i == 3) {
		struct agora_policy *p = load_policy(argv[i + 1], cfg, false, &rc);
		if (!p)
			goto out;
		json_t *rj = load(argv[i + 2]);
		struct agora_policy_problems *pr = agora_policy_problems_new();
		struct agora_policy_request *r = rj ? agora_policy_request_from_json(rj, pr) : NULL;
		if (!r) {
			if (rj) {
				json_t *out = json_pack("{s:s, s:o}", "error", "invalid request", "problems",
				                        agora_policy_problems_to_json(pr));
				print_json(out);
				json_decref(out);
			}
			rc = EX_INPUT;
		} else {
			struct agora_policy_decision d;
			enum agora_policy_verdict v = agora_policy_decide(p, r, &d);
			json_t *out = agora_policy_decision_to_json(&d);
			print_json(out);
			json_decref(out);
			rc = v == AGORA_POLICY_PERMIT ? EX_OK : EX_NO;
		}
		agora_policy_request_free(r);
		agora_policy_problems_free(pr);
		json_decref(rj);
		agora_policy_free(p);
	} else if (strcmp(cmd, "describe") == 0 && argc - i == 2) {
		struct agora_policy *p = load_policy(argv[i + 1], cfg, false, &rc);
		if (p) {
			char *s = agora_policy_describe(p);
			puts(s);
			free(s);
			rc = EX_OK;
		}
		agora_policy_free(p);
	} else if (strcmp(cmd, "narrows") == 0 && argc - i == 3) {
		struct agora_policy *a = load_policy(argv[i + 1], cfg, false, &rc);
		struct agora_policy *b = a ? load_policy(argv[i + 2], cfg, false, &rc) : NULL;
		if (a && b) {
			char *why = NULL;
			bool ok = agora_policy_narrows(a, b, &why);
			json_t *out = json_pack("{s:b}", "narrows", ok);
			if (why)
				json_object_set_new(out, "reason", json_string(why));
			print_json(out);
			json_decref(out);
			free(why);
			rc = ok ? EX_OK : EX_NO;
		}
		agora_policy_free(a);
		agora_policy_free(b);
	} else {
		usage();
	}
out:
	agora_policy_config_free(cfg);
	return rc;
}
