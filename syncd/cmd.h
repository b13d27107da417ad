/*
 * cmd - the subcommands of mxsyncd and what they share
 *
 * syncd/mxsyncd.c parses the options and calls one command of its table
 * with the arguments that follow the command's name, their count already
 * checked against the table.  Each command is in a file of its own
 * (syncd/cmd_run.c, cmd_apply.c, cmd_forget.c, cmd_status.c, cmd_check.c,
 * cmd_postconf.c); syncd/cmd.c holds what several of them do: load the
 * config and the trusted keys, lock state_dir, choose and become the user
 * that may write it, load the store.
 *
 * These are program code: they log their errors (formats/log) and return
 * the exit code of formats/exitcode.h, or CMD_USAGE for arguments that
 * mxsyncd.c answers with the usage text and exit code 2.
 */
#ifndef MXSYNC_SYNCD_CMD_H
#define MXSYNC_SYNCD_CMD_H

#include <stddef.h>

#include "config.h"
#include "store.h"
#include "syncd.h"

#define CMD_USAGE (-1)

/* what the options before the command say */
struct cmd_ctx {
	const char *conf; /* -c, or the default path */
	const char *user; /* -u, NULL when not given */
};

/* the commands, as the table of syncd/mxsyncd.c calls them */
int cmd_run(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_apply(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_forget(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_status(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_check(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_postconf(const struct cmd_ctx *ctx, int argc, char **argv);
int cmd_check_config(const struct cmd_ctx *ctx, int argc, char **argv);

/* cmd_setup - config and trusted keys into sd; -1 (logged) on error */
int cmd_setup(struct syncd *sd, const char *conf, int need_tls);
/* cmd_lock - lock state_dir/.lock for the one writer; -1 if held */
int cmd_lock(const struct syncd_config *cfg, int *fd_r);
/*
 * cmd_owner - as root, the user that may write state_dir: *user_r is
 * user (which must own it) or NULL when it is root's own; -1 when root
 * would leave root-owned files in another user's directory
 */
int cmd_owner(const struct syncd_config *cfg, const char *cmd, const char *user,
	      const char **user_r);
/* cmd_drop - drop root for user; verify it cannot be regained */
int cmd_drop(const char *user);
/*
 * cmd_writer - what apply and forget do first: setup, become the owner of
 * state_dir, lock it, load the store.  EXITCODE_OK with *lock_fd_r held
 * and sd loaded, or the exit code (2 or 75) with nothing held.
 */
int cmd_writer(struct syncd *sd, const struct cmd_ctx *ctx, const char *cmd,
	       int *lock_fd_r);
/* cmd_writer_end - release what cmd_writer() gave: the lock, then sd */
void cmd_writer_end(struct syncd *sd, int lock_fd);
/* cmd_start_store - load the store and make the maps match it */
int cmd_start_store(struct syncd *sd);
/* cmd_check_maps - make the maps match the loaded store */
int cmd_check_maps(struct syncd *sd);
/* cmd_load_store - read-only commands: the store without the maps */
int cmd_load_store(struct syncd *sd);

/*
 * cmd_postconf_delimiter - the recipient_delimiter of the backup's
 * Postfix, as "postconf" prints it and "check" applies it
 */
const char *cmd_postconf_delimiter(const struct syncd *sd,
				   const struct store_origin **best_r,
				   size_t *count_r);

#endif
