/* db_connector.h — the connector's queries (SQL in db_*.c only). */
#ifndef AGORA_DB_CONNECTOR_H
#define AGORA_DB_CONNECTOR_H

#include <jansson.h>

#include "db.h"

extern const struct agora_stmt db_dataset_stmts[];
extern const struct agora_stmt db_policy_stmts[];
extern const struct agora_stmt db_misc_stmts[];
extern const struct agora_stmt db_observation_stmts[];
extern const struct agora_stmt db_negotiation_stmts[];

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
/* The newest max_points values of a numeric observation field, of the
 * sensor that reported last, oldest first: *points = [[time, value], …]
 * (new reference; empty when there are none). */
enum agora_qs db_catalog_sample(const char *dataset_id, const char *field, int max_points,
				json_t **points);

/* Catalog state. */
enum agora_qs db_catalog_bump(PGconn *c);
/* version and pushed_version */
enum agora_qs db_catalog_versions(long long *version, long long *pushed);
enum agora_qs db_catalog_pushed(long long version);

/* Negotiations (db_negotiations.c).  Documents are new references; a
 * PGconn argument NULL means this thread's connection (outside a
 * transaction).  The internal document of a negotiation holds every
 * column: id, role, counterpart, counterpartPid, callback, consumer,
 * provider, datasetId, offerId, offer, autoAccept, state, agreementId,
 * code, reason, owner, createdAt, updatedAt. */
struct db_neg_new {
	const char *id, *role, *counterpart, *counterpart_pid, *callback, *consumer, *provider;
	const char *dataset_id, *offer_id;
	const json_t *offer;
	bool auto_accept;
	const char *state, *owner;
};
/* Store a negotiation no unique index can refuse: a fresh id, and
 * no counterpart pid yet or one no other transaction can store meanwhile
 * (found free under db_neg_request_lookup's lock).  Inside agora_db_tx it
 * goes with the transaction's next round trip (agora_db_defer) — ONE,
 * and a failure fails that round trip and the transaction. */
enum agora_qs db_neg_add(PGconn *c, const struct db_neg_new *n);
/* One negotiation (lock: FOR UPDATE, inside a transaction). */
enum agora_qs db_neg_get(PGconn *c, const char *id, bool lock, json_t **doc);
/* A provider's look-ups for an incoming request, in one round trip:
 * first a transaction-scoped advisory lock on (counterpart, pid), which
 * waits for any other transaction storing a negotiation for them; then the
 * negotiation whose counterpart calls it pid (locked; the status
 * returned: under that lock, NONE means no other transaction can store
 * one before ours ends); and, when dataset_id is not NULL and there is no
 * such negotiation, the offer offer_id if it covers dataset dataset_id
 * ({autoAccept, contract (the contract policy), owner, requested (the
 * requested offer as the negotiation stores it)}: *offer, its status in
 * *offer_found, else NONE). */
enum agora_qs db_neg_request_lookup(PGconn *c, const char *counterpart, const char *pid,
				    const char *offer_id, const char *dataset_id,
				    const json_t *requested, json_t **doc,
				    enum agora_qs *offer_found, json_t **offer);
/* Set state; counterpart_pid only when still NULL; agreement_id, code and
 * reason when not NULL.  Inside agora_db_tx, for a row the transaction has
 * locked: without counterpart_pid the UPDATE goes with the transaction's
 * next round trip (agora_db_defer) — ONE, and a failure, or no such row,
 * fails that round trip and the transaction. */
enum agora_qs db_neg_update(PGconn *c, const char *id, const char *state, const char *counterpart_pid,
			    const char *agreement_id, const char *code, const char *reason);
/* History: direction "in" (with hash, status, reply) or "out".  Inside
 * agora_db_tx the INSERT goes with the transaction's next round trip
 * (agora_db_defer): ONE, and a failure shows there. */
enum agora_qs db_neg_msg_insert(PGconn *c, const char *neg_id, const char *direction, const char *type,
				const char *hash, long status, const json_t *reply, const json_t *body);
/* Outside agora_db_tx (the outbox's transaction), for an acknowledgement
 * (status, reply) naming the counterpart's pid: lock negotiation id
 * (db_neg_get with lock, *doc as it was) and, when it does not know the
 * pid yet, set it (db_neg_update to the same state) and write the history
 * row of the acknowledgement (direction "in", type
 * "ContractNegotiation"), in one round trip.  The lock's status, or the
 * error of the writes (*doc then NULL; CONFLICT on a pid already taken). */
enum agora_qs db_neg_lock_acknowledged(PGconn *c, const char *id, const char *counterpart_pid,
				       long status, const json_t *reply, json_t **doc);
/* What db_neg_lock_find reads besides, in the same round trip: at most
 * one of agreement and new_agreement. */
struct db_neg_also {
	/* Not NULL: the agreement the negotiation names (db_agreement_get's
	 * document) into *agreement; its status into qs (NONE when it names
	 * none). */
	json_t **agreement;
	/* Not NULL: an agreement id about to be stored.  Waits for the other
	 * transactions that would store it (a transaction-scoped advisory
	 * lock), then qs is ONE when it is stored already, else NONE. */
	const char *new_agreement;
	enum agora_qs qs;
};
/* Lock negotiation id (db_neg_get with lock) and look up the answer given
 * to an earlier incoming message with this body hash (db_neg_msg_find,
 * into *found, status and reply), in one round trip: the look-up runs
 * after the lock is granted, so it sees what a concurrent identical
 * message committed meanwhile.  also, when not NULL, adds its reads to
 * that round trip, after the lock too (also->qs is NONE, and *agreement
 * unset, unless the lock is ONE and *found NONE).  Returns the lock's
 * status (*found is NONE unless it is ONE). */
enum agora_qs db_neg_lock_find(PGconn *c, const char *id, const char *hash, json_t **doc,
			       enum agora_qs *found, long *status, json_t **reply,
			       struct db_neg_also *also);
/* The answer given to an earlier incoming message with this body hash. */
enum agora_qs db_neg_msg_find(PGconn *c, const char *neg_id, const char *hash, long *status,
			      json_t **reply);
enum agora_qs db_neg_list(const char *state, const char *role, const char *after, int limit,
			  json_t **out);
/* Negotiation id (db_neg_get), its history (the messages in and out, oldest
 * first: direction, type, status, at) and the
 * agreement it names (db_agreement_get's document, NULL when none) in one
 * round trip, for its API document.  ONE (all three set as found), NONE
 * (no such negotiation) or an error; nothing is returned unless ONE. */
enum agora_qs db_neg_read_whole(const char *id, json_t **doc, json_t **history, json_t **agreement);
/* Store an agreement of negotiation neg_id (locked by the transaction,
 * and with none yet) whose id no other transaction can store meanwhile: a
 * fresh one, or one found absent under db_neg_lock_find's advisory lock
 * (new_agreement).  No unique index can refuse it, so inside agora_db_tx
 * it goes with the next round trip, like db_neg_add. */
enum agora_qs db_agreement_add(PGconn *c, const char *id, const char *neg_id,
			       const json_t *agreement, const json_t *signatures);
/* Replace signatures and/or set the receipt (NULL: keep).  Inside
 * agora_db_tx it goes with the transaction's next round trip, like
 * db_neg_update: ONE, and no such agreement fails the transaction. */
enum agora_qs db_agreement_update(PGconn *c, const char *id, const json_t *signatures,
				  const json_t *receipt);
/* The API document {id, negotiationId, role, agreement, signatures,
 * receipt?, status, createdAt, revokedAt?} and the negotiation's owner. */
enum agora_qs db_agreement_get(PGconn *c, const char *id, json_t **doc, char **owner);
enum agora_qs db_agreement_list(const char *after, int limit, json_t **out);
/* NONE when it is unknown or already revoked. */
enum agora_qs db_agreement_revoke(PGconn *c, const char *id);

#endif
