/* service.c — see service.h. */
#include "service.h"
#include "db.h"
#include "jose.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>

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
	enum MHD_Result ret = agora_reply_text(r, 200, "text/plain; version=0.0.4", text);
	free(text);
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

enum MHD_Result
agora_svc_openapi(struct agora_req *r)
{
	const struct agora_service *s = r->app;
	char *doc = agora_server_openapi(s->server, s->name ? s->name : "Agora");
	enum MHD_Result ret = agora_reply_text(r, 200, "application/json", doc);
	free(doc);
	return ret;
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
