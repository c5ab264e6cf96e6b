/* db_transfers.h — the SQL of the connector's transfer processes
 * (db_transfers.c only; schemas/sql/connector/0006-transfer.sql).
 *
 * A row travels as a JSON object whose members are the column names
 * (to_jsonb of the row); db_ctr_update() writes back its mutable members.
 * A NULL PGconn means the calling thread's connection, outside any
 * transaction. */
#ifndef AGORA_CONNECTOR_DB_TRANSFERS_H
#define AGORA_CONNECTOR_DB_TRANSFERS_H

#include <jansson.h>
#include <stdbool.h>

#include "db.h"

extern const struct agora_stmt db_transfer_stmts[];

/* One row by our id (lock: FOR UPDATE), or by the counterpart's pid. */
enum agora_qs db_ctr_get(PGconn *c, const char *id, bool lock, json_t **row);
enum agora_qs db_ctr_by_counterpart(PGconn *c, const char *role, const char *counterpart,
				    const char *pid, bool lock, json_t **row);
enum agora_qs db_ctr_insert(PGconn *c, const json_t *row);
/* Write back counterpart_pid, state, endpoint, token, token_expires_at,
 * sender_constrained, bytes, sha256, expected_sha256, verified,
 * received_at, reported_at, delete_due_at, deleted_at, attempts, code,
 * reason. */
enum agora_qs db_ctr_update(PGconn *c, const json_t *row);
/* Set only the members of fields (same names and columns as
 * db_ctr_update; null sets NULL): for writers that hold no row lock, so
 * that they never write back a stale state. */
enum agora_qs db_ctr_patch(PGconn *c, const char *id, const json_t *fields);
/* Progress of a running transfer (no transaction needed). */
enum agora_qs db_ctr_progress(const char *id, long long bytes);
/* The delete duty falls due iso_duration after received_at. */
enum agora_qs db_ctr_delete_due(PGconn *c, const char *id, const char *iso_duration);
/* History. */
enum agora_qs db_ctr_msg_add(PGconn *c, const char *id, const char *direction, const char *type,
			     const char *hash, long status, const json_t *reply, const json_t *body);
enum agora_qs db_ctr_msg_find(PGconn *c, const char *id, const char *hash, long *status,
			      json_t **reply);
/* The agreement as transfers need it: {"agreement","status","role",
 * "consumer","provider","datasetId","negotiationId"}. */
enum agora_qs db_ctr_agreement(PGconn *c, const char *agreement_id, json_t **out);
/* API documents (no secrets): one, or a page filtered by role and state. */
enum agora_qs db_ctr_doc(const char *id, json_t **doc);
enum agora_qs db_ctr_list(const char *role, const char *state, const char *after, int limit,
			  json_t **out);
enum agora_qs db_ctr_history(const char *id, json_t **out);
/* Ids the worker should look at: rows whose next step is ours (a pull or
 * push to run, a receipt to report) or whose delete duty is due.  New
 * array of {"id","why"}. */
enum agora_qs db_ctr_pending(json_t **out);

#endif
