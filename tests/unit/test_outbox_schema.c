/* test_outbox_schema.c — the outbox tables exist in each component's
 * numbered migrations as a verbatim copy of lib/outbox.c's SQL; this test
 * fails when the two drift apart. */
#include "harness.h"
#include "outbox.h"

#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

static void
check(const char *path)
{
	char *sql = harness_file_read(path);
	cr_assert_not_null(sql, "%s is readable from the repository root", path);
	cr_expect(strstr(sql, agora_outbox_schema_sql) != NULL,
		  "%s holds agora_outbox_schema_sql verbatim", path);
	free(sql);
}

Test(outbox_schema, copies_match_the_library)
{
	check("schemas/sql/broker/0005-negotiation.sql");
	check("schemas/sql/connector/0005-outbox.sql");
}
