/*
 * preset_pgsql - the panels' queries in PostgreSQL SQL
 *
 * PostfixAdmin (postfixadmin/postfixadmin, DOCUMENTS/POSTFIX_CONF.txt of
 * release 4.0.1, commit 65b10f7285524bc6753f604bd11ff3c3de5cbf97, with its
 * PostgreSQL notes: booleans 't', || instead of CONCAT): the primary's
 * Postfix decides with
 *
 *	virtual_mailbox_domains	domain WHERE domain='%s' AND active
 *				(-backupmx: AND backupmx = '0' too, and
 *				relay_domains: backupmx = '1')
 *	virtual_mailbox_maps	mailbox.maildir WHERE username='%s' AND active;
 *				the same through alias_domain:
 *				username = '%u' || '@' || target_domain
 *	virtual_alias_maps	alias.goto WHERE address='%s' AND active;
 *				the same through alias_domain, and the
 *				target's catch-all '@' || target_domain for
 *				any key of the alias domain
 *
 * so an address is accepted when its domain is an active domain row, equal
 * as PostgreSQL compares (exactly), and one of its key forms finds a row
 * with a non-empty maildir or goto.  A query that uses %u is skipped for a
 * key without a local part (Postfix's db_common), so "@alias" comes only
 * from the target's catch-all.  PostfixAdmin's pseudo-domain "ALL" is
 * never a domain.  The source's mixed_case check leaves out rows that are
 * not in lower case: the lower-cased keys Postfix looks up never equal
 * them.
 *
 * change_query: one row of row counts and sums of xmin (the inserting or
 * updating transaction of each row version) of every table the decision
 * reads.  Between two polls with equal counts, any insert, update or
 * delete replaces row versions with newer transaction ids, so the sum
 * moves: no timestamp resolution, no edit missed.
 */
#include <stddef.h>

#include "preset.h"

/* clang-format off */

/*
 * postfixadmin: every active domain.  postfixadmin-backupmx: the "optional
 * query to use when relaying for backup MX" (active, backupmx = '0') for
 * virtual_mailbox_domains, and DOCUMENTS/BACKUP_MX.txt's relay_domains
 * (backupmx = '1', active or not), which the primary relays without
 * relay_recipient_maps: those domains come with their catch-all.  HOSTED
 * is the same test on a row d of the domain table (joined as a table, not
 * a CTE, so that the planner knows its size and hashes it).
 */
#define PFA_HOSTED "d.active = 't' AND d.domain <> 'ALL'"
#define PFA_HOSTED_BACKUPMX \
	"d.domain <> 'ALL'" \
	" AND ((d.active = 't' AND d.backupmx = 'f') OR d.backupmx = 't')"
#define PFA_DOMAINS(hosted) "SELECT d.domain FROM domain d WHERE " hosted
#define PFA_RELAY_CATCHALL \
	" UNION ALL SELECT '@' || domain FROM domain" \
	" WHERE backupmx = 't' AND domain <> 'ALL'"

/*
 * Every active mailbox with a maildir and every active alias with a goto,
 * with the domain after its last '@', as Postfix's %d splits a key (the
 * common one-'@' case without reverse(), which costs twice the time; no
 * negative split_part(), which needs PostgreSQL 14).  Read once per use:
 * PostgreSQL before 12 would materialise a CTE, on disk at this size.
 */
#define PFA_ADDRESSES \
	"(SELECT a, CASE WHEN strpos(split_part(a, '@', 2), '@') = 0" \
	" THEN split_part(a, '@', 2)" \
	" ELSE reverse(split_part(reverse(a), '@', 1)) END AS dom FROM" \
	" (SELECT username AS a FROM mailbox" \
	" WHERE active = 't' AND maildir <> ''" \
	" UNION ALL SELECT address FROM alias" \
	" WHERE active = 't' AND goto <> '') m" \
	" WHERE strpos(a, '@') > 0) r"

/*
 * The recipients: those addresses in hosted domains; the same local parts
 * (%u, never empty) in the active alias domains of their domain; each
 * alias domain's share of its target's catch-all; then what MORE adds.
 */
#define PFA_RECIPIENTS(hosted, more) \
	"WITH ad AS (SELECT alias_domain, target_domain FROM alias_domain" \
	" WHERE active = 't') " \
	"SELECT r.a FROM " PFA_ADDRESSES \
	" JOIN domain d ON d.domain = r.dom WHERE " hosted \
	" UNION ALL" \
	" SELECT left(r.a, length(r.a) - length(r.dom) - 1) || '@' ||" \
	" ad.alias_domain FROM " PFA_ADDRESSES \
	" JOIN ad ON ad.target_domain = r.dom" \
	" JOIN domain d ON d.domain = ad.alias_domain" \
	" WHERE length(r.a) > length(r.dom) + 1 AND " hosted \
	" UNION ALL" \
	" SELECT '@' || ad.alias_domain FROM alias" \
	" JOIN ad ON alias.address = '@' || ad.target_domain" \
	" JOIN domain d ON d.domain = ad.alias_domain" \
	" WHERE alias.active = 't' AND alias.goto <> '' AND " hosted more

/* one table's row count and xmin sum */
#define PFA_TABLE_MARK(t) \
	"(SELECT COUNT(*) || ' ' || COALESCE(SUM(xmin::text::bigint), 0)" \
	" FROM " t ")"

#define PFA_CHANGE \
	"SELECT " PFA_TABLE_MARK("domain") ", " PFA_TABLE_MARK("mailbox") \
	", " PFA_TABLE_MARK("alias") ", " PFA_TABLE_MARK("alias_domain")

/* clang-format on */

const struct preset preset_pgsql[] = {
    {"postfixadmin", PFA_DOMAINS(PFA_HOSTED), PFA_RECIPIENTS(PFA_HOSTED, ""),
     PFA_CHANGE},
    {"postfixadmin-backupmx", PFA_DOMAINS(PFA_HOSTED_BACKUPMX),
     PFA_RECIPIENTS(PFA_HOSTED_BACKUPMX, PFA_RELAY_CATCHALL), PFA_CHANGE},
    {NULL, NULL, NULL, NULL},
};
