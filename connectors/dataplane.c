/* dataplane.c — the data of transfers (docs/TRANSFER.md): the provider's
 * data endpoint GET /data/{transfer}, the consumer's pull and push
 * receiver, the provider's push, receipts and the consumer's delete duty.
 *
 * Provider: every data request carries a broker-signed access token
 * (EdDSA only; typ at+jwt; aud = us; exp/nbf with ≤ 60 s leeway; its
 * "transfer" claim = the path) and, when the token is sender-constrained
 * (cnf.jkt), an Agora-Proof header: a participant token of the consumer
 * bound to this request, whose key thumbprint is cnf.jkt.  Then the broker
 * is asked (POST /api/v1/usage/authorize) whether the agreement permits
 * the use now; the answer is reused for at most the re-authorisation
 * interval.  Files without transformation go out zero-copy with Range;
 * observations stream from a server-side cursor through xform (duties,
 * query).  Running streams are re-authorised every interval (and every
 * 64 MiB for the streamed ones) and cut when refused, suspended or
 * terminated.
 *
 * Consumer: a few worker threads (one per transfer at a time) pull started transfers (resuming with
 * Range, refreshing the token before it expires), verifies the hash the
 * provider announced, reports the receipt to the broker's ledger,
 * completes the transfer, and deletes the data when the agreement's delete
 * duty falls due (reporting that too).
 */
#include "transfer.h"

#include "crypto.h"
#include "db_connector.h"
#include "db_transfers.h"
#include "ingest.h"
#include "jcs.h"
#include "jose.h"
#include "log.h"
#include "pauth.h"
#include "util.h"
#include "xform.h"

#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STREAM_SLOTS 512
#define QUEUE_SLOTS 1024
#define AUTH_SLOTS 256
#define TOKEN_SLOTS 256
#define ID_MAX 208
#define REAUTH_BYTES (64LL << 20)
#define CURSOR_BATCH 2000
#define MAX_ATTEMPTS 20

static struct connector *conn;
static unsigned reauth_s = 30;

static const char *
sget(const json_t *o, const char *k)
{
	return json_string_value(json_object_get(o, k));
}

static bool
str_eq(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/* Write back only the named members of row t (NULL-terminated list): the
 * worker and the data endpoint hold no row lock, so a whole-row write could
 * undo a state change committed meanwhile by a DSP message. */
static enum agora_qs __attribute__((sentinel))
save(const json_t *t, ...)
{
	json_t *f = json_object();
	va_list ap;
	va_start(ap, t);
	for (const char *k = va_arg(ap, const char *); k; k = va_arg(ap, const char *)) {
		json_t *v = json_object_get(t, k);
		json_object_set(f, k, v ? v : json_null());
	}
	va_end(ap);
	enum agora_qs qs = db_ctr_patch(NULL, json_string_value(json_object_get(t, "id")), f);
	json_decref(f);
	return qs;
}

/* ---- running streams ---------------------------------------------------------- */

/* A data response in flight on the provider: its socket (to cut a zero-copy
 * stream) and a cancel flag (for streamed bodies). */
struct stream {
	bool used;
	char id[ID_MAX];
	int sock;
	atomic_bool cancel;
	int64_t last_auth;
};

static struct stream streams[STREAM_SLOTS];
static pthread_mutex_t streams_lock = PTHREAD_MUTEX_INITIALIZER;

static struct stream *
stream_add(const char *id, int sock)
{
	struct stream *s = NULL;
	pthread_mutex_lock(&streams_lock);
	for (int i = 0; i < STREAM_SLOTS && !s; i++)
		if (!streams[i].used) {
			s = &streams[i];
			s->used = true;
			snprintf(s->id, sizeof s->id, "%s", id);
			s->sock = sock;
			atomic_store(&s->cancel, false);
			s->last_auth = agora_now();
		}
	pthread_mutex_unlock(&streams_lock);
	return s;
}

static void
stream_remove(struct stream *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&streams_lock);
	s->used = false;
	pthread_mutex_unlock(&streams_lock);
}

/* ---- authorisation cache --------------------------------------------------------- */

/* A transfer's usage authorisation, and with it what the database said
 * about a pull of a file dataset when a request last looked: the transfer
 * was ours, STARTED, HttpData-PULL, for this agreement and consumer, and
 * its content is this object.  A request whose token names the same
 * agreement and consumer is then served without a database round trip
 * (three lookups, one of them the dataset view, cost more than serving a
 * small file).  These facts live at most as long as the authorisation (the
 * re-authorisation interval) and are dropped at once when the transfer
 * changes state here — dataplane_cancel (suspended, terminated) and
 * dataplane_wake (completed, resumed, sent) both forget them — or when its
 * agreement is revoked here (dataplane_agreement_revoked). */
struct auth_entry {
	char id[ID_MAX];
	int64_t until;
	bool file;		/* the facts below hold */
	bool sent;		/* the complete delivery is already recorded */
	char agreement[ID_MAX];
	char consumer[ID_MAX];
	char sha256[65];
	char media_type[128];
};
static struct auth_entry auths[AUTH_SLOTS];
static pthread_mutex_t auth_lock = PTHREAD_MUTEX_INITIALIZER;
/* Bumped whenever facts are forgotten: a request that looked them up
 * before a change keeps them only if nothing was forgotten meanwhile. */
static unsigned long auth_gen;

static void
auth_forget(const char *id)
{
	pthread_mutex_lock(&auth_lock);
	auth_gen++;
	for (int i = 0; i < AUTH_SLOTS; i++)
		if (!strcmp(auths[i].id, id))
			auths[i].id[0] = 0;
	pthread_mutex_unlock(&auth_lock);
}

static unsigned long
auth_generation(void)
{
	pthread_mutex_lock(&auth_lock);
	unsigned long g = auth_gen;
	pthread_mutex_unlock(&auth_lock);
	return g;
}

static bool
auth_cached(const char *id)
{
	int64_t now = agora_now();
	bool ok = false;
	pthread_mutex_lock(&auth_lock);
	for (int i = 0; i < AUTH_SLOTS && !ok; i++)
		ok = auths[i].id[0] && !strcmp(auths[i].id, id) && auths[i].until > now;
	pthread_mutex_unlock(&auth_lock);
	return ok;
}

static void
auth_remember(const char *id, int64_t until)
{
	pthread_mutex_lock(&auth_lock);
	int slot = 0;
	for (int i = 0; i < AUTH_SLOTS; i++) {
		if (!strcmp(auths[i].id, id) || !auths[i].id[0]) {
			slot = i;
			break;
		}
		if (auths[i].until < auths[slot].until)
			slot = i;
	}
	bool same = !strcmp(auths[slot].id, id);
	snprintf(auths[slot].id, sizeof auths[slot].id, "%s", id);
	auths[slot].until = until;
	auths[slot].file = false;
	auths[slot].sent = same && auths[slot].sent;
	pthread_mutex_unlock(&auth_lock);
}

/* The authorised entry of id (auth_lock held), or NULL. */
static struct auth_entry *
auth_find(const char *id)
{
	int64_t now = agora_now();
	for (int i = 0; i < AUTH_SLOTS; i++)
		if (auths[i].id[0] && !strcmp(auths[i].id, id) && auths[i].until > now)
			return &auths[i];
	return NULL;
}

/* The content of transfer id's file dataset while its authorisation and
 * facts hold for this agreement and consumer: true with the hash and media
 * type copied out. */
static bool
auth_file(const char *id, const char *agreement, const char *consumer, char sha256[65],
	  char media_type[128])
{
	pthread_mutex_lock(&auth_lock);
	struct auth_entry *a = auth_find(id);
	bool ok = a && a->file && str_eq(a->agreement, agreement) && str_eq(a->consumer, consumer);
	if (ok) {
		memcpy(sha256, a->sha256, 65);
		memcpy(media_type, a->media_type, 128);
	}
	pthread_mutex_unlock(&auth_lock);
	return ok;
}

/* Remember the facts of a request that has just checked them all, having
 * read auth_generation() gen before it looked. */
static void
auth_set_file(unsigned long gen, const char *id, const char *agreement, const char *consumer,
	      const char *sha256, const char *media_type)
{
	if (!sha256 || strlen(sha256) != 64 || strlen(media_type) >= 128 || strlen(agreement) >= ID_MAX ||
	    strlen(consumer) >= ID_MAX)
		return;
	pthread_mutex_lock(&auth_lock);
	struct auth_entry *a = gen == auth_gen ? auth_find(id) : NULL;
	if (a) {
		snprintf(a->agreement, sizeof a->agreement, "%s", agreement);
		snprintf(a->consumer, sizeof a->consumer, "%s", consumer);
		memcpy(a->sha256, sha256, 65);
		snprintf(a->media_type, sizeof a->media_type, "%s", media_type);
		a->file = true;
	}
	pthread_mutex_unlock(&auth_lock);
}

/* The transfer's state may have changed: look its facts up again. */
static void
auth_forget_file(const char *id)
{
	pthread_mutex_lock(&auth_lock);
	auth_gen++;
	for (int i = 0; i < AUTH_SLOTS; i++)
		if (!strcmp(auths[i].id, id))
			auths[i].file = false;
	pthread_mutex_unlock(&auth_lock);
}

void
dataplane_agreement_revoked(const char *agreement_id)
{
	pthread_mutex_lock(&auth_lock);
	auth_gen++;
	for (int i = 0; i < AUTH_SLOTS; i++)
		if (!strcmp(auths[i].agreement, agreement_id))
			auths[i].file = false;
	pthread_mutex_unlock(&auth_lock);
}

/* Whether transfer id's complete delivery is known to be recorded; mark
 * sets it. */
static bool
auth_sent(const char *id, bool mark)
{
	pthread_mutex_lock(&auth_lock);
	struct auth_entry *a = auth_find(id);
	bool sent = a && a->sent;
	if (a && mark)
		a->sent = true;
	pthread_mutex_unlock(&auth_lock);
	return sent;
}

/* Ask the broker whether transfer id (ours, as provider) may move data now.
 * token may be NULL (a push).  true: allowed; false with the error and
 * detail (the broker's reasons). */
static bool
authorize(const char *id, const char *token, bool use_cache, enum agora_error *e, char *detail,
	  size_t dlen)
{
	if (use_cache && auth_cached(id))
		return true;
	json_t *req = json_pack("{s:s}", "transfer", id);
	if (token)
		json_object_set_new(req, "token", json_string(token));
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	long status = 0;
	json_t *ans = NULL;
	char err[256];
	bool ok = connector_call_broker(conn, "POST", "/api/v1/usage/authorize", body, &status, &ans, err,
					sizeof err);
	free(body);
	bool allow = false;
	if (!ok || status != 200 || !json_is_object(ans)) {
		*e = AGORA_E_UNAVAILABLE;
		snprintf(detail, dlen, "the broker cannot authorise this use now (%s)",
			 ok ? "unexpected answer" : err);
	} else if (json_is_true(json_object_get(ans, "allow"))) {
		allow = true;
		json_int_t recheck = json_integer_value(json_object_get(ans, "recheckSeconds"));
		if (recheck <= 0 || recheck > reauth_s)
			recheck = reauth_s;
		auth_remember(id, agora_now() + recheck);
	} else {
		*e = AGORA_E_USAGE_DENIED;
		/* The broker's reasons as one readable sentence. */
		struct agora_buf why;
		agora_buf_init(&why);
		size_t i;
		json_t *v;
		json_array_foreach(json_object_get(ans, "reasons"), i, v) {
			if (json_is_string(v)) {
				agora_buf_puts(&why, why.len ? "; " : "");
				agora_buf_puts(&why, json_string_value(v));
			}
		}
		agora_buf_append(&why, "", 0);
		snprintf(detail, dlen, "%s: %s", sget(ans, "code") ? sget(ans, "code") : "denied",
			 why.len ? why.data : "not permitted now");
		agora_buf_cleanup(&why);
	}
	json_decref(ans);
	return allow;
}

/* ---- access tokens (provider) ------------------------------------------------------- */

struct token_entry {
	uint8_t hash[32];
	int64_t exp;
	json_t *claims;
};
static struct token_entry tokens[TOKEN_SLOTS];
static pthread_mutex_t token_lock = PTHREAD_MUTEX_INITIALIZER;

static json_t *
token_cached(const uint8_t h[32])
{
	json_t *c = NULL;
	int64_t now = agora_now();
	pthread_mutex_lock(&token_lock);
	struct token_entry *t = &tokens[h[0] % TOKEN_SLOTS];
	if (t->claims && !memcmp(t->hash, h, 32) && t->exp > now)
		c = json_incref(t->claims);
	pthread_mutex_unlock(&token_lock);
	return c;
}

static void
token_remember(const uint8_t h[32], const json_t *claims)
{
	pthread_mutex_lock(&token_lock);
	struct token_entry *t = &tokens[h[0] % TOKEN_SLOTS];
	json_decref(t->claims);
	memcpy(t->hash, h, 32);
	t->exp = json_integer_value(json_object_get(claims, "exp"));
	t->claims = json_incref((json_t *)claims);
	pthread_mutex_unlock(&token_lock);
}

/* Verify an access token for data of transfer id: new claims, or NULL with
 * the error and detail. */
static json_t *
verify_token(const char *jwt, enum agora_error *e, char *detail, size_t dlen)
{
	uint8_t h[32];
	agora_sha256(jwt, strlen(jwt), h);
	json_t *claims = token_cached(h);
	if (claims)
		return claims;
	char err[128];
	struct agora_jws *j = agora_jws_parse(jwt, err, sizeof err);
	if (!j) {
		*e = AGORA_E_INVALID_TOKEN;
		snprintf(detail, dlen, "the access token is malformed: %s", err);
		return NULL;
	}
	const char *alg = json_string_value(json_object_get(j->header, "alg"));
	struct agora_key *k = NULL;
	bool down = false;
	if (!str_eq(alg, "EdDSA")) {
		*e = AGORA_E_UNSUPPORTED_ALG;
		snprintf(detail, dlen, "alg %.40s is not accepted: access tokens are EdDSA",
			 alg ? alg : "(none)");
	} else if (!(k = connector_participant_key(conn->broker_url, agora_jws_kid(j), &down)) && down) {
		*e = AGORA_E_UNAVAILABLE;
		snprintf(detail, dlen, "the broker's keys cannot be fetched; retry later");
	} else if (!k) {
		*e = AGORA_E_UNKNOWN_KEY;
		snprintf(detail, dlen, "the token's kid is not a key of the broker");
	} else if (!agora_jws_verify(j, k)) {
		*e = AGORA_E_BAD_SIGNATURE;
		snprintf(detail, dlen, "the access token's signature does not verify");
	} else {
		struct agora_jwt_expect want = { .typ = "at+jwt", .iss = conn->broker_url,
						 .aud = conn->svc.participant_id, .leeway = 60,
						 .require_iat = true, .require_jti = true,
						 .require_nbf = true };
		enum agora_jwt_status st = agora_jwt_validate(j, &want, &claims, err, sizeof err);
		switch (st) {
		case AGORA_JWT_OK:
			break;
		case AGORA_JWT_EXPIRED:
			*e = AGORA_E_TOKEN_EXPIRED;
			break;
		case AGORA_JWT_NOT_YET_VALID:
		case AGORA_JWT_IAT_IN_FUTURE:
			*e = AGORA_E_TOKEN_NOT_YET_VALID;
			break;
		case AGORA_JWT_BAD_AUD:
			*e = AGORA_E_WRONG_AUDIENCE;
			break;
		default:
			*e = AGORA_E_INVALID_TOKEN;
			break;
		}
		if (st != AGORA_JWT_OK)
			snprintf(detail, dlen, "access token: %s", err);
		else if (!sget(claims, "transfer") || !sget(claims, "agreement") || !sget(claims, "sub")) {
			*e = AGORA_E_INVALID_TOKEN;
			snprintf(detail, dlen, "the access token lacks transfer, agreement or sub");
			json_decref(claims);
			claims = NULL;
		} else {
			token_remember(h, claims);
		}
	}
	agora_key_free(k);
	agora_jws_free(j);
	return claims;
}

/* The bearer token of Authorization ("Bearer x" or "DPoP x"). */
static const char *
bearer(struct agora_req *r)
{
	const char *h = agora_req_header(r, "Authorization");
	if (!h)
		return NULL;
	if (!strncasecmp(h, "Bearer ", 7))
		return h + 7;
	if (!strncasecmp(h, "DPoP ", 5))
		return h + 5;
	return NULL;
}

/* A sender-constrained token: the request must carry Agora-Proof, a
 * participant token of the token's subject for this very request, signed
 * with the key whose thumbprint is cnf.jkt. */
static bool
check_proof(struct agora_req *r, const json_t *claims, enum agora_error *e, char *detail, size_t dlen)
{
	const char *jkt = sget(json_object_get(claims, "cnf"), "jkt");
	if (!jkt)
		return true;
	const char *proof = agora_req_header(r, "Agora-Proof");
	if (!proof) {
		*e = AGORA_E_PROOF_REQUIRED;
		snprintf(detail, dlen, "the token is bound to the consumer's key: send Agora-Proof");
		return false;
	}
	char err[128];
	struct agora_jws *j = agora_jws_parse(proof, err, sizeof err);
	bool kid_ok = j && str_eq(agora_jws_kid(j), jkt);
	agora_jws_free(j);
	if (!kid_ok) {
		*e = AGORA_E_PROOF_REQUIRED;
		snprintf(detail, dlen, "Agora-Proof is not signed with the key the token is bound to");
		return false;
	}
	char *saved = r->participant;
	r->participant = NULL;
	enum agora_error pe = connector_participant_auth(r, proof, detail, dlen);
	bool ok = pe == AGORA_E__COUNT && str_eq(r->participant, sget(claims, "sub"));
	if (pe == AGORA_E__COUNT && !ok)
		snprintf(detail, dlen, "Agora-Proof comes from another participant than the token's subject");
	free(r->participant);
	r->participant = saved;
	if (!ok)
		*e = pe != AGORA_E__COUNT ? pe : AGORA_E_PROOF_REQUIRED;
	return ok;
}

/* ---- the provider's data endpoint ---------------------------------------------------- */

/* The provider's secret for pseudonyms: DATA_DIR/pseudonym.key, made once. */
static bool
pseudonym_key(uint8_t key[32])
{
	char *path = xasprintf("%s/pseudonym.key", conn->data_dir);
	bool ok = false;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ok = read(fd, key, 32) == 32;
		close(fd);
	} else if (errno == ENOENT) {
		agora_random(key, 32);
		char *tmp = xasprintf("%s.tmp", path);
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (fd >= 0 && write(fd, key, 32) == 32 && fsync(fd) == 0 && close(fd) == 0 &&
		    rename(tmp, path) == 0) {
			ok = true;
		} else if (fd >= 0) {
			close(fd);
		}
		free(tmp);
	}
	free(path);
	return ok;
}

/* A served response's end: a complete representation is recorded and
 * reported to the broker (once per transfer) by the worker. */
struct served {
	char id[ID_MAX];
	struct stream *stream;
	bool whole;		/* the response is the complete representation */
	bool pump_ok;		/* http: the upstream body arrived complete */
	long long bytes;
	char sha256[65];	/* known up front (files) or computed while streaming */
	struct agora_sha256_ctx *hash;	/* streamed bodies */
	/* observations */
	PGconn *db;
	struct xform_plan *plan;
	struct agora_buf out;
	size_t out_pos;
	bool rows_done, ended, failed;
	struct MHD_Response *resp;	/* to add the digest trailer */
	/* http sources: a thread pumps the upstream body into a pipe */
	struct pump *pump;
	long long since_auth;
};

static void pump_finish(struct pump *p, bool *ok, long long *bytes, char sha[65]);

static void
served_free(struct served *s)
{
	pump_finish(s->pump, NULL, NULL, NULL);
	if (s->db) {
		PGresult *r = PQexec(s->db, "ROLLBACK");
		PQclear(r);
		PQfinish(s->db);
	}
	xform_plan_free(s->plan);
	agora_buf_cleanup(&s->out);
	if (s->hash)
		agora_sha256_free(s->hash);
	free(s);
}

/* Record what was sent (provider row: bytes, sha256) for the worker to
 * report; only the first complete delivery counts. */
static void
record_sent(const char *id, long long bytes, const char *sha)
{
	if (auth_sent(id, false))
		return;
	json_t *t = NULL;
	if (db_ctr_get(NULL, id, false, &t) == AGORA_QS_ONE) {
		if (!sget(t, "sha256")) {
			json_object_set_new(t, "bytes", json_integer(bytes));
			json_object_set_new(t, "sha256", json_string(sha));
			if (save(t, "bytes", "sha256", NULL) == AGORA_QS_ONE) {
				auth_sent(id, true);
				dataplane_wake(id);
			}
		} else {
			auth_sent(id, true);
		}
	}
	json_decref(t);
}

static void
served_done(void *ctx, bool completed)
{
	struct served *s = ctx;
	stream_remove(s->stream);
	if (s->pump) {
		/* The upstream body is over (the pipe's end): its digest. */
		pump_finish(s->pump, &s->pump_ok, &s->bytes, s->sha256);
		s->pump = NULL;
		s->failed |= !s->pump_ok;
	}
	if (completed && s->whole && !s->failed && s->sha256[0])
		record_sent(s->id, s->bytes, s->sha256);
	if (!s->plan)	/* streamed bodies are freed by their response */
		served_free(s);
}

static void
reader_free(void *cls)
{
	served_free(cls);
}

/* Fill s->out with the next rows (through the plan). */
static bool
next_rows(struct served *s)
{
	PGresult *res = PQexec(s->db, "FETCH " "2000" " FROM agora_rows");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		agora_logf(AGORA_LOG_ERROR, "dataplane", "%s: FETCH failed: %s", s->id,
			   PQerrorMessage(s->db));
		PQclear(res);
		return false;
	}
	int n = PQntuples(res);
	for (int i = 0; i < n; i++) {
		int64_t ts = strtoll(PQgetvalue(res, i, 0), NULL, 10);
		if (xform_row(s->plan, ts, PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
			      (size_t)PQgetlength(res, i, 2), &s->out) == 0) {
			n = 0;
			break;
		}
	}
	if (n < CURSOR_BATCH)
		s->rows_done = true;
	PQclear(res);
	return true;
}

static ssize_t
obs_reader(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct served *s = cls;
	if (s->stream && atomic_load(&s->stream->cancel))
		goto fail;
	while (s->out_pos == s->out.len) {
		s->out.len = 0;
		s->out_pos = 0;
		if (s->ended) {
			uint8_t h[32];
			agora_sha256_final(s->hash, h);
			s->hash = NULL;
			agora_hex(h, 32, s->sha256);
			/* The digest of what was sent, as a trailer of the
			 * chunked body: the consumer checks what it got. */
			if (s->resp)
				MHD_add_response_footer(s->resp, "Agora-Sha256", s->sha256);
			return MHD_CONTENT_READER_END_OF_STREAM;
		}
		if (s->rows_done) {
			xform_end(s->plan, &s->out);
			s->ended = true;
		} else if (!next_rows(s)) {
			goto fail;
		}
	}
	size_t n = s->out.len - s->out_pos;
	if (n > max)
		n = max;
	memcpy(buf, s->out.data + s->out_pos, n);
	s->out_pos += n;
	agora_sha256_update(s->hash, buf, n);
	s->bytes += (long long)n;
	s->since_auth += (long long)n;
	/* Long streams ask again every REAUTH_BYTES or interval. */
	if (s->since_auth >= REAUTH_BYTES ||
	    (s->stream && agora_now() - s->stream->last_auth >= (int64_t)reauth_s)) {
		enum agora_error e;
		char d[256];
		s->since_auth = 0;
		if (s->stream)
			s->stream->last_auth = agora_now();
		if (!authorize(s->id, NULL, false, &e, d, sizeof d)) {
			agora_logf(AGORA_LOG_WARN, "dataplane", "%s: stream cut: %s", s->id, d);
			goto fail;
		}
	}
	return (ssize_t)n;
fail:
	s->failed = true;
	return MHD_CONTENT_READER_END_WITH_ERROR;
}

/* The plan for observations dataset ds under agreement and query, or NULL
 * with the xform error symbol and detail. */
static struct xform_plan *
plan_for(const json_t *ds, const json_t *agreement, const json_t *query, const char **sym,
	 char *detail, size_t dlen)
{
	char err[256];
	struct agora_obs_schema *schema = agora_obs_schema_parse(json_object_get(ds, "source"), err,
								 sizeof err);
	if (!schema) {
		*sym = "invalid_dataset";
		snprintf(detail, dlen, "the dataset's schema is unreadable: %s", err);
		return NULL;
	}
	struct xform_field fields[AGORA_OBS_MAX_FIELDS];
	for (size_t i = 0; i < schema->nfields; i++)
		fields[i] = (struct xform_field){ schema->fields[i].name,
						  schema->fields[i].type == AGORA_OBS_NUMBER ||
							  schema->fields[i].type == AGORA_OBS_INTEGER };
	struct xform_dataset xd = { fields, schema->nfields, schema->time_field, schema->thing_field };
	uint8_t key[32];
	bool have_key = pseudonym_key(key);
	struct xform_plan *p = xform_plan_new(agreement, query, &xd, have_key ? key : NULL, sym, detail,
					      dlen);
	agora_obs_schema_free(schema);
	return p;
}

enum agora_error
dataplane_check_query(const json_t *ds, const json_t *agreement, const json_t *query, char *detail,
		      size_t dlen)
{
	const char *type = sget(json_object_get(ds, "source"), "type");
	if (!str_eq(type, "observations")) {
		if (!query)
			return AGORA_E__COUNT;
		snprintf(detail, dlen, "a query applies to observations datasets only, this one is %s",
			 type ? type : "unknown");
		return AGORA_E_INVALID_QUERY;
	}
	const char *sym = NULL;
	struct xform_plan *p = plan_for(ds, agreement, query, &sym, detail, dlen);
	xform_plan_free(p);
	if (p)
		return AGORA_E__COUNT;
	return str_eq(sym, "query_not_permitted") ? AGORA_E_QUERY_NOT_PERMITTED
	       : str_eq(sym, "invalid_query")     ? AGORA_E_INVALID_QUERY
						  : AGORA_E_USAGE_DENIED;
}

/* Observations through a cursor and the plan. */
static enum MHD_Result
serve_observations(struct agora_req *r, struct served *s, const json_t *ds, const json_t *row,
		   const json_t *agreement)
{
	char detail[512];
	const char *sym = NULL;
	const json_t *q = json_object_get(row, "query");
	s->plan = plan_for(ds, agreement, json_is_object(q) ? q : NULL, &sym, detail, sizeof detail);
	if (!s->plan) {
		served_free(s);
		if (str_eq(sym, "query_not_permitted"))
			return agora_reply_error(r, AGORA_E_QUERY_NOT_PERMITTED, "%s", detail);
		if (str_eq(sym, "invalid_query"))
			return agora_reply_error(r, AGORA_E_INVALID_QUERY, "%s", detail);
		return agora_reply_error(r, AGORA_E_USAGE_DENIED, "%s: %s", sym ? sym : "refused", detail);
	}
	s->db = PQconnectdb(agora_db_conninfo());
	if (PQstatus(s->db) != CONNECTION_OK) {
		served_free(s);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	}
	const struct xform_window *w = xform_plan_window(s->plan);
	char from[32], to[32], lim[32];
	snprintf(from, sizeof from, "%lld", (long long)w->from_us);
	snprintf(to, sizeof to, "%lld", (long long)w->to_us);
	snprintf(lim, sizeof lim, "%llu", (unsigned long long)xform_plan_sql_limit(s->plan));
	const char *p[] = { sget(row, "dataset_id"), w->has_from ? from : NULL, w->has_to ? to : NULL,
			    xform_plan_sql_limit(s->plan) ? lim : NULL };
	PGresult *res = PQexec(s->db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
	PQclear(res);
	res = PQexecParams(s->db,
			   "DECLARE agora_rows NO SCROLL CURSOR FOR"
			   " SELECT (extract(epoch FROM ts) * 1000000)::bigint, thing, vals::text"
			   " FROM observations WHERE dataset_id = $1"
			   " AND ($2::bigint IS NULL OR ts >= timestamptz 'epoch' + $2::bigint * interval '1 microsecond')"
			   " AND ($3::bigint IS NULL OR ts < timestamptz 'epoch' + $3::bigint * interval '1 microsecond')"
			   " ORDER BY ts, thing LIMIT $4::bigint",
			   4, NULL, p, NULL, NULL, 0);
	bool ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	if (!ok) {
		agora_logf(AGORA_LOG_ERROR, "dataplane", "cursor: %s", PQerrorMessage(s->db));
		served_free(s);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	}
	s->hash = agora_sha256_new();
	s->whole = true;
	agora_buf_init(&s->out);
	xform_begin(s->plan, &s->out);
	r->done = served_done;
	r->done_ctx = s;
	agora_reply_header(r, "Trailer", "Agora-Sha256");
	return agora_reply_stream(r, 200, xform_plan_media_type(s->plan), MHD_SIZE_UNKNOWN, 64 * 1024,
				  obs_reader, s, reader_free, &s->resp);
}

static int
conn_socket(struct agora_req *r)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CONNECTION_FD);
	return ci ? ci->connect_fd : -1;
}

/* ---- http sources: the upstream body through a pipe ------------------------- */

/* A thread fetches the upstream URL and writes the body into a pipe that
 * libmicrohttpd sends on (MHD_create_response_from_pipe): a full pipe
 * blocks the fetch, so nothing is buffered beyond the pipe and curl's own
 * buffer.  The thread hashes what it passes on, re-authorises every
 * interval and REAUTH_BYTES, and stops when cancelled. */
struct pump {
	char *url;
	char id[ID_MAX];
	int wfd;
	struct stream *stream;
	struct agora_sha256_ctx *hash;
	long long bytes, since_auth;
	int64_t last_auth;
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	long status;		/* the upstream's, once its headers are in */
	bool headers, done, ok;
	char sha256[65];
};

static size_t
pump_header(char *buf, size_t size, size_t n, void *arg)
{
	struct pump *p = arg;
	size_t len = size * n;
	if (len == 2 && buf[0] == '\r') {	/* end of the header block */
		pthread_mutex_lock(&p->lock);
		p->headers = true;
		pthread_cond_broadcast(&p->cond);
		pthread_mutex_unlock(&p->lock);
	} else if (len > 9 && !strncmp(buf, "HTTP/", 5)) {
		long st = 0;
		const char *sp = strchr(buf, ' ');
		if (sp)
			st = strtol(sp + 1, NULL, 10);
		pthread_mutex_lock(&p->lock);
		p->status = st;
		pthread_mutex_unlock(&p->lock);
	}
	return len;
}

static size_t
pump_write(char *buf, size_t size, size_t n, void *arg)
{
	struct pump *p = arg;
	size_t len = size * n, off = 0;
	if (p->status != 200)
		return 0;
	if (p->stream && atomic_load(&p->stream->cancel))
		return 0;
	while (off < len) {
		ssize_t w = write(p->wfd, buf + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return 0;	/* the client went away */
		off += (size_t)w;
	}
	agora_sha256_update(p->hash, buf, len);
	p->bytes += (long long)len;
	p->since_auth += (long long)len;
	if (p->since_auth >= REAUTH_BYTES || agora_now() - p->last_auth >= (int64_t)reauth_s) {
		enum agora_error e;
		char d[256];
		p->since_auth = 0;
		p->last_auth = agora_now();
		if (!authorize(p->id, NULL, false, &e, d, sizeof d)) {
			agora_logf(AGORA_LOG_WARN, "dataplane", "%s: upstream stream cut: %s", p->id, d);
			return 0;
		}
	}
	return len;
}

static void *
pump_run(void *arg)
{
	struct pump *p = arg;
	CURL *cu = curl_easy_init();
	curl_easy_setopt(cu, CURLOPT_URL, p->url);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(cu, CURLOPT_FOLLOWLOCATION, 0L);	/* no redirect around the allow-list */
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(cu, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(cu, CURLOPT_LOW_SPEED_TIME, 30L);
	curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, pump_header);
	curl_easy_setopt(cu, CURLOPT_HEADERDATA, p);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, pump_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, p);
	CURLcode cc = curl_easy_perform(cu);
	curl_easy_cleanup(cu);
	uint8_t h[32];
	agora_sha256_final(p->hash, h);
	p->hash = NULL;
	pthread_mutex_lock(&p->lock);
	p->ok = cc == CURLE_OK && p->status == 200;
	agora_hex(h, 32, p->sha256);
	p->done = p->headers = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	close(p->wfd);	/* EOF for the response (an error ends it early) */
	agora_db_close();
	return NULL;
}

/* Wait for the thread, hand out its result (when asked) and free the pump.
 * Accepts NULL. */
static void
pump_finish(struct pump *p, bool *ok, long long *bytes, char sha[65])
{
	if (!p)
		return;
	pthread_join(p->th, NULL);
	if (ok)
		*ok = p->ok;
	if (bytes)
		*bytes = p->bytes;
	if (sha)
		memcpy(sha, p->sha256, 65);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p->url);
	free(p);
}

static enum MHD_Result
serve_http(struct agora_req *r, struct served *s, const json_t *ds)
{
	const char *url = sget(json_object_get(ds, "source"), "url");
	char host[256];
	if (!url || !connector_url_host(url, host, sizeof host) || !connector_host_allowed(conn, host)) {
		served_free(s);
		return agora_reply_error(r, AGORA_E_FORBIDDEN,
					 "the dataset's upstream host is no longer on the allow-list");
	}
	int fds[2];
	if (pipe2(fds, O_CLOEXEC) != 0) {
		served_free(s);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "cannot stream now");
	}
	struct pump *p = xcalloc(1, sizeof *p);
	p->url = xstrdup(url);
	snprintf(p->id, sizeof p->id, "%s", s->id);
	p->wfd = fds[1];
	p->stream = s->stream;
	p->hash = agora_sha256_new();
	p->last_auth = agora_now();
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	if (pthread_create(&p->th, NULL, pump_run, p) != 0) {
		close(fds[0]);
		close(fds[1]);
		agora_sha256_free(p->hash);
		free(p->url);
		free(p);
		served_free(s);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "cannot stream now");
	}
	s->pump = p;
	/* Reply only once the upstream has answered: its refusal is ours. */
	pthread_mutex_lock(&p->lock);
	while (!p->headers)
		pthread_cond_wait(&p->cond, &p->lock);
	long status = p->status;
	pthread_mutex_unlock(&p->lock);
	if (status != 200) {
		close(fds[0]);
		served_free(s);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the upstream source answered %s%ld",
					 status ? "HTTP " : "nothing; status ", status);
	}
	s->whole = true;
	s->bytes = -1;
	r->done = served_done;
	r->done_ctx = s;
	struct MHD_Response *resp = MHD_create_response_from_pipe(fds[0]);
	if (!resp) {
		close(fds[0]);
		r->done = NULL;
		served_free(s);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "cannot stream now");
	}
	const char *mt = sget(ds, "mediaType");
	return agora_reply_response(r, 200, mt ? mt : "application/octet-stream", resp);
}

/* A file dataset: its content object (sha, hex), zero-copy, with Range. */
static enum MHD_Result
serve_file(struct agora_req *r, struct served *s, const char *sha, const char *mt)
{
	if (!sha || strlen(sha) != 64) {
		served_free(s);
		return agora_reply_error(r, AGORA_E_NO_CONTENT, "the dataset has no content yet");
	}
	char *path = xasprintf("%s/objects/%s", conn->data_dir, sha);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	free(path);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) != 0) {
		if (fd >= 0)
			close(fd);
		served_free(s);
		return agora_reply_error(r, AGORA_E_NO_CONTENT, "the dataset's content is missing");
	}
	uint64_t size = (uint64_t)st.st_size, from = 0, to = size ? size - 1 : 0;
	int rr = agora_http_parse_range(agora_req_header(r, "Range"), size, &from, &to);
	s->whole = rr <= 0 || to + 1 == size;
	s->bytes = (long long)size;
	snprintf(s->sha256, sizeof s->sha256, "%s", sha);
	/* RFC 9530: the digest of the whole representation, for the consumer. */
	uint8_t raw[32];
	for (int i = 0; i < 32; i++) {
		unsigned v;
		sscanf(sha + 2 * i, "%2x", &v);
		raw[i] = (uint8_t)v;
	}
	char *b64 = agora_b64_encode(raw, 32);
	char *digest = xasprintf("sha-256=:%s:", b64);
	agora_reply_header(r, "Repr-Digest", digest);
	free(b64);
	free(digest);
	r->done = served_done;
	r->done_ctx = s;
	return agora_reply_fd(r, mt, fd, size, true);
}

enum MHD_Result
conn_data_get(struct agora_req *r)
{
	const char *id = agora_req_param(r, "transfer");
	const char *tok = bearer(r);
	enum agora_error e = AGORA_E__COUNT;
	char detail[512];
	json_t *claims = NULL, *row = NULL, *ag = NULL, *ds = NULL;
	char *owner = NULL;
	enum MHD_Result ret;
	if (!tok) {
		ret = agora_reply_error(r, AGORA_E_MISSING_CREDENTIALS,
					"send Authorization: Bearer <access token from the broker>");
		goto out;
	}
	if (!(claims = verify_token(tok, &e, detail, sizeof detail))) {
		ret = agora_reply_error(r, e, "%s", detail);
		goto out;
	}
	if (!str_eq(sget(claims, "transfer"), id)) {
		ret = agora_reply_error(r, AGORA_E_FORBIDDEN, "the access token is for another transfer");
		goto out;
	}
	if (!check_proof(r, claims, &e, detail, sizeof detail)) {
		ret = agora_reply_error(r, e, "%s", detail);
		goto out;
	}
	char sha[65], mt[128];
	struct served *s;
	if (auth_file(id, sget(claims, "agreement"), sget(claims, "sub"), sha, mt)) {
		s = xcalloc(1, sizeof *s);
		snprintf(s->id, sizeof s->id, "%s", id);
		s->stream = stream_add(id, conn_socket(r));
		ret = serve_file(r, s, sha, mt);
		goto out;
	}
	unsigned long gen = auth_generation();
	enum agora_qs qs = db_ctr_get(NULL, id, false, &row);
	if (qs < 0) {
		ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
		goto out;
	}
	if (qs == AGORA_QS_NONE || !str_eq(sget(row, "role"), "provider") ||
	    !str_eq(sget(row, "agreement_id"), sget(claims, "agreement")) ||
	    !str_eq(sget(row, "consumer"), sget(claims, "sub"))) {
		ret = agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no transfer '%.200s'", id);
		goto out;
	}
	if (!str_eq(sget(row, "state"), "STARTED") || !str_eq(sget(row, "format"), AGORA_DSPT_PULL)) {
		ret = agora_reply_error(r, AGORA_E_TRANSFER_STATE, "the transfer is %s (%s)",
					sget(row, "state"), sget(row, "format"));
		goto out;
	}
	if (!authorize(id, tok, true, &e, detail, sizeof detail)) {
		ret = agora_reply_error(r, e, "%s", detail);
		goto out;
	}
	if (db_ctr_agreement(NULL, sget(row, "agreement_id"), &ag) != AGORA_QS_ONE ||
	    db_dataset_get(sget(row, "dataset_id"), &ds, &owner) != AGORA_QS_ONE) {
		ret = agora_reply_error(r, AGORA_E_DATASET_NOT_FOUND, "the dataset is no longer here");
		goto out;
	}
	/* Revoked here: refused at once, before the broker's termination. */
	if (!str_eq(sget(ag, "status"), "active")) {
		ret = agora_reply_error(r, AGORA_E_AGREEMENT_NOT_ACTIVE, "agreement '%.200s' was revoked",
					sget(row, "agreement_id"));
		goto out;
	}
	s = xcalloc(1, sizeof *s);
	snprintf(s->id, sizeof s->id, "%s", id);
	s->stream = stream_add(id, conn_socket(r));
	const char *type = sget(json_object_get(ds, "source"), "type");
	const char *dmt = sget(ds, "mediaType") ? sget(ds, "mediaType") : "application/octet-stream";
	if (str_eq(type, "file")) {
		auth_set_file(gen, id, sget(row, "agreement_id"), sget(row, "consumer"), sget(ds, "sha256"), dmt);
		ret = serve_file(r, s, sget(ds, "sha256"), dmt);
	} else if (str_eq(type, "observations")) {
		ret = serve_observations(r, s, ds, row, json_object_get(ag, "agreement"));
	} else if (str_eq(type, "http")) {
		ret = serve_http(r, s, ds);
	} else {
		stream_remove(s->stream);
		served_free(s);
		ret = agora_reply_error(r, AGORA_E_WRONG_SOURCE,
					"data of %s sources is not served by this data plane",
					type ? type : "unknown");
	}
out:
	json_decref(claims);
	json_decref(row);
	json_decref(ag);
	json_decref(ds);
	free(owner);
	return ret;
}

/* ---- the workers ----------------------------------------------------------------------- */

/* A few workers, so that one slow transfer (a large pull, an unreachable
 * peer) does not hold up the others; each transfer is handled by one
 * worker at a time (busy[]), and a wake for a transfer being handled makes
 * that worker look at it again when it is done. */
#define WORKERS 4
static pthread_t workers[WORKERS];
static size_t nworkers;
static pthread_mutex_t q_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t q_cond = PTHREAD_COND_INITIALIZER;
static char queue[QUEUE_SLOTS][ID_MAX];
static size_t q_head, q_len;
static bool stopping;
static struct {
	char id[ID_MAX];	/* "" when the slot is free */
	bool again;
} busy[WORKERS];	/* under q_lock */

/* Under q_lock. */
static void
enqueue_locked(const char *id)
{
	if (q_len < QUEUE_SLOTS) {	/* else the next scan finds it */
		snprintf(queue[(q_head + q_len) % QUEUE_SLOTS], ID_MAX, "%s", id);
		q_len++;
	}
	pthread_cond_signal(&q_cond);
}

void
dataplane_wake(const char *id)
{
	auth_forget_file(id);
	pthread_mutex_lock(&q_lock);
	enqueue_locked(id);
	pthread_mutex_unlock(&q_lock);
}

void
dataplane_cancel(const char *id)
{
	auth_forget(id);
	pthread_mutex_lock(&streams_lock);
	for (int i = 0; i < STREAM_SLOTS; i++)
		if (streams[i].used && !strcmp(streams[i].id, id)) {
			atomic_store(&streams[i].cancel, true);
			if (streams[i].sock >= 0)
				shutdown(streams[i].sock, SHUT_RDWR);
		}
	pthread_mutex_unlock(&streams_lock);
}

/* Re-authorise zero-copy streams that have run for an interval. */
static void
reauthorize_streams(void)
{
	char ids[32][ID_MAX];
	int n = 0;
	int64_t now = agora_now();
	pthread_mutex_lock(&streams_lock);
	for (int i = 0; i < STREAM_SLOTS && n < 32; i++)
		if (streams[i].used && now - streams[i].last_auth >= (int64_t)reauth_s) {
			streams[i].last_auth = now;
			snprintf(ids[n++], ID_MAX, "%s", streams[i].id);
		}
	pthread_mutex_unlock(&streams_lock);
	for (int i = 0; i < n; i++) {
		enum agora_error e;
		char d[256];
		if (!authorize(ids[i], NULL, false, &e, d, sizeof d) && e == AGORA_E_USAGE_DENIED) {
			agora_logf(AGORA_LOG_WARN, "dataplane", "%s: cutting running streams: %s", ids[i], d);
			dataplane_cancel(ids[i]);
		}
	}
}

static void
set_failure(json_t *t, const char *reason)
{
	json_object_set_new(t, "attempts",
			    json_integer(json_integer_value(json_object_get(t, "attempts")) + 1));
	json_object_set_new(t, "reason", json_string(reason));
	save(t, "attempts", "reason", NULL);
}

static char *
received_path(const char *id, const char *suffix)
{
	uint8_t h[32];
	char hex[65];
	agora_sha256(id, strlen(id), h);
	agora_hex(h, 32, hex);
	return xasprintf("%s/received/%s%s", conn->data_dir, hex, suffix);
}

/* Refresh the access token when it expires within a minute. */
static bool
fresh_token(json_t *t)
{
	int64_t exp_ms = 0;
	const char *exp = sget(t, "token_expires_at");
	if (sget(t, "token") && exp && agora_time_parse_rfc3339(exp, &exp_ms) &&
	    exp_ms / 1000 - agora_now() > 60)
		return true;
	char *seg = agora_path_segment(sget(t, "counterpart_pid"));
	char *path = xasprintf("/api/v1/transfers/%s/token", seg);
	long status = 0;
	json_t *ans = NULL;
	char err[256];
	bool ok = connector_call_broker(conn, "POST", path, "{}", &status, &ans, err, sizeof err) &&
		  status == 200 && sget(ans, "token");
	if (ok) {
		json_object_set_new(t, "token", json_string(sget(ans, "token")));
		json_object_set_new(t, "token_expires_at", json_string(sget(ans, "expiresAt")));
		save(t, "token", "token_expires_at", NULL);
	} else {
		char *why = xasprintf("cannot refresh the access token (HTTP %ld): %s", status,
				      ans ? (sget(ans, "detail") ? sget(ans, "detail") : "?") : err);
		set_failure(t, why);
		free(why);
	}
	json_decref(ans);
	free(path);
	free(seg);
	return ok;
}

struct pull {
	FILE *f;
	struct agora_sha256_ctx *hash;
	long long bytes, last_progress;
	uint64_t last_ns;
	long long offset;	/* resumed from */
	bool first, reset;
	char digest[65];	/* the provider's Repr-Digest or Agora-Sha256 trailer, hex */
	char errbody[1024];	/* the start of an error answer */
	size_t errlen;
	const char *id;
	CURL *curl;
};

static size_t
pull_header(char *buf, size_t size, size_t n, void *arg)
{
	struct pull *p = arg;
	size_t len = size * n;
	if (len > 13 && !strncasecmp(buf, "Agora-Sha256:", 13)) {
		const char *v = buf + 13;
		while (*v == ' ')
			v++;
		if (strspn(v, "0123456789abcdef") == 64)
			snprintf(p->digest, sizeof p->digest, "%.64s", v);
	}
	if (len > 12 && !strncasecmp(buf, "Repr-Digest:", 12)) {
		const char *v = strstr(buf, "sha-256=:");
		if (v) {
			v += 9;
			const char *end = strchr(v, ':');
			size_t raw_len = 0;
			uint8_t *raw = end ? agora_b64_decode(v, (size_t)(end - v), &raw_len) : NULL;
			if (raw && raw_len == 32)
				agora_hex(raw, 32, p->digest);
			free(raw);
		}
	}
	return len;
}

static size_t
pull_write(char *buf, size_t size, size_t n, void *arg)
{
	struct pull *p = arg;
	size_t len = size * n;
	if (p->first) {
		long code = 0;
		curl_easy_getinfo(p->curl, CURLINFO_RESPONSE_CODE, &code);
		p->first = false;
		if (code == 200 && p->offset > 0) {
			/* The provider sent everything again: start over. */
			if (ftruncate(fileno(p->f), 0) != 0 || fseek(p->f, 0, SEEK_SET) != 0)
				return 0;
			agora_sha256_free(p->hash);
			p->hash = agora_sha256_new();
			p->bytes = 0;
		} else if (code != 200 && code != 206) {
			p->reset = true;	/* an error body: not data */
		}
	}
	if (p->reset) {
		size_t room = sizeof p->errbody - 1 - p->errlen;
		size_t k = len < room ? len : room;
		memcpy(p->errbody + p->errlen, buf, k);
		p->errlen += k;
		p->errbody[p->errlen] = '\0';
		return len;
	}
	if (fwrite(buf, 1, len, p->f) != len)
		return 0;
	agora_sha256_update(p->hash, buf, len);
	p->bytes += (long long)len;
	uint64_t now = agora_mono_ns();
	if (p->bytes - p->last_progress >= (1 << 20) || now - p->last_ns > 500000000ull) {
		db_ctr_progress(p->id, p->bytes);
		p->last_progress = p->bytes;
		p->last_ns = now;
	}
	return len;
}

/* Hash the part already received (a resumed pull). */
static bool
rehash(FILE *f, struct agora_sha256_ctx *h, long long *n)
{
	char buf[1 << 16];
	size_t k;
	*n = 0;
	rewind(f);
	while ((k = fread(buf, 1, sizeof buf, f)) > 0) {
		agora_sha256_update(h, buf, k);
		*n += (long long)k;
	}
	return !ferror(f) && fseek(f, 0, SEEK_END) == 0;
}

static void
do_pull(json_t *t)
{
	const char *id = sget(t, "id"), *endpoint = sget(t, "endpoint");
	if (!endpoint || !fresh_token(t))
		return;
	char *part = received_path(id, ".part"), *final = received_path(id, "");
	char *dir = xasprintf("%s/received", conn->data_dir);
	agora_mkdir_p(dir);
	free(dir);
	struct pull p = { .hash = agora_sha256_new(), .first = true, .id = id };
	p.f = fopen(part, "a+b");
	if (!p.f || !rehash(p.f, p.hash, &p.offset)) {
		set_failure(t, "cannot write the received data");
		goto out;
	}
	p.bytes = p.offset;
	CURL *cu = curl_easy_init();
	p.curl = cu;
	struct curl_slist *hs = NULL;
	char *authz = xasprintf("Authorization: Bearer %s", sget(t, "token"));
	hs = curl_slist_append(hs, authz);
	free(authz);
	if (json_is_true(json_object_get(t, "sender_constrained"))) {
		size_t ulen = strcspn(endpoint, "?");
		char *url = xstrndup(endpoint, ulen);
		char *proof = agora_pauth_mint(conn->svc.key, conn->svc.kid, conn->svc.participant_id,
					       sget(t, "provider"), "GET", url, "", 0);
		char *h = xasprintf("Agora-Proof: %s", proof);
		hs = curl_slist_append(hs, h);
		free(h);
		free(proof);
		free(url);
	}
	if (p.offset > 0) {
		char range[64];
		snprintf(range, sizeof range, "Range: bytes=%lld-", p.offset);
		hs = curl_slist_append(hs, range);
	}
	curl_easy_setopt(cu, CURLOPT_URL, endpoint);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, pull_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &p);
	curl_easy_setopt(cu, CURLOPT_HEADERFUNCTION, pull_header);
	curl_easy_setopt(cu, CURLOPT_HEADERDATA, &p);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(cu, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(cu, CURLOPT_LOW_SPEED_TIME, 60L);
	CURLcode cc = curl_easy_perform(cu);
	long code = 0;
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hs);
	curl_easy_cleanup(cu);
	if (fflush(p.f) != 0 || fsync(fileno(p.f)) != 0)
		cc = CURLE_WRITE_ERROR;
	fclose(p.f);
	p.f = NULL;
	if (cc != CURLE_OK || (code != 200 && code != 206)) {
		json_t *eb = p.errlen ? json_loads(p.errbody, 0, NULL) : NULL;
		const char *es = sget(eb, "error"), *ed = sget(eb, "detail");
		char *why = cc != CURLE_OK ? xasprintf("pull interrupted: %s", curl_easy_strerror(cc))
					   : xasprintf("the provider answered HTTP %ld%s%s%s%s", code,
						       es ? ": " : "", es ? es : "", ed ? ": " : "",
						       ed ? ed : "");
		json_decref(eb);
		if (code == 401 || code == 403 || code == 409) {
			/* Not data: keep nothing of an error body. */
			if (p.offset == 0)
				unlink(part);
		}
		/* A resumed pull whose part is not shorter than the data: it was
		 * complete (a crash between the last byte and received_at), or
		 * the content changed.  The next attempt starts over; resuming
		 * would get this 416 until the attempts run out, the transfer
		 * STARTED for good. */
		if (code == 416 && p.offset > 0)
			unlink(part);
		if (code == 401) {
			json_object_set_new(t, "token_expires_at", json_null());
			save(t, "token_expires_at", NULL);
		}
		set_failure(t, why);
		db_ctr_progress(id, p.bytes);
		/* A refusal that asking again cannot change ends the transfer. */
		if (cc == CURLE_OK && (code == 400 || code == 403))
			transfer_act(conn, id, TR_TERMINATE, es ? es : "refused", why);
		free(why);
		goto out;
	}
	if (rename(part, final) != 0) {
		set_failure(t, "cannot keep the received data");
		goto out;
	}
	uint8_t h[32];
	char hex[65], now[32];
	agora_sha256_final(p.hash, h);
	p.hash = NULL;
	agora_hex(h, 32, hex);
	agora_time_rfc3339(agora_now(), now);
	json_object_set_new(t, "bytes", json_integer(p.bytes));
	json_object_set_new(t, "sha256", json_string(hex));
	json_object_set_new(t, "received_at", json_string(now));
	if (p.digest[0] && !sget(t, "expected_sha256"))
		json_object_set_new(t, "expected_sha256", json_string(p.digest));
	if (sget(t, "expected_sha256"))
		json_object_set_new(t, "verified", json_boolean(str_eq(sget(t, "expected_sha256"), hex)));
	json_object_set_new(t, "attempts", json_integer(0));
	json_object_set_new(t, "reason", json_null());
	save(t, "bytes", "sha256", "received_at", "expected_sha256", "verified", "attempts", "reason", NULL);
	dataplane_wake(id);	/* the receipt next */
out:
	if (p.f)
		fclose(p.f);
	agora_sha256_free(p.hash);
	free(part);
	free(final);
}

/* The ISO 8601 duration of the agreement's delete duty, or NULL. */
static const char *
delete_after(const json_t *agreement)
{
	static const char *const keys[] = { "permission", "obligation" };
	for (size_t k = 0; k < 2; k++) {
		size_t i, j, c;
		json_t *rule, *con;
		json_array_foreach(json_object_get(agreement, keys[k]), i, rule) {
			const json_t *duties = k == 0 ? json_object_get(rule, "duty") : NULL;
			size_t nd = k == 0 ? json_array_size(duties) : 1;
			for (j = 0; j < nd; j++) {
				const json_t *d = k == 0 ? json_array_get(duties, j) : rule;
				if (!str_eq(sget(d, "action"), "delete"))
					continue;
				json_array_foreach(json_object_get(d, "constraint"), c, con)
					if (str_eq(sget(con, "leftOperand"), "elapsedTime"))
						return sget(con, "rightOperand");
			}
		}
	}
	return NULL;
}

/* Does the agreement carry a duty with this action (in a permission or as
 * an obligation)? */
static bool
has_duty(const json_t *agreement, const char *action)
{
	size_t i, j;
	json_t *rule, *d;
	json_array_foreach(json_object_get(agreement, "obligation"), i, rule)
		if (str_eq(sget(rule, "action"), action))
			return true;
	json_array_foreach(json_object_get(agreement, "permission"), i, rule)
		json_array_foreach(json_object_get(rule, "duty"), j, d)
			if (str_eq(sget(d, "action"), action))
				return true;
	return false;
}

/* Tell the broker's ledger about an event of transfer t (its pid there). */
static bool
report(json_t *t, const char *event, json_t **answer)
{
	json_t *req = json_pack("{s:s, s:s}", "transfer", sget(t, "counterpart_pid"), "event", event);
	if (strcmp(event, "deleted") != 0 && strcmp(event, "inform") != 0) {
		json_object_set(req, "bytes", json_object_get(t, "bytes"));
		json_object_set_new(req, "sha256", json_string(sget(t, "sha256")));
	}
	if (str_eq(sget(t, "role"), "provider"))
		json_object_set_new(req, "transfer", json_string(sget(t, "id")));
	char *body = json_dumps(req, JSON_COMPACT);
	json_decref(req);
	long status = 0;
	char err[256];
	json_t *ans = NULL;
	bool ok = connector_call_broker(conn, "POST", "/api/v1/usage/report", body, &status, &ans, err,
					sizeof err) &&
		  status == 200;
	free(body);
	if (!ok) {
		char *why = xasprintf("cannot report %s to the broker (HTTP %ld)", event, status);
		set_failure(t, why);
		free(why);
		json_decref(ans);
		ans = NULL;
	}
	if (answer)
		*answer = ans;
	else
		json_decref(ans);
	return ok;
}

/* The side that moved the data completes the transfer (DSP
 * TransferCompletionMessage through the outbox).  When that commit fails,
 * the reported transfer stays STARTED: the scan finds it (db_ctr_pending,
 * "complete") and handle() tries again. */
static void
complete(json_t *t)
{
	enum agora_error e = transfer_act(conn, sget(t, "id"), TR_COMPLETE, NULL, NULL);
	if (e != AGORA_E__COUNT)
		agora_logf(AGORA_LOG_WARN, "dataplane", "%s: not completed yet: %s", sget(t, "id"),
			   agora_error_info(e)->symbol);
}

static void
do_report(json_t *t)
{
	json_t *ans = NULL;
	bool provider = str_eq(sget(t, "role"), "provider");
	if (!report(t, provider ? "sent" : "received", &ans))
		return;
	char now[32];
	agora_time_rfc3339(agora_now(), now);
	json_object_set_new(t, "reported_at", json_string(now));
	const json_t *m = json_object_get(ans, "matches");
	if (!provider && json_is_null(json_object_get(t, "verified")) && json_is_boolean(m))
		json_object_set_new(t, "verified", json_boolean(json_is_true(m)));
	if (!provider && !json_object_get(t, "verified"))
		json_object_set_new(t, "verified", json_null());
	save(t, "reported_at", "verified", NULL);
	json_decref(ans);
	const char *id = sget(t, "id");
	if (!provider) {
		json_t *ag = NULL;
		if (db_ctr_agreement(NULL, sget(t, "agreement_id"), &ag) == AGORA_QS_ONE) {
			const json_t *agreement = json_object_get(ag, "agreement");
			const char *after = delete_after(agreement);
			if (after)
				db_ctr_delete_due(NULL, id, after);
			/* An inform duty: the broker records it and tells the
			 * provider what we received. */
			if (has_duty(agreement, "inform") && !report(t, "inform", NULL))
				agora_logf(AGORA_LOG_WARN, "dataplane", "%s: the inform duty is not done yet", id);
		}
		json_decref(ag);
	}
	/* Who completes: the consumer for a pull, the provider for a push. */
	bool pull = str_eq(sget(t, "format"), AGORA_DSPT_PULL);
	if (str_eq(sget(t, "state"), "STARTED") && pull != provider)
		complete(t);
}

static void
do_delete(json_t *t)
{
	char *final = received_path(sget(t, "id"), "");
	if (unlink(final) != 0 && errno != ENOENT) {
		set_failure(t, "cannot delete the received data");
		free(final);
		return;
	}
	free(final);
	if (!report(t, "deleted", NULL))
		return;
	char now[32];
	agora_time_rfc3339(agora_now(), now);
	json_object_set_new(t, "deleted_at", json_string(now));
	save(t, "deleted_at", NULL);
	agora_logf(AGORA_LOG_INFO, "dataplane", "%s: received data deleted (delete duty)", sget(t, "id"));
}

/* Provider, push: send the file to the consumer's endpoint. */
static void
do_push(json_t *t)
{
	const char *id = sget(t, "id");
	enum agora_error e;
	char detail[256];
	if (!authorize(id, NULL, false, &e, detail, sizeof detail)) {
		set_failure(t, detail);
		if (e == AGORA_E_USAGE_DENIED)
			transfer_act(conn, id, TR_TERMINATE, "usage_denied", detail);
		return;
	}
	json_t *ds = NULL;
	char *owner = NULL;
	if (db_dataset_get(sget(t, "dataset_id"), &ds, &owner) != AGORA_QS_ONE ||
	    !str_eq(sget(json_object_get(ds, "source"), "type"), "file") || !sget(ds, "sha256")) {
		set_failure(t, "only file datasets with content are pushed");
		transfer_act(conn, id, TR_TERMINATE, "unsupported_source",
			     "only file datasets with content are pushed");
		json_decref(ds);
		free(owner);
		return;
	}
	const json_t *addr = json_object_get(t, "push_address");
	const char *endpoint = sget(addr, "endpoint");
	const char *secret = agora_dspt_endpoint_property(addr, "authorization");
	char *path = xasprintf("%s/objects/%s", conn->data_dir, sget(ds, "sha256"));
	FILE *f = fopen(path, "rb");
	free(path);
	struct stat st;
	if (!f || fstat(fileno(f), &st) != 0 || !endpoint || !secret) {
		if (f)
			fclose(f);
		set_failure(t, "cannot read the content to push");
		json_decref(ds);
		free(owner);
		return;
	}
	CURL *cu = curl_easy_init();
	struct curl_slist *hs = NULL;
	char *authz = xasprintf("Authorization: Bearer %s", secret);
	hs = curl_slist_append(hs, authz);
	free(authz);
	hs = curl_slist_append(hs, "Content-Type: application/octet-stream");
	hs = curl_slist_append(hs, "Expect:");
	/* The digest of what we push (RFC 9530): the consumer checks it. */
	uint8_t raw[32];
	const char *hex = sget(ds, "sha256");
	for (int i = 0; i < 32; i++) {
		unsigned v;
		sscanf(hex + 2 * i, "%2x", &v);
		raw[i] = (uint8_t)v;
	}
	char *b64 = agora_b64_encode(raw, 32);
	char *digest = xasprintf("Repr-Digest: sha-256=:%s:", b64);
	hs = curl_slist_append(hs, digest);
	free(b64);
	free(digest);
	curl_easy_setopt(cu, CURLOPT_URL, endpoint);
	curl_easy_setopt(cu, CURLOPT_UPLOAD, 1L);
	curl_easy_setopt(cu, CURLOPT_READDATA, f);
	curl_easy_setopt(cu, CURLOPT_INFILESIZE_LARGE, (curl_off_t)st.st_size);
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, hs);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, NULL);
	FILE *sink = fopen("/dev/null", "wb");
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, sink);
	CURLcode cc = curl_easy_perform(cu);
	long code = 0;
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &code);
	curl_slist_free_all(hs);
	curl_easy_cleanup(cu);
	fclose(f);
	if (sink)
		fclose(sink);
	if (cc != CURLE_OK || code / 100 != 2) {
		char *why = xasprintf("push failed: %s (HTTP %ld)",
				      cc != CURLE_OK ? curl_easy_strerror(cc) : "refused", code);
		set_failure(t, why);
		free(why);
	} else {
		json_object_set_new(t, "bytes", json_integer((json_int_t)st.st_size));
		json_object_set_new(t, "sha256", json_string(sget(ds, "sha256")));
		save(t, "bytes", "sha256", NULL);
		do_report(t);
	}
	json_decref(ds);
	free(owner);
}

static void
handle(const char *id)
{
	json_t *t = NULL;
	if (db_ctr_get(NULL, id, false, &t) != AGORA_QS_ONE)
		return;
	bool consumer = str_eq(sget(t, "role"), "consumer");
	bool pull = str_eq(sget(t, "format"), AGORA_DSPT_PULL);
	const char *state = sget(t, "state");
	long long attempts = json_integer_value(json_object_get(t, "attempts"));
	if (attempts >= MAX_ATTEMPTS) {
		/* given up: visible in the API */
	} else if (str_eq(state, "STARTED") && sget(t, "reported_at") && pull == consumer) {
		/* Received (or sent) and reported, not completed: the process
		 * died, or the database went away, between do_report's record
		 * of the report and the completion's commit. */
		complete(t);
	} else if (consumer && sget(t, "delete_due_at") && !sget(t, "deleted_at")) {
		int64_t due = 0;
		if (agora_time_parse_rfc3339(sget(t, "delete_due_at"), &due) && due / 1000 <= agora_now())
			do_delete(t);
		else if (sget(t, "received_at") && !sget(t, "reported_at"))
			do_report(t);
	} else if (consumer && sget(t, "received_at") && !sget(t, "reported_at")) {
		do_report(t);
	} else if (consumer && pull && str_eq(state, "STARTED") && !sget(t, "received_at") &&
		   !json_is_false(json_object_get(t, "auto_pull"))) {
		do_pull(t);
	} else if (!consumer && str_eq(state, "STARTED") && !pull && !sget(t, "sha256")) {
		do_push(t);
	} else if (!consumer && sget(t, "sha256") && !sget(t, "reported_at")) {
		do_report(t);
	}
	json_decref(t);
}

/* Handles transfer ID unless another worker is handling it (which then
 * looks again). */
static void
handle_claimed(const char *id)
{
	size_t slot = WORKERS;
	pthread_mutex_lock(&q_lock);
	for (size_t i = 0; i < WORKERS; i++) {
		if (!strcmp(busy[i].id, id)) {
			busy[i].again = true;
			pthread_mutex_unlock(&q_lock);
			return;
		}
		if (slot == WORKERS && !busy[i].id[0])
			slot = i;
	}
	/* A worker holds at most one slot: one is free for the caller. */
	snprintf(busy[slot].id, ID_MAX, "%s", id);
	busy[slot].again = false;
	for (;;) {
		pthread_mutex_unlock(&q_lock);
		handle(id);
		pthread_mutex_lock(&q_lock);
		if (!busy[slot].again || stopping)
			break;
		busy[slot].again = false;
	}
	busy[slot].id[0] = '\0';
	pthread_mutex_unlock(&q_lock);
}

/* Worker 0 also scans once a second for what a crash or a failure left,
 * due deletions, and long zero-copy streams, and queues what it finds. */
static void *
work(void *arg)
{
	bool scanner = arg != NULL;
	int64_t last_scan = 0;
	for (;;) {
		char id[ID_MAX] = "";
		pthread_mutex_lock(&q_lock);
		if (!q_len && !stopping) {
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += 1;
			pthread_cond_timedwait(&q_cond, &q_lock, &ts);
		}
		if (stopping) {
			pthread_mutex_unlock(&q_lock);
			break;
		}
		if (q_len) {
			snprintf(id, sizeof id, "%s", queue[q_head]);
			q_head = (q_head + 1) % QUEUE_SLOTS;
			q_len--;
		}
		pthread_mutex_unlock(&q_lock);
		if (id[0])
			handle_claimed(id);
		int64_t now = agora_now();
		if (scanner && now != last_scan) {
			last_scan = now;
			reauthorize_streams();
			json_t *pending = NULL;
			if (db_ctr_pending(&pending) == AGORA_QS_ONE) {
				size_t i;
				json_t *p;
				pthread_mutex_lock(&q_lock);
				json_array_foreach(pending, i, p)
					enqueue_locked(sget(p, "id"));
				pthread_mutex_unlock(&q_lock);
			}
			json_decref(pending);
		}
	}
	agora_db_close();
	return NULL;
}

void
dataplane_start(struct connector *c)
{
	conn = c;
	if (c->reauth_interval > 0)
		reauth_s = c->reauth_interval;
	stopping = false;
	for (nworkers = 0; nworkers < WORKERS; nworkers++)
		if (pthread_create(&workers[nworkers], NULL, work,
				   nworkers == 0 ? (void *)1 : NULL) != 0)
			break;
	if (nworkers < WORKERS)
		agora_logf(AGORA_LOG_ERROR, "dataplane", "started %zu of %d transfer workers",
			   nworkers, WORKERS);
}

void
dataplane_stop(void)
{
	if (!nworkers)
		return;
	pthread_mutex_lock(&q_lock);
	stopping = true;
	pthread_cond_broadcast(&q_cond);
	pthread_mutex_unlock(&q_lock);
	for (size_t i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	nworkers = 0;
	pthread_mutex_lock(&token_lock);
	for (int i = 0; i < TOKEN_SLOTS; i++) {
		json_decref(tokens[i].claims);
		tokens[i].claims = NULL;
	}
	pthread_mutex_unlock(&token_lock);
}

/* ---- the consumer's push receiver and received data ------------------------------------ */

struct push_in {
	char id[ID_MAX];
	FILE *f;
	struct agora_sha256_ctx *hash;
	long long bytes;
	char *part;
};

static void
push_cleanup(void *arg)
{
	struct push_in *p = arg;
	if (p->f) {
		fclose(p->f);
		unlink(p->part);
	}
	if (p->hash)
		agora_sha256_free(p->hash);
	free(p->part);
	free(p);
}

static bool
secret_ok(const char *secret, const char *want_hex)
{
	if (!secret || !want_hex)
		return false;
	uint8_t h[32];
	char hex[65];
	agora_sha256(secret, strlen(secret), h);
	agora_hex(h, 32, hex);
	unsigned diff = 0;
	for (size_t i = 0; i < 64; i++)
		diff |= (unsigned)(hex[i] ^ want_hex[i]);
	return diff == 0 && strlen(want_hex) == 64;
}

enum MHD_Result
conn_push_put(struct agora_req *r)
{
	struct push_in *p = r->stream_ctx;
	if (r->stream_phase == AGORA_STREAM_BEGIN) {
		const char *id = agora_req_param(r, "id");
		json_t *t = NULL;
		enum agora_qs qs = db_ctr_get(NULL, id, false, &t);
		const char *h = agora_req_header(r, "Authorization");
		enum MHD_Result ret = MHD_YES;
		if (qs < 0) {
			ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
		} else if (qs == AGORA_QS_NONE || !str_eq(sget(t, "role"), "consumer") ||
			   !str_eq(sget(t, "format"), AGORA_DSPT_PUSH) || !h || strncasecmp(h, "Bearer ", 7) ||
			   !secret_ok(h + 7, sget(t, "push_secret_sha256"))) {
			/* Without the secret nothing is there. */
			ret = agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no push transfer '%.200s'", id);
		} else if ((!str_eq(sget(t, "state"), "STARTED") && !str_eq(sget(t, "state"), "REQUESTED")) ||
			   sget(t, "received_at")) {
			ret = agora_reply_error(r, AGORA_E_TRANSFER_STATE, "the transfer is %s%s",
						sget(t, "state"), sget(t, "received_at") ? " and received" : "");
		} else {
			p = xcalloc(1, sizeof *p);
			snprintf(p->id, sizeof p->id, "%s", id);
			char *dir = xasprintf("%s/received", conn->data_dir);
			agora_mkdir_p(dir);
			free(dir);
			p->part = received_path(id, ".push");
			p->f = fopen(p->part, "wb");
			p->hash = agora_sha256_new();
			r->stream_ctx = p;
			r->stream_cleanup = push_cleanup;
			if (!p->f)
				ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "cannot store the data");
		}
		json_decref(t);
		return ret;
	}
	if (r->stream_phase == AGORA_STREAM_CHUNK) {
		if (fwrite(r->chunk, 1, r->chunk_len, p->f) != r->chunk_len)
			agora_stream_fail(r, AGORA_E_UNAVAILABLE, "cannot store the data");
		agora_sha256_update(p->hash, r->chunk, r->chunk_len);
		p->bytes += (long long)r->chunk_len;
		return MHD_YES;
	}
	/* END */
	bool ok = fflush(p->f) == 0 && fsync(fileno(p->f)) == 0;
	fclose(p->f);
	p->f = NULL;
	char *final = received_path(p->id, "");
	if (!ok || rename(p->part, final) != 0) {
		unlink(p->part);
		free(final);
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "cannot store the data");
	}
	free(final);
	uint8_t h[32];
	char hex[65], now[32];
	agora_sha256_final(p->hash, h);
	p->hash = NULL;
	agora_hex(h, 32, hex);
	agora_time_rfc3339(agora_now(), now);
	json_t *t = NULL;
	if (db_ctr_get(NULL, p->id, false, &t) == AGORA_QS_ONE) {
		json_object_set_new(t, "bytes", json_integer(p->bytes));
		json_object_set_new(t, "sha256", json_string(hex));
		json_object_set_new(t, "received_at", json_string(now));
		/* The provider's Repr-Digest, when it sent one. */
		const char *rd = agora_req_header(r, "Repr-Digest");
		const char *v = rd ? strstr(rd, "sha-256=:") : NULL;
		const char *end = v ? strchr(v + 9, ':') : NULL;
		size_t rl = 0;
		uint8_t *raw = end ? agora_b64_decode(v + 9, (size_t)(end - v - 9), &rl) : NULL;
		if (raw && rl == 32) {
			char want[65];
			agora_hex(raw, 32, want);
			json_object_set_new(t, "expected_sha256", json_string(want));
			json_object_set_new(t, "verified", json_boolean(!strcmp(want, hex)));
		}
		free(raw);
		save(t, "bytes", "sha256", "received_at", "expected_sha256", "verified", NULL);
	}
	json_decref(t);
	dataplane_wake(p->id);
	return agora_reply_json(r, 200, json_pack("{s:I, s:s}", "bytes", (json_int_t)p->bytes, "sha256",
						  hex));
}

enum MHD_Result
conn_transfer_data(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	json_t *t = NULL;
	enum agora_qs qs = db_ctr_get(NULL, id, false, &t);
	enum MHD_Result ret;
	if (qs < 0) {
		ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	} else if (qs == AGORA_QS_NONE || !str_eq(sget(t, "role"), "consumer")) {
		ret = agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no transfer '%.200s' received here", id);
	} else if (sget(t, "deleted_at")) {
		ret = agora_reply_error(r, AGORA_E_NO_CONTENT,
					"the data was deleted at %s (the agreement's delete duty)",
					sget(t, "deleted_at"));
	} else if (!sget(t, "received_at")) {
		ret = agora_reply_error(r, AGORA_E_NO_CONTENT, "nothing has been received yet (state %s)",
					sget(t, "state"));
	} else {
		char *final = received_path(id, "");
		int fd = open(final, O_RDONLY | O_CLOEXEC);
		free(final);
		struct stat st;
		if (fd < 0 || fstat(fd, &st) != 0) {
			if (fd >= 0)
				close(fd);
			ret = agora_reply_error(r, AGORA_E_NO_CONTENT, "the received data is gone");
		} else {
			ret = agora_reply_fd(r, "application/octet-stream", fd, (uint64_t)st.st_size, true);
		}
	}
	json_decref(t);
	return ret;
}

/* GET /api/v1/transfers/{id}/edr: the data address and a fresh token of a
 * started pull, for a client that pulls itself (autoPull false). */
enum MHD_Result
conn_transfer_edr(struct agora_req *r)
{
	const char *id = agora_req_param(r, "id");
	json_t *t = NULL;
	enum agora_qs qs = db_ctr_get(NULL, id, false, &t);
	enum MHD_Result ret;
	if (qs < 0) {
		ret = agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	} else if (qs == AGORA_QS_NONE || !str_eq(sget(t, "role"), "consumer")) {
		ret = agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no transfer '%.200s' of this consumer", id);
	} else if (!str_eq(sget(t, "state"), "STARTED") || !str_eq(sget(t, "format"), AGORA_DSPT_PULL) ||
		   !sget(t, "endpoint")) {
		ret = agora_reply_error(r, AGORA_E_TRANSFER_STATE, "the transfer is %s (%s): no data address",
					sget(t, "state"), sget(t, "format"));
	} else if (!fresh_token(t)) {
		ret = agora_reply_error(r, AGORA_E_USAGE_DENIED, "%s", sget(t, "reason") ? sget(t, "reason") : "no token");
	} else {
		ret = agora_reply_json(r, 200, json_pack("{s:s, s:s, s:s, s:s, s:b}", "endpoint",
							 sget(t, "endpoint"), "authorization",
							 sget(t, "token"), "authType", "bearer",
							 "expiresAt", sget(t, "token_expires_at"),
							 "senderConstrained",
							 json_is_true(json_object_get(t, "sender_constrained"))));
	}
	json_decref(t);
	return ret;
}

/* POST /api/v1/usage/notify (the broker): a consumer's inform duty about a
 * transfer of ours; recorded in the transfer's events. */
enum MHD_Result
conn_usage_notify(struct agora_req *r)
{
	const char *id = sget(r->json, "transfer");
	if (!str_eq(r->participant, conn->broker_url))
		return agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no transfer '%.200s'", id ? id : "");
	if (!id)
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST, "expected {\"transfer\": string, …}");
	json_t *t = NULL;
	enum agora_qs qs = db_ctr_get(NULL, id, false, &t);
	bool ours = qs == AGORA_QS_ONE && str_eq(sget(t, "role"), "provider");
	json_decref(t);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	if (!ours)
		return agora_reply_error(r, AGORA_E_TRANSFER_NOT_FOUND, "no transfer '%.200s'", id);
	char hash[65];
	if (!agora_jcs_sha256_hex(r->json, hash))
		return agora_reply_error(r, AGORA_E_INVALID_REQUEST, "the notification cannot be canonicalised");
	qs = db_ctr_msg_add(NULL, id, "in", "UsageNotification", hash, 200, NULL, r->json);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	if (qs == AGORA_QS_ONE)
		agora_logf(AGORA_LOG_INFO, "dataplane", "%s: the consumer informs: %s received", id,
			   sget(r->json, "sha256") ? sget(r->json, "sha256") : "data");
	return agora_reply_json(r, 200, json_pack("{s:s, s:b}", "transfer", id, "recorded", 1));
}
