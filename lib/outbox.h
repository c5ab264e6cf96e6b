/* outbox.h — a transactional outbox for outgoing DSP messages
 * (DESIGN.md §5, docs/OUTBOX.md).
 *
 * A component writes a message with agora_outbox_put() inside the same
 * transaction as the state change that causes it; the message exists if
 * and only if that transaction commits.  Worker threads started with
 * agora_outbox_start() deliver it: POST of the JSON body with a
 * self-issued participant token, exponential backoff on transport errors,
 * 408, 429 and 5xx, dead-lettering on other 4xx and after max_attempts.
 * Delivery is at least once (receivers de-duplicate); messages with the
 * same ref are delivered in id order.  A commit wakes a worker at once —
 * inside agora_db_tx through its commit hook (no NOTIFY in the
 * transaction), otherwise through NOTIFY agora_outbox; nothing polls on the
 * hot path.
 */
#ifndef AGORA_OUTBOX_H
#define AGORA_OUTBOX_H

#include <jansson.h>
#include <libpq-fe.h>

#include "crypto.h"
#include "db.h"

/* The tables outbox and outbox_dead, for a component's migrations. */
extern const char agora_outbox_schema_sql[];
/* The statements agora_outbox_put() and the workers use ({NULL,NULL}-
 * terminated): list it in the tables passed to agora_db_setup(). */
extern const struct agora_stmt agora_outbox_stmts[];

enum agora_outbox_outcome {
	AGORA_OUTBOX_DELIVERED,	/* 2xx: the row is deleted */
	AGORA_OUTBOX_REFUSED,	/* 4xx other than 408/429: moved to outbox_dead */
	AGORA_OUTBOX_GAVE_UP,	/* max_attempts failed: moved to outbox_dead */
};

/* Called by a worker inside the transaction that deletes or dead-letters
 * the message, on the worker's connection c (from agora_db_conn(), so the
 * component's prepared statements are there): what it writes commits
 * atomically with the removal.  sent_body and reply are borrowed; reply is
 * the parsed response body or NULL (not JSON, or no response: status 0 for
 * a GAVE_UP after a transport error).  If the callback leaves the
 * transaction failed (a statement errored), the removal and the callback's
 * writes are rolled back, the failure counts as an attempt and the message
 * is sent again after the usual backoff; after max_attempts such failures
 * it is dead-lettered (gave_up) without a callback, logged as an error. */
typedef void (*agora_outbox_result_fn)(void *ctx, PGconn *c, const char *kind,
				       const char *ref, const json_t *sent_body, long status,
				       const json_t *reply, enum agora_outbox_outcome outcome);

/* Fields left 0 / NULL take the defaults in the comments. */
struct agora_outbox_config {
	const char *conninfo;		/* for the LISTEN connection: the database
					   agora_db_setup() names */
	const struct agora_key *key;	/* signs the participant tokens */
	const char *kid;
	const char *self_id;		/* iss of the tokens */
	unsigned workers;		/* 2 */
	unsigned max_attempts;		/* 12 */
	unsigned base_delay_ms;		/* 200 */
	unsigned max_delay_ms;		/* 60000 */
	long timeout_ms;		/* per request, 10000 */
	agora_outbox_result_fn on_result;	/* may be NULL */
	void *ctx;
};

struct agora_outbox;

/* Queue a message inside the caller's open transaction on c (a connection
 * from agora_db_conn()): INSERT into outbox.  Inside agora_db_tx, its commit
 * hook then hands the message to a worker of this process (and other
 * processes are notified after the commit when none is idle here); in a
 * transaction of the caller's own, the INSERT comes with
 * pg_notify('agora_outbox'), which PostgreSQL delivers at commit — and which
 * serialises that commit with every other notifying commit of the cluster
 * across its WAL flush.  body must be a JSON object
 * (borrowed); ref (may be NULL) is an opaque correlation string handed back
 * to on_result and orders messages: those with the same ref are delivered
 * in the order they were put.  ONE on success, RETRY on a serialization
 * failure or deadlock (for agora_db_tx), HARD_ERROR on bad arguments or any
 * other database error (logged). */
enum agora_qs agora_outbox_put(PGconn *c, const char *kind, const char *url,
			       const char *audience, const json_t *body, const char *ref);

/* Start the listener and the worker threads.  The config's strings, key and
 * ctx are borrowed until agora_outbox_stop().  Calls
 * agora_httpc_global_init() (and stop its cleanup).  Messages already due
 * are sent at once.  NULL (logged) when a thread cannot be started or the
 * config lacks conninfo, key, kid or self_id. */
struct agora_outbox *agora_outbox_start(const struct agora_outbox_config *cfg);

/* Wake the workers and the listener, wait for them and free ob.  Threads
 * waiting (for work or for a backoff) return at once; one in the middle of
 * a request finishes it first (at most timeout_ms).  Accepts NULL. */
void agora_outbox_stop(struct agora_outbox *ob);

/* Make a worker look for due messages now, for a commit the outbox could
 * not see (puts inside agora_db_tx need no call: the commit hook wakes a
 * worker for each).  Cheap; safe from any thread. */
void agora_outbox_wake(struct agora_outbox *ob);

#endif
