/* Benchmark: compiled evaluation of a three-constraint permission (dateTime
 * window, purpose isAnyOf, count lteq) and parse+compile of a typical offer.
 * Prints the median of several runs. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "policy.h"

#define RUNS 7
#define EVALS 2000000
#define PARSES 20000

static const char *offer =
	"{\"@context\":\"https://w3id.org/dspace/2025/1/context.jsonld\",\"@type\":\"Offer\","
	"\"@id\":\"urn:uuid:6bcea82e-c509-443d-ba8c-8eef25984c07\",\"assigner\":\"did:web:provider.example\","
	"\"target\":\"urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88\",\"permission\":[{\"action\":\"use\","
	"\"constraint\":[{\"leftOperand\":\"dateTime\",\"operator\":\"gteq\",\"rightOperand\":\"2025-01-01T00:00:00Z\"},"
	"{\"leftOperand\":\"dateTime\",\"operator\":\"lt\",\"rightOperand\":\"2027-01-01T00:00:00Z\"},"
	"{\"leftOperand\":\"purpose\",\"operator\":\"isAnyOf\",\"rightOperand\":[\"research\",\"education\",\"public-service\"]},"
	"{\"leftOperand\":\"count\",\"operator\":\"lteq\",\"rightOperand\":1000}],"
	"\"duty\":[{\"action\":\"delete\",\"constraint\":[{\"leftOperand\":\"elapsedTime\",\"operator\":\"eq\",\"rightOperand\":\"P30D\"}]}]}],"
	"\"prohibition\":[{\"action\":\"distribute\"}]}";

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int main(void)
{
	struct agora_policy_config *cfg = agora_policy_config_new();
	json_t *j = json_loads(offer, 0, NULL);
	struct agora_policy *p = agora_policy_parse(j, cfg, NULL);
	if (!p) {
		fputs("bench: offer refused\n", stderr);
		return 1;
	}
	const char *purpose[] = { "education" };
	struct agora_policy_request r = { .action = "read", .now_ms = 1767225600000LL, .has_now = true,
		                          .count = 10, .has_count = true, .purpose = { purpose, 1 } };
	struct agora_policy_decision d;
	double evals[RUNS], parses[RUNS];
	long permits = 0;
	for (int run = 0; run < RUNS; run++) {
		double t0 = now_s();
		for (int i = 0; i < EVALS; i++) {
			r.count = 1 + (i & 511);
			permits += agora_policy_decide(p, &r, &d) == AGORA_POLICY_PERMIT;
		}
		evals[run] = EVALS / (now_s() - t0);
		t0 = now_s();
		for (int i = 0; i < PARSES; i++) {
			json_t *pj = json_loads(offer, 0, NULL);
			struct agora_policy *q = agora_policy_parse(pj, cfg, NULL);
			agora_policy_free(q);
			json_decref(pj);
		}
		double with_json = (now_s() - t0) / PARSES;
		t0 = now_s();
		for (int i = 0; i < PARSES; i++)
			agora_policy_free(agora_policy_parse(j, cfg, NULL));
		parses[run] = (now_s() - t0) / PARSES;
		(void)with_json;
		if (run == RUNS - 1)
			printf("parse+compile incl. JSON text decoding: %.2f us (last run)\n", with_json * 1e6);
	}
	qsort(evals, RUNS, sizeof(double), cmp);
	qsort(parses, RUNS, sizeof(double), cmp);
	printf("policy_eval: 3-constraint permission: median %.0f evals/s over %d runs (min %.0f, max %.0f) [target >= 1000000] %s\n",
	       evals[RUNS / 2], RUNS, evals[0], evals[RUNS - 1], evals[RUNS / 2] >= 1e6 ? "OK" : "SLOW");
	printf("policy_parse: typical offer compile from json_t: median %.2f us over %d runs [target <= 20 us] %s\n",
	       parses[RUNS / 2] * 1e6, RUNS, parses[RUNS / 2] * 1e6 <= 20 ? "OK" : "SLOW");
	if (permits != (long)RUNS * EVALS)
		printf("warning: %ld of %ld evaluations permitted\n", permits, (long)RUNS * EVALS);
	agora_policy_free(p);
	json_decref(j);
	agora_policy_config_free(cfg);
	return 0;
}
