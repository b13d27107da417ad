/*
 * verify_postconf - the primary's recipient tables, as postconf names them
 *
 * One "postconf [-c DIR] -xh" asks every parameter of verify_impl.h's VP_*
 * (expanded, as the daemons see them).  verify_postconf_parse() splits the
 * map parameters into tables (each table once, proxy: stripped for
 * postmap, pattern and enumerable types noted) and the four domain lists
 * into items as Postfix's match_list reads them: names (folded), type:table,
 * !negation, and /file/name read in place (nested at most 8 deep).  Fails
 * with the program's own message when postconf fails or gives fewer values
 * than asked, with "open(FILE): ..." for a list file, or out of memory.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/conf.h"
#include "../formats/norm.h"
#include "verify_impl.h"

const char *const verify_postconf_params[VP_COUNT] = {
    "recipient_canonical_maps",
    "canonical_maps",
    "virtual_alias_maps",
    "local_recipient_maps",
    "virtual_mailbox_maps",
    "relay_recipient_maps",
    "mydestination",
    "virtual_alias_domains",
    "virtual_mailbox_domains",
    "relay_domains",
    "recipient_delimiter",
    "myorigin",
    "parent_domain_matches_subdomains",
};

/* verify_postconf_read - the values of every parameter into x->val */
int verify_postconf_read(struct verify_ctx *x, struct err *err)
{
	char *argv[VP_COUNT + 5], *out = NULL, *p, *nl;
	struct verify_proc pr = {-1, -1, -1, "postconf"};
	size_t n, i;

	n = verify_proc_argv(x, "postconf", argv);
	argv[n++] = (char *)"-xh";
	for (i = 0; i < VP_COUNT; i++)
		argv[n++] = (char *)verify_postconf_params[i];
	argv[n] = NULL;
	if (verify_proc_spawn(argv, -1, &pr, err) < 0 ||
	    verify_proc_finish(&pr, &out, NULL, 0, err) < 0) {
		verify_proc_finish(&pr, &out, NULL, 0, err);
		return -1;
	}
	p = out;
	for (i = 0; i < VP_COUNT; i++) {
		if (*p == '\0') {
			err_set(err, "postconf: no value for %s",
				verify_postconf_params[i]);
			free(out);
			return -1;
		}
		nl = strchr(p, '\n');
		if (nl != NULL)
			*nl = '\0';
		if ((x->val[i] = strdup(p)) == NULL) {
			free(out);
			return err_set(err, "out of memory");
		}
		p = nl != NULL ? nl + 1 : p + strlen(p);
	}
	free(out);
	return 0;
}

/*
 * verify_postconf_tokens - split a Postfix list value at blanks and commas
 * outside braces (inline:{a=b, c=d} is one token); calls fn for each token
 */
static int verify_postconf_tokens(const char *s,
				  int (*fn)(void *, const char *, size_t),
				  void *arg)
{
	const char *start;
	int depth;

	for (;;) {
		while (*s != '\0' && strchr(", \t\r\n", *s) != NULL)
			s++;
		if (*s == '\0')
			return 0;
		start = s;
		depth = 0;
		while (*s != '\0' &&
		       (depth > 0 || strchr(", \t\r\n", *s) == NULL)) {
			if (*s == '{')
				depth++;
			else if (*s == '}' && depth > 0)
				depth--;
			s++;
		}
		if (fn(arg, start, (size_t)(s - start)) < 0)
			return -1;
	}
}

/* verify_postconf_table_type - the table type after "proxy:", e.g. "mysql" */
static size_t verify_postconf_table_type(const char *name, const char **type_r)
{
	const char *c = strchr(name, ':');

	*type_r = name;
	return c != NULL ? (size_t)(c - name) : 0;
}

/* verify_postconf_table_add - the index of a table, added when new; -1 on OOM
 */
static long verify_postconf_table_add(struct verify_ctx *x, const char *tok,
				      size_t len)
{
	static const char *const pattern[] = {"regexp", "pcre", "cidr", NULL};
	static const char *const enumerable[] = {"hash", "btree",    "lmdb",
						 "cdb",	 "texthash", "dbm",
						 "sdbm", "inline",   NULL};
	struct verify_table *t;
	const char *name, *type;
	size_t i, tlen;
	void *p;

	for (i = 0; i < x->nt; i++)
		if (strlen(x->t[i].shown) == len &&
		    memcmp(x->t[i].shown, tok, len) == 0)
			return (long)i;
	if ((p = realloc(x->t, (x->nt + 1) * sizeof(*x->t))) == NULL)
		return -1;
	x->t = p;
	t = &x->t[x->nt];
	memset(t, 0, sizeof(*t));
	if ((t->shown = strndup(tok, len)) == NULL)
		return -1;
	name = t->shown;
	/* proxymap asks the same table; postmap asks it directly */
	while (strncmp(name, "proxy:", 6) == 0)
		name += 6;
	if ((t->name = strdup(name)) == NULL) {
		free(t->shown);
		return -1;
	}
	tlen = verify_postconf_table_type(t->name, &type);
	for (i = 0; pattern[i] != NULL; i++)
		if (tlen == strlen(pattern[i]) &&
		    memcmp(type, pattern[i], tlen) == 0)
			t->pattern = 1;
	for (i = 0; enumerable[i] != NULL; i++)
		if (tlen == strlen(enumerable[i]) &&
		    memcmp(type, enumerable[i], tlen) == 0)
			t->enumerable = 1;
	return (long)x->nt++;
}

struct verify_postconf_maps_arg {
	struct verify_ctx *x;
	struct verify_maps *m;
};

static int verify_postconf_maps_token(void *arg, const char *tok, size_t len)
{
	struct verify_postconf_maps_arg *a = arg;
	long t = verify_postconf_table_add(a->x, tok, len);
	void *p;

	if (t < 0 ||
	    (p = realloc(a->m->t, (a->m->n + 1) * sizeof(*a->m->t))) == NULL)
		return -1;
	a->m->t = p;
	a->m->t[a->m->n++] = (size_t)t;
	return 0;
}

struct verify_postconf_list_arg {
	struct verify_ctx *x;
	struct verify_list *l;
	int neg;
	int depth;
	struct err *err;
};

static int verify_postconf_list_file(struct verify_postconf_list_arg *a,
				     const char *path);

static int verify_postconf_list_token(void *arg, const char *tok, size_t len)
{
	struct verify_postconf_list_arg *a = arg;
	struct verify_item *it;
	char folded[NORM_BUF_SIZE], *path;
	size_t flen;
	int neg = a->neg, rc;
	void *p;
	struct err ferr;

	while (len > 0 && *tok == '!') {
		neg = !neg;
		tok++;
		len--;
	}
	if (len == 0)
		return 0;
	if (*tok == '/') {
		if ((path = strndup(tok, len)) == NULL)
			return err_set(a->err, "out of memory");
		rc = a->neg;
		a->neg = neg;
		if (verify_postconf_list_file(a, path) < 0) {
			free(path);
			return -1;
		}
		a->neg = rc;
		free(path);
		return 0;
	}
	if ((p = realloc(a->l->it, (a->l->n + 1) * sizeof(*a->l->it))) == NULL)
		return err_set(a->err, "out of memory");
	a->l->it = p;
	it = &a->l->it[a->l->n];
	memset(it, 0, sizeof(*it));
	it->neg = neg;
	it->table = -1;
	if (*tok != '[' && memchr(tok, ':', len) != NULL) {
		if ((it->table = verify_postconf_table_add(a->x, tok, len)) < 0)
			return err_set(a->err, "out of memory");
	} else {
		/* Postfix folds the patterns of a list */
		if (norm_fold(tok, len, folded, sizeof(folded), &flen, &ferr) <
		    0)
			return 0;
		if ((it->lit = strndup(folded, flen)) == NULL)
			return err_set(a->err, "out of memory");
	}
	a->l->n++;
	return 0;
}

/* verify_postconf_list_file - a /file/name in a list: its words, in place */
static int verify_postconf_list_file(struct verify_postconf_list_arg *a,
				     const char *path)
{
	FILE *f;
	char line[4096], *hash;

	if (a->depth > 8)
		return err_set(a->err, "%s: lists nested too deep", path);
	if ((f = fopen(path, "r")) == NULL)
		return err_sys(a->err, "open(%s)", path);
	a->depth++;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((hash = strchr(line, '#')) != NULL)
			*hash = '\0';
		if (verify_postconf_tokens(line, verify_postconf_list_token,
					   a) < 0) {
			fclose(f);
			return -1;
		}
	}
	a->depth--;
	fclose(f);
	return 0;
}

/* verify_postconf_word_in - name is one of the words of a list value */
static int verify_postconf_word_in(const char *list, const char *name)
{
	size_t n = strlen(name), len;
	const char *p = list, *w;

	while ((w = conf_words_next(&p, &len)) != NULL)
		if (len == n && memcmp(w, name, n) == 0)
			return 1;
	return 0;
}

/* verify_postconf_parse - tables of every map parameter and every domain list
 */
int verify_postconf_parse(struct verify_ctx *x, struct err *err)
{
	size_t i;

	for (i = 0; i < VP_NMAPS; i++) {
		struct verify_postconf_maps_arg a = {x, &x->maps[i]};

		if (verify_postconf_tokens(x->val[i],
					   verify_postconf_maps_token, &a) < 0)
			return err_set(err, "out of memory");
	}
	for (i = 0; i < VERIFY_NLISTS; i++) {
		struct verify_postconf_list_arg a = {x, &x->lists[i], 0, 0,
						     err};

		x->lists[i].hostname = i == VP_RELAYDOMS - VP_MYDEST;
		x->lists[i].parent = verify_postconf_word_in(
		    x->val[VP_PARENT], verify_postconf_params[VP_MYDEST + i]);
		if (verify_postconf_tokens(x->val[VP_MYDEST + i],
					   verify_postconf_list_token, &a) < 0)
			return err_prefix(
			    err, "%s", verify_postconf_params[VP_MYDEST + i]);
	}
	return 0;
}
