/* http_wellknown.c — /healthz, /readyz, /metrics, /.well-known/…, whoami. */
#include "broker.h"
#include "db_participants.h"
#include "jose.h"

#include <stdlib.h>

enum MHD_Result
broker_healthz(struct agora_req *r)
{
	return agora_reply_json(r, 200, json_pack("{s:s}", "status", "ok"));
}

enum MHD_Result
broker_readyz(struct agora_req *r)
{
	if (!agora_db_ping())
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is not reachable");
	return agora_reply_json(r, 200, json_pack("{s:s, s:s}", "status", "ready", "database", "ok"));
}

enum MHD_Result
broker_metrics(struct agora_req *r)
{
	const struct broker *b = r->app;
	char *text = agora_server_metrics(b->server);
	enum MHD_Result ret = agora_reply_text(r, 200, "text/plain; version=0.0.4", text);
	free(text);
	return ret;
}

enum MHD_Result
broker_jwks(struct agora_req *r)
{
	const struct broker *b = r->app;
	json_t *jwk = agora_jwk_from_key(b->key);
	json_object_set_new(jwk, "kid", json_string(b->kid));
	json_object_set_new(jwk, "use", json_string("sig"));
	json_object_set_new(jwk, "alg", json_string("EdDSA"));
	return agora_reply_json(r, 200, json_pack("{s:[o]}", "keys", jwk));
}

enum MHD_Result
broker_dspace_version(struct agora_req *r)
{
	const struct broker *b = r->app;
	return agora_reply_json(
		r, 200,
		json_pack("{s:[{s:s, s:s, s:s, s:s, s:{s:s, s:s, s:[s]}}]}", "protocolVersions",
			  "version", "2025-1", "path", "/dsp", "binding", "HTTPS", "serviceId",
			  b->public_url, "auth", "protocol", "agora-self-issued-jwt", "version", "1",
			  "profile", "EdDSA"));
}

enum MHD_Result
broker_whoami(struct agora_req *r)
{
	json_t *p = NULL;
	enum agora_qs qs = db_participant_get(r->participant, &p);
	if (qs < 0)
		return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
	if (qs == AGORA_QS_NONE)	/* removed between auth and here */
		return agora_reply_error(r, AGORA_E_UNKNOWN_PARTICIPANT, NULL);
	return agora_reply_json(r, 200, p);
}
