/*
 * cmd_status - "mxsyncd status [--json]": the stored states, read only
 *
 * The table or the JSON of syncd/status, from the store on disk (the
 * daemon's counters are not there: they show as zero).  Exit codes: 0,
 * 2 for a bad config or argument, 75 when the store cannot be read.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../formats/buf.h"
#include "../formats/exitcode.h"
#include "apply.h"
#include "cmd.h"
#include "status.h"

/* cmd_status - "status [--json]": the stored states, read only */
int cmd_status(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct syncd sd;
	struct buf b = BUF_INIT;
	char *text;
	int rc = EXITCODE_TEMP, json = argc == 1;

	if (argc == 1 && strcmp(argv[0], "--json") != 0)
		return CMD_USAGE;
	if (cmd_setup(&sd, ctx->conf, 0) < 0)
		return EXITCODE_USAGE;
	if (cmd_load_store(&sd) < 0)
		goto out;
	if (json) {
		text = status_json(&sd, time(NULL));
		if (text == NULL)
			goto out;
		printf("%s\n", text);
		free(text);
	} else {
		if (status_table(&sd, time(NULL), &b) < 0)
			goto out;
		fputs(b.data, stdout);
	}
	rc = EXITCODE_OK;
out:
	buf_free(&b);
	apply_fini(&sd);
	return rc;
}
