/*
 * store - the verified state of every origin, in memory and in state_dir
 *
 * Fails with "what(path): reason"; with store_load() a stored file that does
 * not verify stops the load, with store_load_all() it is reported for
 * quarantine, since it can only be damage or tampering (files are written
 * atomically).  Security: a stored file is trusted only after its state
 * hashes to the signed state_hash; whether its key still vouches for it is
 * apply_store_vet()'s question.
 */
#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../formats/atomic.h"
#include "../keys/key.h"
#include "journal.h"
#include "store.h"

#define STORE_PREFIX "origin-"
#define STORE_SUFFIX ".snap"
#define STORE_QUARANTINE ".snap.quarantined."

struct store_origin *store_origin_new(const struct manifest *m,
				      const char *json, size_t len,
				      const unsigned char *sig,
				      struct state *st, struct err *err)
{
	struct store_origin *o;

	o = calloc(1, sizeof(*o));
	if (o == NULL || (o->manifest = malloc(len + 1)) == NULL) {
		free(o);
		err_sys(err, "malloc");
		return NULL;
	}
	memcpy(o->manifest, json, len);
	o->manifest[len] = '\0';
	o->manifest_len = len;
	o->m = *m;
	memcpy(o->sig, sig, SNAPSHOT_SIG_LEN);
	o->st = st;
	return o;
}

void store_origin_free(struct store_origin *o)
{
	if (o == NULL)
		return;
	state_free(o->st);
	free(o->sel);
	free(o->manifest);
	free(o);
}

/* store_cmp - order entries by origin name */
static int store_cmp(const void *a, const void *b)
{
	const struct store_origin *const *x = a, *const *y = b;

	return strcmp((*x)->m.origin, (*y)->m.origin);
}

/* store_load_one - read, parse and verify one stored origin file */
static struct store_origin *store_load_one(const char *path, const char *name,
					   const struct trust *trust,
					   struct err *err)
{
	struct snapshot snap = {0};
	struct manifest m;
	struct state *st = NULL;
	struct store_origin *o = NULL;
	const struct trust_key *k;
	unsigned char h[STATE_HASH_LEN];

	if (snapshot_read(path, (size_t)-1 / 2, &snap, err) < 0)
		goto out;
	if (manifest_decode(&m, snap.manifest, snap.manifest_len, err) < 0) {
		err_prefix(err, "%s", path);
		goto out;
	}
	if (strcmp(m.origin, name) != 0) {
		err_set(err, "%s: holds origin %s", path, m.origin);
		goto out;
	}
	k = trust != NULL ? trust_find(trust, m.key_id) : NULL;
	if (k != NULL && key_verify(k->pk, snap.manifest, snap.manifest_len,
				    snap.sig, err) < 0) {
		err_prefix(err, "%s: bad signature", path);
		goto out;
	}
	/*
	 * Version 1: the body is hashed before it is parsed (a full body is
	 * its state's canonical text, so its hash was the state hash).  Later
	 * versions hash the parsed state, keeping its hash leaves for the
	 * deltas that follow (state.h).
	 */
	if (m.version == STATE_HASH_V1) {
		crypto_generichash(
		    h, sizeof(h),
		    (const unsigned char *)(snap.body ? snap.body : ""),
		    snap.body_len, NULL, 0);
		if (memcmp(h, m.state_hash, sizeof(h)) != 0) {
			err_set(err, "%s: state does not match its signed hash",
				path);
			goto out;
		}
	}
	if (snap.body == NULL) {
		st = state_parse("", 0, err);
	} else {
		st = state_parse_owned(snap.body, snap.body_len, err);
		snap.body = NULL;
	}
	if (st == NULL) {
		err_prefix(err, "%s", path);
		goto out;
	}
	if (m.version != STATE_HASH_V1) {
		if (state_hash_prepare(st) < 0) {
			err_set(err, "%s: out of memory", path);
			goto out;
		}
		state_hash(st, h);
	}
	if ((m.version != STATE_HASH_V1 &&
	     memcmp(h, m.state_hash, sizeof(h)) != 0) ||
	    state_domain_count(st) != m.domains ||
	    state_recipient_count(st) != m.recipients) {
		err_set(err, "%s: state does not match its signed hash", path);
		goto out;
	}
	o = store_origin_new(&m, snap.manifest, snap.manifest_len, snap.sig, st,
			     err);
	if (o != NULL)
		st = NULL;
out:
	state_free(st);
	snapshot_clear(&snap);
	return o;
}

struct store *store_load(const char *dir, const struct trust *trust,
			 struct err *err)
{
	return store_load_all(dir, trust, NULL, err);
}

int store_bads_add(struct store_bads *b, const char *name, const char *origin,
		   const char *reason, const char *msg)
{
	struct store_bad *v, *e;

	v = realloc(b->v, (b->n + 1) * sizeof(*v));
	if (v == NULL)
		return -1;
	b->v = v;
	e = &v[b->n++];
	memset(e, 0, sizeof(*e));
	snprintf(e->name, sizeof(e->name), "%s", name);
	snprintf(e->origin, sizeof(e->origin), "%s", origin);
	snprintf(e->reason, sizeof(e->reason), "%s", reason);
	snprintf(e->msg, sizeof(e->msg), "%s", msg);
	return 0;
}

void store_bads_free(struct store_bads *b)
{
	free(b->v);
	b->v = NULL;
	b->n = 0;
}

int store_quarantine(const char *dir, struct store_bad *b, int64_t now,
		     struct err *err)
{
	char from[4096], to[4096], name[sizeof(b->name)];
	int n1, n2, n3;

	n1 = snprintf(from, sizeof(from), "%s/%s", dir, b->name);
	n2 = snprintf(name, sizeof(name),
		      STORE_PREFIX "%s" STORE_QUARANTINE "%s.%" PRId64,
		      b->origin, b->reason, now);
	n3 = snprintf(to, sizeof(to), "%s/%s", dir, name);
	if (n1 < 0 || n2 < 0 || n3 < 0 || (size_t)n1 >= sizeof(from) ||
	    (size_t)n2 >= sizeof(name) || (size_t)n3 >= sizeof(to))
		return err_set(err, "%s/%s: path too long", dir, b->name);
	if (rename(from, to) < 0)
		return err_sys(err, "rename(%s, %s)", from, to);
	/* the deltas after it go aside with it (syncd/journal) */
	if (journal_path(from, sizeof(from), dir, b->origin, err) < 0)
		return -1;
	if (strlen(to) + strlen(JOURNAL_SUFFIX) < sizeof(to)) {
		strcat(to, JOURNAL_SUFFIX);
		if (rename(from, to) < 0 && errno != ENOENT)
			return err_sys(err, "rename(%s, %s)", from, to);
	}
	snprintf(b->name, sizeof(b->name), "%s", name);
	b->since = now;
	return atomic_fsync_dir(to, err);
}

int store_quarantined(const char *dir, struct store_bads *out, struct err *err)
{
	char origin[MANIFEST_ORIGIN_MAX + 1], reason[32];
	const char *q, *r, *dot;
	struct dirent *de;
	size_t plen = strlen(STORE_PREFIX), olen, rlen;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return err_sys(err, "opendir(%s)", dir);
	while ((de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, STORE_PREFIX, plen) != 0 ||
		    (q = strstr(de->d_name + plen, STORE_QUARANTINE)) == NULL)
			continue;
		olen = (size_t)(q - de->d_name - plen);
		r = q + strlen(STORE_QUARANTINE);
		dot = strrchr(r, '.');
		rlen = dot != NULL ? (size_t)(dot - r) : strlen(r);
		if (olen == 0 || olen >= sizeof(origin) ||
		    rlen >= sizeof(reason))
			continue;
		memcpy(origin, de->d_name + plen, olen);
		origin[olen] = '\0';
		memcpy(reason, r, rlen);
		reason[rlen] = '\0';
		if (store_bads_add(out, de->d_name, origin, reason, "") < 0) {
			closedir(d);
			return err_sys(err, "malloc");
		}
		out->v[out->n - 1].since =
		    dot != NULL ? strtoll(dot + 1, NULL, 10) : 0;
	}
	closedir(d);
	return 0;
}

/* store_alloc - an empty store with room for n entries */
static struct store *store_alloc(size_t n, struct err *err)
{
	struct store *ns = calloc(1, sizeof(*ns));

	if (ns == NULL || (ns->o = calloc(n, sizeof(*ns->o))) == NULL) {
		free(ns);
		err_sys(err, "malloc");
		return NULL;
	}
	return ns;
}

struct store *store_without(const struct store *s, const char *origin,
			    struct store_origin **removed_r, struct err *err)
{
	struct store *ns;
	size_t i, n = s != NULL ? s->n : 0;

	*removed_r = NULL;
	if ((ns = store_alloc(n + 1, err)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (*removed_r == NULL &&
		    strcmp(s->o[i]->m.origin, origin) == 0)
			*removed_r = s->o[i];
		else
			ns->o[ns->n++] = s->o[i];
	}
	return ns;
}

/* store_window_path - state_dir/origin-ORIGIN.window */
static int store_window_path(char *buf, size_t size, const char *dir,
			     const char *origin, struct err *err)
{
	int n =
	    snprintf(buf, size, "%s/" STORE_PREFIX "%s.window", dir, origin);

	if (n < 0 || (size_t)n >= size)
		return err_set(err, "%s: path too long", dir);
	return 0;
}

int store_window_read(const char *dir, const char *origin,
		      struct store_window *w, struct err *err)
{
	char path[4096], line[128];
	long long t;
	unsigned long long n;
	FILE *fp;

	w->len = 0;
	if (store_window_path(path, sizeof(path), dir, origin, err) < 0)
		return -1;
	if ((fp = fopen(path, "re")) == NULL)
		return errno == ENOENT ? 0 : err_sys(err, "open(%s)", path);
	while (w->len < STORE_WINDOW_MAX && fgets(line, sizeof(line), fp)) {
		if (sscanf(line, "%lld %llu", &t, &n) != 2)
			continue; /* a damaged line only shortens memory */
		w->t[w->len] = t;
		w->n[w->len] = n;
		w->len++;
	}
	fclose(fp);
	return 0;
}

void store_window_add(struct store_window *w, int64_t t, uint64_t n,
		      int64_t span_s)
{
	size_t i = 0, j;

	while (i < w->len && w->t[i] < t - span_s)
		i++;
	for (j = 0; i < w->len; i++, j++) {
		w->t[j] = w->t[i];
		w->n[j] = w->n[i];
	}
	w->len = j;
	while (w->len > 0 && w->n[w->len - 1] <= n)
		w->len--;
	if (w->len == STORE_WINDOW_MAX) {
		memmove(w->t, w->t + 1, (w->len - 1) * sizeof(*w->t));
		memmove(w->n, w->n + 1, (w->len - 1) * sizeof(*w->n));
		w->len--;
	}
	w->t[w->len] = t;
	w->n[w->len] = n;
	w->len++;
}

uint64_t store_window_high(const struct store_window *w, int64_t t,
			   int64_t span_s)
{
	size_t i;

	for (i = 0; i < w->len; i++)
		if (w->t[i] >= t - span_s)
			return w->n[i]; /* falling: the first is the highest */
	return 0;
}

int store_window_write(const char *dir, const char *origin,
		       const struct store_window *w, struct err *err)
{
	char path[4096], line[64];
	struct atomic_file af = {-1, NULL, NULL};
	size_t i;
	int n;

	if (store_window_path(path, sizeof(path), dir, origin, err) < 0)
		return -1;
	if (w->len <= 1) {
		if (unlink(path) < 0 && errno != ENOENT)
			return err_sys(err, "unlink(%s)", path);
		return 0;
	}
	if (atomic_open(&af, path, 0600, err) < 0)
		return -1;
	for (i = 0; i < w->len; i++) {
		n = snprintf(line, sizeof(line), "%" PRId64 " %" PRIu64 "\n",
			     w->t[i], w->n[i]);
		if (atomic_write(&af, line, (size_t)n, err) < 0) {
			atomic_abort(&af);
			return -1;
		}
	}
	return atomic_commit(&af, err) < 0 ? -1 : 0;
}

int store_forget(const char *dir, const char *origin, size_t *count_r,
		 struct err *err)
{
	struct store_bads q = {NULL, 0};
	char path[4096];
	size_t i;
	int n, rc = -1;

	*count_r = 0;
	n = snprintf(path, sizeof(path), "%s/" STORE_PREFIX "%s" STORE_SUFFIX,
		     dir, origin);
	if (n < 0 || (size_t)n >= sizeof(path))
		return err_set(err, "%s: path too long", dir);
	if (unlink(path) == 0)
		(*count_r)++;
	else if (errno != ENOENT)
		return err_sys(err, "unlink(%s)", path);
	if (store_window_path(path, sizeof(path), dir, origin, err) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return err_sys(err, "unlink(%s)", path);
	if (journal_path(path, sizeof(path), dir, origin, err) < 0)
		return -1;
	if (unlink(path) < 0 && errno != ENOENT)
		return err_sys(err, "unlink(%s)", path);
	if (store_quarantined(dir, &q, err) < 0)
		goto out;
	for (i = 0; i < q.n; i++) {
		if (strcmp(q.v[i].origin, origin) != 0)
			continue;
		n = snprintf(path, sizeof(path), "%s/%s", dir, q.v[i].name);
		if (n < 0 || (size_t)n >= sizeof(path))
			continue;
		if (unlink(path) < 0 && errno != ENOENT) {
			err_sys(err, "unlink(%s)", path);
			goto out;
		}
		(*count_r)++;
	}
	n = snprintf(path, sizeof(path), "%s/.", dir);
	if (*count_r > 0 && atomic_fsync_dir(path, err) < 0)
		goto out;
	rc = 0;
out:
	store_bads_free(&q);
	return rc;
}

struct store *store_load_all(const char *dir, const struct trust *trust,
			     struct store_bads *bads, struct err *err)
{
	struct store *s = NULL, *ret = NULL;
	struct store_origin *o, **v;
	DIR *d = NULL;
	struct dirent *de;
	char path[4096], name[MANIFEST_ORIGIN_MAX + 1];
	size_t len, plen = strlen(STORE_PREFIX), slen = strlen(STORE_SUFFIX);
	int n;

	s = calloc(1, sizeof(*s));
	if (s == NULL) {
		err_sys(err, "malloc");
		goto out;
	}
	d = opendir(dir);
	if (d == NULL) {
		err_sys(err, "opendir(%s)", dir);
		goto out;
	}
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= plen + slen ||
		    strncmp(de->d_name, STORE_PREFIX, plen) != 0 ||
		    strcmp(de->d_name + len - slen, STORE_SUFFIX) != 0)
			continue;
		if (len - plen - slen > MANIFEST_ORIGIN_MAX)
			continue;
		memcpy(name, de->d_name + plen, len - plen - slen);
		name[len - plen - slen] = '\0';
		n = snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(path)) {
			err_set(err, "%s/%s: path too long", dir, de->d_name);
			goto out;
		}
		/* with bads, apply_store_vet() checks the signature, naming why
		 */
		o = store_load_one(path, name, bads != NULL ? NULL : trust,
				   err);
		if (o == NULL && bads != NULL && access(path, R_OK) == 0) {
			/* damage or tampering: reported, not served */
			if (store_bads_add(bads, de->d_name, name, "damaged",
					   err->msg) < 0) {
				err_sys(err, "malloc");
				goto out;
			}
			continue;
		}
		if (o == NULL)
			goto out;
		/* the deltas installed since the file was written whole */
		if (journal_replay(dir, o, trust, err) < 0) {
			store_origin_free(o);
			if (bads != NULL) {
				if (store_bads_add(bads, de->d_name, name,
						   "damaged", err->msg) < 0) {
					err_sys(err, "malloc");
					goto out;
				}
				continue;
			}
			goto out;
		}
		v = realloc(s->o, (s->n + 1) * sizeof(*s->o));
		if (v == NULL) {
			store_origin_free(o);
			err_sys(err, "malloc");
			goto out;
		}
		s->o = v;
		s->o[s->n++] = o;
	}
	if (s->n > 1)
		qsort(s->o, s->n, sizeof(*s->o), store_cmp);
	ret = s;
	s = NULL;
out:
	if (d != NULL)
		closedir(d);
	store_free(s);
	return ret;
}

const struct store_origin *store_find(const struct store *s, const char *origin)
{
	size_t i;

	for (i = 0; s != NULL && i < s->n; i++)
		if (strcmp(s->o[i]->m.origin, origin) == 0)
			return s->o[i];
	return NULL;
}

const struct store_origin *store_owner(const struct store *s,
				       const char *domain, size_t len,
				       const char *except)
{
	size_t i;

	for (i = 0; s != NULL && i < s->n; i++) {
		if (except != NULL && strcmp(s->o[i]->m.origin, except) == 0)
			continue;
		if (state_find_domain(s->o[i]->st, domain, len) >= 0)
			return s->o[i];
	}
	return NULL;
}

int store_save_begin(const char *dir, const struct store_origin *o,
		     struct atomic_file *af, struct err *err)
{
	char path[4096], *sig64 = NULL;
	size_t mlen = o->manifest_len;
	int n, rc = -1;

	af->fd = -1;
	af->path = af->tmp = NULL;
	n = snprintf(path, sizeof(path), "%s/" STORE_PREFIX "%s" STORE_SUFFIX,
		     dir, o->m.origin);
	if (n < 0 || (size_t)n >= sizeof(path))
		return err_set(err, "%s: path too long", dir);
	if (mlen == 0 || mlen > MANIFEST_MAX ||
	    memchr(o->manifest, '\n', mlen) != NULL)
		return err_set(err,
			       "snapshot(%s): manifest must be one line "
			       "of 1..%d bytes",
			       path, MANIFEST_MAX);
	if ((sig64 = snapshot_b64(o->sig, SNAPSHOT_SIG_LEN)) == NULL)
		return err_sys(err, "malloc");
	/* The snapshot file framing, then the state straight from its arena. */
	if (atomic_open(af, path, 0600, err) < 0)
		goto out;
	if (atomic_write(af, SNAPSHOT_MAGIC, sizeof(SNAPSHOT_MAGIC) - 1, err) <
		0 ||
	    atomic_write(af, o->manifest, mlen, err) < 0 ||
	    atomic_write(af, "\n", 1, err) < 0 ||
	    atomic_write(af, sig64, strlen(sig64), err) < 0 ||
	    atomic_write(af, "\n", 1, err) < 0) {
		atomic_abort(af);
		goto out;
	}
	if (state_write_fd(o->st, af->fd, err) < 0) {
		err_prefix(err, "%s", af->tmp);
		atomic_abort(af);
		goto out;
	}
	if (atomic_sync(af, err) < 0) {
		atomic_abort(af);
		goto out;
	}
	rc = 0;
out:
	free(sig64);
	return rc;
}

int store_save(const char *dir, const struct store_origin *o, struct err *err)
{
	struct atomic_file af;

	if (store_save_begin(dir, o, &af, err) < 0)
		return -1;
	return atomic_commit(&af, err);
}

struct store *store_with(const struct store *s, struct store_origin *o,
			 struct store_origin **replaced_r, struct err *err)
{
	struct store *ns;
	size_t i, n = s != NULL ? s->n : 0;

	*replaced_r = NULL;
	if ((ns = store_alloc(n + 1, err)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (strcmp(s->o[i]->m.origin, o->m.origin) == 0) {
			*replaced_r = s->o[i];
			ns->o[ns->n++] = o;
		} else
			ns->o[ns->n++] = s->o[i];
	}
	if (*replaced_r == NULL) {
		ns->o[ns->n++] = o;
		qsort(ns->o, ns->n, sizeof(*ns->o), store_cmp);
	}
	return ns;
}

void store_release(struct store *s, struct store_origin *entry)
{
	store_origin_free(entry);
	if (s == NULL)
		return;
	free(s->o);
	free(s);
}

const struct state **store_states(const struct store *s)
{
	const struct state **v;
	size_t i;

	v = calloc(s->n + 1, sizeof(*v));
	if (v == NULL)
		return NULL;
	for (i = 0; i < s->n; i++)
		v[i] = s->o[i]->st;
	return v;
}

void store_free(struct store *s)
{
	size_t i;

	if (s == NULL)
		return;
	for (i = 0; i < s->n; i++)
		store_origin_free(s->o[i]);
	store_release(s, NULL);
}
