/* db_connector.h — the connector's queries (SQL in db_*.c only). */
#ifndef AGORA_DB_CONNECTOR_H
#define AGORA_DB_CONNECTOR_H

#include <jansson.h>

#include "db.h"

extern const struct agora_stmt db_dataset_stmts[];
extern const struct agora_stmt db_policy_stmts[];
extern const struct agora_stmt db_misc_stmts[];
extern const struct agora_stmt db_observation_stmts[];

/* Datasets.  doc is the validated API body; the SQL unpacks it. */
enum agora_qs db_dataset_insert(PGconn *c, const char *id, const char *owner, const json_t *doc);
/* Replace (patch == false) or merge (patch == true) the fields of doc. */
enum agora_qs db_dataset_update(PGconn *c, const char *id, const json_t *doc, bool patch);
enum agora_qs db_dataset_delete(PGconn *c, const char *id);
/* The API document and owner of one dataset: ONE/NONE. */
enum agora_qs db_dataset_get(const char *id, json_t **doc, char **owner);
/* A page of datasets with id > after, filtered; *out new array. */
enum agora_qs db_dataset_list(const char *after, const char *q, const char *theme,
			      const char *keyword, int limit, json_t **out);
/* Record uploaded content (size, hash) and its quality. */
enum agora_qs db_dataset_set_content(PGconn *c, const char *id, long long size, const char *sha256,
				     const json_t *quality);
enum agora_qs db_dataset_set_quality(PGconn *c, const char *id, const json_t *quality);

/* Observations. */
struct agora_obs_batch;
/* Running totals of an observations dataset (obs_stats). */
struct db_obs_stats {
	long long records, rejected, duplicates, things;
	long long oldest_ms, newest_ms;
	size_t nfields;
	int64_t nonnull[64];
	long long checked, implausible;
};
/* Store the batch's accepted rows (COPY) and update the dataset's running
 * statistics, inside the caller's transaction (the stats row is locked, so
 * concurrent ingests into one dataset serialise).  *st gets the totals. */
enum agora_qs db_observations_store(PGconn *c, const char *dataset_id,
				    const struct agora_obs_batch *b, struct db_obs_stats *st);

/* Policies and offers. */
enum agora_qs db_policy_insert(PGconn *c, const char *id, const char *owner, const json_t *policy,
			       const char *description);
enum agora_qs db_policy_get(const char *id, json_t **doc, char **owner);
enum agora_qs db_policy_list(json_t **out);
enum agora_qs db_policy_delete(PGconn *c, const char *id);
enum agora_qs db_offer_insert(PGconn *c, const char *id, const char *owner, const json_t *selector,
			      const char *access_policy, const char *contract_policy, bool auto_accept);
enum agora_qs db_offer_get(const char *id, json_t **doc, char **owner);
enum agora_qs db_offer_list(json_t **out);
enum agora_qs db_offer_delete(PGconn *c, const char *id);
/* For the catalog: every published dataset with its offers, each offer with
 * its contract policy (and access policy, or null).  *out new array of
 * {"dataset":doc, "offers":[{"id","autoAccept","contract":…,"access":…|null}]}. */
enum agora_qs db_catalog_rows(const char *only_dataset, json_t **out);

/* Catalog state. */
enum agora_qs db_catalog_bump(PGconn *c);
/* version and pushed_version */
enum agora_qs db_catalog_versions(long long *version, long long *pushed);
enum agora_qs db_catalog_pushed(long long version);

#endif
