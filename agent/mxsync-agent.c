/*
 * mxsync-agent - export the primary MX's valid domains and recipients and
 * push them, signed, to every backup MX
 *
 *	mxsync-agent [-c FILE] [-v] [-s] COMMAND [OPTIONS]
 *
 *	check-config			validate the file, key, paths
 *	export [--diff] [-o FILE] [--allow-shrink]
 *	push [--allow-shrink] [--full]	one shot to every backup
 *	run				the daemon
 *	sync-now [--wait] [--timeout S] [--allow-shrink]
 *					ask the daemon to push now
 *	status [--json]
 *	verify [--postfix DIR] [--sample N] [--json] [--list]
 *					compare the export with the primary's
 *					own Postfix tables
 *
 * Exit codes: 0 ok, 1 refused or invalid data (also by the agent's own
 * guard, guard.h), 2 usage or configuration, 75 temporary failure (a source
 * down or not settling, a backup unreachable, no daemon).
 *
 * Commands that take state_dir's lock (push, export -o) first remove the
 * temporary files a crash left there.
 *
 * This file holds the command table and the global options; each command
 * is in its own file (cmd.h), "run" is the daemon (daemon.h).
 *
 * Security: the secret key is loaded only by the commands that sign, and
 * freed (wiped) before exit; output and logs never hold secrets.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "../formats/version.h"
#include "../keys/key.h"
#include "cmd.h"
#include "config.h"
#include "daemon.h"

/* agent_check_config - "check-config": what agent_config_check adds */
static int agent_check_config(struct agent_config *cfg, int argc, char **argv)
{
	struct err err;

	(void)argv;
	if (argc != 1) {
		cmd_usage();
		return EXITCODE_USAGE;
	}
	if (agent_config_check(cfg, &err) < 0) {
		fprintf(stderr, "mxsync-agent: %s: %s\n", cfg->path, err.msg);
		return EXITCODE_USAGE;
	}
	printf("%s: ok (%zu sources, %zu backups)\n", cfg->path, cfg->nsources,
	       cfg->nbackups);
	return EXITCODE_OK;
}

/* agent_run - "run": the daemon, which owns cfg from here on */
static int agent_run(struct agent_config *cfg, int argc, char **argv)
{
	(void)argv;
	if (argc != 1) {
		cmd_usage();
		agent_config_free(cfg);
		return EXITCODE_USAGE;
	}
	return daemon_run(cfg);
}

static const struct agent_command {
	const char *name;
	int (*run)(struct agent_config *cfg, int argc, char **argv);
	int takes_cfg; /* run frees cfg */
} agent_commands[] = {
    {"check-config", agent_check_config, 0},
    {"export", cmd_export, 0},
    {"push", cmd_push, 0},
    {"run", agent_run, 1},
    {"sync-now", cmd_sync_now, 0},
    {"status", cmd_status, 0},
    {"verify", cmd_verify, 0},
    {NULL, NULL, 0},
};

int main(int argc, char **argv)
{
	const char *path = AGENT_CONFIG_DEFAULT;
	const struct agent_command *cmd;
	struct agent_config *cfg = NULL;
	struct err err;
	int c, use_syslog = 0, verbose = 0, rc;

	log_open("mxsync-agent", 0);
	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("mxsync-agent %s\n", MXSYNC_VERSION);
		return fflush(stdout) == 0 ? EXITCODE_OK : EXITCODE_REFUSED;
	}
	while ((c = getopt(argc, argv, "+c:vsh")) != -1) {
		switch (c) {
		case 'c':
			path = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		case 's':
			use_syslog = 1;
			break;
		default:
			cmd_usage();
			return EXITCODE_USAGE;
		}
	}
	if (optind >= argc) {
		cmd_usage();
		return EXITCODE_USAGE;
	}
	argc -= optind;
	argv += optind;
	for (cmd = agent_commands; cmd->name != NULL; cmd++)
		if (strcmp(cmd->name, argv[0]) == 0)
			break;
	if (cmd->name == NULL) {
		fprintf(stderr, "mxsync-agent: unknown command '%s'\n",
			argv[0]);
		cmd_usage();
		return EXITCODE_USAGE;
	}
	log_open("mxsync-agent", use_syslog);
	log_set_verbose(verbose);
	if (key_init(&err) < 0 || curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "mxsync-agent: initialisation failed\n");
		return EXITCODE_TEMP;
	}
	if ((cfg = agent_config_load(path, &err)) == NULL) {
		fprintf(stderr, "mxsync-agent: %s\n", err.msg);
		return EXITCODE_USAGE;
	}
	rc = cmd->run(cfg, argc, argv);
	if (!cmd->takes_cfg)
		agent_config_free(cfg);
	curl_global_cleanup();
	return rc;
}
