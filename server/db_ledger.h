/* db_ledger.h — queries of the clearing-house ledger (SQL in db_ledger.c
 * only).  The ledger's logic is in ledger.h; these are its storage steps. */
#ifndef AGORA_DB_LEDGER_H
#define AGORA_DB_LEDGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

extern const struct agora_stmt db_ledger_stmts[];

/* A signed tree head as stored. */
struct db_ledger_sth {
	long long tree_size;
	uint8_t root[32];
	char timestamp[32];	/* RFC 3339 UTC, to the second, as signed */
	long long signed_at;	/* the same, unix seconds */
	char *signature;	/* compact JWS (heap; free it) */
};

/* Wait for the transaction-scoped advisory lock of the appenders
 * ('agora-ledger-append'), then read, in the same round trip, the tree
 * after the last committed append: size, root and frontier (the
 * roots of its perfect subtrees, largest first; *frontier is heap, NULL
 * when empty, *nfrontier hashes).  frontier may be NULL when not wanted. */
enum agora_qs db_ledger_lock_head(PGconn *c, long long *size, uint8_t root[32],
				  uint8_t (**frontier)[32], size_t *nfrontier);

/* Store entry idx (canonical JSON text) and move the head from size idx
 * to idx + 1 with the new root and frontier; with notify, also notify
 * channel agora_ledger on commit.  Inside agora_db_tx the statement goes
 * with the transaction's next round trip (agora_db_defer) and ONE means
 * queued; a head that moved meanwhile (another writer got in: cannot
 * happen under the append lock in READ COMMITTED) then fails the
 * transaction.  Outside: ONE, RETRY for a taken index, HARD_ERROR. */
enum agora_qs db_ledger_insert(PGconn *c, long long idx, const char *kind, const char *entry,
			       const uint8_t leaf[32], const uint8_t root[32],
			       const uint8_t (*frontier)[32], size_t nfrontier, bool notify);

/* Start signing a tree head, in one round trip: let the open transaction
 * on c commit without waiting for the WAL flush, wait for the
 * transaction-scoped advisory lock of the STH signers ('agora-ledger-sign'),
 * then read the head (*size, root) and the latest STH (*last, signature on
 * the heap; ONE, or NONE when none was signed yet). */
enum agora_qs db_ledger_sign_start(PGconn *c, long long *size, uint8_t root[32],
				   struct db_ledger_sth *last);

/* The newest STH (out->signature heap): ONE or NONE. */
enum agora_qs db_ledger_sth_latest(PGconn *c, struct db_ledger_sth *out);
/* Store an STH; ONE, or NONE when one of that size exists already. */
enum agora_qs db_ledger_sth_insert(PGconn *c, const struct db_ledger_sth *s);

/* Entries start..end inclusive as a new array of {"index","leafHash","entry"}. */
enum agora_qs db_ledger_entries(PGconn *c, long long start, long long end, json_t **out);
/* db_ledger_sth_latest and db_ledger_entries(index, index) in one round
 * trip: the latest signed head (ONE, NONE when there is none yet) and
 * *entries (new, also when there is no head) — for a receipt. */
enum agora_qs db_ledger_sth_and_entry(PGconn *c, long long index, struct db_ledger_sth *sth,
				      json_t **entries);
/* Leaf hashes of entries from..to-1 into out[0..to-from); HARD_ERROR when
 * any is missing. */
enum agora_qs db_ledger_leaves(PGconn *c, long long from, long long to, uint8_t (*out)[32]);

#endif
