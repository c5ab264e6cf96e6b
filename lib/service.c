/* service.c — see service.h. */
#include "service.h"
#include "db.h"
#include "jose.h"
#include "log.h"
#include "util.h"
#include "yamljson.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

enum MHD_Result
agora_svc_healthz(struct agora_req *r)
{
	return agora_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

enum MHD_Result
agora_svc_readyz(struct agora_req *r)
{
	if (!agora_db_ping())
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is not reachable");
	return agora_reply_json(r, 200, json_pack("{s:s, s:s}", "status", "ready", "database", "ok"));
}

enum MHD_Result
agora_svc_metrics(struct agora_req *r)
{
	const struct agora_service *s = r->app;
	char *text = agora_server_metrics(s->server);
	struct agora_ed25519_counts e;
	agora_ed25519_counts(&e);
	char *all = xasprintf("%s"
			      "# HELP agora_ed25519_operations_total Ed25519 signatures made and"
			      " checked by this process (verify_remembered: answered from the"
			      " signatures it verified or made before).\n"
			      "# TYPE agora_ed25519_operations_total counter\n"
			      "agora_ed25519_operations_total{op=\"sign\"} %lu\n"
			      "agora_ed25519_operations_total{op=\"verify\"} %lu\n"
			      "agora_ed25519_operations_total{op=\"verify_remembered\"} %lu\n",
			      text, e.signs, e.verifies, e.remembered);
	free(text);
	enum MHD_Result ret = agora_reply_text(r, 200, "text/plain; version=0.0.4", all);
	free(all);
	return ret;
}

enum MHD_Result
agora_svc_jwks(struct agora_req *r)
{
	const struct agora_service *s = r->app;
	json_t *jwk = agora_jwk_from_key(s->key);
	json_object_set_new(jwk, "kid", json_string(s->kid));
	json_object_set_new(jwk, "use", json_string("sig"));
	json_object_set_new(jwk, "alg", json_string("EdDSA"));
	return agora_reply_json(r, 200, json_pack("{s:[o]}", "keys", jwk));
}

enum MHD_Result
agora_svc_dspace_version(struct agora_req *r)
{
	const struct agora_service *s = r->app;
	return agora_reply_json(
		r, 200,
		json_pack("{s:[{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:[s]}}]}", "protocolVersions",
			  "version", "2025-1", "path", "/dsp", "binding", "HTTPS", "serviceId",
			  s->participant_id, "auth", "protocol", "agora-self-issued-jwt", "version",
			  "1", "profile", "EdDSA"));
}

/* Copies the x-agora-* members of each operation in gen (the document
 * generated from the route table) to the same operation of doc, when doc
 * has it; the test comparing both sets of operations lives with the
 * integration tests. */
static void
add_route_extras(json_t *doc, json_t *gen)
{
	json_t *paths = json_object_get(doc, "paths");
	const char *path, *method, *key;
	json_t *gitem, *gop, *v;
	json_object_foreach(json_object_get(gen, "paths"), path, gitem) {
		json_t *item = json_object_get(paths, path);
		json_object_foreach(gitem, method, gop) {
			json_t *op = json_object_get(item, method);
			if (!json_is_object(op))
				continue;
			json_object_foreach(gop, key, v)
				if (!strncmp(key, "x-agora-", 8))
					json_object_set(op, key, v);
		}
	}
}

json_t *
agora_svc_openapi_doc(const struct agora_service *s, char *err, size_t errlen)
{
	const char *title = s->name ? s->name : "Agora";
	char *text = agora_server_openapi(s->server, title);
	json_t *gen = json_loads(text, 0, NULL);
	free(text);
	if (!s->openapi_yaml)
		return gen;
	json_t *doc = agora_yaml_to_json(s->openapi_yaml, strlen(s->openapi_yaml), err, errlen);
	if (doc) {
		add_route_extras(doc, gen);
		json_t *info = json_object_get(doc, "info");
		if (json_is_object(info))
			json_object_set_new(info, "version", json_string(AGORA_VERSION));
	}
	json_decref(gen);
	return doc;
}

enum MHD_Result
agora_svc_openapi(struct agora_req *r)
{
	char err[256];
	json_t *doc = agora_svc_openapi_doc(r->app, err, sizeof err);
	if (!doc) {
		agora_log(AGORA_LOG_ERROR, "the embedded OpenAPI YAML does not parse",
			  json_pack("{s:s}", "error", err));
		return agora_reply_error(r, AGORA_E_INTERNAL, "the OpenAPI document does not parse");
	}
	return agora_reply_json(r, 200, doc);
}

static sigset_t stop_signals;

void
agora_stop_signals_block(void)
{
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	signal(SIGPIPE, SIG_IGN);
}

int
agora_stop_signals_wait(void)
{
	int sig = 0;
	sigwait(&stop_signals, &sig);
	return sig;
}
