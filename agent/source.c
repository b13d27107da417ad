/*
 * source - the shared part of the source types: choosing the type of a
 * [source NAME] section, normalising records, adding inotify watches
 *
 * Failures are returned as SOURCE_BAD or SOURCE_DOWN with a message; see
 * source.h.  Messages name at most the one bad record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <sodium.h>

#include "../formats/norm.h"
#include "source.h"

static const struct source_ops *const source_types[] = {
	&source_file_ops,
	&source_mysql_ops,
	&source_maildir_ops,
	&source_pgsql_ops,
	&source_ldap_ops,
};

/* source_common - keys of every type, handled here and hidden from it */
static int source_common(struct source *src, const struct conf_file *cf,
			 const struct conf_entry *e, struct err *err)
{
	if (strcmp(e->key, "unlisted_domains") != 0)
		return 0;
	if (strcmp(e->value, "drop") == 0)
		src->unlisted_domains = SOURCE_UNLISTED_DROP;
	else if (strcmp(e->value, "refuse") == 0)
		src->unlisted_domains = SOURCE_UNLISTED_REFUSE;
	else
		return err_set(err, "%s:%u: [source %s]: unlisted_domains must "
			       "be drop or refuse, not '%s'", cf->path, e->line,
			       src->name, e->value);
	return 1;
}

struct source *source_new(const struct conf_file *cf,
			  const struct conf_section *sec, unsigned index,
			  struct err *err)
{
	struct source *src = NULL;
	struct conf_section own = *sec;
	const char *type = NULL;
	size_t i;
	int rc;

	own.entries = NULL;
	own.n = 0;
	for (i = 0; i < sec->n; i++)
		if (strcmp(sec->entries[i].key, "type") == 0)
			type = sec->entries[i].value;
	if (type == NULL) {
		err_set(err, "%s:%u: [source %s]: missing key 'type'",
			cf->path, sec->line, sec->name);
		return NULL;
	}
	if ((src = calloc(1, sizeof(*src))) == NULL ||
	    (src->name = strdup(sec->name)) == NULL) {
		err_set(err, "out of memory");
		goto fail;
	}
	src->index = index;
	src->unlisted_domains = SOURCE_UNLISTED_DROP;
	/* The type sees its own keys only. */
	if (sec->n > 0 &&
	    (own.entries = calloc(sec->n, sizeof(*own.entries))) == NULL) {
		err_set(err, "out of memory");
		goto fail;
	}
	for (i = 0; i < sec->n; i++) {
		if ((rc = source_common(src, cf, &sec->entries[i], err)) < 0)
			goto fail;
		if (rc == 0)
			own.entries[own.n++] = sec->entries[i];
	}
	for (i = 0; i < sizeof(source_types) / sizeof(source_types[0]); i++)
		if (strcmp(source_types[i]->type, type) == 0)
			src->ops = source_types[i];
	if (src->ops == NULL) {
		err_set(err, "%s:%u: [source %s]: unknown type '%s' "
			"(file, mysql, pgsql, ldap or maildir)", cf->path,
			conf_line(sec, "type"), sec->name, type);
		goto fail;
	}
	if (src->ops->configure(src, cf, &own, err) < 0)
		goto fail;
	free(own.entries);
	return src;
fail:
	free(own.entries);
	source_free(src);
	return NULL;
}

void source_free(struct source *src)
{
	if (src == NULL)
		return;
	if (src->ops != NULL && src->ops->free != NULL)
		src->ops->free(src);
	free(src->name);
	free(src);
}

const char *source_kind_name(int kind)
{
	return kind == SOURCE_DOWN ? "down" : "bad data";
}

void source_watch_dir(struct source_export_ctx *ctx, const char *dir)
{
	if (ctx->inotify_fd < 0)
		return;
	/*
	 * Directory events cover files replaced by rename (editors, postmap
	 * style tools) and mailboxes created or removed.  A failure (watch
	 * limit) only costs promptness: the daemon also re-exports on a timer.
	 */
	(void)inotify_add_watch(ctx->inotify_fd, dir,
				IN_CREATE | IN_DELETE | IN_MOVED_FROM |
				IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB |
				IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR);
}

int source_add_domain(struct source *src, struct source_export_ctx *ctx,
		      const char *domain, size_t dlen, const char *nexthop,
		      size_t nlen, const char *where, struct err *err)
{
	char d[NORM_BUF_SIZE];
	size_t len;

	if (norm_domain(domain, dlen, d, sizeof(d), &len, err) < 0) {
		err_prefix(err, "source %s: %s", src->name, where);
		return SOURCE_BAD;
	}
	/*
	 * A nexthop column replaces [agent] nexthop only with a relay route:
	 * a panel's local transport (PostfixAdmin's domain.transport holds
	 * "virtual") is how the primary delivers, not a route for a backup.
	 */
	if (nexthop != NULL && nlen > 0 &&
	    norm_route(nexthop, nlen, SOURCE_RELAY_TRANSPORTS, err) < 0)
		nexthop = NULL;
	if (nexthop == NULL || nlen == 0) {
		nexthop = ctx->nexthop;
		nlen = strlen(nexthop);
		if (norm_route(nexthop, nlen, SOURCE_RELAY_TRANSPORTS,
			       err) < 0) {
			err_prefix(err, "source %s: %s: domain %s: [agent] "
				   "nexthop", src->name, where, d);
			return SOURCE_BAD;
		}
	}
	if (norm_nexthop(nexthop, nlen, err) < 0) {
		err_prefix(err, "source %s: %s: domain %s", src->name, where, d);
		return SOURCE_BAD;
	}
	if (state_add_domain(ctx->st, d, len, nexthop, nlen, src->index,
			     err) < 0) {
		err_prefix(err, "source %s: %s", src->name, where);
		return SOURCE_BAD;
	}
	ctx->domains++;
	return SOURCE_OK;
}

int source_add_recipient_n(struct source *src, struct source_export_ctx *ctx,
			   const char *addr, size_t alen, const char *where,
			   const char *sep, unsigned long long n,
			   struct err *err)
{
	if (state_add_address(ctx->st, addr, alen, src->index, err) < 0) {
		if (sep != NULL)
			err_prefix(err, "source %s: %s%s%llu", src->name,
				   where, sep, n);
		else
			err_prefix(err, "source %s: %s", src->name, where);
		return SOURCE_BAD;
	}
	ctx->recipients++;
	return SOURCE_OK;
}

int source_add_recipient(struct source *src, struct source_export_ctx *ctx,
			 const char *addr, size_t alen, const char *where,
			 struct err *err)
{
	return source_add_recipient_n(src, ctx, addr, alen, where, NULL, 0,
				      err);
}

int source_password(const struct source *src, const char *path, char *pw,
		    size_t size, struct err *err)
{
	int fd = -1, rc = -1;
	ssize_t n;
	size_t len = 0;

	pw[0] = '\0';
	if (*path == '\0')
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		err_sys(err, "source %s: open(%s)", src->name, path);
		goto out;
	}
	while (len < size - 1) {
		n = read(fd, pw + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err_sys(err, "source %s: read(%s)", src->name, path);
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	pw[len] = '\0';
	pw[strcspn(pw, "\r\n")] = '\0';
	rc = 0;
out:
	if (fd >= 0)
		close(fd);
	return rc;
}

int source_password_check(const struct source *src, const char *path,
			  struct err *err)
{
	char *pw;
	int rc;

	if ((pw = sodium_malloc(SOURCE_PASSWORD_MAX)) == NULL)
		return err_set(err, "out of memory");
	rc = source_password(src, path, pw, SOURCE_PASSWORD_MAX, err);
	sodium_memzero(pw, SOURCE_PASSWORD_MAX);
	sodium_free(pw);
	return rc;
}

int source_empty(const struct source *src, const char *what, struct err *err)
{
	err_set(err, "source %s: %s (set allow_empty = yes if that is right)",
		src->name, what);
	return SOURCE_BAD;
}
