/* ingest.h — observation batches: a declared schema, and JSON or CSV request
 * bodies parsed against it into typed rows ready for PostgreSQL COPY.
 *
 * Pure: no HTTP, no database.  The observations handler parses the dataset's
 * `source` once with agora_obs_schema_parse(), parses the body with
 * agora_obs_parse_json() or agora_obs_parse_csv(), refuses the request when
 * !agora_obs_batch_ok(), and otherwise streams agora_obs_batch_copy_line()
 * for each accepted row into COPY.
 *
 * Rows are stored compactly (no json_t per cell): each accepted row keeps its
 * timestamp, its thing id and its values already rendered as a JSON object
 * text in schema field order, with every declared field present (null when
 * missing or empty).  Numbers from CSV keep their digits, normalised to JSON
 * number syntax ("+1" → 1, ".5" → 0.5, "007" → 7); numbers from JSON are
 * printed in the shortest form that reads back to the same double.
 *
 * Validity and plausibility are separate: a value of the wrong type rejects
 * its row; a value outside the declared min/max is accepted and only counted
 * (it lowers the plausibility measure, see quality.h).
 */
#ifndef AGORA_INGEST_H
#define AGORA_INGEST_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quality.h"
#include "util.h"

#define AGORA_OBS_MAX_FIELDS 64
#define AGORA_OBS_MAX_NAME 64
#define AGORA_OBS_MAX_UNIT 64
#define AGORA_OBS_MAX_THING 200
/* Longest string value; a client-controlled size, so bounded. */
#define AGORA_OBS_MAX_STRING 4096
/* Rejections kept with their detail; the total is always counted. */
#define AGORA_OBS_MAX_REJECTIONS 100

enum agora_obs_type {
	AGORA_OBS_NUMBER,
	AGORA_OBS_INTEGER,
	AGORA_OBS_STRING,
	AGORA_OBS_BOOLEAN,
};

struct agora_obs_field {
	char *name;
	enum agora_obs_type type;
	char *unit;		/* NULL when not declared */
	bool required;
	bool has_min, has_max;	/* only number/integer fields have a range */
	double min, max;
};

/* Read-only after parsing. */
struct agora_obs_schema {
	size_t nfields;
	struct agora_obs_field fields[AGORA_OBS_MAX_FIELDS];
	char *time_field;	/* default "timestamp" */
	char *thing_field;	/* default "thing" */
};

/* Parse and check an observations source
 *   {"type":"observations","fields":[{name,type,unit?,min?,max?,required?}…],
 *    "timeField"?,"thingField"?}
 * Unknown members are refused.  Returns a new schema, or NULL with a reason
 * naming the offending member ("source.fields[1].type must be one of …")
 * written to err. */
struct agora_obs_schema *agora_obs_schema_parse(const json_t *source, char *err, size_t errlen);
void agora_obs_schema_free(struct agora_obs_schema *s);
/* The schema in canonical form (defaults filled in); a new reference. */
json_t *agora_obs_schema_to_json(const struct agora_obs_schema *s);

/* Statistics of the accepted rows of one batch, accumulated while parsing.
 * Rejected rows contribute only to `rejected`. */
struct agora_obs_stats {
	int64_t accepted;
	int64_t rejected;
	int64_t min_ts, max_ts;	/* ms since the epoch; meaningful when accepted > 0 */
	int64_t duplicates;	/* accepted rows whose (thing, ts) came earlier in the batch */
	int64_t things;		/* distinct thing ids */
	size_t nfields;
	int64_t nonnull[AGORA_OBS_MAX_FIELDS];
	/* Per field: non-null values compared with a declared min/max, and how
	 * many of those fell outside it. */
	int64_t checked[AGORA_OBS_MAX_FIELDS];
	int64_t implausible[AGORA_OBS_MAX_FIELDS];
};

struct agora_obs_batch;

/* Parse a JSON array of objects {timeField:"RFC 3339", thingField:"id",
 * field:value…}.  Per-row problems (unknown member, wrong type, missing
 * required field, bad timestamp or thing id) reject that row only.  The
 * whole batch fails (agora_obs_batch_ok() false) when the body is not valid
 * JSON, not an array, or holds more than max_rows elements.  Never returns
 * NULL; the caller frees the batch.  The schema must outlive the batch. */
struct agora_obs_batch *agora_obs_parse_json(const struct agora_obs_schema *s, const char *body,
					     size_t len, size_t max_rows);

/* Parse CSV (RFC 4180 through libcsv, strict quoting, LF or CRLF, an optional
 * UTF-8 BOM).  The first record is the header: it must name timeField and
 * thingField, every required field, and otherwise only declared fields, each
 * once; anything else fails the whole batch, as do a quoting error and more
 * than max_rows data records.  Per-row problems reject the row: a column
 * count other than the header's, a cell that is not of the declared type.
 * Empty cells are null (a quoted "" is an empty string in a string column);
 * spaces and tabs around unquoted cells are trimmed (libcsv's default).
 * Booleans are true/false/1/0 in any case.  Row numbers are physical line
 * numbers with the header's line as 1 (a record spanning lines by a quoted
 * newline is numbered by its first line); lines end at LF, CR-only line ends
 * are not counted.  Never returns NULL. */
struct agora_obs_batch *agora_obs_parse_csv(const struct agora_obs_schema *s, const char *body,
					    size_t len, size_t max_rows);

/* Streaming form of agora_obs_parse_csv() for bodies that arrive in chunks:
 * feed returns false once the batch has failed (further feeds are ignored);
 * finish always returns the batch (the caller frees it) and frees the
 * parser.  Chunks may split lines, cells and UTF-8 sequences anywhere. */
struct agora_obs_csv;
struct agora_obs_csv *agora_obs_csv_new(const struct agora_obs_schema *s, size_t max_rows);
bool agora_obs_csv_feed(struct agora_obs_csv *p, const char *chunk, size_t len);
struct agora_obs_batch *agora_obs_csv_finish(struct agora_obs_csv *p);

void agora_obs_batch_free(struct agora_obs_batch *b);

/* False when the whole body was refused; the reason is then
 * agora_obs_batch_error() (borrowed) and the batch holds no rows. */
bool agora_obs_batch_ok(const struct agora_obs_batch *b);
const char *agora_obs_batch_error(const struct agora_obs_batch *b);

size_t agora_obs_batch_count(const struct agora_obs_batch *b);
int64_t agora_obs_batch_rejected_count(const struct agora_obs_batch *b);
/* The first AGORA_OBS_MAX_REJECTIONS rejections, in input order, as a new
 * array [{"row":n,"column":"name"|n|null,"reason":"…"}].  column is a field
 * name, a 1-based column number (a CSV cell past the header's last column),
 * or null (a JSON element that is not an object). */
json_t *agora_obs_batch_rejections(const struct agora_obs_batch *b);
const struct agora_obs_stats *agora_obs_batch_stats(const struct agora_obs_batch *b);

/* Row i (0 ≤ i < count) of the accepted rows.  Strings are borrowed from the
 * batch and NUL-terminated (neither may contain NUL). */
int64_t agora_obs_batch_ts(const struct agora_obs_batch *b, size_t i);
const char *agora_obs_batch_thing(const struct agora_obs_batch *b, size_t i);
const char *agora_obs_batch_values_text(const struct agora_obs_batch *b, size_t i);
/* The values as a new JSON object (parsed from the text: not for hot paths). */
json_t *agora_obs_batch_values(const struct agora_obs_batch *b, size_t i);
/* True when an earlier row of this batch has the same (thing, ts). */
bool agora_obs_batch_is_duplicate(const struct agora_obs_batch *b, size_t i);

/* Append row i as one line of PostgreSQL COPY text format,
 *   dataset_id \t 2024-05-01T10:00:00.000Z \t thing \t values_json \n
 * with backslash, tab, newline and carriage return escaped in every column. */
void agora_obs_batch_copy_line(const struct agora_obs_batch *b, size_t i, const char *dataset_id,
			       struct agora_buf *out);

/* Fill *q from the batch's statistics (nonnull points into the batch) for
 * agora_quality_compute(); period_s and now as in quality.h. */
void agora_obs_batch_quality_input(const struct agora_obs_batch *b, int64_t period_s, int64_t now,
				   struct agora_quality_input *q);

/* Parse an RFC 3339 date-time ("2024-05-01T12:00:00.5+02:00"; T, t or space
 * between date and time; Z, z or ±hh:mm) into ms since the epoch (UTC),
 * fractions beyond ms truncated, years 0001–9999 after normalisation, leap
 * seconds refused.  s need not be NUL-terminated. */
bool agora_rfc3339_ms(const char *s, size_t len, int64_t *out);
/* Format ms since the epoch as "YYYY-MM-DDTHH:MM:SS.mmmZ" (24 chars + NUL). */
void agora_rfc3339_format_ms(int64_t ms, char buf[static 32]);

#endif
