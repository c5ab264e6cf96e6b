/* db_ledger.c — see db_ledger.h. */
#include "db_ledger.h"
#include "merkle.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct agora_stmt db_ledger_stmts[] = {
	{ "ledger_lock_append", "SELECT pg_advisory_xact_lock(hashtext('agora-ledger-append'))" },
	{ "ledger_lock_sign", "SELECT pg_advisory_xact_lock(hashtext('agora-ledger-sign'))" },
	{ "ledger_head",
	  "SELECT tree_size, encode(root_hash, 'hex'), encode(frontier, 'hex') FROM ledger_head" },
	/* One statement: the entry, the new head (only if nobody moved it)
	 * and the notification the sequencer listens for.  It fails (division
	 * by zero) when the head moved, so that it can go with the next round
	 * trip (agora_db_defer) and still roll the transaction back. */
#define LEDGER_INSERT(out)                                                                   \
	"WITH e AS (INSERT INTO ledger_entries (idx, kind, entry, leaf_hash)"                \
	"  VALUES ($1, $2, $3::jsonb, decode($4, 'hex')) RETURNING idx),"                    \
	" h AS (UPDATE ledger_head SET tree_size = $1::bigint + 1, root_hash = decode($5, 'hex'),"\
	"  frontier = decode($6, 'hex') WHERE tree_size = $1::bigint RETURNING tree_size)"     \
	" SELECT 1 / count(*)::int" out " FROM e, h"
	{ "ledger_insert", LEDGER_INSERT(", pg_notify('agora_ledger', max(h.tree_size)::text)") },
	/* The same without the NOTIFY (ledger_append in agora_db_tx: the commit
	 * hook wakes the sequencer instead). */
	{ "ledger_insert_quiet", LEDGER_INSERT("") },
	{ "ledger_commit_async", "SELECT set_config('synchronous_commit', 'off', true)" },
	{ "ledger_sth_latest",
	  "SELECT tree_size, encode(root_hash, 'hex'), " AGORA_SQL_TS("signed_at") ","
	  " extract(epoch FROM signed_at)::bigint, signature"
	  " FROM ledger_sth ORDER BY tree_size DESC LIMIT 1" },
	{ "ledger_sth_insert",
	  "INSERT INTO ledger_sth (tree_size, root_hash, signed_at, signature)"
	  " VALUES ($1, decode($2, 'hex'), to_timestamp($3), $4) ON CONFLICT DO NOTHING" },
	{ "ledger_entries",
	  "SELECT idx, encode(leaf_hash, 'hex'), entry::text FROM ledger_entries"
	  " WHERE idx BETWEEN $1 AND $2 ORDER BY idx" },
	{ "ledger_leaves",
	  "SELECT leaf_hash FROM ledger_entries WHERE idx >= $1 AND idx < $2 ORDER BY idx" },
	{ NULL, NULL }
};

static enum agora_qs
exec_status(PGconn *c, const char *name, int n, const char *const *p)
{
	PGresult *r = agora_db_exec(c, name, n, p);
	enum agora_qs qs = agora_db_status(r, name);
	PQclear(r);
	return qs;
}

/* Hex of n hashes (heap). */
static char *
hashes_hex(const uint8_t (*h)[32], size_t n)
{
	char *s = xmalloc(n * 64 + 1);
	s[0] = '\0';
	for (size_t i = 0; i < n; i++)
		agora_hex(h[i], 32, s + 64 * i);
	return s;
}

static bool
unhex(const char *hex, uint8_t *out, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (uint8_t)v;
	}
	return true;
}

static enum agora_qs
head_result(PGresult *r, long long *size, uint8_t root[32], uint8_t (**frontier)[32],
	    size_t *nfrontier)
{
	enum agora_qs qs = agora_db_status(r, "ledger_head");
	if (qs != AGORA_QS_ONE)
		return qs;
	*size = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	const char *fh = PQgetvalue(r, 0, 2);
	size_t n = strlen(fh) / 64;
	if (!agora_merkle_from_hex(PQgetvalue(r, 0, 1), root) || strlen(fh) != 64 * n ||
	    n != (size_t)__builtin_popcountll((unsigned long long)*size))
		return AGORA_QS_HARD_ERROR;
	if (frontier) {
		*frontier = n ? xmalloc(n * 32) : NULL;
		*nfrontier = n;
		if (!unhex(fh, (uint8_t *)*frontier, n * 32))
			return AGORA_QS_HARD_ERROR;
	}
	return qs;
}

enum agora_qs
db_ledger_lock_head(PGconn *c, long long *size, uint8_t root[32], uint8_t (**frontier)[32],
		    size_t *nfrontier)
{
	/* One round trip; the head is read by a statement of its own, after
	 * the lock is granted, so it sees the append that held it. */
	PGresult *lock = NULL, *head = NULL;
	struct agora_db_step steps[] = {
		{ .stmt = "ledger_lock_append", .res = &lock },
		{ .stmt = "ledger_head", .res = &head },
	};
	agora_db_exec_steps(c, steps, 2);
	enum agora_qs qs = agora_db_status(lock, "ledger_lock_append");
	if (qs >= 0)
		qs = head_result(head, size, root, frontier, nfrontier);
	PQclear(lock);
	PQclear(head);
	return qs;
}

enum agora_qs
db_ledger_insert(PGconn *c, long long idx, const char *kind, const char *entry,
		 const uint8_t leaf[32], const uint8_t root[32], const uint8_t (*frontier)[32],
		 size_t nfrontier, bool notify)
{
	char sidx[24], lh[65], rh[65];
	snprintf(sidx, sizeof sidx, "%lld", idx);
	agora_merkle_to_hex(leaf, lh);
	agora_merkle_to_hex(root, rh);
	char *fh = hashes_hex(frontier, nfrontier);
	const char *p[] = { sidx, kind, entry, lh, rh, fh };
	/* In agora_db_tx it goes with the transaction's next round trip: under
	 * the append lock, in READ COMMITTED, the index is free and the head
	 * where the lock holder read it, so it cannot fail short of a bug —
	 * which rolls the transaction back. */
	enum agora_qs qs = agora_db_defer(c, notify ? "ledger_insert" : "ledger_insert_quiet", 6, p,
					  NULL, NULL);
	free(fh);
	/* At once (outside a transaction): a taken index is someone appending
	 * without the lock. */
	if (qs == AGORA_QS_CONFLICT)
		return AGORA_QS_RETRY;
	return qs;
}

static enum agora_qs
sth_result(PGresult *r, struct db_ledger_sth *out)
{
	enum agora_qs qs = agora_db_status(r, "ledger_sth_latest");
	if (qs == AGORA_QS_ONE) {
		out->tree_size = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		if (!agora_merkle_from_hex(PQgetvalue(r, 0, 1), out->root))
			qs = AGORA_QS_HARD_ERROR;
		snprintf(out->timestamp, sizeof out->timestamp, "%s", PQgetvalue(r, 0, 2));
		out->signed_at = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
		out->signature = xstrdup(PQgetvalue(r, 0, 4));
	}
	return qs;
}

enum agora_qs
db_ledger_sth_latest(PGconn *c, struct db_ledger_sth *out)
{
	PGresult *r = agora_db_exec(c, "ledger_sth_latest", 0, NULL);
	enum agora_qs qs = sth_result(r, out);
	PQclear(r);
	return qs;
}

enum agora_qs
db_ledger_sth_insert(PGconn *c, const struct db_ledger_sth *s)
{
	char size[24], at[24], rh[65];
	snprintf(size, sizeof size, "%lld", s->tree_size);
	snprintf(at, sizeof at, "%lld", s->signed_at);
	agora_merkle_to_hex(s->root, rh);
	const char *p[] = { size, rh, at, s->signature };
	return exec_status(c, "ledger_sth_insert", 4, p);
}

static enum agora_qs
entries_result(PGresult *r, json_t **out)
{
	enum agora_qs qs = agora_db_status(r, "ledger_entries");
	if (qs >= 0) {
		*out = json_array();
		for (int i = 0; i < PQntuples(r); i++) {
			json_t *entry = json_loads(PQgetvalue(r, i, 2), 0, NULL);
			json_array_append_new(
				*out, json_pack("{s:I, s:s, s:o*}", "index",
						(json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10),
						"leafHash", PQgetvalue(r, i, 1), "entry", entry));
		}
	}
	return qs;
}

enum agora_qs
db_ledger_entries(PGconn *c, long long start, long long end, json_t **out)
{
	char s[24], e[24];
	snprintf(s, sizeof s, "%lld", start);
	snprintf(e, sizeof e, "%lld", end);
	const char *p[] = { s, e };
	PGresult *r = agora_db_exec(c, "ledger_entries", 2, p);
	enum agora_qs qs = entries_result(r, out);
	PQclear(r);
	return qs;
}

enum agora_qs
db_ledger_sth_and_entry(PGconn *c, long long index, struct db_ledger_sth *sth, json_t **entries)
{
	char i[24];
	snprintf(i, sizeof i, "%lld", index);
	const char *p[] = { i, i };
	PGresult *rs = NULL, *re = NULL;
	struct agora_db_step steps[] = {
		{ .stmt = "ledger_sth_latest", .res = &rs },
		{ .stmt = "ledger_entries", .n = 2, .params = p, .res = &re },
	};
	agora_db_exec_steps(c, steps, 2);
	enum agora_qs qs = sth_result(rs, sth);
	if (qs >= 0) {
		enum agora_qs qe = entries_result(re, entries);
		if (qe < 0)
			qs = qe;
	}
	PQclear(rs);
	PQclear(re);
	return qs;
}

enum agora_qs
db_ledger_leaves(PGconn *c, long long from, long long to, uint8_t (*out)[32])
{
	char f[24], t[24];
	snprintf(f, sizeof f, "%lld", from);
	snprintf(t, sizeof t, "%lld", to);
	const char *p[] = { f, t };
	/* Binary results: 32 raw bytes per row, no hex to parse. */
	PGresult *r = agora_db_flush_begin(c) ? PQexecPrepared(c, "ledger_leaves", 2, p, NULL, NULL, 1)
					      : NULL;
	if (!r)
		r = PQmakeEmptyPGresult(c, PGRES_FATAL_ERROR);
	enum agora_qs qs = agora_db_status(r, "ledger_leaves");
	if (qs >= 0) {
		if ((long long)PQntuples(r) != to - from) {
			qs = AGORA_QS_HARD_ERROR;
		} else {
			for (int i = 0; i < PQntuples(r); i++) {
				if (PQgetlength(r, i, 0) != 32) {
					qs = AGORA_QS_HARD_ERROR;
					break;
				}
				memcpy(out[i], PQgetvalue(r, i, 0), 32);
			}
		}
	}
	PQclear(r);
	return qs;
}

enum agora_qs
db_ledger_sign_start(PGconn *c, long long *size, uint8_t root[32], struct db_ledger_sth *last)
{
	/* One round trip; each statement runs after the one before it, so the
	 * head and the latest STH are read once the sign lock is granted. */
	PGresult *r[4] = { NULL };
	struct agora_db_step steps[] = {
		{ .stmt = "ledger_commit_async", .res = &r[0] },
		{ .stmt = "ledger_lock_sign", .res = &r[1] },
		{ .stmt = "ledger_head", .res = &r[2] },
		{ .stmt = "ledger_sth_latest", .res = &r[3] },
	};
	agora_db_exec_steps(c, steps, 4);
	enum agora_qs qs = agora_db_status(r[0], "ledger_commit_async");
	if (qs >= 0)
		qs = agora_db_status(r[1], "ledger_lock_sign");
	if (qs >= 0 && (qs = head_result(r[2], size, root, NULL, NULL)) == AGORA_QS_NONE)
		qs = AGORA_QS_HARD_ERROR;	/* the head row always exists */
	if (qs >= 0)
		qs = sth_result(r[3], last);
	for (int i = 0; i < 4; i++)
		PQclear(r[i]);
	return qs;
}
