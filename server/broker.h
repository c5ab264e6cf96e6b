/* broker.h — state shared by the broker's endpoint groups. */
#ifndef AGORA_BROKER_H
#define AGORA_BROKER_H

#include <jansson.h>
#include <stdbool.h>

#include "crypto.h"
#include "db.h"
#include "http.h"
#include "service.h"

/* The broker's identity is its public URL: svc.public_url and
 * svc.participant_id are the same string (the token audience). */
struct broker {
	struct agora_service svc;	/* first: the shared handlers read it */
};

/* Route table (routes.c). */
extern const struct agora_route broker_routes[];
extern const size_t broker_nroutes;

/* Participant token verification (auth.c), the agora_participant_auth of
 * the broker's server. */
enum agora_error broker_participant_auth(struct agora_req *r, const char *jwt, char *detail,
					 size_t detail_len);

/* The membership credential of a participant (JSON as stored: id, name,
 * attributes): a JWT signed with the broker's key.  Heap string. */
char *broker_membership_credential(const struct broker *b, const json_t *participant);

/* Handlers. */
enum MHD_Result broker_whoami(struct agora_req *r);
enum MHD_Result broker_participant_create(struct agora_req *r);
enum MHD_Result broker_participant_list(struct agora_req *r);
enum MHD_Result broker_participant_get(struct agora_req *r);
enum MHD_Result broker_participant_jwks(struct agora_req *r);
enum MHD_Result broker_participant_patch(struct agora_req *r);
enum MHD_Result broker_participant_credential(struct agora_req *r);

/* Federated catalog (http_catalog.c, crawler.c; docs/CATALOG.md). */
enum MHD_Result broker_catalog_push(struct agora_req *r);
enum MHD_Result broker_catalog_search(struct agora_req *r);
enum MHD_Result broker_catalog_dataset(struct agora_req *r);
enum MHD_Result broker_dsp_catalog_request(struct agora_req *r);
enum MHD_Result broker_catalog_crawl(struct agora_req *r);
/* Crawl every active participant once, now (serialised with the crawler
 * thread): a new array of per-participant results, NULL when the
 * database is unavailable. */
json_t *broker_catalog_crawl_once(const struct broker *b);
/* Start the crawler thread (interval 0: none) / stop it promptly. */
bool broker_crawler_start(struct broker *b, unsigned interval);
void broker_crawler_stop(void);

/* Clearing-house ledger (http_ledger.c, ledger.c; docs/LEDGER.md). */
enum MHD_Result broker_ledger_sth(struct agora_req *r);
enum MHD_Result broker_ledger_entries(struct agora_req *r);
enum MHD_Result broker_ledger_proof(struct agora_req *r);
enum MHD_Result broker_ledger_consistency(struct agora_req *r);

/* Contract negotiation (http_negotiations.c, negotiation.c; docs/NEGOTIATION.md). */
enum MHD_Result broker_dsp_negotiation_request(struct agora_req *r);
enum MHD_Result broker_dsp_negotiation_get(struct agora_req *r);
enum MHD_Result broker_dsp_negotiation_verification(struct agora_req *r);
enum MHD_Result broker_dsp_negotiation_events(struct agora_req *r);
enum MHD_Result broker_dsp_negotiation_termination(struct agora_req *r);
enum MHD_Result broker_dsp_callback_agreement(struct agora_req *r);
enum MHD_Result broker_dsp_callback_events(struct agora_req *r);
enum MHD_Result broker_dsp_callback_termination(struct agora_req *r);
enum MHD_Result broker_dsp_callback_offers(struct agora_req *r);
enum MHD_Result broker_negotiation_list(struct agora_req *r);
enum MHD_Result broker_negotiation_get(struct agora_req *r);
/* Agreements (http_agreements.c). */
enum MHD_Result broker_agreement_list(struct agora_req *r);
enum MHD_Result broker_agreement_get(struct agora_req *r);
enum MHD_Result broker_agreement_revoke(struct agora_req *r);

#endif
