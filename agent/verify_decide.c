/*
 * verify_decide - the two decisions on every candidate, and their comparison
 *
 * The primary's decision models smtpd's check_rcpt_maps() as verify.h
 * describes it: each domain gets its address class from the four domain
 * lists, matched as match_list does (the domain, then for relay_domains
 * its parents as parent_domain_matches_subdomains says; the first item
 * that matches decides, a negated one refuses); each candidate's keys
 * (lookup_keys(): Postfix's forms, bare local parts for local domains,
 * full addresses only for pattern tables) go to every table of its
 * class's chain, and the first key found in any table of a parameter, in
 * the parameter order of the chain, accepts.  The backup's decision is
 * lookup_accepts() on the export, as "mxsyncd check" decides.
 * verify_decide_compare() counts agree, LOST and BACKSCATTER and keeps
 * the first VERIFY_EXAMPLES of each with what decided; it fails only when
 * out of memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../formats/lookup.h"
#include "../formats/norm.h"
#include "verify_impl.h"

#define VERIFY_FORMS 16

/* verify_decide_domain_forms - d, then its parents as a list table sees them */
static size_t verify_decide_domain_forms(const char *d, int parent, int fixed,
					 const char *forms[], size_t max,
					 char buf[][NORM_BUF_SIZE])
{
	const char *p = d;
	size_t n = 0;

	forms[n++] = d;
	while (fixed && n < max && (p = strchr(p + 1, '.')) != NULL) {
		snprintf(buf[n], NORM_BUF_SIZE, "%s", parent ? p + 1 : p);
		forms[n] = buf[n];
		n++;
	}
	return n;
}

/* verify_decide_list_keys - the domain keys each list table must be asked */
int verify_decide_list_keys(struct verify_ctx *x, const char *d)
{
	char buf[VERIFY_FORMS][NORM_BUF_SIZE];
	const char *forms[VERIFY_FORMS];
	size_t i, j, k, n;

	for (i = 0; i < VERIFY_NLISTS; i++) {
		const struct verify_list *l = &x->lists[i];

		for (j = 0; j < l->n; j++) {
			struct verify_table *t;

			if (l->it[j].table < 0)
				continue;
			t = &x->t[l->it[j].table];
			n = verify_decide_domain_forms(
			    d, l->parent, l->hostname && !t->pattern, forms,
			    VERIFY_FORMS, buf);
			for (k = 0; k < n; k++)
				if (verify_set_add(&t->keys, forms[k],
						   strlen(forms[k])) < 0)
					return -1;
		}
	}
	return 0;
}

/* verify_decide_list_match - match_list_match() of one domain */
static int verify_decide_list_match(const struct verify_ctx *x,
				    const struct verify_list *l, const char *d)
{
	char buf[VERIFY_FORMS][NORM_BUF_SIZE];
	const char *forms[VERIFY_FORMS];
	size_t j, k, n, dl = strlen(d), pl;
	int m;

	for (j = 0; j < l->n; j++) {
		const struct verify_item *it = &l->it[j];

		m = 0;
		if (it->table >= 0) {
			const struct verify_table *t = &x->t[it->table];

			n = verify_decide_domain_forms(
			    d, l->parent, l->hostname && !t->pattern, forms,
			    VERIFY_FORMS, buf);
			for (k = 0; k < n && !m; k++)
				m = verify_postmap_found(t, forms[k],
							 strlen(forms[k]));
		} else {
			pl = strlen(it->lit);
			m = strcmp(d, it->lit) == 0;
			if (!m && l->hostname && pl < dl &&
			    strcmp(d + dl - pl, it->lit) == 0)
				m = l->parent ? d[dl - pl - 1] == '.'
					      : it->lit[0] == '.';
		}
		if (m)
			return !it->neg;
	}
	return 0;
}

/* verify_decide_classify - the address class of domain d (VERIFY_*) */
int verify_decide_classify(const struct verify_ctx *x, const char *d)
{
	if (verify_decide_list_match(x, &x->lists[0], d))
		return VERIFY_LOCAL;
	if (verify_decide_list_match(x, &x->lists[1], d))
		return VERIFY_ALIAS;
	if (verify_decide_list_match(x, &x->lists[2], d))
		return VERIFY_VIRTUAL;
	if (verify_decide_list_match(x, &x->lists[3], d))
		return VERIFY_RELAY;
	return VERIFY_DEFAULT;
}

/* verify_decide_chain - the map parameters that decide a class, in order */
static size_t verify_decide_chain(int cls, int chain[4])
{
	size_t n = 0;

	if (cls == VERIFY_DEFAULT)
		return 0;
	chain[n++] = VP_RCANON;
	chain[n++] = VP_CANON;
	chain[n++] = VP_VALIAS;
	if (cls == VERIFY_LOCAL)
		chain[n++] = VP_LOCAL;
	else if (cls == VERIFY_VIRTUAL)
		chain[n++] = VP_VMBOX;
	else if (cls == VERIFY_RELAY)
		chain[n++] = VP_RELAY;
	return n;
}

/* verify_decide_keys_of - the keys of candidate i */
static int verify_decide_keys_of(const struct verify_ctx *x, size_t i,
				 struct lookup_keys *k, struct err *err)
{
	const char *f = verify_set_key(&x->folded, x->c[i].folded);
	const char *d = verify_set_key(&x->domains, x->c[i].dom);
	int local = x->dclass[x->c[i].dom] == VERIFY_LOCAL ||
		    strcasecmp(d, x->val[VP_MYORIGIN]) == 0;

	return lookup_keys(f, strlen(f), x->val[VP_DELIM],
			   local ? LOOKUP_LOCAL : 0, k, err);
}

/* verify_decide_assign - every table gets the keys it will be asked */
int verify_decide_assign(struct verify_ctx *x, struct err *err)
{
	struct lookup_keys k;
	int chain[4];
	size_t i, j, m, q, n;

	for (i = 0; i < x->nc; i++) {
		n = verify_decide_chain(x->dclass[x->c[i].dom], chain);
		if (n == 0 || verify_decide_keys_of(x, i, &k, err) < 0)
			continue;
		for (j = 0; j < n; j++) {
			const struct verify_maps *mp = &x->maps[chain[j]];

			for (m = 0; m < mp->n; m++) {
				struct verify_table *t = &x->t[mp->t[m]];

				for (q = 0; q < k.n; q++)
					if ((k.full[q] || !t->pattern) &&
					    verify_set_add(&t->keys, k.key[q],
							   k.len[q]) < 0)
						return err_set(err,
							       "out of memory");
			}
		}
	}
	return 0;
}

/*
 * verify_decide_primary - the primary's decision on candidate i: 1 accept, with
 * what decided in why
 */
static int verify_decide_primary(const struct verify_ctx *x, size_t i,
				 char *why, size_t wsize)
{
	static const char *const cname[] = {
	    "relay access denied: the domain is in no address class",
	    "mydestination", "virtual_alias_domains", "virtual_mailbox_domains",
	    "relay_domains"};
	struct lookup_keys k;
	struct err e;
	int cls = x->dclass[x->c[i].dom], chain[4];
	size_t n, j, q, m;
	const char *f, *at;

	n = verify_decide_chain(cls, chain);
	if (n == 0) {
		snprintf(why, wsize, "%s", cname[0]);
		return 0;
	}
	if (verify_decide_keys_of(x, i, &k, &e) < 0) {
		snprintf(why, wsize, "%s", e.msg);
		return 0;
	}
	for (j = 0; j < n; j++) {
		const struct verify_maps *mp = &x->maps[chain[j]];

		/* mail_addr_find(): each key in every table, then the next */
		for (q = 0; q < k.n; q++)
			for (m = 0; m < mp->n; m++) {
				const struct verify_table *t = &x->t[mp->t[m]];

				if ((k.full[q] || !t->pattern) &&
				    verify_postmap_found(t, k.key[q],
							 k.len[q])) {
					snprintf(
					    why, wsize, "%s %s (key %s)",
					    verify_postconf_params[chain[j]],
					    t->shown, k.key[q]);
					return 1;
				}
			}
	}
	f = verify_set_key(&x->folded, x->c[i].folded);
	at = strrchr(f, '@');
	if (cls == VERIFY_LOCAL &&
	    (((size_t)(at - f) == 10 && memcmp(f, "postmaster", 10) == 0) ||
	     ((size_t)(at - f) == 13 && memcmp(f, "mailer-daemon", 13) == 0) ||
	     ((size_t)(at - f) == 13 && memcmp(f, "double-bounce", 13) == 0))) {
		snprintf(why, wsize, "mydestination: always accepted");
		return 1;
	}
	if (cls != VERIFY_ALIAS && x->maps[chain[n - 1]].n == 0) {
		snprintf(why, wsize, "%s: %s is empty", cname[cls],
			 verify_postconf_params[chain[n - 1]]);
		return 1;
	}
	if (cls == VERIFY_ALIAS)
		snprintf(why, wsize,
			 "virtual_alias_domains: not in "
			 "virtual_alias_maps");
	else
		snprintf(why, wsize, "%s: not in %s", cname[cls],
			 verify_postconf_params[chain[n - 1]]);
	return 0;
}

static int verify_decide_example_set(struct verify_example *e, const char *addr,
				     const char *primary, const char *backup)
{
	e->address = strdup(addr);
	e->primary_by = strdup(primary);
	e->backup_by = strdup(backup);
	return e->address && e->primary_by && e->backup_by ? 0 : -1;
}

/* verify_decide_compare - both decisions on every candidate */
int verify_decide_compare(struct verify_ctx *x, const struct state *st,
			  struct verify_result *r, struct err *err)
{
	char why[2 * NORM_BUF_SIZE], match[NORM_BUF_SIZE],
	    bwhy[NORM_BUF_SIZE + 64];
	const char *a;
	size_t i;
	int p, b, known;
	struct err e;

	for (i = 0; i < x->nc; i++) {
		a = verify_set_key(&x->cands, x->c[i].text);
		p = verify_decide_primary(x, i, why, sizeof(why));
		b = lookup_accepts(st, a,
				   x->o->delimiter ? x->o->delimiter : "",
				   &known, match, sizeof(match), &e);
		if (b < 0)
			continue;
		if (b)
			snprintf(bwhy, sizeof(bwhy), "matched %s", match);
		else
			snprintf(bwhy, sizeof(bwhy), "%s",
				 known ? "no key of it exported"
				       : "domain not exported");
		r->candidates++;
		if (x->o->list != NULL)
			fprintf(x->o->list, "%s primary=%s backup=%s %s; %s\n",
				a, p ? "accept" : "reject",
				b ? "accept" : "reject", why, bwhy);
		if (p == b) {
			r->agree++;
		} else if (p) {
			if (r->lost++ < VERIFY_EXAMPLES &&
			    verify_decide_example_set(
				&r->lost_ex[r->nlost_ex++], a, why, bwhy) < 0)
				return err_set(err, "out of memory");
		} else {
			if (r->backscatter++ < VERIFY_EXAMPLES &&
			    verify_decide_example_set(&r->bs_ex[r->nbs_ex++], a,
						      why, bwhy) < 0)
				return err_set(err, "out of memory");
		}
	}
	return 0;
}

/* verify_decide_stats - every table that was asked, with its counts */
int verify_decide_stats(const struct verify_ctx *x, struct verify_result *r,
			struct err *err)
{
	size_t i, k;

	if ((r->tables = calloc(x->nt + 1, sizeof(*r->tables))) == NULL)
		return err_set(err, "out of memory");
	for (i = 0; i < x->nt; i++) {
		struct verify_table_stat *ts = &r->tables[r->ntables];

		if (x->t[i].keys.n == 0)
			continue;
		if ((ts->table = strdup(x->t[i].shown)) == NULL)
			return err_set(err, "out of memory");
		ts->keys = x->t[i].keys.n;
		for (k = 0; k < ts->keys; k++)
			ts->found += x->t[i].found[k];
		r->ntables++;
	}
	return 0;
}
