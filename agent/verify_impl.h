/*
 * verify_impl - what the parts of verify share (private to agent/verify*.c)
 *
 * One run of verify_run() lives in a struct verify_ctx: the postconf values
 * (verify_postconf.c), the tables they name with the keys each is asked
 * and its answers (verify_postmap.c), the candidate addresses
 * (verify_cand.c) and the class of every domain (verify_decide.c), all in
 * string sets (verify_set.c).  Programs run through verify_proc.c.  The
 * functions here never print; they fail with -1 and a message in err.
 */
#ifndef MXSYNC_AGENT_VERIFY_IMPL_H
#define MXSYNC_AGENT_VERIFY_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../formats/err.h"
#include "../formats/state.h"
#include "verify.h"

/* the address classes of trivial-rewrite's resolve.c */
enum {
	VERIFY_DEFAULT,
	VERIFY_LOCAL,
	VERIFY_ALIAS,
	VERIFY_VIRTUAL,
	VERIFY_RELAY
};

/* postconf parameters, in the order they are asked */
enum {
	VP_RCANON,
	VP_CANON,
	VP_VALIAS,
	VP_LOCAL,
	VP_VMBOX,
	VP_RELAY,
	VP_NMAPS,
	VP_MYDEST = VP_NMAPS,
	VP_VADOMS,
	VP_VMDOMS,
	VP_RELAYDOMS,
	VP_DELIM,
	VP_MYORIGIN,
	VP_PARENT,
	VP_COUNT
};
/* their names, indexed by VP_* (verify_postconf.c) */
extern const char *const verify_postconf_params[VP_COUNT];

/* the domain lists: mydestination .. relay_domains */
#define VERIFY_NLISTS 4

/* verify_set - strings, each once, with their index */
struct verify_set {
	char *buf;
	size_t len, cap;
	size_t *off;
	size_t n, ncap;
	uint32_t *slot; /* index + 1; 0 is empty */
	size_t nslot;
};

struct verify_table {
	char *name;	/* as postmap is given it: proxy: stripped */
	char *shown;	/* as main.cf names it */
	int pattern;	/* regexp, pcre, cidr: full addresses only */
	int enumerable; /* postmap -s can list it */
	struct verify_set keys;
	unsigned char *found; /* per key: found with a non-empty value */
	size_t asked;	      /* keys found answers */
};

struct verify_maps {
	size_t *t; /* table indexes */
	size_t n;
};

struct verify_item {
	int neg;
	long table; /* -1: a literal */
	char *lit;
};

struct verify_list {
	struct verify_item *it;
	size_t n;
	int parent;   /* parent_domain_matches_subdomains */
	int hostname; /* matched as a host name (relay_domains) */
};

struct verify_cand {
	size_t text;   /* in cands */
	size_t folded; /* in folded */
	size_t dom;    /* in domains */
};

struct verify_ctx {
	const struct verify_opts *o;
	const struct state *st; /* the export */
	char *val[VP_COUNT];
	struct verify_table *t;
	size_t nt;
	struct verify_maps maps[VP_NMAPS];
	struct verify_list lists[VERIFY_NLISTS];
	struct verify_set domains, cands, folded, locals;
	unsigned char *dclass; /* per domain */
	struct verify_cand *c;
	size_t nc;
	char ext[16];	/* the random extension of this run */
	char delims[8]; /* the delimiters of the +ext variants */
	size_t ndelims;
};

/* a program verify runs, its output on memory files */
struct verify_proc {
	pid_t pid;
	int out, errfd;
	const char *what; /* for messages: the table or "postconf" */
};

/* verify_set.c */
const char *verify_set_key(const struct verify_set *s, size_t i);
long verify_set_find(const struct verify_set *s, const char *k, size_t len);
long verify_set_add(struct verify_set *s, const char *k, size_t len);
void verify_set_free(struct verify_set *s);

/* verify_proc.c */
int verify_proc_memfd(struct err *err);
size_t verify_proc_argv(const struct verify_ctx *x, const char *prog,
			char *argv[]);
int verify_proc_spawn(char *const argv[], int in, struct verify_proc *p,
		      struct err *err);
int verify_proc_finish(struct verify_proc *p, char **out_r, size_t *len_r,
		       int notfound_ok, struct err *err);
const char *verify_proc_last_line(char *text);

/* verify_postconf.c */
int verify_postconf_read(struct verify_ctx *x, struct err *err);
int verify_postconf_parse(struct verify_ctx *x, struct err *err);

/* verify_postmap.c */
int verify_postmap_next(char **pos, char **key_r, char **value_r);
int verify_postmap_ask(struct verify_ctx *x, struct err *err);
int verify_postmap_found(const struct verify_table *t, const char *key,
			 size_t len);
char *verify_postmap_list(const struct verify_ctx *x,
			  const struct verify_table *t);

/* verify_cand.c */
void verify_cand_delims(struct verify_ctx *x);
int verify_cand_collect(struct verify_ctx *x, const struct state *st,
			struct err *err);
int verify_cand_cross(struct verify_ctx *x, struct err *err);

/* verify_decide.c */
int verify_decide_list_keys(struct verify_ctx *x, const char *d);
int verify_decide_classify(const struct verify_ctx *x, const char *d);
int verify_decide_assign(struct verify_ctx *x, struct err *err);
int verify_decide_compare(struct verify_ctx *x, const struct state *st,
			  struct verify_result *r, struct err *err);
int verify_decide_stats(const struct verify_ctx *x, struct verify_result *r,
			struct err *err);

#endif
