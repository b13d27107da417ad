/*
 * sync - choosing snapshots per backup and recording acknowledgements
 * (see sync.h)
 *
 * Failures to build or start a push are returned; push outcomes are logged
 * here, one line each, with the backup, serial, kind, body octets and the
 * backup's message, never any recipient.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../formats/cdblimit.h"
#include "../formats/cdbw.h"
#include "../formats/log.h"
#include "../formats/manifest.h"
#include "export.h"
#include "sync.h"

int64_t sync_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int sync_init(struct sync *s, struct agent_config *cfg,
	      const struct key_secret *sk, struct ledger *ledger,
	      struct pusher *pusher, struct err *err)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->sk = sk;
	s->ledger = ledger;
	s->pusher = pusher;
	if (cfg->nbackups > 0 &&
	    (s->b = calloc(cfg->nbackups, sizeof(*s->b))) == NULL)
		return err_set(err, "out of memory");
	s->n = cfg->nbackups;
	for (i = 0; i < s->n; i++) {
		s->b[i].conf = &cfg->backups[i];
		if (ledger_backup(ledger, cfg->backups[i].name) == NULL)
			return err_set(err, "out of memory");
	}
	/* ledger_backup may move entries: look them up after all exist. */
	for (i = 0; i < s->n; i++)
		s->b[i].lb = ledger_backup(ledger, cfg->backups[i].name);
	return 0;
}

/* sync_drop_snaps - forget the snapshots built for the current state */
static void sync_drop_snaps(struct sync *s)
{
	export_snap_clear(&s->full.snap);
	export_snap_clear(&s->delta.snap);
	/* pushes still sending a body hold their own references */
	push_body_unref(s->full.body);
	push_body_unref(s->delta.body);
	s->full.body = s->delta.body = NULL;
	s->full.valid = s->delta.valid = 0;
}

/* sync_ledger_flush - write the outcomes recorded since the last save */
static void sync_ledger_flush(struct sync *s)
{
	struct err err;

	if (!s->ledger_dirty)
		return;
	if (ledger_save(s->ledger, &err) < 0) {
		log_warning("%s", err.msg);
		return;
	}
	s->ledger_dirty = 0;
	s->ledger_saved_ms = sync_now_ms();
}

/*
 * sync_ledger_note - an outcome changed the ledger: saved now when no other
 * push is in flight or the last save is SYNC_SAVE_MS old, else with a later
 * outcome
 */
static void sync_ledger_note(struct sync *s)
{
	s->ledger_dirty = 1;
	if (s->ninflight == 0 ||
	    sync_now_ms() - s->ledger_saved_ms >= SYNC_SAVE_MS)
		sync_ledger_flush(s);
}

/* sync_inflight - mark backup b in flight or not, keeping the count */
static void sync_inflight(struct sync *s, struct sync_backup *b, int on)
{
	if (on && !b->inflight)
		s->ninflight++;
	else if (!on && b->inflight)
		s->ninflight--;
	b->inflight = on;
}

/* sync_steps_clear - no steps of the base kept (the ledger has them) */
static void sync_steps_clear(struct sync *s)
{
	size_t i;

	for (i = 0; i < s->nsteps; i++)
		free(s->steps[i].delta);
	free(s->steps);
	s->steps = NULL;
	s->nsteps = 0;
	s->steps_broken = 0;
}

/*
 * sync_note_step - the base is about to become cur (serial to): kept as a
 * step for the journal when the delta snapshot of cur is exactly that
 * move, from where the steps so far end; else the steps are broken
 */
static void sync_note_step(struct sync *s, uint64_t to)
{
	const struct sync_snap *c = &s->delta;
	uint64_t end =
	    s->nsteps > 0 ? s->steps[s->nsteps - 1].to : s->ledger->base_serial;
	struct ledger_step *ns, *st;

	if (s->steps_broken)
		return;
	if (s->base == NULL || s->base_serial == 0 || s->base_serial != end ||
	    !c->valid || c->serial != to || c->base_serial != s->base_serial ||
	    (ns = realloc(s->steps, (s->nsteps + 1) * sizeof(*ns))) == NULL) {
		s->steps_broken = 1;
		return;
	}
	s->steps = ns;
	st = &s->steps[s->nsteps];
	st->len = push_body_len(c->body);
	if ((st->delta = malloc(st->len > 0 ? st->len : 1)) == NULL) {
		s->steps_broken = 1;
		return;
	}
	if (st->len > 0)
		memcpy(st->delta, push_body_data(c->body), st->len);
	st->from = s->base_serial;
	st->to = to;
	memcpy(st->hash, s->cur_hash, STATE_HASH_LEN);
	s->nsteps++;
}

void sync_clear(struct sync *s)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->b[i].inflight) {
			push_cancel(s->pusher, &s->b[i]);
			sync_inflight(s, &s->b[i], 0);
		}
	sync_ledger_flush(s);
	free(s->b);
	sync_steps_clear(s);
	sync_drop_snaps(s);
	/* base and cur may be one object */
	if (s->base != s->cur)
		state_free(s->base);
	state_free(s->cur);
	memset(s, 0, sizeof(*s));
}

int sync_set_state(struct sync *s, struct state *st)
{
	unsigned char h[STATE_HASH_LEN];
	struct state *old = s->cur;

	/* O(1) when the daemon prepared st already; else one pass */
	(void)state_hash_prepare_from(st, s->cur);
	state_hash(st, h);
	if (s->cur != NULL && memcmp(h, s->cur_hash, sizeof(h)) == 0) {
		state_free(st);
		return 0;
	}
	sync_drop_snaps(s);
	s->cur = st;
	if (old != s->base)
		state_free(old);
	memcpy(s->cur_hash, h, sizeof(h));
	s->cur_checked = 0;
	s->cur_unfit[0] = '\0';
	s->cur_serial = 0;
	s->cur_since = (int64_t)time(NULL);
	return 1;
}

long sync_never_for(const struct sync *s,
		    const unsigned char hash[STATE_HASH_LEN])
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->b[i].refused &&
		    memcmp(s->b[i].refused_hash, hash, STATE_HASH_LEN) == 0)
			return (long)i;
	return -1;
}

uint64_t sync_target(const struct sync *s)
{
	return s->cur_serial;
}

int sync_needs(const struct sync *s, size_t i)
{
	const struct sync_backup *b = &s->b[i];
	int64_t now = (int64_t)time(NULL);
	int64_t half = (int64_t)(s->cfg->expire_ms / 2000);

	if (s->cur == NULL || b->inflight)
		return 0;
	if (b->refused &&
	    memcmp(b->refused_hash, s->cur_hash, STATE_HASH_LEN) == 0)
		return 0;
	if (b->lb->serial == 0 ||
	    memcmp(b->lb->hash, s->cur_hash, STATE_HASH_LEN) != 0)
		return 1;
	/* Same state: refresh it well before the backup's copy expires. */
	return b->lb->acked + half <= now;
}

/*
 * sync_base - the delta base: in memory, read from state_dir only the first
 * time (after a start, when the ledger names one)
 */
static const struct state *sync_base(struct sync *s)
{
	struct err err;

	if (s->base != NULL || s->base_tried || s->ledger->base_serial == 0)
		return s->base;
	s->base_tried = 1;
	if ((s->base = ledger_load_base(s->ledger, &err)) == NULL) {
		log_warning("no delta base: %s", err.msg);
		return NULL;
	}
	s->base_serial = s->ledger->base_serial;
	memcpy(s->base_hash, s->ledger->base_hash, STATE_HASH_LEN);
	return s->base;
}

/*
 * sync_snap - the signed full snapshot of cur, or the delta from the base
 * to a backup that holds the base's state as serial base_serial, built
 * once for cur_serial (and base_serial) and shared by every backup it goes
 * to.  A snapshot older than a minute is built again, so that a late push
 * never carries an old creation time.
 */
static const struct sync_snap *sync_snap(struct sync *s, int delta,
					 uint64_t base_serial, struct err *err)
{
	struct sync_snap *c = delta ? &s->delta : &s->full;
	int64_t now = (int64_t)time(NULL);

	if (c->valid && c->serial == s->cur_serial &&
	    (!delta || c->base_serial == base_serial) &&
	    c->snap.m.created <= now && now < c->snap.m.created + 60)
		return c;
	export_snap_clear(&c->snap);
	push_body_unref(c->body);
	c->body = NULL;
	c->valid = 0;
	if (export_make(s->cfg, s->sk, s->cur, s->cur_hash,
			delta ? s->base : NULL, delta ? s->base_hash : NULL,
			delta ? base_serial : 0, s->cur_serial, s->allow_shrink,
			&c->snap, err) < 0)
		return NULL;
	/* one body for every backup: the pushes share it, none copies it */
	c->body = push_body_new(c->snap.body, c->snap.blen);
	c->snap.body = NULL;
	if (c->body == NULL) {
		export_snap_clear(&c->snap);
		err_set(err, "out of memory");
		return NULL;
	}
	c->valid = 1;
	c->serial = s->cur_serial;
	c->base_serial = delta ? base_serial : 0;
	return c;
}

const struct state *sync_acked(struct sync *s)
{
	return sync_base(s);
}

int sync_base_unsaved(const struct sync *s)
{
	return s->base != NULL && (s->base_serial != s->ledger->base_serial ||
				   memcmp(s->base_hash, s->ledger->base_hash,
					  STATE_HASH_LEN) != 0);
}

int sync_save_base(struct sync *s, struct err *err)
{
	size_t i, len = 0;
	int rc;

	if (!sync_base_unsaved(s)) {
		sync_steps_clear(s);
		return 0;
	}
	for (i = 0; i < s->nsteps; i++)
		len += s->steps[i].len;
	/* the steps, when they are the whole way from the ledger's base */
	if (!s->steps_broken && s->nsteps > 0 &&
	    s->steps[0].from == s->ledger->base_serial &&
	    s->steps[s->nsteps - 1].to == s->base_serial &&
	    memcmp(s->steps[s->nsteps - 1].hash, s->base_hash,
		   STATE_HASH_LEN) == 0 &&
	    !ledger_journal_due(s->ledger, s->base, len, s->nsteps))
		rc = ledger_add_steps(s->ledger, s->steps, s->nsteps, err);
	else
		rc = ledger_set_base(s->ledger, s->base, s->base_hash,
				     s->base_serial, err);
	if (rc == 0)
		sync_steps_clear(s);
	return rc;
}

int sync_cdb_check(const struct state *st, uint64_t limit, struct err *err)
{
	size_t i, nd = state_domain_count(st), nr = state_recipient_count(st);
	uint64_t dkeys = 0, hops = 0, rkeys, dlines = 0, least;
	const char *d, *h;
	size_t dlen, hlen;

	for (i = 0; i < nd; i++) {
		state_domain(st, i, &d, &dlen, &h, &hlen);
		dkeys += dlen;
		hops += hlen;
		dlines += 2 + dlen + 1 + hlen + 1; /* "D domain nexthop\n" */
	}
	if (!cdblimit_fits(nd, dkeys, (uint64_t)nd * CDBLIMIT_OK_LEN, limit))
		return err_set(err,
			       "%zu domains need a relay_domains map of %llu "
			       "octets, over the CDB limit of %llu",
			       nd,
			       (unsigned long long)cdblimit_size(
				   nd, dkeys, (uint64_t)nd * CDBLIMIT_OK_LEN),
			       (unsigned long long)limit);
	if (!cdblimit_fits(nd, dkeys, hops, limit))
		return err_set(
		    err,
		    "%zu domains need a transport map of %llu "
		    "octets, over the CDB limit of %llu",
		    nd, (unsigned long long)cdblimit_size(nd, dkeys, hops),
		    (unsigned long long)limit);
	/* the recipients' keys: the rest of the text, less "R " and "\n" */
	rkeys = state_text_size(st) - dlines - 3 * (uint64_t)nr;
	least = cdblimit_recipients(nr, rkeys, CDBW_SHARDS_MAX);
	if (least > limit)
		return err_set(err,
			       "%zu recipients need relay_recipients maps of "
			       "at least %llu octets each even in %u shards, "
			       "over the CDB limit of %llu",
			       nr, (unsigned long long)least, CDBW_SHARDS_MAX,
			       (unsigned long long)limit);
	return 0;
}

/*
 * sync_never - backup b can never accept the current state: remember it
 * (not sent again, not retried) and say why in the ledger
 */
static int sync_never(struct sync *s, struct sync_backup *b, struct err *err)
{
	b->refused = 1;
	memcpy(b->refused_hash, s->cur_hash, STATE_HASH_LEN);
	b->have_result = 1;
	b->last_kind = PUSH_REFUSED;
	snprintf(b->lb->error, sizeof(b->lb->error), "refused: %s", err->msg);
	b->lb->error_time = (int64_t)time(NULL);
	sync_ledger_note(s);
	return SYNC_NEVER;
}

int sync_start(struct sync *s, size_t i, int full, struct err *err)
{
	struct sync_backup *b = &s->b[i];
	const struct sync_snap *c;
	const struct export_snap *snap;
	int delta = 0;

	if (s->cur == NULL)
		return err_set(err, "no state to push");
	/* Limits first: what can never be accepted is never sent. */
	if (!s->cur_checked) {
		struct err e;

		if (sync_cdb_check(s->cur, CDBW_LIMIT, &e) < 0)
			snprintf(s->cur_unfit, sizeof(s->cur_unfit),
				 "%.*s; not sent", ERR_LEN - 16, e.msg);
		s->cur_checked = 1;
	}
	if (s->cur_unfit[0] != '\0') {
		err_set(err, "%s", s->cur_unfit);
		return sync_never(s, b, err);
	}
	/* A serial must be above what this backup holds, and persisted. */
	if (s->cur_serial == 0 || s->cur_serial <= b->lb->serial) {
		if (ledger_next_serial(s->ledger, b->lb->serial, &s->cur_serial,
				       err) < 0)
			return -1;
	}
	/*
	 * A delta from the base to a backup that holds the base's state,
	 * under whatever serial it was acknowledged (after a restart the
	 * base is often the same state again under a new serial, pushed in
	 * full to a backup added meanwhile): the delta names that serial and
	 * state hash as its base, as mxsyncd checks.
	 */
	if (!full && !s->force_full && sync_base(s) != NULL &&
	    b->lb->serial != 0 &&
	    memcmp(b->lb->hash, s->base_hash, STATE_HASH_LEN) == 0)
		delta = 1;
	/* a full body is the canonical text: its size is known unbuilt */
	if (!delta && state_text_size(s->cur) > b->conf->max_body) {
		err_set(err,
			"the full snapshot is %zu octets, over this backup's "
			"max_body of %llu ([backup %s] max_body in %s, to "
			"match the backup's mxsyncd.conf); not sent",
			state_text_size(s->cur),
			(unsigned long long)b->conf->max_body, b->conf->name,
			s->cfg->path);
		return sync_never(s, b, err);
	}
	if ((c = sync_snap(s, delta, b->lb->serial, err)) == NULL)
		return -1;
	snap = &c->snap;
	if (snap->blen > b->conf->max_body) {
		err_set(err,
			"the delta is %zu octets, over this backup's max_body "
			"of %llu ([backup %s] max_body in %s, to match the "
			"backup's mxsyncd.conf); not sent",
			snap->blen, (unsigned long long)b->conf->max_body,
			b->conf->name, s->cfg->path);
		return sync_never(s, b, err);
	}
	if (push_start(s->pusher, b->conf, snap, c->body, b, err) == NULL)
		return -1;
	sync_inflight(s, b, 1);
	b->sent_serial = s->cur_serial;
	memcpy(b->sent_hash, snap->m.state_hash, STATE_HASH_LEN);
	b->sent_kind = snap->m.kind;
	return 0;
}

static void sync_backoff(struct sync_backup *b, long retry_after)
{
	if (b->backoff_ms == 0)
		b->backoff_ms = SYNC_BACKOFF_MIN_MS;
	else if ((b->backoff_ms *= 2) > SYNC_BACKOFF_MAX_MS)
		b->backoff_ms = SYNC_BACKOFF_MAX_MS;
	b->next_try_ms = sync_now_ms() + (int64_t)b->backoff_ms;
	if (retry_after > 0 && retry_after <= 3600 &&
	    b->next_try_ms < sync_now_ms() + retry_after * 1000)
		b->next_try_ms = sync_now_ms() + retry_after * 1000;
}

/*
 * sync_check_ok - a 200 must name exactly the serial and state hash sent;
 * anything else is a failure of that backup (PUSH_REFUSED, with why)
 */
static int sync_check_ok(const struct sync_backup *b, struct push_result *res)
{
	char want[2 * STATE_HASH_LEN + 1], got[2 * STATE_HASH_LEN + 1];

	if (res->serial == b->sent_serial && res->have_hash &&
	    memcmp(res->hash, b->sent_hash, STATE_HASH_LEN) == 0)
		return 0;
	manifest_hex(b->sent_hash, STATE_HASH_LEN, want);
	if (res->have_hash)
		manifest_hex(res->hash, STATE_HASH_LEN, got);
	else
		snprintf(got, sizeof(got), "none");
	snprintf(res->msg, sizeof(res->msg),
		 "answered 200 with serial %llu "
		 "and state hash %.16s, not serial %llu and state hash %.16s "
		 "as sent; not counted as acknowledged",
		 (unsigned long long)res->serial, got,
		 (unsigned long long)b->sent_serial, want);
	res->kind = PUSH_REFUSED;
	return -1;
}

/*
 * sync_held_serial - the serial of the manifest a 409 carries, believed
 * only when the agent's own key signed it for this origin and it is not
 * far ahead of the clock
 */
static int sync_held_serial(const struct sync *s, const struct push_result *res,
			    uint64_t *serial_r, struct err *err)
{
	unsigned char pk[KEY_PUBLIC_LEN];
	struct manifest m;
	struct err e;
	uint64_t now = (uint64_t)time(NULL);

	if (!res->have_held)
		return err_set(err,
			       "the backup claims serial %llu without its "
			       "signed manifest; not believed",
			       (unsigned long long)res->serial);
	key_secret_public(s->sk, pk);
	if (key_verify(pk, res->held, res->held_len, res->held_sig, &e) < 0)
		return err_set(err,
			       "the manifest the backup holds is not "
			       "signed by our key %s; serial not believed",
			       key_secret_id(s->sk));
	if (manifest_decode(&m, res->held, res->held_len, &e) < 0)
		return err_set(err, "the manifest the backup holds: %s", e.msg);
	if (strcmp(m.origin, s->cfg->origin) != 0)
		return err_set(err,
			       "the manifest the backup holds is for "
			       "origin %s",
			       m.origin);
	if (m.serial > now + LEDGER_SERIAL_AHEAD)
		return err_set(err,
			       "the backup holds serial %llu, more than "
			       "%d s ahead of the clock; not followed",
			       (unsigned long long)m.serial,
			       LEDGER_SERIAL_AHEAD);
	*serial_r = m.serial;
	return 0;
}

long sync_finish(struct sync *s, struct push_result *res)
{
	struct sync_backup *b;
	struct err err;
	long i;
	int k;

	b = push_done(s->pusher, res);
	if (b == NULL)
		return -1;
	i = b - s->b;
	sync_inflight(s, b, 0);
	b->pushes++;
	b->bytes += res->bytes;
	b->have_result = 1;
	b->last_kind = res->kind;
	if (res->kind == PUSH_OK)
		(void)sync_check_ok(b, res);
	switch (res->kind) {
	case PUSH_OK:
		log_info("backup %s: serial %llu acknowledged (%s, %llu body "
			 "bytes, %.3f s)",
			 b->conf->name, (unsigned long long)b->sent_serial,
			 b->sent_kind == MANIFEST_DELTA ? "delta" : "full",
			 (unsigned long long)res->bytes, res->seconds);
		b->lb->serial = b->sent_serial;
		memcpy(b->lb->hash, b->sent_hash, STATE_HASH_LEN);
		b->lb->acked = (int64_t)time(NULL);
		b->lb->error[0] = '\0';
		b->backoff_ms = 0;
		b->next_try_ms = 0;
		b->bumped = 0;
		/*
		 * The acknowledged state becomes the base for later deltas,
		 * in memory now; state_dir gets it from sync_save_base().
		 */
		if (s->cur != NULL &&
		    (s->base_serial != b->lb->serial || s->base != s->cur) &&
		    memcmp(b->lb->hash, s->cur_hash, STATE_HASH_LEN) == 0) {
			if (s->base_serial != b->lb->serial)
				sync_note_step(s, b->lb->serial);
			if (s->base != s->cur)
				state_free(s->base);
			s->base = s->cur;
			s->base_serial = b->lb->serial;
			memcpy(s->base_hash, s->cur_hash, STATE_HASH_LEN);
			s->base_tried = 1;
			s->base_since_ms = sync_now_ms();
		}
		sync_ledger_note(s);
		return i;
	case PUSH_CONFLICT:
		if (b->sent_kind == MANIFEST_DELTA) {
			log_info(
			    "backup %s: delta refused (%s); sending a full "
			    "snapshot",
			    b->conf->name, res->msg);
			if ((k = sync_start(s, (size_t)i, 1, &err)) == 0)
				return -2;
			snprintf(res->msg, sizeof(res->msg), "%s", err.msg);
			res->kind =
			    k == SYNC_NEVER ? PUSH_REFUSED : PUSH_UNREACHABLE;
			break;
		}
		if (!b->bumped) {
			uint64_t held = 0;

			if (sync_held_serial(s, res, &held, &err) < 0) {
				memcpy(res->msg, err.msg, sizeof(res->msg));
				res->msg[sizeof(res->msg) - 1] = '\0';
				res->kind = PUSH_REFUSED;
				break;
			}
			if (held >= b->sent_serial) {
				log_info("backup %s: holds serial %llu signed "
					 "by our key, above ours; sending a "
					 "higher serial",
					 b->conf->name,
					 (unsigned long long)held);
				b->bumped = 1;
				k = ledger_next_serial(s->ledger, held,
						       &s->cur_serial, &err);
				if (k == 0 && (k = sync_start(s, (size_t)i, 1,
							      &err)) == 0)
					return -2;
				snprintf(res->msg, sizeof(res->msg), "%s",
					 err.msg);
				res->kind = k == SYNC_NEVER ? PUSH_REFUSED
							    : PUSH_UNREACHABLE;
				break;
			}
		}
		res->kind = PUSH_REFUSED;
		break;
	case PUSH_REFUSED:
		/*
		 * 413, or any refusal the backup calls "too_large" (its maps
		 * over the CDB limit: 422): the same state stays too large,
		 * so it is not sent again (a new state, or a reload after
		 * max_body was raised, lifts this).
		 */
		if (res->status == 413 ||
		    strcmp(res->reason, "too_large") == 0) {
			b->refused = 1;
			memcpy(b->refused_hash, b->sent_hash, STATE_HASH_LEN);
		}
		break;
	default:
		break;
	}
	b->last_kind = res->kind;
	log_warning("backup %s: serial %llu %s: %s", b->conf->name,
		    (unsigned long long)b->sent_serial,
		    push_kind_name(res->kind), res->msg);
	snprintf(b->lb->error, sizeof(b->lb->error), "%s: %s",
		 push_kind_name(res->kind), res->msg);
	b->lb->error_time = (int64_t)time(NULL);
	sync_ledger_note(s);
	sync_backoff(b, res->retry_after);
	return i;
}
