/* crawler.c — the broker's catalog crawler (DESIGN.md §4).
 *
 * Every --crawl-interval seconds a thread asks each active participant's
 * connector for its catalog (DSP CatalogRequestMessage to
 * endpoint + /dsp/catalog/request, with a broker-signed self-issued token).
 * No answer (transport error, timeout, 5xx): the participant and its
 * datasets are marked unavailable.  A valid DSP Catalog: available again.
 * Anything else (4xx, not a valid catalog) is logged and recorded as
 * rejected; availability stays as it was and nothing of it is stored.
 * Each tick also recomputes every viewer's offer visibility, so access
 * policies with time constraints do not go stale for longer than a tick.
 */
#include "broker.h"
#include "pauth.h"
#include "catalog.h"
#include "crypto.h"
#include "db_catalog.h"
#include "httpc.h"
#include "jose.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CRAWL_CONNECT_TIMEOUT_MS 3000L
#define CRAWL_TIMEOUT_MS 15000L
#define CRAWL_MAX_RESPONSE ((size_t)64 << 20)

static pthread_mutex_t crawl_lock = PTHREAD_MUTEX_INITIALIZER;	/* one crawl at a time */

static pthread_t thread;
static bool running;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static _Atomic bool stopping;
static unsigned interval_s;

/* Crawl one participant; returns its result object (new). */
static json_t *
crawl_one(const struct broker *b, const char *pid, const char *endpoint)
{
	static const char body[] = "{\"@context\":[\"" CATALOG_DSP_CONTEXT "\"],"
				   "\"@type\":\"CatalogRequestMessage\",\"filter\":[]}";
	size_t el = strlen(endpoint);
	while (el > 0 && endpoint[el - 1] == '/')
		el--;
	char *url = xasprintf("%.*s/dsp/catalog/request", (int)el, endpoint);
	char *tok = agora_pauth_mint(b->svc.key, b->svc.kid, b->svc.public_url, pid, "POST", url, body,
				     strlen(body));
	char *authz = xasprintf("Authorization: Bearer %s", tok);
	const char *headers[] = { authz, "Content-Type: application/json",
				  "Accept: application/json", NULL };
	struct agora_httpc_req req = {
		.method = "POST",
		.url = url,
		.headers = headers,
		.body = body,
		.body_len = strlen(body),
		.connect_timeout_ms = CRAWL_CONNECT_TIMEOUT_MS,
		.timeout_ms = CRAWL_TIMEOUT_MS,
		.max_response = CRAWL_MAX_RESPONSE,
	};
	struct agora_httpc_resp resp;
	bool answered = agora_httpc_request(&req, &resp);
	const char *status;
	char err[512] = "";
	if (!answered) {
		status = "unavailable";
		snprintf(err, sizeof err, "no answer: %s", resp.err);
	} else if (resp.status >= 500) {
		status = "unavailable";
		snprintf(err, sizeof err, "HTTP %ld", resp.status);
	} else if (resp.status < 200 || resp.status > 299) {
		status = "rejected";
		snprintf(err, sizeof err, "HTTP %ld", resp.status);
	} else {
		json_t *cat = agora_httpc_json(&resp);
		struct cat_push p;
		enum agora_error e;
		char detail[400];
		if (!cat) {
			status = "rejected";
			snprintf(err, sizeof err, "the answer is not JSON");
		} else if (!catalog_push_parse(cat, false, pid, &p, &e, detail, sizeof detail)) {
			status = "rejected";
			snprintf(err, sizeof err, "not a valid DSP catalog: %s", detail);
		} else {
			status = "available";
			catalog_push_cleanup(&p);
		}
		json_decref(cat);
	}
	json_t *res = json_pack("{s:s, s:s}", "participant", pid, "status", status);
	if (answered)
		json_object_set_new(res, "httpStatus", json_integer(resp.status));
	if (*err)
		json_object_set_new(res, "error", json_string(err));
	if (db_catalog_crawl_mark(pid, status, *err ? err : NULL) < 0)
		json_object_set_new(res, "stored", json_false());
	agora_log(strcmp(status, "available") ? AGORA_LOG_WARN : AGORA_LOG_INFO, "catalog crawl",
		  json_deep_copy(res));
	agora_httpc_resp_cleanup(&resp);
	free(authz);
	free(tok);
	free(url);
	return res;
}

json_t *
broker_catalog_crawl_once(const struct broker *b)
{
	pthread_mutex_lock(&crawl_lock);
	json_t *targets = NULL, *results = json_array();
	if (db_catalog_crawl_targets(&targets) < 0) {
		pthread_mutex_unlock(&crawl_lock);
		json_decref(results);
		return NULL;
	}
	size_t i;
	json_t *t;
	json_array_foreach(targets, i, t) {
		if (stopping)
			break;
		const char *id = json_string_value(json_object_get(t, "id"));
		json_array_append_new(results,
				      crawl_one(b, id, json_string_value(json_object_get(t, "endpoint"))));
		db_catalog_viewer_sync(id, true);
	}
	json_decref(targets);
	pthread_mutex_unlock(&crawl_lock);
	return results;
}

static void *
crawler_main(void *arg)
{
	const struct broker *b = arg;
	pthread_mutex_lock(&mu);
	while (!stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += interval_s;
		while (!stopping) {
			int rc = pthread_cond_timedwait(&cv, &mu, &until);
			if (rc == ETIMEDOUT)
				break;
		}
		if (stopping)
			break;
		pthread_mutex_unlock(&mu);
		if (b->svc.public_url) {
			json_t *res = broker_catalog_crawl_once(b);
			json_decref(res);
		}
		pthread_mutex_lock(&mu);
	}
	pthread_mutex_unlock(&mu);
	agora_db_close();
	return NULL;
}

bool
broker_crawler_start(struct broker *b, unsigned interval)
{
	if (interval == 0)
		return true;
	interval_s = interval;
	stopping = false;
	if (pthread_create(&thread, NULL, crawler_main, b) != 0) {
		agora_logf(AGORA_LOG_ERROR, "crawler", "cannot start the crawler thread");
		return false;
	}
	running = true;
	return true;
}

void
broker_crawler_stop(void)
{
	if (!running)
		return;
	pthread_mutex_lock(&mu);
	stopping = true;
	pthread_cond_broadcast(&cv);
	pthread_mutex_unlock(&mu);
	pthread_join(thread, NULL);
	running = false;
}

enum MHD_Result
broker_catalog_crawl(struct agora_req *r)
{
	const struct broker *b = r->app;
	json_t *res = broker_catalog_crawl_once(b);
	if (!res)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	return agora_reply_json(r, 200, json_pack("{s:o}", "results", res));
}
