/*
 * trust - the trusted-keys file of a backup
 *
 * Parses the file described in trust.h into an array of keys, each with its
 * origin and its sorted, de-duplicated, folded domains.  Any malformed line
 * fails the whole load with "file:line: message"; a backup never runs with
 * half a trust file.
 *
 * Security: this file decides which keys may change which domains; the key
 * id must be the public key's id (so an id typo cannot silently point at a
 * different key).  One origin per domain, and per "*": a line that gives
 * another origin's domain (or a second "*") is an error naming both lines,
 * so no origin can take a domain by pushing first.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/fileio.h"
#include "../formats/manifest.h"
#include "../formats/norm.h"
#include "trust.h"

static void trust_key_clear(struct trust_key *k)
{
	size_t i;

	free(k->origin);
	for (i = 0; i < k->ndomains; i++)
		free(k->domains[i]);
	free(k->domains);
	memset(k, 0, sizeof(*k));
}

void trust_free(struct trust *t)
{
	size_t i;

	if (t == NULL)
		return;
	for (i = 0; i < t->n; i++)
		trust_key_clear(&t->keys[i]);
	free(t->keys);
	free(t->path);
	free(t);
}

static int trust_strcmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* trust_add_domain - fold one domain (or take "*") into k's list */
static int trust_add_domain(struct trust_key *k, const char *tok, size_t len,
			    struct err *err)
{
	char folded[NORM_BUF_SIZE];
	size_t flen = 0;
	char **nd, *d;

	if (len == 1 && tok[0] == '*') {
		memcpy(folded, "*", 2);
	} else {
		if (norm_domain(tok, len, folded, sizeof(folded), &flen, err) <
		    0)
			return err_prefix(err, "malformed domain \"%.*s\"",
					  len > 80 ? 80 : (int)len, tok);
		if (flen == 0)
			return err_set(err, "malformed domain \"%.*s\"",
				       len > 80 ? 80 : (int)len, tok);
	}
	if (k->ndomains == SIZE_MAX / sizeof(*nd) - 1)
		return err_set(err, "too many domains");
	d = strdup(folded);
	if (d == NULL)
		return err_sys(err, "strdup");
	nd = realloc(k->domains, (k->ndomains + 1) * sizeof(*nd));
	if (nd == NULL) {
		free(d);
		return err_sys(err, "realloc");
	}
	k->domains = nd;
	k->domains[k->ndomains++] = d;
	return 0;
}

/* trust_finish_domains - sort, drop duplicates; "*" alone means any */
static void trust_finish_domains(struct trust_key *k)
{
	size_t i, j;

	qsort(k->domains, k->ndomains, sizeof(*k->domains), trust_strcmp);
	for (i = 0, j = 0; i < k->ndomains; i++) {
		if (j > 0 && strcmp(k->domains[j - 1], k->domains[i]) == 0)
			free(k->domains[i]);
		else
			k->domains[j++] = k->domains[i];
	}
	k->ndomains = j;
	/* "*" sorts before every valid domain character */
	if (k->ndomains > 0 && strcmp(k->domains[0], "*") == 0) {
		for (i = 1; i < k->ndomains; i++)
			free(k->domains[i]);
		k->ndomains = 1;
	}
}

/* trust_next_token - the next blank-separated token of a line */
static const char *trust_next_token(const char **p, size_t *len_r)
{
	const char *s = *p, *e;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '\0') {
		*p = s;
		return NULL;
	}
	e = s;
	while (*e != '\0' && *e != ' ' && *e != '\t')
		e++;
	*p = e;
	*len_r = (size_t)(e - s);
	return s;
}

/* trust_parse_line - one non-comment line into k; message has no prefix */
static int trust_parse_line(const char *line, struct trust_key *k,
			    struct err *err)
{
	const char *p = line, *origin, *tag, *id, *b64, *tok;
	size_t olen = 0, tlen = 0, ilen = 0, blen = 0, len = 0;

	origin = trust_next_token(&p, &olen);
	tag = trust_next_token(&p, &tlen);
	id = trust_next_token(&p, &ilen);
	b64 = trust_next_token(&p, &blen);
	if (b64 == NULL)
		return err_set(err,
			       "want \"ORIGIN %s KEYID PUBKEY "
			       "DOMAIN...\"",
			       KEY_PUBLIC_TAG);
	if (!manifest_origin_valid(origin, olen))
		return err_set(err,
			       "malformed origin \"%.*s\" (want "
			       "letters, digits, \".\" and \"-\")",
			       olen > 80 ? 80 : (int)olen, origin);
	if (tlen != strlen(KEY_PUBLIC_TAG) ||
	    memcmp(tag, KEY_PUBLIC_TAG, tlen) != 0)
		return err_set(err, "unknown key type \"%.*s\" (want \"%s\")",
			       tlen > 40 ? 40 : (int)tlen, tag, KEY_PUBLIC_TAG);
	if (key_public_decode(id, ilen, b64, blen, k->pk, err) < 0)
		return -1;
	memcpy(k->id, id, KEY_ID_LEN);
	k->id[KEY_ID_LEN] = '\0';
	k->origin = strndup(origin, olen);
	if (k->origin == NULL)
		return err_sys(err, "strndup");
	while ((tok = trust_next_token(&p, &len)) != NULL)
		if (trust_add_domain(k, tok, len, err) < 0)
			return -1;
	if (k->ndomains == 0)
		return err_set(err,
			       "key %s lists no domains (use \"*\" for "
			       "any domain)",
			       k->id);
	trust_finish_domains(k);
	return 0;
}

/*
 * trust_names - 1 if k lists domain by name, in either IDNA spelling
 * (bücher.example and xn--bcher-kva.example are one domain: the second is
 * how most senders write it)
 */
static int trust_names(const struct trust_key *k, const char *domain,
		       size_t len)
{
	char alt[NORM_BUF_SIZE];
	size_t alen;

	if (trust_allows(k, domain, len))
		return 1;
	return norm_domain_alt(domain, len, alt, sizeof(alt), &alen) == 1 &&
	       trust_allows(k, alt, alen);
}

/* trust_exact - 1 if k lists domain by name (not through "*") */
static int trust_exact(const struct trust_key *k, const char *domain,
		       size_t len)
{
	if (k->ndomains == 1 && strcmp(k->domains[0], "*") == 0)
		return len == 1 && domain[0] == '*';
	return trust_names(k, domain, len);
}

/* trust_shared - k shares a domain (or "*") with a key of another origin */
static int trust_shared(const struct trust *t, const struct trust_key *k,
			struct err *err)
{
	size_t i, j;

	for (i = 0; i < t->n; i++) {
		const struct trust_key *o = &t->keys[i];

		if (strcmp(o->origin, k->origin) == 0)
			continue;
		for (j = 0; j < k->ndomains; j++)
			if (trust_exact(o, k->domains[j],
					strlen(k->domains[j])))
				return err_set(
				    err,
				    "domain %s is already "
				    "trusted to origin %s (line %u); "
				    "one origin per domain",
				    k->domains[j], o->origin, o->line);
	}
	return 0;
}

const char *trust_owner(const struct trust *t, const char *domain, size_t len)
{
	size_t i;

	for (i = 0; t != NULL && i < t->n; i++) {
		const struct trust_key *k = &t->keys[i];

		if (k->ndomains == 1 && strcmp(k->domains[0], "*") == 0)
			continue;
		if (trust_names(k, domain, len))
			return k->origin;
	}
	return NULL;
}

struct trust *trust_load(const char *path, struct err *err)
{
	struct trust *t = NULL;
	struct trust_key k, *nk;
	const struct trust_key *dup;
	char *text = NULL, *line, *next, *s;
	size_t len = 0, n;
	unsigned lineno = 0;
	int ok = 0;

	memset(&k, 0, sizeof(k));
	t = calloc(1, sizeof(*t));
	if (t == NULL) {
		err_sys(err, "calloc");
		goto out;
	}
	t->path = strdup(path);
	if (t->path == NULL) {
		err_sys(err, "strdup");
		goto out;
	}
	if (fileio_read_all(path, TRUST_FILE_MAX, &text, &len, err) < 0)
		goto out;
	for (line = text; line < text + len; line = next) {
		lineno++;
		next = memchr(line, '\n', (size_t)(text + len - line));
		n = next != NULL ? (size_t)(next - line)
				 : (size_t)(text + len - line);
		next = next != NULL ? next + 1 : text + len;
		if (memchr(line, '\0', n) != NULL) {
			err_set(err, "%s:%u: NUL byte in line", path, lineno);
			goto out;
		}
		line[n] = '\0';
		for (s = line; *s == ' ' || *s == '\t'; s++)
			;
		if (*s == '\0' || *s == '#')
			continue;
		memset(&k, 0, sizeof(k));
		k.line = lineno;
		if (trust_parse_line(line, &k, err) < 0) {
			err_prefix(err, "%s:%u", path, lineno);
			goto out;
		}
		dup = trust_find(t, k.id);
		if (dup != NULL) {
			err_set(err,
				"%s:%u: duplicate key id %s (first on "
				"line %u)",
				path, lineno, k.id, dup->line);
			goto out;
		}
		if (trust_shared(t, &k, err) < 0) {
			err_prefix(err, "%s:%u", path, lineno);
			goto out;
		}
		if (t->n == SIZE_MAX / sizeof(*nk) - 1) {
			err_set(err, "%s:%u: too many keys", path, lineno);
			goto out;
		}
		nk = realloc(t->keys, (t->n + 1) * sizeof(*nk));
		if (nk == NULL) {
			err_sys(err, "realloc");
			goto out;
		}
		t->keys = nk;
		t->keys[t->n++] = k;
		memset(&k, 0, sizeof(k));
	}
	ok = 1;
out:
	trust_key_clear(&k);
	free(text);
	if (!ok) {
		trust_free(t);
		t = NULL;
	}
	return t;
}

const struct trust_key *trust_find(const struct trust *t, const char *key_id)
{
	size_t i;

	if (t == NULL || key_id == NULL)
		return NULL;
	for (i = 0; i < t->n; i++)
		if (strcmp(t->keys[i].id, key_id) == 0)
			return &t->keys[i];
	return NULL;
}

int trust_allows(const struct trust_key *k, const char *domain, size_t len)
{
	size_t lo = 0, hi = k->ndomains, mid, dlen;
	int c;

	if (k->ndomains == 1 && strcmp(k->domains[0], "*") == 0)
		return 1;
	/* domains are sorted by strcmp; compare as NUL-terminated strings */
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		dlen = strlen(k->domains[mid]);
		c = memcmp(domain, k->domains[mid], len < dlen ? len : dlen);
		if (c == 0)
			c = len < dlen ? -1 : len > dlen;
		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}
