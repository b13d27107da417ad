/*
 * delta_splice_impl - what the two splices share (delta_splice.c,
 * delta_splice_shared.c): the copies of the base's unchanged lines, the
 * sizes counted from the edits, and the checks every result gets.  Private
 * to those files.
 */
#ifndef MXSYNC_FORMATS_DELTA_SPLICE_IMPL_H
#define MXSYNC_FORMATS_DELTA_SPLICE_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "delta.h"
#include "err.h"
#include "state_impl.h"

/*
 * The base's lines between edits are copied after the edits are checked
 * and written, in pieces of at most DELTA_PIECE records spread over the
 * cores (thread_for): one piece is its records' text, index entries
 * (moved by the run's shift) and hash shards.
 */
#define DELTA_PIECE 65536

/* delta_piece - one piece of the copies */
struct delta_piece {
	char type;
	size_t a, b;	   /* base records [a, b) of the section */
	size_t from, to;   /* their text in the base */
	size_t pos, rn;	   /* where text and records go in the result */
	size_t shift_from; /* the run's first text offset in the base */
	size_t shift_pos;  /* ... and in the result */
};

/* delta_copies - the pieces noted for one result, copied at the end */
struct delta_copies {
	const struct state *base;
	struct state *res;
	struct delta_piece *p;
	size_t n, cap;
};

/* the sizes of a splice's result, counted from its edits */
struct delta_count {
	size_t len;    /* its canonical text */
	size_t dlen;   /* ... of which the D lines */
	size_t alen;   /* the text of the added recipients */
	size_t nd;     /* domains */
	size_t nr;     /* recipients */
	size_t na;     /* added recipients */
	int gone;      /* a domain removed and not added back */
	int domains;   /* a domain changed */
	uint64_t mask; /* the hash shards of the changed recipients */
};

/* delta_copy_one - piece i of the copies */
void delta_copy_one(void *arg, size_t i);

/*
 * delta_splice_section - write one section (D or R lines) of the result:
 * runs of base lines noted in cp to be copied whole (their index entries
 * moved by the run's shift), edits checked and applied.  *pos and *ei
 * advance.
 */
int delta_splice_section(const struct state *base, struct state *res, char type,
			 const struct delta_edit *ed, size_t n, size_t *ei,
			 size_t *pos, struct delta_copies *cp, struct err *err);

/*
 * delta_splice_count - the sizes of base + ed; every edit's type, order of
 * sections and lengths checked, removals only counted (each is checked
 * against the base before use)
 */
int delta_splice_count(const struct state *base, const struct delta_edit *ed,
		       size_t n, struct delta_count *c, struct err *err);

/*
 * delta_splice_end - the checks and hashes every result gets: each
 * recipient's domain present, the touched leaves rehashed from the base's
 * (out of memory there only costs a whole hash later)
 */
int delta_splice_end(const struct state *base, struct state *res,
		     const struct delta_count *c, const struct delta_edit *ed,
		     size_t n, int lines, struct err *err);

/* delta_splice_flat - delta_splice(); lines: DELTA_LINES (delta.h) */
struct state *delta_splice_flat(const struct state *base,
				const struct delta_edit *ed, size_t n,
				int lines, struct err *err);

#endif
