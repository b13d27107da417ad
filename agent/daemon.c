/*
 * daemon - the agent's event loop (see daemon.h)
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
 * in number, line length and time; nothing logged holds a recipient.
 */
#include <errno.h>
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
#include "export.h"
#include "guard.h"
#include "source.h"
#include "status.h"
#include "verify.h"
#include "watch.h"

#define DAEMON_FAIL_RETRY_MS 5000
#define DAEMON_TICK_MS 1000
#define DAEMON_BASE_SAVE_MS 1000 /* quiet time before the base is written */
#define DAEMON_BUSY_RETRY_MS 1000 /* a file being written: look again */
#define DAEMON_BARE_NAMES 10
#define DAEMON_STOP_WAIT_MS 3000 /* for answers of pushes on the way */

struct daemon {
	struct agent_config *cfg;
	struct key_secret *sk;
	struct ledger *ledger;
	struct pusher *pusher;
	struct sync sync;
	int sigfd, ctlfd;
	struct watch *watch;
	int lockfd; /* state_dir/lock, held while running */
	struct control_client clients[CONTROL_CLIENTS];
	int dirty;
	int64_t dirty_first, dirty_at;
	int export_failed;
	char export_error[ERR_LEN];
	int export_error_kind;
	char export_examples[ERR_LEN]; /* guard: a few addresses, status only */
	int64_t busy_since;	       /* a source file is being written */
	int pending_shrink;	       /* a waiting sync-now --allow-shrink */
	size_t bare;		       /* domains without any recipient */
	char bare_names[512];
	int64_t *next_poll; /* per source, for poll sources */
	int stop, reload;
	struct audit audit; /* the periodic verify */
};

/* daemon_log_unlisted - one line per source whose drop count changed */
static void daemon_log_unlisted(struct agent_config *cfg)
{
	size_t i;

	for (i = 0; i < cfg->nsources; i++) {
		struct source *src = cfg->sources[i];

		if (src->unlisted == src->unlisted_logged)
			continue;
		src->unlisted_logged = src->unlisted;
		if (src->unlisted > 0)
			log_warning("source %s: %zu recipients dropped, their "
				    "domain is listed by no source (e.g. %s)",
				    src->name, src->unlisted,
				    src->unlisted_example);
		else
			log_info("source %s: no recipients dropped any more",
				 src->name);
	}
}

/*
 * daemon_settling - a source file is being written: export again soon, or,
 * past settle_timeout, turn the wait into a failure (SOURCE_DOWN)
 */
static int daemon_settling(struct daemon *d, struct err *err)
{
	int64_t now = sync_now_ms();
	size_t i;

	if (d->busy_since == 0) {
		d->busy_since = now;
		log_info("waiting for a source to settle: %s", err->msg);
	}
	if (now - d->busy_since < (int64_t)d->cfg->settle_timeout_ms) {
		d->dirty = 1;
		d->dirty_first = now;
		d->dirty_at = now + DAEMON_BUSY_RETRY_MS;
		return SOURCE_BUSY;
	}
	{
		char why[ERR_LEN];

		snprintf(why, sizeof(why), "%.*s", ERR_LEN - 64, err->msg);
		err_set(err, "%s; not settled after %llu s", why,
			(unsigned long long)(d->cfg->settle_timeout_ms / 1000));
	}
	for (i = 0; i < d->cfg->nsources; i++) {
		struct source *src = d->cfg->sources[i];

		if (src->error_kind == SOURCE_BUSY) {
			snprintf(src->error, sizeof(src->error), "%s",
				 err->msg);
			src->error_kind = SOURCE_DOWN;
		}
	}
	return SOURCE_DOWN;
}

/* daemon_bare - count and name the domains without recipients, once */
static void daemon_bare(struct daemon *d)
{
	char names[sizeof(d->bare_names)];
	size_t n = guard_bare_domains(d->sync.cur, names, sizeof(names),
				      DAEMON_BARE_NAMES);

	if (n == d->bare && strcmp(names, d->bare_names) == 0)
		return;
	d->bare = n;
	snprintf(d->bare_names, sizeof(d->bare_names), "%s", names);
	if (n > 0)
		log_warning("%zu domain%s without any recipient: the backups "
			    "reject every address there (accept_all = DOMAIN "
			    "accepts all): %s%s",
			    n, n == 1 ? "" : "s", names,
			    n > DAEMON_BARE_NAMES ? " ..." : "");
}

/*
 * daemon_export - export all sources, check the result with the guard
 * (unless allow_shrink, or it is the state already adopted) and adopt it
 */
static int daemon_export(struct daemon *d, int allow_shrink)
{
	struct state *st = NULL;
	struct guard_report gr;
	unsigned char h[STATE_HASH_LEN];
	struct err err;
	size_t i;
	int rc, same;

	d->dirty = 0;
	rc = export_state_watched(d->cfg, d->watch, &st, &err);
	if (rc == SOURCE_BUSY) {
		/* Past the timeout busy_since stays: down until it settles. */
		if ((rc = daemon_settling(d, &err)) == SOURCE_BUSY)
			return rc;
	} else {
		d->busy_since = 0;
	}
	if (rc == 0) {
		state_hash(st, h);
		same = d->sync.cur != NULL &&
		       memcmp(h, d->sync.cur_hash, STATE_HASH_LEN) == 0;
		/* An adopted state was allowed once; it stays allowed. */
		if (!allow_shrink && !(same && d->sync.allow_shrink) &&
		    guard_check(d->cfg, sync_acked(&d->sync), st, &gr) < 0) {
			state_free(st);
			st = NULL;
			snprintf(err.msg, sizeof(err.msg), "%s", gr.msg);
			snprintf(d->export_examples, sizeof(d->export_examples),
				 "%s", gr.examples);
			rc = SOURCE_GUARD;
		}
	}
	if (rc < 0) {
		if (rc == SOURCE_GUARD) {
			if (!d->export_failed ||
			    strcmp(d->export_error, err.msg) != 0)
				log_error(
				    "export refused by the agent's guard: "
				    "%s",
				    err.msg);
		} else if (!d->export_failed ||
			   strcmp(d->export_error, err.msg) != 0)
			log_error("export failed, nothing pushed (%s): %s",
				  source_kind_name(rc), err.msg);
		d->export_failed = 1;
		d->export_error_kind = rc;
		snprintf(d->export_error, sizeof(d->export_error), "%s",
			 err.msg);
		sd_notifyf(0, "STATUS=export failed: %s", err.msg);
		return rc;
	}
	if (d->export_failed)
		log_info("export works again");
	daemon_log_unlisted(d->cfg);
	for (i = 0; i < d->cfg->nsources; i++)
		if (d->cfg->sources[i]->note[0] != '\0')
			log_info("source %s: %s", d->cfg->sources[i]->name,
				 d->cfg->sources[i]->note);
	d->export_failed = 0;
	d->export_error[0] = '\0';
	d->export_examples[0] = '\0';
	for (i = 0; i < d->cfg->nsources; i++) {
		struct source *src = d->cfg->sources[i];

		src->pushed_recipients = src->recipients;
		if (src->skipped != src->skipped_logged && src->skipped > 0)
			log_info("source %s: %zu entries skipped, not exported "
				 "(e.g. %s)",
				 src->name, src->skipped, src->skipped_example);
		src->skipped_logged = src->skipped;
	}
	if (!sync_set_state(&d->sync, st)) {
		/* The same state, now allowed to shrink: a new snapshot. */
		if (allow_shrink && !d->sync.allow_shrink) {
			d->sync.allow_shrink = 1;
			d->sync.cur_serial = 0;
		}
	} else {
		d->sync.allow_shrink = allow_shrink;
		daemon_bare(d);
		char hex[2 * STATE_HASH_LEN + 1];

		manifest_hex(d->sync.cur_hash, STATE_HASH_LEN, hex);
		log_info("state %.16s: %zu domains, %zu recipients", hex,
			 state_domain_count(d->sync.cur),
			 state_recipient_count(d->sync.cur));
		sd_notifyf(0, "STATUS=%zu domains, %zu recipients",
			   state_domain_count(d->sync.cur),
			   state_recipient_count(d->sync.cur));
	}
	return 0;
}

/* daemon_schedule - start pushes to the backups that need one */
static void daemon_schedule(struct daemon *d, int64_t now)
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

/*
 * daemon_acked - 1 when every backup holds serial (or a later one) or the
 * state with this hash, as "sync-now --wait" judges it
 */
static int daemon_acked(const struct daemon *d, uint64_t serial,
			const char *hash)
{
	char hex[2 * STATE_HASH_LEN + 1];
	size_t i;

	for (i = 0; i < d->sync.n; i++) {
		const struct ledger_backup *lb = d->sync.b[i].lb;

		if (serial != 0 && lb->serial >= serial)
			continue;
		manifest_hex(lb->hash, STATE_HASH_LEN, hex);
		if (lb->serial != 0 && strcmp(hex, hash) == 0)
			continue;
		return 0;
	}
	return 1;
}

/* daemon_waiters - answer the "wait" clients whose serial is acknowledged */
static void daemon_waiters(struct daemon *d, int64_t now)
{
	size_t i;

	for (i = 0; i < CONTROL_CLIENTS; i++) {
		struct control_client *c = &d->clients[i];

		if (c->fd < 0 || !c->waiting)
			continue;
		if (daemon_acked(d, c->wserial, c->whash))
			control_reply(c, "ok\n");
		else if (now > c->deadline)
			control_reply(c, "lag\n");
	}
}

/* daemon_sync_reply - answer a sync-now whose export ended with rc */
static void daemon_sync_reply(struct daemon *d, struct control_client *c, int rc)
{
	char reply[2 * ERR_LEN + 128];
	char hex[2 * STATE_HASH_LEN + 1];
	struct err err;
	size_t i;

	if (rc < 0) {
		/* The operator asked: the guard's examples are theirs. */
		snprintf(reply, sizeof(reply), "error %d %s%s%s\n",
			 rc == SOURCE_DOWN ? EXITCODE_TEMP : EXITCODE_REFUSED,
			 d->export_error,
			 rc == SOURCE_GUARD && d->export_examples[0] ? ", e.g. "
								     : "",
			 rc == SOURCE_GUARD ? d->export_examples : "");
		control_reply(c, reply);
		return;
	}
	if (d->sync.cur == NULL) {
		control_reply(c, "error 75 no state\n");
		return;
	}
	/* "Now" means now: forget backoffs, start what is needed. */
	for (i = 0; i < d->sync.n; i++)
		d->sync.b[i].next_try_ms = 0;
	daemon_schedule(d, sync_now_ms());
	if (d->sync.cur_serial == 0) {
		int need = 0;

		for (i = 0; i < d->sync.n; i++)
			if (sync_needs(&d->sync, i) || d->sync.b[i].inflight)
				need = 1;
		if (need && ledger_next_serial(d->ledger, 0,
					       &d->sync.cur_serial, &err) < 0) {
			snprintf(reply, sizeof(reply), "error 75 %s\n",
				 err.msg);
			control_reply(c, reply);
			return;
		}
	}
	manifest_hex(d->sync.cur_hash, STATE_HASH_LEN, hex);
	snprintf(reply, sizeof(reply), "ok %llu %s\n",
		 (unsigned long long)d->sync.cur_serial, hex);
	control_reply(c, reply);
}

/* daemon_pending - answer the sync-now clients that waited for rc */
static void daemon_pending(struct daemon *d, int rc)
{
	size_t i;

	d->pending_shrink = 0;
	for (i = 0; i < CONTROL_CLIENTS; i++)
		if (d->clients[i].fd >= 0 && d->clients[i].pending)
			daemon_sync_reply(d, &d->clients[i], rc);
}

/* daemon_status - the status document of the running daemon */
static void daemon_status(struct daemon *d, struct control_client *c)
{
	struct status_daemon sd;
	json_t *j;
	char *text;

	memset(&sd, 0, sizeof(sd));
	if (d->export_failed && d->export_error_kind == SOURCE_GUARD) {
		sd.guard_refused = d->export_error;
		sd.guard_examples = d->export_examples;
	}
	sd.bare = d->bare;
	sd.bare_names = d->bare_names;
	sd.verify = d->audit.last;
	sd.verify_running = d->audit.pid > 0;
	j = status_json(d->cfg, d->ledger, &d->sync, &sd);
	text = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	control_reply(c, text != NULL ? text : "{}");
	free(text);
}

/* daemon_sync_now - a sync-now request: export, reply now or when settled */
static void daemon_sync_now(struct daemon *d, struct control_client *c,
			    int shrink)
{
	int rc;

	log_info("sync-now%s requested", shrink ? " --allow-shrink" : "");
	rc = daemon_export(d, shrink || d->pending_shrink);
	if (rc == SOURCE_BUSY) {
		/* Answered when the sources settle, or fail. */
		control_hold(c, sync_now_ms() +
				    (int64_t)d->cfg->settle_timeout_ms + 10000);
		d->pending_shrink |= shrink;
		return;
	}
	/* Earlier callers that waited for this export too. */
	daemon_pending(d, rc);
	daemon_sync_reply(d, c, rc);
}

/* daemon_client_read - read a client; act on a whole request */
static void daemon_client_read(struct daemon *d, struct control_client *c)
{
	switch (control_read(c, sync_now_ms())) {
	case CONTROL_STATUS:
		daemon_status(d, c);
		break;
	case CONTROL_WAIT:
		daemon_waiters(d, sync_now_ms());
		break;
	case CONTROL_SYNC_NOW:
	case CONTROL_SYNC_NOW_SHRINK:
		daemon_sync_now(d, c, c->line[8] != '\0');
		break;
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
	int64_t next_wd = 0;
	int rc = EXITCODE_TEMP, ready = 0;
	size_t i;

	memset(d, 0, sizeof(*d));
	d->cfg = cfg;
	d->sigfd = d->ctlfd = d->lockfd = -1;
	audit_init(&d->audit);
	for (i = 0; i < CONTROL_CLIENTS; i++)
		d->clients[i].fd = -1;
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
			int erc = daemon_export(d, d->pending_shrink);

			if (erc != SOURCE_BUSY)
				daemon_pending(d, erc);
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
				daemon_client_read(d, &d->clients[ci[i]]);
		if (d->audit.fd >= 0 && vi < n && fds[vi].revents)
			audit_read(&d->audit);
		while ((r = sync_finish(&d->sync, &res)) != -1)
			;
		daemon_waiters(d, now);
		/*
		 * The delta base reaches state_dir when nothing is being
		 * pushed or exported: megabytes written and synced never
		 * delay a push or an acknowledgement.
		 */
		if (sync_base_unsaved(&d->sync) &&
		    push_running(d->pusher) == 0 && !d->dirty &&
		    now - d->sync.base_since_ms >= DAEMON_BASE_SAVE_MS)
			daemon_save_base(d);
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
