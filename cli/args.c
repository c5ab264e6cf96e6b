/* args.c (cli) — the command line of the connector commands: words apart
 * from flags, and the connection they describe (see cli.h). */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every value-taking flag of every command, the verify commands' too. */
static const char *const value_flags[] = {
	"broker", "state", "jwks", "connector", "api-key", "api-key-file", "theme", "keyword",
	"publisher", "limit", "offer", "provider", "timeout", "format", "purpose", "query",
	"output", "content-type",
};

bool
cli_flag_takes_value(const char *name)
{
	size_t n = strcspn(name, "=");
	if (name[n] == '=')
		return false;	/* --name=value carries its value */
	for (size_t i = 0; i < ARRAY_LEN(value_flags); i++)
		if (!strcmp(name, value_flags[i]))
			return true;
	return false;
}

/* Does the table have an option called name? */
static bool
has_opt(const struct agora_opt *opts, size_t nopts, const char *name)
{
	for (size_t i = 0; i < nopts; i++)
		if (!strcmp(opts[i].name, name))
			return true;
	return false;
}

int
cli_parse(int argc, char **argv, const char *prog, const char *summary, struct agora_opt *opts,
	  size_t nopts, const char **words, int minw, int maxw, int *nwords)
{
	char **flags = xcalloc((size_t)argc + 2, sizeof *flags);
	int nflags = 0, rc = -1;
	bool help = false;
	*nwords = 0;
	flags[nflags++] = argv[0];
	bool only_words = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!only_words && !strcmp(a, "--")) {
			only_words = true;
		} else if (!only_words && (!strcmp(a, "-h") || !strcmp(a, "--help"))) {
			help = true;
			break;
		} else if (!only_words && !strcmp(a, "-o")) {
			if (!has_opt(opts, nopts, "output")) {
				fprintf(stderr, "%s: unknown option '-o' (see --help)\n", prog);
				rc = CLI_EXIT_USAGE;
				goto out;
			}
			flags[nflags++] = "--output";
			if (i + 1 < argc)
				flags[nflags++] = argv[++i];
		} else if (!only_words && strncmp(a, "--", 2) == 0) {
			flags[nflags++] = argv[i];
			bool takes = false;
			for (size_t k = 0; k < nopts; k++)
				if (opts[k].metavar && !strcmp(a + 2, opts[k].name))
					takes = true;
			if (takes && i + 1 < argc)
				flags[nflags++] = argv[++i];
		} else if (!only_words && a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "%s: unknown option '%s' (see --help)\n", prog, a);
			rc = CLI_EXIT_USAGE;
			goto out;
		} else if (*nwords < maxw) {
			words[(*nwords)++] = a;
		} else {
			fprintf(stderr, "%s: unexpected argument '%s' (see --help)\n", prog, a);
			rc = CLI_EXIT_USAGE;
			goto out;
		}
	}
	if (help) {
		/* --help wins over whatever else is on the line. */
		flags[1] = "--help";
		nflags = 2;
	}
	enum agora_config_result cr = agora_config_parse(nflags, flags, prog, summary, opts, nopts);
	if (cr != AGORA_CONFIG_OK) {
		rc = cr == AGORA_CONFIG_EXIT ? CLI_EXIT_OK : CLI_EXIT_USAGE;
		goto out;
	}
	if (*nwords < minw) {
		fprintf(stderr, "%s: missing argument (see --help)\n", prog);
		rc = CLI_EXIT_USAGE;
	}
out:
	free(flags);	/* option values point into argv */
	return rc;
}

/* The first line of path, trimmed; NULL when unreadable or empty. */
static char *
read_key_file(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char line[1024];
	char *key = NULL;
	if (fgets(line, sizeof line, f)) {
		size_t n = strlen(line);
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
				 line[n - 1] == '\t'))
			line[--n] = '\0';
		const char *s = line + strspn(line, " \t");
		if (*s)
			key = xstrdup(s);
	}
	fclose(f);
	return key;
}

int
cli_conn_init(struct cli_conn *c, const struct agora_opt *opts, size_t nopts)
{
	memset(c, 0, sizeof *c);
	const char *base = agora_config_get(opts, nopts, "connector");
	const char *key = agora_config_get(opts, nopts, "api-key");
	const char *file = agora_config_get(opts, nopts, "api-key-file");
	c->json = agora_config_get(opts, nopts, "json") != NULL;
	if (!base || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)) {
		fprintf(stderr, "agora: --connector must be an http:// or https:// URL\n");
		return CLI_EXIT_USAGE;
	}
	size_t bl = strlen(base);
	while (bl > 0 && base[bl - 1] == '/')
		bl--;
	c->base = xstrndup(base, bl);
	if (file) {
		c->key = read_key_file(file);
		if (!c->key) {
			fprintf(stderr, "agora: --api-key-file %s: cannot read an API key from it\n", file);
			cli_conn_cleanup(c);
			return CLI_EXIT_USAGE;
		}
	} else if (key && *key) {
		c->key = xstrdup(key);
	} else {
		fprintf(stderr, "agora: no API key: give --api-key, --api-key-file or AGORA_API_KEY\n");
		cli_conn_cleanup(c);
		return CLI_EXIT_USAGE;
	}
	if (strpbrk(c->key, "\r\n")) {
		fprintf(stderr, "agora: the API key holds a line break\n");
		cli_conn_cleanup(c);
		return CLI_EXIT_USAGE;
	}
	return -1;
}

void
cli_conn_cleanup(struct cli_conn *c)
{
	if (!c)
		return;
	free(c->base);
	if (c->key) {
		/* Not left behind in freed memory. */
		volatile char *k = c->key;
		while (*k)
			*k++ = '\0';
		free(c->key);
	}
	memset(c, 0, sizeof *c);
}
