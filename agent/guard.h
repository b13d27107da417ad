/*
 * guard - the agent's own check of an export before it is signed
 *
 * The same rules as mxsyncd's guards, applied on the primary so that a
 * broken source is stopped where it is seen, with its name, even for a
 * backup that holds no state yet:
 *
 *	empty		a source that yields no recipients at all, unless it
 *			says allow_empty = yes (or cannot yield any by its
 *			configuration: a file source of domains only)
 *	max_shrink	more than this share of the recipients of the state
 *			the backups last acknowledged would disappear
 *	canaries	an address that state accepts would no longer be
 *			accepted (decided as the backup's Postfix would)
 *
 * An operator's explicit --allow-shrink skips all three, and the manifest
 * then says allow_shrink, so the backups skip theirs too.
 *
 * A refusal fills a report: msg names the source(s) and the count, and
 * holds no address (it is logged); examples holds a few of the addresses
 * that would disappear, for status and the operator's terminal only.
 */
#ifndef MXSYNC_AGENT_GUARD_H
#define MXSYNC_AGENT_GUARD_H

#include <stddef.h>

#include "../formats/err.h"
#include "../formats/state.h"
#include "config.h"

#define GUARD_EXAMPLES 3

struct guard_report {
	char msg[ERR_LEN];
	char examples[ERR_LEN]; /* "" when there are none */
	size_t removed;
};

/*
 * guard_check - 0 when st may go out, -1 with r filled when not.  acked is
 * the state the backups last acknowledged (NULL: none yet, only the empty
 * rule applies).  Each source's counts are those export_state() left.  The
 * sources the refusal concerns get it as their status error.
 */
int guard_check(struct agent_config *cfg, const struct state *acked,
		const struct state *st, struct guard_report *r);

/*
 * guard_bare_domains - the domains of st that have no recipient at all
 * (no address, no catch-all): their count, and up to max names (folded,
 * blank separated) in names (size octets).  The backup rejects every
 * address of such a domain, as a primary with no mailboxes does; it is
 * usually a mistake, so the daemon reports it.
 */
size_t guard_bare_domains(const struct state *st, char *names, size_t size,
			  size_t max);

#endif
