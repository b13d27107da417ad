/*
 * source_file_route - the next hops of a file source's transport files
 * (transport = FILE): read, checked against the relay rules and kept in
 * fc->routes, sorted by domain
 *
 * Used by source_file.c and source_file_cache.c (the declarations are in
 * source_file_priv.h).  A subdomain key (".example.com"), "*", an address
 * key, or a value that is not a relay route is refused naming file:line,
 * as are two different next hops for one domain.  It never prints.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../formats/buf.h"
#include "../formats/norm.h"
#include "../formats/textmap.h"
#include "source.h"
#include "source_file_priv.h"

void source_file_routes_clear(struct source_file_conf *fc)
{
	while (fc->nroutes > 0) {
		fc->nroutes--;
		free(fc->routes[fc->nroutes].domain);
		free(fc->routes[fc->nroutes].nexthop);
	}
	free(fc->routes);
	fc->routes = NULL;
}

/* source_file_route_find - the route of a folded domain, or NULL */
const struct source_file_route *
source_file_route_find(const struct source_file_conf *fc, const char *d,
		       size_t len)
{
	size_t lo = 0, hi = fc->nroutes;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = fc->routes[mid].domain;
		int c = strncmp(k, d, len);

		if (c == 0 && k[len] != '\0')
			c = 1;
		if (c == 0)
			return &fc->routes[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

struct source_file_tcb {
	struct source *src;
	const char *file;
};

/* source_file_transport_key - check and keep one line of a transport file */
static int source_file_transport_key(void *arg, const char *key, size_t klen,
				     const char *value, size_t vlen,
				     const char *file, unsigned line,
				     struct err *err)
{
	struct source_file_tcb *cb = arg;
	struct source *src = cb->src;
	struct source_file_conf *fc = src->priv;
	struct source_file_route *nr;
	char d[NORM_BUF_SIZE];
	size_t len;
	int k = klen > 200 ? 200 : (int)klen;

	if (key[0] == '.' || (klen == 1 && key[0] == '*'))
		return err_set(err,
			       "source %s: %s:%u: \"%.*s\" would route %s; "
			       "the backup relays exactly the listed domains: "
			       "list each one",
			       src->name, file, line, k, key,
			       key[0] == '.' ? "subdomains" : "every domain");
	if (memchr(key, '@', klen) != NULL)
		return err_set(err,
			       "source %s: %s:%u: \"%.*s\": address keys "
			       "are not read; the backup routes whole domains",
			       src->name, file, line, k, key);
	/* The route check of source_add_domain, but a refusal, not a fallback.
	 */
	if (norm_route(value, vlen, SOURCE_RELAY_TRANSPORTS, err) < 0)
		return err_prefix(err,
				  "source %s: %s:%u: domain %.*s: not a "
				  "relay route (a backup only relays to the "
				  "next hop)",
				  src->name, file, line, k, key);
	if (norm_domain(key, klen, d, sizeof(d), &len, err) < 0)
		return err_prefix(err, "source %s: %s:%u", src->name, file,
				  line);
	nr = realloc(fc->routes, (fc->nroutes + 1) * sizeof(*nr));
	if (nr == NULL)
		return err_set(err, "out of memory");
	fc->routes = nr;
	nr += fc->nroutes;
	nr->domain = strndup(d, len);
	nr->nexthop = strndup(value, vlen);
	nr->file = cb->file;
	nr->line = line;
	fc->nroutes++;
	if (nr->domain == NULL || nr->nexthop == NULL)
		return err_set(err, "out of memory");
	return 0;
}

static int source_file_route_cmp(const void *a, const void *b)
{
	const struct source_file_route *x = a, *y = b;
	int c = strcmp(x->domain, y->domain);

	if (c != 0)
		return c;
	/* Same domain: keep file order, so the first line is named first. */
	if (x->file != y->file)
		return x->file < y->file ? -1 : 1;
	return x->line < y->line ? -1 : x->line > y->line;
}

/* source_file_transports - read every transport file into fc->routes, sorted */
int source_file_transports(struct source *src, struct source_export_ctx *ctx,
			   struct err *err)
{
	struct source_file_conf *fc = src->priv;
	size_t i, j;
	int rc;

	for (i = 0; i < fc->nt; i++) {
		struct buf b = BUF_INIT;
		struct source_file_tcb cb = {src, fc->tfiles[i]};

		if ((rc = source_file_read_settled(src, ctx, fc->tfiles[i], &b,
						   err)) < 0)
			return rc;
		rc = textmap_parse_buf(fc->tfiles[i], b.data ? b.data : "",
				       b.len, TEXTMAP_POSTMAP,
				       source_file_transport_key, &cb, err);
		fc->lines_parsed += source_file_lines(b.data, b.len);
		buf_free(&b);
		if (rc != 0) {
			if (strncmp(err->msg, "source ", 7) != 0)
				err_prefix(err, "source %s", src->name);
			return SOURCE_BAD;
		}
	}
	if (fc->nroutes > 1)
		qsort(fc->routes, fc->nroutes, sizeof(*fc->routes),
		      source_file_route_cmp);
	/* One domain, one next hop; the same line twice is harmless. */
	for (i = 0, j = 0; i < fc->nroutes; i++) {
		struct source_file_route *r = &fc->routes[i];

		if (j > 0 && strcmp(fc->routes[j - 1].domain, r->domain) == 0) {
			struct source_file_route *f = &fc->routes[j - 1];

			if (strcmp(f->nexthop, r->nexthop) != 0) {
				err_set(err,
					"source %s: %s:%u: domain %s: next "
					"hop \"%s\", but \"%s\" at %s:%u",
					src->name, r->file, r->line, r->domain,
					r->nexthop, f->nexthop, f->file,
					f->line);
				return SOURCE_BAD;
			}
			free(r->domain);
			free(r->nexthop);
			continue;
		}
		fc->routes[j++] = *r;
	}
	fc->nroutes = j;
	for (i = 0; i < fc->nroutes; i++) {
		struct source_file_route *r = &fc->routes[i];
		char where[SOURCE_WHERE_MAX];

		snprintf(where, sizeof(where), "%s:%u", r->file, r->line);
		if ((rc = source_add_domain(
			 src, ctx, r->domain, strlen(r->domain), r->nexthop,
			 strlen(r->nexthop), where, err)) < 0)
			return rc;
	}
	return SOURCE_OK;
}
