/*
 * source_file_priv - what the file source's files share: its
 * configuration (source_file.c) with the cache of its records
 * (source_file_cache.c), the units' pending edits and the export merged
 * from them (source_file_pend.c), the settled read of a file
 * (source_file_read.c), the transport files' routes (source_file_route.c)
 * and the parse of a cached file's changed span
 * (source_file_span.c), and the functions each calls in the others.
 * Private to those files.
 */
#ifndef MXSYNC_AGENT_SOURCE_FILE_PRIV_H
#define MXSYNC_AGENT_SOURCE_FILE_PRIV_H

#include <stddef.h>
#include <sys/stat.h>

#include "../formats/buf.h"
#include "../formats/delta.h"
#include "../formats/err.h"
#include "../formats/textmap.h"
#include "source.h"

/* the largest file read */
#define SOURCE_FILE_MAX_SIZE (4ULL << 30)

/*
 * the shortest line a file's size is divided by to pre-size a state
 * (source_file_reserve, source_file_cache_unit_build)
 */
#define SOURCE_FILE_LINE_MIN 24

/* the cache of a whole export; what is trusted: source_file_cache.c */
struct source_file_cache_seen {
	struct stat sb;
	int have, trusted;
};

/* a key a unit's file yields on more than one line, and on how many */
struct source_file_span_dup {
	char *key; /* folded */
	size_t len;
	size_t count; /* 2 or more */
};

struct source_file_cache_unit {
	struct state *set; /* finished, see source_file_cache.c */
	/*
	 * Changes of the records not yet copied into set, in key order, at
	 * their places in set (delta_splice): the unit's records are set with
	 * them.  The keys of additions are the unit's, those of removals
	 * point into set.
	 */
	struct delta_edit *pend;
	size_t npend;
	size_t added;	 /* recipient records the unit yielded */
	size_t unlisted; /* of them dropped: no such domain */
	char unlisted_example[SOURCE_EXAMPLE_MAX];
	struct buf gone; /* the dropped ones, in key order, "\n" after each */
	int gone_lost;	 /* out of memory while keeping them */
	/*
	 * The file's bytes the unit was parsed from, and the keys they yield
	 * more than once (sorted), for source_file_span.c; bytes NULL: none
	 * kept (accept_all, or out of memory), the next change is parsed
	 * whole.
	 */
	char *bytes;
	size_t blen, bcap; /* bcap: octets allocated */
	struct source_file_span_dup *dups;
	size_t ndups;
};

struct source_file_cache {
	int valid;
	/* dfiles, tfiles, rfiles, lfiles in order */
	struct source_file_cache_seen *seen;
	/* rfiles, lfiles, then accept_all */
	struct source_file_cache_unit *units;
	size_t nunits;
	struct state *dom; /* the domains alone, finished */
	size_t domains;	   /* domain records read */
};

struct source_file_conf {
	char *type;
	char *domains;
	char *transport;
	char *recipients;
	char *lists;
	/* parsed */
	char **dfiles, **tfiles, **rfiles, **lfiles;
	size_t nd, nt, nr, nl;
	/* the routes of the export in progress, sorted by domain */
	struct source_file_route *routes;
	size_t nroutes;
	/* the directories holding the files, as first seen */
	char **dirs;
	struct source_mount *mounts;
	size_t ndirs;
	/* the last read: its file's stat, whether it can be trusted later */
	struct stat read_sb;
	int read_trusted;
	size_t files_read;   /* by the export in progress */
	size_t lines_parsed; /* by the export in progress */
	struct source_file_cache cache;
};

/* source_file_route - one domain of a transport file, folded, with its value */
struct source_file_route {
	char *domain;
	char *nexthop;
	const char *file; /* borrowed from source_file_conf */
	unsigned line;
};

/* source_file_route.c */
void source_file_routes_clear(struct source_file_conf *fc);
/* source_file_route_find - the route of a folded domain, or NULL */
const struct source_file_route *
source_file_route_find(const struct source_file_conf *fc, const char *d,
		       size_t len);
int source_file_transports(struct source *src, struct source_export_ctx *ctx,
			   struct err *err);

/* source_file_read.c */
int source_file_read_settled(struct source *src,
			     const struct source_export_ctx *ctx,
			     const char *path, struct buf *b, struct err *err);
/* what source_file_read_prev() compares a file with */
struct source_file_prev {
	const char *old; /* the file's bytes at its last read */
	size_t olen;
	size_t same; /* out: how many of the new ones start the same */
};
int source_file_read_prev(struct source *src,
			  const struct source_export_ctx *ctx, const char *path,
			  struct source_file_prev *p, struct buf *b,
			  struct err *err);
size_t source_file_same(const char *a, const char *b, size_t n);

/* source_file.c */
int source_file_domains(struct source *src, struct source_export_ctx *ctx,
			const char *path, struct err *err);
int source_file_recipients(struct source *src, struct source_export_ctx *ctx,
			   const char *path, enum textmap_kind kind,
			   struct err *err);
int source_file_recipients_buf(struct source *src,
			       struct source_export_ctx *ctx, const char *path,
			       enum textmap_kind kind, const char *data,
			       size_t len, struct err *err);
size_t source_file_lines(const char *p, size_t len);

/* source_file_cache.c and source_file_pend.c */
void source_file_cache_clear(struct source_file_conf *fc);
int source_file_cache_same(const struct stat *a, const struct stat *b);
int source_file_cache_old_enough(const struct stat *sb);
void source_file_cache_saw(struct source_file_conf *fc, const char *path);
int source_file_cache_export_whole(struct source *src,
				   struct source_export_ctx *ctx,
				   struct err *err);
int source_file_cache_keycmp(const char *a, size_t alen, const char *b,
			     size_t blen);
size_t source_file_cache_lower(const struct state *st, const char *k,
			       size_t len, int *found_r);
typedef const char *source_file_cache_key_fn(const void *elem, size_t *len_r);
size_t source_file_cache_search(const void *v, size_t n, size_t size,
				source_file_cache_key_fn *key_of, const char *k,
				size_t len);
size_t source_file_cache_pend_find(const struct source_file_cache_unit *u,
				   const char *k, size_t len);
int source_file_cache_has(const struct source_file_cache_unit *u, const char *k,
			  size_t len, size_t *at_r);
void source_file_cache_pend_clear(struct source_file_cache_unit *u);
void source_file_cache_settle(struct source_file_cache_unit *u);
/* source_file_pend.c: the export of the units into *st_r */
int source_file_cache_merge(struct source *src, struct state **st_r,
			    struct err *err);

/*
 * source_file_span.c; SOURCE_FILE_SPAN_ROOM is what a unit allocates for its
 * file's len bytes, so that an append rarely moves them
 */
#define SOURCE_FILE_SPAN_ROOM(len) ((len) + (len) / 64 + 4096)
void source_file_span_clear(struct source_file_cache_unit *u);
int source_file_span_dups(struct source *src, enum textmap_kind kind,
			  struct source_file_cache_unit *u);
int source_file_span_update(struct source *src, enum textmap_kind kind,
			    struct source_file_cache_unit *u, size_t same,
			    const struct buf *tail, size_t *lines_r);

#endif
