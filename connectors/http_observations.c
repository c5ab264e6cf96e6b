/* http_observations.c — POST /api/v1/datasets/{id}/observations: IoT
 * records as CSV (streamed through the CSV parser as they arrive) or as a
 * JSON array (buffered, bounded), stored with COPY in one transaction
 * together with the refreshed quality measures. */
#include "connector.h"
#include "db_connector.h"
#include "ingest.h"
#include "quality.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ROWS 2000000
#define JSON_MAX (64u << 20)

struct ingest {
	char *dataset;
	struct agora_obs_schema *schema;
	struct agora_obs_csv *csv;	/* CSV: streaming parser */
	struct agora_buf json;		/* JSON: the buffered body */
	int64_t period_s;
};

static void
ingest_cleanup(void *arg)
{
	struct ingest *in = arg;
	if (in->csv)
		agora_obs_batch_free(agora_obs_csv_finish(in->csv));
	agora_obs_schema_free(in->schema);
	agora_buf_cleanup(&in->json);
	free(in->dataset);
	free(in);
}

static enum MHD_Result
begin(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	json_t *doc = connector_dataset_lookup(r, true);
	if (!doc)
		return MHD_YES;
	json_t *source = json_object_get(doc, "source");
	const char *type = json_string_value(json_object_get(source, "type"));
	enum MHD_Result ret = MHD_YES;
	char err[256];
	struct agora_obs_schema *schema = NULL;
	if (!type || strcmp(type, "observations") != 0) {
		ret = agora_reply_error(r, AGORA_E_WRONG_SOURCE,
					"observations go to datasets whose source type is observations");
	} else if (!(schema = agora_obs_schema_parse(source, err, sizeof err))) {
		ret = agora_reply_error(r, AGORA_E_INTERNAL, "the stored schema is unreadable: %s", err);
	} else {
		struct ingest *in = xcalloc(1, sizeof *in);
		in->dataset = xstrdup(id);
		in->schema = schema;
		agora_buf_init(&in->json);
		const char *period = json_string_value(json_object_get(doc, "accrualPeriodicity"));
		if (!period || !agora_iso8601_duration_seconds(period, &in->period_s))
			in->period_s = 0;
		const char *ct = agora_req_header(r, "Content-Type");
		if (ct && !strncasecmp(ct, "text/csv", 8))
			in->csv = agora_obs_csv_new(schema, MAX_ROWS);
		else if (ct && strncasecmp(ct, "application/json", 16) != 0)
			ret = agora_reply_error(r, AGORA_E_UNSUPPORTED_MEDIA_TYPE,
						"send observations as text/csv or application/json");
		r->stream_ctx = in;
		r->stream_cleanup = ingest_cleanup;
	}
	json_decref(doc);
	return ret;
}

static enum MHD_Result
chunk(struct agora_req *r)
{
	struct ingest *in = r->stream_ctx;
	if (in->csv) {
		/* A failed batch keeps its error for the end. */
		agora_obs_csv_feed(in->csv, r->chunk, r->chunk_len);
		return MHD_YES;
	}
	if (in->json.len + r->chunk_len > JSON_MAX) {
		agora_stream_fail(r, AGORA_E_BODY_TOO_LARGE,
				  "a JSON observations body is limited to %u bytes; send large batches as CSV",
				  JSON_MAX);
		return MHD_YES;
	}
	agora_buf_append(&in->json, r->chunk, r->chunk_len);
	return MHD_YES;
}

struct store {
	struct ingest *in;
	struct agora_obs_batch *b;
	json_t *quality;
};

static enum agora_qs
store_tx(PGconn *db, void *arg)
{
	struct store *s = arg;
	struct db_obs_stats st;
	enum agora_qs qs = db_observations_store(db, s->in->dataset, s->b, &st);
	if (qs != AGORA_QS_ONE)
		return qs;
	struct agora_quality_input q = {
		.records = st.records,
		.rejected = st.rejected,
		.field_count = st.nfields,
		.nonnull = st.nonnull,
		.implausible = st.implausible,
		.checked = st.checked,
		.duplicates = st.duplicates,
		.things = st.things,
		.oldest_ms = st.oldest_ms,
		.newest_ms = st.newest_ms,
		.period_s = s->in->period_s,
		.now = agora_now(),
	};
	json_decref(s->quality);
	s->quality = agora_quality_compute(&q);
	qs = db_dataset_set_quality(db, s->in->dataset, s->quality);
	if (qs != AGORA_QS_ONE)
		return qs;
	return db_catalog_bump(db) < 0 ? AGORA_QS_HARD_ERROR : AGORA_QS_ONE;
}

static enum MHD_Result
end(struct agora_req *r)
{
	struct ingest *in = r->stream_ctx;
	struct agora_obs_batch *b;
	if (in->csv) {
		b = agora_obs_csv_finish(in->csv);
		in->csv = NULL;
	} else {
		b = agora_obs_parse_json(in->schema, in->json.data ? in->json.data : "", in->json.len,
					 MAX_ROWS);
	}
	enum MHD_Result ret;
	if (!agora_obs_batch_ok(b)) {
		ret = agora_reply_error(r, AGORA_E_INVALID_OBSERVATIONS, "%s", agora_obs_batch_error(b));
		agora_obs_batch_free(b);
		return ret;
	}
	struct store s = { in, b, NULL };
	enum agora_qs qs = agora_obs_batch_count(b) || agora_obs_batch_rejected_count(b)
				   ? agora_db_tx(store_tx, &s, false) : AGORA_QS_ONE;
	if (qs != AGORA_QS_ONE) {
		ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	} else {
		connector_push_wake(r->app);
		json_t *out = json_pack("{s:I, s:I, s:o}", "accepted", (json_int_t)agora_obs_batch_count(b),
					"rejectedCount", (json_int_t)agora_obs_batch_rejected_count(b),
					"rejected", agora_obs_batch_rejections(b));
		if (s.quality)
			json_object_set(out, "quality", s.quality);
		ret = agora_reply_json(r, 200, out);
	}
	json_decref(s.quality);
	agora_obs_batch_free(b);
	return ret;
}

enum MHD_Result
conn_dataset_observations(struct agora_req *r)
{
	switch (r->stream_phase) {
	case AGORA_STREAM_BEGIN:
		return begin(r);
	case AGORA_STREAM_CHUNK:
		return chunk(r);
	default:
		return end(r);
	}
}
