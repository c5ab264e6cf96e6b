/* negotiation.h — the connector's side of contract negotiation
 * (docs/NEGOTIATION.md): as consumer (steps 1, 5, 8) and as provider
 * (steps 3, 7).  Every state change runs in one transaction with the
 * history row and the outbox message it causes; the HTTP handlers
 * (http_negotiations.c) only parse, authorise and reply.
 */
#ifndef AGORA_NEGOTIATION_H
#define AGORA_NEGOTIATION_H

#include <jansson.h>
#include <libpq-fe.h>

#include "connector.h"
#include "dsp.h"
#include "outbox.h"

/* The answer to an incoming DSP message: status and body (a new
 * reference: ContractNegotiation or ContractNegotiationError). */
struct neg_answer {
	unsigned status;
	json_t *body;
};

/* Provider role: a ContractRequestMessage (body, borrowed) from sender.
 * Only the broker may ask (else 404); the dataset must be covered by the
 * offer and the requested rules must narrow its contract policy (else
 * 400).  Stores the negotiation and, with autoAccept, agrees at once. */
void negotiation_receive_request(struct connector *c, const char *sender, const json_t *body,
				 struct neg_answer *out);

/* A message for the existing negotiation pid, in which this connector
 * plays role; kinds is the mask (1u << enum agora_dsp_kind) the endpoint
 * takes.  Checks party (404), transition (400), signatures (400) and
 * answers a repeated identical message as the first time. */
void negotiation_receive(struct connector *c, enum agora_dsp_role role, const char *pid,
			 const char *sender, const json_t *body, unsigned kinds,
			 struct neg_answer *out);

/* Consumer role: store a new negotiation for offer (the ODRL Offer with
 * @id and target, borrowed) and queue its ContractRequestMessage to the
 * broker.  id receives the new consumerPid.  AGORA_QS_ONE on success. */
enum agora_qs negotiation_start(struct connector *c, const char *dataset_id, const char *offer_id,
				const char *provider, const json_t *offer, const char *owner,
				char id[static 46]);

enum neg_action {
	NEG_APPROVE,	/* provider: agree to a waiting request */
	NEG_REJECT,	/* provider: terminate a waiting request */
	NEG_TERMINATE,	/* either role: terminate */
};
/* Apply a management action to negotiation id (its state is re-checked
 * under a row lock).  AGORA_E__COUNT on success; NEGOTIATION_NOT_FOUND,
 * NEGOTIATION_STATE or UNAVAILABLE otherwise.  reason may be NULL. */
enum agora_error negotiation_act(struct connector *c, const char *id, enum neg_action a,
				 const char *reason);

/* The outbox's on_result (ctx = the connector): acknowledgements give a
 * consumer its providerPid, refusals and give-ups terminate. */
void negotiation_on_result(void *ctx, PGconn *db, const char *kind, const char *ref,
			   const json_t *sent, long status, const json_t *reply,
			   enum agora_outbox_outcome outcome);

/* NULL when requested is the published policy or stricter
 * (agora_policy_narrows), else a heap string saying why not. */
char *negotiation_offer_narrows(const json_t *published, const json_t *requested);

#endif
