/* db_catalog.h — the SQL of the federated catalog (db_catalog.c only):
 * pushes, search, dataset lookup, the DSP catalog of catalogs, crawl state
 * and the materialised offer visibility. */
#ifndef AGORA_DB_CATALOG_H
#define AGORA_DB_CATALOG_H

#include <jansson.h>
#include <stdbool.h>

#include "catalog.h"
#include "db.h"

extern const struct agora_stmt db_catalog_stmts[];

/* Store a validated push in one transaction: upsert datasets (a new
 * version row when content changed or a withdrawn dataset returns),
 * withdraw the participant's datasets missing from it, replace offers and
 * access policies, recompute the visibility of its non-public offers for
 * every active participant.  ONE (p->version set); CONFLICT when a dataset
 * id belongs to another participant (p->conflict_id set); < 0 on error. */
enum agora_qs db_catalog_push(struct cat_push *p);

enum cat_sort { CAT_SORT_RELEVANCE, CAT_SORT_MODIFIED, CAT_SORT_TITLE };

/* A search; NULL strings are absent filters. */
struct cat_query {
	const char *caller;		/* participant id, NULL: anonymous */
	const char *q;
	const char *theme, *keyword, *publisher, *format, *license;
	bool has_bbox;
	double bbox[4];			/* minLon, minLat, maxLon, maxLat */
	const char *from, *to;		/* RFC 3339 */
	enum cat_sort sort;		/* effective: RELEVANCE only with q */
	int limit;
	const char *after_key, *after_id;	/* keyset cursor, NULL: first page */
};

/* *out (new) = {"count","results":[…],"facets":{…}}, plus "nextKey" and
 * "nextId" when there is a further page.  ONE or < 0. */
enum agora_qs db_catalog_search(const struct cat_query *q, json_t **out);

/* The dataset as a search result, if visible to caller (NULL: anonymous).
 * ONE (*out new) or NONE. */
enum agora_qs db_catalog_dataset_get(const char *id, const char *caller, json_t **out);
/* db_catalog_viewer_sync(viewer, false), then db_catalog_dataset_get(id,
 * viewer): usually in one round trip (the staleness check and the read go
 * together; the read is repeated only after a rebuild). */
enum agora_qs db_catalog_dataset_get_synced(const char *id, const char *viewer, json_t **out);

/* Up to limit datasets visible to caller after (after_pid, after_id) in
 * (participant, id) order, as DSP Datasets with only the visible offers:
 * *out new array of {"participant","name","catalogId","meta","dataset"}. */
enum agora_qs db_catalog_dsp_page(const char *caller, const char *after_pid, const char *after_id,
				  int limit, json_t **out);

/* The catalog generation: bumped (by triggers, 0004) by every change
 * that can alter a search answer. */
enum agora_qs db_catalog_generation(long long *gen);

/* Bring caller's offer visibility up to date with its registered
 * attributes (recomputed when they changed since last time, or always
 * when force).  ONE, NONE (not an active participant) or < 0. */
enum agora_qs db_catalog_viewer_sync(const char *viewer, bool force);

/* Active participants to crawl: *out new array of {"id","endpoint"}. */
enum agora_qs db_catalog_crawl_targets(json_t **out);

/* Record a crawl outcome.  status "available" / "unavailable" set the
 * participant's and its datasets' availability; "rejected" only records
 * the error. */
enum agora_qs db_catalog_crawl_mark(const char *participant, const char *status,
				    const char *error);

#endif
