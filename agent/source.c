/*
 * source - the shared part of the source types: choosing the type of a
 * [source NAME] section, the keys every type takes (allow_empty,
 * accept_all, unlisted_domains), normalising records, adding inotify
 * watches, and what the database and directory sources share: their key
 * checks (host or socket, absolute paths, schema presets), reading a
 * password file, hashing a change marker
 *
 * Failures are returned as SOURCE_BAD or SOURCE_DOWN with a message; see
 * source.h.  Messages name at most the one bad record.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "../formats/conf.h"
#include "../formats/norm.h"
#include "preset.h"
#include "source.h"
#include "watch.h"

static const struct source_ops *const source_types[] = {
    &source_file_ops,  &source_mysql_ops, &source_maildir_ops,
    &source_pgsql_ops, &source_ldap_ops,
};

/* source_common - the keys of every type, as conf.h targets */
struct source_common {
	char *type;
	int allow_empty;
	char *accept_all;
	char *unlisted_domains;
};

static const struct conf_key source_common_keys[] = {
    {"type", CONF_STRING, NULL, offsetof(struct source_common, type), 0, 0},
    {"allow_empty", CONF_BOOL, "no",
     offsetof(struct source_common, allow_empty), 0, 0},
    {"accept_all", CONF_STRING, "", offsetof(struct source_common, accept_all),
     0, 0},
    {"unlisted_domains", CONF_STRING, "drop",
     offsetof(struct source_common, unlisted_domains), 0, 0},
    {NULL, 0, NULL, 0, 0, 0},
};

/* source_is_common - 1 for a key source.c applies, not the type */
static int source_is_common(const char *key)
{
	return strcmp(key, "allow_empty") == 0 ||
	       strcmp(key, "accept_all") == 0 ||
	       strcmp(key, "unlisted_domains") == 0;
}

/* source_accept_all - fold the accept_all domains into src */
static int source_accept_all(struct source *src, const char *text,
			     const struct conf_file *cf, unsigned line,
			     struct err *err)
{
	const char *p = text, *w;
	char d[NORM_BUF_SIZE];
	size_t len, wlen;

	while ((w = conf_words_next(&p, &wlen)) != NULL) {
		char **nv;

		if (norm_domain(w, wlen, d, sizeof(d), &len, err) < 0)
			return err_prefix(err, "%s:%u: [source %s]: accept_all",
					  cf->path, line, src->name);
		nv = realloc(src->accept_all,
			     (src->naccept_all + 1) * sizeof(*nv));
		if (nv == NULL)
			return err_set(err, "out of memory");
		src->accept_all = nv;
		if ((nv[src->naccept_all] = strndup(d, len)) == NULL)
			return err_set(err, "out of memory");
		src->naccept_all++;
	}
	return 0;
}

struct source *source_new(const struct conf_file *cf,
			  const struct conf_section *sec, unsigned index,
			  struct err *err)
{
	struct source *src = NULL;
	struct source_common com;
	struct conf_section csec = *sec, tsec = *sec;
	const char *type = NULL;
	size_t i;

	memset(&com, 0, sizeof(com));
	csec.entries = tsec.entries = NULL;
	csec.n = tsec.n = 0;
	if (sec->n > 0 &&
	    ((csec.entries = calloc(sec->n, sizeof(*sec->entries))) == NULL ||
	     (tsec.entries = calloc(sec->n, sizeof(*sec->entries))) == NULL)) {
		err_set(err, "out of memory");
		goto fail;
	}
	/* "type" goes to both: the common table and the type's own. */
	for (i = 0; i < sec->n; i++) {
		const char *k = sec->entries[i].key;

		if (source_is_common(k) || strcmp(k, "type") == 0)
			csec.entries[csec.n++] = sec->entries[i];
		if (!source_is_common(k))
			tsec.entries[tsec.n++] = sec->entries[i];
	}
	sec = &tsec;

	for (i = 0; i < sec->n; i++)
		if (strcmp(sec->entries[i].key, "type") == 0)
			type = sec->entries[i].value;
	if (type == NULL) {
		err_set(err, "%s:%u: [source %s]: missing key 'type'", cf->path,
			sec->line, sec->name);
		return NULL;
	}
	if ((src = calloc(1, sizeof(*src))) == NULL ||
	    (src->name = strdup(sec->name)) == NULL) {
		err_set(err, "out of memory");
		goto fail;
	}
	src->index = index;
	for (i = 0; i < sizeof(source_types) / sizeof(source_types[0]); i++)
		if (strcmp(source_types[i]->type, type) == 0)
			src->ops = source_types[i];
	if (src->ops == NULL) {
		err_set(err,
			"%s:%u: [source %s]: unknown type '%s' "
			"(file, mysql, pgsql, ldap or maildir)",
			cf->path, conf_line(sec, "type"), sec->name, type);
		goto fail;
	}
	if (conf_apply(cf, &csec, source_common_keys, &com, err) < 0 ||
	    source_accept_all(src, com.accept_all, cf,
			      conf_line(&csec, "accept_all"), err) < 0)
		goto fail;
	src->allow_empty = com.allow_empty;
	if (strcmp(com.unlisted_domains, "drop") == 0)
		src->unlisted_domains = SOURCE_UNLISTED_DROP;
	else if (strcmp(com.unlisted_domains, "refuse") == 0)
		src->unlisted_domains = SOURCE_UNLISTED_REFUSE;
	else {
		err_set(err,
			"%s:%u: [source %s]: unlisted_domains must be drop "
			"or refuse, not '%s'",
			cf->path, conf_line(&csec, "unlisted_domains"),
			sec->name, com.unlisted_domains);
		goto fail;
	}
	if (src->ops->configure(src, cf, sec, err) < 0)
		goto fail;
	conf_free_target(source_common_keys, &com);
	free(csec.entries);
	free(tsec.entries);
	return src;
fail:
	conf_free_target(source_common_keys, &com);
	free(csec.entries);
	free(tsec.entries);
	source_free(src);
	return NULL;
}

void source_free(struct source *src)
{
	if (src == NULL)
		return;
	if (src->ops != NULL && src->ops->free != NULL)
		src->ops->free(src);
	while (src->naccept_all > 0)
		free(src->accept_all[--src->naccept_all]);
	free(src->accept_all);
	free(src->name);
	free(src);
}

const char *source_kind_name(int kind)
{
	switch (kind) {
	case SOURCE_DOWN:
		return "down";
	case SOURCE_BUSY:
		return "settling";
	case SOURCE_GUARD:
		return "guard";
	default:
		return "bad data";
	}
}

int source_export(struct source *src, struct source_export_ctx *ctx,
		  struct err *err)
{
	char addr[NORM_BUF_SIZE + 1];
	size_t i, len;
	int rc;

	if ((rc = src->ops->export(src, ctx, err)) < 0)
		return rc;
	/* A finished state holds accept_all already (source.h). */
	for (i = 0; ctx->finished == NULL && i < src->naccept_all; i++) {
		len = strlen(src->accept_all[i]);
		addr[0] = '@';
		memcpy(addr + 1, src->accept_all[i], len);
		if ((rc = source_add_recipient(src, ctx, addr, len + 1,
					       "accept_all", err)) < 0)
			return rc;
	}
	return SOURCE_OK;
}

/* source_mount_now - stat dir and its parent: 0, or -1 with errno */
static int source_mount_now(const char *dir, struct stat *st, int *mounted_r)
{
	char parent[PATH_MAX + 4];
	struct stat up;

	if (snprintf(parent, sizeof(parent), "%s/..", dir) >=
	    (int)sizeof(parent)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if (stat(dir, st) < 0 || stat(parent, &up) < 0)
		return -1;
	*mounted_r = st->st_dev != up.st_dev;
	return 0;
}

int source_mount_check(struct source *src, struct source_mount *m,
		       const char *dir, struct err *err)
{
	struct stat st;
	int mounted;

	if (source_mount_now(dir, &st, &mounted) < 0) {
		err_sys(err, "source %s: stat(%s)", src->name, dir);
		return SOURCE_DOWN;
	}
	if (m->seen && m->mounted && !mounted) {
		err_set(err,
			"source %s: nothing is mounted on %s any more (it "
			"was a mount point when the agent started)",
			src->name, dir);
		return SOURCE_DOWN;
	}
	/* First look, a remount, or a file system mounted since the start. */
	if (!m->seen || st.st_dev != m->dev) {
		m->seen = 1;
		m->dev = st.st_dev;
		m->mounted = mounted;
	}
	return SOURCE_OK;
}

int source_mount_changed(const struct source_mount *m, const char *dir)
{
	struct stat st;
	int mounted;

	if (!m->seen)
		return 0;
	if (source_mount_now(dir, &st, &mounted) < 0)
		return 1;
	return st.st_dev != m->dev || mounted != m->mounted;
}

void source_watch_dir(struct source_export_ctx *ctx, const char *dir)
{
	if (ctx->watch != NULL)
		(void)watch_add_dir(ctx->watch, dir);
}

int source_busy(const struct source_export_ctx *ctx, const char *path)
{
	return ctx->watch != NULL && watch_busy(ctx->watch, path);
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
		if (norm_route(nexthop, nlen, SOURCE_RELAY_TRANSPORTS, err) <
		    0) {
			err_prefix(err,
				   "source %s: %s: domain %s: [agent] "
				   "nexthop",
				   src->name, where, d);
			return SOURCE_BAD;
		}
	}
	if (norm_nexthop(nexthop, nlen, err) < 0) {
		err_prefix(err, "source %s: %s: domain %s", src->name, where,
			   d);
		return SOURCE_BAD;
	}
	if (state_add_domain(ctx->st, d, len, nexthop, nlen, src->index, err) <
	    0) {
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
			err_prefix(err, "source %s: %s%s%llu", src->name, where,
				   sep, n);
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

int source_path_check(const struct conf_file *cf,
		      const struct conf_section *sec, const char *key,
		      const char *value, struct err *err)
{
	if (*value != '\0' && value[0] != '/')
		return err_set(err,
			       "%s:%u: [source %s]: %s must be an absolute "
			       "path",
			       cf->path, conf_line(sec, key), sec->name, key);
	return 0;
}

int source_db_check(const struct conf_file *cf, const struct conf_section *sec,
		    const char *host, const char *socket, const char *socket_is,
		    const char *password_file, struct err *err)
{
	if (*host != '\0' && *socket != '\0')
		return err_set(err,
			       "%s:%u: [source %s]: set host or socket, "
			       "not both",
			       cf->path, conf_line(sec, "socket"), sec->name);
	if (*socket != '\0' && socket[0] != '/')
		return err_set(err,
			       "%s:%u: [source %s]: socket must be an "
			       "absolute path%s",
			       cf->path, conf_line(sec, "socket"), sec->name,
			       socket_is);
	return source_path_check(cf, sec, "password_file", password_file, err);
}

int source_db_preset(const struct conf_file *cf, const struct conf_section *sec,
		     const char *dialect, const char *schema,
		     char **domains_query, char **recipients_query,
		     char **change_query, struct err *err)
{
	const struct preset *p;

	if (*schema == '\0')
		return 0;
	if ((p = preset_find(schema, dialect)) == NULL)
		return err_set(err,
			       "%s:%u: [source %s]: unknown schema '%s' "
			       "(known for type %s: %s)",
			       cf->path, conf_line(sec, "schema"), sec->name,
			       schema, dialect, preset_names(dialect));
	if (preset_fill(p, domains_query, recipients_query, change_query) < 0)
		return err_set(err, "out of memory");
	return 0;
}

void source_change_add(crypto_generichash_state *h, const char *value,
		       size_t len)
{
	unsigned char tag = value == NULL ? 0 : 1;
	uint64_t n = value == NULL ? 0 : len;

	crypto_generichash_update(h, &tag, 1);
	crypto_generichash_update(h, (const unsigned char *)&n, sizeof(n));
	if (value != NULL)
		crypto_generichash_update(h, (const unsigned char *)value, n);
}

int source_db_poll(struct source *src, const struct source_db_poller *p,
		   void **conn, const unsigned char *last, struct err *err)
{
	unsigned char change[32];
	int rc, fresh;

	/*
	 * Only a failure that says the server is gone (an idle timeout, a
	 * restart) costs a new connection, and only once per poll.
	 */
	for (;;) {
		fresh = *conn == NULL;
		if (fresh && (*conn = p->connect(src, err)) == NULL)
			return SOURCE_DOWN;
		rc = p->change(src, *conn, change, err);
		if (rc != SOURCE_DOWN)
			break;
		p->close(*conn);
		*conn = NULL;
		if (fresh)
			break;
	}
	if (rc < 0)
		return rc;
	return sodium_memcmp(change, last, sizeof(change)) != 0;
}
