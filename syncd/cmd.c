/*
 * cmd - what several mxsyncd subcommands do (see cmd.h)
 *
 * Security: cmd_owner() keeps root from writing root-owned files into
 * another user's state_dir (run, apply and forget as root only as the
 * owner, with -u); cmd_drop() uses setgroups, setresgid and setresuid and
 * then checks that root cannot be regained.  cmd_lock() takes the flock
 * of state_dir/.lock without waiting, so one writer at a time installs
 * maps.  Every failure is logged here and returned as -1.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "../keys/trust.h"
#include "apply.h"
#include "cmd.h"

/* cmd_setup - config and trusted keys into sd; -1 (logged) on error */
int cmd_setup(struct syncd *sd, const char *conf, int need_tls)
{
	struct syncd_config *cfg;
	struct trust *trust;
	struct err err;

	cfg = syncd_config_load(conf, &err);
	if (cfg == NULL) {
		log_error("%s", err.msg);
		return -1;
	}
	if (need_tls && syncd_config_check_tls(cfg, &err) < 0) {
		log_error("%s", err.msg);
		syncd_config_free(cfg);
		return -1;
	}
	trust = trust_load(cfg->trusted_keys, &err);
	if (trust == NULL) {
		log_error("%s", err.msg);
		syncd_config_free(cfg);
		return -1;
	}
	if (apply_init(sd, cfg, trust) < 0) {
		log_error("pthread_mutex_init failed");
		syncd_config_free(cfg);
		trust_free(trust);
		return -1;
	}
	return 0;
}

/* cmd_lock - lock state_dir/.lock for the one writer; -1 if held */
int cmd_lock(const struct syncd_config *cfg, int *fd_r)
{
	char path[4096];
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/.lock", cfg->state_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_error("open(%s): %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("%s is locked by a running mxsyncd", cfg->state_dir);
		close(fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

/* cmd_check_maps - make the maps match the loaded store */
int cmd_check_maps(struct syncd *sd)
{
	struct err err, why;
	int rebuilt;

	if (apply_check_maps(sd, &rebuilt, &why, &err) < 0) {
		log_error("cannot rebuild the maps from the stored states: %s",
			  err.msg);
		return -1;
	}
	if (rebuilt)
		log_warning("maps rebuilt from the stored states (%s)",
			    why.msg);
	else
		log_debug("maps match the stored states");
	return 0;
}

/* cmd_start_store - load the store and make the maps match it */
int cmd_start_store(struct syncd *sd)
{
	struct err err;

	if (apply_load(sd, &err) < 0) {
		log_error("cannot load the state store: %s", err.msg);
		return -1;
	}
	return cmd_check_maps(sd);
}

/* cmd_load_store - read-only commands: the store without the maps */
int cmd_load_store(struct syncd *sd)
{
	struct err err;

	if (apply_load_readonly(sd, &err) < 0) {
		log_error("cannot load the state store: %s", err.msg);
		return -1;
	}
	return 0;
}

/* cmd_drop - drop root for user; verify it cannot be regained */
int cmd_drop(const char *user)
{
	struct passwd *pw;

	if (user == NULL || user[0] == '\0')
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error("unknown user %s", user);
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		log_error("cannot drop privileges to %s: %s", user,
			  strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		log_error("root could be regained after dropping to %s", user);
		return -1;
	}
	log_info("running as %s", user);
	return 0;
}

/*
 * cmd_owner - as root, the user that may write state_dir: *user_r is
 * user (which must own it) or NULL when it is root's own; -1 when root
 * would leave root-owned files in another user's directory
 */
int cmd_owner(const struct syncd_config *cfg, const char *cmd, const char *user,
	      const char **user_r)
{
	struct passwd *pw;
	struct stat st;

	*user_r = user != NULL && user[0] != '\0' ? user : NULL;
	if (geteuid() != 0) {
		if (*user_r != NULL && ((pw = getpwnam(*user_r)) == NULL ||
					pw->pw_uid != geteuid())) {
			log_error("%s: -u %s needs root", cmd, *user_r);
			return -1;
		}
		*user_r = NULL;
		return 0;
	}
	if (stat(cfg->state_dir, &st) < 0) {
		log_error("stat(%s): %s", cfg->state_dir, strerror(errno));
		return -1;
	}
	if (*user_r == NULL) {
		if (st.st_uid == 0)
			return 0;
		pw = getpwuid(st.st_uid);
		log_error("%s as root: state_dir %s belongs to %s; run as that "
			  "user or with -u %s",
			  cmd, cfg->state_dir, pw != NULL ? pw->pw_name : "?",
			  pw != NULL ? pw->pw_name : "USER");
		return -1;
	}
	pw = getpwnam(*user_r);
	if (pw == NULL) {
		log_error("unknown user %s", *user_r);
		return -1;
	}
	if (pw->pw_uid != st.st_uid) {
		log_error(
		    "%s: -u %s: state_dir %s belongs to uid %u, not to %s", cmd,
		    *user_r, cfg->state_dir, (unsigned)st.st_uid, *user_r);
		return -1;
	}
	return 0;
}

int cmd_writer(struct syncd *sd, const struct cmd_ctx *ctx, const char *cmd,
	       int *lock_fd_r)
{
	const char *user;
	struct err err;
	int rc = EXITCODE_USAGE;

	*lock_fd_r = -1;
	if (cmd_setup(sd, ctx->conf, 0) < 0)
		return EXITCODE_USAGE;
	/* As root, only as the owner of state_dir: nothing root-owned. */
	if (cmd_owner(sd->cfg, cmd, ctx->user, &user) < 0 || cmd_drop(user) < 0)
		goto fail;
	rc = EXITCODE_TEMP;
	if (cmd_lock(sd->cfg, lock_fd_r) < 0)
		goto fail;
	if (apply_load(sd, &err) < 0) {
		log_error("cannot load the state store: %s", err.msg);
		goto fail;
	}
	return EXITCODE_OK;
fail:
	cmd_writer_end(sd, *lock_fd_r);
	*lock_fd_r = -1;
	return rc;
}

void cmd_writer_end(struct syncd *sd, int lock_fd)
{
	if (lock_fd >= 0)
		close(lock_fd);
	apply_fini(sd);
}

/* cmd_check_config - "check-config" and -n: load, report, exit */
int cmd_check_config(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct syncd sd;

	(void)argc;
	(void)argv;
	if (cmd_setup(&sd, ctx->conf, 1) < 0)
		return EXITCODE_USAGE;
	printf("%s: ok (%zu trusted keys)\n", ctx->conf, sd.trust->n);
	apply_fini(&sd);
	return EXITCODE_OK;
}
