/*
 * cmd_verify - "mxsync-agent verify [--postfix DIR] [--sample N] [--json]
 * [--list]": export as "export" does (no push, no serial) and compare with
 * the primary's own Postfix tables (verify.h)
 *
 * Exits 0 when all agree, 1 on a disagreement, 75 when a table could not
 * be asked or a source is down, 2 on usage or configuration.
 */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "../formats/exitcode.h"
#include "cmd.h"
#include "export.h"
#include "verify.h"

int cmd_verify(struct agent_config *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
	    {"postfix", required_argument, NULL, 'p'},
	    {"sample", required_argument, NULL, 'n'},
	    {"json", no_argument, NULL, 'j'},
	    {"list", no_argument, NULL, 'l'},
	    {NULL, 0, NULL, 0},
	};
	struct verify_opts vo = {NULL, NULL, 0, NULL};
	struct verify_result r;
	struct state *st = NULL;
	struct err err;
	int c, rc, as_json = 0;
	char *end;
	json_t *j;

	if (cfg->verify_postfix[0] != '\0')
		vo.postfix_dir = cfg->verify_postfix;
	vo.delimiter = cfg->recipient_delimiter;
	optind = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			vo.postfix_dir = optarg;
			break;
		case 'n':
			errno = 0;
			vo.sample = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || vo.sample == 0 ||
			    optarg[0] == '-') {
				fprintf(stderr,
					"mxsync-agent: --sample: a "
					"positive number, not '%s'\n",
					optarg);
				return EXITCODE_USAGE;
			}
			break;
		case 'j':
			as_json = 1;
			break;
		case 'l':
			vo.list = stdout;
			break;
		default:
			cmd_usage();
			return EXITCODE_USAGE;
		}
	}
	if (optind != argc) {
		cmd_usage();
		return EXITCODE_USAGE;
	}
	if ((rc = export_state(cfg, -1, &st, &err)) < 0) {
		fprintf(stderr, "mxsync-agent: export failed: %s\n", err.msg);
		return cmd_source_exit(rc);
	}
	rc = verify_run(st, &vo, &r, &err);
	state_free(st);
	if (rc < 0) {
		fprintf(stderr, "mxsync-agent: verify: %s\n", err.msg);
		return rc == VERIFY_DOWN ? EXITCODE_TEMP : EXITCODE_USAGE;
	}
	if (as_json) {
		char *t;

		j = verify_json(&r);
		t = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		printf("%s\n", t != NULL ? t : "{}");
		free(t);
		json_decref(j);
	} else
		verify_print(&r, stdout);
	rc = r.lost || r.backscatter ? EXITCODE_REFUSED : EXITCODE_OK;
	verify_result_clear(&r);
	return rc;
}
