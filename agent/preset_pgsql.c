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
 *
 * iRedMail (iredmail/iRedMail, the .cf files of samples/postfix/pgsql and
 * samples/postfix/main.cf.pgsql of release 1.8.1, commit
 * e0fe4fc277504aaa3e4915046cfe420524e42162, schema of
 * samples/iredmail/iredmail.pgsql): the decisions of the MySQL preset
 * (preset_mysql.c), with the flags INT2 1/0 and exact comparisons, so no
 * RTRIM(): a key with trailing blanks is one no lookup finds.
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

/*
 * iRedMail: virtual_mailbox_domains.cf (active, non-backupmx domains and
 * the active alias domains of such domains, which have no domain row) and
 * relay_domains.cf (active backupmx domains), in one list.
 */
#define IRM_DOMAINS \
	"SELECT domain FROM domain WHERE active = 1" \
	" UNION SELECT ad.alias_domain FROM alias_domain ad" \
	" JOIN domain d ON d.domain = ad.target_domain" \
	" WHERE ad.active = 1 AND d.active = 1 AND d.backupmx = 0"

/* the domain after the last '@' of the derived table r's address */
#define IRM_ADDR_DOMAIN "reverse(split_part(reverse(r.a), '@', 1))"

/* the local part of forwardings f's address, before its first '@' */
#define IRM_LOCAL "split_part(f.address, '@', 1)"

/*
 * virtual_mailbox_maps.cf: active, enabledeliver, in an active domain;
 * virtual_alias_maps.cf: forwardings (aliases and each mailbox's own row)
 * of active, non-backupmx domains, a row without '@' being a catch-all
 * (catchall_maps.cf); domain_alias_maps.cf: the target's forwardings under
 * the alias domain (%u never empty); catchall_maps.cf: the address is the
 * bare domain; domain_alias_catchall_maps.cf: the target's catch-all;
 * relay_domains.cf, relayed without relay_recipient_maps: the catch-all.
 * Kept when the address's domain is an active domain row or an active
 * alias domain of an active, non-backupmx domain, compared exactly.
 */
#define IRM_RECIPIENTS \
	"SELECT r.a FROM (" \
	"SELECT m.username AS a FROM mailbox m" \
	" JOIN domain d ON d.domain = m.domain" \
	" WHERE m.active = 1 AND m.enabledeliver = 1 AND d.active = 1" \
	" AND strpos(m.username, '@') > 0" \
	" UNION ALL SELECT f.address FROM forwardings f" \
	" JOIN domain d ON d.domain = f.domain" \
	" WHERE f.active = 1 AND d.backupmx = 0 AND d.active = 1" \
	" AND length(f.forwarding) > 0 AND strpos(f.address, '@') > 0" \
	" UNION ALL SELECT " IRM_LOCAL " || '@' || ad.alias_domain" \
	" FROM alias_domain ad JOIN domain d ON d.domain = ad.target_domain" \
	" JOIN forwardings f" \
	" ON f.address = " IRM_LOCAL " || '@' || ad.target_domain" \
	" WHERE f.active = 1 AND ad.active = 1 AND d.backupmx = 0" \
	" AND length(f.forwarding) > 0 AND length(" IRM_LOCAL ") > 0" \
	" UNION ALL SELECT '@' || f.address FROM forwardings f" \
	" JOIN domain d ON f.address = d.domain" \
	" WHERE f.active = 1 AND d.active = 1 AND d.backupmx = 0" \
	" AND length(f.forwarding) > 0" \
	" UNION ALL SELECT '@' || ad.alias_domain FROM alias_domain ad" \
	" JOIN domain d ON d.domain = ad.target_domain" \
	" JOIN forwardings f ON f.address = ad.target_domain" \
	" WHERE f.active = 1 AND ad.active = 1 AND length(f.forwarding) > 0" \
	" UNION ALL SELECT '@' || domain FROM domain" \
	" WHERE backupmx = 1 AND active = 1" \
	") r WHERE EXISTS (SELECT 1 FROM domain d" \
	" WHERE d.domain = " IRM_ADDR_DOMAIN " AND d.active = 1)" \
	" OR EXISTS (SELECT 1 FROM alias_domain ad" \
	" JOIN domain d ON d.domain = ad.target_domain" \
	" WHERE ad.alias_domain = " IRM_ADDR_DOMAIN \
	" AND ad.active = 1 AND d.active = 1 AND d.backupmx = 0)"

#define IRM_CHANGE \
	"SELECT " PFA_TABLE_MARK("domain") ", " \
	PFA_TABLE_MARK("alias_domain") ", " PFA_TABLE_MARK("mailbox") ", " \
	PFA_TABLE_MARK("forwardings")

/* clang-format on */

const struct preset preset_pgsql[] = {
    {"postfixadmin", PFA_DOMAINS(PFA_HOSTED), PFA_RECIPIENTS(PFA_HOSTED, ""),
     PFA_CHANGE},
    {"postfixadmin-backupmx", PFA_DOMAINS(PFA_HOSTED_BACKUPMX),
     PFA_RECIPIENTS(PFA_HOSTED_BACKUPMX, PFA_RELAY_CATCHALL), PFA_CHANGE},
    {"iredmail", IRM_DOMAINS, IRM_RECIPIENTS, IRM_CHANGE},
    {NULL, NULL, NULL, NULL},
};
