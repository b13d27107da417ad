/*
 * mxsyncd - the backup-MX side of mxsync
 *
 *	mxsyncd [-c FILE] [-s] [-v] [-u USER] run
 *	mxsyncd [-c FILE] [-u USER] apply SNAPSHOT-FILE
 *	mxsyncd [-c FILE] status [--json]
 *	mxsyncd [-c FILE] check ADDRESS
 *	mxsyncd [-c FILE] [-u USER] forget ORIGIN
 *	mxsyncd [-c FILE] postconf
 *	mxsyncd [-c FILE] check-config		(also: mxsyncd -n)
 *
 * Exit codes (formats/exitcode.h): 0 ok (accept, for check), 1 refused or
 * invalid data (reject, for check), 2 usage or configuration error, 75
 * temporary failure (busy, cannot bind, another mxsyncd holds the state
 * directory).
 *
 * This file is the command table, the option parsing and the dispatch;
 * each command is in syncd/cmd_*.c (syncd/cmd.h).  Security: run binds,
 * reads its certificate and key, then drops to USER and only then touches
 * state_dir; it forks the sandboxed network process (syncd/listener) and
 * stays the installer (syncd/installer), the one process that writes
 * state_dir and maps_dir (syncd/cmd_run.c).  As root, run, apply and
 * forget refuse a state_dir of another user unless -u names that user.
 * The state directory is locked (flock) by run, apply and forget, so one
 * writer at a time installs maps.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "../formats/version.h"
#include "../keys/key.h"
#include "cmd.h"
#include "config.h"

/* one subcommand: its name, synopsis, argument count and handler */
struct mxsyncd_cmd {
	const char *name;
	const char *synopsis; /* after "mxsyncd " in the usage text */
	int min_args, max_args;
	int (*run)(const struct cmd_ctx *ctx, int argc, char **argv);
};

static const struct mxsyncd_cmd mxsyncd_cmds[] = {
    {"run", "[-c FILE] [-s] [-v] [-u USER] run", 0, 0, cmd_run},
    {"apply", "[-c FILE] [-u USER] apply SNAPSHOT-FILE", 1, 1, cmd_apply},
    {"status", "[-c FILE] status [--json]", 0, 1, cmd_status},
    {"check", "[-c FILE] check ADDRESS", 1, 1, cmd_check},
    {"forget", "[-c FILE] [-u USER] forget ORIGIN", 1, 1, cmd_forget},
    {"postconf", "[-c FILE] postconf", 0, 0, cmd_postconf},
    {"check-config", "[-c FILE] check-config   (or -n)", 0, 0,
     cmd_check_config},
    {NULL, NULL, 0, 0, NULL}};

static void mxsyncd_usage(void)
{
	const struct mxsyncd_cmd *c;

	for (c = mxsyncd_cmds; c->name != NULL; c++)
		fprintf(stderr, "%s mxsyncd %s\n",
			c == mxsyncd_cmds ? "usage:" : "      ", c->synopsis);
	fprintf(stderr, "       mxsyncd --version\n");
}

/* mxsyncd_find - the table entry of name, or NULL */
static const struct mxsyncd_cmd *mxsyncd_find(const char *name)
{
	const struct mxsyncd_cmd *c;

	for (c = mxsyncd_cmds; c->name != NULL; c++)
		if (strcmp(c->name, name) == 0)
			return c;
	return NULL;
}

int main(int argc, char **argv)
{
	struct cmd_ctx ctx = {SYNCD_CONFIG_DEFAULT_PATH, NULL};
	const struct mxsyncd_cmd *cmd;
	struct err err;
	int c, rc, use_syslog = 0, verbose = 0, check_only = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("mxsyncd %s\n", MXSYNC_VERSION);
		return fflush(stdout) == 0 ? EXITCODE_OK : EXITCODE_REFUSED;
	}
	while ((c = getopt(argc, argv, "+c:nsu:vh")) != -1) {
		switch (c) {
		case 'c':
			ctx.conf = optarg;
			break;
		case 'n':
			check_only = 1;
			break;
		case 's':
			use_syslog = 1;
			break;
		case 'u':
			ctx.user = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			mxsyncd_usage();
			return EXITCODE_USAGE;
		}
	}
	log_open("mxsyncd", use_syslog);
	log_set_verbose(verbose);
	if (key_init(&err) < 0) {
		log_error("%s", err.msg);
		return EXITCODE_TEMP;
	}
	if (check_only && optind == argc)
		return cmd_check_config(&ctx, 0, argv + optind);
	cmd = !check_only && optind < argc ? mxsyncd_find(argv[optind]) : NULL;
	if (cmd == NULL || argc - optind - 1 < cmd->min_args ||
	    argc - optind - 1 > cmd->max_args) {
		mxsyncd_usage();
		return EXITCODE_USAGE;
	}
	rc = cmd->run(&ctx, argc - optind - 1, argv + optind + 1);
	if (rc == CMD_USAGE) {
		mxsyncd_usage();
		return EXITCODE_USAGE;
	}
	return rc;
}
