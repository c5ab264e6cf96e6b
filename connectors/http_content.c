/* http_content.c — PUT/GET /api/v1/datasets/{id}/content: file datasets.
 *
 * Uploads stream to a temporary file in DATA_DIR/tmp while their SHA-256
 * is computed, never held in memory; the finished file is renamed to
 * DATA_DIR/objects/<sha256> (content-addressed: equal uploads share a
 * file) and the dataset row records size, hash and file quality.
 */
#include "connector.h"
#include "db_connector.h"
#include "log.h"
#include "quality.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct upload {
	int fd;
	char *tmp;		/* temporary path, unlinked unless renamed */
	struct agora_sha256_ctx *sha;
	int64_t size;
	char *dataset;
	bool failed;
};

static void
upload_cleanup(void *arg)
{
	struct upload *u = arg;
	if (u->fd >= 0)
		close(u->fd);
	if (u->tmp)
		unlink(u->tmp);
	agora_sha256_free(u->sha);
	free(u->tmp);
	free(u->dataset);
	free(u);
}

static enum MHD_Result
begin(struct agora_req *r)
{
	const struct connector *c = r->app;
	const char *id = agora_req_param(r, "id");
	json_t *doc = connector_dataset_lookup(r, true);
	if (!doc)
		return MHD_YES;
	const char *type = json_string_value(json_object_get(json_object_get(doc, "source"), "type"));
	bool is_file = type && !strcmp(type, "file");
	json_decref(doc);
	if (!is_file)
		return agora_reply_error(r, AGORA_E_WRONG_SOURCE,
					 "content is uploaded to datasets whose source type is file");
	const char *clen = agora_req_header(r, "Content-Length");
	if (clen && strtoll(clen, NULL, 10) > c->max_upload)
		return agora_reply_error(r, AGORA_E_UPLOAD_TOO_LARGE, "the upload exceeds %lld bytes",
					 (long long)c->max_upload);
	struct upload *u = xcalloc(1, sizeof *u);
	u->tmp = xasprintf("%s/tmp/upload-XXXXXX", c->data_dir);
	u->fd = mkostemp(u->tmp, O_CLOEXEC);
	if (u->fd < 0) {
		agora_logf(AGORA_LOG_ERROR, "upload", "cannot create %s: %s", u->tmp, strerror(errno));
		free(u->tmp);
		free(u);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the data directory is not writable");
	}
	u->sha = agora_sha256_new();
	u->dataset = xstrdup(id);
	r->stream_ctx = u;
	r->stream_cleanup = upload_cleanup;
	return MHD_YES;
}

static enum MHD_Result
chunk(struct agora_req *r)
{
	const struct connector *c = r->app;
	struct upload *u = r->stream_ctx;
	u->size += (int64_t)r->chunk_len;
	if (u->size > c->max_upload) {
		agora_stream_fail(r, AGORA_E_UPLOAD_TOO_LARGE, "the upload exceeds %lld bytes",
				  (long long)c->max_upload);
		return MHD_YES;
	}
	agora_sha256_update(u->sha, r->chunk, r->chunk_len);
	for (size_t off = 0; off < r->chunk_len;) {
		ssize_t n = write(u->fd, r->chunk + off, r->chunk_len - off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			agora_logf(AGORA_LOG_ERROR, "upload", "write %s: %s", u->tmp, strerror(errno));
			agora_stream_fail(r, AGORA_E_UNAVAILABLE, "the data directory is full or failing");
			return MHD_YES;
		}
		off += (size_t)n;
	}
	return MHD_YES;
}

struct record {
	const char *id;
	long long size;
	const char *hex;
	json_t *quality;
};

static enum agora_qs
record_tx(PGconn *db, void *arg)
{
	struct record *rec = arg;
	enum agora_qs qs = db_dataset_set_content(db, rec->id, rec->size, rec->hex, rec->quality);
	if (qs != AGORA_QS_ONE)
		return qs;
	return db_catalog_bump(db) < 0 ? AGORA_QS_HARD_ERROR : AGORA_QS_ONE;
}

static enum MHD_Result
end(struct agora_req *r)
{
	const struct connector *c = r->app;
	struct upload *u = r->stream_ctx;
	uint8_t h[32];
	agora_sha256_final(u->sha, h);
	u->sha = NULL;
	char hex[65];
	agora_hex(h, 32, hex);
	if (fsync(u->fd) != 0 || close(u->fd) != 0) {
		u->fd = -1;
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the data directory is failing");
	}
	u->fd = -1;
	char *path = xasprintf("%s/objects/%s", c->data_dir, hex);
	if (rename(u->tmp, path) != 0) {
		agora_logf(AGORA_LOG_ERROR, "upload", "rename to %s: %s", path, strerror(errno));
		free(path);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the data directory is failing");
	}
	free(u->tmp);
	u->tmp = NULL;
	free(path);
	struct record rec = { u->dataset, u->size, hex, agora_quality_for_file(u->size, agora_now(), agora_now()) };
	enum agora_qs qs = agora_db_tx(record_tx, &rec, false);
	json_decref(rec.quality);
	if (qs == AGORA_QS_NONE)	/* deleted while uploading */
		return agora_reply_error(r, AGORA_E_DATASET_NOT_FOUND, "the dataset was deleted");
	if (qs != AGORA_QS_ONE)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	connector_push_wake(r->app);
	return agora_reply_json(r, 200, json_pack("{s:s, s:I, s:s}", "id", u->dataset, "byteSize",
						  (json_int_t)u->size, "sha256", hex));
}

enum MHD_Result
conn_dataset_content_put(struct agora_req *r)
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

enum MHD_Result
conn_dataset_content_get(struct agora_req *r)
{
	const struct connector *c = r->app;
	const char *id = agora_req_param(r, "id");
	json_t *doc = connector_dataset_lookup(r, false);
	if (!doc)
		return MHD_YES;
	const char *hex = json_string_value(json_object_get(doc, "sha256"));
	const char *mt = json_string_value(json_object_get(doc, "mediaType"));
	if (!hex || strlen(hex) != 64) {
		json_decref(doc);
		return agora_reply_error(r, AGORA_E_NO_CONTENT, "no content was uploaded for '%.200s'", id);
	}
	char *path = xasprintf("%s/objects/%s", c->data_dir, hex);
	char *ctype = xstrdup(mt ? mt : "application/octet-stream");
	json_decref(doc);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		free(ctype);
		return agora_reply_error(r, AGORA_E_NO_CONTENT, "the content file is missing");
	}
	enum MHD_Result ret = agora_reply_fd(r, ctype, fd, (uint64_t)st.st_size, true);
	free(ctype);
	return ret;
}
