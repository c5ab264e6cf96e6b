/* errors.c — see errors.h. */
#include "errors.h"

static const struct agora_error_info table[] = {
#define AGORA_ERR_ROW(sym, str, code, http, hint) { str, code, http, hint },
	AGORA_ERROR_TABLE(AGORA_ERR_ROW)
#undef AGORA_ERR_ROW
};

const struct agora_error_info *
agora_error_info(enum agora_error e)
{
	return &table[e];
}

json_t *
agora_error_json(enum agora_error e, const char *detail)
{
	return json_pack("{s:i, s:s, s:s}", "code", table[e].code, "error", table[e].symbol,
			 "detail", detail ? detail : table[e].hint);
}
