/* catalog.h — the broker's federated catalog: the parts shared by the
 * push/search handlers (http_catalog.c), the validation of DSP catalogs
 * (catalog_validate.c), access-policy evaluation (catalog_access.c), the
 * SQL (db_catalog.c) and the crawler (crawler.c).  docs/CATALOG.md is the
 * reference for the formats. */
#ifndef AGORA_CATALOG_H
#define AGORA_CATALOG_H

#include <jansson.h>

#include "policy.h"
#include <stdbool.h>
#include <stddef.h>

#include "errors.h"

#define CATALOG_MAX_DATASETS 100000
#define CATALOG_DSP_CONTEXT "https://w3id.org/dspace/2025/1/context.jsonld"

struct agora_policy;

/* A non-public access policy, compiled, with the offer id it guards. */
struct cat_access {
	const char *offer_id;		/* borrowed from the push body */
	struct agora_policy *policy;	/* owned */
};

/* A validated catalog push, ready for db_catalog_push().  Every json_t is
 * owned (free with catalog_push_cleanup); strings borrow from the body. */
struct cat_push {
	const char *participant;
	const char *catalog_id;
	json_t *meta;		/* {"service","title","description"} of the catalog */
	json_t *datasets;	/* records for jsonb_to_recordset (see db_catalog.c) */
	json_t *ids;		/* the dataset ids, in order */
	json_t *offers;		/* {dataset_id, offer_id, position, policy, description, public} */
	json_t *access;		/* {offer_id, policy, public} */
	json_t *flags;		/* {id, any_public} per dataset */
	struct cat_access *acc;	/* the non-public access policies */
	size_t nacc;
	size_t ndatasets;
	/* Results of the push. */
	long long version;
	char conflict_id[256];	/* a dataset id another participant holds */
};

void catalog_push_cleanup(struct cat_push *p);

/* Check a push body {"catalog","accessPolicies"} (with_access) or a bare DSP
 * Catalog answered by a crawled connector (!with_access; body is the
 * catalog) for participant, and fill *out.  On failure returns false with
 * *err and a detail naming the dataset index and field; *out is then
 * cleaned up already. */
bool catalog_push_parse(const json_t *body, bool with_access, const char *participant,
			struct cat_push *out, enum agora_error *err, char *detail, size_t dlen);

/* Strict RFC 3339 date-time ("2026-01-01T00:00:00Z", fraction and offset
 * allowed): true and seconds since the epoch in *t (may be NULL). */
bool catalog_parse_time(const char *s, double *t);

/* Access policies (catalog_access.c). */

/* The process-wide policy configuration (built on first use; read-only). */
const struct agora_policy_config *catalog_policy_config(void);
/* A participant's registered attributes (country, industry,
 * certification, memberships: the participants.attributes JSON) as policy
 * request attributes.  Everything borrows from the JSON and from the
 * struct itself: fill it in place and do not copy it. */
#define CATALOG_MAX_MEMBERSHIPS 32
struct catalog_attrs {
	const char *single[3];
	const char *members[CATALOG_MAX_MEMBERSHIPS];
	struct agora_policy_attr attrs[4];
	size_t n;
};
void catalog_attrs_from_json(struct catalog_attrs *a, const json_t *attributes);
/* Append to reasons (an array) the messages of a decision's failing
 * reasons (not "satisfied" or "granted"), until it holds max.  Returns
 * how many it now holds. */
size_t catalog_decision_reasons(const json_t *decision, json_t *reasons, size_t max);
/* True when p permits action "use" to viewer with its registered
 * attributes (the participants.attributes JSON); viewer NULL and
 * attributes NULL: an empty request (anyone). */
bool catalog_policy_permits(const struct agora_policy *p, const char *viewer,
			    const json_t *attributes);
/* Pairs {"participant_id","offer_id","viewer"} for every (policy, viewer)
 * that permits: viewers is [{"id","attributes"}].  New reference. */
json_t *catalog_visibility_pairs(const char *publisher, const struct cat_access *acc, size_t nacc,
				 const json_t *viewers);

#endif
