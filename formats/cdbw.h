/*
 * cdbw - build the Postfix maps relay_domains.cdb, relay_recipients.cdb and
 * transport.cdb from canonical states, with tinycdb (libcdb)
 *
 *	relay_domains.cdb	domain -> "OK"
 *	relay_recipients.cdb	address or "@domain" -> "OK"
 *	transport.cdb		domain -> nexthop
 *
 * Records are inserted in canonical order, states in the order given, keys
 * without a trailing NUL, never an empty value, with cdb_make_add (the
 * states are already de-duplicated): the files are byte-identical to
 * "postmap cdb:" of the same records in the same order.  The 4 GiB limit of
 * the format (2048 + sum(8 + key + value) + 16 * records <= 0xFFFFFFFF) is
 * checked before anything is written, since tinycdb's own check is too weak.
 *
 * All three files are written to temporary files, each validated by
 * reopening it and looking up every record, fsynced, and only then renamed
 * over the live maps one by one, with the directory fsynced.  On failure
 * nothing live changes.  Because every recipient's domain is in the same
 * generation's domain set, a Postfix process holding one old and one new map
 * still decides each address as either generation would.
 */
#ifndef MXSYNC_CDBW_H
#define MXSYNC_CDBW_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"
#include "state.h"

#define CDBW_LIMIT 0xFFFFFFFFULL
#define CDBW_RELAY_DOMAINS "relay_domains"
#define CDBW_RELAY_RECIPIENTS "relay_recipients"
#define CDBW_TRANSPORT "transport"

/* cdbw_size - file sizes of the three maps for these states */
void cdbw_sizes(const struct state *const *states, size_t n,
		uint64_t *domains_r, uint64_t *recipients_r,
		uint64_t *transport_r);

/*
 * cdbw_install - build, validate and install the three maps in dir.
 * limit is CDBW_LIMIT in production; tests pass a smaller one to exercise
 * the refusal without writing 4 GiB.
 */
int cdbw_install(const struct state *const *states, size_t n,
		 const char *dir, uint64_t limit, struct err *err);

/*
 * cdbw_install_gated - cdbw_install, where gate(arg, err) is called once
 * the three maps are built, validated and synced, just before the first
 * rename; when it fails, nothing is replaced and its error is returned.
 */
int cdbw_install_gated(const struct state *const *states, size_t n,
		       const char *dir, uint64_t limit,
		       int (*gate)(void *arg, struct err *err), void *arg,
		       struct err *err);

/*
 * cdbw_verify - 0 when the three maps in dir exist, are valid CDB files and
 * hold exactly the records of these states; -1 with a reason otherwise.
 */
int cdbw_verify(const struct state *const *states, size_t n,
		const char *dir, struct err *err);

#endif
