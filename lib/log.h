/* log.h — one JSON object per line on stderr.
 *
 * agora_log(level, msg, fields) writes {"ts","level","msg",...fields}; the
 * fields object (may be NULL) is consumed (its reference stolen).  Secrets
 * never go into a log line: callers pass ids, never keys or tokens.
 */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

#include <jansson.h>
#include <stdbool.h>

enum agora_log_level { AGORA_LOG_DEBUG, AGORA_LOG_INFO, AGORA_LOG_WARN, AGORA_LOG_ERROR };

void agora_log_set_level(enum agora_log_level min);
/* By name: "debug", "info", "warn" or "error"; false (level unchanged) for
 * anything else. */
bool agora_log_set_level_name(const char *name);
void agora_log(enum agora_log_level level, const char *msg, json_t *fields);
/* Shorthand: agora_logf(AGORA_LOG_WARN, "db", "connect failed: %s", err) →
 * {"msg":"db","detail":"connect failed: …"}. */
void agora_logf(enum agora_log_level level, const char *msg, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
