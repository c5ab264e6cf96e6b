/* config.h — command-line flags with AGORA_* environment equivalents.
 *
 * A program describes its options in a table; agora_config_parse() fills
 * each option's value from, in order of precedence: the command line
 * (--name VALUE or --name=VALUE), the environment variable, the default.
 * --help and --version are built in.
 */
#ifndef AGORA_CONFIG_H
#define AGORA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

struct agora_opt {
	const char *name;	/* long flag without "--" */
	const char *env;	/* environment variable, or NULL */
	const char *metavar;	/* NULL for a flag that takes no value */
	const char *def;	/* default value, or NULL */
	const char *help;
	const char *value;	/* out: the chosen value (borrowed), or NULL */
};

enum agora_config_result {
	AGORA_CONFIG_OK,
	AGORA_CONFIG_EXIT,	/* --help or --version printed: exit 0 */
	AGORA_CONFIG_ERROR,	/* message printed to stderr: exit 2 */
};

enum agora_config_result agora_config_parse(int argc, char **argv, const char *prog,
					    const char *summary, struct agora_opt *opts,
					    size_t nopts);
/* The value of option `name` (borrowed), or NULL. */
const char *agora_config_get(const struct agora_opt *opts, size_t nopts, const char *name);
/* Parse a bounded decimal integer; false when s is not one. */
bool agora_parse_long(const char *s, long min, long max, long *out);

#endif
