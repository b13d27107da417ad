/*
 * apply_store - the stored states' life outside a push: loading them at
 * start (stale temporary files removed, every entry vetted against the
 * keys, the maps repaired to match), vetting them again after a reload,
 * and forgetting an origin; the public entry points are in apply.h
 *
 * Fails with a struct err; an entry its keys no longer vouch for is not an
 * error but moved aside with one log line (apply_store_vet), or only left
 * out by the read-only loaders (status, check, postconf).  Every change of
 * the running store is made inside the install gate (apply_priv.h), so it
 * never races an install.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../formats/atomic.h"
#include "../formats/cdbw.h"
#include "../formats/log.h"
#include "apply.h"
#include "apply_priv.h"

/*
 * apply_store_vet - the entries of s that may still be served (verify_stored()
 * under sd's config and trust, in origin order, so that of two entries
 * holding one domain the later is charged), as a new store sharing them;
 * the others are added to bads (file name, reason, message) and, when
 * failed_r is not NULL, returned there as a store of their own.
 */
static struct store *apply_store_vet(struct syncd *sd, const struct store *s,
				     struct store_bads *bads,
				     struct store **failed_r, struct err *err)
{
	struct store *ns = NULL, *bad = NULL;
	struct verdict v;
	char name[512];
	size_t i;

	ns = calloc(1, sizeof(*ns));
	bad = calloc(1, sizeof(*bad));
	if (ns == NULL || bad == NULL ||
	    (s->n > 0 && ((ns->o = calloc(s->n, sizeof(*ns->o))) == NULL ||
			  (bad->o = calloc(s->n, sizeof(*bad->o))) == NULL)))
		goto oom;
	for (i = 0; i < s->n; i++) {
		if (verify_stored(sd->cfg, sd->trust, ns, s->o[i], &v) == 0) {
			ns->o[ns->n++] = s->o[i];
			continue;
		}
		snprintf(name, sizeof(name), "origin-%s.snap",
			 s->o[i]->m.origin);
		if (store_bads_add(bads, name, s->o[i]->m.origin, v.reason,
				   v.msg) < 0)
			goto oom;
		bad->o[bad->n++] = s->o[i];
	}
	if (failed_r != NULL)
		*failed_r = bad;
	else
		store_release(bad, NULL);
	return ns;
oom:
	store_release(ns, NULL);
	store_release(bad, NULL);
	err_sys(err, "malloc");
	return NULL;
}

/* apply_store_quarantine - move the files of bads aside, one log line each */
static int apply_store_quarantine(const char *dir, struct store_bads *bads,
				  struct err *err)
{
	size_t i;
	int rc = 0;

	for (i = 0; i < bads->n; i++) {
		struct store_bad *b = &bads->v[i];
		char old[sizeof(b->name)];

		snprintf(old, sizeof(old), "%s", b->name);
		if (store_quarantine(dir, b, (int64_t)time(NULL), err) < 0) {
			rc = -1;
			continue;
		}
		log_warning("stored state of origin %s is not served (%s: %s); "
			    "%s moved aside as %s",
			    b->origin, b->reason, b->msg, old, b->name);
	}
	return rc;
}

/* apply_store_load_vetted - load, vet, and (move_aside) quarantine; into sd */
static int apply_store_load_vetted(struct syncd *sd, int move_aside,
				   struct err *err)
{
	const struct syncd_config *cfg = sd->cfg;
	struct store_bads bads = {NULL, 0};
	struct store *s, *ns, *failed = NULL;
	int rc = -1;

	s = store_load_all(cfg->state_dir, sd->trust, &bads, err);
	if (s == NULL)
		goto out;
	ns = apply_store_vet(sd, s, &bads, &failed, err);
	if (ns == NULL) {
		store_free(s);
		goto out;
	}
	store_release(s, NULL);
	store_free(failed);
	if (move_aside &&
	    apply_store_quarantine(cfg->state_dir, &bads, err) < 0) {
		store_free(ns);
		goto out;
	}
	pthread_mutex_lock(&sd->facts_lock);
	store_free(sd->store);
	sd->store = ns;
	pthread_mutex_unlock(&sd->facts_lock);
	rc = 0;
out:
	store_bads_free(&bads);
	return rc;
}

int apply_load(struct syncd *sd, struct err *err)
{
	const struct syncd_config *cfg = sd->cfg;

	if (atomic_cleanup_dir(cfg->state_dir, err) < 0 ||
	    atomic_cleanup_dir(cfg->maps_dir, err) < 0)
		return -1;
	return apply_store_load_vetted(sd, 1, err);
}

int apply_load_readonly(struct syncd *sd, struct err *err)
{
	return apply_store_load_vetted(sd, 0, err);
}

/*
 * apply_store_replace - install the maps of ns and swap it in for sd's
 * store (install lock held); gone is freed after the swap
 */
static int apply_store_replace(struct syncd *sd, struct store *ns,
			       struct store *gone, struct err *err)
{
	const struct state **states;
	const uint8_t **sels = NULL;
	struct cdbw_plan plan;
	struct store *old;
	int rc = 0;

	states = store_states(ns);
	if (states == NULL ||
	    apply_plan(ns, (unsigned)sd->cfg->recipient_shards,
		       sd->cfg->maps_dir, &plan, &sels) < 0) {
		err_sys(err, "malloc");
		rc = -1;
	} else if (cdbw_install_plan(states, ns->n, sd->cfg->maps_dir,
				     CDBW_LIMIT, &plan, NULL, NULL, err) < 0)
		rc = -1; /* a restart rebuilds them from the store */
	else
		apply_layout_set(sd->cfg->maps_dir, plan.shards);
	free(sels);
	free(states);
	pthread_mutex_lock(&sd->facts_lock);
	old = sd->store;
	sd->store = ns;
	pthread_mutex_unlock(&sd->facts_lock);
	store_release(old, NULL);
	store_free(gone);
	return rc;
}

int apply_revet(struct syncd *sd, size_t *moved_r, struct err *err)
{
	struct store_bads bads = {NULL, 0};
	struct store empty = {NULL, 0}, *ns, *failed = NULL;
	int rc = -1;

	*moved_r = 0;
	apply_enter(sd, -1);
	ns = apply_store_vet(sd, sd->store != NULL ? sd->store : &empty, &bads,
			     &failed, err);
	if (ns == NULL)
		goto out;
	if (failed->n == 0) {
		store_release(ns, NULL);
		store_release(failed, NULL);
		rc = 0;
		goto out;
	}
	*moved_r = failed->n;
	rc = apply_store_quarantine(sd->cfg->state_dir, &bads, err);
	if (apply_store_replace(sd, ns, failed, err) < 0)
		rc = -1;
out:
	apply_leave(sd);
	store_bads_free(&bads);
	return rc;
}

int apply_forget(struct syncd *sd, const char *origin, size_t *files_r,
		 struct err *err)
{
	struct store_origin *removed = NULL;
	struct store *ns, *gone;
	int rc = -1;

	*files_r = 0;
	apply_enter(sd, -1);
	/* The file goes first: a crash after it rebuilds the maps without. */
	if (store_forget(sd->cfg->state_dir, origin, files_r, err) < 0)
		goto out;
	ns = store_without(sd->store, origin, &removed, err);
	if (ns == NULL)
		goto out;
	if (removed == NULL) {
		store_release(ns, NULL);
		rc = 0;
		goto out;
	}
	if ((gone = calloc(1, sizeof(*gone))) == NULL ||
	    (gone->o = calloc(1, sizeof(*gone->o))) == NULL) {
		free(gone);
		gone = NULL;
		store_origin_free(removed);
	} else
		gone->o[gone->n++] = removed;
	rc = apply_store_replace(sd, ns, gone, err);
out:
	apply_leave(sd);
	return rc;
}

int apply_check_maps(struct syncd *sd, int *rebuilt_r, struct err *why,
		     struct err *err)
{
	const struct syncd_config *cfg = sd->cfg;
	const struct state **states = NULL;
	const uint8_t **sels = NULL;
	struct cdbw_plan plan;
	struct store empty = {NULL, 0};
	const struct store *s = sd->store != NULL ? sd->store : &empty;
	struct err tmp;
	int rc = -1;

	*rebuilt_r = 0;
	if (why == NULL)
		why = &tmp;
	states = store_states(s);
	if (states == NULL) {
		err_sys(err, "malloc");
		goto out;
	}
	if (apply_plan(s, (unsigned)cfg->recipient_shards, cfg->maps_dir, &plan,
		       &sels) < 0) {
		err_sys(err, "malloc");
		goto out;
	}
	if (cdbw_verify_plan(states, s->n, cfg->maps_dir, &plan, why) < 0) {
		if (cdbw_install_plan(states, s->n, cfg->maps_dir, CDBW_LIMIT,
				      &plan, NULL, NULL, err) < 0)
			goto out;
		*rebuilt_r = 1;
	}
	apply_layout_set(cfg->maps_dir, plan.shards);
	rc = 0;
out:
	free(sels);
	free(states);
	return rc;
}

int apply_start(struct syncd *sd, int *rebuilt_r, struct err *why,
		struct err *err)
{
	*rebuilt_r = 0;
	if (apply_load(sd, err) < 0)
		return -1;
	return apply_check_maps(sd, rebuilt_r, why, err);
}
