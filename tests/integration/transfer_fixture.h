/* transfer_fixture.h — the transfer tests' common steps on the negotiation
 * stage (nego_fixture.h): a file dataset with content negotiated to an
 * agreement, transfers started and waited for, the ledger counted. */
#ifndef AGORA_TRANSFER_FIXTURE_H
#define AGORA_TRANSFER_FIXTURE_H

#include "nego_fixture.h"

/* The content every file dataset of these tests holds. */
extern const char tfx_content[];

/* A file dataset holding tfx_content under policy, negotiated by the
 * mobility company to FINALIZED: the agreement id (*ds: the dataset). */
char *tfx_agreement(const char *title, const char *policy, char **ds);
/* POST /api/v1/transfers at the consumer with {"agreementId", extra…}. */
char *tfx_start(const char *agreement, const char *extra);
/* Poll the consumer's transfer until TERMINATED, or COMPLETED with its
 * receipt reported (and, with want_deleted, its data deleted), or until
 * state `until` when not NULL.  The last document. */
json_t *tfx_wait(const char *id, const char *until, bool want_deleted);
/* Ledger entries of kind (for the broker's transfer id, NULL: any). */
int tfx_ledger_count(const char *kind, const char *transfer);
/* Lowercase hex SHA-256 (heap). */
char *tfx_sha(const void *p, size_t n);
const char *tfx_str(const json_t *o, const char *k);

#endif
