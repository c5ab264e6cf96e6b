/* Policy engine: parsing, validation, limits, DSP examples, narrows, describe. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>

#include "policy.h"

static struct agora_policy_config *cfg;

static void setup(void)
{
	cfg = agora_policy_config_new();
	agora_policy_config_add_concept(cfg, "purpose", "medical-research", "research");
}

static void teardown(void)
{
	agora_policy_config_free(cfg);
}

TestSuite(policy_parse, .init = setup, .fini = teardown);

/* Parses TEXT; returns the policy (or NULL) and leaves problems in *PR. */
static struct agora_policy *parse(const char *text, struct agora_policy_problems **pr)
{
	json_error_t err;
	json_t *j = json_loads(text, 0, &err);
	cr_assert_not_null(j, "bad test JSON: %s: %s", err.text, text);
	*pr = agora_policy_problems_new();
	struct agora_policy *p = agora_policy_parse(j, cfg, *pr);
	json_decref(j);
	return p;
}

/* Asserts that TEXT is refused with CODE among its problems (and at PATH when set). */
static void refused(const char *text, const char *code, const char *path)
{
	struct agora_policy_problems *pr;
	struct agora_policy *p = parse(text, &pr);
	cr_assert_null(p, "accepted: %s", text);
	bool found = false;
	for (size_t i = 0; i < agora_policy_problems_count(pr); i++)
		if (strcmp(agora_policy_problem_code(pr, i), code) == 0 &&
		    (!path || strcmp(agora_policy_problem_path(pr, i), path) == 0))
			found = true;
	json_t *pj = agora_policy_problems_to_json(pr);
	char *s = json_dumps(pj, 0);
	cr_assert(found, "expected %s at %s for %s, got %s", code, path ? path : "*", text, s);
	free(s);
	json_decref(pj);
	agora_policy_problems_free(pr);
}

static struct agora_policy *ok(const char *text)
{
	struct agora_policy_problems *pr;
	struct agora_policy *p = parse(text, &pr);
	json_t *pj = agora_policy_problems_to_json(pr);
	char *s = json_dumps(pj, 0);
	cr_assert_not_null(p, "refused %s: %s", text, s);
	free(s);
	json_decref(pj);
	agora_policy_problems_free(pr);
	return p;
}

#define C1(c) "{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraint\":[" c "]}]}"

Test(policy_parse, unknown_operand_operator_action)
{
	refused(C1("{\"leftOperand\":\"colour\",\"operator\":\"eq\",\"rightOperand\":\"red\"}"),
	        "unknown_operand", "permission[0].constraint[0].leftOperand");
	refused(C1("{\"leftOperand\":\"count\",\"operator\":\"about\",\"rightOperand\":3}"),
	        "unknown_operator", "permission[0].constraint[0].operator");
	refused("{\"@type\":\"Set\",\"permission\":[{\"action\":\"teleport\"}]}", "unknown_action",
	        "permission[0].action");
	refused("{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\"}],\"prohibition\":[{\"action\":\"odrl:yodel\"}]}",
	        "unknown_action", "prohibition[0].action");
}

Test(policy_parse, operator_must_fit_operand_type)
{
	refused(C1("{\"leftOperand\":\"purpose\",\"operator\":\"lt\",\"rightOperand\":\"research\"}"),
	        "operator_mismatch", NULL);
	refused(C1("{\"leftOperand\":\"dateTime\",\"operator\":\"isA\",\"rightOperand\":\"2025-01-01\"}"),
	        "operator_mismatch", NULL);
	refused(C1("{\"leftOperand\":\"count\",\"operator\":\"isAnyOf\",\"rightOperand\":[1,2]}"),
	        "operator_mismatch", NULL);
	refused(C1("{\"leftOperand\":\"agora:country\",\"operator\":\"gt\",\"rightOperand\":\"FR\"}"),
	        "operator_mismatch", NULL);
}

Test(policy_parse, bad_values)
{
	refused(C1("{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"next tuesday\"}"),
	        "bad_datetime", "permission[0].constraint[0].rightOperand");
	refused(C1("{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2025-02-30\"}"),
	        "bad_datetime", NULL);
	refused(C1("{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":20250101}"),
	        "bad_datetime", NULL);
	refused(C1("{\"leftOperand\":\"elapsedTime\",\"operator\":\"lt\",\"rightOperand\":\"30 days\"}"),
	        "bad_duration", NULL);
	refused(C1("{\"leftOperand\":\"elapsedTime\",\"operator\":\"lt\",\"rightOperand\":\"PT\"}"),
	        "bad_duration", NULL);
	refused(C1("{\"leftOperand\":\"elapsedTime\",\"operator\":\"lt\",\"rightOperand\":\"P1D2Y\"}"),
	        "bad_duration", NULL);
	refused(C1("{\"leftOperand\":\"count\",\"operator\":\"lt\",\"rightOperand\":-1}"), "bad_number", NULL);
	refused(C1("{\"leftOperand\":\"count\",\"operator\":\"lt\",\"rightOperand\":2.5}"), "bad_number", NULL);
	refused(C1("{\"leftOperand\":\"payAmount\",\"operator\":\"lt\",\"rightOperand\":\"cheap\"}"), "bad_number", NULL);
	refused(C1("{\"leftOperand\":\"percentage\",\"operator\":\"lt\",\"rightOperand\":150}"), "out_of_range", NULL);
	refused(C1("{\"leftOperand\":\"version\",\"operator\":\"lt\",\"rightOperand\":\"two\"}"), "bad_version", NULL);
	refused(C1("{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[]}"), "empty_set", NULL);
	refused(C1("{\"leftOperand\":\"purpose\",\"operator\":\"isA\",\"rightOperand\":[\"a\",\"b\"]}"), "wrong_type", NULL);
	refused(C1("{\"leftOperand\":\"count\",\"operator\":\"lt\",\"rightOperand\":[1]}"), "bad_number", NULL);
	refused(C1("{\"leftOperand\":\"count\",\"operator\":\"lt\",\"rightOperandReference\":\"urn:x\"}"), "unsupported", NULL);
}

Test(policy_parse, structural_problems)
{
	refused("[]", "wrong_type", "$");
	refused("{\"@type\":\"Set\"}", "empty_policy", "$");
	refused("{\"@type\":\"Contract\",\"permission\":[{\"action\":\"use\"}]}", "unknown_policy_type", "@type");
	refused("{\"@type\":\"Set\",\"permission\":[{}]}", "empty_rule", "permission[0]");
	refused("{\"@type\":\"Set\",\"permission\":[\"use\"]}", "wrong_type", "permission[0]");
	refused("{\"@type\":\"Set\",\"permission\":\"use\"}", "wrong_type", "permission");
	refused("{\"@type\":\"Set\",\"permission\":[{\"action\":3}]}", "wrong_type", "permission[0].action");
	refused("{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"constraints\":[]}]}", "unknown_property",
	        "permission[0].constraints");
	refused(C1("\"count\""), "wrong_type", "permission[0].constraint[0]");
	refused(C1("{\"leftOperand\":\"count\",\"operator\":\"lt\"}"), "incomplete_constraint", NULL);
	refused(C1("{\"and\":[]}"), "empty_constraint", NULL);
	refused(C1("{\"and\":[{\"leftOperand\":\"count\",\"operator\":\"lt\",\"rightOperand\":1}],\"or\":[]}"),
	        "ambiguous_constraint", NULL);
	refused("{\"@type\":\"Set\",\"conflict\":\"maybe\",\"permission\":[{\"action\":\"use\"}]}", "bad_conflict", "conflict");
	refused("{\"@type\":\"Agreement\",\"permission\":[{\"action\":\"use\"}]}", "missing_party", "$");
	refused("{\"@type\":\"Set\",\"action\":\"use\",\"permission\":[{\"action\":\"use\"}]}", "misplaced_property", "action");
	refused("{\"@type\":\"Set\",\"inheritFrom\":\"urn:p\",\"permission\":[{\"action\":\"use\"}]}", "unsupported", NULL);
	/* a prohibition has no duty, a permission no remedy */
	refused("{\"@type\":\"Set\",\"permission\":[{\"action\":\"use\",\"remedy\":[]}]}", "unknown_property", NULL);
}

Test(policy_parse, limits_depth_nodes_strings)
{
	/* nesting deeper than 32 */
	char *buf = malloc(20000);
	strcpy(buf, C1(""));
	char *deep = malloc(20000);
	size_t n = 0;
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(deep + n, "{\"and\":[");
	n += (size_t)sprintf(deep + n, "{\"leftOperand\":\"count\",\"operator\":\"lt\",\"rightOperand\":1}");
	for (int i = 0; i < 40; i++)
		n += (size_t)sprintf(deep + n, "]}");
	snprintf(buf, 20000, C1("%s"), deep);
	refused(buf, "too_deep", NULL);
	/* more than 1000 rules */
	json_t *p = json_pack("{s:s, s:[]}", "@type", "Set", "permission");
	for (int i = 0; i < 1001; i++)
		json_array_append_new(json_object_get(p, "permission"), json_pack("{s:s}", "action", "use"));
	struct agora_policy_problems *pr = agora_policy_problems_new();
	cr_assert_null(agora_policy_parse(p, cfg, pr));
	cr_assert_str_eq(agora_policy_problem_code(pr, 0), "too_many_nodes");
	agora_policy_problems_free(pr);
	json_decref(p);
	/* long strings */
	char *lng = malloc(5000);
	memset(lng, 'a', 4999);
	lng[4999] = 0;
	p = json_pack("{s:s, s:[{s:s}]}", "@type", "Set", "permission", "action", lng);
	pr = agora_policy_problems_new();
	cr_assert_null(agora_policy_parse(p, cfg, pr));
	cr_assert_str_eq(agora_policy_problem_code(pr, 0), "string_too_long");
	agora_policy_problems_free(pr);
	json_decref(p);
	free(lng);
	free(buf);
	free(deep);
}

Test(policy_parse, prefixed_and_iri_terms)
{
	struct agora_policy *p = ok("{\"@type\":\"odrl:Offer\",\"odrl:permission\":[{\"odrl:action\":{\"@id\":\"odrl:read\"},"
	    "\"odrl:constraint\":[{\"odrl:leftOperand\":{\"@id\":\"odrl:purpose\"},\"odrl:operator\":{\"@id\":\"odrl:eq\"},"
	    "\"odrl:rightOperand\":\"research\"}]}]}");
	agora_policy_free(p);
	p = ok("{\"@type\":\"http://www.w3.org/ns/odrl/2/Set\",\"http://www.w3.org/ns/odrl/2/permission\":"
	       "[{\"http://www.w3.org/ns/odrl/2/action\":\"http://www.w3.org/ns/odrl/2/use\"}]}");
	agora_policy_free(p);
	/* extension properties of other vocabularies are allowed */
	p = ok("{\"@type\":\"Set\",\"dct:title\":\"x\",\"permission\":[{\"action\":\"use\",\"dct:description\":\"y\"}]}");
	agora_policy_free(p);
}

Test(policy_parse, profile_terms_need_a_profile)
{
	refused(C1("{\"leftOperand\":\"partner\",\"operator\":\"eq\",\"rightOperand\":\"gold\"}"), "unknown_operand", NULL);
	struct agora_policy *p = ok("{\"@type\":\"Set\",\"profile\":\"https://test.com/profile\",\"permission\":[{\"action\":\"use\","
	    "\"constraint\":[{\"leftOperand\":\"partner\",\"operator\":\"eq\",\"rightOperand\":\"gold\"}]}]}");
	agora_policy_free(p);
}

/* ------------------------------------------------------------ concepts */

Test(policy_parse, concept_cycles_are_refused)
{
	cr_assert_eq(agora_policy_config_add_concept(cfg, "purpose", "a", "b"), 0);
	cr_assert_eq(agora_policy_config_add_concept(cfg, "purpose", "b", "c"), 0);
	cr_assert_eq(agora_policy_config_add_concept(cfg, "purpose", "c", "a"), -1);
	cr_assert_eq(agora_policy_config_add_concept(cfg, "purpose", "a", "a"), -1);
	cr_assert(agora_policy_concept_within(cfg, "purpose", "a", "c"));
	cr_assert_not(agora_policy_concept_within(cfg, "purpose", "c", "a"));
	json_t *j = json_loads("{\"concepts\":{\"spatial\":{\"X\":\"Y\",\"Y\":[\"Z\"],\"Z\":\"X\"}}}", 0, NULL);
	struct agora_policy_problems *pr = agora_policy_problems_new();
	cr_assert_eq(agora_policy_config_load_json(cfg, j, pr), -1);
	cr_assert_str_eq(agora_policy_problem_code(pr, 0), "concept_cycle");
	agora_policy_problems_free(pr);
	json_decref(j);
	j = json_loads("{\"concepts\":{\"spatial\":{\"Lyon\":\"FR-69\"}},\"actions\":{\"agora:train\":\"agora:analyze\",\"agora:analyze\":\"use\"}}", 0, NULL);
	pr = agora_policy_problems_new();
	cr_assert_eq(agora_policy_config_load_json(cfg, j, pr), 0);
	cr_assert(agora_policy_concept_within(cfg, "spatial", "Lyon", "EU"));
	cr_assert(agora_policy_action_included(cfg, "agora:train", "use"));
	agora_policy_problems_free(pr);
	json_decref(j);
}

/* ---------------------------------------------------------- DSP examples */

static const char *spec_dir(void)
{
	static const char *dirs[] = { "../shared/spec/dsp-2025-1", "/work/shared/spec/dsp-2025-1", NULL };
	const char *env = getenv("AGORA_DSP_SPEC");
	if (env)
		return env;
	for (size_t i = 0; dirs[i]; i++) {
		DIR *d = opendir(dirs[i]);
		if (d) {
			closedir(d);
			return dirs[i];
		}
	}
	return NULL;
}

/* Every object under hasPolicy / offer / agreement is a policy. */
static void check_policies(const json_t *j, const char *file, size_t *count)
{
	const char *k;
	json_t *v;
	size_t i;
	if (json_is_array(j)) {
		json_array_foreach(j, i, v) check_policies(v, file, count);
		return;
	}
	if (!json_is_object(j))
		return;
	json_object_foreach((json_t *)j, k, v) {
		if (!strcmp(k, "hasPolicy") || !strcmp(k, "offer") || !strcmp(k, "agreement")) {
			size_t n = json_is_array(v) ? json_array_size(v) : 1;
			for (size_t x = 0; x < n; x++) {
				const json_t *pj = json_is_array(v) ? json_array_get(v, x) : v;
				struct agora_policy_problems *pr = agora_policy_problems_new();
				struct agora_policy *p = agora_policy_parse(pj, cfg, pr);
				json_t *pp = agora_policy_problems_to_json(pr);
				char *s = json_dumps(pp, 0);
				cr_assert_not_null(p, "%s: policy refused: %s", file, s);
				free(s);
				json_decref(pp);
				char *text = agora_policy_describe(p);
				cr_assert_gt(strlen(text), 10);
				free(text);
				cr_assert(agora_policy_narrows(p, p, NULL), "%s: a policy narrows itself", file);
				agora_policy_free(p);
				agora_policy_problems_free(pr);
				(*count)++;
			}
		} else {
			check_policies(v, file, count);
		}
	}
}

Test(policy_parse, every_dsp_example_policy_validates)
{
	const char *base = spec_dir();
	cr_assert_not_null(base, "DSP spec directory not found");
	static const char *sub[] = { "catalog/example", "negotiation/example", "transfer/example", "common/example" };
	size_t count = 0;
	for (size_t s = 0; s < 4; s++) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s/%s", base, sub[s]);
		DIR *d = opendir(dir);
		if (!d)
			continue;
		struct dirent *e;
		while ((e = readdir(d))) {
			if (!strstr(e->d_name, ".json"))
				continue;
			char path[1024];
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			json_t *j = json_load_file(path, 0, NULL);
			cr_assert_not_null(j, "%s", path);
			check_policies(j, path, &count);
			json_decref(j);
		}
		closedir(d);
	}
	cr_assert_geq(count, 8, "only %zu policies found in the DSP examples", count);
}

Test(policy_parse, find_policy_in_messages)
{
	json_t *j = json_loads("{\"@type\":\"ContractRequestMessage\",\"offer\":{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\"}]}}", 0, NULL);
	const json_t *p = agora_policy_find(j);
	cr_assert_eq(p, json_object_get(j, "offer"));
	json_decref(j);
	j = json_loads("{\"@type\":\"Dataset\",\"hasPolicy\":[{\"@type\":\"Offer\"},{\"@type\":\"Offer\"}]}", 0, NULL);
	cr_assert_null(agora_policy_find(j));
	json_decref(j);
}

/* ------------------------------------------------------------- narrows */

#define OFFER(c, extra) "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"constraint\":[" c "]" extra "}]}"
#define DT(op, v) "{\"leftOperand\":\"dateTime\",\"operator\":\"" op "\",\"rightOperand\":\"" v "\"}"
#define CNT(op, v) "{\"leftOperand\":\"count\",\"operator\":\"" op "\",\"rightOperand\":" v "}"
#define PURP(op, v) "{\"leftOperand\":\"purpose\",\"operator\":\"" op "\",\"rightOperand\":" v "}"

static bool narrows(const char *a, const char *b)
{
	struct agora_policy *pa = ok(a), *pb = ok(b);
	char *why = NULL;
	bool r = agora_policy_narrows(pa, pb, &why);
	cr_assert(r || why, "a negative answer explains itself");
	free(why);
	agora_policy_free(pa);
	agora_policy_free(pb);
	return r;
}

Test(policy_parse, narrows_time_count_purpose)
{
	const char *a = OFFER(DT("gteq", "2025-01-01") "," DT("lteq", "2026-12-31") "," CNT("lteq", "100") ","
	                      PURP("isAnyOf", "[\"research\",\"education\"]"), "");
	cr_assert(narrows(a, a));
	cr_assert(narrows(a, OFFER(DT("gteq", "2025-03-01") "," DT("lt", "2026-06-01") "," CNT("lteq", "10") ","
	                           PURP("isAnyOf", "[\"medical-research\"]"), "")));
	cr_assert(narrows(a, OFFER(DT("gteq", "2025-03-01") "," DT("lteq", "2026-12-31") "," CNT("lt", "101") ","
	                           PURP("eq", "\"education\""), "")));
	cr_assert_not(narrows(a, OFFER(DT("gteq", "2024-12-01") "," DT("lteq", "2026-12-31") "," CNT("lteq", "100") ","
	                               PURP("isAnyOf", "[\"research\"]"), "")));
	cr_assert_not(narrows(a, OFFER(DT("gteq", "2025-01-01") "," DT("lteq", "2027-01-01") "," CNT("lteq", "100") ","
	                               PURP("isAnyOf", "[\"research\"]"), "")));
	cr_assert_not(narrows(a, OFFER(DT("gteq", "2025-01-01") "," DT("lteq", "2026-12-31") "," CNT("lteq", "101") ","
	                               PURP("isAnyOf", "[\"research\"]"), "")));
	cr_assert_not(narrows(a, OFFER(DT("gteq", "2025-01-01") "," DT("lteq", "2026-12-31") "," CNT("lteq", "10") ","
	                               PURP("isAnyOf", "[\"research\",\"commercial\"]"), "")));
	/* dropping a constraint widens */
	cr_assert_not(narrows(a, OFFER(DT("gteq", "2025-01-01") "," DT("lteq", "2026-12-31"), "")));
	/* an empty set of permissions is the strictest */
	cr_assert(narrows(a, "{\"@type\":\"Offer\",\"prohibition\":[{\"action\":\"use\"}]}"));
}

Test(policy_parse, narrows_actions_duties_prohibitions)
{
	const char *a = "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"duty\":[{\"action\":\"delete\",\"constraint\":"
	                "[{\"leftOperand\":\"elapsedTime\",\"operator\":\"lteq\",\"rightOperand\":\"P30D\"}]}]}],"
	                "\"prohibition\":[{\"action\":\"distribute\"}]}";
	cr_assert(narrows(a, a));
	/* narrower action, shorter retention, broader prohibition */
	cr_assert(narrows(a, "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"read\",\"duty\":[{\"action\":\"delete\",\"constraint\":"
	                     "[{\"leftOperand\":\"elapsedTime\",\"operator\":\"lteq\",\"rightOperand\":\"P7D\"}]}]}],"
	                     "\"prohibition\":[{\"action\":\"use\"}]}"));
	/* dropped duty */
	cr_assert_not(narrows(a, "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\"}],\"prohibition\":[{\"action\":\"distribute\"}]}"));
	/* longer retention */
	cr_assert_not(narrows(a, "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"duty\":[{\"action\":\"delete\",\"constraint\":"
	                         "[{\"leftOperand\":\"elapsedTime\",\"operator\":\"lteq\",\"rightOperand\":\"P60D\"}]}]}],"
	                         "\"prohibition\":[{\"action\":\"distribute\"}]}"));
	/* dropped prohibition */
	cr_assert_not(narrows(a, "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"duty\":[{\"action\":\"delete\",\"constraint\":"
	                         "[{\"leftOperand\":\"elapsedTime\",\"operator\":\"lteq\",\"rightOperand\":\"P30D\"}]}]}]}"));
	/* broader action */
	cr_assert_not(narrows("{\"@type\":\"Offer\",\"permission\":[{\"action\":\"read\"}]}",
	                      "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\"}]}"));
	/* transfer is not within use */
	cr_assert_not(narrows("{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\"}]}",
	                      "{\"@type\":\"Offer\",\"permission\":[{\"action\":\"transfer\"}]}"));
}

Test(policy_parse, narrows_spatial_and_none_of)
{
	const char *a = OFFER("{\"leftOperand\":\"spatial\",\"operator\":\"isPartOf\",\"rightOperand\":\"EU\"},"
	                      PURP("isNoneOf", "[\"commercial\"]"), "");
	cr_assert(narrows(a, OFFER("{\"leftOperand\":\"spatial\",\"operator\":\"eq\",\"rightOperand\":\"FR\"},"
	                           PURP("isNoneOf", "[\"commercial\",\"military\"]"), "")));
	cr_assert(narrows(a, OFFER("{\"leftOperand\":\"spatial\",\"operator\":\"isPartOf\",\"rightOperand\":\"FR-69\"},"
	                           PURP("eq", "\"research\""), "")));
	cr_assert_not(narrows(a, OFFER("{\"leftOperand\":\"spatial\",\"operator\":\"isPartOf\",\"rightOperand\":\"CH\"},"
	                               PURP("isNoneOf", "[\"commercial\"]"), "")));
	cr_assert_not(narrows(a, OFFER("{\"leftOperand\":\"spatial\",\"operator\":\"isPartOf\",\"rightOperand\":\"EU\"},"
	                               PURP("eq", "\"commercial\""), "")));
}

/* ------------------------------------------------------------ describe */

Test(policy_parse, describe_plain_english)
{
	struct agora_policy *p = ok("{\"@type\":\"Offer\",\"permission\":[{\"action\":\"use\",\"constraint\":["
	    "{\"leftOperand\":\"spatial\",\"operator\":\"isPartOf\",\"rightOperand\":\"EU\"},"
	    "{\"leftOperand\":\"purpose\",\"operator\":\"eq\",\"rightOperand\":\"research\"},"
	    "{\"leftOperand\":\"dateTime\",\"operator\":\"lteq\",\"rightOperand\":\"2026-12-31\"},"
	    "{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":100}],"
	    "\"duty\":[{\"action\":\"delete\",\"constraint\":[{\"leftOperand\":\"elapsedTime\",\"operator\":\"eq\",\"rightOperand\":\"P30D\"}]}]}],"
	    "\"prohibition\":[{\"action\":\"distribute\"}]}");
	char *s = agora_policy_describe(p);
	cr_assert_str_eq(s, "Anyone in the EU may use this dataset for research, until 31 Dec 2026, at most 100 times; "
	                    "the data must be deleted 30 days after receipt.\n"
	                    "Anyone must not distribute this dataset.");
	free(s);
	agora_policy_free(p);
}
