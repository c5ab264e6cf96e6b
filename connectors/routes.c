/* routes.c — the connector's one route table. */
#include "apikeys.h"
#include "connector.h"
#include "transfer.h"
#include "util.h"
#include "webui.h"

#define ADMIN AGORA_AUTH_APIKEY, AGORA_ROLE_ADMIN
#define PUBLISH AGORA_AUTH_APIKEY, AGORA_ROLE_ADMIN | AGORA_ROLE_PUBLISHER
#define READ AGORA_AUTH_APIKEY, AGORA_ROLES_ANY
#define CONSUME AGORA_AUTH_APIKEY, AGORA_ROLE_ADMIN | AGORA_ROLE_CONSUMER
#define DECIDE AGORA_AUTH_APIKEY, AGORA_ROLE_ADMIN | AGORA_ROLE_PUBLISHER | AGORA_ROLE_CONSUMER
#define DSP AGORA_AUTH_PARTICIPANT | AGORA_AUTH_DSP, 0
#define PUBLIC 0, 0
/* A route with the default 1 MiB JSON body limit. */
#define R(method, pattern, handler, ...) { method, pattern, handler, __VA_ARGS__, 0 }
/* A route whose body the handler streams (uploads, ingest). */
#define STREAM(method, pattern, handler, ...) \
	{ method, pattern, handler, __VA_ARGS__, AGORA_BODY_STREAM }

const struct agora_route connector_routes[] = {
	R("GET", "/healthz", agora_svc_healthz, PUBLIC),
	R("GET", "/readyz", agora_svc_readyz, PUBLIC),
	R("GET", "/metrics", agora_svc_metrics, PUBLIC),
	R("GET", "/.well-known/jwks.json", agora_svc_jwks, PUBLIC),
	R("GET", "/.well-known/dspace-version", agora_svc_dspace_version, PUBLIC),
	R("GET", "/openapi.json", agora_svc_openapi, PUBLIC),

	R("POST", "/api/v1/datasets", conn_dataset_create, PUBLISH),
	R("GET", "/api/v1/datasets", conn_dataset_list, READ),
	R("GET", "/api/v1/datasets/{id}", conn_dataset_get, READ),
	R("PUT", "/api/v1/datasets/{id}", conn_dataset_replace, PUBLISH),
	R("PATCH", "/api/v1/datasets/{id}", conn_dataset_patch, PUBLISH),
	R("DELETE", "/api/v1/datasets/{id}", conn_dataset_delete, PUBLISH),
	STREAM("PUT", "/api/v1/datasets/{id}/content", conn_dataset_content_put, PUBLISH),
	R("GET", "/api/v1/datasets/{id}/content", conn_dataset_content_get, READ),
	STREAM("POST", "/api/v1/datasets/{id}/observations", conn_dataset_observations, PUBLISH),
	R("GET", "/api/v1/datasets/{id}/quality", conn_dataset_quality, READ),

	R("POST", "/api/v1/policies", conn_policy_create, PUBLISH),
	R("GET", "/api/v1/policies", conn_policy_list, READ),
	R("GET", "/api/v1/policies/{id}", conn_policy_get, READ),
	R("DELETE", "/api/v1/policies/{id}", conn_policy_delete, PUBLISH),
	R("POST", "/api/v1/offers", conn_offer_create, PUBLISH),
	R("GET", "/api/v1/offers", conn_offer_list, READ),
	R("GET", "/api/v1/offers/{id}", conn_offer_get, READ),
	R("DELETE", "/api/v1/offers/{id}", conn_offer_delete, PUBLISH),

	R("GET", "/api/v1/catalog", conn_catalog_search, READ),

	R("POST", "/api/v1/api-keys", agora_apikey_handle_create, ADMIN),
	R("GET", "/api/v1/api-keys", agora_apikey_handle_list, ADMIN),
	R("DELETE", "/api/v1/api-keys/{id}", agora_apikey_handle_revoke, ADMIN),

	R("POST", "/dsp/catalog/request", conn_dsp_catalog_request, DSP),
	R("GET", "/dsp/catalog/datasets/{id}", conn_dsp_dataset, DSP),

	R("POST", "/api/v1/negotiations", conn_negotiation_create, CONSUME),
	R("GET", "/api/v1/negotiations", conn_negotiation_list, READ),
	R("GET", "/api/v1/negotiations/{id}", conn_negotiation_get, READ),
	R("POST", "/api/v1/negotiations/{id}/approve", conn_negotiation_approve, PUBLISH),
	R("POST", "/api/v1/negotiations/{id}/reject", conn_negotiation_reject, PUBLISH),
	R("POST", "/api/v1/negotiations/{id}/terminate", conn_negotiation_terminate, DECIDE),
	R("GET", "/api/v1/agreements", conn_agreement_list, READ),
	R("GET", "/api/v1/agreements/{id}", conn_agreement_get, READ),
	R("POST", "/api/v1/agreements/{id}/revoke", conn_agreement_revoke, PUBLISH),

	/* DSP negotiation: provider role (the broker asks) and the consumer
	 * role's callbackAddress, PUBLIC_URL/dsp/callback. */
	R("POST", "/dsp/negotiations/request", conn_dsp_neg_request, DSP),
	R("GET", "/dsp/negotiations/{pid}", conn_dsp_neg_get, DSP),
	R("POST", "/dsp/negotiations/{pid}/agreement/verification", conn_dsp_neg_verification, DSP),
	R("POST", "/dsp/negotiations/{pid}/events", conn_dsp_neg_events, DSP),
	R("POST", "/dsp/negotiations/{pid}/termination", conn_dsp_neg_termination, DSP),
	R("POST", "/dsp/callback/negotiations/{pid}/agreement", conn_dsp_cb_agreement, DSP),
	R("POST", "/dsp/callback/negotiations/{pid}/events", conn_dsp_cb_events, DSP),
	R("POST", "/dsp/callback/negotiations/{pid}/termination", conn_dsp_cb_termination, DSP),
	R("POST", "/dsp/callback/negotiations/{pid}/offers", conn_dsp_cb_offers, DSP),
	/* The broker's news that an agreement we hold was revoked. */
	R("POST", "/dsp/callback/agreements/{id}/revoked", conn_dsp_cb_agreement_revoked, DSP),
	/* Transfers (docs/TRANSFER.md): management, DSP in both roles, the
	 * provider's data endpoint (access token checked by the handler) and
	 * the consumer's push receiver (the transfer's push secret). */
	R("POST", "/api/v1/transfers", conn_transfer_create, CONSUME),
	R("GET", "/api/v1/transfers", conn_transfer_list, READ),
	R("GET", "/api/v1/transfers/{id}", conn_transfer_get, READ),
	R("POST", "/api/v1/transfers/{id}/suspend", conn_transfer_suspend, DECIDE),
	R("POST", "/api/v1/transfers/{id}/resume", conn_transfer_resume, DECIDE),
	R("POST", "/api/v1/transfers/{id}/terminate", conn_transfer_terminate, DECIDE),
	R("GET", "/api/v1/transfers/{id}/data", conn_transfer_data, READ),
	R("GET", "/api/v1/transfers/{id}/edr", conn_transfer_edr, CONSUME),
	R("POST", "/dsp/transfers/request", conn_dsp_tr_request, DSP),
	R("GET", "/dsp/transfers/{pid}", conn_dsp_tr_get, DSP),
	R("POST", "/dsp/transfers/{pid}/start", conn_dsp_tr_start, DSP),
	R("POST", "/dsp/transfers/{pid}/completion", conn_dsp_tr_completion, DSP),
	R("POST", "/dsp/transfers/{pid}/suspension", conn_dsp_tr_suspension, DSP),
	R("POST", "/dsp/transfers/{pid}/termination", conn_dsp_tr_termination, DSP),
	R("POST", "/dsp/callback/transfers/{pid}/start", conn_dsp_cb_tr_start, DSP),
	R("POST", "/dsp/callback/transfers/{pid}/completion", conn_dsp_cb_tr_completion, DSP),
	R("POST", "/dsp/callback/transfers/{pid}/suspension", conn_dsp_cb_tr_suspension, DSP),
	R("POST", "/dsp/callback/transfers/{pid}/termination", conn_dsp_cb_tr_termination, DSP),
	R("GET", "/data/{transfer}", conn_data_get, PUBLIC),
	R("POST", "/api/v1/usage/notify", conn_usage_notify, AGORA_AUTH_PARTICIPANT, 0),
	STREAM("PUT", "/push/{id}", conn_push_put, PUBLIC),

	/* The web UI's static files (lib/webui.h, docs/WEB-UI.md). */
	R("GET", "/", agora_webui_index, PUBLIC),
	R("GET", "/ui/{path*}", agora_webui_file, PUBLIC),
};

const size_t connector_nroutes = ARRAY_LEN(connector_routes);
