/*
 * daemon_export - the daemon's export step: all sources exported into one
 * state (export.h), a source file being written waited for up to
 * settle_timeout (then reported down), the result checked by the agent's
 * guard (guard.h) and adopted as the state to push
 *
 * A failure is logged once per change of its message and kept for status
 * and sync-now; nothing is pushed until an export works again.  The log
 * names no recipient but the one example a source gives of what it dropped
 * or skipped; the guard's examples go to status only.
 */
#include <stdio.h>
#include <string.h>

#include <systemd/sd-daemon.h>

#include "../formats/log.h"
#include "../formats/manifest.h"
#include "daemon_priv.h"
#include "export.h"
#include "guard.h"
#include "source.h"

/* a file being written: look again after this */
#define DAEMON_EXPORT_BUSY_RETRY_MS 1000
#define DAEMON_EXPORT_BARE_NAMES 10

/* daemon_export_unlisted - one line per source whose drop count changed */
static void daemon_export_unlisted(struct agent_config *cfg)
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
 * daemon_export_settling - a source file is being written: export again soon,
 * or, past settle_timeout, turn the wait into a failure (SOURCE_DOWN)
 */
static int daemon_export_settling(struct daemon *d, struct err *err)
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
		d->dirty_at = now + DAEMON_EXPORT_BUSY_RETRY_MS;
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

/* daemon_export_bare - count and name the domains without recipients, once */
static void daemon_export_bare(struct daemon *d)
{
	char names[sizeof(d->bare_names)];
	size_t n = guard_bare_domains(d->sync.cur, names, sizeof(names),
				      DAEMON_EXPORT_BARE_NAMES);

	if (n == d->bare && strcmp(names, d->bare_names) == 0)
		return;
	d->bare = n;
	snprintf(d->bare_names, sizeof(d->bare_names), "%s", names);
	if (n > 0)
		log_warning("%zu domain%s without any recipient: the backups "
			    "reject every address there (accept_all = DOMAIN "
			    "accepts all): %s%s",
			    n, n == 1 ? "" : "s", names,
			    n > DAEMON_EXPORT_BARE_NAMES ? " ..." : "");
}

/*
 * daemon_export_unchanged - 1 when the export is the state adopted last
 * time, by its only source's word (source.h: a file source that read no
 * file): the export before was adopted as cur, not refused
 */
static int daemon_export_unchanged(const struct daemon *d)
{
	return d->cfg->nsources == 1 && d->cfg->sources[0]->unchanged &&
	       d->sync.cur != NULL && !d->export_failed;
}

int daemon_export_run(struct daemon *d, int allow_shrink)
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
		if ((rc = daemon_export_settling(d, &err)) == SOURCE_BUSY)
			return rc;
	} else {
		d->busy_since = 0;
	}
	if (rc == 0 && daemon_export_unchanged(d)) {
		/* cur as it was: no hash, and the guard passed it already */
		log_debug("export: nothing changed, the state is the one "
			  "adopted before");
		state_free(st);
		st = NULL;
	} else if (rc == 0) {
		/*
		 * The state is hashed once, here: from the leaves of the last
		 * export (after a start: of the acknowledged base), only the
		 * shards whose records differ (state.h); the guard,
		 * sync_set_state and every snapshot reuse the leaves.  Out of
		 * memory only costs a whole hash (state_hash).
		 */
		(void)state_hash_prepare_from(st, d->sync.cur != NULL
						      ? d->sync.cur
						      : sync_acked(&d->sync));
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
	daemon_export_unlisted(d->cfg);
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
		log_debug("source %s: exported in %llu us, %zu files read, "
			  "%zu lines parsed",
			  src->name, (unsigned long long)src->export_us,
			  src->files_read, src->lines_parsed);
		if (src->skipped != src->skipped_logged && src->skipped > 0)
			log_info("source %s: %zu entries skipped, not exported "
				 "(e.g. %s)",
				 src->name, src->skipped, src->skipped_example);
		src->skipped_logged = src->skipped;
	}
	if (st == NULL || !sync_set_state(&d->sync, st)) {
		/* The same state, now allowed to shrink: a new snapshot. */
		if (allow_shrink && !d->sync.allow_shrink) {
			d->sync.allow_shrink = 1;
			d->sync.cur_serial = 0;
		}
	} else {
		d->sync.allow_shrink = allow_shrink;
		daemon_export_bare(d);
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
