/* Policy engine: evaluation (operands × operators, logic, conflicts, duties). */
#include <criterion/criterion.h>
#include <string.h>

#include "policy.h"

static struct agora_policy_config *cfg;

static void setup(void)
{
	cfg = agora_policy_config_new();
	cr_assert_eq(agora_policy_config_add_concept(cfg, "purpose", "research", "scientific-research"), 0);
	cr_assert_eq(agora_policy_config_add_concept(cfg, "purpose", "medical-research", "research"), 0);
	cr_assert_eq(agora_policy_config_add_concept(cfg, "purpose", "advertising", "commercial"), 0);
	cr_assert_eq(agora_policy_config_add_concept(cfg, "spatial", "Lyon", "FR-69"), 0);
	cr_assert_eq(agora_policy_config_add_concept(cfg, "fileFormat", "text/csv", "tabular"), 0);
}

static void teardown(void)
{
	agora_policy_config_free(cfg);
}

TestSuite(policy_eval, .init = setup, .fini = teardown);

static struct agora_policy *pol(const char *text)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);
	cr_assert_not_null(j, "bad test JSON: %s", err.text);
	struct agora_policy_problems *pr = agora_policy_problems_new();
	struct agora_policy *p = agora_policy_parse(j, cfg, pr);
	if (!p) {
		json_t *pj = agora_policy_problems_to_json(pr);
		char *s = json_dumps(pj, 0);
		cr_assert_not_null(p, "policy refused: %s", s);
	}
	agora_policy_problems_free(pr);
	json_decref(j);
	return p;
}

/* A permission of "use" with one constraint. */
static struct agora_policy *perm1(const char *constraint)
{
	char buf[4096];
	snprintf(buf, sizeof(buf),
	         "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"constraint\":[%s]}]}",
	         constraint);
	return pol(buf);
}

/* Evaluates and returns the decision JSON (new reference). */
static json_t *ev(const struct agora_policy *p, const char *req)
{
	json_error_t err;
	json_t *rj = json_loads(req, 0, &err);
	cr_assert_not_null(rj, "bad request JSON: %s", err.text);
	struct agora_policy_problems *pr = agora_policy_problems_new();
	struct agora_policy_request *r = agora_policy_request_from_json(rj, pr);
	cr_assert_not_null(r, "request refused");
	json_t *d = agora_policy_eval(p, r);
	agora_policy_request_free(r);
	agora_policy_problems_free(pr);
	json_decref(rj);
	return d;
}

static const char *decision(const json_t *d)
{
	return json_string_value(json_object_get(d, "decision"));
}

static const char *reason_code(const json_t *d, size_t i)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(d, "reasons"), i), "code"));
}

static const char *reason_field(const json_t *d, size_t i, const char *k)
{
	return json_string_value(json_object_get(json_array_get(json_object_get(d, "reasons"), i), k));
}

/* Asserts the verdict of P on REQ; when CODE is set, also reasons[0].code. */
#define EXPECT(p, req, verdict, code)                                                       \
	do {                                                                                  \
		json_t *d_ = ev((p), (req));                                                      \
		char *s_ = json_dumps(d_, 0);                                                     \
		cr_assert_str_eq(decision(d_), (verdict), "%s -> %s", (req), s_);                 \
		if ((code) != NULL)                                                               \
			cr_assert_str_eq(reason_code(d_, 0), (const char *)(code), "%s -> %s", (req), s_); \
		free(s_);                                                                         \
		json_decref(d_);                                                                  \
	} while (0)

#define NOCODE ((const char *)NULL)

/* ---------------------------------------------------------------- dateTime */

Test(policy_eval, datetime_lteq_date_includes_whole_day)
{
	struct agora_policy *p = perm1("{\"leftOperand\":\"dateTime\",\"operator\":\"lteq\",\"rightOperand\":\"2026-12-31\"}");
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2026-12-31T23:59:59Z\"}", "permit", "granted");
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2027-01-01T00:00:00Z\"}", "deny", "violated");
	agora_policy_free(p);
}

Test(policy_eval, datetime_operators)
{
	struct agora_policy *p;
	p = perm1("{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2026-01-01T00:00:00Z\"}");
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-12-31T23:59:59Z\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2026-01-01T00:00:00Z\"}", "deny", "violated");
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"odrl:dateTime\",\"operator\":\"odrl:gteq\",\"rightOperand\":{\"@value\":\"2025-06-01T00:00:00+02:00\",\"@type\":\"xsd:dateTime\"}}");
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-05-31T22:00:00Z\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-05-31T21:59:59Z\"}", "deny", "violated");
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"dateTime\",\"operator\":\"gt\",\"rightOperand\":\"2025-06-01\"}");
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-06-01T12:00:00Z\"}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-06-02T00:00:00Z\"}", "permit", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"dateTime\",\"operator\":\"eq\",\"rightOperand\":\"2025-06-01\"}");
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-06-01T12:00:00Z\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-06-02T12:00:00Z\"}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"dateTime\",\"operator\":\"neq\",\"rightOperand\":\"2025-06-01\"}");
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-06-01T12:00:00Z\"}", "deny", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-06-02T12:00:00Z\"}", "permit", NOCODE);
	agora_policy_free(p);
}

Test(policy_eval, datetime_window_with_and)
{
	struct agora_policy *p = pol("{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":["
	    "{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2025-01-01\"},"
	    "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2026-01-01\"}]}]}");
	EXPECT(p, "{\"action\":\"read\",\"dateTime\":\"2024-12-31T23:59:59Z\"}", "deny", "violated");
	EXPECT(p, "{\"action\":\"read\",\"dateTime\":\"2025-07-01T10:00:00Z\"}", "permit", "granted");
	json_t *d = ev(p, "{\"action\":\"read\",\"dateTime\":\"2026-01-01T00:00:00Z\"}");
	cr_assert_str_eq(reason_field(d, 0, "constraint"), "permission[0].constraint[1]");
	cr_assert_str_eq(reason_field(d, 0, "rule"), "permission[0]");
	json_decref(d);
	agora_policy_free(p);
}

/* ------------------------------------------------------------- elapsedTime */

Test(policy_eval, elapsed_time_from_agreement_start)
{
	struct agora_policy *p = perm1("{\"leftOperand\":\"elapsedTime\",\"operator\":\"lteq\",\"rightOperand\":\"P30D\"}");
	EXPECT(p, "{\"action\":\"use\",\"agreementStart\":\"2025-01-01T00:00:00Z\",\"dateTime\":\"2025-01-31T00:00:00Z\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"agreementStart\":\"2025-01-01T00:00:00Z\",\"dateTime\":\"2025-01-31T00:00:01Z\"}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\",\"dateTime\":\"2025-01-31T00:00:00Z\"}", "deny", "missing_value");
	agora_policy_free(p);
	/* calendar months: one month from 31 Jan is 28 Feb */
	p = perm1("{\"leftOperand\":\"elapsedTime\",\"operator\":\"lt\",\"rightOperand\":\"P1M\"}");
	EXPECT(p, "{\"action\":\"use\",\"agreementStart\":\"2025-01-31T00:00:00Z\",\"dateTime\":\"2025-02-27T23:00:00Z\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"agreementStart\":\"2025-01-31T00:00:00Z\",\"dateTime\":\"2025-02-28T00:00:00Z\"}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"elapsedTime\",\"operator\":\"gt\",\"rightOperand\":\"PT1H30M\"}");
	EXPECT(p, "{\"action\":\"use\",\"agreementStart\":\"2025-01-01T00:00:00Z\",\"dateTime\":\"2025-01-01T01:30:01Z\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"agreementStart\":\"2025-01-01T00:00:00Z\",\"dateTime\":\"2025-01-01T01:30:00Z\"}", "deny", NOCODE);
	agora_policy_free(p);
}

/* ------------------------------------------------------------------- count */

Test(policy_eval, count_lteq_allows_exactly_n)
{
	struct agora_policy *p = perm1("{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":3}");
	EXPECT(p, "{\"action\":\"use\",\"count\":1}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"count\":3}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"count\":4}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\"}", "deny", "missing_value");
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"count\",\"operator\":\"lt\",\"rightOperand\":\"3\"}");
	EXPECT(p, "{\"action\":\"use\",\"count\":3}", "deny", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"count\":2}", "permit", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"count\",\"operator\":\"eq\",\"rightOperand\":1}");
	EXPECT(p, "{\"action\":\"use\",\"count\":1}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"count\":2}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"count\",\"operator\":\"gteq\",\"rightOperand\":2}");
	EXPECT(p, "{\"action\":\"use\",\"count\":1}", "deny", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"count\":2}", "permit", NOCODE);
	agora_policy_free(p);
}

/* ----------------------------------------------------------------- purpose */

Test(policy_eval, purpose_set_operators)
{
	struct agora_policy *p;
	p = perm1("{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"research\",\"education\"]}");
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"education\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"medical-research\"}", "permit", NOCODE); /* narrower */
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"commercial\"}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\",\"purpose\":[\"research\",\"commercial\"]}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\"}", "deny", "missing_value");
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"purpose\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"commercial\"]}");
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"research\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"advertising\"}", "deny", "violated");
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"purpose\",\"operator\":\"isAllOf\",\"rightOperand\":[\"research\",\"education\"]}");
	EXPECT(p, "{\"action\":\"use\",\"purpose\":[\"education\",\"research\"]}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"purpose\":[\"research\"]}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"research\"}");
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"research\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"medical-research\"}", "deny", NOCODE); /* eq is exact */
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"purpose\",\"operator\":\"neq\",\"rightOperand\":\"commercial\"}");
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"research\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"commercial\"}", "deny", NOCODE);
	agora_policy_free(p);
}

Test(policy_eval, purpose_isA_uses_concept_hierarchy)
{
	struct agora_policy *p = perm1("{\"leftOperand\":\"purpose\",\"operator\":\"isA\",\"rightOperand\":\"scientific-research\"}");
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"research\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"medical-research\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"scientific-research\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"purpose\":\"marketing\"}", "deny", "violated");
	agora_policy_free(p);
}

/* ----------------------------------------------------------------- spatial */

Test(policy_eval, spatial_isPartOf_and_hasPart)
{
	struct agora_policy *p = perm1("{\"leftOperand\":\"spatial\",\"operator\":\"isPartOf\",\"rightOperand\":\"EU\"}");
	EXPECT(p, "{\"action\":\"use\",\"spatial\":\"FR\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"spatial\":\"FR-69\"}", "permit", NOCODE); /* ISO 3166-2 */
	EXPECT(p, "{\"action\":\"use\",\"spatial\":\"Lyon\"}", "permit", NOCODE);  /* configured */
	EXPECT(p, "{\"action\":\"use\",\"spatial\":\"US\"}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\",\"spatial\":\"US-CA\"}", "deny", "violated");
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"spatial\",\"operator\":\"hasPart\",\"rightOperand\":\"FR-69\"}");
	EXPECT(p, "{\"action\":\"use\",\"spatial\":\"FR\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"spatial\":\"DE\"}", "deny", NOCODE);
	agora_policy_free(p);
	/* the DSP example form: blank-node right operand */
	p = perm1("{\"leftOperand\":\"spatial\",\"operator\":\"eq\",\"rightOperand\":\"_:EU\"}");
	EXPECT(p, "{\"action\":\"use\",\"spatial\":\"EU\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"spatial\":\"FR\"}", "deny", NOCODE);
	agora_policy_free(p);
}

/* ------------------------------------------------------- other operands */

Test(policy_eval, pay_amount_with_unit)
{
	struct agora_policy *p = perm1("{\"leftOperand\":\"payAmount\",\"operator\":\"gteq\",\"rightOperand\":10.5,\"unit\":\"EUR\"}");
	EXPECT(p, "{\"action\":\"use\",\"payAmount\":10.5,\"unit\":\"EUR\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"payAmount\":10,\"unit\":\"EUR\"}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\",\"payAmount\":100,\"unit\":\"USD\"}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\",\"payAmount\":100}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\"}", "deny", "missing_value");
	agora_policy_free(p);
}

Test(policy_eval, percentage_version_and_durations)
{
	struct agora_policy *p = perm1("{\"leftOperand\":\"percentage\",\"operator\":\"lteq\",\"rightOperand\":25}");
	EXPECT(p, "{\"action\":\"use\",\"percentage\":25}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"percentage\":25.1}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"version\",\"operator\":\"gteq\",\"rightOperand\":\"2.1\"}");
	EXPECT(p, "{\"action\":\"use\",\"version\":\"2.10\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"version\":\"2.1.0\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"version\":\"2.0.9\"}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"meteredTime\",\"operator\":\"lt\",\"rightOperand\":\"PT2H\"}");
	EXPECT(p, "{\"action\":\"use\",\"meteredTime\":\"PT1H59M\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"meteredTime\":7200}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"delayPeriod\",\"operator\":\"gteq\",\"rightOperand\":\"PT1H\"}");
	EXPECT(p, "{\"action\":\"use\",\"delayPeriod\":\"PT1H\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"delayPeriod\":\"PT59M\"}", "deny", NOCODE);
	agora_policy_free(p);
}

Test(policy_eval, file_format_channel_event_recipient)
{
	struct agora_policy *p = perm1("{\"leftOperand\":\"fileFormat\",\"operator\":\"isA\",\"rightOperand\":\"tabular\"}");
	EXPECT(p, "{\"action\":\"use\",\"fileFormat\":\"text/csv\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"fileFormat\":\"application/pdf\"}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"deliveryChannel\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"HttpData-PULL\"]}");
	EXPECT(p, "{\"action\":\"use\",\"deliveryChannel\":\"HttpData-PULL\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"deliveryChannel\":\"HttpData-PUSH\"}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"event\",\"operator\":\"eq\",\"rightOperand\":\"smart-city-expo\"}");
	EXPECT(p, "{\"action\":\"use\",\"event\":\"smart-city-expo\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\"}", "deny", "missing_value");
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"recipient\",\"operator\":\"isNoneOf\",\"rightOperand\":[\"did:web:evil.example\"]}");
	EXPECT(p, "{\"action\":\"use\",\"assignee\":\"did:web:good.example\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"assignee\":\"did:web:good.example\",\"recipient\":\"did:web:evil.example\"}", "deny", NOCODE);
	agora_policy_free(p);
}

Test(policy_eval, participant_attributes)
{
	struct agora_policy *p = perm1("{\"leftOperand\":\"industry\",\"operator\":\"eq\",\"rightOperand\":\"public-sector\"}");
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"industry\":\"public-sector\"}}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"industry\":\"retail\"}}", "deny", "violated");
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"agora:country\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"FR\",\"DE\"]}");
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"country\":\"FR\"}}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"country\":\"IT\"}}", "deny", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{}}", "deny", "missing_value");
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"https://w3id.org/agora/ns#certification\",\"operator\":\"isAllOf\",\"rightOperand\":[\"ISO27001\",\"SOC2\"]}");
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"certification\":[\"SOC2\",\"ISO27001\",\"HDS\"]}}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"certification\":[\"SOC2\"]}}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"agora:membership\",\"operator\":\"eq\",\"rightOperand\":\"gold\"}");
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"membership\":\"gold\"}}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"membership\":\"silver\"}}", "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"leftOperand\":\"agora:employees\",\"operator\":\"gt\",\"rightOperand\":50}");
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"employees\":51}}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"employees\":\"many\"}}", "deny", NOCODE);
	agora_policy_free(p);
}

/* ---------------------------------------------------------------- logical */

#define GOLD "{\"leftOperand\":\"agora:membership\",\"operator\":\"eq\",\"rightOperand\":\"gold\"}"
#define FRANCE "{\"leftOperand\":\"agora:country\",\"operator\":\"eq\",\"rightOperand\":\"FR\"}"
#define GOLD_FR(m, c) "{\"action\":\"use\",\"attributes\":{\"membership\":\"" m "\",\"country\":\"" c "\"}}"

Test(policy_eval, logical_and_or_xone_andSequence)
{
	struct agora_policy *p = perm1("{\"and\":[" GOLD "," FRANCE "]}");
	EXPECT(p, GOLD_FR("gold", "FR"), "permit", NOCODE);
	EXPECT(p, GOLD_FR("gold", "DE"), "deny", "violated");
	agora_policy_free(p);
	p = perm1("{\"or\":[" GOLD "," FRANCE "]}");
	EXPECT(p, GOLD_FR("silver", "FR"), "permit", NOCODE);
	EXPECT(p, GOLD_FR("silver", "DE"), "deny", "violated");
	json_t *d = ev(p, GOLD_FR("silver", "DE"));
	cr_assert_str_eq(reason_field(d, 0, "constraint"), "permission[0].constraint[0]");
	json_decref(d);
	agora_policy_free(p);
	p = perm1("{\"xone\":[" GOLD "," FRANCE "]}");
	EXPECT(p, GOLD_FR("gold", "DE"), "permit", NOCODE);
	EXPECT(p, GOLD_FR("silver", "FR"), "permit", NOCODE);
	EXPECT(p, GOLD_FR("gold", "FR"), "deny", "violated");
	EXPECT(p, GOLD_FR("silver", "DE"), "deny", "violated");
	agora_policy_free(p);
	p = perm1("{\"andSequence\":{\"@list\":[" GOLD "," FRANCE "]}}");
	EXPECT(p, GOLD_FR("gold", "FR"), "permit", NOCODE);
	EXPECT(p, GOLD_FR("silver", "FR"), "deny", NOCODE);
	agora_policy_free(p);
	p = perm1("{\"odrl:or\":[{\"and\":[" GOLD "," FRANCE "]}, {\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1}]}");
	EXPECT(p, "{\"action\":\"use\",\"count\":1}", "permit", NOCODE);
	EXPECT(p, GOLD_FR("gold", "FR"), "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"count\":2}", "deny", NOCODE);
	agora_policy_free(p);
}

/* ---------------------------------------------------------------- actions */

Test(policy_eval, action_hierarchy)
{
	struct agora_policy *p = pol("{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\"}]}");
	EXPECT(p, "{\"action\":\"read\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"odrl:distribute\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"extract\"}", "permit", NOCODE); /* extract < reproduce < use */
	EXPECT(p, "{\"action\":\"transfer\"}", "not_applicable", "no_rule");
	EXPECT(p, "{\"action\":\"sell\"}", "not_applicable", "no_rule");
	EXPECT(p, "{\"action\":\"teleport\"}", "deny", "unknown_action");
	agora_policy_free(p);
	p = pol("{\"@type\":\"Set\",\"permission\":[{\"action\":\"read\"}]}");
	EXPECT(p, "{\"action\":\"read\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\"}", "not_applicable", NOCODE); /* broader than granted */
	EXPECT(p, "{\"action\":\"print\"}", "not_applicable", NOCODE);
	agora_policy_free(p);
	cr_assert(agora_policy_action_included(cfg, "print", "use"));
	cr_assert(agora_policy_action_included(cfg, "give", "transfer"));
	cr_assert_not(agora_policy_action_included(cfg, "transfer", "use"));
	cr_assert_eq(agora_policy_config_add_action(cfg, "agora:analyze", "derive"), 0);
	cr_assert(agora_policy_action_included(cfg, "agora:analyze", "use"));
}

Test(policy_eval, refinement_on_action)
{
	struct agora_policy *p = pol("{\"@type\":\"Set\",\"permission\":[{\"action\":{\"rdf:value\":{\"@id\":\"odrl:distribute\"},"
	    "\"refinement\":[{\"leftOperand\":\"spatial\",\"operator\":\"isPartOf\",\"rightOperand\":\"EU\"}]}}]}");
	EXPECT(p, "{\"action\":\"distribute\",\"spatial\":\"DE\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"distribute\",\"spatial\":\"CH\"}", "deny", "refinement_not_met");
	json_t *d = ev(p, "{\"action\":\"distribute\",\"spatial\":\"CH\"}");
	cr_assert_str_eq(reason_field(d, 0, "constraint"), "permission[0].action.refinement[0]");
	json_decref(d);
	agora_policy_free(p);
}

/* -------------------------------------------------------------- conflicts */

#define CONFLICT(strategy) \
	"{\"@type\":\"Set\"" strategy ",\"permission\":[{\"action\":\"use\"}],\"prohibition\":[{\"action\":\"distribute\"," \
	"\"remedy\":[{\"action\":\"inform\",\"target\":\"mailto:dpo@provider.example\"}]}]}"

Test(policy_eval, conflict_invalid_is_default)
{
	struct agora_policy *p = pol(CONFLICT(""));
	EXPECT(p, "{\"action\":\"distribute\"}", "deny", "conflict_invalid");
	EXPECT(p, "{\"action\":\"read\"}", "permit", "granted");
	json_t *d = ev(p, "{\"action\":\"distribute\"}");
	cr_assert_str_eq(reason_field(d, 0, "rule"), "prohibition[0]");
	cr_assert_str_eq(reason_field(d, 0, "conflictsWith"), "permission[0]");
	json_t *remedy = json_object_get(json_array_get(json_object_get(d, "reasons"), 0), "remedy");
	cr_assert_eq(json_array_size(remedy), 1);
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(remedy, 0), "action")), "inform");
	json_decref(d);
	agora_policy_free(p);
}

Test(policy_eval, conflict_perm_and_prohibit)
{
	struct agora_policy *p = pol(CONFLICT(",\"conflict\":\"perm\""));
	EXPECT(p, "{\"action\":\"distribute\"}", "permit", "conflict_perm");
	agora_policy_free(p);
	p = pol(CONFLICT(",\"conflict\":\"odrl:prohibit\""));
	EXPECT(p, "{\"action\":\"distribute\"}", "deny", "conflict_prohibit");
	EXPECT(p, "{\"action\":\"read\"}", "permit", NOCODE);
	agora_policy_free(p);
}

Test(policy_eval, prohibition_alone_and_with_constraint)
{
	struct agora_policy *p = pol("{\"@type\":\"Set\",\"prohibition\":[{\"action\":\"use\",\"constraint\":["
	    "{\"leftOperand\":\"spatial\",\"operator\":\"isPartOf\",\"rightOperand\":\"EU\"}]}],"
	    "\"permission\":[{\"action\":\"read\",\"constraint\":[{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1}]}]}");
	EXPECT(p, "{\"action\":\"print\",\"spatial\":\"FR\"}", "deny", "prohibited");
	EXPECT(p, "{\"action\":\"print\",\"spatial\":\"US\"}", "deny", NOCODE); /* covered, not granted */
	EXPECT(p, "{\"action\":\"read\",\"spatial\":\"US\",\"count\":1}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"read\",\"spatial\":\"FR\",\"count\":1}", "deny", "conflict_invalid");
	EXPECT(p, "{\"action\":\"read\",\"spatial\":\"FR\",\"count\":2}", "deny", "prohibited");
	agora_policy_free(p);
}

/* ------------------------------------------------------------------ duties */

#define DUTIES \
	"{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"duty\":[" \
	"{\"action\":\"delete\",\"constraint\":[{\"leftOperand\":\"elapsedTime\",\"operator\":\"eq\",\"rightOperand\":\"P30D\"}]}," \
	"{\"action\":\"anonymize\",\"uid\":\"urn:duty:anon\",\"fields\":[\"name\",\"email\"]}," \
	"{\"action\":\"inform\",\"target\":\"https://provider.example/usage\",\"constraint\":[{\"leftOperand\":\"spatial\",\"operator\":\"isPartOf\",\"rightOperand\":\"EU\"}]," \
	"\"consequence\":[{\"action\":\"compensate\",\"constraint\":[{\"leftOperand\":\"payAmount\",\"operator\":\"eq\",\"rightOperand\":50,\"unit\":\"EUR\"}]}]}]}]," \
	"\"obligation\":[{\"action\":\"attribute\"}]}"

Test(policy_eval, duties_listed_with_parameters)
{
	struct agora_policy *p = pol(DUTIES);
	json_t *d = ev(p, "{\"action\":\"read\",\"spatial\":\"FR\"}");
	cr_assert_str_eq(decision(d), "permit");
	json_t *duties = json_object_get(d, "duties");
	cr_assert_eq(json_array_size(duties), 4);
	json_t *del = json_array_get(duties, 0);
	cr_assert_str_eq(json_string_value(json_object_get(del, "action")), "delete");
	cr_assert_str_eq(json_string_value(json_object_get(del, "elapsedTime")), "P30D");
	cr_assert_str_eq(json_string_value(json_object_get(del, "rule")), "permission[0].duty[0]");
	json_t *anon = json_array_get(duties, 1);
	cr_assert_str_eq(json_string_value(json_array_get(json_object_get(anon, "fields"), 1)), "email");
	json_t *inf = json_array_get(duties, 2);
	cr_assert_str_eq(json_string_value(json_object_get(inf, "target")), "https://provider.example/usage");
	json_t *cons = json_object_get(inf, "consequence");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(cons, 0), "action")), "compensate");
	cr_assert_str_eq(json_string_value(json_object_get(json_array_get(duties, 3), "action")), "attribute");
	json_decref(d);
	agora_policy_free(p);
}

Test(policy_eval, fulfilled_and_conditional_duties_drop_out)
{
	struct agora_policy *p = pol(DUTIES);
	/* outside the EU the inform duty does not apply; anonymize done (by uid),
	 * delete done (by path), attribute done (by action) */
	json_t *d = ev(p, "{\"action\":\"read\",\"spatial\":\"US\",\"fulfilledDuties\":"
	                  "[\"urn:duty:anon\",\"permission[0].duty[0]\",\"attribute\"]}");
	cr_assert_str_eq(decision(d), "permit");
	cr_assert_eq(json_array_size(json_object_get(d, "duties")), 0);
	json_decref(d);
	agora_policy_free(p);
}

Test(policy_eval, fewest_duties_wins_among_permissions)
{
	struct agora_policy *p = pol("{\"@type\":\"Set\",\"permission\":["
	    "{\"action\":\"use\",\"duty\":[{\"action\":\"compensate\"}]},"
	    "{\"action\":\"read\",\"constraint\":[{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"research\"}]}]}");
	json_t *d = ev(p, "{\"action\":\"read\",\"purpose\":\"research\"}");
	cr_assert_str_eq(reason_field(d, 0, "rule"), "permission[1]");
	cr_assert_eq(json_array_size(json_object_get(d, "duties")), 0);
	json_decref(d);
	d = ev(p, "{\"action\":\"read\",\"purpose\":\"commercial\"}");
	cr_assert_str_eq(reason_field(d, 0, "rule"), "permission[0]");
	cr_assert_eq(json_array_size(json_object_get(d, "duties")), 1);
	json_decref(d);
	agora_policy_free(p);
}

/* ------------------------------------------------------ parties, targets */

#define AGREEMENT \
	"{\"@type\":\"Agreement\",\"@id\":\"urn:agr:1\",\"assigner\":\"did:web:prov\",\"assignee\":\"did:web:cons\"," \
	"\"target\":\"urn:ds:1\",\"permission\":[{\"action\":\"use\"}]}"

Test(policy_eval, agreement_assignee_and_target)
{
	struct agora_policy *p = pol(AGREEMENT);
	EXPECT(p, "{\"action\":\"use\",\"assignee\":\"did:web:cons\",\"target\":\"urn:ds:1\"}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"assignee\":\"did:web:other\",\"target\":\"urn:ds:1\"}", "deny", "other_assignee");
	EXPECT(p, "{\"action\":\"use\",\"target\":\"urn:ds:1\"}", "deny", "other_assignee");
	EXPECT(p, "{\"action\":\"use\",\"assignee\":\"did:web:cons\",\"target\":\"urn:ds:2\"}", "not_applicable", "no_rule");
	agora_policy_free(p);
}

Test(policy_eval, party_collection_refinement)
{
	struct agora_policy *p = pol("{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"assignee\":{\"@type\":\"PartyCollection\","
	    "\"refinement\":[{\"leftOperand\":\"agora:country\",\"operator\":\"isPartOf\",\"rightOperand\":\"EU\"}]}}]}");
	cr_assert_eq(agora_policy_config_add_concept(cfg, "country", "FR", "EU"), 0);
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"country\":\"FR\"}}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"country\":\"US\"}}", "deny", "other_assignee");
	agora_policy_free(p);
}

Test(policy_eval, profile_operands_read_attributes)
{
	/* the DSP example agreement uses "partner" under a declared profile */
	struct agora_policy *p = pol("{\"@type\":\"Set\",\"profile\":\"https://test.com/profile\",\"permission\":[{\"action\":\"use\","
	    "\"constraint\":[{\"leftOperand\":\"partner\",\"operator\":\"eq\",\"rightOperand\":\"gold\"}]}]}");
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"partner\":\"gold\"}}", "permit", NOCODE);
	EXPECT(p, "{\"action\":\"use\",\"attributes\":{\"partner\":\"silver\"}}", "deny", "violated");
	EXPECT(p, "{\"action\":\"use\"}", "deny", "missing_value");
	agora_policy_free(p);
}

/* ------------------------------------------------------------- decide API */

Test(policy_eval, decide_struct_api_without_json)
{
	struct agora_policy *p = pol("{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"constraint\":["
	    "{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2027-01-01\"},"
	    "{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"research\",\"education\"]},"
	    "{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":100}]}]}");
	const char *purpose[] = { "research" };
	struct agora_policy_request r = { .action = "read", .now_ms = 1767225600000LL /* 2026-01-01 */,
		                          .has_now = true, .count = 100, .has_count = true,
		                          .purpose = { purpose, 1 } };
	struct agora_policy_decision d;
	cr_assert_eq(agora_policy_decide(p, &r, &d), AGORA_POLICY_PERMIT);
	cr_assert_eq(d.n_reasons, 4);
	cr_assert_eq(d.reasons[0].code, AGORA_POLICY_R_GRANTED);
	r.count = 101;
	cr_assert_eq(agora_policy_decide(p, &r, &d), AGORA_POLICY_DENY);
	cr_assert_eq(d.reasons[0].code, AGORA_POLICY_R_VIOLATED);
	agora_policy_free(p);
}

Test(policy_eval, request_errors)
{
	const char *bad[] = {
		"[]", "{}", "{\"action\":5}", "{\"action\":\"use\",\"dateTime\":\"yesterday\"}",
		"{\"action\":\"use\",\"count\":-1}", "{\"action\":\"use\",\"count\":1.5}",
		"{\"action\":\"use\",\"purpose\":{\"a\":1}}", "{\"action\":\"use\",\"attributes\":[]}",
		"{\"action\":\"use\",\"payAmount\":\"ten\"}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		struct agora_policy_problems *pr = agora_policy_problems_new();
		struct agora_policy_request *r = agora_policy_request_from_json(j, pr);
		cr_assert_null(r, "accepted %s", bad[i]);
		cr_assert_gt(agora_policy_problems_count(pr), 0);
		agora_policy_problems_free(pr);
		json_decref(j);
	}
}
