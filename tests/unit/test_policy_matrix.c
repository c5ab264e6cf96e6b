/* test_policy_matrix.c — one row per operand × operator pair that makes
 * sense: a constraint, a request that satisfies it and one that does not.
 * Every row must permit the first and deny the second, so each typed
 * comparison is exercised in both directions. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"

struct row {
	const char *constraint;	/* leftOperand, operator, rightOperand */
	const char *permit;	/* request members (without "action") */
	const char *deny;
};

#define C(l, op, r) "{\"leftOperand\":\"" l "\",\"operator\":\"" op "\",\"rightOperand\":" r "}"

static const struct row rows[] = {
	/* dateTime: times compare as times */
	{ C("dateTime", "lt", "\"2026-06-01T00:00:00Z\""), "\"dateTime\":\"2026-05-31T23:59:59Z\"", "\"dateTime\":\"2026-06-01T00:00:00Z\"" },
	{ C("dateTime", "lteq", "\"2026-06-01T00:00:00Z\""), "\"dateTime\":\"2026-06-01T00:00:00Z\"", "\"dateTime\":\"2026-06-01T00:00:01Z\"" },
	{ C("dateTime", "gt", "\"2026-06-01T00:00:00+02:00\""), "\"dateTime\":\"2026-05-31T22:00:01Z\"", "\"dateTime\":\"2026-05-31T22:00:00Z\"" },
	{ C("dateTime", "gteq", "\"2026-06-01T00:00:00Z\""), "\"dateTime\":\"2026-06-01T00:00:00Z\"", "\"dateTime\":\"2026-05-31T00:00:00Z\"" },
	{ C("dateTime", "neq", "\"2026-06-01T00:00:00Z\""), "\"dateTime\":\"2026-06-02T00:00:00Z\"", "\"dateTime\":\"2026-06-01T00:00:00Z\"" },
	/* elapsedTime: durations from the agreement's start */
	{ C("elapsedTime", "lteq", "\"P30D\""), "\"agreementStart\":\"2026-01-01T00:00:00Z\",\"dateTime\":\"2026-01-31T00:00:00Z\"", "\"agreementStart\":\"2026-01-01T00:00:00Z\",\"dateTime\":\"2026-01-31T00:00:01Z\"" },
	{ C("elapsedTime", "lt", "\"PT1H\""), "\"agreementStart\":\"2026-01-01T00:00:00Z\",\"dateTime\":\"2026-01-01T00:59:59Z\"", "\"agreementStart\":\"2026-01-01T00:00:00Z\",\"dateTime\":\"2026-01-01T01:00:00Z\"" },
	/* count: numbers */
	{ C("count", "lteq", "3"), "\"count\":3", "\"count\":4" },
	{ C("count", "lt", "3"), "\"count\":2", "\"count\":3" },
	{ C("count", "eq", "1"), "\"count\":1", "\"count\":2" },
	{ C("count", "gteq", "2"), "\"count\":2", "\"count\":1" },
	/* percentage and payAmount (with its unit) */
	{ C("percentage", "lteq", "50"), "\"percentage\":50", "\"percentage\":50.5" },
	{ C("payAmount", "gteq", "10"), "\"payAmount\":10", "\"payAmount\":9.99" },
	/* purpose: concepts and sets */
	{ C("purpose", "eq", "\"research\""), "\"purpose\":\"research\"", "\"purpose\":\"advertising\"" },
	{ C("purpose", "neq", "\"advertising\""), "\"purpose\":\"research\"", "\"purpose\":\"advertising\"" },
	{ C("purpose", "isA", "\"scientific-research\""), "\"purpose\":\"medical-research\"", "\"purpose\":\"advertising\"" },
	{ C("purpose", "isAnyOf", "[\"research\",\"education\"]"), "\"purpose\":\"education\"", "\"purpose\":\"advertising\"" },
	{ C("purpose", "isNoneOf", "[\"advertising\",\"marketing\"]"), "\"purpose\":\"research\"", "\"purpose\":\"marketing\"" },
	{ C("purpose", "isAllOf", "[\"research\",\"education\"]"), "\"purpose\":[\"research\",\"education\",\"x\"]", "\"purpose\":[\"research\"]" },
	/* spatial: part-of hierarchies (EU members built in, ISO 3166-2) */
	{ C("spatial", "isPartOf", "\"EU\""), "\"spatial\":\"FR-69\"", "\"spatial\":\"US\"" },
	{ C("spatial", "eq", "\"FR\""), "\"spatial\":\"FR\"", "\"spatial\":\"DE\"" },
	{ C("spatial", "hasPart", "\"FR-69\""), "\"spatial\":\"FR\"", "\"spatial\":\"DE\"" },
	{ C("spatial", "isAnyOf", "[\"FR\",\"DE\"]"), "\"spatial\":\"DE\"", "\"spatial\":\"IT\"" },
	/* fileFormat, deliveryChannel, event, recipient, version */
	{ C("fileFormat", "isAnyOf", "[\"text/csv\",\"application/json\"]"), "\"fileFormat\":\"text/csv\"", "\"fileFormat\":\"application/xml\"" },
	{ C("fileFormat", "eq", "\"text/csv\""), "\"fileFormat\":\"text/csv\"", "\"fileFormat\":\"text/plain\"" },
	{ C("deliveryChannel", "eq", "\"HttpData-PULL\""), "\"deliveryChannel\":\"HttpData-PULL\"", "\"deliveryChannel\":\"HttpData-PUSH\"" },
	{ C("event", "eq", "\"urn:event:open-data-day\""), "\"event\":\"urn:event:open-data-day\"", "\"event\":\"urn:event:other\"" },
	{ C("recipient", "eq", "\"urn:agora:participant:a\""), "\"recipient\":\"urn:agora:participant:a\"", "\"recipient\":\"urn:agora:participant:b\"" },
	{ C("version", "gteq", "\"2.1\""), "\"version\":\"2.10\"", "\"version\":\"2.0.9\"" },
	/* participant attributes */
	{ C("industry", "eq", "\"public-sector\""), "\"attributes\":{\"industry\":\"public-sector\"}", "\"attributes\":{\"industry\":\"retail\"}" },
	{ C("agora:country", "isAnyOf", "[\"FR\",\"DE\"]"), "\"attributes\":{\"country\":\"FR\"}", "\"attributes\":{\"country\":\"US\"}" },
	{ C("agora:country", "isPartOf", "\"EU\""), "\"attributes\":{\"country\":\"DE\"}", "\"attributes\":{\"country\":\"CH\"}" },
	{ C("agora:certification", "eq", "\"iso27001\""), "\"attributes\":{\"certification\":\"iso27001\"}", "\"attributes\":{\"certification\":\"basic\"}" },
	{ C("agora:membership", "isAnyOf", "[\"eu-mobility\"]"), "\"attributes\":{\"memberships\":[\"eu-mobility\",\"x\"]}", "\"attributes\":{\"memberships\":[\"x\"]}" },
	/* more pairs: each operand with the rest of its operators */
	{ C("elapsedTime", "gt", "\"P1D\""), "\"agreementStart\":\"2026-01-01T00:00:00Z\",\"dateTime\":\"2026-01-02T00:00:01Z\"", "\"agreementStart\":\"2026-01-01T00:00:00Z\",\"dateTime\":\"2026-01-01T12:00:00Z\"" },
	{ C("elapsedTime", "gteq", "\"PT2H\""), "\"agreementStart\":\"2026-01-01T00:00:00Z\",\"dateTime\":\"2026-01-01T02:00:00Z\"", "\"agreementStart\":\"2026-01-01T00:00:00Z\",\"dateTime\":\"2026-01-01T01:59:59Z\"" },
	{ C("count", "gt", "2"), "\"count\":3", "\"count\":2" },
	{ C("count", "neq", "2"), "\"count\":3", "\"count\":2" },
	{ C("percentage", "lt", "50"), "\"percentage\":49.9", "\"percentage\":50" },
	{ C("percentage", "gt", "10"), "\"percentage\":10.1", "\"percentage\":10" },
	{ C("percentage", "eq", "25"), "\"percentage\":25", "\"percentage\":26" },
	{ C("payAmount", "lteq", "100"), "\"payAmount\":100", "\"payAmount\":100.01" },
	{ C("payAmount", "eq", "5"), "\"payAmount\":5", "\"payAmount\":6" },
	{ C("version", "eq", "\"1.2\""), "\"version\":\"1.2\"", "\"version\":\"1.3\"" },
	{ C("version", "lt", "\"2.0\""), "\"version\":\"1.9.9\"", "\"version\":\"2.0\"" },
	{ C("delayPeriod", "gteq", "\"PT1H\""), "\"delayPeriod\":\"PT2H\"", "\"delayPeriod\":\"PT30M\"" },
	{ C("meteredTime", "lteq", "\"PT10H\""), "\"meteredTime\":\"PT9H\"", "\"meteredTime\":\"PT11H\"" },
	{ C("spatial", "neq", "\"US\""), "\"spatial\":\"FR\"", "\"spatial\":\"US\"" },
	{ C("spatial", "isNoneOf", "[\"US\",\"CN\"]"), "\"spatial\":\"DE\"", "\"spatial\":\"CN\"" },
	{ C("spatial", "isA", "\"EU\""), "\"spatial\":\"IT\"", "\"spatial\":\"NO\"" },
	{ C("deliveryChannel", "isAnyOf", "[\"HttpData-PULL\"]"), "\"deliveryChannel\":\"HttpData-PULL\"", "\"deliveryChannel\":\"HttpData-PUSH\"" },
	{ C("deliveryChannel", "isNoneOf", "[\"HttpData-PUSH\"]"), "\"deliveryChannel\":\"HttpData-PULL\"", "\"deliveryChannel\":\"HttpData-PUSH\"" },
	{ C("event", "isAnyOf", "[\"urn:event:a\",\"urn:event:b\"]"), "\"event\":\"urn:event:b\"", "\"event\":\"urn:event:c\"" },
	{ C("recipient", "isAnyOf", "[\"urn:agora:participant:a\"]"), "\"recipient\":\"urn:agora:participant:a\"", "\"recipient\":\"urn:agora:participant:b\"" },
	{ C("recipient", "neq", "\"urn:agora:participant:b\""), "\"recipient\":\"urn:agora:participant:a\"", "\"recipient\":\"urn:agora:participant:b\"" },
	{ C("fileFormat", "isNoneOf", "[\"application/xml\"]"), "\"fileFormat\":\"text/csv\"", "\"fileFormat\":\"application/xml\"" },
	{ C("fileFormat", "neq", "\"text/plain\""), "\"fileFormat\":\"text/csv\"", "\"fileFormat\":\"text/plain\"" },
	{ C("industry", "isAnyOf", "[\"public-sector\",\"mobility\"]"), "\"attributes\":{\"industry\":\"mobility\"}", "\"attributes\":{\"industry\":\"retail\"}" },
	{ C("industry", "isNoneOf", "[\"advertising\"]"), "\"attributes\":{\"industry\":\"mobility\"}", "\"attributes\":{\"industry\":\"advertising\"}" },
	{ C("agora:certification", "isAnyOf", "[\"iso27001\",\"soc2\"]"), "\"attributes\":{\"certification\":\"soc2\"}", "\"attributes\":{\"certification\":\"none\"}" },
	{ C("agora:country", "neq", "\"US\""), "\"attributes\":{\"country\":\"FR\"}", "\"attributes\":{\"country\":\"US\"}" },
	{ C("agora:country", "isNoneOf", "[\"US\"]"), "\"attributes\":{\"country\":\"FR\"}", "\"attributes\":{\"country\":\"US\"}" },
};

static struct agora_policy_config *cfg;

static void
setup(void)
{
	cfg = agora_policy_config_new();
	cr_assert_eq(agora_policy_config_add_concept(cfg, "purpose", "research", "scientific-research"), 0);
	cr_assert_eq(agora_policy_config_add_concept(cfg, "purpose", "medical-research", "research"), 0);
}

static void
teardown(void)
{
	agora_policy_config_free(cfg);
}

TestSuite(policy_matrix, .init = setup, .fini = teardown);

static const char *
decide(const struct agora_policy *p, const char *members)
{
	static char verdict[32];
	char text[1024];
	snprintf(text, sizeof text, "{\"action\":\"use\",%s}", members);
	json_error_t e;
	json_t *rj = json_loads(text, 0, &e);
	cr_assert_not_null(rj, "bad request JSON %s: %s", text, e.text);
	struct agora_policy_problems *pr = agora_policy_problems_new();
	struct agora_policy_request *r = agora_policy_request_from_json(rj, pr);
	cr_assert_not_null(r, "request refused: %s", text);
	json_t *d = agora_policy_eval(p, r);
	snprintf(verdict, sizeof verdict, "%s", json_string_value(json_object_get(d, "decision")));
	json_decref(d);
	agora_policy_request_free(r);
	agora_policy_problems_free(pr);
	json_decref(rj);
	return verdict;
}

Test(policy_matrix, every_row_permits_and_denies)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char text[1024];
		snprintf(text, sizeof text,
			 "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"constraint\":[%s]}]}",
			 rows[i].constraint);
		json_t *j = json_loads(text, 0, NULL);
		struct agora_policy_problems *pr = agora_policy_problems_new();
		struct agora_policy *p = agora_policy_parse(j, cfg, pr);
		cr_assert_not_null(p, "row %zu: %s refused: %s", i, rows[i].constraint,
				   agora_policy_problems_count(pr) ? agora_policy_problem_message(pr, 0) : "");
		cr_expect_str_eq(decide(p, rows[i].permit), "permit", "row %zu: %s with %s", i,
				 rows[i].constraint, rows[i].permit);
		cr_expect_str_eq(decide(p, rows[i].deny), "deny", "row %zu: %s with %s", i,
				 rows[i].constraint, rows[i].deny);
		agora_policy_free(p);
		agora_policy_problems_free(pr);
		json_decref(j);
	}
}

Test(policy_matrix, operators_that_do_not_fit_are_refused)
{
	static const char *const bad[] = {
		C("dateTime", "isAnyOf", "[\"2026-01-01T00:00:00Z\"]"),
		C("count", "isA", "\"x\""),
		C("purpose", "lt", "\"research\""),
		C("count", "lteq", "\"three\""),
		C("dateTime", "lt", "\"yesterday\""),
		C("elapsedTime", "lteq", "\"30 days\""),
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char text[1024];
		snprintf(text, sizeof text,
			 "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"constraint\":[%s]}]}", bad[i]);
		json_t *j = json_loads(text, 0, NULL);
		struct agora_policy_problems *pr = agora_policy_problems_new();
		cr_expect_null(agora_policy_parse(j, cfg, pr), "%s must be refused", bad[i]);
		cr_expect_gt(agora_policy_problems_count(pr), 0);
		agora_policy_problems_free(pr);
		json_decref(j);
	}
}

Test(policy_matrix, missing_values_never_permit)
{
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		char text[1024];
		snprintf(text, sizeof text,
			 "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"constraint\":[%s]}]}",
			 rows[i].constraint);
		json_t *j = json_loads(text, 0, NULL);
		struct agora_policy *p = agora_policy_parse(j, cfg, NULL);
		cr_assert_not_null(p);
		/* A request that says nothing about the operand (the clock is
		 * always known: dateTime rows are skipped). */
		if (strstr(rows[i].constraint, "\"dateTime\""))
			goto next;
		const char *v = decide(p, "\"target\":\"urn:x\"");
		cr_expect(strcmp(v, "permit") != 0, "row %zu: %s permitted without a value", i,
			  rows[i].constraint);
next:
		agora_policy_free(p);
		json_decref(j);
	}
}
