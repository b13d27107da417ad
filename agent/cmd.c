/*
 * cmd - what the commands of mxsync-agent share (see cmd.h)
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
#include "source.h"

void cmd_usage(void)
{
	fprintf(stderr,
		"usage: mxsync-agent [-c FILE] [-v] [-s] COMMAND [OPTIONS]\n"
		"       mxsync-agent --version\n"
		"  check-config\n"
		"  export [--diff] [-o FILE] [--allow-shrink]\n"
		"  push [--allow-shrink] [--full]\n"
		"  run\n"
		"  sync-now [--wait] [--timeout SECONDS] [--allow-shrink]\n"
		"  status [--json]\n"
		"  verify [--postfix DIR] [--sample N] [--json] [--list]\n");
}

/* cmd_warn_unlisted - one line per source that dropped recipients */
void cmd_warn_unlisted(const struct agent_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nsources; i++)
		if (cfg->sources[i]->unlisted > 0)
			fprintf(stderr,
				"mxsync-agent: source %s: %zu "
				"recipients dropped, their domain is listed by "
				"no source (e.g. %s)\n",
				cfg->sources[i]->name,
				cfg->sources[i]->unlisted,
				cfg->sources[i]->unlisted_example);
	for (i = 0; i < cfg->nsources; i++)
		if (cfg->sources[i]->note[0] != '\0')
			fprintf(stderr, "mxsync-agent: source %s: %s\n",
				cfg->sources[i]->name, cfg->sources[i]->note);
}

int cmd_source_exit(int rc)
{
	return rc == SOURCE_DOWN || rc == SOURCE_BUSY ? EXITCODE_TEMP
						      : EXITCODE_REFUSED;
}
