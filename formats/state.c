/*
 * state - the canonical state's core: new, free, add, find, load, write,
 * and the accessors (state.h; the representation is state_impl.h)
 *
 * The rest of the module: state_sort.c (ordering the index),
 * state_finish.c (de-duplication, domain checks, the canonical text),
 * state_parse.c (canonical text in) and state_hash.c (the state hash);
 * delta.c splices a finished state.
 *
 * Failures return -1 (or NULL) with a message in struct err naming the
 * record or the file; adding refuses keys that are not folded and a text
 * over 4 GiB.  Only out of memory fails otherwise.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"
#include "norm.h"
#include "state_impl.h"

struct state *state_new(void)
{
	struct state *st = calloc(1, sizeof(*st));

	if (st != NULL)
		st->finished = 1; /* the empty state is canonical */
	return st;
}

void state_release(struct state *st)
{
	state_runs_free(st);
	state_pool_free(st, st->arena);
	state_pool_free(st, st->dom.rec);
	state_pool_free(st, st->rcpt.rec);
	state_hash_forget(st);
}

void state_free(struct state *st)
{
	if (st == NULL)
		return;
	state_release(st);
	free(st);
}

void *state_malloc(size_t len)
{
	return malloc(len ? len : 1);
}

/* state_grow_arena - room for more octets in the arena */
static int state_grow_arena(struct state *st, size_t more, struct err *err)
{
	size_t cap;
	char *p;

	if (more > STATE_ARENA_MAX - st->len)
		return err_set(err, "state too large (over 4 GiB of text)");
	if (st->len + more <= st->cap)
		return 0;
	cap = st->cap ? st->cap : 4096;
	while (cap < st->len + more)
		cap = cap > SIZE_MAX / 2 ? st->len + more : cap * 2;
	p = realloc(st->arena, cap);
	if (p == NULL)
		return err_set(err, "out of memory (state arena of %zu octets)",
			       cap);
	st->arena = p;
	st->cap = cap;
	return 0;
}

/* state_grow_index - room for one more record */
int state_grow_index(struct state_index *ix, struct err *err)
{
	struct state_rec *p;
	size_t cap;

	if (ix->n < ix->cap)
		return 0;
	cap = ix->cap ? ix->cap * 2 : 256;
	if (cap > SIZE_MAX / sizeof(*p))
		return err_set(err, "out of memory (state index)");
	p = realloc(ix->rec, cap * sizeof(*p));
	if (p == NULL)
		return err_set(
		    err, "out of memory (state index of %zu records)", cap);
	ix->rec = p;
	ix->cap = cap;
	return 0;
}

/* state_reserve_index - room for records more entries, in one allocation */
int state_reserve_index(struct state_index *ix, size_t records, struct err *err)
{
	struct state_rec *p;

	if (records <= ix->cap - ix->n)
		return 0;
	if (records > SIZE_MAX / sizeof(*p) - ix->n)
		return err_set(err, "out of memory (state index)");
	p = realloc(ix->rec, (ix->n + records) * sizeof(*p));
	if (p == NULL)
		return err_set(err,
			       "out of memory (state index of %zu records)",
			       ix->n + records);
	ix->rec = p;
	ix->cap = ix->n + records;
	return 0;
}

int state_reserve(struct state *st, size_t records, size_t bytes,
		  struct err *err)
{
	size_t more;
	char *a;

	if (state_unshare(st, err) < 0)
		return -1;
	if (records > SIZE_MAX / STATE_TAG_LEN ||
	    bytes > SIZE_MAX - records * STATE_TAG_LEN)
		return err_set(err, "out of memory (state of %zu records)",
			       records);
	/* each added record also carries its tag */
	more = bytes + records * STATE_TAG_LEN;
	/* past the format's limit: let the adds report it */
	if (more <= STATE_ARENA_MAX - st->len && st->len + more > st->cap) {
		a = realloc(st->arena, st->len + more);
		if (a == NULL)
			return err_set(err,
				       "out of memory (state arena of %zu "
				       "octets)",
				       st->len + more);
		st->arena = a;
		st->cap = st->len + more;
	}
	return state_reserve_index(&st->rcpt, records, err);
}

/* state_push - append a fresh record (tag, key, [" " value]) */
static int state_push(struct state *st, struct state_index *ix, const char *key,
		      size_t klen, const char *val, size_t vlen, unsigned tag,
		      struct err *err)
{
	size_t need = STATE_TAG_LEN + klen + (val ? 1 + vlen : 0);
	struct state_rec *r;
	uint32_t t = tag;

	if (state_unshare(st, err) < 0 || state_grow_index(ix, err) < 0 ||
	    state_grow_arena(st, need, err) < 0)
		return -1;
	memcpy(st->arena + st->len, &t, STATE_TAG_LEN);
	r = &ix->rec[ix->n++];
	r->off = (uint32_t)(st->len + STATE_TAG_LEN);
	r->klen = (uint8_t)klen;
	r->vlen = (uint16_t)vlen;
	r->fresh = 1;
	r->pfx = 0;
	memcpy(st->arena + r->off, key, klen);
	if (val != NULL) {
		st->arena[r->off + klen] = ' ';
		memcpy(st->arena + r->off + klen + 1, val, vlen);
	}
	st->len += need;
	st->finished = 0;
	state_hash_forget(st);
	return 0;
}

int state_add_domain(struct state *st, const char *domain, size_t dlen,
		     const char *nexthop, size_t nlen, unsigned tag,
		     struct err *err)
{
	if (norm_folded(domain, dlen, 1, err) < 0)
		return -1;
	if (norm_nexthop(nexthop, nlen, err) < 0)
		return err_prefix(err, "domain \"%.*s\"", (int)dlen, domain);
	return state_push(st, &st->dom, domain, dlen, nexthop, nlen, tag, err);
}

int state_add_recipient(struct state *st, const char *addr, size_t alen,
			unsigned tag, struct err *err)
{
	if (norm_folded(addr, alen, 0, err) < 0)
		return -1;
	return state_push(st, &st->rcpt, addr, alen, NULL, 0, tag, err);
}

int state_add_address(struct state *st, const char *addr, size_t alen,
		      unsigned tag, struct err *err)
{
	char out[NORM_BUF_SIZE];
	struct state_rec *r;
	uint32_t t = tag;
	size_t n;

	/*
	 * The common key is folded straight into the arena: what
	 * norm_address_ascii() returns it returns unchanged, so the check of
	 * state_add_recipient() could not fail and is skipped.
	 */
	if (alen <= NORM_ADDRESS_MAX) {
		if (state_unshare(st, err) < 0 ||
		    state_grow_index(&st->rcpt, err) < 0 ||
		    state_grow_arena(st, STATE_TAG_LEN + alen + 1, err) < 0)
			return -1;
		if (norm_address_ascii(addr, alen,
				       st->arena + st->len + STATE_TAG_LEN,
				       alen + 1, &n)) {
			memcpy(st->arena + st->len, &t, STATE_TAG_LEN);
			r = &st->rcpt.rec[st->rcpt.n++];
			r->off = (uint32_t)(st->len + STATE_TAG_LEN);
			r->klen = (uint8_t)n;
			r->vlen = 0;
			r->fresh = 1;
			r->pfx = 0;
			st->len += STATE_TAG_LEN + n;
			st->finished = 0;
			state_hash_forget(st);
			return 0;
		}
	}
	if (norm_address(addr, alen, out, sizeof(out), &n, err) < 0)
		return -1;
	return state_add_recipient(st, out, n, tag, err);
}

unsigned state_tag(const struct state *st, const struct state_rec *r)
{
	uint32_t t = 0;

	if (r->fresh & 1)
		memcpy(&t, st->arena + r->off - STATE_TAG_LEN, STATE_TAG_LEN);
	return t;
}

size_t state_lower_in(const char *arena, const struct state_rec *rec, size_t n,
		      const char *key, size_t len, int *found_r)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (state_keycmp(arena + rec[mid].off, rec[mid].klen, key,
				 len) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found_r = lo < n && rec[lo].klen == len &&
		   memcmp(arena + rec[lo].off, key, len) == 0;
	return lo;
}

size_t state_lower(const struct state *st, const struct state_index *ix,
		   const char *key, size_t len, int *found_r)
{
	return state_lower_in(st->arena, ix->rec, ix->n, key, len, found_r);
}

long state_find_domain(const struct state *st, const char *domain, size_t len)
{
	int found;
	size_t i = state_lower(st, &st->dom, domain, len, &found);

	return found ? (long)i : -1;
}

int state_has_recipient(const struct state *st, const char *addr, size_t len)
{
	int found;

	(void)state_lower_rcpt(st, addr, len, &found);
	return found;
}

struct state *state_load(const char *path, struct err *err)
{
	struct state *st;
	char *buf;
	size_t len;

	if (fileio_read_all(path, STATE_ARENA_MAX, &buf, &len, err) < 0)
		return NULL;
	st = state_parse_owned(buf, len, err);
	if (st == NULL)
		err_prefix(err, "%s", path);
	return st;
}

size_t state_domain_count(const struct state *st)
{
	return st->dom.n;
}

size_t state_recipient_count(const struct state *st)
{
	return state_nr(st);
}

void state_domain(const struct state *st, size_t i, const char **domain_r,
		  size_t *dlen_r, const char **nexthop_r, size_t *nlen_r)
{
	const struct state_rec *r = &st->dom.rec[i];

	*domain_r = state_key(st, r);
	*dlen_r = r->klen;
	if (nexthop_r != NULL)
		*nexthop_r = state_key(st, r) + r->klen + 1;
	if (nlen_r != NULL)
		*nlen_r = r->vlen;
}

void state_recipient(const struct state *st, size_t i, const char **addr_r,
		     size_t *alen_r)
{
	const char *a;
	const struct state_rec *r = state_rcpt(st, i, &a);

	*addr_r = a + r->off;
	*alen_r = r->klen;
}

void state_prefetch(const struct state *st, size_t i, int far)
{
	const char *a;
	const struct state_rec *r = state_rcpt(st, i, &a);

	/* only the address: the record itself may still be on its way */
	if (far)
		__builtin_prefetch(r);
	else
		__builtin_prefetch(a + r->off - 2);
}

size_t state_text_size(const struct state *st)
{
	return st->canon_len;
}

char *state_text(const struct state *st, size_t *len_r)
{
	char *p = state_malloc(st->canon_len + 1);
	size_t pos = 0, k, tl;
	const char *t;

	if (p == NULL)
		return NULL;
	for (k = 0; k < state_text_parts(st); k++) {
		state_text_part(st, k, &t, &tl);
		if (tl > 0)
			memcpy(p + pos, t, tl);
		pos += tl;
	}
	p[st->canon_len] = '\0';
	if (len_r != NULL)
		*len_r = st->canon_len;
	return p;
}

int state_write_fd(const struct state *st, int fd, struct err *err)
{
	size_t k, tl;
	const char *t;

	for (k = 0; k < state_text_parts(st); k++) {
		state_text_part(st, k, &t, &tl);
		if (fileio_write_all(fd, "state", t, tl, err) < 0)
			return -1;
	}
	return 0;
}
