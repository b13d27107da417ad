/*
 * cmd_run - "mxsyncd run": the daemon
 *
 * Binds and reads the certificate and key (syncd/listener), drops to the
 * user (cmd_drop), and only then touches state_dir: it takes the lock,
 * forks the network process (syncd/listener, sandboxed: it holds the key
 * and speaks TLS and HTTP but writes nothing), closes its own copy of the
 * key and the sockets, loads the store and makes the maps match it, and
 * stays the installer (syncd/installer), the one process that writes
 * state_dir and maps_dir.  SIGHUP reloads config and keys, swapped in only
 * when valid (settings that need a restart refuse the reload); SIGTERM and
 * SIGINT stop.  Talks to systemd (READY, RELOADING, STOPPING, WATCHDOG).
 *
 * Exit codes: 2 for a bad config or user, 75 when it cannot bind, cannot
 * lock state_dir or loses the network process, 0 after a stop signal.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "../keys/trust.h"
#include "apply.h"
#include "channel.h"
#include "cmd.h"
#include "installer.h"
#include "listener.h"

/* cmd_run_network - fork the network process; its pid, or -1 */
static pid_t cmd_run_network(struct listener *l, int chan, int other,
			     int lock_fd)
{
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(other);
		close(lock_fd);
		_exit(listener_serve(l, chan));
	}
	return pid;
}

/* cmd_run_revet - after a reload, stop serving what the keys no longer back */
static void cmd_run_revet(struct syncd *sd)
{
	struct err err;
	size_t moved;

	if (apply_revet(sd, &moved, &err) < 0)
		log_error("checking the stored states after the reload: %s",
			  err.msg);
	else if (moved > 0)
		log_warning("%zu stored states no longer served; maps rebuilt",
			    moved);
}

/* cmd_run_reload - SIGHUP: new config and keys, swapped in only if valid */
static void cmd_run_reload(struct syncd *sd, const char *conf)
{
	struct syncd_config *cfg;
	struct trust *trust;
	const struct syncd_config *old = sd->cfg;
	struct err err;

	cfg = syncd_config_load(conf, &err);
	if (cfg == NULL) {
		log_error("reload refused: %s", err.msg);
		return;
	}
	if (strcmp(cfg->listen, old->listen) != 0 ||
	    strcmp(cfg->tls_cert, old->tls_cert) != 0 ||
	    strcmp(cfg->tls_key, old->tls_key) != 0 ||
	    strcmp(cfg->state_dir, old->state_dir) != 0 ||
	    strcmp(cfg->maps_dir, old->maps_dir) != 0 ||
	    strcmp(cfg->user, old->user) != 0 ||
	    strcmp(cfg->status_listen, old->status_listen) != 0 ||
	    strcmp(cfg->allow_text, old->allow_text) != 0 ||
	    strcmp(cfg->sandbox, old->sandbox) != 0) {
		log_error("reload refused: listen, status_listen, allow, "
			  "sandbox, tls_cert, tls_key, state_dir, maps_dir and "
			  "user change only with a restart");
		syncd_config_free(cfg);
		return;
	}
	trust = trust_load(cfg->trusted_keys, &err);
	if (trust == NULL) {
		log_error("reload refused: %s", err.msg);
		syncd_config_free(cfg);
		return;
	}
	apply_swap_config(sd, cfg, trust);
	log_info("reloaded %s: %zu trusted keys", conf, trust->n);
	cmd_run_revet(sd);
}

/* cmd_run - "run": the daemon; returns at SIGTERM or SIGINT */
int cmd_run(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct syncd sd;
	struct listener *l = NULL;
	struct installer *in = NULL;
	struct err err;
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	sigset_t set;
	uint64_t wd_usec = 0;
	const char *user;
	pid_t net = -1;
	int chan[2] = {-1, -1}, sig_fd = -1, lock_fd = -1, rc = EXITCODE_USAGE;
	int tick, n, st;

	(void)argc;
	(void)argv;
	/* Signals go to this thread only, before any other thread exists. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (cmd_setup(&sd, ctx->conf, 1) < 0)
		return EXITCODE_USAGE;
	if (cmd_owner(sd.cfg, "run",
		      ctx->user != NULL ? ctx->user : sd.cfg->user, &user) < 0)
		goto out;
	/* Bind and read the key first, then drop, then touch state_dir. */
	rc = EXITCODE_TEMP;
	l = listener_open(sd.cfg, &err);
	if (l == NULL) {
		log_error("%s", err.msg);
		goto out;
	}
	if (cmd_drop(user) < 0) {
		rc = EXITCODE_USAGE;
		goto out;
	}
	if (cmd_lock(sd.cfg, &lock_fd) < 0)
		goto out;
	if (channel_pair(chan, &err) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	net = cmd_run_network(l, chan[1], chan[0], lock_fd);
	if (net < 0)
		goto out;
	/* The installer keeps neither the key nor the sockets. */
	close(chan[1]);
	chan[1] = -1;
	listener_close(l);
	l = NULL;
	if (cmd_start_store(&sd) < 0)
		goto out;
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	in = installer_new(&sd, chan[0]);
	if (sig_fd < 0 || in == NULL) {
		log_error("signalfd or installer: %s", strerror(errno));
		goto out;
	}
	if (installer_go(in) < 0)
		goto out;
	/* the installer may install already: the store under facts_lock */
	pthread_mutex_lock(&sd.facts_lock);
	log_info("listening on %s (status on %s); %zu origins, %zu trusted "
		 "keys",
		 sd.cfg->listen, sd.cfg->status_listen, sd.store->n,
		 sd.trust->n);
	pthread_mutex_unlock(&sd.facts_lock);
	sd_notify(0, "READY=1");
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	tick = wd_usec > 0 ? (int)(wd_usec / 2000) : 60000;
	for (;;) {
		pfd[0].fd = chan[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = sig_fd;
		pfd[1].events = POLLIN;
		n = poll(pfd, 2, tick);
		if (wd_usec > 0)
			sd_notify(0, "WATCHDOG=1");
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			goto out;
		}
		if (n > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			st = installer_read(in);
			if (st <= 0) {
				log_error("the network process ended");
				goto out;
			}
		}
		if (n > 0 && (pfd[1].revents & POLLIN) &&
		    read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				sd_notify(0, "RELOADING=1");
				cmd_run_reload(&sd, ctx->conf);
				sd_notify(0, "READY=1");
			} else {
				log_info("stopping on signal %u", si.ssi_signo);
				sd_notify(0, "STOPPING=1");
				rc = EXITCODE_OK;
				goto out;
			}
		}
	}
out:
	if (net > 0) {
		kill(net, SIGTERM);
		while (waitpid(net, &st, 0) < 0 && errno == EINTR)
			;
	}
	/* Installs in flight finish (their answers may find no one). */
	installer_free(in);
	if (sig_fd >= 0)
		close(sig_fd);
	if (chan[0] >= 0)
		close(chan[0]);
	if (chan[1] >= 0)
		close(chan[1]);
	listener_close(l);
	if (lock_fd >= 0)
		close(lock_fd);
	apply_fini(&sd);
	return rc;
}
