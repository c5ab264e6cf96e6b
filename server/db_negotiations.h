/* db_negotiations.h — the SQL of contract negotiations, their message
 * history and the agreements the broker signed (db_negotiations.c only;
 * schemas/sql/broker/0005-negotiation.sql). */
#ifndef AGORA_BROKER_DB_NEGOTIATIONS_H
#define AGORA_BROKER_DB_NEGOTIATIONS_H

#include <jansson.h>
#include <stdbool.h>

#include "db.h"
#include "dsp.h"

extern const struct agora_stmt db_bneg_stmts[];

/* One negotiation row.  Strings and json_t are owned (db_bneg_cleanup);
 * NULL for SQL NULL. */
struct db_neg {
	char *id;		/* our providerPid on the consumer leg */
	char *consumer_id, *consumer_pid, *callback;
	char *dataset_id, *offer_id;
	json_t *offer;		/* the requested offer */
	char *provider_id, *provider_endpoint;
	char *leg_pid;		/* our consumerPid on the provider leg */
	char *provider_pid;
	enum agora_dsp_state state;
	char *agreement_id;
	json_t *agreement, *signatures;
	long long ledger_index;	/* -1: none */
	bool revoked;
	long long revoke_index;	/* -1: none */
	char *code, *reason;
	char *created_at, *updated_at;
};

void db_bneg_cleanup(struct db_neg *n);

/* Which row to lock/read. */
enum db_neg_key {
	DB_NEG_BY_ID,		/* a = id */
	DB_NEG_BY_LEG,		/* a = leg_pid */
	DB_NEG_BY_CONSUMER,	/* a = consumer id, b = its consumerPid */
	DB_NEG_BY_AGREEMENT,	/* a = agreement id */
};

/* Read a negotiation into *n (zeroed first).  With lock, in the caller's
 * transaction on c, FOR UPDATE.  ONE, NONE or an error. */
enum agora_qs db_bneg_get(PGconn *c, enum db_neg_key key, const char *a, const char *b, bool lock,
			 struct db_neg *n);

/* Insert n (all members as set; state, ids required).  ONE, CONFLICT
 * (consumer pid or ids taken) or an error. */
enum agora_qs db_bneg_insert(PGconn *c, const struct db_neg *n);

/* Write back the mutable members of n: state, provider_pid, agreement_id,
 * agreement, signatures, ledger_index, code, reason.  ONE, CONFLICT (the
 * agreement id is taken) or an error. */
enum agora_qs db_bneg_update(PGconn *c, const struct db_neg *n);
/* The same for a row this transaction has locked and whose agreement id it
 * does not change (so no CONFLICT): inside agora_db_tx the UPDATE goes with
 * the transaction's next round trip (agora_db_defer) — ONE, and a failure,
 * or no such row, fails that round trip and the transaction. */
enum agora_qs db_bneg_update_locked(PGconn *c, const struct db_neg *n);

/* Mark the agreement revoked with its ledger entry.  ONE or an error. */
enum agora_qs db_bneg_revoke(PGconn *c, const char *id, long long revoke_index);

/* Record a message of negotiation neg: direction "in"/"out", leg
 * "consumer"/"provider", type (agora_dsp_kind_name), body (borrowed);
 * for "in", the status and reply we answered (reply borrowed, may be
 * NULL).  ONE or an error.  Inside agora_db_tx the INSERT goes with the
 * transaction's next round trip (agora_db_defer): a failure shows there. */
enum agora_qs db_bneg_message_add(PGconn *c, const char *neg, const char *direction,
				 const char *leg, const char *type, const json_t *body,
				 const char *sha256_hex, int status, const json_t *reply);

/* db_bneg_get with lock by DB_NEG_BY_ID or DB_NEG_BY_LEG and, in the same
 * round trip, db_bneg_message_seen for that negotiation into *seen: the
 * look-up runs after the lock is granted, so it sees what a concurrent
 * identical message committed meanwhile.  Returns the lock's status
 * (*seen is NONE unless it is ONE). */
enum agora_qs db_bneg_lock_seen(PGconn *c, enum db_neg_key key, const char *pid, const char *type,
				const char *sha256_hex, struct db_neg *n, enum agora_qs *seen,
				int *status, json_t **reply);
/* The answer given to an earlier incoming message of neg with the same
 * type and body hash: ONE with *status and *reply (new), NONE, or error. */
enum agora_qs db_bneg_message_seen(PGconn *c, const char *neg, const char *type,
				  const char *sha256_hex, int *status, json_t **reply);

/* Admin listing: up to limit negotiations after id `after` (NULL: first),
 * in id order, filtered by state when not NULL.  *out: new array of
 * summaries. */
enum agora_qs db_bneg_list(const char *state, const char *after, int limit, json_t **out);

/* The message history of neg: *out new array of
 * {"direction","leg","type","at","body"} in order. */
enum agora_qs db_bneg_history(const char *neg, json_t **out);

/* Agreements the broker signed, in agreement id order after `after`;
 * party NULL: all, else those where it is provider or consumer.  *out:
 * new array of {"id","negotiationId","agreement","signatures","status",
 * "state","ledgerIndex"}. */
enum agora_qs db_bneg_agreements(const char *party, const char *after, int limit, json_t **out);

#endif
