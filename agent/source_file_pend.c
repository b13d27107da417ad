/*
 * source_file_pend - the changes of a file source's units kept as pending
 * edits, and the export merged from the units (source_file_priv.h)
 *
 * A unit's set is a finished state; what changed in its file since the set
 * was made is a sorted list of edits beside it, copied into the set only
 * when they are many (source_file_cache_settle).  The export is the largest
 * unit's set with its edits and the other units' records
 * (source_file_cache_merge), sharing that set's records.  Nothing here
 * prints; only out of memory (and a bad record, named) fails.
 */
#include <stdlib.h>
#include <string.h>

#include "../formats/buf.h"
#include "../formats/delta.h"
#include "source.h"
#include "source_file_priv.h"

/*
 * source_file_cache_lower - the index of the first recipient of st not
 * below k
 */
size_t source_file_cache_lower(const struct state *st, const char *k,
			       size_t len, int *found_r)
{
	size_t lo = 0, hi = state_recipient_count(st);
	const char *a;
	size_t al;
	int c;

	*found_r = 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		state_recipient(st, mid, &a, &al);
		c = source_file_cache_keycmp(a, al, k, len);
		if (c == 0)
			*found_r = 1;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int source_file_cache_edit_cmp(const void *a, const void *b)
{
	const struct delta_edit *x = a, *y = b;

	return source_file_cache_keycmp(x->key, x->klen, y->key, y->klen);
}

struct source_file_cache_edits {
	struct delta_edit *v;
	size_t n, cap;
};

static int source_file_cache_edit_push(struct source_file_cache_edits *e,
				       const char *k, size_t len)
{
	if (e->n == e->cap) {
		size_t cap = e->cap ? 2 * e->cap : 64;
		struct delta_edit *nv;

		if (cap > SIZE_MAX / sizeof(*nv) ||
		    (nv = realloc(e->v, cap * sizeof(*nv))) == NULL)
			return -1;
		e->v = nv;
		e->cap = cap;
	}
	memset(&e->v[e->n], 0, sizeof(e->v[e->n]));
	e->v[e->n].key = k;
	e->v[e->n].klen = len;
	e->v[e->n].val = "";
	e->v[e->n].type = 'R';
	e->v[e->n].add = 1;
	e->n++;
	return 0;
}

/*
 * source_file_cache_search - the index of key among the n elements of v,
 * size octets each, sorted by the keys key_of() gives, or n: the one search
 * of the file source's sorted lists
 */
size_t source_file_cache_search(const void *v, size_t n, size_t size,
				source_file_cache_key_fn *key_of, const char *k,
				size_t len)
{
	size_t lo = 0, hi = n, el;
	const char *ek;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c;

		ek = key_of((const char *)v + mid * size, &el);
		c = source_file_cache_keycmp(ek, el, k, len);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return n;
}

/* source_file_cache_edit_key - the key of a struct delta_edit */
static const char *source_file_cache_edit_key(const void *e, size_t *len_r)
{
	const struct delta_edit *d = e;

	*len_r = d->klen;
	return d->key;
}

/* source_file_cache_pend_find - the index of key in u->pend, or npend */
size_t source_file_cache_pend_find(const struct source_file_cache_unit *u,
				   const char *k, size_t len)
{
	return source_file_cache_search(u->pend, u->npend, sizeof(*u->pend),
					source_file_cache_edit_key, k, len);
}

/*
 * source_file_cache_has - 1 when the unit's records (set with its pending
 * changes) hold key, else 0; *at_r gets its place in set
 */
int source_file_cache_has(const struct source_file_cache_unit *u, const char *k,
			  size_t len, size_t *at_r)
{
	size_t p = source_file_cache_pend_find(u, k, len);
	int found;

	*at_r = source_file_cache_lower(u->set, k, len, &found);
	return p < u->npend ? u->pend[p].add : found;
}

/* source_file_cache_pend_clear - drop a unit's pending changes */
void source_file_cache_pend_clear(struct source_file_cache_unit *u)
{
	size_t i;

	for (i = 0; u->pend != NULL && i < u->npend; i++)
		if (u->pend[i].add)
			free((char *)u->pend[i].key);
	free(u->pend);
	u->pend = NULL;
	u->npend = 0;
}

/*
 * source_file_cache_settle - copy a unit's pending changes into its set
 * once they are many (SOURCE_FILE_CACHE_PEND_MAX): each export applies
 * them anyway (source_file_cache_merge), so until then a change costs no
 * copy of its own.  Past that many, an export would have too many runs to
 * share the set (delta_splice_shared) and copy it anyway.  Out of memory
 * leaves them pending.
 */
#define SOURCE_FILE_CACHE_PEND_MAX 1024

void source_file_cache_settle(struct source_file_cache_unit *u)
{
	struct state *st;
	struct err err;

	if (u->npend <= SOURCE_FILE_CACHE_PEND_MAX ||
	    (st = delta_splice(u->set, u->pend, u->npend, &err)) == NULL)
		return;
	source_file_cache_pend_clear(u);
	state_free(u->set);
	u->set = st;
}

/* source_file_cache_records - push the records of unit u (with its pending
 * changes) onto e */
static int source_file_cache_records(const struct source_file_cache_unit *u,
				     struct source_file_cache_edits *e)
{
	size_t i = 0, p = 0, n = state_recipient_count(u->set), kl;
	const char *k;
	int c;

	while (i < n || p < u->npend) {
		if (i < n)
			state_recipient(u->set, i, &k, &kl);
		c = i >= n ? 1
		    : p >= u->npend
			? -1
			: source_file_cache_keycmp(k, kl, u->pend[p].key,
						   u->pend[p].klen);
		if (c < 0) {
			if (source_file_cache_edit_push(e, k, kl) < 0)
				return -1;
			i++;
			continue;
		}
		/* a pending removal takes a record of set away */
		if (u->pend[p].add &&
		    source_file_cache_edit_push(e, u->pend[p].key,
						u->pend[p].klen) < 0)
			return -1;
		i += c == 0;
		p++;
	}
	return 0;
}

/*
 * source_file_cache_merge - the export into *st_r: the largest unit's set
 * with its pending changes and what the others add, sharing the set's
 * records (delta_splice_shared), so that an export costs the changes, one
 * octet per record of the largest file, and a search for each record of
 * the others
 */
int source_file_cache_merge(struct source *src, struct state **st_r,
			    struct err *err)
{
	struct source_file_cache *c =
	    &((struct source_file_conf *)src->priv)->cache;
	struct source_file_cache_edits e = {NULL, 0, 0};
	struct source_file_cache_unit *b;
	struct delta_edit *v = NULL;
	unsigned char *kept = NULL;
	size_t j, big = 0, i, n, p, q, at;
	int rc = -1, found;

	for (j = 1; j < c->nunits; j++)
		if (state_recipient_count(c->units[j].set) >
		    state_recipient_count(c->units[big].set))
			big = j;
	b = &c->units[big];
	for (j = 0; j < c->nunits; j++)
		if (j != big && source_file_cache_records(&c->units[j], &e) < 0)
			goto oom;
	if (e.n > 1)
		qsort(e.v, e.n, sizeof(*e.v), source_file_cache_edit_cmp);
	if ((kept = malloc(b->npend + 1)) == NULL)
		goto oom;
	memset(kept, 1, b->npend + 1);
	/* what the others hold and the largest lacks is added */
	for (i = n = 0; i < e.n; i++) {
		if (n > 0 &&
		    source_file_cache_edit_cmp(&e.v[n - 1], &e.v[i]) == 0)
			continue;
		p = source_file_cache_pend_find(b, e.v[i].key, e.v[i].klen);
		at = source_file_cache_lower(b->set, e.v[i].key, e.v[i].klen,
					     &found);
		if (p < b->npend) {
			/* added already, or its removal undone: kept */
			if (!b->pend[p].add)
				kept[p] = 0;
			continue;
		}
		if (found)
			continue;
		e.v[n] = e.v[i];
		e.v[n++].at = at;
	}
	/* with the largest unit's pending changes, in key order */
	if ((v = calloc(n + b->npend + 1, sizeof(*v))) == NULL)
		goto oom;
	for (i = p = q = 0; p < n || q < b->npend;) {
		if (q < b->npend && !kept[q]) {
			q++;
			continue;
		}
		if (q >= b->npend || (p < n && source_file_cache_edit_cmp(
						   &e.v[p], &b->pend[q]) < 0))
			v[i++] = e.v[p++];
		else
			v[i++] = b->pend[q++];
	}
	if ((*st_r = delta_splice_shared(b->set, v, i, 0, err)) == NULL) {
		err_prefix(err, "source %s", src->name);
		goto out;
	}
	rc = 0;
	goto out;
oom:
	err_set(err, "source %s: out of memory", src->name);
out:
	free(v);
	free(kept);
	free(e.v);
	return rc;
}
