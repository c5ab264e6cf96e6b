/* http_ledger.c — /api/v1/ledger: the clearing house's public, read-only
 * view in the style of Certificate Transparency (RFC 6962 §4): the newest
 * signed tree head, entries, inclusion and consistency proofs. */
#include "broker.h"
#include "config.h"
#include "db_ledger.h"
#include "ledger.h"
#include "util.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

static enum MHD_Result
db_unavailable(struct agora_req *r)
{
	return agora_reply_error(r, AGORA_E_UNAVAILABLE, "the database is unavailable");
}

/* Query parameter `name` as an integer in [0, LLONG_MAX]; on a missing or
 * bad value replies 400 invalid_query and returns false. */
static bool
query_index(struct agora_req *r, const char *name, long long *out)
{
	const char *s = agora_req_query(r, name);
	long v;
	if (!s || !agora_parse_long(s, 0, LONG_MAX, &v)) {
		agora_reply_error(r, AGORA_E_INVALID_QUERY, "%s must be a non-negative integer", name);
		return false;
	}
	*out = v;
	return true;
}

/* The newest STH's size, or a reply (503) and -1. */
static long long
sth_size(struct agora_req *r)
{
	json_t *sth = ledger_sth();
	if (!sth) {
		db_unavailable(r);
		return -1;
	}
	long long n = (long long)json_integer_value(json_object_get(sth, "treeSize"));
	json_decref(sth);
	return n;
}

enum MHD_Result
broker_ledger_sth(struct agora_req *r)
{
	json_t *sth = ledger_sth();
	return sth ? agora_reply_json(r, 200, sth) : db_unavailable(r);
}

enum MHD_Result
broker_ledger_entries(struct agora_req *r)
{
	long long start, end;
	if (!query_index(r, "start", &start) || !query_index(r, "end", &end))
		return MHD_YES;
	if (end < start)
		return agora_reply_error(r, AGORA_E_INVALID_QUERY, "end must not be below start");
	if (end - start >= LEDGER_MAX_PAGE)
		return agora_reply_error(r, AGORA_E_INVALID_QUERY,
					 "at most %d entries per call (end - start < %d)",
					 LEDGER_MAX_PAGE, LEDGER_MAX_PAGE);
	long long size = sth_size(r);
	if (size < 0)
		return MHD_YES;
	/* Only entries a signed head covers are published. */
	if (start >= size)
		return agora_reply_error(r, AGORA_E_INVALID_QUERY,
					 "start must be below the tree size %lld", size);
	if (end >= size)
		end = size - 1;
	PGconn *c = agora_db_conn();
	json_t *list = NULL;
	if (!c || db_ledger_entries(c, start, end, &list) < 0)
		return db_unavailable(r);
	return agora_reply_json(r, 200, json_pack("{s:o}", "entries", list));
}

enum MHD_Result
broker_ledger_proof(struct agora_req *r)
{
	long long index, tree_size;
	if (!query_index(r, "index", &index) || !query_index(r, "tree_size", &tree_size))
		return MHD_YES;
	if (tree_size <= index)
		return agora_reply_error(r, AGORA_E_INVALID_QUERY, "tree_size must be above index");
	long long size = sth_size(r);
	if (size < 0)
		return MHD_YES;
	if (tree_size > size)
		return agora_reply_error(r, AGORA_E_INVALID_QUERY,
					 "tree_size must not exceed the signed tree size %lld", size);
	json_t *proof = ledger_inclusion_proof(index, tree_size);
	if (!proof)
		return db_unavailable(r);
	return agora_reply_json(r, 200,
				json_pack("{s:I, s:I, s:o}", "index", (json_int_t)index, "treeSize",
					  (json_int_t)tree_size, "proof", proof));
}

enum MHD_Result
broker_ledger_consistency(struct agora_req *r)
{
	long long first, second;
	if (!query_index(r, "first", &first) || !query_index(r, "second", &second))
		return MHD_YES;
	if (second < first)
		return agora_reply_error(r, AGORA_E_INVALID_QUERY, "second must not be below first");
	long long size = sth_size(r);
	if (size < 0)
		return MHD_YES;
	if (second > size)
		return agora_reply_error(r, AGORA_E_INVALID_QUERY,
					 "second must not exceed the signed tree size %lld", size);
	json_t *proof = ledger_consistency_proof(first, second);
	if (!proof)
		return db_unavailable(r);
	return agora_reply_json(r, 200,
				json_pack("{s:I, s:I, s:o}", "first", (json_int_t)first, "second",
					  (json_int_t)second, "proof", proof));
}
