/* libFuzzer target: the broker's catalog push validation
 * (server/catalog_validate.c catalog_push_parse, and the access policies it
 * compiles through server/catalog_access.c) — the body checks of
 * PUT /api/v1/catalog and of a crawled connector's catalog, without HTTP or
 * a database.
 *
 * The input is the JSON body, for participant did:web:p.example: with a
 * "catalog" member it is a push (with_access), otherwise a bare DSP
 * Catalog as the crawler gets it.  Invariants: refusal names an error of
 * the table and a detail; acceptance gives as many dataset records as ids,
 * distinct ids, a catalog id, a compiled policy per access entry, and the
 * policies evaluate for a viewer with and without attributes. */
#include <jansson.h>

#include "catalog.h"
#include "errors.h"
#include "fuzz_util.h"

#define PID "did:web:p.example"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	json_t *body = json_loadb((const char *)data, size, 0, NULL);
	if (!body)
		return 0;
	bool with_access = json_object_get(body, "catalog") != NULL;
	struct cat_push p;
	enum agora_error e = AGORA_E__COUNT;
	char detail[400] = "";
	if (!catalog_push_parse(body, with_access, PID, &p, &e, detail, sizeof detail)) {
		FUZZ_CHECK(e < AGORA_E__COUNT, "error %d", (int)e);
		FUZZ_CHECK(detail[0], "refused without detail");
		json_decref(body);
		return 0;
	}
	FUZZ_CHECK(p.catalog_id && *p.catalog_id, "catalog id");
	FUZZ_CHECK(p.ndatasets == json_array_size(p.ids) &&
			   p.ndatasets == json_array_size(p.datasets),
		   "datasets %zu, ids %zu, records %zu", p.ndatasets, json_array_size(p.ids),
		   json_array_size(p.datasets));
	json_t *seen = json_object();
	for (size_t i = 0; i < json_array_size(p.ids); i++) {
		const char *id = json_string_value(json_array_get(p.ids, i));
		FUZZ_CHECK(id && !json_object_get(seen, id), "dataset id %zu missing or repeated", i);
		json_object_set_new(seen, id, json_true());
	}
	json_decref(seen);
	json_t *attrs = json_pack("{s:s, s:[s]}", "country", "FR", "partner", "gold");
	json_t *viewers = json_pack("[{s:s, s:O}, {s:s, s:n}]", "id", "did:web:c.example",
				    "attributes", attrs, "id", "did:web:d.example", "attributes");
	for (size_t i = 0; i < p.nacc; i++) {
		FUZZ_CHECK(p.acc[i].policy && p.acc[i].offer_id, "access %zu", i);
		(void)catalog_policy_permits(p.acc[i].policy, "did:web:c.example", attrs);
		(void)catalog_policy_permits(p.acc[i].policy, NULL, NULL);
	}
	json_t *pairs = catalog_visibility_pairs(PID, p.acc, p.nacc, viewers);
	FUZZ_CHECK(json_is_array(pairs), "pairs");
	json_decref(pairs);
	json_decref(viewers);
	json_decref(attrs);
	catalog_push_cleanup(&p);
	json_decref(body);
	return 0;
}
