/* log.c — see log.h. */
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static enum agora_log_level min_level = AGORA_LOG_INFO;
static const char *const level_names[] = { "debug", "info", "warn", "error" };

void
agora_log_set_level(enum agora_log_level min)
{
	min_level = min;
}

bool
agora_log_set_level_name(const char *name)
{
	for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++)
		if (name && strcmp(name, level_names[i]) == 0) {
			min_level = (enum agora_log_level)i;
			return true;
		}
	return false;
}

void
agora_log(enum agora_log_level level, const char *msg, json_t *fields)
{
	if (level < min_level) {
		json_decref(fields);
		return;
	}
	struct timeval tv;
	gettimeofday(&tv, NULL);
	struct tm tm;
	time_t t = tv.tv_sec;
	gmtime_r(&t, &tm);
	char ts[48], date[24];
	strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts, sizeof ts, "%.20s.%03dZ", date, (int)((tv.tv_usec / 1000) % 1000));

	json_t *line = json_object();
	json_object_set_new(line, "ts", json_string(ts));
	json_object_set_new(line, "level", json_string(level_names[level]));
	json_object_set_new(line, "msg", json_string(msg));
	if (fields)
		json_object_update(line, fields);
	json_decref(fields);
	char *s = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(6));
	json_decref(line);
	if (s) {
		/* One write per line keeps lines whole across threads. */
		struct agora_buf b;
		agora_buf_init(&b);
		agora_buf_puts(&b, s);
		agora_buf_puts(&b, "\n");
		fwrite(b.data, 1, b.len, stderr);
		fflush(stderr);
		agora_buf_cleanup(&b);
		free(s);
	}
}

void
agora_logf(enum agora_log_level level, const char *msg, const char *fmt, ...)
{
	if (level < min_level)
		return;
	char detail[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(detail, sizeof detail, fmt, ap);
	va_end(ap);
	agora_log(level, msg, json_pack("{s:s}", "detail", detail));
}
