/* ledger.h — the clearing-house ledger (docs/LEDGER.md): an append-only
 * log of canonical JSON entries in an RFC 6962 Merkle tree, signed tree
 * heads (STHs), inclusion and consistency proofs, and receipts.
 *
 * Writers call ledger_append() inside their own transaction, so an entry
 * commits or rolls back with the state change it records.  A sequencer
 * thread, woken when appends commit (agora_db_tx's commit hook; NOTIFY for
 * appends in a transaction of the caller's own), signs a tree head
 * covering everything committed so far (one STH per batch).
 *
 * Jansson ownership: functions returning json_t * return a new reference;
 * json_t * arguments are borrowed.
 */
#ifndef AGORA_LEDGER_H
#define AGORA_LEDGER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto.h"
#include "db.h"

/* Entry kinds the ledger accepts (others are refused: a typo must not
 * create a kind nobody audits). */
#define LEDGER_KIND_PARTICIPANT_REGISTERED "participant_registered"
#define LEDGER_KIND_AGREEMENT "agreement"
#define LEDGER_KIND_REVOKED "revoked"
#define LEDGER_KIND_TRANSFER_STARTED "transfer_started"
#define LEDGER_KIND_TRANSFER_COMPLETED "transfer_completed"
#define LEDGER_KIND_DELETED "deleted"
#define LEDGER_KIND_INFORMED "informed"

/* Largest entry, in canonical bytes. */
#define LEDGER_MAX_ENTRY (64 * 1024)
/* Most entries GET /api/v1/ledger/entries returns per call. */
#define LEDGER_MAX_PAGE 1000

/* Append one entry in the caller's open transaction on c (READ COMMITTED
 * is best: under SERIALIZABLE concurrent appends fail with RETRY).  The
 * stored entry is a copy of `entry` (an object) with "kind" and
 * "timestamp" (now, RFC 3339 UTC) set, overriding members of those names;
 * its leaf hash is SHA-256(0x00 || JCS(entry)).  Takes the ledger's
 * transaction-scoped advisory lock, which serialises appenders until the
 * caller commits or rolls back: append last, just before COMMIT.
 * ONE with *index (may be NULL) set to the entry's index; RETRY (roll back
 * and rerun the transaction — agora_db_tx does); HARD_ERROR (logged) for
 * an unknown kind, an entry that is not an object, larger than
 * LEDGER_MAX_ENTRY, holding a number of magnitude above 2^53 (it would
 * not survive storage exactly), or a database error. */
enum agora_qs ledger_append(PGconn *c, const char *kind, const json_t *entry, long long *index);

/* ledger_append() in a transaction of its own (agora_db_tx). */
enum agora_qs ledger_append_tx(const char *kind, const json_t *entry, long long *index);

/* Start the sequencer thread (its own LISTEN connection to conninfo) and
 * sign a head for the current tree.  key and kid are borrowed for the
 * process's life.  false (logged) when the thread cannot start. */
bool ledger_start(const struct agora_key *key, const char *kid, const char *conninfo);
/* Stop the sequencer promptly.  Safe to call when not started. */
void ledger_stop(void);

/* Sign a head for the committed tree unless the newest STH covers it
 * already (both in one transaction, serialised with other signers).
 * ONE, or an error. */
enum agora_qs ledger_sign_head(void);

/* The newest STH {"treeSize","timestamp","rootHash","signature"}, signing
 * one first when committed entries are not covered yet; NULL when the
 * database is unavailable. */
json_t *ledger_sth(void);

/* Inclusion proof of entry index in the tree of tree_size entries / the
 * consistency proof between trees of first and second entries, as a new
 * array of hex hashes.  The caller checks index < tree_size ≤ the newest
 * STH's size (first ≤ second ≤ it).  NULL when the database is
 * unavailable. */
json_t *ledger_inclusion_proof(long long index, long long tree_size);
json_t *ledger_consistency_proof(long long first, long long second);

/* A receipt for entry index against the newest STH (signing one first if
 * none covers the index yet):
 *   {"index","treeSize","sth":{…signed…},"proof":["hex",…],"leafHash","entry"}
 * NULL when the index is not committed or the database is unavailable. */
json_t *ledger_receipt(long long index);

/* The incremental tree behind ledger_head.  frontier holds the roots of
 * the perfect subtrees of a tree of n leaves, largest first (popcount(n)
 * hashes, room for 64).  Append a leaf: returns the new count. */
size_t ledger_frontier_append(uint8_t (*frontier)[32], uint64_t n, const uint8_t leaf[32]);
/* RFC 6962 root of the tree whose frontier has k hashes. */
void ledger_frontier_root(const uint8_t (*frontier)[32], size_t k, uint8_t out[32]);

#endif
