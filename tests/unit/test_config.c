/* test_config.c — flags, environment, defaults, --help/--version, errors. */
#include "config.h"
#include "util.h"

#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <stdlib.h>

static struct agora_opt opts[] = {
	{ "listen", "AGORA_TEST_LISTEN", "HOST:PORT", "127.0.0.1:1", "where", NULL },
	{ "db", "AGORA_TEST_DB", "CONNINFO", NULL, "database", NULL },
	{ "verbose", NULL, NULL, NULL, "a flag", NULL },
};

static enum agora_config_result
parse(int argc, char **argv)
{
	return agora_config_parse(argc, argv, "t", "test", opts, ARRAY_LEN(opts));
}

Test(config, precedence_flag_env_default)
{
	unsetenv("AGORA_TEST_LISTEN");
	setenv("AGORA_TEST_DB", "dbname=fromenv", 1);
	char *a1[] = { "t", NULL };
	cr_assert_eq(parse(1, a1), AGORA_CONFIG_OK);
	cr_assert_str_eq(agora_config_get(opts, ARRAY_LEN(opts), "listen"), "127.0.0.1:1");
	cr_assert_str_eq(agora_config_get(opts, ARRAY_LEN(opts), "db"), "dbname=fromenv");
	cr_assert_null(agora_config_get(opts, ARRAY_LEN(opts), "verbose"));
	char *a2[] = { "t", "--db", "dbname=flag", "--listen=0.0.0.0:2", "--verbose", NULL };
	cr_assert_eq(parse(5, a2), AGORA_CONFIG_OK);
	cr_assert_str_eq(agora_config_get(opts, ARRAY_LEN(opts), "db"), "dbname=flag");
	cr_assert_str_eq(agora_config_get(opts, ARRAY_LEN(opts), "listen"), "0.0.0.0:2");
	cr_assert_str_eq(agora_config_get(opts, ARRAY_LEN(opts), "verbose"), "1");
}

Test(config, errors, .init = cr_redirect_stderr)
{
	char *a1[] = { "t", "--nope", NULL };
	cr_assert_eq(parse(2, a1), AGORA_CONFIG_ERROR);
	char *a2[] = { "t", "--db", NULL };
	cr_assert_eq(parse(2, a2), AGORA_CONFIG_ERROR);
	char *a3[] = { "t", "--verbose=yes", NULL };
	cr_assert_eq(parse(2, a3), AGORA_CONFIG_ERROR);
	char *a4[] = { "t", "stray", NULL };
	cr_assert_eq(parse(2, a4), AGORA_CONFIG_ERROR);
}

Test(config, help_and_version, .init = cr_redirect_stdout)
{
	char *a1[] = { "t", "--help", NULL };
	cr_assert_eq(parse(2, a1), AGORA_CONFIG_EXIT);
	fflush(stdout);
	cr_assert_stdout_eq_str("Usage: t [OPTIONS]\ntest\n\nOptions (each also read from its environment variable):\n"
				"  --listen HOST:PORT           where [AGORA_TEST_LISTEN] (default: 127.0.0.1:1)\n"
				"  --db CONNINFO                database [AGORA_TEST_DB]\n"
				"  --verbose                    a flag\n"
				"  --help                       show this help and exit\n"
				"  --version                    show the version and exit\n");
}

Test(config, parse_long_bounds)
{
	long v;
	cr_assert(agora_parse_long("42", 1, 100, &v));
	cr_assert_eq(v, 42);
	cr_assert_not(agora_parse_long("0", 1, 100, &v));
	cr_assert_not(agora_parse_long("101", 1, 100, &v));
	cr_assert_not(agora_parse_long("4x", 1, 100, &v));
	cr_assert_not(agora_parse_long("", 1, 100, &v));
	cr_assert_not(agora_parse_long(NULL, 1, 100, &v));
	cr_assert_not(agora_parse_long("99999999999999999999999", 1, 100, &v));
}
