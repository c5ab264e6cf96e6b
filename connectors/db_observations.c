/* db_observations.c — storing observation batches with COPY, and the
 * running statistics their quality is computed from.
 *
 * Statistics are kept per dataset (obs_stats) and updated from each batch,
 * so an ingest costs its own rows, not the dataset's: record, null and
 * range counts add up; distinct things live in obs_things; duplicates
 * across batches are counted only where the batch's time range overlaps
 * what is stored (an append-only sensor feed never pays for it).
 */
#include "db_connector.h"
#include "ingest.h"
#include "log.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct agora_stmt db_observation_stmts[] = {
	{ "obs_stats_init", "INSERT INTO obs_stats (dataset_id) VALUES ($1) ON CONFLICT DO NOTHING" },
	{ "obs_stats_lock",
	  "SELECT records, rejected, duplicates,"
	  " coalesce((extract(epoch FROM min_ts) * 1000)::bigint, 0),"
	  " coalesce((extract(epoch FROM max_ts) * 1000)::bigint, 0),"
	  " array_to_string(nonnull, ','), checked, implausible"
	  " FROM obs_stats WHERE dataset_id = $1 FOR UPDATE" },
	{ "obs_range_dups",
	  "SELECT count(*) - count(DISTINCT (thing, ts)) FROM observations WHERE dataset_id = $1"
	  " AND ts BETWEEN to_timestamp($2::float8 / 1000) AND to_timestamp($3::float8 / 1000)" },
	{ "obs_things_add",
	  "INSERT INTO obs_things (dataset_id, thing) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING" },
	{ "obs_things_count", "SELECT count(*) FROM obs_things WHERE dataset_id = $1" },
	{ "obs_stats_save",
	  "UPDATE obs_stats SET records = $2::bigint, rejected = $3::bigint, duplicates = $4::bigint,"
	  " min_ts = to_timestamp($5::float8 / 1000), max_ts = to_timestamp($6::float8 / 1000),"
	  " nonnull = string_to_array($7, ',')::bigint[], checked = $8::bigint,"
	  " implausible = $9::bigint WHERE dataset_id = $1" },
	{ NULL, NULL }
};

static enum agora_qs
copy_rows(PGconn *c, const char *dataset_id, const struct agora_obs_batch *b)
{
	PGresult *r = agora_db_flush_begin(c)
			      ? PQexec(c, "COPY observations (dataset_id, ts, thing, vals) FROM STDIN")
			      : NULL;
	bool ok = PQresultStatus(r) == PGRES_COPY_IN;
	PQclear(r);
	if (!ok) {
		agora_logf(AGORA_LOG_ERROR, "db", "COPY observations: %s", PQerrorMessage(c));
		return AGORA_QS_HARD_ERROR;
	}
	struct agora_buf buf;
	agora_buf_init(&buf);
	size_t n = agora_obs_batch_count(b);
	for (size_t i = 0; i < n && ok; i++) {
		agora_obs_batch_copy_line(b, i, dataset_id, &buf);
		if (buf.len >= 256 * 1024 || i + 1 == n) {
			ok = PQputCopyData(c, buf.data, (int)buf.len) == 1;
			buf.len = 0;
		}
	}
	agora_buf_cleanup(&buf);
	if (PQputCopyEnd(c, ok ? NULL : "client gave up") != 1)
		ok = false;
	enum agora_qs qs = AGORA_QS_ONE;
	while ((r = PQgetResult(c))) {
		enum agora_qs s = agora_db_status(r, "COPY observations");
		if (s < 0)
			qs = s;
		PQclear(r);
	}
	return ok ? qs : AGORA_QS_HARD_ERROR;
}

/* A scalar bigint query; -1 on error. */
static long long
scalar(PGconn *c, const char *name, int n, const char *const *p)
{
	PGresult *r = agora_db_exec(c, name, n, p);
	long long v = agora_db_status(r, name) == AGORA_QS_ONE ? atoll(PQgetvalue(r, 0, 0)) : -1;
	PQclear(r);
	return v;
}

/* The batch's distinct things as a PostgreSQL text[] literal (heap). */
static char *
things_literal(const struct agora_obs_batch *b)
{
	size_t n = agora_obs_batch_count(b), cap = 64;
	const char **seen = xcalloc(cap, sizeof *seen);
	size_t used = 0;
	struct agora_buf out;
	agora_buf_init(&out);
	agora_buf_puts(&out, "{");
	for (size_t i = 0; i < n; i++) {
		const char *t = agora_obs_batch_thing(b, i);
		/* Open addressing on a small table: sensor feeds have few things. */
		uint64_t h = 1469598103934665603ull;
		for (const char *p = t; *p; p++)
			h = (h ^ (unsigned char)*p) * 1099511628211ull;
		size_t k = h & (cap - 1);
		while (seen[k] && strcmp(seen[k], t) != 0)
			k = (k + 1) & (cap - 1);
		if (seen[k])
			continue;
		seen[k] = t;
		agora_buf_puts(&out, used ? ",\"" : "\"");
		for (const char *p = t; *p; p++) {
			if (*p == '"' || *p == '\\')
				agora_buf_append(&out, "\\", 1);
			agora_buf_append(&out, p, 1);
		}
		agora_buf_puts(&out, "\"");
		if (++used * 2 > cap) {	/* grow and rehash */
			size_t ncap = cap * 2;
			const char **ns = xcalloc(ncap, sizeof *ns);
			for (size_t j = 0; j < cap; j++) {
				if (!seen[j])
					continue;
				uint64_t hh = 1469598103934665603ull;
				for (const char *p = seen[j]; *p; p++)
					hh = (hh ^ (unsigned char)*p) * 1099511628211ull;
				size_t kk = hh & (ncap - 1);
				while (ns[kk])
					kk = (kk + 1) & (ncap - 1);
				ns[kk] = seen[j];
			}
			free(seen);
			seen = ns;
			cap = ncap;
		}
	}
	agora_buf_puts(&out, "}");
	free(seen);
	return agora_buf_steal(&out);
}

enum agora_qs
db_observations_store(PGconn *c, const char *dataset_id, const struct agora_obs_batch *b,
		      struct db_obs_stats *st)
{
	const char *id[] = { dataset_id };
	PGresult *r = agora_db_exec(c, "obs_stats_init", 1, id);
	enum agora_qs qs = agora_db_status(r, "obs_stats_init");
	PQclear(r);
	if (qs < 0)
		return qs;
	r = agora_db_exec(c, "obs_stats_lock", 1, id);
	qs = agora_db_status(r, "obs_stats_lock");
	if (qs != AGORA_QS_ONE) {
		PQclear(r);
		return qs < 0 ? qs : AGORA_QS_HARD_ERROR;
	}
	memset(st, 0, sizeof *st);
	st->records = atoll(PQgetvalue(r, 0, 0));
	long long rejected = atoll(PQgetvalue(r, 0, 1));
	st->duplicates = atoll(PQgetvalue(r, 0, 2));
	st->oldest_ms = atoll(PQgetvalue(r, 0, 3));
	st->newest_ms = atoll(PQgetvalue(r, 0, 4));
	const char *nn = PQgetvalue(r, 0, 5);
	for (size_t k = 0; *nn && k < ARRAY_LEN(st->nonnull); k++) {
		st->nonnull[k] = atoll(nn);
		nn += strcspn(nn, ",");
		nn += *nn == ',';
	}
	st->checked = atoll(PQgetvalue(r, 0, 6));
	st->implausible = atoll(PQgetvalue(r, 0, 7));
	PQclear(r);

	const struct agora_obs_stats *bs = agora_obs_batch_stats(b);
	bool any = bs->accepted > 0;
	bool overlap = any && st->records > 0 && bs->min_ts <= st->newest_ms && bs->max_ts >= st->oldest_ms;
	char lo[24], hi[24];
	snprintf(lo, sizeof lo, "%lld", (long long)bs->min_ts);
	snprintf(hi, sizeof hi, "%lld", (long long)bs->max_ts);
	const char *rp[] = { dataset_id, lo, hi };
	long long dups_before = overlap ? scalar(c, "obs_range_dups", 3, rp) : 0;
	if (dups_before < 0)
		return AGORA_QS_HARD_ERROR;
	if (any && (qs = copy_rows(c, dataset_id, b)) != AGORA_QS_ONE)
		return qs;
	if (overlap) {
		long long after = scalar(c, "obs_range_dups", 3, rp);
		if (after < 0)
			return AGORA_QS_HARD_ERROR;
		st->duplicates += after - dups_before;
	} else {
		st->duplicates += bs->duplicates;
	}
	if (any) {
		char *things = things_literal(b);
		const char *tp[] = { dataset_id, things };
		r = agora_db_exec(c, "obs_things_add", 2, tp);
		qs = agora_db_status(r, "obs_things_add");
		PQclear(r);
		free(things);
		if (qs < 0)
			return qs;
	}
	st->things = scalar(c, "obs_things_count", 1, id);
	if (st->things < 0)
		return AGORA_QS_HARD_ERROR;

	/* Add the batch. */
	if (any) {
		st->oldest_ms = st->records ? (bs->min_ts < st->oldest_ms ? bs->min_ts : st->oldest_ms) : bs->min_ts;
		st->newest_ms = st->records ? (bs->max_ts > st->newest_ms ? bs->max_ts : st->newest_ms) : bs->max_ts;
	}
	st->records += bs->accepted;
	rejected += bs->rejected;
	st->nfields = bs->nfields;
	struct agora_buf nb;
	agora_buf_init(&nb);
	for (size_t k = 0; k < bs->nfields && k < ARRAY_LEN(st->nonnull); k++) {
		st->nonnull[k] += bs->nonnull[k];
		st->checked += bs->checked[k];
		st->implausible += bs->implausible[k];
		agora_buf_printf(&nb, "%s%lld", k ? "," : "", (long long)st->nonnull[k]);
	}
	st->rejected = rejected;
	char recs[24], rej[24], dup[24], mn[24], mx[24], chk[24], imp[24];
	snprintf(recs, sizeof recs, "%lld", st->records);
	snprintf(rej, sizeof rej, "%lld", rejected);
	snprintf(dup, sizeof dup, "%lld", st->duplicates);
	snprintf(mn, sizeof mn, "%lld", st->oldest_ms);
	snprintf(mx, sizeof mx, "%lld", st->newest_ms);
	snprintf(chk, sizeof chk, "%lld", st->checked);
	snprintf(imp, sizeof imp, "%lld", st->implausible);
	const char *sp[] = { dataset_id, recs, rej, dup, mn, mx, nb.data ? nb.data : "", chk, imp };
	r = agora_db_exec(c, "obs_stats_save", 9, sp);
	qs = agora_db_status(r, "obs_stats_save");
	PQclear(r);
	agora_buf_cleanup(&nb);
	return qs;
}
