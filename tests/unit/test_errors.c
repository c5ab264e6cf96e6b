/* test_errors.c — the error table: codes unique and > 1000, symbols unique,
 * bodies shaped {"code","error","detail"}, and docs/API.md lists every row. */
#include "errors.h"
#include "harness.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Test(errors, codes_and_symbols_are_unique)
{
	for (int i = 0; i < AGORA_E__COUNT; i++) {
		const struct agora_error_info *a = agora_error_info(i);
		cr_assert_gt(a->code, 1000);
		cr_assert(a->http_status >= 400 && a->http_status < 600);
		for (int j = i + 1; j < AGORA_E__COUNT; j++) {
			const struct agora_error_info *b = agora_error_info(j);
			cr_assert_neq(a->code, b->code, "%s and %s share a code", a->symbol, b->symbol);
			cr_assert_str_neq(a->symbol, b->symbol);
		}
	}
}

Test(errors, body_shape)
{
	json_t *e = agora_error_json(AGORA_E_BODY_TOO_LARGE, "too big");
	char *s = json_dumps(e, JSON_COMPACT);
	cr_assert_str_eq(s, "{\"code\":1004,\"error\":\"body_too_large\",\"detail\":\"too big\"}");
	free(s);
	json_decref(e);
	e = agora_error_json(AGORA_E_NOT_FOUND, NULL);
	cr_assert_str_eq(json_string_value(json_object_get(e, "detail")), "no such resource");
	json_decref(e);
}

Test(errors, documented_in_api_md)
{
	char *doc = harness_file_read("docs/API.md");
	cr_assert_not_null(doc, "docs/API.md is readable from the repository root");
	for (int i = 0; i < AGORA_E__COUNT; i++) {
		const struct agora_error_info *a = agora_error_info(i);
		char row[128];
		snprintf(row, sizeof row, "| %d | `%s` | %u |", a->code, a->symbol, a->http_status);
		cr_expect(strstr(doc, row) != NULL, "docs/API.md lacks the row %s", row);
	}
	free(doc);
}

Test(errors, detail_with_invalid_utf8_still_gives_a_body)
{
	/* Details quote client input: a bad byte, an overlong '/', a surrogate,
	 * and a character cut by a buffer's end each become '?'. */
	json_t *j = agora_error_json(AGORA_E_NOT_FOUND, "id '\xff\xfe' \xc0\xaf \xed\xa0\x80 caf\xc3\xa9 \xc3");
	cr_assert_not_null(j);
	cr_assert_str_eq(json_string_value(json_object_get(j, "detail")), "id '?" "?' ?" "? ?" "?" "? caf\xc3\xa9 ?");
	json_decref(j);
}
