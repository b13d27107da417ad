/*
 * status - the facts about the installed states
 *
 * Fails only on memory (NULL or -1).  Security: shows counts, hashes,
 * serials and key ids, never a recipient.
 */
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "status.h"

/* status_span - a duration of s >= 0 seconds, e.g. "45s", "12m", "3h05m" */
static void status_span(int64_t s, char *buf, size_t size)
{
	if (s < 60)
		snprintf(buf, size, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, size, "%" PRId64 "m", s / 60);
	else if (s < 86400)
		snprintf(buf, size, "%" PRId64 "h%02" PRId64 "m", s / 3600,
			 s % 3600 / 60);
	else
		snprintf(buf, size, "%" PRId64 "d%02" PRId64 "h", s / 86400,
			 s % 86400 / 3600);
}

/*
 * status_expiry - "2026-11-30 09:40Z (in 6d23h)", or "... (2m ago)
 * EXPIRED": the time in UTC and how far away it is
 */
static void status_expiry(int64_t expires, time_t now, char *buf, size_t size)
{
	char when[32], span[32];
	struct tm tm;
	time_t t = (time_t)expires;
	int64_t d = expires - (int64_t)now;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
		snprintf(when, sizeof(when), "@%" PRId64, expires);
	status_span(d > 0 ? d : -d, span, sizeof(span));
	if (d > 0)
		snprintf(buf, size, "%s (in %s)", when, span);
	else
		snprintf(buf, size, "%s (%s ago) EXPIRED", when, span);
}

/* status_origin_json - one origin's object */
static json_t *status_origin_json(const struct store_origin *o, time_t now)
{
	char hex[2 * STATE_HASH_LEN + 1];
	int64_t age = (int64_t)now - o->m.created;

	manifest_hex(o->m.state_hash, STATE_HASH_LEN, hex);
	return json_pack(
	    "{s:s, s:I, s:s, s:I, s:I, s:I, s:I, s:I, s:b, s:s, "
	    "s:s}",
	    "origin", o->m.origin, "serial", (json_int_t)o->m.serial,
	    "state_hash", hex, "domains", (json_int_t)o->m.domains,
	    "recipients", (json_int_t)o->m.recipients, "created",
	    (json_int_t)o->m.created, "expires", (json_int_t)o->m.expires,
	    "age_s", (json_int_t)(age < 0 ? 0 : age), "expired",
	    o->m.expires <= (int64_t)now, "key_id", o->m.key_id,
	    "recipient_delimiter", o->m.recipient_delimiter);
}

/*
 * status_quarantined_json - the stored states moved aside (store.h):
 * [{"origin", "reason", "file", "since"}]; empty when none or unreadable
 */
static json_t *status_quarantined_json(struct syncd *sd)
{
	struct store_bads q = {NULL, 0};
	struct err err;
	json_t *a = json_array();
	size_t i;

	if (a != NULL && store_quarantined(sd->cfg->state_dir, &q, &err) == 0)
		for (i = 0; i < q.n; i++)
			json_array_append_new(
			    a, json_pack("{s:s, s:s, s:s, s:I}", "origin",
					 q.v[i].origin, "reason", q.v[i].reason,
					 "file", q.v[i].name, "since",
					 (json_int_t)q.v[i].since));
	store_bads_free(&q);
	return a;
}

/* status_quarantined_table - one line per stored state moved aside */
static int status_quarantined_table(struct syncd *sd, struct buf *out)
{
	struct store_bads q = {NULL, 0};
	struct err err;
	size_t i;
	int rc = 0;

	if (store_quarantined(sd->cfg->state_dir, &q, &err) < 0)
		return 0;
	for (i = 0; i < q.n && rc == 0; i++)
		rc = buf_printf(out,
				"not served: origin %s (%s), moved aside "
				"as %s\n",
				q.v[i].origin, q.v[i].reason, q.v[i].name) < 0
			 ? -1
			 : 0;
	store_bads_free(&q);
	return rc;
}

char *status_json(struct syncd *sd, time_t now)
{
	json_t *root = NULL, *origins, *refused, *o;
	char *text = NULL;
	size_t i;

	pthread_mutex_lock(&sd->facts_lock);
	origins = json_array();
	refused = json_object();
	if (origins == NULL || refused == NULL)
		goto out;
	for (i = 0; sd->store != NULL && i < sd->store->n; i++) {
		o = status_origin_json(sd->store->o[i], now);
		if (o == NULL || json_array_append_new(origins, o) < 0)
			goto out;
	}
	for (i = 0; i < SYNCD_REASONS && sd->reasons[i] != NULL; i++)
		if (json_object_set_new(
			refused, sd->reasons[i],
			json_integer((json_int_t)sd->refused[i])) < 0)
			goto out;
	root =
	    json_pack("{s:O, s:{s:I, s:O}, s:I}", "origins", origins, "pushes",
		      "accepted", (json_int_t)sd->accepted, "refused", refused,
		      "last_install_ms", (json_int_t)sd->last_install_ms);
	if (root != NULL &&
	    json_object_set_new(root, "quarantined",
				status_quarantined_json(sd)) < 0)
		goto out;
	if (root != NULL)
		text = json_dumps(root, JSON_COMPACT);
out:
	pthread_mutex_unlock(&sd->facts_lock);
	json_decref(origins);
	json_decref(refused);
	json_decref(root);
	return text;
}

/* status_metric_origin - one labelled line per origin */
static int status_metric_head(struct buf *out, const char *name,
			      const char *type, const char *help)
{
	return buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
			  type);
}

int status_metrics(struct syncd *sd, time_t now, struct buf *out)
{
	const struct store_origin *o;
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&sd->facts_lock);
#define EACH                                                                   \
	for (i = 0; sd->store != NULL && i < sd->store->n &&                   \
		    (o = sd->store->o[i]) != NULL;                             \
	     i++)
	if (status_metric_head(out, "mxsyncd_origin_serial", "gauge",
			       "Serial of the installed state per origin.") < 0)
		goto out;
	EACH if (buf_printf(
		     out, "mxsyncd_origin_serial{origin=\"%s\"} %" PRIu64 "\n",
		     o->m.origin, o->m.serial) < 0) goto out;
	if (status_metric_head(out, "mxsyncd_origin_domains", "gauge",
			       "Domains of the installed state per origin.") <
	    0)
		goto out;
	EACH if (buf_printf(
		     out, "mxsyncd_origin_domains{origin=\"%s\"} %" PRIu64 "\n",
		     o->m.origin, o->m.domains) < 0) goto out;
	if (status_metric_head(
		out, "mxsyncd_origin_recipients", "gauge",
		"Recipients of the installed state per origin.") < 0)
		goto out;
	EACH if (buf_printf(out,
			    "mxsyncd_origin_recipients{origin=\"%s\"} %" PRIu64
			    "\n",
			    o->m.origin, o->m.recipients) < 0) goto out;
	if (status_metric_head(
		out, "mxsyncd_snapshot_age_seconds", "gauge",
		"Seconds since the installed snapshot was created.") < 0)
		goto out;
	EACH if (buf_printf(
		     out,
		     "mxsyncd_snapshot_age_seconds{origin=\"%s\"} %" PRId64
		     "\n",
		     o->m.origin, (int64_t)now - o->m.created) < 0) goto out;
	if (status_metric_head(
		out, "mxsyncd_snapshot_expires_timestamp_seconds", "gauge",
		"When the installed snapshot expires.") < 0)
		goto out;
	EACH if (buf_printf(out,
			    "mxsyncd_snapshot_expires_timestamp_seconds"
			    "{origin=\"%s\"} %" PRId64 "\n",
			    o->m.origin, o->m.expires) < 0) goto out;
#undef EACH
	if (status_metric_head(out, "mxsyncd_pushes_total", "counter",
			       "Pushes and applies by result.") < 0 ||
	    buf_printf(
		out, "mxsyncd_pushes_total{result=\"accepted\"} %" PRIu64 "\n",
		sd->accepted) < 0)
		goto out;
	for (i = 0; i < SYNCD_REASONS && sd->reasons[i] != NULL; i++)
		if (buf_printf(out,
			       "mxsyncd_pushes_total{result=\"refused\","
			       "reason=\"%s\"} %" PRIu64 "\n",
			       sd->reasons[i], sd->refused[i]) < 0)
			goto out;
	if (status_metric_head(out, "mxsyncd_last_install_seconds", "gauge",
			       "Duration of the last install.") < 0 ||
	    buf_printf(out, "mxsyncd_last_install_seconds %.3f\n",
		       (double)sd->last_install_ms / 1000.0) < 0)
		goto out;
	rc = 0;
out:
	pthread_mutex_unlock(&sd->facts_lock);
	return rc;
}

int status_table(struct syncd *sd, time_t now, struct buf *out)
{
	const struct store_origin *o;
	char hex[2 * STATE_HASH_LEN + 1], age[32], exp[80];
	int64_t a;
	size_t i;
	int rc = -1;

	pthread_mutex_lock(&sd->facts_lock);
	if (sd->store == NULL || sd->store->n == 0) {
		rc = buf_printf(out, "no origin has pushed a state yet\n");
		if (rc >= 0)
			rc = status_quarantined_table(sd, out);
		goto out;
	}
	if (buf_printf(out, "%-24s %10s %8s %10s %7s %-16s %-16s %s\n",
		       "ORIGIN", "SERIAL", "DOMAINS", "RECIPIENTS", "AGE",
		       "KEY", "STATE", "EXPIRES (UTC)") < 0)
		goto out;
	for (i = 0; i < sd->store->n; i++) {
		o = sd->store->o[i];
		manifest_hex(o->m.state_hash, STATE_HASH_LEN, hex);
		a = (int64_t)now - o->m.created;
		status_span(a > 0 ? a : 0, age, sizeof(age));
		status_expiry(o->m.expires, now, exp, sizeof(exp));
		if (buf_printf(out,
			       "%-24s %10" PRIu64 " %8" PRIu64 " %10" PRIu64
			       " %7s %-16s %.16s %s\n",
			       o->m.origin, o->m.serial, o->m.domains,
			       o->m.recipients, age, o->m.key_id, hex, exp) < 0)
			goto out;
	}
	rc = status_quarantined_table(sd, out);
out:
	pthread_mutex_unlock(&sd->facts_lock);
	return rc;
}
