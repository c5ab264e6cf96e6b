/* routes.c — the broker's one route table. */
#include "apikeys.h"
#include "broker.h"
#include "transfer.h"
#include "util.h"
#include "webui.h"

#define ADMIN AGORA_AUTH_APIKEY, AGORA_ROLE_ADMIN
#define ANY_KEY AGORA_AUTH_APIKEY, AGORA_ROLES_ANY
#define PARTICIPANT AGORA_AUTH_PARTICIPANT, 0
#define PUBLIC 0, 0
#define DSP AGORA_AUTH_PARTICIPANT | AGORA_AUTH_DSP, 0
/* A route with the default 1 MiB JSON body limit. */
#define R(method, pattern, handler, ...) { method, pattern, handler, __VA_ARGS__, 0 }

const struct agora_route broker_routes[] = {
	R("GET", "/healthz", agora_svc_healthz, PUBLIC),
	R("GET", "/readyz", agora_svc_readyz, PUBLIC),
	R("GET", "/metrics", agora_svc_metrics, PUBLIC),
	R("GET", "/.well-known/jwks.json", agora_svc_jwks, PUBLIC),
	R("GET", "/.well-known/dspace-version", agora_svc_dspace_version, PUBLIC),
	R("GET", "/openapi.json", agora_svc_openapi, PUBLIC),
	R("GET", "/api/v1/whoami", broker_whoami, PARTICIPANT),

	R("POST", "/api/v1/participants", broker_participant_create, ADMIN),
	R("GET", "/api/v1/participants", broker_participant_list,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLES_ANY),
	R("GET", "/api/v1/participants/{id}", broker_participant_get,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLES_ANY),
	R("PATCH", "/api/v1/participants/{id}", broker_participant_patch, ADMIN),
	R("GET", "/api/v1/participants/{id}/jwks.json", broker_participant_jwks, PUBLIC),
	R("GET", "/api/v1/participants/{id}/credential", broker_participant_credential,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLE_ADMIN),

	R("POST", "/api/v1/api-keys", agora_apikey_handle_create, ADMIN),
	R("GET", "/api/v1/api-keys", agora_apikey_handle_list, ADMIN),
	R("DELETE", "/api/v1/api-keys/{id}", agora_apikey_handle_revoke, ADMIN),

	/* Federated catalog: the push takes whole catalogs (64 MiB); search,
	 * dataset and DSP catalog are public routes whose handlers read an
	 * optional participant token themselves (DSP: none → 404). */
	{ "PUT", "/api/v1/catalogs/{participant}", broker_catalog_push, AGORA_AUTH_PARTICIPANT, 0,
	  64u << 20 },
	R("GET", "/api/v1/catalog/datasets", broker_catalog_search, PUBLIC),
	R("GET", "/api/v1/catalog/datasets/{id}", broker_catalog_dataset, PUBLIC),
	R("POST", "/api/v1/catalog/crawl", broker_catalog_crawl, ADMIN),
	R("POST", "/dsp/catalog/request", broker_dsp_catalog_request, PUBLIC),

	/* Clearing-house ledger: public reads, like Certificate Transparency. */
	R("GET", "/api/v1/ledger/sth", broker_ledger_sth, PUBLIC),
	R("GET", "/api/v1/ledger/entries", broker_ledger_entries, PUBLIC),
	R("GET", "/api/v1/ledger/proof", broker_ledger_proof, PUBLIC),
	R("GET", "/api/v1/ledger/consistency", broker_ledger_consistency, PUBLIC),

	/* Contract negotiation (docs/NEGOTIATION.md): the consumer leg (we are
	 * its provider) and our callback on the provider leg (we are its
	 * consumer).  Unauthenticated DSP callers get 404. */
	R("POST", "/dsp/negotiations/request", broker_dsp_negotiation_request, DSP),
	R("GET", "/dsp/negotiations/{pid}", broker_dsp_negotiation_get, DSP),
	R("POST", "/dsp/negotiations/{pid}/agreement/verification",
	  broker_dsp_negotiation_verification, DSP),
	R("POST", "/dsp/negotiations/{pid}/events", broker_dsp_negotiation_events, DSP),
	R("POST", "/dsp/negotiations/{pid}/termination", broker_dsp_negotiation_termination, DSP),
	R("POST", "/dsp/callback/negotiations/{pid}/agreement", broker_dsp_callback_agreement, DSP),
	R("POST", "/dsp/callback/negotiations/{pid}/events", broker_dsp_callback_events, DSP),
	R("POST", "/dsp/callback/negotiations/{pid}/termination", broker_dsp_callback_termination,
	  DSP),
	R("POST", "/dsp/callback/negotiations/{pid}/offers", broker_dsp_callback_offers, DSP),
	/* Transfer processes (docs/TRANSFER.md): both DSP legs, the consumer's
	 * token refresh, the provider's usage checks, and the parties' views. */
	R("POST", "/dsp/transfers/request", broker_dsp_transfer_request, DSP),
	R("GET", "/dsp/transfers/{pid}", broker_dsp_transfer_get, DSP),
	R("POST", "/dsp/transfers/{pid}/start", broker_dsp_transfer_start, DSP),
	R("POST", "/dsp/transfers/{pid}/completion", broker_dsp_transfer_completion, DSP),
	R("POST", "/dsp/transfers/{pid}/suspension", broker_dsp_transfer_suspension, DSP),
	R("POST", "/dsp/transfers/{pid}/termination", broker_dsp_transfer_termination, DSP),
	R("POST", "/dsp/callback/transfers/{pid}/start", broker_dsp_cb_transfer_start, DSP),
	R("POST", "/dsp/callback/transfers/{pid}/completion", broker_dsp_cb_transfer_completion, DSP),
	R("POST", "/dsp/callback/transfers/{pid}/suspension", broker_dsp_cb_transfer_suspension, DSP),
	R("POST", "/dsp/callback/transfers/{pid}/termination", broker_dsp_cb_transfer_termination,
	  DSP),
	R("POST", "/api/v1/transfers/{id}/token", broker_transfer_token, PARTICIPANT),
	R("POST", "/api/v1/usage/authorize", broker_usage_authorize, PARTICIPANT),
	R("POST", "/api/v1/usage/report", broker_usage_report, PARTICIPANT),
	R("GET", "/api/v1/transfers", broker_transfer_list,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLE_ADMIN),
	R("GET", "/api/v1/transfers/{id}", broker_transfer_get,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLE_ADMIN),
	R("GET", "/api/v1/negotiations", broker_negotiation_list, ADMIN),
	R("GET", "/api/v1/negotiations/{id}", broker_negotiation_get, ADMIN),
	R("GET", "/api/v1/agreements", broker_agreement_list,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLE_ADMIN),
	R("GET", "/api/v1/agreements/{id}", broker_agreement_get,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLE_ADMIN),
	/* An admin key, or the agreement's provider (its connector's outbox). */
	R("POST", "/api/v1/agreements/{id}/revoke", broker_agreement_revoke,
	  AGORA_AUTH_APIKEY | AGORA_AUTH_PARTICIPANT, AGORA_ROLE_ADMIN),

	/* The web UI's static files (lib/webui.h, docs/WEB-UI.md). */
	R("GET", "/", agora_webui_index, PUBLIC),
	R("GET", "/ui/{path*}", agora_webui_file, PUBLIC),
};

const size_t broker_nroutes = ARRAY_LEN(broker_routes);
