/* catalog_access.c — evaluating offers' access policies for catalog
 * viewers.  An access policy grants visibility when it permits action
 * "use" to the viewer (assignee = its participant id, attributes = its
 * registered country, industry, certification and memberships). */
#include "catalog.h"
#include "policy.h"
#include "util.h"

#include <pthread.h>
#include <string.h>

static struct agora_policy_config *cfg;
static pthread_once_t cfg_once = PTHREAD_ONCE_INIT;

static void
cfg_init(void)
{
	cfg = agora_policy_config_new();
}

const struct agora_policy_config *
catalog_policy_config(void)
{
	pthread_once(&cfg_once, cfg_init);
	return cfg;
}

void
catalog_attrs_from_json(struct catalog_attrs *a, const json_t *attributes)
{
	static const char *const names[] = { "country", "industry", "certification" };
	a->n = 0;
	for (size_t i = 0; i < ARRAY_LEN(names); i++) {
		a->single[i] = json_string_value(json_object_get(attributes, names[i]));
		if (a->single[i])
			a->attrs[a->n++] = (struct agora_policy_attr){ names[i], { &a->single[i], 1 } };
	}
	const json_t *m = json_object_get(attributes, "memberships");
	size_t nm = 0;
	for (size_t i = 0; i < json_array_size(m) && nm < CATALOG_MAX_MEMBERSHIPS; i++) {
		const char *s = json_string_value(json_array_get(m, i));
		if (s)
			a->members[nm++] = s;
	}
	if (nm)
		a->attrs[a->n++] = (struct agora_policy_attr){ "memberships", { a->members, nm } };
}

size_t
catalog_decision_reasons(const json_t *decision, json_t *reasons, size_t max)
{
	size_t i;
	json_t *r;
	json_array_foreach(json_object_get(decision, "reasons"), i, r) {
		const char *code = json_string_value(json_object_get(r, "code"));
		const char *msg = json_string_value(json_object_get(r, "message"));
		if (msg && *msg && code && strcmp(code, "satisfied") && strcmp(code, "granted") &&
		    json_array_size(reasons) < max)
			json_array_append_new(reasons, json_string(msg));
	}
	return json_array_size(reasons);
}

bool
catalog_policy_permits(const struct agora_policy *p, const char *viewer, const json_t *attributes)
{
	struct catalog_attrs a;
	catalog_attrs_from_json(&a, attributes);
	struct agora_policy_request req = {
		.action = "use",
		.assignee = viewer,
		.attrs = a.n ? a.attrs : NULL,
		.n_attrs = a.n,
	};
	struct agora_policy_decision dec;
	return agora_policy_decide(p, &req, &dec) == AGORA_POLICY_PERMIT;
}

json_t *
catalog_visibility_pairs(const char *publisher, const struct cat_access *acc, size_t nacc,
			 const json_t *viewers)
{
	json_t *out = json_array();
	for (size_t i = 0; i < nacc; i++) {
		size_t k;
		json_t *v;
		json_array_foreach(viewers, k, v) {
			const char *id = json_string_value(json_object_get(v, "id"));
			if (catalog_policy_permits(acc[i].policy, id, json_object_get(v, "attributes")))
				json_array_append_new(out, json_pack("{s:s, s:s, s:s}", "participant_id",
								     publisher, "offer_id",
								     acc[i].offer_id, "viewer", id));
		}
	}
	return out;
}
