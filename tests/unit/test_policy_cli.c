/* test_policy_cli.c — the agora-policy command's contract: output and exit
 * codes of validate, eval, describe and narrows. */
#include "harness.h"
#include "util.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *dir;

static void
setup(void)
{
	dir = harness_tmpdir();
}

static void
teardown(void)
{
	harness_rmtree(dir);
	free(dir);
}

TestSuite(policy_cli, .init = setup, .fini = teardown, .timeout = 30);

static char *
file(const char *name, const char *text)
{
	char *p = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	cr_assert_not_null(f);
	fputs(text, f);
	fclose(f);
	return p;
}

/* Run agora-policy with up to three arguments; *out gets stdout+stderr. */
static int
run(char **out, const char *a1, const char *a2, const char *a3)
{
	char *log = xasprintf("%s/out.log", dir);
	unlink(log);
	const char *argv[] = { harness_bin("agora-policy"), a1, a2, a3, NULL };
	struct harness_proc *p = harness_proc_start(argv, NULL, log);
	while (harness_proc_alive(p))
		usleep(5000);
	int st = harness_proc_stop(p);
	*out = harness_file_read(log);
	free(log);
	return st;
}

#define OFFER "{\"@type\":\"Offer\",\"uid\":\"urn:uuid:o1\",\"permission\":[{\"action\":\"use\",\"constraint\":[" \
	"{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"research\",\"education\"]}," \
	"{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":3}]}]}"
#define NARROWER "{\"@type\":\"Offer\",\"uid\":\"urn:uuid:o2\",\"permission\":[{\"action\":\"use\",\"constraint\":[" \
	"{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"research\"]}," \
	"{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1}]}]}"

Test(policy_cli, validate)
{
	char *good = file("good.json", OFFER);
	char *bad = file("bad.json", "{\"@type\":\"Set\",\"permission\":[{\"action\":\"fly\"}]}");
	char *out;
	cr_assert_eq(run(&out, "validate", good, NULL), 0);
	cr_assert(strstr(out, "{\"valid\":true}"), "%s", out);
	free(out);
	cr_assert_eq(run(&out, "validate", bad, NULL), 1);
	cr_assert(strstr(out, "\"valid\":false"), "%s", out);
	cr_assert(strstr(out, "\"problems\""), "%s", out);
	free(out);
	cr_assert_eq(run(&out, "validate", "/nonexistent.json", NULL), 2);
	free(out);
	free(good);
	free(bad);
}

Test(policy_cli, eval_permit_and_deny)
{
	char *pol = file("p.json", OFFER);
	char *ok = file("ok.json", "{\"action\":\"read\",\"purpose\":\"research\",\"count\":3}");
	char *over = file("over.json", "{\"action\":\"read\",\"purpose\":\"research\",\"count\":4}");
	char *junk = file("junk.json", "[1,2");
	char *out;
	cr_assert_eq(run(&out, "eval", pol, ok), 0, "%s", out);
	cr_assert(strstr(out, "\"decision\":\"permit\""), "%s", out);
	free(out);
	cr_assert_eq(run(&out, "eval", pol, over), 1, "%s", out);
	cr_assert(strstr(out, "\"decision\":\"deny\""), "%s", out);
	free(out);
	cr_assert_eq(run(&out, "eval", pol, junk), 2, "%s", out);
	free(out);
	free(pol);
	free(ok);
	free(over);
	free(junk);
}

Test(policy_cli, describe_and_narrows)
{
	char *a = file("a.json", OFFER), *b = file("b.json", NARROWER);
	char *out;
	cr_assert_eq(run(&out, "describe", a, NULL), 0);
	cr_assert(strstr(out, "research"), "%s", out);
	free(out);
	cr_assert_eq(run(&out, "narrows", a, b), 0, "B is stricter than A: %s", out);
	free(out);
	cr_assert_eq(run(&out, "narrows", b, a), 1, "A is not stricter than B: %s", out);
	free(out);
	free(a);
	free(b);
}
