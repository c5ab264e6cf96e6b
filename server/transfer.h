/* transfer.h — the broker's side of transfer processes (docs/TRANSFER.md):
 * provider towards the consumer, consumer towards the provider, the access
 * tokens it issues, and usage authorisation while data moves.
 *
 * Every incoming message is handled like a negotiation message: parse,
 * one transaction that locks the row, answers a repeated identical message
 * from the history, checks party and transition (lib/dsp_transfer's one
 * table), and writes the new state, the history, the ledger entry and the
 * outgoing message (outbox) together.  Refusals store nothing — except a
 * refused request, which is kept TERMINATED so that asking again gets the
 * same answer.
 */
#ifndef AGORA_BROKER_TRANSFER_H
#define AGORA_BROKER_TRANSFER_H

#include <jansson.h>
#include <libpq-fe.h>

#include "broker.h"
#include "outbox.h"

/* Lifetime of the access tokens (--token-lifetime; default 300 s). */
void broker_transfer_token_lifetime(unsigned seconds);

/* DSP endpoints, consumer leg (/dsp/transfers/…) and provider leg
 * (/dsp/callback/transfers/…). */
enum MHD_Result broker_dsp_transfer_request(struct agora_req *r);
enum MHD_Result broker_dsp_transfer_get(struct agora_req *r);
enum MHD_Result broker_dsp_transfer_start(struct agora_req *r);
enum MHD_Result broker_dsp_transfer_completion(struct agora_req *r);
enum MHD_Result broker_dsp_transfer_suspension(struct agora_req *r);
enum MHD_Result broker_dsp_transfer_termination(struct agora_req *r);
enum MHD_Result broker_dsp_cb_transfer_start(struct agora_req *r);
enum MHD_Result broker_dsp_cb_transfer_completion(struct agora_req *r);
enum MHD_Result broker_dsp_cb_transfer_suspension(struct agora_req *r);
enum MHD_Result broker_dsp_cb_transfer_termination(struct agora_req *r);

/* POST /api/v1/transfers/{id}/token (the consumer): a fresh access token
 * while the transfer is STARTED. */
enum MHD_Result broker_transfer_token(struct agora_req *r);
/* POST /api/v1/usage/authorize (the provider): may this transfer move data
 * now?  POST /api/v1/usage/report (either party): bytes and hash sent or
 * received, or the consumer's deletion — into the ledger. */
enum MHD_Result broker_usage_authorize(struct agora_req *r);
enum MHD_Result broker_usage_report(struct agora_req *r);
/* GET /api/v1/transfers, /api/v1/transfers/{id}: admin, or a party. */
enum MHD_Result broker_transfer_list(struct agora_req *r);
enum MHD_Result broker_transfer_get(struct agora_req *r);

/* In the transaction revoking agreement: terminate its running transfers
 * and tell both sides.  ONE or an error. */
enum agora_qs broker_transfers_revoked(PGconn *c, const struct broker *b, const char *agreement);

/* The outbox result of a message whose kind starts with "transfer ". */
void broker_transfer_on_result(const struct broker *b, PGconn *c, const char *kind,
			       const char *ref, long status, const json_t *reply,
			       enum agora_outbox_outcome outcome);

/* The outbox handle, to wake it after a commit (negotiation.c owns it). */
struct agora_outbox *broker_outbox(void);

#endif
