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
 * relay_recipient_maps: those domains come with their catch-all.
 */
#define PFA_DOMAINS \
	"SELECT domain FROM domain WHERE active = 't' AND domain <> 'ALL'"
#define PFA_DOMAINS_BACKUPMX \
	"SELECT domain FROM domain WHERE domain <> 'ALL'" \
	" AND ((active = 't' AND backupmx = 'f') OR backupmx = 't')"
#define PFA_RELAY_CATCHALL \
	" UNION ALL SELECT '@' || domain FROM domain" \
	" WHERE backupmx = 't' AND domain <> 'ALL'"

/*
 * The recipients: mailboxes and aliases of those domains, the same local
 * parts in their active alias domains, and each alias domain's share of
 * its target's catch-all; then what MORE adds.  r splits each address at
 * its last '@', as Postfix's %u and %d do.
 */
#define PFA_RECIPIENTS(domains, more) \
	"WITH d AS (" domains "), " \
	"ad AS (SELECT alias_domain, target_domain FROM alias_domain" \
	" WHERE active = 't'), " \
	"m AS (SELECT username AS a FROM mailbox" \
	" WHERE active = 't' AND maildir <> ''" \
	" UNION ALL SELECT address FROM alias" \
	" WHERE active = 't' AND goto <> ''), " \
	"s AS (SELECT a, reverse(split_part(reverse(a), '@', 1)) AS dom" \
	" FROM m WHERE strpos(a, '@') > 0), " \
	"r AS (SELECT a, dom, left(a, length(a) - length(dom) - 1) AS lp" \
	" FROM s) " \
	"SELECT r.a FROM r JOIN d ON d.domain = r.dom" \
	" UNION ALL" \
	" SELECT r.lp || '@' || ad.alias_domain FROM r" \
	" JOIN ad ON ad.target_domain = r.dom" \
	" JOIN d ON d.domain = ad.alias_domain WHERE r.lp <> ''" \
	" UNION ALL" \
	" SELECT '@' || ad.alias_domain FROM alias" \
	" JOIN ad ON alias.address = '@' || ad.target_domain" \
	" JOIN d ON d.domain = ad.alias_domain" \
	" WHERE alias.active = 't' AND alias.goto <> ''" more

/* one table's row count and xmin sum */
#define PFA_TABLE_MARK(t) \
	"(SELECT COUNT(*) || ' ' || COALESCE(SUM(xmin::text::bigint), 0)" \
	" FROM " t ")"

#define PFA_CHANGE \
	"SELECT " PFA_TABLE_MARK("domain") ", " PFA_TABLE_MARK("mailbox") \
	", " PFA_TABLE_MARK("alias") ", " PFA_TABLE_MARK("alias_domain")

/* clang-format on */

const struct preset preset_pgsql[] = {
    {"postfixadmin", PFA_DOMAINS, PFA_RECIPIENTS(PFA_DOMAINS, ""), PFA_CHANGE},
    {"postfixadmin-backupmx", PFA_DOMAINS_BACKUPMX,
     PFA_RECIPIENTS(PFA_DOMAINS_BACKUPMX, PFA_RELAY_CATCHALL), PFA_CHANGE},
    {NULL, NULL, NULL, NULL},
};
