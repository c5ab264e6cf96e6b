/* db_transfers.h — the SQL of transfer processes and their message history
 * (db_transfers.c only; schemas/sql/broker/0006-transfer.sql).
 *
 * A transfer row travels as a JSON object whose members are the column
 * names (to_jsonb of the row); db_btr_update() writes back its mutable
 * members.  Functions taking a PGconn run in the caller's transaction;
 * NULL means a connection of the calling thread, outside any transaction.
 */
#ifndef AGORA_BROKER_DB_TRANSFERS_H
#define AGORA_BROKER_DB_TRANSFERS_H

#include <jansson.h>
#include <stdbool.h>

#include "db.h"

extern const struct agora_stmt db_btr_stmts[];

enum db_btr_key {
	DB_BTR_BY_ID,		/* a = id */
	DB_BTR_BY_LEG,		/* a = leg_pid */
	DB_BTR_BY_CONSUMER,	/* a = consumer id, b = its consumerPid */
	DB_BTR_BY_PROVIDER,	/* a = provider id, b = its providerPid */
};

/* Read (with lock: FOR UPDATE) one transfer into *row (new reference).
 * ONE, NONE or an error. */
enum agora_qs db_btr_get(PGconn *c, enum db_btr_key key, const char *a, const char *b, bool lock,
			 json_t **row);
/* Insert row (members named as the columns).  ONE, CONFLICT or an error. */
enum agora_qs db_btr_insert(PGconn *c, const json_t *row);
/* Write back state, provider_pid, started_index, provider_report,
 * consumer_report, delete_due_at, deleted_at, deleted_index, code, reason. */
enum agora_qs db_btr_update(PGconn *c, const json_t *row);
/* The consumer's delete duty falls due iso_duration (ISO 8601, e.g. P30D)
 * from now. */
enum agora_qs db_btr_delete_due(PGconn *c, const char *id, const char *iso_duration);
/* How many transfers of agreement have counted as a use. */
enum agora_qs db_btr_uses(PGconn *c, const char *agreement, long long *n);
/* A transfer of agreement whose delete duty is overdue: ONE with *id
 * (heap), NONE, or an error. */
enum agora_qs db_btr_overdue(PGconn *c, const char *agreement, char **id);
/* Ids of the agreement's transfers that are not final (new array). */
enum agora_qs db_btr_running(PGconn *c, const char *agreement, json_t **ids);
/* History: record a message; find the answer to an earlier identical one. */
enum agora_qs db_btr_message_add(PGconn *c, const char *id, const char *direction, const char *leg,
				 const char *type, const json_t *body, const char *sha256_hex,
				 int status, const json_t *reply);
enum agora_qs db_btr_message_seen(PGconn *c, const char *id, const char *type,
				  const char *sha256_hex, int *status, json_t **reply);
/* Listing for GET /api/v1/transfers: party NULL = all (admin), else the
 * transfers where it is consumer or provider; after/limit page by id.
 * *out: new array of summaries. */
enum agora_qs db_btr_list(const char *party, const char *after, int limit, json_t **out);
/* The message history of a transfer: new array of {direction,leg,type,at,body}. */
enum agora_qs db_btr_history(const char *id, json_t **out);

#endif
