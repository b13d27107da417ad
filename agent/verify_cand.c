/*
 * verify_cand - the candidate addresses verify asks both sides about
 *
 * verify_cand_collect() writes them into the run's sets: every exported
 * recipient (or an even spread of --sample of them, from a random start),
 * each with a spelling in capitals where Postfix folds, one without
 * accents (what an accent-insensitive collation finds) and +extension
 * variants with a random extension, written with the primary's first
 * delimiter and with each one only one side knows (for at most
 * VERIFY_EXT_MAX recipients); a catch-all gets a random local part and one
 * that starts with the delimiter; every exported domain gets random
 * unknown local parts and a random subdomain; the keys of every table
 * postmap can list become candidates or domains.  verify_cand_cross()
 * then crosses a sample of local parts with every domain the primary
 * accepts (at most VERIFY_CROSS_MAX addresses), which finds addresses that
 * exist only through alias domains, pattern tables or catch-alls.  An
 * address norm_address() refuses is left out; the only failure is out of
 * memory.  Random parts come from libsodium ("nx" and hex digits).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>
#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>

#include "../formats/norm.h"
#include "verify_impl.h"

#define VERIFY_CROSS_MAX 20000
#define VERIFY_CROSS_LOCALS 20
#define VERIFY_UNKNOWN_PER_DOMAIN 2
/*
 * +extension variants of this many recipients at most: each is one more
 * key for every table, nearly always "not found"; beyond this they cost
 * more time than they find (the delimiters are compared anyway)
 */
#define VERIFY_EXT_MAX 20000

/* verify_cand_random_local - "nx" and 12 random hex digits */
static void verify_cand_random_local(char out[16])
{
	unsigned char r[6];

	randombytes_buf(r, sizeof(r));
	sodium_bin2hex(out + 2, 13, r, sizeof(r));
	out[0] = 'n';
	out[1] = 'x';
}

/* verify_cand_add - a candidate address as it would be written */
static int verify_cand_add(struct verify_ctx *x, const char *a, size_t len)
{
	char f[NORM_BUF_SIZE];
	const char *at;
	size_t flen, n = x->cands.n;
	long i, fi, di;
	struct err e;
	void *p;

	if (norm_address(a, len, f, sizeof(f), &flen, &e) < 0)
		return 0; /* e.g. an extension past 64 octets */
	at = memrchr(f, '@', flen);
	if (at == f)
		return 0;
	if ((i = verify_set_add(&x->cands, a, len)) < 0)
		return -1;
	if ((size_t)i < n)
		return 0;
	if ((fi = verify_set_add(&x->folded, f, flen)) < 0 ||
	    (di = verify_set_add(&x->domains, at + 1,
				 flen - (size_t)(at + 1 - f))) < 0)
		return -1;
	if ((p = realloc(x->c, (x->nc + 1) * sizeof(*x->c))) == NULL)
		return -1;
	x->c = p;
	x->c[x->nc].text = (size_t)i;
	x->c[x->nc].folded = (size_t)fi;
	x->c[x->nc].dom = (size_t)di;
	x->nc++;
	return 0;
}

static int verify_cand_parts(struct verify_ctx *x, const char *local,
			     size_t llen, const char *dom, size_t dlen)
{
	char a[2 * NORM_BUF_SIZE];

	if (llen + dlen + 2 > sizeof(a))
		return 0;
	memcpy(a, local, llen);
	a[llen] = '@';
	memcpy(a + llen + 1, dom, dlen);
	return verify_cand_add(x, a, llen + 1 + dlen);
}

/* verify_cand_delims - the delimiters the +ext variants are written with */
void verify_cand_delims(struct verify_ctx *x)
{
	const char *p = x->val[VP_DELIM], *a = x->o->delimiter;
	const char *sets[2];
	size_t i;

	if (a == NULL)
		a = "";
	x->delims[0] = *p != '\0' ? *p : '+';
	x->ndelims = 1;
	sets[0] = p;
	sets[1] = a;
	for (i = 0; i < 2; i++) {
		const char *q;

		for (q = sets[i]; *q != '\0'; q++)
			if (strchr(sets[1 - i], *q) == NULL &&
			    memchr(x->delims, *q, x->ndelims) == NULL &&
			    x->ndelims < sizeof(x->delims))
				x->delims[x->ndelims++] = *q;
	}
}

/*
 * verify_cand_unaccent - a UTF-8 address without its combining marks (NFD,
 * every nonspacing mark dropped, NFC: "jos\xc3\xa9" is "jose"), the
 * spelling an accent-insensitive collation (MariaDB's utf8mb4_general_ci)
 * finds; 0 when there is none or it is the address itself
 */
static size_t verify_cand_unaccent(const char *a, size_t len, char *out,
				   size_t size)
{
	UChar u[2 * NORM_BUF_SIZE], d[4 * NORM_BUF_SIZE];
	UErrorCode ec = U_ZERO_ERROR;
	const UNormalizer2 *nfd;
	int32_t ul, dl, i, k = 0, ol = 0;
	size_t j;

	for (j = 0; j < len && (unsigned char)a[j] < 0x80; j++)
		;
	if (j == len)
		return 0;
	u_strFromUTF8(u, 2 * NORM_BUF_SIZE, &ul, a, (int32_t)len, &ec);
	nfd = unorm2_getNFDInstance(&ec);
	if (U_FAILURE(ec))
		return 0;
	dl = unorm2_normalize(nfd, u, ul, d, 4 * NORM_BUF_SIZE, &ec);
	if (U_FAILURE(ec))
		return 0;
	for (i = 0; i < dl; i++)
		if (u_charType(d[i]) != U_NON_SPACING_MARK)
			d[k++] = d[i];
	if (k == dl)
		return 0;
	/* composed again (NFC), as the rest of the address was written */
	ul = unorm2_normalize(unorm2_getNFCInstance(&ec), d, k, u,
			      2 * NORM_BUF_SIZE, &ec);
	if (U_FAILURE(ec))
		return 0;
	u_strToUTF8(out, (int32_t)size, &ol, u, ul, &ec);
	if (U_FAILURE(ec) || ol <= 0 || (size_t)ol >= size)
		return 0;
	return (size_t)ol;
}

/* verify_cand_recipient - an exported recipient and its variants */
static int verify_cand_recipient(struct verify_ctx *x, const char *r,
				 size_t len, int with_ext)
{
	char a[2 * NORM_BUF_SIZE], rnd[16];
	const char *at = memrchr(r, '@', len);
	size_t llen = (size_t)(at - r), i, j;

	if (llen == 0) {
		/*
		 * a catch-all: some local part nobody has, and one that
		 * starts with the delimiter, which Postfix does not split
		 * (a primary whose catch-all query refuses extensions, as
		 * iRedMail's does, refuses it; @domain on a backup accepts)
		 */
		verify_cand_random_local(rnd);
		if (verify_cand_parts(x, rnd, strlen(rnd), at + 1, len - 1) < 0)
			return -1;
		a[0] = x->delims[0];
		memcpy(a + 1, rnd, strlen(rnd));
		return verify_cand_parts(x, a, 1 + strlen(rnd), at + 1,
					 len - 1);
	}
	if (verify_cand_add(x, r, len) < 0 || len + 24 > sizeof(a))
		return -1;
	/* case: as a sender might write it; Postfix folds it */
	memcpy(a, r, len);
	for (i = 0; i < len; i++)
		if (a[i] >= 'a' && a[i] <= 'z' && (i == 0 || i > llen))
			a[i] = (char)(a[i] - 'a' + 'A');
	if (memcmp(a, r, len) != 0 && verify_cand_add(x, a, len) < 0)
		return -1;
	/* without accents: what an accent-insensitive collation finds */
	if ((i = verify_cand_unaccent(r, len, a, sizeof(a))) > 0 &&
	    verify_cand_add(x, a, i) < 0)
		return -1;
	/*
	 * +extension with the primary's first delimiter, and with every
	 * character only one of the primary and agent.conf has
	 */
	for (j = 0; with_ext && j < x->ndelims; j++) {
		size_t el;

		/* r is not NUL-terminated */
		el = (size_t)snprintf(a, sizeof(a), "%.*s%c%s%.*s", (int)llen,
				      r, x->delims[j], x->ext,
				      (int)(len - llen), at);
		if (el < sizeof(a) && verify_cand_add(x, a, el) < 0)
			return -1;
	}
	return 0;
}

/* verify_cand_exported - d is one of the export's domains */
static int verify_cand_exported(const struct verify_ctx *x, const char *d)
{
	return state_find_domain(x->st, d, strlen(d)) >= 0;
}

/* verify_cand_enumerate - keys of tables postmap can list (errors ignored) */
static int verify_cand_enumerate(struct verify_ctx *x, int is_list,
				 const struct verify_table *t)
{
	char *out, *pos, *line, *value, rnd[16];
	const char *at;
	size_t i;
	int rc = 0;

	if ((out = verify_postmap_list(x, t)) == NULL)
		return 0;
	pos = out;
	while (rc == 0 && verify_postmap_next(&pos, &line, &value)) {
		if (*line == '\0')
			continue;
		at = strrchr(line, '@');
		if (is_list) {
			if (at == NULL && line[0] != '.')
				rc = verify_set_add(&x->domains, line,
						    strlen(line)) < 0;
		} else if (at == line) {
			verify_cand_random_local(rnd);
			rc = verify_cand_parts(x, rnd, strlen(rnd), at + 1,
					       strlen(at + 1));
		} else if (at != NULL) {
			rc = verify_cand_add(x, line, strlen(line));
		} else if (strncmp(line, "YP_", 3) != 0) {
			/*
			 * a bare local part (not postalias's NIS keys): at
			 * every local domain that is exported
			 */
			for (i = 0; i < x->lists[0].n && rc == 0; i++)
				if (x->lists[0].it[i].lit != NULL &&
				    !x->lists[0].it[i].neg &&
				    verify_cand_exported(x,
							 x->lists[0].it[i].lit))
					rc = verify_cand_parts(
					    x, line, strlen(line),
					    x->lists[0].it[i].lit,
					    strlen(x->lists[0].it[i].lit));
		}
	}
	free(out);
	return rc ? -1 : 0;
}

/* verify_cand_subdomain - "nx...@nx....domain", one random label deeper */
static int verify_cand_subdomain(struct verify_ctx *x, const char *d,
				 size_t len)
{
	char rnd[16], sub[NORM_BUF_SIZE];
	int n;

	verify_cand_random_local(rnd);
	n = snprintf(sub, sizeof(sub), "%s.%.*s", rnd, (int)len, d);
	if (n < 0 || (size_t)n >= sizeof(sub))
		return 0;
	return verify_cand_parts(x, rnd, strlen(rnd), sub, (size_t)n);
}

/* verify_cand_collect - every candidate address but the crossed ones */
int verify_cand_collect(struct verify_ctx *x, const struct state *st,
			struct err *err)
{
	size_t nr = state_recipient_count(st), nd = state_domain_count(st),
	       want, i, j, k, len, step, ext_every;
	const char *a, *at;
	char rnd[16];
	unsigned char r[4];
	struct verify_set *loc = &x->locals;

	want = x->o->sample ? x->o->sample : VERIFY_SAMPLE_MAX;
	if (want > nr)
		want = nr;
	randombytes_buf(r, sizeof(r));
	step = want ? nr / want : 1;
	if (step == 0)
		step = 1;
	ext_every = want / VERIFY_EXT_MAX + 1;
	/* the exported recipients (an even spread when sampled) */
	for (i = 0, k = want && step > 1 ? r[0] % step : 0; i < want && k < nr;
	     i++, k += step) {
		state_recipient(st, k, &a, &len);
		if (verify_cand_recipient(x, a, len, i % ext_every == 0) < 0)
			goto oom;
	}
	/* a few unknown local parts in every exported domain */
	for (i = 0; i < nd; i++) {
		state_domain(st, i, &a, &len, NULL, NULL);
		for (j = 0; j < VERIFY_UNKNOWN_PER_DOMAIN; j++) {
			verify_cand_random_local(rnd);
			if (verify_cand_parts(x, rnd, strlen(rnd), a, len) < 0)
				goto oom;
		}
		/*
		 * and in a subdomain, which a primary's mydestination or
		 * relay_domains matches when parent_domain_matches_subdomains
		 * names it, or through a ".domain" entry; the export lists
		 * exact domains only
		 */
		if (verify_cand_subdomain(x, a, len) < 0)
			goto oom;
		if (verify_set_add(&x->domains, a, len) < 0)
			goto oom;
	}
	/* domains and addresses the primary's tables list */
	for (i = 0; i < VERIFY_NLISTS; i++)
		for (j = 0; j < x->lists[i].n; j++) {
			const struct verify_item *it = &x->lists[i].it[j];

			if (it->lit != NULL && !it->neg && it->lit[0] != '.' &&
			    verify_set_add(&x->domains, it->lit,
					   strlen(it->lit)) < 0)
				goto oom;
			if (it->table >= 0 && x->t[it->table].enumerable &&
			    verify_cand_enumerate(x, 1, &x->t[it->table]) < 0)
				goto oom;
		}
	for (i = 0; i < VP_NMAPS; i++)
		for (j = 0; j < x->maps[i].n; j++)
			if (x->t[x->maps[i].t[j]].enumerable &&
			    verify_cand_enumerate(x, 0,
						  &x->t[x->maps[i].t[j]]) < 0)
				goto oom;
	/* local parts to cross with every domain */
	if (verify_set_add(loc, "postmaster", 10) < 0 ||
	    verify_set_add(loc, "abuse", 5) < 0)
		goto oom;
	for (i = 0; i < nr && loc->n < VERIFY_CROSS_LOCALS;
	     i += nr / VERIFY_CROSS_LOCALS + 1) {
		state_recipient(st, i, &a, &len);
		at = memrchr(a, '@', len);
		if (at > a && verify_set_add(loc, a, (size_t)(at - a)) < 0)
			goto oom;
	}
	err->msg[0] = '\0';
	return 0;
oom:
	return err_set(err, "out of memory");
}

/* verify_cand_crossed - domain i is crossed with the local parts */
static int verify_cand_crossed(const struct verify_ctx *x, size_t i)
{
	/* the primary's own names (mydestination) only when exported */
	return x->dclass[i] != VERIFY_DEFAULT &&
	       (x->dclass[i] != VERIFY_LOCAL ||
		verify_cand_exported(x, verify_set_key(&x->domains, i)));
}

/* verify_cand_cross - the local parts with every domain the primary accepts */
int verify_cand_cross(struct verify_ctx *x, struct err *err)
{
	size_t i, j, nacc = 0, nloc;
	const char *d, *l;

	for (i = 0; i < x->domains.n; i++)
		nacc += verify_cand_crossed(x, i);
	if (nacc == 0)
		return 0;
	nloc = VERIFY_CROSS_MAX / nacc;
	if (nloc > x->locals.n)
		nloc = x->locals.n;
	if (nloc < 1)
		nloc = 1;
	for (i = 0, nacc = 0; i < x->domains.n; i++) {
		if (!verify_cand_crossed(x, i))
			continue;
		if (nacc++ * nloc >= VERIFY_CROSS_MAX)
			break;
		d = verify_set_key(&x->domains, i);
		for (j = 0; j < nloc; j++) {
			l = verify_set_key(&x->locals, j);
			if (verify_cand_parts(x, l, strlen(l), d, strlen(d)) <
			    0)
				return err_set(err, "out of memory");
		}
	}
	return 0;
}
