/*
 * daemon - the agent's event loop (see daemon.h): start, reload, stop and
 * the loop that polls sources, schedules pushes and serves the control
 * socket; the export step is daemon_export.c's, what a control request
 * does daemon_request.c's
 *
 * Fails only at startup (config, key, state_dir, control socket: exit 2 or
 * 75); afterwards every error is logged and retried: sources are exported
 * again on the next change or every few seconds while failing, backups are
 * retried with a capped exponential backoff.  A source file being written
 * is waited for (watch.h) up to settle_timeout, then reported down; an
 * export the agent's guard refuses (guard.h) is not pushed until the
 * sources change or "sync-now --allow-shrink" says so.  At start the
 * temporary files a crash left in state_dir are removed.
 *
 * Security: the secret key stays loaded in sodium memory for the daemon's
 * life and is freed (wiped) on exit and reload; control clients are limited
 * in number, line length and time; nothing logged holds a recipient but
 * the one example a source gives of what it dropped or skipped.
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "../formats/atomic.h"
#include "../formats/buf.h"
#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "../formats/manifest.h"
#include "audit.h"
#include "control.h"
#include "daemon.h"
#include "daemon_priv.h"
#include "export.h"
#include "guard.h"
#include "source.h"
#include "status.h"
#include "verify.h"
#include "watch.h"

#define DAEMON_FAIL_RETRY_MS 5000
#define DAEMON_TICK_MS 1000
#define DAEMON_BASE_SAVE_MS 1000 /* quiet time before the base is written */
#define DAEMON_STOP_WAIT_MS 3000 /* for answers of pushes on the way */
#define DAEMON_TRIM_MS 60000	 /* quiet time before free memory goes back */

void daemon_schedule(struct daemon *d, int64_t now)
{
	struct err err;
	size_t i;

	if (d->export_failed || d->sync.cur == NULL)
		return;
	for (i = 0; i < d->sync.n; i++) {
		struct sync_backup *b = &d->sync.b[i];

		if (!sync_needs(&d->sync, i) || now < b->next_try_ms)
			continue;
		if (sync_start(&d->sync, i, 0, &err) < 0) {
			log_error("backup %s: %s", b->conf->name, err.msg);
			b->next_try_ms = now + SYNC_BACKOFF_MAX_MS;
		}
	}
}

/* daemon_save_base - the in-memory delta base into state_dir */
static void daemon_save_base(struct daemon *d)
{
	struct err err;

	if (sync_save_base(&d->sync, &err) < 0) {
		log_warning("cannot store the delta base: %s", err.msg);
		/* Try again after another quiet period, not in a loop. */
		d->sync.base_since_ms = sync_now_ms();
	}
}

/* daemon_setup - key, inotify, sync state for the current config */
static int daemon_setup(struct daemon *d, struct err *err)
{
	size_t i;

	if ((d->sk = key_load_secret(d->cfg->key, err)) == NULL)
		return -1;
	if (d->watch == NULL && (d->watch = watch_new(err)) == NULL)
		return -1;
	if (sync_init(&d->sync, d->cfg, d->sk, d->ledger, d->pusher, err) < 0)
		return -1;
	/* the first verify a while after start, not beside the first pushes */
	d->audit.next =
	    sync_now_ms() + (int64_t)(d->cfg->verify_interval_ms < 60000
					  ? d->cfg->verify_interval_ms
					  : 60000);
	free(d->next_poll);
	if ((d->next_poll =
		 calloc(d->cfg->nsources + 1, sizeof(*d->next_poll))) == NULL)
		return err_set(err, "out of memory");
	for (i = 0; i < d->cfg->nsources; i++)
		d->next_poll[i] = sync_now_ms() +
				  (int64_t)d->cfg->sources[i]->poll_interval_ms;
	d->dirty = 1;
	d->dirty_first = d->dirty_at = 0;
	return 0;
}

static void daemon_teardown(struct daemon *d)
{
	if (d->sync.ledger != NULL)
		daemon_save_base(d);
	sync_clear(&d->sync);
	key_secret_free(d->sk);
	d->sk = NULL;
	/*
	 * The watch outlives a reload: a file that was being written when
	 * the configuration changed is still being written.
	 */
}

static void daemon_reload(struct daemon *d)
{
	struct agent_config *ncfg, *old = d->cfg;
	struct err err;

	sd_notify(0, "RELOADING=1");
	if ((ncfg = agent_config_load(old->path, &err)) == NULL) {
		log_error("reload refused, keeping the running configuration: "
			  "%s",
			  err.msg);
		sd_notify(0, "READY=1");
		return;
	}
	if (strcmp(ncfg->state_dir, old->state_dir) != 0 ||
	    strcmp(ncfg->control_socket, old->control_socket) != 0)
		log_warning("state_dir and control_socket changes need a "
			    "restart");
	daemon_teardown(d);
	d->cfg = ncfg;
	if (daemon_setup(d, &err) < 0) {
		/* The new config is valid but unusable (key): go back. */
		log_error("reload failed: %s; keeping the old configuration",
			  err.msg);
		daemon_teardown(d);
		d->cfg = old;
		agent_config_free(ncfg);
		if (daemon_setup(d, &err) < 0) {
			log_error("%s", err.msg);
			d->stop = 1;
		}
	} else {
		/* Keep paths that cannot change without a restart. */
		char *sd = strdup(old->state_dir);
		char *cs = strdup(old->control_socket);

		if (sd != NULL && cs != NULL) {
			free(ncfg->state_dir);
			free(ncfg->control_socket);
			ncfg->state_dir = sd;
			ncfg->control_socket = cs;
		} else {
			free(sd);
			free(cs);
		}
		agent_config_free(old);
		log_info("configuration reloaded");
	}
	sd_notify(0, "READY=1");
}

static void daemon_signals(struct daemon *d)
{
	struct signalfd_siginfo si;

	while (read(d->sigfd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGHUP)
			d->reload = 1;
		else
			d->stop = 1;
	}
}

/*
 * daemon_drain - at a stop, let pushes on the way finish for a moment: a
 * backup that installed a state and is answering would otherwise hold a
 * serial the ledger never hears of (the next start then sends a delta
 * from an older base, refused, and a full snapshot after it)
 */
static void daemon_drain(struct daemon *d)
{
	int64_t until = sync_now_ms() + DAEMON_STOP_WAIT_MS;
	struct push_result res;
	struct err err;

	while (d->pusher != NULL && push_running(d->pusher) > 0 &&
	       sync_now_ms() < until) {
		if (push_wait(d->pusher, NULL, 0, 100, &err) < 0)
			break;
		while (sync_finish(&d->sync, &res) != -1)
			;
	}
}

int daemon_run(struct agent_config *cfg)
{
	struct daemon dd, *d = &dd;
	struct curl_waitfd fds[5 + CONTROL_CLIENTS];
	struct err err;
	sigset_t mask;
	const char *warning;
	uint64_t wd_usec = 0;
	int64_t next_wd = 0, busy_ms = 0;
	int rc = EXITCODE_TEMP, ready = 0, trimmed = 0;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->sigfd = d->ctlfd = d->lockfd = -1;
	audit_init(&d->audit);
	for (i = 0; i < CONTROL_CLIENTS; i++)
		d->clients[i].fd = -1;
	/*
	 * Each export reads files and builds states of tens of MB.  As
	 * mappings of their own they would go back to the kernel when freed
	 * and be faulted in and zeroed afresh by the next export (some 8 % of
	 * a cycle at 1M recipients); kept in the heap, they are reused while
	 * changes come, and given back after DAEMON_TRIM_MS without any.
	 */
	mallopt(M_MMAP_MAX, 0);
	mallopt(M_TRIM_THRESHOLD, 1 << 30);
	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	if ((d->sigfd = signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC)) < 0) {
		log_error("signalfd: %s", strerror(errno));
		goto out;
	}
	if ((d->lockfd = ledger_lock(cfg->state_dir, &err)) < 0 ||
	    (d->ledger = ledger_load(cfg->state_dir, &err)) == NULL ||
	    (d->pusher = push_new(&err)) == NULL) {
		log_error("%s", err.msg);
		goto out;
	}
	ledger_sweep_bases(d->ledger);
	/* What a crash left half written (ledger, base files) goes first. */
	if (atomic_cleanup_dir(cfg->state_dir, &err) < 0)
		log_warning("%s", err.msg);
	if (daemon_setup(d, &err) < 0) {
		log_error("%s", err.msg);
		rc = EXITCODE_USAGE;
		goto out;
	}
	if ((d->ctlfd = control_listen(cfg->control_socket, cfg->control_group,
				       &warning, &err)) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	if (warning != NULL)
		log_warning("%s: %s (%s)", cfg->control_socket, warning,
			    cfg->control_group);
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	log_info("started: origin %s, %zu sources, %zu backups", cfg->origin,
		 cfg->nsources, cfg->nbackups);
	while (!d->stop) {
		int64_t now = sync_now_ms();
		unsigned n = 0, ci[CONTROL_CLIENTS], nc = 0, vi;
		int timeout = DAEMON_TICK_MS;
		long r;
		struct push_result res;

		if (d->reload) {
			d->reload = 0;
			daemon_reload(d);
			continue;
		}
		/* Poll sources without inotify; retry a failing export. */
		for (i = 0; i < d->cfg->nsources; i++) {
			struct source *src = d->cfg->sources[i];
			int p;

			if (src->ops->poll == NULL || now < d->next_poll[i])
				continue;
			d->next_poll[i] = now + (int64_t)src->poll_interval_ms;
			p = src->ops->poll(src, &err);
			if (p != 0 && !d->dirty) {
				/* A failing poll: the export reports it. */
				d->dirty = 1;
				d->dirty_first = d->dirty_at = now;
			}
		}
		if (d->export_failed && !d->dirty &&
		    now - d->dirty_at >= DAEMON_FAIL_RETRY_MS) {
			d->dirty = 1;
			d->dirty_first = d->dirty_at = now;
		}
		if (d->dirty && now >= d->dirty_at) {
			int erc = daemon_export_run(d, d->pending_shrink);

			if (erc != SOURCE_BUSY)
				daemon_request_pending(d, erc);
		}
		daemon_schedule(d, now);
		if (d->cfg->verify_interval_ms > 0 && d->audit.pid == 0 &&
		    d->sync.cur != NULL && !d->export_failed &&
		    now >= d->audit.next)
			audit_start(&d->audit, d->cfg->path,
				    d->cfg->verify_interval_ms, now);
		if (!ready) {
			ready = 1;
			sd_notify(0, "READY=1");
		}
		if (wd_usec != 0 && now >= next_wd) {
			sd_notify(0, "WATCHDOG=1");
			next_wd = now + (int64_t)(wd_usec / 2000);
		}
		if (d->dirty && d->dirty_at - now < timeout)
			timeout =
			    (int)(d->dirty_at > now ? d->dirty_at - now : 0);
		fds[n].fd = d->sigfd;
		fds[n].events = CURL_WAIT_POLLIN;
		fds[n++].revents = 0;
		fds[n].fd = watch_fd(d->watch);
		fds[n].events = CURL_WAIT_POLLIN;
		fds[n++].revents = 0;
		fds[n].fd = d->ctlfd;
		fds[n].events = CURL_WAIT_POLLIN;
		fds[n++].revents = 0;
		for (i = 0; i < CONTROL_CLIENTS; i++) {
			if (d->clients[i].fd < 0)
				continue;
			if (control_expire(&d->clients[i], now))
				continue;
			ci[nc++] = (unsigned)i;
			fds[n].fd = d->clients[i].fd;
			fds[n].events = CURL_WAIT_POLLIN;
			fds[n++].revents = 0;
		}
		vi = n;
		if (d->audit.fd >= 0) {
			fds[n].fd = d->audit.fd;
			fds[n].events = CURL_WAIT_POLLIN;
			fds[n++].revents = 0;
		}
		if (push_wait(d->pusher, fds, n, timeout, &err) < 0) {
			log_error("%s", err.msg);
			usleep(100000);
		}
		now = sync_now_ms();
		if (fds[0].revents)
			daemon_signals(d);
		if (fds[1].revents && watch_drain(d->watch, &err) != 0) {
			if (watch_unmounts(d->watch) > 0)
				log_warning("a file system under a source was "
					    "unmounted");
			/* Debounce: wait for a quiet moment, but not forever.
			 */
			if (!d->dirty) {
				d->dirty = 1;
				d->dirty_first = now;
			}
			d->dirty_at = now + (int64_t)d->cfg->debounce_ms;
			if (d->dirty_at >
			    d->dirty_first + 10 * (int64_t)d->cfg->debounce_ms)
				d->dirty_at = d->dirty_first +
					      10 * (int64_t)d->cfg->debounce_ms;
		}
		if (fds[2].revents)
			control_accept(d->ctlfd, d->clients, CONTROL_CLIENTS,
				       now);
		for (i = 0; i < nc; i++)
			if (fds[3 + i].revents)
				daemon_request_read(d, &d->clients[ci[i]]);
		if (d->audit.fd >= 0 && vi < n && fds[vi].revents)
			audit_read(&d->audit);
		while ((r = sync_finish(&d->sync, &res)) != -1)
			;
		daemon_request_waiters(d, now);
		/*
		 * The delta base reaches state_dir when nothing is being
		 * pushed or exported: megabytes written and synced never
		 * delay a push or an acknowledgement.
		 */
		if (sync_base_unsaved(&d->sync) &&
		    push_running(d->pusher) == 0 && !d->dirty &&
		    now - d->sync.base_since_ms >= DAEMON_BASE_SAVE_MS)
			daemon_save_base(d);
		if (d->dirty || push_running(d->pusher) > 0 ||
		    sync_base_unsaved(&d->sync)) {
			busy_ms = now;
			trimmed = 0;
		} else if (!trimmed && now - busy_ms >= DAEMON_TRIM_MS) {
			malloc_trim(0);
			trimmed = 1;
		}
	}
	log_info("stopping");
	sd_notify(0, "STOPPING=1");
	daemon_drain(d);
	rc = EXITCODE_OK;
out:
	audit_clear(&d->audit);
	for (i = 0; i < CONTROL_CLIENTS; i++)
		control_client_close(&d->clients[i]);
	daemon_teardown(d);
	if (d->ctlfd >= 0) {
		close(d->ctlfd);
		unlink(d->cfg->control_socket);
	}
	if (d->sigfd >= 0)
		close(d->sigfd);
	push_free(d->pusher);
	ledger_free(d->ledger);
	watch_free(d->watch);
	free(d->next_poll);
	agent_config_free(d->cfg);
	if (d->lockfd >= 0)
		close(d->lockfd);
	return rc;
}
