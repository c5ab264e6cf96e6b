/* quality.h — data quality measures (W3C DQV, ISO/IEC 25012 dimensions)
 * computed from aggregate statistics.
 *
 * Pure arithmetic: the caller gathers the statistics (from an ingest batch,
 * agora_obs_batch_quality_input(), or from SQL aggregates over a stored
 * dataset) and gets back the object published in the catalog.
 *
 * With R = records, F = field_count, N = Σ nonnull[f]:
 *
 *   recordCount       R
 *   completeness      R = 0: 0.  Otherwise (N / (R·F)) × coverage, where the
 *                     non-null ratio is 1 when F = 0, and coverage is 1 unless
 *                     the period P (seconds) is known, in which case
 *                       slots    = ⌊(newest_ms − oldest_ms) / (1000·P)⌋ + 1
 *                       expected = max(things, 1) × slots
 *                       coverage = min(1, (R − duplicates) / expected)
 *                     i.e. distinct (thing, timestamp) pairs received over
 *                     the samples each thing should have sent in
 *                     [oldest, newest].
 *   expectedRecords   expected as above; null when P = 0 or R = 0
 *   freshnessSeconds  max(0, now − ⌊newest_ms / 1000⌋); null when R = 0
 *   plausibility      1 − implausible / checked; null when checked = 0
 *   duplicateRate     duplicates / R; 0 when R = 0
 *   schemaConformance R / (R + rejected); 1 when R + rejected = 0
 *
 * Ratios are rounded to 4 decimals (half away from zero).  Each non-null
 * measure also appears in "measurements" as
 *   {"@type":"QualityMeasurement","isMeasurementOf":"agora:<key>","value":v}
 * in the order above (expectedRecords is context, not a measure).
 */
#ifndef AGORA_QUALITY_H
#define AGORA_QUALITY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct agora_quality_input {
	int64_t records;	/* schema-conformant records kept */
	int64_t rejected;	/* records refused as non-conformant */
	size_t field_count;	/* declared value fields (not time or thing) */
	const int64_t *nonnull;	/* field_count counts of non-null values; borrowed */
	int64_t implausible;	/* values outside their declared range … */
	int64_t checked;	/* … of this many values that had a range to check */
	int64_t duplicates;	/* records repeating an earlier (thing, timestamp) */
	int64_t things;		/* distinct things (0 is taken as 1) */
	int64_t oldest_ms, newest_ms;	/* record timestamps; used when records > 0 */
	int64_t period_s;	/* expected sampling period; 0 = unknown */
	int64_t now;		/* seconds since the epoch */
};

/* The measures as a new JSON object (see above).  Never fails. */
json_t *agora_quality_compute(const struct agora_quality_input *in);

/* Measures for a file dataset: the same keys, recordCount and the record
 * measures null, "byteSize" added, freshness from the modification time.
 * A new reference. */
json_t *agora_quality_for_file(int64_t byte_size, int64_t modified_unix, int64_t now);

/* Strict ISO 8601 duration: PnYnMnDTnHnMnS (each part optional, in order, at
 * least one, non-negative integers, T only before a time part) or PnW alone;
 * a year is 365 days and a month 30.  Upper-case only, no sign, no
 * fractions.  False on anything else or on int64 overflow. */
bool agora_iso8601_duration_seconds(const char *s, int64_t *out);

#endif
