/*
 * lookup - Postfix's recipient-table lookup rules
 *
 * The rules follow Postfix's own code: split_addr_internal() of
 * src/global/split_addr.c (which local parts are never cut, the cut at the
 * first delimiter character), strip_addr_internal() of strip_addr.c (the
 * domain is kept, only the local part is cut) and mail_addr_find_opt() of
 * mail_addr_find.c (the probe order).  Failures are a malformed address,
 * with norm_address()'s message.
 */
#include <stdio.h>
#include <string.h>

#include "lookup.h"

size_t lookup_split(const char *local, size_t llen, const char *delimiter)
{
	size_t i;

	if (delimiter == NULL || *delimiter == '\0')
		return 0;
	if ((llen == 10 && memcmp(local, "postmaster", 10) == 0) ||
	    (llen == 13 && memcmp(local, "mailer-daemon", 13) == 0) ||
	    (llen == 13 && memcmp(local, "double-bounce", 13) == 0))
		return 0;
	/* owner_request_special = yes, Postfix's default */
	if (strchr(delimiter, '-') != NULL &&
	    ((llen >= 6 && memcmp(local, "owner-", 6) == 0) ||
	     (llen > 8 && memcmp(local + llen - 8, "-request", 8) == 0)))
		return 0;
	for (i = 0; i < llen; i++)
		if (local[i] != '\0' && strchr(delimiter, local[i]) != NULL)
			break;
	/* no cut that leaves an empty local part, nor without a delimiter */
	if (i == 0 || i == llen)
		return 0;
	return i;
}

int lookup_delimiter_ok(const char *delimiter)
{
	size_t i, n = strlen(delimiter);

	if (n > LOOKUP_DELIM_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (delimiter[i] <= ' ' || delimiter[i] > '~' ||
		    delimiter[i] == '@')
			return 0;
	return 1;
}

int lookup_delimiter_same(const char *a, const char *b)
{
	const char *p;

	for (p = a; *p != '\0'; p++)
		if (strchr(b, *p) == NULL)
			return 0;
	for (p = b; *p != '\0'; p++)
		if (strchr(a, *p) == NULL)
			return 0;
	return 1;
}

/* lookup_add - append one key to k->buf; -1 when it does not fit */
static int lookup_add(struct lookup_keys *k, size_t *used, const char *a,
		      size_t alen, const char *b, size_t blen, int full)
{
	char *p;

	if (k->n >= LOOKUP_KEYS_MAX || alen + blen + 1 > sizeof(k->buf) - *used)
		return -1;
	p = k->buf + *used;
	memcpy(p, a, alen);
	memcpy(p + alen, b, blen);
	p[alen + blen] = '\0';
	k->key[k->n] = p;
	k->len[k->n] = alen + blen;
	k->full[k->n] = (unsigned char)full;
	k->n++;
	*used += alen + blen + 1;
	return 0;
}

int lookup_keys(const char *addr, size_t len, const char *delimiter, int flags,
		struct lookup_keys *k, struct err *err)
{
	const char *at = memrchr(addr, '@', len);
	size_t used = 0, llen, keep;
	int bad = 0;

	k->n = 0;
	if (at == NULL)
		return err_set(err, "no \"@\" in address \"%.*s\"",
			       (int)(len > 256 ? 256 : len), addr);
	llen = (size_t)(at - addr);
	bad |= lookup_add(k, &used, addr, len, "", 0, 1);
	if (llen == 0)
		return bad ? err_set(err, "address too long") : 0;
	keep = lookup_split(addr, llen, delimiter);
	if (keep > 0)
		bad |= lookup_add(k, &used, addr, keep, at, len - llen, 0);
	if (flags & LOOKUP_LOCAL) {
		bad |= lookup_add(k, &used, addr, llen, "", 0, 0);
		if (keep > 0)
			bad |= lookup_add(k, &used, addr, keep, "", 0, 0);
	}
	bad |= lookup_add(k, &used, at, len - llen, "", 0, 0);
	if (bad)
		return err_set(err, "address too long");
	return 0;
}

int lookup_accepts(const struct state *st, const char *addr,
		   const char *delimiter, int *domain_known_r, char *match,
		   size_t msize, struct err *err)
{
	char key[NORM_BUF_SIZE];
	struct lookup_keys k;
	const char *at;
	size_t n, i;

	if (domain_known_r != NULL)
		*domain_known_r = 0;
	if (match != NULL && msize > 0)
		match[0] = '\0';
	if (norm_address(addr, strlen(addr), key, sizeof(key), &n, err) < 0)
		return -1;
	at = memrchr(key, '@', n);
	if (state_find_domain(st, at + 1, n - (size_t)(at + 1 - key)) < 0)
		return 0;
	if (domain_known_r != NULL)
		*domain_known_r = 1;
	/* a backup's domains are relay domains, never local ones */
	if (lookup_keys(key, n, delimiter, 0, &k, err) < 0)
		return -1;
	for (i = 0; i < k.n; i++) {
		if (!state_has_recipient(st, k.key[i], k.len[i]))
			continue;
		if (match != NULL && msize > 0)
			snprintf(match, msize, "%s", k.key[i]);
		return 1;
	}
	return 0;
}
