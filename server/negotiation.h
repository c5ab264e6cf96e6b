/* negotiation.h — the broker's side of contract negotiation
 * (docs/NEGOTIATION.md): provider towards the consumer, consumer towards
 * the provider, one row and one DSP state for both legs.
 *
 * Every function here decides what to answer a DSP message with and does
 * the state change, the history, the ledger entry and the outgoing
 * messages (through the transactional outbox) in one transaction.  The
 * HTTP handlers (http_negotiations.c) only route.
 */
#ifndef AGORA_BROKER_NEGOTIATION_H
#define AGORA_BROKER_NEGOTIATION_H

#include <jansson.h>
#include <stdbool.h>

#include "broker.h"
#include "dsp.h"

/* What to answer: status and body (a new reference the caller replies
 * with or releases). */
struct neg_answer {
	unsigned status;
	json_t *body;
};

/* Which leg a message arrives on. */
enum neg_leg {
	NEG_FROM_CONSUMER,	/* /dsp/negotiations/…: we are its provider */
	NEG_FROM_PROVIDER,	/* /dsp/callback/negotiations/…: we are its consumer */
};

/* POST /dsp/negotiations/request from participant sender. */
void broker_neg_request(const struct broker *b, const char *sender, const json_t *msg,
		 struct neg_answer *out);

/* Any later message on a leg: pid is the path's process id (ours: the
 * providerPid on the consumer leg, the consumerPid on the provider leg);
 * kinds is the mask (1u << enum agora_dsp_kind) the endpoint takes. */
void broker_neg_message(const struct broker *b, enum neg_leg leg, const char *sender, const char *pid,
		 unsigned kinds, const json_t *msg, struct neg_answer *out);

/* GET /dsp/negotiations/{pid} by sender. */
void broker_neg_state(const char *sender, const char *pid, struct neg_answer *out);

/* A ContractNegotiationError (new reference); pids may be NULL. */
json_t *broker_neg_error(const char *provider_pid, const char *consumer_pid, const char *code,
		  const char *reason);

/* Start / stop the outbox that carries the broker's negotiation messages
 * (its results update the negotiations).  false (logged) on failure. */
bool broker_neg_outbox_start(const struct broker *b, const char *conninfo, unsigned workers);
void broker_neg_outbox_stop(void);


#endif
