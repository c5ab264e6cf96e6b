/* catalog.c — the connector's DCAT/DSP catalog, and the thread that pushes
 * it to the broker whenever it changes.
 *
 * Every change bumps catalog_state.version in the same transaction; the
 * pusher wakes, waits a short debounce so bursts of changes go out once,
 * builds the catalog, PUTs it to the broker and records the version the
 * broker acknowledged.  Failures are retried with exponential backoff, so
 * a broker that was down receives the catalog when it is back.
 */
#include "connector.h"
#include "db_connector.h"
#include "log.h"
#include "policy.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DSP_CONTEXT "https://w3id.org/dspace/2025/1/context.jsonld"

/* Would the access policy let viewer see the offer?  NULL policy: anyone. */
static bool
visible(const json_t *access, const char *viewer, const json_t *attrs)
{
	if (!access || json_is_null(access))
		return true;
	struct agora_policy *p = agora_policy_parse(access, NULL, NULL);
	if (!p)
		return false;	/* a policy we cannot read hides the offer */
	json_t *rq = json_pack("{s:s}", "action", "use");
	if (viewer)
		json_object_set_new(rq, "assignee", json_string(viewer));
	if (attrs)
		json_object_set(rq, "attributes", (json_t *)attrs);
	struct agora_policy_request *req = agora_policy_request_from_json(rq, NULL);
	json_decref(rq);
	bool ok = false;
	if (req) {
		struct agora_policy_decision d;
		ok = agora_policy_decide(p, req, &d) == AGORA_POLICY_PERMIT;
		agora_policy_request_free(req);
	}
	agora_policy_free(p);
	return ok;
}

/* The ODRL Offer published for an offer: its contract policy as an Offer
 * with the offer's id, assigned by this participant, without a target. */
static json_t *
offer_doc(const struct connector *c, const char *offer_id, const json_t *contract)
{
	json_t *o = json_deep_copy(contract);
	json_object_del(o, "@context");
	json_object_del(o, "uid");
	json_object_del(o, "target");
	json_object_set_new(o, "@id", json_string(offer_id));
	json_object_set_new(o, "@type", json_string("Offer"));
	json_object_set_new(o, "assigner", json_string(c->svc.participant_id));
	return o;
}

static void
copy_if(json_t *dst, const json_t *src, const char *key)
{
	/* Empty values are left out: DCAT has no use for "" or []. */
	json_t *v = json_object_get(src, key);
	if (v && !json_is_null(v) && !(json_is_string(v) && json_string_length(v) == 0) &&
	    !(json_is_array(v) && json_array_size(v) == 0))
		json_object_set(dst, key, v);
}

/* Observations datasets publish a sample of their first numeric field, so
 * catalogs can preview the series (the web UI draws it). */
#define SAMPLE_POINTS 48
static void
add_sample(json_t *out, const json_t *d)
{
	const json_t *src = json_object_get(d, "source");
	if (strcmp(json_string_value(json_object_get(src, "type")) ?: "", "observations") != 0)
		return;
	size_t i;
	json_t *f;
	json_array_foreach(json_object_get(src, "fields"), i, f) {
		const char *type = json_string_value(json_object_get(f, "type"));
		const char *name = json_string_value(json_object_get(f, "name"));
		if (!type || !name || (strcmp(type, "number") && strcmp(type, "integer")))
			continue;
		json_t *points = NULL;
		if (db_catalog_sample(json_string_value(json_object_get(d, "id")), name, SAMPLE_POINTS,
				      &points) < 0 || json_array_size(points) == 0) {
			json_decref(points);
			return;
		}
		json_t *sample = json_pack("{s:s, s:o}", "field", name, "points", points);
		copy_if(sample, f, "unit");
		json_object_set_new(out, "sample", sample);
		return;
	}
}

static json_t *
dataset_doc(const struct connector *c, const json_t *d, json_t *offers)
{
	json_t *out = json_pack("{s:O, s:s}", "@id", json_object_get(d, "id"), "@type", "Dataset");
	static const char *const keys[] = { "title", "description", "keyword", "theme", "license",
					    "issued", "modified", "spatial", "temporal",
					    "accrualPeriodicity", "mediaType", "quality" };
	for (size_t i = 0; i < ARRAY_LEN(keys); i++)
		copy_if(out, d, keys[i]);
	add_sample(out, d);
	json_object_set_new(out, "hasPolicy", offers);
	char *svc = xasprintf("%s#dsp", c->svc.participant_id);
	json_t *dist = json_pack("{s:s, s:s, s:s}", "@type", "Distribution", "format", "HttpData-PULL",
				 "accessService", svc);
	copy_if(dist, d, "mediaType");
	copy_if(dist, d, "byteSize");
	json_object_set_new(out, "distribution", json_pack("[o]", dist));
	free(svc);
	return out;
}

json_t *
connector_datasets(const struct connector *c, const char *viewer, const json_t *viewer_attrs,
		   const char *only_dataset, json_t **access)
{
	json_t *rows = NULL;
	if (db_catalog_rows(only_dataset, &rows) < 0)
		return NULL;
	json_t *out = json_array();
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row) {
		json_t *offers = json_array();
		size_t k;
		json_t *o;
		json_array_foreach(json_object_get(row, "offers"), k, o) {
			const char *oid = json_string_value(json_object_get(o, "id"));
			json_t *acc = json_object_get(o, "access");
			if (!access && !visible(acc, viewer, viewer_attrs))
				continue;
			if (access && acc && !json_is_null(acc))
				json_object_set(*access, oid, acc);
			json_array_append_new(offers, offer_doc(c, oid, json_object_get(o, "contract")));
		}
		if (json_array_size(offers))
			json_array_append_new(out, dataset_doc(c, json_object_get(row, "dataset"), offers));
		else
			json_decref(offers);
	}
	json_decref(rows);
	return out;
}

json_t *
connector_catalog_doc(const struct connector *c, json_t *datasets)
{
	char id[46];
	agora_urn_uuid(id);
	char *svc = xasprintf("%s#dsp", c->svc.participant_id);
	char *url = xasprintf("%s/dsp", c->svc.public_url);
	json_t *cat = json_pack("{s:[s], s:s, s:s, s:s, s:[{s:s, s:s, s:s}], s:o}", "@context",
				DSP_CONTEXT, "@id", id, "@type", "Catalog", "participantId",
				c->svc.participant_id, "service", "@id", svc, "@type", "DataService",
				"endpointURL", url, "dataset", datasets);
	free(svc);
	free(url);
	return cat;
}

/* ---- the pusher -------------------------------------------------------- */

/* Build and PUT the catalog; true once the broker acknowledged it. */
static bool
push_once(struct connector *c, long long version)
{
	json_t *access = json_object();
	json_t *ds = connector_datasets(c, NULL, NULL, NULL, &access);
	if (!ds) {
		json_decref(access);
		return false;
	}
	size_t n = json_array_size(ds);
	json_t *body = json_pack("{s:o, s:o}", "catalog", connector_catalog_doc(c, ds),
				 "accessPolicies", access);
	char *text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	char *path = xasprintf("/api/v1/catalogs/%s", c->svc.participant_id);
	long status = 0;
	json_t *answer = NULL;
	char err[256] = "";
	bool ok = connector_call_broker(c, "PUT", path, text, &status, &answer, err, sizeof err);
	free(path);
	free(text);
	if (ok && status == 200) {
		db_catalog_pushed(version);
		agora_log(AGORA_LOG_INFO, "catalog pushed",
			  json_pack("{s:I, s:I}", "version", (json_int_t)version, "datasets", (json_int_t)n));
	} else {
		char *a = answer ? json_dumps(answer, JSON_COMPACT) : NULL;
		agora_log(AGORA_LOG_WARN, "catalog push failed",
			  json_pack("{s:I, s:i, s:s}", "version", (json_int_t)version, "status", (int)status,
				    "detail", ok ? (a ? a : "") : err));
		free(a);
		ok = false;
	}
	json_decref(answer);
	return ok;
}

static void
wait_ms(struct connector *c, unsigned ms)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	while (!c->stopping && !c->push_wanted)
		if (pthread_cond_timedwait(&c->push_cond, &c->push_lock, &ts) == ETIMEDOUT)
			break;
}

static void *
pusher(void *arg)
{
	struct connector *c = arg;
	unsigned backoff = 0;
	bool first = true;	/* push once at start: the broker may have lost it */
	pthread_mutex_lock(&c->push_lock);
	while (!c->stopping) {
		if (!c->push_wanted && !first)
			wait_ms(c, backoff ? backoff : 3600 * 1000);
		if (c->stopping)
			break;
		c->push_wanted = false;
		/* Debounce: gather the burst of changes this one belongs to. */
		pthread_mutex_unlock(&c->push_lock);
		struct timespec d = { 0, (long)c->push_debounce_ms * 1000000L };
		nanosleep(&d, NULL);
		long long version = 0, pushed = 0;
		bool ok = true;
		if (db_catalog_versions(&version, &pushed) != AGORA_QS_ONE)
			ok = false;
		else if (first || version > pushed)
			ok = push_once(c, version);
		pthread_mutex_lock(&c->push_lock);
		if (ok) {
			first = false;
			backoff = 0;
		} else {
			backoff = backoff ? (backoff * 2 > 60000 ? 60000 : backoff * 2) : 500;
			c->push_wanted = false;
			wait_ms(c, backoff);
			c->push_wanted = true;	/* retry after the wait */
		}
	}
	pthread_mutex_unlock(&c->push_lock);
	agora_db_close();
	return NULL;
}

void
connector_push_wake(struct connector *c)
{
	pthread_mutex_lock(&c->push_lock);
	c->push_wanted = true;
	pthread_cond_signal(&c->push_cond);
	pthread_mutex_unlock(&c->push_lock);
}

void
connector_push_start(struct connector *c)
{
	pthread_mutex_init(&c->push_lock, NULL);
	pthread_cond_init(&c->push_cond, NULL);
	pthread_create(&c->pusher, NULL, pusher, c);
}

void
connector_push_stop(struct connector *c)
{
	pthread_mutex_lock(&c->push_lock);
	c->stopping = true;
	pthread_cond_signal(&c->push_cond);
	pthread_mutex_unlock(&c->push_lock);
	pthread_join(c->pusher, NULL);
}
