/* ledger.c — see ledger.h and docs/LEDGER.md. */
#include "ledger.h"
#include "db_ledger.h"
#include "jcs.h"
#include "jose.h"
#include "log.h"
#include "merkle.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the incremental tree ------------------------------------------------ */

size_t
ledger_frontier_append(uint8_t (*frontier)[32], uint64_t n, const uint8_t leaf[32])
{
	size_t k = (size_t)__builtin_popcountll(n);
	uint8_t cur[32];
	memcpy(cur, leaf, 32);
	/* Like a binary counter: each trailing 1 bit of n is a perfect
	 * subtree of that size which the new leaf's subtree now completes. */
	for (uint64_t m = n; m & 1; m >>= 1) {
		k--;
		agora_merkle_node_hash(frontier[k], cur, cur);
	}
	memcpy(frontier[k], cur, 32);
	return k + 1;
}

void
ledger_frontier_root(const uint8_t (*frontier)[32], size_t k, uint8_t out[32])
{
	if (k == 0) {
		agora_merkle_root(NULL, 0, out);
		return;
	}
	/* RFC 6962 splits at the largest power of two below n, so the root
	 * is the perfect subtrees folded from the smallest one up. */
	uint8_t cur[32];
	memcpy(cur, frontier[k - 1], 32);
	for (size_t i = k - 1; i-- > 0;)
		agora_merkle_node_hash(frontier[i], cur, cur);
	memcpy(out, cur, 32);
}

/* ---- appending ------------------------------------------------------------ */

static void sequencer_wake(void *arg, unsigned times);
static bool sequencer_running(void);

static const char *const kinds[] = {
	LEDGER_KIND_PARTICIPANT_REGISTERED, LEDGER_KIND_AGREEMENT, LEDGER_KIND_REVOKED,
	LEDGER_KIND_TRANSFER_STARTED, LEDGER_KIND_TRANSFER_COMPLETED, LEDGER_KIND_DELETED,
	LEDGER_KIND_INFORMED,
};

static bool
kind_known(const char *kind)
{
	for (size_t i = 0; kind && i < ARRAY_LEN(kinds); i++)
		if (!strcmp(kind, kinds[i]))
			return true;
	return false;
}

/* Entries are stored as jsonb and served from it, so every number must
 * come back as the same double JCS hashed: magnitudes up to 2^53 do. */
static bool
numbers_exact(const json_t *v, int depth)
{
	const double lim = 9007199254740992.0;
	if (depth > 64)
		return false;
	switch (json_typeof(v)) {
	case JSON_INTEGER: {
		json_int_t i = json_integer_value(v);
		return i <= (json_int_t)lim && i >= -(json_int_t)lim;
	}
	case JSON_REAL:
		return fabs(json_real_value(v)) <= lim;
	case JSON_OBJECT: {
		const char *k;
		const json_t *m;
		json_object_foreach((json_t *)v, k, m)
			if (!numbers_exact(m, depth + 1))
				return false;
		return true;
	}
	case JSON_ARRAY: {
		size_t i;
		const json_t *m;
		json_array_foreach(v, i, m)
			if (!numbers_exact(m, depth + 1))
				return false;
		return true;
	}
	default:
		return true;
	}
}

enum agora_qs
ledger_append(PGconn *c, const char *kind, const json_t *entry, long long *index)
{
	if (!kind_known(kind) || !json_is_object(entry) || !numbers_exact(entry, 0)) {
		agora_log(AGORA_LOG_ERROR, "ledger: entry refused",
			  json_pack("{s:s?, s:s}", "kind", kind, "reason",
				    !kind_known(kind) ? "unknown kind"
				    : !json_is_object(entry) ? "not an object"
							     : "a number beyond 2^53 or nesting too deep"));
		return AGORA_QS_HARD_ERROR;
	}
	uint8_t (*front)[32] = NULL;
	uint8_t root[32];
	long long size = 0;
	size_t nf = 0;
	enum agora_qs qs = db_ledger_lock_head(c, &size, root, &front, &nf);
	if (qs != AGORA_QS_ONE) {
		free(front);
		return qs < 0 ? qs : AGORA_QS_HARD_ERROR;
	}
	/* Under the lock, so timestamps follow index order. */
	json_t *e = json_deep_copy(entry);
	char ts[32];
	agora_time_rfc3339(agora_now(), ts);
	json_object_set_new(e, "kind", json_string(kind));
	json_object_set_new(e, "timestamp", json_string(ts));
	size_t len = 0;
	char *canon = agora_jcs(e, &len);
	json_decref(e);
	if (!canon || len > LEDGER_MAX_ENTRY) {
		agora_log(AGORA_LOG_ERROR, "ledger: entry refused",
			  json_pack("{s:s, s:s}", "kind", kind, "reason",
				    canon ? "larger than LEDGER_MAX_ENTRY" : "not canonicalisable"));
		qs = AGORA_QS_HARD_ERROR;
		goto out;
	}
	uint8_t leaf[32];
	agora_merkle_leaf_hash(canon, len, leaf);
	uint8_t f[64][32];
	if (nf)
		memcpy(f, front, nf * 32);
	size_t k = ledger_frontier_append(f, (uint64_t)size, leaf);
	ledger_frontier_root((const uint8_t(*)[32])f, k, root);
	/* In agora_db_tx the sequencer of this process is woken after the
	 * commit; elsewhere (or with no sequencer here) by a NOTIFY in the
	 * transaction, which PostgreSQL serialises with every other notifying
	 * commit across the WAL flush. */
	bool hooked = sequencer_running() && agora_db_after_commit(sequencer_wake, NULL);
	qs = db_ledger_insert(c, size, kind, canon, leaf, root, (const uint8_t(*)[32])f, k, !hooked);
	if (qs == AGORA_QS_ONE && index)
		*index = size;
out:
	free(front);
	free(canon);
	return qs;
}

struct append_ctx {
	const char *kind;
	const json_t *entry;
	long long *index;
};

static enum agora_qs
append_tx(PGconn *c, void *ctx)
{
	struct append_ctx *a = ctx;
	return ledger_append(c, a->kind, a->entry, a->index);
}

enum agora_qs
ledger_append_tx(const char *kind, const json_t *entry, long long *index)
{
	struct append_ctx a = { kind, entry, index };
	return agora_db_tx(append_tx, &a, false);
}

/* ---- signed tree heads ---------------------------------------------------- */

static struct {
	const struct agora_key *key;
	const char *kid;
	char *conninfo;
	pthread_t thread;
	bool running;
	int stop_pipe[2];
	int wake_pipe[2];	/* appends committed in this process */
} g = { .stop_pipe = { -1, -1 }, .wake_pipe = { -1, -1 } };

static bool
sequencer_running(void)
{
	return g.running;
}

/* agora_db_tx committed an append: the sequencer signs a head for it (and
 * whatever else committed meanwhile — one byte or many, one signature). */
static void
sequencer_wake(void *arg, unsigned times)
{
	(void)arg;
	(void)times;
	if (g.wake_pipe[1] >= 0) {
		ssize_t w = write(g.wake_pipe[1], "a", 1);
		(void)w;	/* full: a wake-up is pending anyway */
	}
}

/* The signed members {"treeSize","timestamp","rootHash"}. */
static json_t *
sth_body(const struct db_ledger_sth *s)
{
	char hex[65];
	agora_merkle_to_hex(s->root, hex);
	return json_pack("{s:I, s:s, s:s}", "treeSize", (json_int_t)s->tree_size, "timestamp",
			 s->timestamp, "rootHash", hex);
}

static enum agora_qs
sign_tx(PGconn *c, void *ctx)
{
	(void)ctx;
	/* An STH commits without waiting for the disk.  Every head it signs
	 * is durable already (appends commit synchronously); whatever hands an
	 * STH on durably (a receipt in a negotiation's state) commits after it,
	 * and WAL is flushed in order, so the STH is on disk by then.  What a
	 * crash can lose is an STH only a reader of /ledger/sth saw: the next
	 * one signed covers the same or a longer prefix of the same log. */
	long long size = 0;
	uint8_t root[32];
	struct db_ledger_sth last = { 0 };
	enum agora_qs qs = db_ledger_sign_start(c, &size, root, &last);
	free(last.signature);
	if (qs < 0)
		return qs;
	bool have = qs == AGORA_QS_ONE;
	if (have && last.tree_size >= size)
		return AGORA_QS_ONE;
	/* Timestamps never go back, even if the clock does. */
	int64_t now = agora_now();
	if (have && now < last.signed_at)
		now = last.signed_at;
	struct db_ledger_sth s = { .tree_size = size, .signed_at = now };
	memcpy(s.root, root, 32);
	agora_time_rfc3339(now, s.timestamp);
	json_t *body = sth_body(&s);
	s.signature = agora_jws_sign_jcs(g.key, g.kid, body);
	json_decref(body);
	qs = s.signature ? db_ledger_sth_insert(c, &s) : AGORA_QS_HARD_ERROR;
	free(s.signature);
	return qs < 0 ? qs : AGORA_QS_ONE;
}

enum agora_qs
ledger_sign_head(void)
{
	if (!g.key)
		return AGORA_QS_HARD_ERROR;
	return agora_db_tx(sign_tx, NULL, false);
}

/* The newest STH as JSON, signing one first unless it has at least
 * min_size entries (min_size < 0: unless it covers the committed head). */
static json_t *
sth_covering(long long min_size)
{
	PGconn *c = agora_db_conn();
	if (!c)
		return NULL;
	struct db_ledger_sth s = { 0 };
	enum agora_qs qs = min_size >= 0 ? db_ledger_sth_latest(c, &s) : AGORA_QS_NONE;
	if (qs < 0 || (qs == AGORA_QS_ONE && s.tree_size < min_size) || qs == AGORA_QS_NONE) {
		free(s.signature);
		s.signature = NULL;
		if (ledger_sign_head() < 0 || !(c = agora_db_conn()) ||
		    db_ledger_sth_latest(c, &s) != AGORA_QS_ONE) {
			free(s.signature);
			return NULL;
		}
	}
	json_t *o = sth_body(&s);
	json_object_set_new(o, "signature", json_string(s.signature));
	free(s.signature);
	return o;
}

json_t *
ledger_sth(void)
{
	return sth_covering(-1);
}

/* The sequencer: sleeps on its LISTEN connection (and the stop pipe) and
 * signs one head per wake-up, however many appends committed meanwhile. */
static void *
sequencer(void *arg)
{
	(void)arg;
	PGconn *l = NULL;
	for (;;) {
		if (!l) {
			l = PQconnectdb(g.conninfo);
			PGresult *r = PQstatus(l) == CONNECTION_OK ? PQexec(l, "LISTEN agora_ledger")
								   : NULL;
			bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
			PQclear(r);
			if (!ok) {
				agora_logf(AGORA_LOG_WARN, "ledger", "sequencer cannot listen: %s",
					   PQerrorMessage(l));
				PQfinish(l);
				l = NULL;
				/* Back off, but stop at once when asked to. */
				struct pollfd p = { g.stop_pipe[0], POLLIN, 0 };
				if (poll(&p, 1, 1000) > 0)
					break;
				continue;
			}
			/* Appends committed while nobody listened. */
			ledger_sign_head();
		}
		struct pollfd p[3] = { { g.stop_pipe[0], POLLIN, 0 }, { PQsocket(l), POLLIN, 0 },
				       { g.wake_pipe[0], POLLIN, 0 } };
		if (poll(p, 3, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p[0].revents)
			break;
		bool woken = false;
		if (p[2].revents) {
			char buf[256];
			while (read(g.wake_pipe[0], buf, sizeof buf) > 0)
				;
			woken = true;
		}
		if (!PQconsumeInput(l)) {
			PQfinish(l);
			l = NULL;
			continue;
		}
		PGnotify *n;
		while ((n = PQnotifies(l))) {
			woken = true;
			PQfreemem(n);
		}
		if (woken && ledger_sign_head() < 0)
			agora_logf(AGORA_LOG_WARN, "ledger", "could not sign a tree head");
	}
	PQfinish(l);
	agora_db_close();
	return NULL;
}

bool
ledger_start(const struct agora_key *key, const char *kid, const char *conninfo)
{
	g.key = key;
	g.kid = kid;
	g.conninfo = xstrdup(conninfo);
	if (ledger_sign_head() < 0)
		agora_logf(AGORA_LOG_WARN, "ledger", "could not sign the initial tree head");
	if (pipe2(g.stop_pipe, O_CLOEXEC) != 0 || pipe2(g.wake_pipe, O_CLOEXEC | O_NONBLOCK) != 0 ||
	    pthread_create(&g.thread, NULL, sequencer, NULL) != 0) {
		agora_logf(AGORA_LOG_ERROR, "ledger", "cannot start the sequencer: %s",
			   strerror(errno));
		return false;
	}
	g.running = true;
	return true;
}

void
ledger_stop(void)
{
	if (g.running) {
		ssize_t w = write(g.stop_pipe[1], "x", 1);
		(void)w;
		pthread_join(g.thread, NULL);
		g.running = false;
	}
	for (int i = 0; i < 2; i++) {
		if (g.stop_pipe[i] >= 0) {
			close(g.stop_pipe[i]);
			g.stop_pipe[i] = -1;
		}
		if (g.wake_pipe[i] >= 0) {
			close(g.wake_pipe[i]);
			g.wake_pipe[i] = -1;
		}
	}
	free(g.conninfo);
	g.conninfo = NULL;
}

/* ---- proofs ----------------------------------------------------------------- */

/* Leaf hashes never change once committed, so each process keeps the
 * prefix it has read and fetches only what is new. */
static struct {
	pthread_mutex_t mu;
	uint8_t (*leaves)[32];
	size_t n, cap;
} cache = { .mu = PTHREAD_MUTEX_INITIALIZER };

/* With cache.mu held: make the cache hold at least upto leaves. */
static bool
cache_fill(size_t upto)
{
	if (cache.n >= upto)
		return true;
	PGconn *c = agora_db_conn();
	if (!c)
		return false;
	if (upto > cache.cap) {
		size_t cap = cache.cap ? cache.cap : 1024;
		while (cap < upto)
			cap *= 2;
		cache.leaves = xrealloc(cache.leaves, cap * 32);
		cache.cap = cap;
	}
	if (db_ledger_leaves(c, (long long)cache.n, (long long)upto, cache.leaves + cache.n) < 0)
		return false;
	cache.n = upto;
	return true;
}

static json_t *
hex_array(const uint8_t (*h)[32], size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++) {
		char hex[65];
		agora_merkle_to_hex(h[i], hex);
		json_array_append_new(a, json_string(hex));
	}
	return a;
}

json_t *
ledger_inclusion_proof(long long index, long long tree_size)
{
	if (index < 0 || tree_size <= index)
		return NULL;
	uint8_t out[AGORA_MERKLE_MAX_PROOF][32];
	size_t m = 0;
	pthread_mutex_lock(&cache.mu);
	bool ok = cache_fill((size_t)tree_size);
	if (ok)
		m = agora_merkle_inclusion_proof((const uint8_t(*)[32])cache.leaves,
						 (size_t)tree_size, (size_t)index, out,
						 AGORA_MERKLE_MAX_PROOF);
	pthread_mutex_unlock(&cache.mu);
	return ok ? hex_array((const uint8_t(*)[32])out, m) : NULL;
}

json_t *
ledger_consistency_proof(long long first, long long second)
{
	if (first < 0 || second < first)
		return NULL;
	uint8_t out[AGORA_MERKLE_MAX_PROOF][32];
	size_t m = 0;
	pthread_mutex_lock(&cache.mu);
	bool ok = cache_fill((size_t)second);
	if (ok)
		m = agora_merkle_consistency_proof((const uint8_t(*)[32])cache.leaves,
						   (size_t)second, (size_t)first, out,
						   AGORA_MERKLE_MAX_PROOF);
	pthread_mutex_unlock(&cache.mu);
	return ok ? hex_array((const uint8_t(*)[32])out, m) : NULL;
}

json_t *
ledger_receipt(long long index)
{
	if (index < 0)
		return NULL;
	/* The sequencer has usually signed a head covering it already: that
	 * head and the entry in one round trip, else a head signed now. */
	PGconn *c = agora_db_conn();
	struct db_ledger_sth s = { 0 };
	json_t *entries = NULL, *sth = NULL, *proof = NULL, *out = NULL;
	enum agora_qs qs = c ? db_ledger_sth_and_entry(c, index, &s, &entries) : AGORA_QS_HARD_ERROR;
	if (qs == AGORA_QS_ONE && s.tree_size > index) {
		sth = sth_body(&s);
		json_object_set_new(sth, "signature", json_string(s.signature));
	} else {
		json_decref(entries);
		entries = NULL;
		if (!(sth = sth_covering(index + 1)) || !(c = agora_db_conn()) ||
		    db_ledger_entries(c, index, index, &entries) != AGORA_QS_ONE)
			goto out;
	}
	long long size = (long long)json_integer_value(json_object_get(sth, "treeSize"));
	json_t *e = json_array_get(entries, 0);
	if (!e || !(proof = index < size ? ledger_inclusion_proof(index, size) : NULL))
		goto out;
	out = json_pack("{s:I, s:I, s:O, s:o, s:O, s:O}", "index", (json_int_t)index, "treeSize",
			(json_int_t)size, "sth", sth, "proof", proof, "leafHash",
			json_object_get(e, "leafHash"), "entry", json_object_get(e, "entry"));
	proof = NULL;
out:
	free(s.signature);
	json_decref(sth);
	json_decref(proof);
	json_decref(entries);
	return out;
}
