/*
 * source - where the agent finds domains and recipients
 *
 * Every source type (file, mysql, maildir) fills one small table of
 * functions, like OpenSMTPD's table backends; the rest of the agent sees
 * only struct source.  A source adds its records to the shared canonical
 * state with its index as the tag, so that state_finish() can name the
 * source of a bad record.
 *
 * An export fails in one of two ways, and the caller maps them to exit
 * codes: SOURCE_DOWN (75: database unreachable, file missing or unreadable)
 * and SOURCE_BAD (1: malformed record, query of the wrong shape).  Messages
 * never hold recipient addresses beyond the one bad record, and never a
 * password.
 */
#ifndef MXSYNC_AGENT_SOURCE_H
#define MXSYNC_AGENT_SOURCE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../formats/conf.h"
#include "../formats/err.h"
#include "../formats/state.h"

/* SOURCE_WHERE_MAX - room for "path:line" or "query row N" */
#define SOURCE_WHERE_MAX 4200

#define SOURCE_OK 0
#define SOURCE_BAD (-1)
#define SOURCE_DOWN (-2)

struct agent_config;
struct source;

/* source_export_ctx - what an export needs besides the source itself */
struct source_export_ctx {
	struct state *st;
	const char *nexthop;	/* [agent] nexthop for domains without one */
	int inotify_fd;		/* >= 0: add watches on what is read */
	size_t domains;		/* records this source added */
	size_t recipients;
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
	 * poll - sources without inotify (mysql): 1 when the data may have
	 * changed since the last call, 0 when not, SOURCE_DOWN on error;
	 * NULL for sources watched with inotify.
	 */
	int (*poll)(struct source *src, struct err *err);
	void (*free)(struct source *src);
};

/* what an export does with a recipient whose domain no source lists */
#define SOURCE_UNLISTED_DROP 0		/* drop and count it (the default) */
#define SOURCE_UNLISTED_REFUSE 1	/* fail the export */

/* SOURCE_EXAMPLE_MAX - room for one folded address */
#define SOURCE_EXAMPLE_MAX 256

struct source {
	char *name;
	unsigned index;
	const struct source_ops *ops;
	void *priv;
	uint64_t poll_interval_ms;	/* poll sources only */
	int unlisted_domains;		/* SOURCE_UNLISTED_* */

	/* bookkeeping for status, filled by the export module */
	time_t last_export;
	time_t last_attempt;
	size_t domains, recipients;
	size_t unlisted;		/* recipients dropped: no such domain */
	char unlisted_example[SOURCE_EXAMPLE_MAX];	/* one of them */
	size_t unlisted_logged;		/* the count the daemon last logged */
	char error[ERR_LEN];		/* "" when the last export worked */
	int error_kind;
	/* a remark on the last export such as rows left out; "" for none */
	char note[ERR_LEN];
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

/* source_kind_name - "bad data" / "down" for messages */
const char *source_kind_name(int kind);

/* source_watch_dir - add an inotify watch for a directory (ctx fd >= 0) */
void source_watch_dir(struct source_export_ctx *ctx, const char *dir);

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

#endif
