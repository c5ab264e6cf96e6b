/* connector.h — state shared by the connector's endpoint groups. */
#ifndef AGORA_CONNECTOR_H
#define AGORA_CONNECTOR_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "http.h"
#include "service.h"

struct agora_outbox;

struct connector {
	struct agora_service svc;	/* first: the shared handlers read it */
	const char *broker_url;		/* the broker's public URL (its participant id) */
	const char *data_dir;
	int64_t max_upload;		/* bytes per content upload */
	char **http_allow;		/* hosts http sources may reach (NULL-terminated) */
	/* Catalog push: a thread woken by changes, debounced, retried. */
	pthread_t pusher;
	pthread_mutex_t push_lock;
	pthread_cond_t push_cond;
	bool push_wanted;
	bool stopping;
	unsigned push_debounce_ms;
	/* Running data streams are re-authorised this often (seconds). */
	unsigned reauth_interval;
	/* Outgoing DSP negotiation messages (negotiation.c). */
	struct agora_outbox *outbox;
};

/* Route table (routes.c). */
extern const struct agora_route connector_routes[];
extern const size_t connector_nroutes;

/* Before the server starts: the connector whose broker auth.c asks. */
void connector_auth_setup(const struct connector *c);
/* Participant tokens verified against the broker's directory (auth.c). */
enum agora_error connector_participant_auth(struct agora_req *r, const char *jwt, char *detail,
					    size_t detail_len);
/* The registered attributes of participant id (from the directory cache
 * or the broker): new reference, NULL when unknown or unreachable. */
json_t *connector_participant_attributes(const char *id);
/* The public key kid of participant id (the broker: its URL, keys from
 * its /.well-known/jwks.json), from the directory cache or the broker; a
 * new key, NULL when unknown, suspended or unreachable.  *unavailable (may
 * be NULL) tells the last case apart: the broker could not be asked, so
 * the answer may change on a retry. */
struct agora_key *connector_participant_key(const char *id, const char *kid, bool *unavailable);
/* Call the broker as this participant: method, path (with query), JSON body
 * (may be NULL).  On a response returns true with *status and *out (new
 * reference or NULL when not JSON); false on transport failure. */
bool connector_call_broker(const struct connector *c, const char *method, const char *path,
			   const char *body, long *status, json_t **out, char *err, size_t errlen);

/* The catalog (catalog.c): the DSP datasets this connector offers.  With
 * a viewer (participant id and attributes) only the offers whose access
 * policy permits it, and only datasets with such an offer; without one
 * (the push to the broker) every offer, the access policies going to
 * *access ({offer id: policy}).  only_dataset limits it to one dataset.
 * NULL when the database is unavailable; else a new array. */
json_t *connector_datasets(const struct connector *c, const char *viewer, const json_t *viewer_attrs,
			   const char *only_dataset, json_t **access);
/* Wrap datasets into a DSP Catalog (steals datasets). */
json_t *connector_catalog_doc(const struct connector *c, json_t *datasets);
/* Wake the catalog pusher: something changed (the version was bumped). */
void connector_push_wake(struct connector *c);
void connector_push_start(struct connector *c);
void connector_push_stop(struct connector *c);

/* The dataset named in the path ({id}) as its API document (new
 * reference); NULL after replying 404/503 when it is absent and, with
 * `change`, 403 when the caller may not change it. */
json_t *connector_dataset_lookup(struct agora_req *r, bool change);

/* The host of an http(s) URL, lowercase, into host; false when the URL is
 * malformed or carries credentials.  Is it on the --http-allow list? */
bool connector_url_host(const char *url, char *host, size_t len);
bool connector_host_allowed(const struct connector *c, const char *host);

/* Ownership: a publisher may change its own objects, an admin any. */
bool connector_may_change(const struct agora_req *r, const char *owner);

/* Handlers. */
enum MHD_Result conn_dataset_create(struct agora_req *r);
enum MHD_Result conn_dataset_list(struct agora_req *r);
enum MHD_Result conn_dataset_get(struct agora_req *r);
enum MHD_Result conn_dataset_replace(struct agora_req *r);
enum MHD_Result conn_dataset_patch(struct agora_req *r);
enum MHD_Result conn_dataset_delete(struct agora_req *r);
enum MHD_Result conn_dataset_content_put(struct agora_req *r);
enum MHD_Result conn_dataset_content_get(struct agora_req *r);
enum MHD_Result conn_dataset_observations(struct agora_req *r);
enum MHD_Result conn_dataset_quality(struct agora_req *r);
enum MHD_Result conn_policy_create(struct agora_req *r);
enum MHD_Result conn_policy_list(struct agora_req *r);
enum MHD_Result conn_policy_get(struct agora_req *r);
enum MHD_Result conn_policy_delete(struct agora_req *r);
enum MHD_Result conn_offer_create(struct agora_req *r);
enum MHD_Result conn_offer_list(struct agora_req *r);
enum MHD_Result conn_offer_get(struct agora_req *r);
enum MHD_Result conn_offer_delete(struct agora_req *r);
enum MHD_Result conn_catalog_search(struct agora_req *r);
enum MHD_Result conn_dsp_catalog_request(struct agora_req *r);
enum MHD_Result conn_dsp_dataset(struct agora_req *r);
/* Negotiations (http_negotiations.c) and agreements (http_agreements.c). */
enum MHD_Result conn_negotiation_create(struct agora_req *r);
enum MHD_Result conn_negotiation_list(struct agora_req *r);
enum MHD_Result conn_negotiation_get(struct agora_req *r);
enum MHD_Result conn_negotiation_approve(struct agora_req *r);
enum MHD_Result conn_negotiation_reject(struct agora_req *r);
enum MHD_Result conn_negotiation_terminate(struct agora_req *r);
enum MHD_Result conn_agreement_list(struct agora_req *r);
enum MHD_Result conn_agreement_get(struct agora_req *r);
enum MHD_Result conn_agreement_revoke(struct agora_req *r);
enum MHD_Result conn_dsp_cb_agreement_revoked(struct agora_req *r);
enum MHD_Result conn_dsp_neg_request(struct agora_req *r);
enum MHD_Result conn_dsp_neg_get(struct agora_req *r);
enum MHD_Result conn_dsp_neg_verification(struct agora_req *r);
enum MHD_Result conn_dsp_neg_events(struct agora_req *r);
enum MHD_Result conn_dsp_neg_termination(struct agora_req *r);
enum MHD_Result conn_dsp_cb_agreement(struct agora_req *r);
enum MHD_Result conn_dsp_cb_events(struct agora_req *r);
enum MHD_Result conn_dsp_cb_termination(struct agora_req *r);
enum MHD_Result conn_dsp_cb_offers(struct agora_req *r);

#endif
