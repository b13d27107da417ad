/*
 * apply - the one path from a verified manifest to installed maps
 *
 * Fails with a struct verdict (refusals, 4xx; an install that could not be
 * written, 503).  Loading, re-vetting and forgetting the stored states are
 * the module's other half, apply_store.c.
 * Security: nothing reaches cdbw before verify_body() passed with the install
 * lock held, so the base a delta was checked against is the base it is applied
 * to.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../formats/atomic.h"
#include "../formats/cdbw.h"
#include "../formats/log.h"
#include "../formats/thread.h"
#include "apply.h"
#include "apply_priv.h"
#include "journal.h"
#include "shard.h"

/* apply_now_ms - monotonic milliseconds */
static uint64_t apply_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

int apply_init(struct syncd *sd, struct syncd_config *cfg, struct trust *trust)
{
	pthread_condattr_t ca;
	int ok;

	memset(sd, 0, sizeof(*sd));
	if (pthread_condattr_init(&ca) != 0)
		return -1;
	ok = pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) == 0 &&
	     pthread_cond_init(&sd->gate_cond, &ca) == 0;
	pthread_condattr_destroy(&ca);
	if (!ok || pthread_mutex_init(&sd->gate_lock, NULL) != 0 ||
	    pthread_mutex_init(&sd->facts_lock, NULL) != 0)
		return -1;
	sd->cfg = cfg;
	sd->trust = trust;
	return 0;
}

void apply_fini(struct syncd *sd)
{
	struct syncd_retired *r, *next;

	for (r = sd->retired; r != NULL; r = next) {
		next = r->next;
		syncd_config_free(r->cfg);
		trust_free(r->trust);
		free(r);
	}
	store_free(sd->store);
	syncd_config_free(sd->cfg);
	trust_free(sd->trust);
	pthread_cond_destroy(&sd->gate_cond);
	pthread_mutex_destroy(&sd->gate_lock);
	pthread_mutex_destroy(&sd->facts_lock);
	memset(sd, 0, sizeof(*sd));
}

void apply_swap_config(struct syncd *sd, struct syncd_config *cfg,
		       struct trust *trust)
{
	struct syncd_retired *r = calloc(1, sizeof(*r));

	pthread_mutex_lock(&sd->facts_lock);
	if (r != NULL) {
		r->cfg = sd->cfg;
		r->trust = sd->trust;
		r->next = sd->retired;
		sd->retired = r;
	}
	/* Without memory to retire them, leak the old ones: never free. */
	sd->cfg = cfg;
	sd->trust = trust;
	pthread_mutex_unlock(&sd->facts_lock);
}

void apply_count(struct syncd *sd, const struct verdict *v)
{
	size_t i;

	pthread_mutex_lock(&sd->facts_lock);
	if (v->status == 200)
		sd->accepted++;
	else {
		for (i = 0; i < SYNCD_REASONS; i++) {
			if (sd->reasons[i] == NULL)
				sd->reasons[i] = v->reason;
			if (strcmp(sd->reasons[i], v->reason) == 0) {
				sd->refused[i]++;
				break;
			}
		}
	}
	pthread_mutex_unlock(&sd->facts_lock);
}

/*
 * apply_enter - enter the install gate; wait_ms < 0 waits as long as it
 * takes, otherwise at most wait_ms on CLOCK_MONOTONIC (a clock step
 * neither cuts nor stretches the wait).  -1: still busy after the wait.
 */
int apply_enter(struct syncd *sd, int64_t wait_ms)
{
	struct timespec ts;
	int rc = 0;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	if (wait_ms > 0) {
		ts.tv_sec += (time_t)(wait_ms / 1000);
		ts.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
	}
	pthread_mutex_lock(&sd->gate_lock);
	while (sd->installing && rc == 0) {
		if (wait_ms < 0)
			pthread_cond_wait(&sd->gate_cond, &sd->gate_lock);
		else if (pthread_cond_timedwait(&sd->gate_cond, &sd->gate_lock,
						&ts) == ETIMEDOUT)
			rc = -1;
	}
	if (!sd->installing) {
		sd->installing = 1;
		rc = 0;
	}
	pthread_mutex_unlock(&sd->gate_lock);
	return rc;
}

/* apply_leave - leave the install gate and wake one waiting install */
void apply_leave(struct syncd *sd)
{
	pthread_mutex_lock(&sd->gate_lock);
	sd->installing = 0;
	pthread_cond_signal(&sd->gate_cond);
	pthread_mutex_unlock(&sd->gate_lock);
}

/*
 * apply_saver - the origin's new state file, written and fsynced on a
 * thread of its own while the maps are built (both only read the state),
 * and renamed into place only after the maps were installed, so the order
 * a crash can observe stays maps first, then state.
 */
struct apply_saver {
	struct thread th;
	const char *dir;
	const struct store_origin *o;
	struct atomic_file af;
	struct err err;
	int rc;
};

static void apply_saver_run(void *arg)
{
	struct apply_saver *sv = arg;

	sv->rc = store_save_begin(sv->dir, sv->o, &sv->af, &sv->err);
}

/* apply_saver_start - start the writer (or, without a thread, write now) */
static void apply_saver_start(struct apply_saver *sv, const char *dir,
			      const struct store_origin *o)
{
	sv->dir = dir;
	sv->o = o;
	sv->rc = -1;
	thread_start(&sv->th, apply_saver_run, sv);
}

/* apply_saver_wait - wait for the writer; its result, 0 or -1 */
static int apply_saver_wait(struct apply_saver *sv)
{
	thread_wait(&sv->th);
	return sv->rc;
}

/*
 * apply_plan - the maps plan for the states of s: shards from the config,
 * each entry's shard selection (its state's hash shards when the counts
 * agree, state.h; else computed and kept in the entry when it has none:
 * entries are read and written this way only with the install lock held),
 * and the single relay_recipients map while it still exists (the
 * migration, mxsyncd(8)).  *sels_r is the caller's to free.
 */
int apply_plan(const struct store *s, unsigned shards, const char *maps_dir,
	       struct cdbw_plan *plan, const uint8_t ***sels_r)
{
	const uint8_t **sels = NULL;
	char path[4096];
	size_t i;

	memset(plan, 0, sizeof(*plan));
	plan->shards = shards;
	plan->domains = 1;
	*sels_r = NULL;
	if (shards <= 1)
		return 0;
	snprintf(path, sizeof(path), "%s/%s.cdb", maps_dir,
		 CDBW_RELAY_RECIPIENTS);
	plan->legacy = access(path, F_OK) == 0;
	sels = calloc(s->n + 1, sizeof(*sels));
	if (sels == NULL)
		return -1;
	for (i = 0; i < s->n; i++) {
		struct store_origin *o = s->o[i];

		/* the hash tree's shards are the maps' (the same function) */
		if (shards == STATE_HASH_SHARDS &&
		    (sels[i] = state_shards(o->st)) != NULL)
			continue;
		if (o->sel != NULL && o->sel_shards != shards) {
			free(o->sel);
			o->sel = NULL;
		}
		if (o->sel == NULL &&
		    (o->sel = cdbw_shard_sel(o->st, shards)) == NULL) {
			free(sels);
			return -1;
		}
		o->sel_shards = shards;
		sels[i] = o->sel;
	}
	plan->sel = sels;
	*sels_r = sels;
	return 0;
}

/*
 * apply_window - after an install, the origin's counts over shrink_window
 * (store.h): a deliberate shrink (allow_shrink) starts the window afresh.
 * Only a write error is possible, and it only shortens that memory.
 */
static void apply_window(struct syncd *sd, const struct push *p,
			 const struct store_origin *replaced,
			 const struct state *st)
{
	const struct syncd_config *cfg = sd->cfg;
	struct store_window w = {{0}, {0}, 0};
	struct err err;
	int64_t now = (int64_t)time(NULL),
		span = (int64_t)(cfg->shrink_window_ms / 1000);

	if (!p->m.allow_shrink && span > 0 &&
	    store_window_read(cfg->state_dir, p->m.origin, &w, &err) < 0)
		w.len = 0;
	if (!p->m.allow_shrink && span > 0 && w.len == 0 && replaced != NULL)
		store_window_add(&w, now, state_recipient_count(replaced->st),
				 span);
	store_window_add(&w, now, state_recipient_count(st), span);
	if (store_window_write(cfg->state_dir, p->m.origin, &w, &err) < 0)
		log_warning("%s", err.msg);
}

/*
 * The layout marker maps_dir/relay_recipients.shards: the number of shards
 * the maps were last built or verified with in full.  A partial install
 * (only the touched shards) is made only onto maps of the same layout, so
 * that a changed recipient_shards (a reload, or an offline apply after an
 * edit) rebuilds every map once.
 */
#define APPLY_LAYOUT CDBW_RELAY_RECIPIENTS ".shards"

/* apply_layout - the marker's shard count, 0 when absent or unreadable */
static unsigned apply_layout(const char *maps_dir)
{
	char path[4096], buf[16];
	unsigned n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", maps_dir, APPLY_LAYOUT);
	if ((f = fopen(path, "re")) == NULL)
		return 0;
	if (fgets(buf, sizeof(buf), f) == NULL || sscanf(buf, "%u", &n) != 1)
		n = 0;
	fclose(f);
	return n;
}

/* apply_layout_set - write the marker when it does not say shards */
void apply_layout_set(const char *maps_dir, unsigned shards)
{
	char path[4096], buf[16];
	struct err err;
	int n;

	if (apply_layout(maps_dir) == shards)
		return;
	snprintf(path, sizeof(path), "%s/%s", maps_dir, APPLY_LAYOUT);
	n = snprintf(buf, sizeof(buf), "%u\n", shards);
	/* without it the next delta builds every map: only slower */
	if (atomic_write_file(path, buf, (size_t)n, 0644, &err) < 0)
		log_warning("%s", err.msg);
}

/*
 * apply_install - steps 1-3 for a verified new state (lock held)
 */
static int apply_install(struct syncd *sd, const struct push *p,
			 struct state *st, const char *delta, size_t dlen,
			 struct apply_result *res, struct verdict *v)
{
	struct store_origin *o = NULL, *replaced = NULL;
	const struct store_origin *prev;
	struct store *ns = NULL, *old;
	const struct state **states = NULL;
	const uint8_t **sels = NULL;
	const char *state_dir, *maps_dir;
	unsigned char touched[CDBW_SHARDS_MAX];
	struct cdbw_plan plan;
	struct apply_saver sv;
	struct err err, err2;
	unsigned shards;
	uint64_t t, limit;
	int k, rc = -1, journal = 0;

	o = store_origin_new(&p->m, p->manifest, p->manifest_len, p->sig, st,
			     &err);
	if (o == NULL) {
		state_free(st);
		verify_refuse(v, 503, "internal", "%s", err.msg);
		goto out;
	}
	ns = store_with(sd->store, o, &replaced, &err);
	if (ns == NULL || (states = store_states(ns)) == NULL) {
		verify_refuse(v, 503, "internal", "out of memory");
		goto out;
	}
	pthread_mutex_lock(&sd->facts_lock);
	state_dir = sd->cfg->state_dir;
	maps_dir = sd->cfg->maps_dir;
	shards = (unsigned)sd->cfg->recipient_shards;
	limit = sd->cfg->max_map_size < CDBW_LIMIT ? sd->cfg->max_map_size
						   : CDBW_LIMIT;
	pthread_mutex_unlock(&sd->facts_lock);
	t = apply_now_ms();
	/*
	 * A delta onto the stored base rebuilds only the shards it touches
	 * (and transport and relay_domains only when a domain changed), with
	 * the shard of each recipient carried over from the base.
	 */
	prev = replaced;
	if (shards > 1 && prev != NULL && delta != NULL && prev->sel != NULL &&
	    prev->sel_shards == shards &&
	    !(shards == STATE_HASH_SHARDS && state_shards(st) != NULL)) {
		o->sel = shard_sel_after(prev->st, prev->sel, st, delta, dlen,
					 shards);
		o->sel_shards = shards;
	}
	if (apply_plan(ns, shards, maps_dir, &plan, &sels) < 0) {
		verify_refuse(v, 503, "internal", "out of memory");
		goto out;
	}
	if (delta != NULL && prev != NULL) {
		if (apply_layout(maps_dir) == shards) {
			memset(touched, 0, sizeof(touched));
			shard_touched(delta, dlen, shards, touched,
				      &plan.domains);
			plan.touched = touched;
		}
		journal = !journal_due(prev, dlen);
	}
	if (!journal)
		apply_saver_start(&sv, state_dir, o);
	k = cdbw_install_plan(states, ns->n, maps_dir, limit, &plan, NULL, NULL,
			      &err);
	if (k < 0) {
		if (!journal && apply_saver_wait(&sv) == 0)
			atomic_abort(&sv.af);
		/* a map too large stays too large: a permanent refusal */
		if (k == -2)
			verify_refuse(v, 422, "too_large",
				      "maps not installed: %s", err.msg);
		else
			verify_refuse(v, 503, "install",
				      "maps not installed: %s", err.msg);
		goto out;
	}
	if (plan.touched == NULL)
		apply_layout_set(maps_dir, shards);
	res->maps_ms = apply_now_ms() - t;
	t = apply_now_ms();
	/*
	 * The state after the maps: a delta is appended to the journal, a
	 * full state (or a compaction) replaces the .snap and then drops the
	 * journal it includes.
	 */
	if (journal ? journal_append(state_dir, o, prev->journal_len,
				     prev->journal_n, delta, dlen, &sv.err) < 0
		    : apply_saver_wait(&sv) < 0 ||
			  atomic_commit(&sv.af, &sv.err) < 0 ||
			  journal_remove(state_dir, o->m.origin, &sv.err) < 0) {
		/* Put the maps back as the store says they are. */
		struct cdbw_plan back;
		const uint8_t **bsels = NULL;

		free(states);
		states = sd->store != NULL ? store_states(sd->store) : NULL;
		if (states != NULL &&
		    apply_plan(sd->store, shards, maps_dir, &back, &bsels) == 0)
			cdbw_install_plan(states, sd->store->n, maps_dir,
					  CDBW_LIMIT, &back, NULL, NULL, &err2);
		free(bsels);
		verify_refuse(v, 503, "install", "state not stored: %s",
			      sv.err.msg);
		goto out;
	}
	res->store_ms = apply_now_ms() - t;
	apply_window(sd, p, replaced, st);
	pthread_mutex_lock(&sd->facts_lock);
	old = sd->store;
	sd->store = ns;
	pthread_mutex_unlock(&sd->facts_lock);
	store_release(old, replaced);
	ns = NULL;
	o = NULL;
	rc = 0;
out:
	free(sels);
	free(states);
	if (ns != NULL) {
		free(ns->o);
		free(ns);
	}
	store_origin_free(o);
	return rc;
}

int apply_push(struct syncd *sd, const struct push *p, char *body, size_t len,
	       struct apply_result *res, struct verdict *v)
{
	struct state *st = NULL;
	char *delta = NULL;
	int64_t wait_ms;
	uint64_t t0;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	pthread_mutex_lock(&sd->facts_lock);
	wait_ms = (int64_t)sd->cfg->install_wait_ms;
	pthread_mutex_unlock(&sd->facts_lock);
	if (apply_enter(sd, wait_ms) < 0) {
		free(body);
		return verify_refuse(v, 503, "busy",
				     "another install is in progress");
	}
	t0 = apply_now_ms();
	/* a delta's text names the shards it touches and goes to the journal */
	if (p->m.kind == MANIFEST_DELTA &&
	    (delta = malloc(len > 0 ? len : 1)) != NULL && len > 0)
		memcpy(delta, body, len);
	if (verify_body(sd, p, body, len, &st, v) < 0)
		goto out;
	res->domains = state_domain_count(st);
	res->recipients = state_recipient_count(st);
	res->verify_ms = apply_now_ms() - t0;
	if (apply_install(sd, p, st, delta, len, res, v) < 0)
		goto out;
	res->serial = p->m.serial;
	memcpy(res->state_hash, p->m.state_hash, STATE_HASH_LEN);
	res->install_ms = apply_now_ms() - t0;
	v->status = 200;
	v->reason = "accepted";
	v->serial = p->m.serial;
	v->msg[0] = '\0';
	pthread_mutex_lock(&sd->facts_lock);
	sd->last_install_ms = res->install_ms;
	sd->have_install = 1;
	pthread_mutex_unlock(&sd->facts_lock);
	rc = 0;
out:
	free(delta);
	apply_leave(sd);
	return rc;
}

int apply_file(struct syncd *sd, const char *path, struct push *p,
	       struct apply_result *res, struct verdict *v)
{
	struct snapshot snap = {0};
	struct err err;
	char *body;
	int rc = -1;

	memset(res, 0, sizeof(*res));
	memset(p, 0, sizeof(*p));
	v->serial = 0;
	if (snapshot_read(path, (size_t)-1 / 2, &snap, &err) < 0) {
		verify_refuse(v, 400, "malformed", "%s", err.msg);
		goto out;
	}
	if (verify_manifest(sd, snap.manifest, snap.manifest_len, snap.sig, p,
			    v) < 0)
		goto out;
	body = snap.body;
	snap.body = NULL;
	rc = apply_push(sd, p, body, snap.body_len, res, v);
out:
	snapshot_clear(&snap);
	return rc;
}
