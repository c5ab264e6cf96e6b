/* routes.c — the broker's one route table. */
#include "broker.h"
#include "util.h"

#define ADMIN AGORA_AUTH_APIKEY, AGORA_ROLE_ADMIN
#define ANY_KEY AGORA_AUTH_APIKEY, AGORA_ROLES_ANY
#define PARTICIPANT AGORA_AUTH_PARTICIPANT, 0
#define PUBLIC 0, 0

const struct agora_route broker_routes[] = {
	{ "GET", "/healthz", broker_healthz, PUBLIC },
	{ "GET", "/readyz", broker_readyz, PUBLIC },
	{ "GET", "/metrics", broker_metrics, PUBLIC },
	{ "GET", "/.well-known/jwks.json", broker_jwks, PUBLIC },
	{ "GET", "/.well-known/dspace-version", broker_dspace_version, PUBLIC },
	{ "GET", "/api/v1/whoami", broker_whoami, PARTICIPANT },

	{ "POST", "/api/v1/participants", broker_participant_create, ADMIN },
	{ "GET", "/api/v1/participants", broker_participant_list,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLES_ANY },
	{ "GET", "/api/v1/participants/{id}", broker_participant_get,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLES_ANY },
	{ "PATCH", "/api/v1/participants/{id}", broker_participant_patch, ADMIN },
	{ "GET", "/api/v1/participants/{id}/jwks.json", broker_participant_jwks, PUBLIC },
	{ "GET", "/api/v1/participants/{id}/credential", broker_participant_credential,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLE_ADMIN },

	{ "POST", "/api/v1/api-keys", broker_apikey_create, ADMIN },
	{ "GET", "/api/v1/api-keys", broker_apikey_list, ADMIN },
	{ "DELETE", "/api/v1/api-keys/{id}", broker_apikey_revoke, ADMIN },
};

const size_t broker_nroutes = ARRAY_LEN(broker_routes);
