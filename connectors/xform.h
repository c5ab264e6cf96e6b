/* xform.h — the data-level terms of an agreement, applied to observation
 * rows while they stream to a consumer (DESIGN.md §6 step 4, DATAPLANE.md).
 *
 * Pure: no HTTP, no database.  The provider's data endpoint builds one plan
 * per transfer from the signed agreement, the consumer's query and the
 * dataset's declared value fields, runs the SQL the plan describes
 *
 *   SELECT (extract(epoch FROM ts) * 1000000)::bigint, thing, vals::text
 *     FROM observations WHERE dataset_id = $1
 *      [AND ts >= timestamptz 'epoch' + $from_us * interval '1 microsecond']
 *      [AND ts <  timestamptz 'epoch' + $to_us * interval '1 microsecond']
 *     ORDER BY ts, thing [LIMIT xform_plan_sql_limit()]
 *
 * (the interval form is exact; to_timestamp($us / 1e6) goes through a
 * double and can miss the bound by a microsecond)
 * through a server-side cursor, and feeds each row to xform_row(), sending
 * the output buffer to the network between calls.  Timestamps go in as
 * microseconds since the epoch (UTC) and come out as RFC 3339 UTC text.
 *
 * What the agreement says (anonymize and aggregate duties, the agora:dataFrom
 * / agora:dataTo window, agora:maxRows) is applied here and cannot be widened
 * by the query: a query asking for more is refused, never silently trimmed.
 * The same plan inputs and the same rows always give the same bytes, so the
 * SHA-256 of what was sent can be compared with what was received.
 *
 * Errors are stable symbols for the caller's error table:
 *   "invalid_query"        the query is malformed (type, value, unknown member,
 *                          unknown field, bad format)
 *   "query_not_permitted"  the query asks for more than the agreement allows
 *                          (a dropped or unaggregated field, a time range
 *                          outside the window, a limit above agora:maxRows)
 *   "invalid_agreement"    the agreement's data-level terms cannot be applied
 *                          (anonymize without fields or of the time field, a
 *                          field the dataset does not have, a bad bucket …)
 *   "invalid_dataset"      the declared fields are unusable (duplicate or
 *                          reserved names): a caller bug, not the client's.
 */
#ifndef AGORA_XFORM_H
#define AGORA_XFORM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

/* Pseudonyms are this many lowercase hex characters. */
#define XFORM_PSEUDONYM_LEN 32
/* Bucket widths the aggregate duty accepts, in seconds (PT1M … P1D). */
#define XFORM_BUCKET_MIN_S 60
#define XFORM_BUCKET_MAX_S 86400
#define XFORM_BUCKET_DEFAULT_S 3600

enum xform_format { XFORM_CSV, XFORM_JSON, XFORM_NDJSON };

/* One declared value field of the dataset (a key of vals), in schema order.
 * numeric: declared as number or integer (only those are aggregated). */
struct xform_field {
	const char *name;
	bool numeric;
};

/* The dataset as its observations source declares it (ingest.h's
 * agora_obs_schema: fields[i].name, type number/integer → numeric,
 * time_field, thing_field).  An anonymize duty may name the thing and the
 * time field by their declared names or as "thing" / "timestamp"; the
 * output always calls them timestamp (bucketStart) and thing. */
struct xform_dataset {
	const struct xform_field *fields;	/* value fields, schema order */
	size_t nfields;
	const char *time_field;		/* NULL: "timestamp" */
	const char *thing_field;	/* NULL: "thing" */
};

struct xform_plan;

/* The plan for one transfer.  agreement is the ODRL Agreement as signed;
 * query may be NULL (everything the agreement allows, as CSV); ds is the
 * dataset (copied); key is the provider's 32-byte secret for pseudonyms
 * (may be NULL when the agreement hashes nothing).  Nothing is borrowed
 * past the call.
 *
 * On refusal returns NULL, sets *errsym to one of the symbols above (a
 * static string) and writes a sentence naming the member at fault to
 * detail ("query.fields[1]: \"lat\" is dropped by the agreement
 * (permission[0].duty[0])"). */
struct xform_plan *xform_plan_new(const json_t *agreement, const json_t *query,
				  const struct xform_dataset *ds, const uint8_t *key,
				  const char **errsym, char *detail, size_t detail_len);
void xform_plan_free(struct xform_plan *p);

/* The effective observation-time window: from inclusive, to exclusive,
 * microseconds since the epoch; has_* false when unbounded. */
struct xform_window {
	bool has_from, has_to;
	int64_t from_us, to_us;
};
const struct xform_window *xform_plan_window(const struct xform_plan *p);
/* The most rows (or, aggregating, buckets) the transfer delivers; 0 = no
 * limit.  The min of the query's limit and agora:maxRows. */
uint64_t xform_plan_limit(const struct xform_plan *p);
/* The LIMIT for the SQL: the row limit when rows go out as they are, 0
 * (no LIMIT) when aggregating — buckets are limited, raw rows must not be.
 * A malformed row within the LIMIT is skipped, so the transfer then
 * delivers fewer rows than the limit. */
uint64_t xform_plan_sql_limit(const struct xform_plan *p);
bool xform_plan_aggregates(const struct xform_plan *p);
/* Bucket width in microseconds; 0 when not aggregating. */
int64_t xform_plan_bucket_us(const struct xform_plan *p);
enum xform_format xform_plan_format(const struct xform_plan *p);
/* "text/csv", "application/json" or "application/x-ndjson". */
const char *xform_plan_media_type(const struct xform_plan *p);

/* Streaming.  Each call appends to out (the caller drains it between calls,
 * setting out->len = 0 or not).  begin writes the CSV header or "[";
 * end flushes the last buckets and writes "]". */
void xform_begin(struct xform_plan *p, struct agora_buf *out);
/* One stored row: ts_us microseconds since the epoch, thing as stored
 * (NUL-terminated), vals the jsonb text as PostgreSQL renders it (any key
 * order and spacing; unknown keys ignored, missing keys null).
 * Returns 1 while more rows are wanted, 0 once the limit is reached (the
 * caller stops reading; further rows are ignored), -1 when the row is
 * malformed (not valid UTF-8, vals not a flat JSON object, a year outside
 * 0001–9999, or — aggregating — a ts earlier than the previous bucket): the
 * row is skipped and counted, the caller goes on.  Rows outside the window
 * are skipped and counted too (returns 1): the SQL should not have sent
 * them. */
int xform_row(struct xform_plan *p, int64_t ts_us, const char *thing, const char *vals,
	      size_t vals_len, struct agora_buf *out);
void xform_end(struct xform_plan *p, struct agora_buf *out);

/* Counters for the usage report: rows (or buckets) written, rows read and
 * used, malformed rows, rows outside the window. */
uint64_t xform_rows_out(const struct xform_plan *p);
uint64_t xform_rows_in(const struct xform_plan *p);
uint64_t xform_rows_malformed(const struct xform_plan *p);
uint64_t xform_rows_outside(const struct xform_plan *p);

/* The pseudonym this plan gives a value's text, so the provider can tell
 * which pseudonym stands for one of its own things (and tests can check the
 * construction).  out gets XFORM_PSEUDONYM_LEN hex characters and a NUL.
 * false when the plan has no key. */
bool xform_pseudonym(struct xform_plan *p, const char *text, size_t len,
		     char out[XFORM_PSEUDONYM_LEN + 1]);

#endif
