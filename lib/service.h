/* service.h — what every Agora HTTP process has in common (identity, key,
 * server) and the endpoints that only depend on that: /healthz, /readyz,
 * /metrics, /.well-known/jwks.json, /.well-known/dspace-version,
 * /openapi.json.
 *
 * A process's application context (agora_server_config.app) starts with a
 * struct agora_service, so these handlers can read it from r->app.
 */
#ifndef AGORA_SERVICE_H
#define AGORA_SERVICE_H

#include "crypto.h"
#include "http.h"

struct agora_service {
	const char *name;		/* "Agora broker", "Agora connector" (OpenAPI title) */
	const char *public_url;		/* where others reach this process */
	const char *participant_id;	/* its participant id (the broker: its URL) */
	struct agora_key *key;		/* its Ed25519 signing key */
	char kid[44];			/* RFC 7638 thumbprint of key */
	struct agora_server *server;
	/* The OpenAPI document in YAML, served as JSON at /openapi.json; NULL:
	 * one generated from the route table. */
	const char *openapi_yaml;
};

/* schemas/openapi/{broker,connector}.yaml, embedded at build time by
 * scripts/embed-text into the broker's and the connector's libraries. */
extern const char agora_openapi_broker_yaml[];
extern const char agora_openapi_connector_yaml[];

/* Process plumbing shared by the daemons: block SIGINT/SIGTERM in every
 * thread started afterwards (call before starting any) and ignore SIGPIPE;
 * then, once serving, wait for one of them and return its number. */
void agora_stop_signals_block(void);
int agora_stop_signals_wait(void);

enum MHD_Result agora_svc_healthz(struct agora_req *r);
enum MHD_Result agora_svc_readyz(struct agora_req *r);
enum MHD_Result agora_svc_metrics(struct agora_req *r);
enum MHD_Result agora_svc_jwks(struct agora_req *r);
enum MHD_Result agora_svc_dspace_version(struct agora_req *r);
/* The process's OpenAPI document (openapi_yaml converted to JSON) with the
 * route table's x-agora-* extras (roles, streamed bodies, rest-of-path
 * parameters) added to the operations it describes. */
enum MHD_Result agora_svc_openapi(struct agora_req *r);
/* The same document (new reference), or NULL with a message in err when
 * the YAML does not parse. */
json_t *agora_svc_openapi_doc(const struct agora_service *s, char *err, size_t errlen);

#endif
