/* Benchmark: parse 1,000,000 CSV observations (generated in memory) into a
 * batch, then render every row as a COPY line.  Prints the median of
 * several runs in rows per second, by wall clock and by process CPU time
 * (the second is steadier on a shared machine). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ingest.h"

#define RUNS 5
#define ROWS 1000000

static const char *source =
	"{\"type\":\"observations\",\"fields\":["
	"{\"name\":\"no2\",\"type\":\"number\",\"unit\":\"ug/m3\",\"min\":0,\"max\":400,\"required\":true},"
	"{\"name\":\"status\",\"type\":\"string\"},{\"name\":\"count\",\"type\":\"integer\",\"min\":0},"
	"{\"name\":\"ok\",\"type\":\"boolean\"}],\"thingField\":\"sensor\"}";

static double
clock_s(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

int
main(void)
{
	char err[256];
	json_t *src = json_loads(source, 0, NULL);
	struct agora_obs_schema *s = agora_obs_schema_parse(src, err, sizeof err);
	json_decref(src);
	if (!s) {
		fprintf(stderr, "bench: %s\n", err);
		return 1;
	}
	/* 1,000 sensors reporting every minute: realistic ids, times and values. */
	struct agora_buf body;
	agora_buf_init(&body);
	agora_buf_puts(&body, "timestamp,sensor,no2,status,count,ok\n");
	int64_t t0 = 1714521600000LL;
	for (int i = 0; i < ROWS; i++) {
		char ts[32];
		agora_rfc3339_format_ms(t0 + (int64_t)(i / 1000) * 60000, ts);
		ts[19] = 'Z';
		ts[20] = '\0';
		agora_buf_printf(&body, "%s,urn:sensor:berlin-%04d,%d.%d,%s,%d,%s\n", ts, i % 1000, i % 397,
				 i % 10, i % 50 ? "ok" : "maintenance", i % 120, i % 7 ? "true" : "false");
	}
	double parse[RUNS], copy[RUNS], parse_cpu[RUNS];
	size_t copied = 0;
	for (int run = 0; run < RUNS; run++) {
		double a = clock_s(CLOCK_MONOTONIC), a_cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID);
		struct agora_obs_batch *b = agora_obs_parse_csv(s, body.data, body.len, ROWS);
		double c = clock_s(CLOCK_MONOTONIC);
		parse_cpu[run] = ROWS / (clock_s(CLOCK_PROCESS_CPUTIME_ID) - a_cpu);
		if (!agora_obs_batch_ok(b) || agora_obs_batch_count(b) != ROWS) {
			fprintf(stderr, "bench: %s, %zu rows\n", agora_obs_batch_error(b) ? agora_obs_batch_error(b) : "ok",
				agora_obs_batch_count(b));
			return 1;
		}
		struct agora_buf out;
		agora_buf_init(&out);
		for (size_t i = 0; i < ROWS; i++) {
			agora_obs_batch_copy_line(b, i, "urn:uuid:3dd1add8-4d2d-569e-d634-8394a8836a88", &out);
			/* As the handler would: hand the buffer to PQputCopyData in pieces. */
			if (out.len > 1 << 20) {
				copied += out.len;
				out.len = 0;
			}
		}
		copied += out.len;
		double d = clock_s(CLOCK_MONOTONIC);
		parse[run] = ROWS / (c - a);
		copy[run] = ROWS / (d - c);
		agora_buf_cleanup(&out);
		agora_obs_batch_free(b);
	}
	qsort(parse, RUNS, sizeof *parse, cmp);
	qsort(copy, RUNS, sizeof *copy, cmp);
	qsort(parse_cpu, RUNS, sizeof *parse_cpu, cmp);
	printf("ingest_csv: %d rows, %.1f MB of CSV\n", ROWS, (double)body.len / 1e6);
	printf("  parse      %10.0f rows/s (median of %d; %.0f rows/s of CPU time)\n", parse[RUNS / 2], RUNS,
	       parse_cpu[RUNS / 2]);
	printf("  copy lines %10.0f rows/s (median of %d, %.0f MB per run)\n", copy[RUNS / 2], RUNS,
	       (double)copied / RUNS / 1e6);
	agora_buf_cleanup(&body);
	agora_obs_schema_free(s);
	return 0;
}
