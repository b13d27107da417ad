/*
 * verify - every check a snapshot must pass before it may be installed
 *
 * Security: nothing from the request is trusted before the signature over
 * the manifest verified with a key from the trusted-keys file; the body is
 * bound to the manifest only through body_hash and state_hash, both checked
 * here, the body hash before the body is parsed.  Messages name keys,
 * origins, serials and domains, never recipients other than the configured
 * canaries.
 *
 * One file over 600 lines on purpose: the checks are one sequence (headers,
 * manifest and signature, horizon, delimiter, body hash, parse, guards,
 * routes, shrink window), and kept together they can be read, and audited,
 * in the order a push meets them.
 */
#include <inttypes.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../formats/cdblimit.h"
#include "../formats/cdbw.h"
#include "../formats/delta.h"
#include "../formats/lookup.h"
#include "../formats/norm.h"
#include "../keys/key.h"
#include "verify.h"

int verify_refuse(struct verdict *v, int status, const char *reason,
		  const char *fmt, ...)
{
	va_list ap;

	v->status = status;
	v->reason = reason;
	va_start(ap, fmt);
	vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* verify_time - ISO 8601 UTC text of t */
static const char *verify_time(int64_t t, char *buf, size_t size)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%" PRId64, t);
	return buf;
}

void verify_push_clear(struct push *p)
{
	free(p->manifest);
	memset(p, 0, sizeof(*p));
}

int verify_headers(struct syncd *sd, const char *manifest_b64,
		   const char *sig_b64, struct push *p, struct verdict *v)
{
	unsigned char *json = NULL, *sig = NULL;
	size_t jlen = 0, slen = 0;
	struct err err;
	int rc = -1;

	if (manifest_b64 == NULL || sig_b64 == NULL) {
		verify_refuse(v, 400, "malformed", "missing header %s",
			      manifest_b64 == NULL ? SNAPSHOT_HDR_MANIFEST
						   : SNAPSHOT_HDR_SIGNATURE);
		goto out;
	}
	if (strlen(manifest_b64) > 2 * MANIFEST_MAX) {
		verify_refuse(v, 400, "malformed", "manifest too long");
		goto out;
	}
	json = snapshot_unb64(manifest_b64, strlen(manifest_b64), &jlen, &err);
	if (json == NULL) {
		verify_refuse(v, 400, "malformed", "header %s: %s",
			      SNAPSHOT_HDR_MANIFEST, err.msg);
		goto out;
	}
	sig = snapshot_unb64(sig_b64, strlen(sig_b64), &slen, &err);
	if (sig == NULL || slen != SNAPSHOT_SIG_LEN) {
		verify_refuse(v, 400, "malformed", "header %s: %s",
			      SNAPSHOT_HDR_SIGNATURE,
			      sig == NULL ? err.msg : "not 64 bytes");
		goto out;
	}
	rc = verify_manifest(sd, (const char *)json, jlen, sig, p, v);
out:
	free(json);
	free(sig);
	return rc;
}

/*
 * verify_delimiter - the backup's Postfix has one recipient_delimiter: the
 * one syncd.conf sets or, when it sets none, the one the origins already
 * served sent.  A manifest with another set of characters is refused.
 */
static int verify_delimiter(struct syncd *sd, const struct push *p,
			    struct verdict *v)
{
	char mine[LOOKUP_DELIM_MAX + 1] = "", other[MANIFEST_ORIGIN_MAX + 1];
	const struct store_origin *o;
	int set, found = 0;
	size_t i;

	pthread_mutex_lock(&sd->facts_lock);
	set = sd->cfg->delimiter_set;
	snprintf(mine, sizeof(mine), "%s", sd->cfg->recipient_delimiter);
	for (i = 0; !set && !found && i < sd->store->n; i++) {
		o = sd->store->o[i];
		if (strcmp(o->m.origin, p->m.origin) != 0 &&
		    !lookup_delimiter_same(o->m.recipient_delimiter,
					   p->m.recipient_delimiter)) {
			snprintf(mine, sizeof(mine), "%s",
				 o->m.recipient_delimiter);
			snprintf(other, sizeof(other), "%s", o->m.origin);
			found = 1;
		}
	}
	pthread_mutex_unlock(&sd->facts_lock);
	if (set && !lookup_delimiter_same(mine, p->m.recipient_delimiter))
		return verify_refuse(v, 422, "delimiter",
				     "recipient_delimiter '%s' of origin %s "
				     "differs from this backup's '%s' "
				     "(syncd.conf recipient_delimiter): its "
				     "Postfix would split addresses otherwise",
				     p->m.recipient_delimiter, p->m.origin,
				     mine);
	if (found)
		return verify_refuse(v, 422, "delimiter",
				     "recipient_delimiter '%s' of origin %s "
				     "differs from '%s' of origin %s, which "
				     "this backup serves: its Postfix has one "
				     "recipient_delimiter (set it in "
				     "syncd.conf)",
				     p->m.recipient_delimiter, p->m.origin,
				     mine, other);
	return 0;
}

/*
 * verify_horizon - how far ahead a manifest may reach: its expiry at most
 * max_expire after now, its serial at most max_serial_ahead above now
 * (serials are minted as max(previous + 1, unix time), see
 * agent/ledger.h), so that no key, leaked or not, can sign the end of the
 * serial space or a state that never expires
 */
static int verify_horizon(const struct push *p, time_t now, uint64_t horizon_s,
			  uint64_t ahead_s, struct verdict *v)
{
	char tbuf[64];

	if (p->m.expires > (int64_t)now + (int64_t)horizon_s)
		return verify_refuse(
		    v, 403, "expiry",
		    "manifest expires at %s, beyond max_expire "
		    "(%" PRIu64 "s from now)",
		    verify_time(p->m.expires, tbuf, sizeof(tbuf)), horizon_s);
	if (p->m.serial > (uint64_t)now + ahead_s)
		return verify_refuse(v, 403, "serial_ahead",
				     "serial %" PRIu64 " is more than "
				     "max_serial_ahead (%" PRIu64 "s) ahead of "
				     "this backup's clock (%" PRIu64 ")",
				     p->m.serial, ahead_s, (uint64_t)now);
	return 0;
}

int verify_held(struct syncd *sd, const char *origin, char **manifest_b64_r,
		char **sig_b64_r)
{
	const struct store_origin *cur;
	char *m64 = NULL, *s64 = NULL;

	*manifest_b64_r = *sig_b64_r = NULL;
	pthread_mutex_lock(&sd->facts_lock);
	cur = origin != NULL ? store_find(sd->store, origin) : NULL;
	if (cur != NULL) {
		m64 = snapshot_b64(cur->manifest, cur->manifest_len);
		s64 = snapshot_b64(cur->sig, SNAPSHOT_SIG_LEN);
	}
	pthread_mutex_unlock(&sd->facts_lock);
	if (m64 == NULL || s64 == NULL) {
		free(m64);
		free(s64);
		return -1;
	}
	*manifest_b64_r = m64;
	*sig_b64_r = s64;
	return 0;
}

int verify_manifest(struct syncd *sd, const char *json, size_t len,
		    const unsigned char sig[SNAPSHOT_SIG_LEN], struct push *p,
		    struct verdict *v)
{
	const struct store_origin *cur;
	const struct trust_key *k;
	struct trust *trust;
	uint64_t cur_serial = 0, max_body, skew_s, horizon_s, ahead_s, limit;
	unsigned char cur_hash[STATE_HASH_LEN];
	char hex[2 * STATE_HASH_LEN + 1], tbuf[64], path[4096];
	unsigned shards;
	int have_cur = 0;
	struct err err;
	time_t now = time(NULL);

	memset(p, 0, sizeof(*p));
	v->serial = 0;
	if (manifest_decode(&p->m, json, len, &err) < 0)
		return verify_refuse(v, 400, "malformed",
				     "malformed manifest: %s", err.msg);

	pthread_mutex_lock(&sd->facts_lock);
	trust = sd->trust;
	max_body = sd->cfg->max_body;
	skew_s = sd->cfg->clock_skew_ms / 1000;
	horizon_s = sd->cfg->max_expire_ms / 1000;
	ahead_s = sd->cfg->max_serial_ahead_ms / 1000;
	shards = (unsigned)sd->cfg->recipient_shards;
	limit = sd->cfg->max_map_size < CDBW_LIMIT ? sd->cfg->max_map_size
						   : CDBW_LIMIT;
	snprintf(path, sizeof(path), "%s/%s.cdb", sd->cfg->maps_dir,
		 CDBW_RELAY_RECIPIENTS);
	cur = store_find(sd->store, p->m.origin);
	if (cur != NULL) {
		have_cur = 1;
		cur_serial = cur->m.serial;
		memcpy(cur_hash, cur->m.state_hash, sizeof(cur_hash));
	}
	pthread_mutex_unlock(&sd->facts_lock);
	v->serial = cur_serial;

	k = trust_find(trust, p->m.key_id);
	if (k == NULL)
		return verify_refuse(v, 403, "unknown_key", "unknown key id %s",
				     p->m.key_id);
	if (key_verify(k->pk, json, len, sig, &err) < 0)
		return verify_refuse(v, 403, "bad_signature",
				     "bad signature (key id %s)", p->m.key_id);
	if (strcmp(k->origin, p->m.origin) != 0)
		return verify_refuse(v, 403, "origin",
				     "origin %s is not trusted for key id %s "
				     "(its origin is %s)",
				     p->m.origin, p->m.key_id, k->origin);
	if (p->m.serial <= cur_serial)
		return verify_refuse(v, 409, "serial",
				     "serial %" PRIu64 " is not above the "
				     "current serial %" PRIu64,
				     p->m.serial, cur_serial);
	if (p->m.expires <= (int64_t)now)
		return verify_refuse(
		    v, 403, "expired", "manifest expired at %s",
		    verify_time(p->m.expires, tbuf, sizeof(tbuf)));
	if (p->m.created > (int64_t)now + (int64_t)skew_s)
		return verify_refuse(
		    v, 403, "future",
		    "manifest created at %s is in the future "
		    "(clock_skew %" PRIu64 "s)",
		    verify_time(p->m.created, tbuf, sizeof(tbuf)), skew_s);
	if (verify_delimiter(sd, p, v) < 0)
		return -1;
	if (verify_horizon(p, now, horizon_s, ahead_s, v) < 0)
		return -1;
	if (p->m.body_size > max_body)
		return verify_refuse(v, 413, "too_large",
				     "body of %" PRIu64 " bytes exceeds "
				     "max_body %" PRIu64,
				     p->m.body_size, max_body);
	/*
	 * What the declared figures alone prove never fits is refused before
	 * the body is read (a permanent refusal: resending cannot help).
	 * While the single relay_recipients map of the migration is still
	 * built beside the shards, it is the one that must fit.
	 */
	if (p->m.kind == MANIFEST_FULL && p->m.body_size > STATE_TEXT_MAX)
		return verify_refuse(v, 413, "too_large",
				     "body of %" PRIu64 " bytes exceeds the "
				     "%" PRIu64 " bytes a state may hold",
				     p->m.body_size, STATE_TEXT_MAX);
	if (shards > 1 && access(path, F_OK) == 0)
		shards = 1;
	if (cdblimit_body(p->m.kind == MANIFEST_FULL, p->m.body_size,
			  p->m.domains, p->m.recipients, shards, limit,
			  &err) < 0)
		return verify_refuse(v, 422, "too_large",
				     "maps would not fit: %s", err.msg);
	if (p->m.kind == MANIFEST_DELTA &&
	    (!have_cur || p->m.base_serial != cur_serial ||
	     memcmp(p->m.base_hash, cur_hash, STATE_HASH_LEN) != 0)) {
		manifest_hex(p->m.base_hash, STATE_HASH_LEN, hex);
		return verify_refuse(v, 409, "delta_base",
				     "delta base serial %" PRIu64
				     " (hash %.16s) "
				     "unknown: current serial %" PRIu64,
				     p->m.base_serial, hex, cur_serial);
	}
	p->manifest = malloc(len + 1);
	if (p->manifest == NULL)
		return verify_refuse(v, 503, "internal", "out of memory");
	memcpy(p->manifest, json, len);
	p->manifest[len] = '\0';
	p->manifest_len = len;
	memcpy(p->sig, sig, SNAPSHOT_SIG_LEN);
	p->key = k;
	return 0;
}

/*
 * verify_removed - how many recipients of old are absent from new: one
 * merge of the two sorted recipient lists (both states are canonical),
 * sequential in both arenas.
 */
static size_t verify_removed(const struct state *old, const struct state *new)
{
	size_t i = 0, j = 0, no = state_recipient_count(old),
	       nn = state_recipient_count(new), removed = 0, alen, blen;
	const char *a, *b;
	int c;

	while (i < no && j < nn) {
		state_recipient(old, i, &a, &alen);
		state_recipient(new, j, &b, &blen);
		c = memcmp(a, b, alen < blen ? alen : blen);
		if (c == 0)
			c = alen < blen ? -1 : alen > blen;
		if (c == 0) {
			i++;
			j++;
		} else if (c < 0) {
			removed++;
			i++;
		} else
			j++;
	}
	return removed + (no - i);
}

/*
 * verify_delta_removed - how many recipients a delta that delta_apply()
 * accepted removes: its "-R" lines, less those whose key a "+R" line adds
 * back right after (every removal was found in the base, and the lines are
 * strictly ordered), so O(delta) instead of a merge of both states
 */
static size_t verify_delta_removed(const char *d, size_t len)
{
	const char *p = d, *end = d + len, *nl, *q, *qnl;
	size_t removed = 0;

	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			break;
		if (nl - p < 3 || p[0] != '-' || p[1] != 'R')
			continue;
		q = nl + 1;
		qnl = q < end ? memchr(q, '\n', (size_t)(end - q)) : NULL;
		if (qnl != NULL && qnl - q == nl - p && q[0] == '+' &&
		    memcmp(q + 1, p + 1, (size_t)(nl - p) - 1) == 0)
			continue;
		removed++;
	}
	return removed;
}

/*
 * verify_guards - max_shrink and canaries against the current state;
 * removed is the count of old's recipients that new lacks, or SIZE_MAX to
 * have it counted
 */
static int verify_guards(struct syncd *sd, const struct push *p,
			 const struct state *old, const struct state *new,
			 size_t removed, struct verdict *v)
{
	const struct syncd_config *cfg;
	size_t i, n;
	int known, a_old, a_new;
	double pct;
	struct err err;

	pthread_mutex_lock(&sd->facts_lock);
	cfg = sd->cfg;
	pthread_mutex_unlock(&sd->facts_lock);
	if (old == NULL || p->m.allow_shrink)
		return 0;
	n = state_recipient_count(old);
	if (n > 0) {
		if (removed == SIZE_MAX)
			removed = verify_removed(old, new);
		pct = 100.0 * (double)removed / (double)n;
		if (removed > 0 && pct > cfg->max_shrink)
			return verify_refuse(
			    v, 422, "shrink",
			    "would remove %.3g%% of recipients "
			    "(%zu of %zu; max_shrink %.3g%%)",
			    pct, removed, n, cfg->max_shrink);
	}
	for (i = 0; i < cfg->ncanaries; i++) {
		/* as the backup's Postfix will, with the delimiter in force */
		a_old = lookup_accepts(old, cfg->canaries[i],
				       p->m.recipient_delimiter, &known, NULL,
				       0, &err);
		a_new = lookup_accepts(new, cfg->canaries[i],
				       p->m.recipient_delimiter, &known, NULL,
				       0, &err);
		if (a_old == 1 && a_new != 1)
			return verify_refuse(v, 422, "canary",
					     "canary %s would disappear",
					     cfg->canaries[i]);
	}
	return 0;
}

/*
 * verify_routes - what a key may never choose, whatever its scope: a
 * domain of deny_domains (the backup's own names), a domain another
 * origin's key lists by name (a "*" key gets only what no other origin
 * is trusted for), a transport outside transports or a malformed nexthop
 */
static int verify_routes_with(const struct syncd_config *cfg,
			      const struct trust *trust, const char *origin,
			      const struct state *st, struct verdict *v)
{
	const char *d, *nh, *owner;
	size_t i, j, dlen, nlen;
	struct err err;

	for (i = 0; i < state_domain_count(st); i++) {
		state_domain(st, i, &d, &dlen, &nh, &nlen);
		for (j = 0; j < cfg->ndeny_domains; j++)
			if (strlen(cfg->deny_domains[j]) == dlen &&
			    memcmp(cfg->deny_domains[j], d, dlen) == 0)
				return verify_refuse(v, 403, "denied",
						     "domain %.*s is in "
						     "deny_domains of this "
						     "backup",
						     (int)dlen, d);
		owner = trust_owner(trust, d, dlen);
		if (owner != NULL && strcmp(owner, origin) != 0)
			return verify_refuse(v, 403, "owned",
					     "domain %.*s is trusted to origin "
					     "%s",
					     (int)dlen, d, owner);
		if (norm_route(nh, nlen, cfg->transports, &err) < 0)
			return verify_refuse(v, 403, "transport",
					     "domain %.*s: %s", (int)dlen, d,
					     err.msg);
	}
	return 0;
}

static int verify_routes(struct syncd *sd, const struct push *p,
			 const struct state *st, struct verdict *v)
{
	const struct syncd_config *cfg;
	const struct trust *trust;

	pthread_mutex_lock(&sd->facts_lock);
	cfg = sd->cfg;
	trust = sd->trust;
	pthread_mutex_unlock(&sd->facts_lock);
	return verify_routes_with(cfg, trust, p->m.origin, st, v);
}

int verify_stored(const struct syncd_config *cfg, const struct trust *trust,
		  const struct store *s, const struct store_origin *o,
		  struct verdict *v)
{
	const struct store_origin *other;
	const struct trust_key *k;
	const char *d, *nh;
	size_t i, dlen, nlen;
	struct err err;

	k = trust_find(trust, o->m.key_id);
	if (k == NULL)
		return verify_refuse(v, 403, "unknown_key",
				     "key id %s is not "
				     "in the trusted keys",
				     o->m.key_id);
	if (key_verify(k->pk, o->manifest, o->manifest_len, o->sig, &err) < 0)
		return verify_refuse(v, 403, "bad_signature",
				     "bad signature (key id %s)", o->m.key_id);
	if (strcmp(k->origin, o->m.origin) != 0)
		return verify_refuse(v, 403, "origin",
				     "key id %s is trusted "
				     "for origin %s, not %s",
				     o->m.key_id, k->origin, o->m.origin);
	for (i = 0; i < state_domain_count(o->st); i++) {
		state_domain(o->st, i, &d, &dlen, &nh, &nlen);
		if (!trust_allows(k, d, dlen))
			return verify_refuse(v, 403, "scope",
					     "domain %.*s is outside the scope "
					     "of key id %s",
					     (int)dlen, d, o->m.key_id);
	}
	if (verify_routes_with(cfg, trust, o->m.origin, o->st, v) < 0)
		return -1;
	for (i = 0; i < state_domain_count(o->st); i++) {
		state_domain(o->st, i, &d, &dlen, &nh, &nlen);
		other = store_owner(s, d, dlen, o->m.origin);
		if (other != NULL)
			return verify_refuse(v, 403, "overlap",
					     "domain %.*s is also held by "
					     "origin %s",
					     (int)dlen, d, other->m.origin);
	}
	return 0;
}

/*
 * verify_shrink_window - max_shrink over shrink_window: the new count
 * against the highest count the origin had within the window (its stored
 * state's, or an earlier one from state_dir/origin-X.window), so that
 * repeated small shrinks cannot drain an origin either
 */
static int verify_shrink_window(struct syncd *sd, const struct push *p,
				const struct state *old,
				const struct state *new, struct verdict *v)
{
	const struct syncd_config *cfg;
	struct store_window w;
	struct err err;
	uint64_t high, n = state_recipient_count(new);
	int64_t now = (int64_t)time(NULL), span;
	double pct;

	pthread_mutex_lock(&sd->facts_lock);
	cfg = sd->cfg;
	pthread_mutex_unlock(&sd->facts_lock);
	span = (int64_t)(cfg->shrink_window_ms / 1000);
	if (old == NULL || p->m.allow_shrink || span == 0)
		return 0;
	if (store_window_read(cfg->state_dir, p->m.origin, &w, &err) < 0)
		return verify_refuse(v, 503, "internal", "%s", err.msg);
	high = store_window_high(&w, now, span);
	if (high < state_recipient_count(old))
		high = state_recipient_count(old);
	if (high == 0 || n >= high)
		return 0;
	pct = 100.0 * (double)(high - n) / (double)high;
	if (pct > cfg->max_shrink)
		return verify_refuse(v, 422, "shrink_window",
				     "would leave %" PRIu64 " recipients, "
				     "%.3g%% fewer than the %" PRIu64 " within "
				     "shrink_window (%" PRId64 "s; max_shrink "
				     "%.3g%%)",
				     n, pct, high, span, cfg->max_shrink);
	return 0;
}

int verify_body(struct syncd *sd, const struct push *p, char *body, size_t len,
		struct state **st_r, struct verdict *v)
{
	const struct store_origin *cur, *owner;
	const struct state *old = NULL;
	struct state *st = NULL;
	unsigned char h[STATE_HASH_LEN], bh[STATE_HASH_LEN];
	const char *d, *nh;
	size_t i, dlen, nlen, removed = SIZE_MAX;
	const char *body_d = NULL;
	struct err err;
	int rc = -1, same_domains;

	*st_r = NULL;
	if (len != p->m.body_size) {
		verify_refuse(v, 400, "size",
			      "body is %zu bytes, the manifest "
			      "says %" PRIu64,
			      len, p->m.body_size);
		goto out;
	}
	/* the body is hashed and compared before a byte of it is parsed */
	crypto_generichash(bh, sizeof(bh),
			   (const unsigned char *)(body ? body : ""), len, NULL,
			   0);
	if (sodium_memcmp(bh, p->m.body_hash, STATE_HASH_LEN) != 0) {
		verify_refuse(v, 400, "body_hash", "body hash mismatch");
		goto out;
	}
	/* The install lock is held: the store cannot change under us now. */
	cur = store_find(sd->store, p->m.origin);
	v->serial = cur != NULL ? cur->m.serial : 0;
	if (cur != NULL) {
		old = cur->st;
		if (p->m.serial <= cur->m.serial) {
			verify_refuse(v, 409, "serial",
				      "serial %" PRIu64 " is not above the "
				      "current serial %" PRIu64,
				      p->m.serial, cur->m.serial);
			goto out;
		}
	}
	if (p->m.kind == MANIFEST_DELTA) {
		if (cur == NULL || p->m.base_serial != cur->m.serial ||
		    memcmp(p->m.base_hash, cur->m.state_hash, STATE_HASH_LEN) !=
			0) {
			verify_refuse(v, 409, "delta_base",
				      "delta base serial %" PRIu64
				      " unknown: current serial %" PRIu64,
				      p->m.base_serial, v->serial);
			goto out;
		}
		/*
		 * The base is the stored state: it hashed to cur's signed
		 * state_hash when it was loaded or installed and is never
		 * modified, and p's base_hash was compared with that hash
		 * just above, so it is not hashed again (NULL).  The result
		 * is hashed and must be p's signed state_hash, which also
		 * catches any base that is not what was signed.
		 */
		st = delta_apply_version(cur->st, NULL, body ? body : "", len,
					 p->m.state_hash, p->m.version,
					 DELTA_LINES, &err);
		if (st == NULL) {
			verify_refuse(v, 409, "delta", "delta refused: %s",
				      err.msg);
			goto out;
		}
		removed = verify_delta_removed(body ? body : "", len);
		body_d = body;
	} else {
		if (body == NULL)
			st = state_parse("", 0, &err);
		else {
			st = state_parse_owned(body, len, &err);
			body = NULL;
		}
		if (st == NULL) {
			verify_refuse(v, 400, "malformed",
				      "malformed state: %s", err.msg);
			goto out;
		}
	}
	/*
	 * The new state is hashed once.  A delta's result was checked against
	 * the signed state_hash by delta_apply(), in O(change) when its base
	 * keeps its hash leaves.  A full state gets its leaves here, so that
	 * the deltas after it cost O(change) too.  (In version 1 the state
	 * hash was the body hash: a full body that parsed is the canonical
	 * text byte for byte.)
	 */
	if (p->m.kind == MANIFEST_DELTA)
		memcpy(h, p->m.state_hash, STATE_HASH_LEN);
	else if (p->m.version == STATE_HASH_V1 && state_text_size(st) == len)
		memcpy(h, bh, STATE_HASH_LEN);
	else {
		if (p->m.version != STATE_HASH_V1 &&
		    state_hash_prepare(st) < 0) {
			verify_refuse(v, 503, "internal", "out of memory");
			goto out;
		}
		state_hash_version(st, p->m.version, h);
	}
	if (memcmp(h, p->m.state_hash, STATE_HASH_LEN) != 0) {
		verify_refuse(v, 400, "state_hash", "state hash mismatch");
		goto out;
	}
	if (state_domain_count(st) != p->m.domains ||
	    state_recipient_count(st) != p->m.recipients) {
		verify_refuse(v, 400, "counts",
			      "state has %zu domains and %zu recipients, the "
			      "manifest says %" PRIu64 " and %" PRIu64,
			      state_domain_count(st), state_recipient_count(st),
			      p->m.domains, p->m.recipients);
		goto out;
	}
	/*
	 * A delta without domain lines, signed with the key of the base: the
	 * domain set is the base's, which passed these checks under that key
	 * when it was installed and again at each reload (apply_revet), so
	 * they are not repeated per domain.
	 */
	same_domains = p->m.kind == MANIFEST_DELTA && cur != NULL &&
		       strcmp(p->m.key_id, cur->m.key_id) == 0 &&
		       !(len >= 2 && body_d != NULL && body_d[1] == 'D');
	for (i = 0; !same_domains && i < state_domain_count(st); i++) {
		state_domain(st, i, &d, &dlen, &nh, &nlen);
		if (!trust_allows(p->key, d, dlen)) {
			verify_refuse(v, 403, "scope",
				      "domain %.*s is outside the scope of key "
				      "id %s",
				      (int)dlen, d, p->m.key_id);
			goto out;
		}
		owner = store_owner(sd->store, d, dlen, p->m.origin);
		if (owner != NULL) {
			verify_refuse(v, 403, "owned",
				      "domain %.*s is owned by origin %s",
				      (int)dlen, d, owner->m.origin);
			goto out;
		}
	}
	if (!same_domains && verify_routes(sd, p, st, v) < 0)
		goto out;
	if (verify_guards(sd, p, old, st, removed, v) < 0 ||
	    verify_shrink_window(sd, p, old, st, v) < 0)
		goto out;
	*st_r = st;
	st = NULL;
	rc = 0;
out:
	state_free(st);
	free(body);
	return rc;
}
