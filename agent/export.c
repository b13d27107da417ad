/*
 * export - sources into the canonical state; signed snapshots (export.h)
 *
 * Failure of any source fails the export.  The signature covers the exact
 * manifest bytes (keys/key.h adds the context); the body is bound by its
 * BLAKE2b-256 hash in the manifest.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "../formats/buf.h"
#include "../formats/delta.h"
#include "export.h"
#include "source.h"

/* export_dropped - count a recipient dropped for its unlisted domain */
static void export_dropped(void *arg, unsigned tag, const char *addr,
			   size_t alen)
{
	struct agent_config *cfg = arg;
	struct source *src;

	if (tag >= cfg->nsources)
		return;
	src = cfg->sources[tag];
	if (src->unlisted++ == 0)
		snprintf(src->unlisted_example, sizeof(src->unlisted_example),
			 "%.*s", (int)alen, addr);
}

/* export_us - microseconds from a to b */
static uint64_t export_us(const struct timespec *a, const struct timespec *b)
{
	int64_t ns = (int64_t)(b->tv_sec - a->tv_sec) * 1000000000 +
		     (b->tv_nsec - a->tv_nsec);

	return ns > 0 ? (uint64_t)ns / 1000u : 0;
}

int export_state(struct agent_config *cfg, int inotify_fd, struct state **st_r,
		 struct err *err)
{
	(void)inotify_fd;
	return export_state_watched(cfg, NULL, st_r, err);
}

int export_state_watched(struct agent_config *cfg, struct watch *w,
			 struct state **st_r, struct err *err)
{
	struct state *st;
	unsigned char *drop = NULL;
	size_t i;
	unsigned tag = 0;
	int rc = SOURCE_BAD;

	*st_r = NULL;
	if ((st = state_new()) == NULL ||
	    (drop = calloc(cfg->nsources + 1, 1)) == NULL) {
		state_free(st);
		err_set(err, "out of memory");
		return SOURCE_DOWN;
	}
	/*
	 * A recipient of a domain that no source lists is one the primary
	 * refuses to relay: by default it is dropped and counted, not an
	 * error (unlisted_domains = refuse makes it one).
	 */
	for (i = 0; i < cfg->nsources; i++)
		drop[i] =
		    cfg->sources[i]->unlisted_domains == SOURCE_UNLISTED_DROP;
	for (i = 0; i < cfg->nsources; i++) {
		struct source *src = cfg->sources[i];
		struct source_export_ctx ctx = {.st = st,
						.nexthop = cfg->nexthop,
						.inotify_fd = -1,
						.watch = w,
						.whole = cfg->nsources == 1 &&
							 w != NULL};
		struct timespec t0, t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		src->last_attempt = time(NULL);
		src->skipped = 0;
		src->skipped_example[0] = '\0';
		src->files_read = 0;
		src->lines_parsed = 0;
		src->unchanged = 0;
		rc = source_export(src, &ctx, err);
		clock_gettime(CLOCK_MONOTONIC, &t1);
		src->export_us = export_us(&t0, &t1);
		if (rc < 0) {
			snprintf(src->error, sizeof(src->error), "%s",
				 err->msg);
			src->error_kind = rc;
			goto fail;
		}
		src->domains = ctx.domains;
		src->recipients = ctx.recipients;
		if (ctx.finished != NULL) {
			/*
			 * The only source handed back the whole export,
			 * finished, its unlisted recipients counted: what is
			 * left is the common end below.
			 */
			state_free(st);
			st = ctx.finished;
			src->unchanged = ctx.unchanged;
			goto finished;
		}
		src->unlisted = 0;
		src->unlisted_example[0] = '\0';
	}
	if (state_finish_unlisted(st, drop, cfg->nsources, export_dropped, cfg,
				  &tag, err) < 0) {
		/* The record's tag is the index of the source it came from. */
		if (tag < cfg->nsources) {
			struct source *src = cfg->sources[tag];

			err_prefix(err, "source %s", src->name);
			snprintf(src->error, sizeof(src->error), "%s",
				 err->msg);
			src->error_kind = SOURCE_BAD;
		}
		rc = SOURCE_BAD;
		goto fail;
	}
	/* accept_all names a domain on purpose: one no source lists is a typo.
	 */
	for (i = 0; i < cfg->nsources; i++) {
		struct source *src = cfg->sources[i];
		size_t k;

		for (k = 0; k < src->naccept_all; k++)
			if (state_find_domain(st, src->accept_all[k],
					      strlen(src->accept_all[k])) < 0) {
				err_set(err,
					"source %s: accept_all: domain %s "
					"is listed by no source",
					src->name, src->accept_all[k]);
				snprintf(src->error, sizeof(src->error), "%s",
					 err->msg);
				src->error_kind = SOURCE_BAD;
				rc = SOURCE_BAD;
				goto fail;
			}
	}
finished:
	for (i = 0; i < cfg->nsources; i++) {
		cfg->sources[i]->error[0] = '\0';
		cfg->sources[i]->error_kind = 0;
		cfg->sources[i]->last_export = cfg->sources[i]->last_attempt;
		/* what a source exported is what it kept */
		cfg->sources[i]->recipients -= cfg->sources[i]->unlisted;
	}
	free(drop);
	*st_r = st;
	return SOURCE_OK;
fail:
	free(drop);
	state_free(st);
	return rc;
}

void export_snap_clear(struct export_snap *s)
{
	if (s == NULL)
		return;
	free(s->manifest);
	free(s->body);
	memset(s, 0, sizeof(*s));
}

int export_make(const struct agent_config *cfg, const struct key_secret *sk,
		const struct state *st, const unsigned char *st_hash,
		const struct state *base, const unsigned char *base_hash,
		uint64_t base_serial, uint64_t serial, int allow_shrink,
		struct export_snap *out, struct err *err)
{
	struct manifest *m = &out->m;
	struct buf body = BUF_INIT;
	size_t adds, removes;
	time_t now = time(NULL);

	memset(out, 0, sizeof(*out));
	m->version = MANIFEST_VERSION;
	snprintf(m->origin, sizeof(m->origin), "%s", cfg->origin);
	snprintf(m->key_id, sizeof(m->key_id), "%s", key_secret_id(sk));
	m->serial = serial;
	m->created = (int64_t)now;
	m->expires = (int64_t)now + (int64_t)(cfg->expire_ms / 1000);
	if (m->expires <= m->created)
		m->expires = m->created + 1;
	if (st_hash != NULL)
		memcpy(m->state_hash, st_hash, STATE_HASH_LEN);
	else
		state_hash(st, m->state_hash);
	m->domains = state_domain_count(st);
	m->recipients = state_recipient_count(st);
	snprintf(m->recipient_delimiter, sizeof(m->recipient_delimiter), "%s",
		 cfg->recipient_delimiter);
	m->allow_shrink = allow_shrink;
	if (base != NULL) {
		m->kind = MANIFEST_DELTA;
		m->base_serial = base_serial;
		if (base_hash != NULL)
			memcpy(m->base_hash, base_hash, STATE_HASH_LEN);
		else
			state_hash(base, m->base_hash);
		if (delta_compute(base, st, &body, &adds, &removes, err) < 0)
			goto fail;
		out->body = buf_steal(&body, &out->blen);
	} else {
		m->kind = MANIFEST_FULL;
		out->body = state_text(st, &out->blen);
		if (out->body == NULL) {
			err_set(err, "out of memory");
			goto fail;
		}
	}
	m->body_size = out->blen;
	/*
	 * A full body is the canonical text, and in manifest version 1 the
	 * state hash is its BLAKE2b-256: a state of millions of records is
	 * hashed once, not twice.  (A state hash of another form is not the
	 * body's hash: then the body is hashed here.)
	 */
	if (m->kind == MANIFEST_FULL && m->version == 1)
		memcpy(m->body_hash, m->state_hash, STATE_HASH_LEN);
	else
		crypto_generichash(
		    m->body_hash, STATE_HASH_LEN,
		    (const unsigned char *)(out->body ? out->body : ""),
		    out->blen, NULL, 0);
	if ((out->manifest = manifest_encode(m, &out->mlen, err)) == NULL)
		goto fail;
	if (key_sign(sk, out->manifest, out->mlen, out->sig, err) < 0)
		goto fail;
	return 0;
fail:
	buf_free(&body);
	export_snap_clear(out);
	return -1;
}
