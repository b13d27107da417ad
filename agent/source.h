/*
 * source - where the agent finds domains and recipients
 *
 * Every source type (file, mysql, pgsql, ldap, maildir) fills one small
 * table of functions, like OpenSMTPD's table backends; the rest of the
 * agent sees only struct source.  A source adds its records to the shared
 * canonical state with its index as the tag, so that state_finish() can
 * name the source of a bad record.
 *
 * An export fails in one of these ways, and the caller maps them to exit
 * codes: SOURCE_DOWN (75: database unreachable, file missing or unreadable,
 * a file that does not settle, a Maildir root whose file system went away),
 * SOURCE_BAD (1: malformed record, query of the wrong shape), SOURCE_BUSY (a
 * file is being written or changed while it was read: the daemon waits and
 * exports again; it becomes SOURCE_DOWN after [agent] settle_timeout) and
 * SOURCE_GUARD (1: the agent's own guard refused the result, see guard.h).
 * Messages never hold recipient addresses beyond the one bad record, and
 * never a password.
 *
 * Keys every source type takes (source.c applies them, the type never sees
 * them):
 *
 *	allow_empty = yes	the source may yield no recipients at all
 *				(else that fails the export, see guard.h)
 *	accept_all = DOMAIN...	export "@DOMAIN" (accept every address) for
 *				each listed domain, which a source must list
 *	unlisted_domains = drop | refuse
 *				a recipient whose domain no source lists is
 *				dropped and counted (the default), or fails
 *				the export
 */
#ifndef MXSYNC_AGENT_SOURCE_H
#define MXSYNC_AGENT_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include <sodium.h>

#include "../formats/conf.h"
#include "../formats/err.h"
#include "../formats/state.h"

/* SOURCE_WHERE_MAX - room for "path:line" or "query row N" */
#define SOURCE_WHERE_MAX 4200

#define SOURCE_OK 0
#define SOURCE_BAD (-1)
#define SOURCE_DOWN (-2)
#define SOURCE_BUSY (-3)
#define SOURCE_GUARD (-4)

struct agent_config;
struct source;
struct watch;

/* source_export_ctx - what an export needs besides the source itself */
struct source_export_ctx {
	struct state *st;
	const char *nexthop; /* [agent] nexthop for domains without one */
	int inotify_fd;	     /* unused; kept for positional initialisers */
	struct watch *watch; /* not NULL: add watches on what is read, and
				wait for files that are being written */
	size_t domains;	     /* records this source added */
	size_t recipients;
	/*
	 * whole: set by export.c when this is the export's only source; the
	 * type may then hand back the finished state of the whole export in
	 * finished (accept_all and unlisted recipients already applied and
	 * counted in the source), and ctx->st is left alone
	 */
	int whole;
	struct state *finished;
	/*
	 * unchanged: set by the type with finished when nothing it reads
	 * changed since its previous whole export, which handed back the
	 * same state
	 */
	int unchanged;
};

struct source_ops {
	const char *type;
	/* configure - apply the section's keys; sets src->priv */
	int (*configure)(struct source *src, const struct conf_file *cf,
			 const struct conf_section *sec, struct err *err);
	/* check - check-config: files and directories exist, etc. */
	int (*check)(struct source *src, struct err *err);
	/* export - add records; SOURCE_OK, SOURCE_BAD or SOURCE_DOWN */
	int (*export)(struct source *src, struct source_export_ctx *ctx,
		      struct err *err);
	/*
	 * poll - what inotify cannot tell (a database, a file system mounted
	 * on a Maildir root): called every poll_interval_ms, 1 when the data
	 * may have changed since the last call, 0 when not, SOURCE_DOWN on
	 * error; NULL when inotify tells everything.
	 */
	int (*poll)(struct source *src, struct err *err);
	void (*free)(struct source *src);
};

/* what an export does with a recipient whose domain no source lists */
#define SOURCE_UNLISTED_DROP 0	 /* drop and count it (the default) */
#define SOURCE_UNLISTED_REFUSE 1 /* fail the export */

/* SOURCE_EXAMPLE_MAX - room for one folded address */
#define SOURCE_EXAMPLE_MAX 256

struct source {
	char *name;
	unsigned index;
	const struct source_ops *ops;
	void *priv;
	uint64_t poll_interval_ms; /* poll sources only */
	int unlisted_domains;	   /* SOURCE_UNLISTED_* */

	/* keys common to every type (see above) */
	int allow_empty;
	char **accept_all; /* folded domains */
	size_t naccept_all;
	/* set by configure when the source cannot yield recipients at all */
	int no_recipients;

	/* bookkeeping for status, filled by the export module */
	time_t last_export;
	time_t last_attempt;
	size_t domains, recipients;
	size_t pushed_recipients; /* at the last export that was adopted */
	size_t unlisted;	  /* recipients dropped: no such domain */
	char unlisted_example[SOURCE_EXAMPLE_MAX]; /* one of them */
	size_t unlisted_logged; /* the count the daemon last logged */
	char error[ERR_LEN];	/* "" when the last export worked */
	int error_kind;
	size_t skipped; /* entries skipped (not exported) */
	size_t skipped_logged;
	char skipped_example[256];
	/* a remark on the last export such as rows left out; "" for none */
	char note[ERR_LEN];
	/*
	 * files read by the last export (file sources), the lines of them
	 * parsed (fewer than they hold when only a changed span was, see
	 * source_file_span.c), its time in us
	 */
	size_t files_read;
	size_t lines_parsed;
	uint64_t export_us;
	/* the last export handed back its previous state (ctx.unchanged) */
	int unchanged;
};

extern const struct source_ops source_file_ops;
extern const struct source_ops source_mysql_ops;
extern const struct source_ops source_maildir_ops;
extern const struct source_ops source_pgsql_ops;
extern const struct source_ops source_ldap_ops;

/* SOURCE_PASSWORD_MAX - room for a database or directory password */
#define SOURCE_PASSWORD_MAX 1024

/*
 * source_new - the source of [source NAME]: looks up "type" and the keys
 * every type has ("unlisted_domains = drop | refuse"), then lets the type
 * apply its own key table to the other keys.  Errors are "file:line: ...".
 */
struct source *source_new(const struct conf_file *cf,
			  const struct conf_section *sec, unsigned index,
			  struct err *err);
void source_free(struct source *src);

/* source_kind_name - "bad data" / "down" / ... for messages */
const char *source_kind_name(int kind);

/*
 * source_export - the type's export, then the common keys (accept_all);
 * SOURCE_OK, SOURCE_BAD, SOURCE_DOWN or SOURCE_BUSY
 */
int source_export(struct source *src, struct source_export_ctx *ctx,
		  struct err *err);

/*
 * source_mount - what a directory a source reads was at the first export:
 * its device and whether it was a mount point (device unlike its parent's)
 */
struct source_mount {
	int seen;
	dev_t dev;
	int mounted;
};

/*
 * source_mount_check - SOURCE_DOWN with a message when dir was a mount
 * point at the first look and is not any more (its file system went away:
 * what shows is the directory below it); SOURCE_DOWN when dir cannot be
 * stat'ed.  A remount, or a file system mounted on dir since, is taken as
 * it is from then on.
 */
int source_mount_check(struct source *src, struct source_mount *m,
		       const char *dir, struct err *err);
/* source_mount_changed - 1 when dir was mounted or unmounted since m */
int source_mount_changed(const struct source_mount *m, const char *dir);

/* source_watch_dir - add an inotify watch for a directory (ctx->watch) */
void source_watch_dir(struct source_export_ctx *ctx, const char *dir);
/* source_busy - 1 when the daemon saw path being written and not closed */
int source_busy(const struct source_export_ctx *ctx, const char *path);

/* the transports of a route a backup is sent (norm_route) */
#define SOURCE_RELAY_TRANSPORTS "smtp relay"

/*
 * source_add_domain, source_add_recipient - normalise and add one record;
 * a domain's nexthop (a database column) is used only when it is a relay
 * route (smtp: or relay:), else the [agent] nexthop is, which must be one
 * (SOURCE_BAD naming the source otherwise);
 * where names the record's origin for messages ("file:line" or
 * "query recipients_query row 12").  Return SOURCE_BAD on a malformed
 * record.
 */
int source_add_domain(struct source *src, struct source_export_ctx *ctx,
		      const char *domain, size_t dlen, const char *nexthop,
		      size_t nlen, const char *where, struct err *err);
int source_add_recipient(struct source *src, struct source_export_ctx *ctx,
			 const char *addr, size_t alen, const char *where,
			 struct err *err);
/*
 * source_add_recipient_n - the same, with the origin given as where, sep
 * and a number ("FILE", ":", 12 or "recipients_query", " row ", 12), put
 * together only for a message: nothing is formatted per record.
 */
int source_add_recipient_n(struct source *src, struct source_export_ctx *ctx,
			   const char *addr, size_t alen, const char *where,
			   const char *sep, unsigned long long n,
			   struct err *err);

/*
 * source_password - the first line of the file at path (no line end) into
 * pw, which holds size octets and is the caller's to wipe; "" when path is
 * "".  Errors name the source and the file, never the content.
 */
int source_password(const struct source *src, const char *path, char *pw,
		    size_t size, struct err *err);

/* source_password_check - check-config: the password file can be read */
int source_password_check(const struct source *src, const char *path,
			  struct err *err);

/*
 * source_empty - SOURCE_BAD with "source NAME: WHAT (set allow_empty = yes
 * if that is right)", for a query or search that yielded nothing
 */
int source_empty(const struct source *src, const char *what, struct err *err);

/*
 * source_path_check - a key naming a file must be an absolute path when it
 * is set: "file:line: [source NAME]: KEY must be an absolute path"
 */
int source_path_check(const struct conf_file *cf,
		      const struct conf_section *sec, const char *key,
		      const char *value, struct err *err);

/*
 * source_db_check - the connection keys the SQL sources share: host or
 * socket, not both; socket an absolute path (socket_is says what it names,
 * "" or e.g. " (the socket's directory)"); password_file an absolute path
 */
int source_db_check(const struct conf_file *cf, const struct conf_section *sec,
		    const char *host, const char *socket, const char *socket_is,
		    const char *password_file, struct err *err);

/*
 * source_db_preset - "schema = NAME" of an SQL source: the preset's
 * queries for dialect ("mysql", "pgsql") where the user set none; "" is
 * no schema.  An unknown name is "file:line: ... (known for type ...)".
 */
int source_db_preset(const struct conf_file *cf, const struct conf_section *sec,
		     const char *dialect, const char *schema,
		     char **domains_query, char **recipients_query,
		     char **change_query, struct err *err);

/*
 * source_db_poller - how a database source asks its change query on the
 * connection its polls keep (conn is the type's own handle)
 */
struct source_db_poller {
	/* connect - a new connection, or NULL with SOURCE_DOWN's message */
	void *(*connect)(struct source *src, struct err *err);
	/* change - the change query's result hashed into out[32] */
	int (*change)(struct source *src, void *conn, unsigned char *out,
		      struct err *err);
	void (*close)(void *conn);
};

/*
 * source_db_poll - a poll of a database source: the change query on the
 * connection *conn kept between polls (opened when NULL), so a poll that
 * finds no change costs one round trip; a connection the server dropped
 * is replaced once.  1 when the result differs from last, 0 when not, or
 * the SOURCE_* failure.
 */
int source_db_poll(struct source *src, const struct source_db_poller *p,
		   void **conn, const unsigned char *last, struct err *err);

/*
 * source_change_add - one column of a change marker's row into its hash:
 * a NULL column (value NULL) and an empty one hash differently
 */
void source_change_add(crypto_generichash_state *h, const char *value,
		       size_t len);

#endif
