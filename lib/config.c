/* config.c — see config.h. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
usage(FILE *f, const char *prog, const char *summary, const struct agora_opt *opts, size_t n)
{
	fprintf(f, "Usage: %s [OPTIONS]\n%s\n\nOptions (each also read from its environment variable):\n",
		prog, summary);
	for (size_t i = 0; i < n; i++) {
		char flag[96];
		snprintf(flag, sizeof flag, "--%s%s%s", opts[i].name, opts[i].metavar ? " " : "",
			 opts[i].metavar ? opts[i].metavar : "");
		fprintf(f, "  %-28s %s", flag, opts[i].help);
		if (opts[i].env)
			fprintf(f, " [%s]", opts[i].env);
		if (opts[i].def)
			fprintf(f, " (default: %s)", opts[i].def);
		fputc('\n', f);
	}
	fprintf(f, "  %-28s %s\n  %-28s %s\n", "--help", "show this help and exit", "--version",
		"show the version and exit");
}

enum agora_config_result
agora_config_parse(int argc, char **argv, const char *prog, const char *summary,
		   struct agora_opt *opts, size_t nopts)
{
	for (size_t i = 0; i < nopts; i++) {
		const char *e = opts[i].env ? getenv(opts[i].env) : NULL;
		opts[i].value = (e && *e) ? e : opts[i].def;
	}
	for (int a = 1; a < argc; a++) {
		const char *arg = argv[a];
		if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
			usage(stdout, prog, summary, opts, nopts);
			return AGORA_CONFIG_EXIT;
		}
		if (!strcmp(arg, "--version")) {
			printf("%s %s\n", prog, AGORA_VERSION);
			return AGORA_CONFIG_EXIT;
		}
		if (strncmp(arg, "--", 2) != 0) {
			fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog, arg);
			return AGORA_CONFIG_ERROR;
		}
		const char *name = arg + 2;
		const char *eq = strchr(name, '=');
		size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
		struct agora_opt *o = NULL;
		for (size_t i = 0; i < nopts; i++)
			if (strlen(opts[i].name) == nlen && !strncmp(opts[i].name, name, nlen))
				o = &opts[i];
		if (!o) {
			fprintf(stderr, "%s: unknown option '--%.*s' (see --help)\n", prog, (int)nlen, name);
			return AGORA_CONFIG_ERROR;
		}
		if (!o->metavar) {
			if (eq) {
				fprintf(stderr, "%s: --%s takes no value\n", prog, o->name);
				return AGORA_CONFIG_ERROR;
			}
			o->value = "1";
		} else if (eq) {
			o->value = eq + 1;
		} else if (a + 1 < argc) {
			o->value = argv[++a];
		} else {
			fprintf(stderr, "%s: --%s needs a value %s\n", prog, o->name, o->metavar);
			return AGORA_CONFIG_ERROR;
		}
	}
	return AGORA_CONFIG_OK;
}

const char *
agora_config_get(const struct agora_opt *opts, size_t nopts, const char *name)
{
	for (size_t i = 0; i < nopts; i++)
		if (!strcmp(opts[i].name, name))
			return opts[i].value;
	return NULL;
}

bool
agora_parse_long(const char *s, long min, long max, long *out)
{
	if (!s || !*s)
		return false;
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}
