/* libFuzzer target: parse + validate + evaluate + describe + narrows.
 * The input is a JSON policy (or a DSP message carrying one, or a concept
 * configuration); a request is derived from a hash of the input bytes.
 * Invariants: no crash, a refused policy always has problems, every
 * decision has a verdict. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const actions[] = { "use", "read", "distribute", "transfer", "print", "sell", "nope" };
static const char *const words[] = { "research", "FR", "FR-69", "EU", "gold", "commercial", "US" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	json_error_t err;
	json_t *j = json_loadb((const char *)data, size, JSON_DECODE_ANY, &err);
	if (!j)
		return 0;
	struct agora_policy_config *cfg = agora_policy_config_new();
	agora_policy_config_add_concept(cfg, "purpose", "research", "scientific-research");
	struct agora_policy_problems *pr = agora_policy_problems_new();
	/* the input may also be a configuration */
	if (json_is_object(j) && json_object_get(j, "concepts"))
		agora_policy_config_load_json(cfg, j, pr);
	const json_t *pj = agora_policy_find(j);
	struct agora_policy *p = agora_policy_parse(pj ? pj : j, cfg, pr);
	json_decref(agora_policy_problems_to_json(pr));
	if (p) {
		uint32_t h = 2166136261u;
		for (size_t i = 0; i < size; i++)
			h = (h ^ data[i]) * 16777619u;
		const char *attr_vals[] = { words[h % 7] };
		struct agora_policy_attr attrs[] = { { "country", { attr_vals, 1 } },
			                             { "partner", { attr_vals, 1 } } };
		const char *purpose[] = { words[(h >> 3) % 7], words[(h >> 6) % 7] };
		const char *spatial[] = { words[(h >> 9) % 7] };
		struct agora_policy_request r = {
			.action = actions[(h >> 12) % 7], .assignee = "did:web:x", .attrs = attrs, .n_attrs = 2,
			.now_ms = 1735689600000LL + (int64_t)(h % 100000) * 1000000, .has_now = true,
			.agreement_start_ms = 1735689600000LL, .has_agreement_start = (h >> 20) & 1,
			.count = (h >> 21) % 200, .has_count = true, .purpose = { purpose, 1 + ((h >> 28) & 1) },
			.spatial = { spatial, 1 }, .pay_amount = (h >> 5) % 100, .has_pay_amount = true,
			.unit = "EUR", .version = "1.2", .percentage = h % 101, .has_percentage = true,
		};
		json_t *d = agora_policy_eval(p, &r);
		const char *v = json_string_value(json_object_get(d, "decision"));
		if (!v)
			abort();
		json_decref(d);
		free(agora_policy_describe(p));
		char *why = NULL;
		agora_policy_narrows(p, p, &why);
		free(why);
		agora_policy_free(p);
	} else if (agora_policy_problems_count(pr) == 0) {
		abort(); /* refused without saying why */
	}
	agora_policy_problems_free(pr);
	agora_policy_config_free(cfg);
	json_decref(j);
	return 0;
}
