/* agora — the Agora command line (docs/CLI.md).
 *
 * Commands that talk to the user's own connector with an API key:
 *
 *   agora catalog search [TEXT] [--theme T] [--keyword K] [--publisher P] [--limit N]
 *   agora negotiate DATASET --offer ID [--provider P] [--wait]
 *   agora transfer AGREEMENT [--format pull|push] [--wait [-o FILE]]
 *   agora datasets list | add FILE.json | upload ID FILE [--observations]
 *   agora agreements list
 *
 * Exit status: 0 success, 1 the operation ended badly (TERMINATED, hash
 * mismatch), 2 usage, 3 the API refused (4xx), 4 the connector cannot be
 * reached or failed (5xx), 5 --wait timed out.
 *
 * An auditor's checks against the broker:
 *
 *   agora ledger verify --broker URL [--state FILE] [--quiet]
 *   agora ledger receipt verify FILE.json (--broker URL | --jwks JWKS.json)
 *   agora agreement verify FILE.json (--broker URL | --jwks KEYS.json)
 *
 * Their exit status: 0 verified, 1 a mismatch (the message names the
 * first one), 2 usage or unreadable input, 3 the broker could not be
 * reached or the state file not written. */
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

/* The verify commands. */
static int
verify_main(int argc, char **argv)
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

static const char overview[] =
	"Usage: agora COMMAND [ARGS] [OPTIONS]    (agora COMMAND --help for its options)\n"
	"\n"
	"With your own connector (--connector URL [AGORA_CONNECTOR, default\n"
	"http://127.0.0.1:8481] and --api-key KEY [AGORA_API_KEY] or --api-key-file FILE;\n"
	"--json prints the API's JSON document instead of a table):\n"
	"  agora catalog search [TEXT] [--theme T] [--keyword K] [--publisher P] [--limit N]\n"
	"      search the federated catalog: datasets and the offers you may accept\n"
	"  agora negotiate DATASET --offer ID [--provider P] [--wait] [--timeout S]\n"
	"      negotiate a contract; --wait follows it to FINALIZED (prints the agreement id)\n"
	"  agora transfer AGREEMENT [--format pull|push] [--purpose P] [--query JSON]\n"
	"                 [--wait [-o FILE] [--timeout S]]\n"
	"      start a transfer; --wait follows it, -o saves and checks the data\n"
	"  agora datasets list | add FILE.json | upload ID FILE [--observations]\n"
	"      your datasets; create one; stream its content or CSV observations\n"
	"  agora agreements list\n"
	"      the agreements your connector holds\n"
	"\n"
	"Exit status of these: 0 success; 1 the operation ended badly (negotiation or\n"
	"transfer TERMINATED, SHA-256 mismatch); 2 usage error or unreadable local file;\n"
	"3 the API refused the request (4xx; its error symbol and detail on stderr);\n"
	"4 the connector cannot be reached or failed (5xx); 5 --wait ran out of --timeout.\n"
	"\n"
	"An auditor's checks against the broker (--broker URL [AGORA_BROKER]):\n"
	"  agora ledger verify --broker URL [--state FILE] [--quiet]\n"
	"  agora ledger receipt verify FILE.json (--broker URL | --jwks FILE)\n"
	"  agora agreement verify FILE.json (--broker URL | --jwks FILE)\n"
	"Their exit status: 0 verified, 1 mismatch, 2 usage, 3 broker unreachable.\n"
	"\n"
	"  agora --version    the version\n";

int
main(int argc, char **argv)
{
	/* The first two words, skipping flags and their values. */
	const char *w[2] = { NULL, NULL };
	int nw = 0;
	bool help = false, version = false;
	for (int i = 1; i < argc && nw < 2; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--")) {
			if (i + 1 < argc)
				w[nw++] = argv[++i];
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			help = true;
		} else if (!strcmp(a, "--version")) {
			version = true;
		} else if (!strcmp(a, "-o")) {
			i++;
		} else if (!strncmp(a, "--", 2)) {
			if (cli_flag_takes_value(a + 2))
				i++;
		} else if (a[0] != '-' || !a[1]) {
			w[nw++] = a;
		}
	}
	if (nw == 0) {
		if (version) {
			printf("agora %s\n", AGORA_VERSION);
			return CLI_EXIT_OK;
		}
		fputs(overview, help ? stdout : stderr);
		return help ? CLI_EXIT_OK : CLI_EXIT_USAGE;
	}
	const char *cmd = w[0], *sub = w[1] ? w[1] : "";
	if (!strcmp(cmd, "ledger") || !strcmp(cmd, "agreement"))
		return verify_main(argc, argv);
	int (*run)(int, char **) = NULL;
	if (!strcmp(cmd, "catalog") && !strcmp(sub, "search"))
		run = cli_cmd_catalog_search;
	else if (!strcmp(cmd, "negotiate"))
		run = cli_cmd_negotiate;
	else if (!strcmp(cmd, "transfer"))
		run = cli_cmd_transfer;
	else if (!strcmp(cmd, "datasets"))
		run = cli_cmd_datasets;
	else if (!strcmp(cmd, "agreements") && !strcmp(sub, "list"))
		run = cli_cmd_agreements_list;
	if (!run) {
		fprintf(stderr, "agora: unknown command '%s%s%s' (see agora --help)\n", cmd,
			*sub ? " " : "", sub);
		return CLI_EXIT_USAGE;
	}
	if (!agora_httpc_global_init())
		return CLI_EXIT_UNREACHABLE;
	int rc = run(argc, argv);
	agora_httpc_global_cleanup();
	return rc;
}
