/* agora — the Agora command line.
 *
 *   agora ledger verify --broker URL [--state FILE] [--quiet]
 *   agora ledger receipt verify FILE.json (--broker URL | --jwks JWKS.json)
 *   agora agreement verify FILE.json (--broker URL | --jwks KEYS.json)
 *
 * Exit status: 0 verified, 1 a mismatch (the message names the first
 * one), 2 usage or unreadable input, 3 the broker could not be reached or
 * the state file not written. */
#include "cli.h"
#include "config.h"
#include "httpc.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct agora_opt opts[] = {
	{ "broker", "AGORA_BROKER", "URL", NULL, "the broker's base URL, e.g. http://127.0.0.1:8480",
	  NULL },
	{ "state", "AGORA_LEDGER_STATE", "FILE", NULL,
	  "ledger verify: last verified tree head per broker (default ~/.agora/ledger-state.json)",
	  NULL },
	{ "jwks", NULL, "FILE", NULL,
	  "receipt verify: the broker's JWKS from a file instead of --broker (fully offline); "
	  "agreement verify: {\"<participant or broker id>\": {\"keys\":[…]}}", NULL },
	{ "quiet", NULL, NULL, NULL, "no progress output on stderr", NULL },
};

static const char summary[] =
	"The Agora command line.\n\n"
	"  agora ledger verify --broker URL [--state FILE]\n"
	"      download the broker's ledger, recompute every leaf hash and the root,\n"
	"      check the signed tree head against the broker's JWKS and its consistency\n"
	"      with the head verified last time\n"
	"  agora ledger receipt verify FILE.json (--broker URL | --jwks FILE)\n"
	"      check a ledger receipt (or an agreement holding one) offline\n"
	"  agora agreement verify FILE.json (--broker URL | --jwks FILE)\n"
	"      check an agreement document (GET /api/v1/agreements/{id}): the provider's,\n"
	"      broker's and consumer's signatures in order, and its ledger receipt\n\n"
	"Exit status: 0 verified, 1 mismatch, 2 usage, 3 broker unreachable.";

#define MAX_WORDS 8

int
main(int argc, char **argv)
{
	/* Words (subcommand and files) apart; the flags go to the parser. */
	const char *words[MAX_WORDS];
	int nwords = 0;
	char **flags = xcalloc((size_t)argc + 1, sizeof *flags);
	int nflags = 0;
	flags[nflags++] = argv[0];
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (strncmp(a, "--", 2) == 0 || !strcmp(a, "-h")) {
			flags[nflags++] = argv[i];
			bool takes = false;
			for (size_t k = 0; k < ARRAY_LEN(opts); k++)
				if (opts[k].metavar && !strcmp(a + 2, opts[k].name))
					takes = true;
			if (takes && i + 1 < argc)
				flags[nflags++] = argv[++i];
		} else if (nwords < MAX_WORDS) {
			words[nwords++] = a;
		} else {
			fprintf(stderr, "agora: too many arguments (see --help)\n");
			free(flags);
			return CLI_USAGE;
		}
	}
	enum agora_config_result cr =
		agora_config_parse(nflags, flags, "agora", summary, opts, ARRAY_LEN(opts));
	free(flags);	/* the options' values point into argv */
	if (cr != AGORA_CONFIG_OK)
		return cr == AGORA_CONFIG_EXIT ? CLI_OK : CLI_USAGE;
#define OPT(n) agora_config_get(opts, ARRAY_LEN(opts), n)
	const char *broker = OPT("broker");
	int rc = CLI_USAGE;
	bool verify = nwords == 2 && !strcmp(words[0], "ledger") && !strcmp(words[1], "verify");
	bool receipt = nwords == 4 && !strcmp(words[0], "ledger") && !strcmp(words[1], "receipt") &&
		       !strcmp(words[2], "verify");
	bool agreement = nwords == 3 && !strcmp(words[0], "agreement") && !strcmp(words[1], "verify");
	if (!verify && !receipt && !agreement) {
		fprintf(stderr, "usage: agora ledger verify --broker URL [--state FILE]\n"
				"       agora ledger receipt verify FILE.json (--broker URL | --jwks FILE)\n"
				"       agora agreement verify FILE.json (--broker URL | --jwks FILE)\n");
		goto out;
	}
	if (!broker && !((receipt || agreement) && OPT("jwks"))) {
		fprintf(stderr, "agora: --broker URL is required\n");
		goto out;
	}
	if (!agora_httpc_global_init()) {
		rc = CLI_FETCH;
		goto out;
	}
	rc = verify      ? cli_ledger_verify(broker, OPT("state"), OPT("quiet") != NULL)
	     : agreement ? cli_agreement_verify(words[2], broker, OPT("jwks"))
			 : cli_ledger_receipt_verify(words[3], broker, OPT("jwks"));
	agora_httpc_global_cleanup();
out:
	return rc;
}
