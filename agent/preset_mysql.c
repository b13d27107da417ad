/*
 * preset_mysql - the panels' queries in MySQL/MariaDB SQL
 *
 * Each preset enumerates exactly what the panel's own documented Postfix
 * tables accept (mxsync.conf(5) names the upstream file and commit):
 *
 *  - domains_query: the domains the primary's virtual_mailbox_domains (and,
 *    where documented, relay_domains) answer for;
 *  - recipients_query: every key that one of the recipient tables
 *    (virtual_mailbox_maps, virtual_alias_maps and the alias-domain maps)
 *    finds with a non-empty result, restricted to those domains.  An
 *    alias-domain map, which the primary asks with the local part of the
 *    address and the alias domain, is enumerated as every local part of the
 *    target domain that the same predicate accepts;
 *  - change_query: per table a row count and two checksums of the columns
 *    the decision reads, so that any change, two in one second included,
 *    changes the result.
 *
 * Comparisons stay in the database, under its collation, as the primary's
 * lookups are: a PAD SPACE collation ignores trailing blanks, so results are
 * RTRIM()med (a key with trailing blanks is found by the address without
 * them).  A non-empty result is tested with LENGTH() > 0, which counts
 * blanks as Postfix does, rather than with <> '', which would not.
 *
 * Nothing here allocates or fails: the tables are static data.
 */
#include <stddef.h>

#include "preset.h"

/* PostfixAdmin: DOCUMENTS/POSTFIX_CONF.txt, schema of public/upgrade.php */

/* mysql_virtual_mailbox_maps.cf */
#define PFA_MAILBOX                                                            \
	" SELECT m.username AS address FROM mailbox m"                         \
	" WHERE m.active = '1' AND LENGTH(m.maildir) > 0"                      \
	" AND LOCATE('@', m.username) > 0"

/* mysql_virtual_alias_maps.cf: an address, or a catch-all "@domain" */
#define PFA_ALIAS                                                              \
	" SELECT a.address FROM alias a"                                       \
	" WHERE a.active = '1' AND LENGTH(a.goto) > 0"                         \
	" AND LOCATE('@', a.address) > 0"

/*
 * mysql_virtual_alias_domain_mailbox_maps.cf, asked with the local part
 * (%u) and the alias domain (%d): every mailbox "L@target" of an active
 * alias domain is "L@alias"
 */
#define PFA_AD_MAILBOX                                                         \
	" SELECT CONCAT(SUBSTRING_INDEX(m.username, '@', 1), '@',"             \
	" ad.alias_domain) FROM alias_domain ad JOIN mailbox m"                \
	" ON m.username = CONCAT(SUBSTRING_INDEX(m.username, '@', 1), '@',"    \
	" ad.target_domain)"                                                   \
	" WHERE m.active = '1' AND ad.active = '1' AND LENGTH(m.maildir) > 0"  \
	" AND LENGTH(SUBSTRING_INDEX(m.username, '@', 1)) > 0"

/* mysql_virtual_alias_domain_maps.cf: the same for aliases */
#define PFA_AD_ALIAS                                                           \
	" SELECT CONCAT(SUBSTRING_INDEX(a.address, '@', 1), '@',"              \
	" ad.alias_domain) FROM alias_domain ad JOIN alias a"                  \
	" ON a.address = CONCAT(SUBSTRING_INDEX(a.address, '@', 1), '@',"      \
	" ad.target_domain)"                                                   \
	" WHERE a.active = '1' AND ad.active = '1' AND LENGTH(a.goto) > 0"     \
	" AND LENGTH(SUBSTRING_INDEX(a.address, '@', 1)) > 0"

/* mysql_virtual_alias_domain_catchall_maps.cf: the target's catch-all */
#define PFA_AD_CATCHALL                                                        \
	" SELECT CONCAT('@', ad.alias_domain)"                                 \
	" FROM alias_domain ad JOIN alias a"                                   \
	" ON a.address = CONCAT('@', ad.target_domain)"                        \
	" WHERE a.active = '1' AND ad.active = '1' AND LENGTH(a.goto) > 0"

#define PFA_RECIPIENTS                                                         \
	"SELECT RTRIM(r.address) FROM (" PFA_MAILBOX " UNION ALL" PFA_ALIAS    \
	" UNION ALL" PFA_AD_MAILBOX " UNION ALL" PFA_AD_ALIAS                  \
	" UNION ALL" PFA_AD_CATCHALL

/*
 * PRESET_MYSQL_TABLE - one row of a change_query: the table's row count and
 * two checksums (XOR and sum of CRC32) over the columns the decision reads,
 * so that any edit of them, two within one second included, changes the row
 */
/* clang-format off */
#define PRESET_MYSQL_TABLE(table, cols)                                        \
	"SELECT '" table "', COUNT(*),"                                        \
	" BIT_XOR(CRC32(CONCAT_WS(CHAR(31), " cols "))),"                      \
	" SUM(CRC32(CONCAT_WS(CHAR(31), " cols "))) FROM " table
#define PRESET_MYSQL_UNION " UNION ALL "

/* every table and column the decision reads */
#define PFA_CHANGE                                                             \
	PRESET_MYSQL_TABLE("domain", "domain, active, backupmx")               \
	PRESET_MYSQL_UNION                                                     \
	PRESET_MYSQL_TABLE("alias_domain", "alias_domain, target_domain, active") \
	PRESET_MYSQL_UNION                                                     \
	PRESET_MYSQL_TABLE("mailbox", "username, maildir, active")             \
	PRESET_MYSQL_UNION                                                     \
	PRESET_MYSQL_TABLE("alias", "address, goto, active")
/* clang-format on */

/*
 * postfixadmin: virtual_mailbox_domains is mysql_virtual_domains_maps.cf's
 * default query (every active domain); the pseudo-domain ALL, which the
 * panel keeps for its superadmins, is never a mail domain
 */
#define PFA_DOMAINS                                                            \
	"SELECT RTRIM(domain) FROM domain"                                     \
	" WHERE active = '1' AND domain <> 'ALL'"
#define PFA_HOSTED(d)                                                          \
	"EXISTS (SELECT 1 FROM domain d WHERE d.domain = " d                   \
	" AND d.active = '1' AND d.domain <> 'ALL')"

/*
 * postfixadmin-backupmx: the "optional query to use when relaying for
 * backup MX" (active = '1' AND backupmx = '0') for virtual_mailbox_domains,
 * and BACKUP_MX.txt's relay_domains (backupmx = '1', active or not).
 * Without relay_recipient_maps the primary accepts every address of a
 * relay domain: it is exported with its catch-all.
 */
#define PFAB_DOMAINS                                                           \
	"SELECT RTRIM(domain) FROM domain WHERE domain <> 'ALL'"               \
	" AND ((active = '1' AND backupmx = '0') OR backupmx = '1')"
#define PFAB_RELAY                                                             \
	" SELECT CONCAT('@', domain) FROM domain"                              \
	" WHERE backupmx = '1' AND domain <> 'ALL'"
#define PFAB_HOSTED(d)                                                         \
	"EXISTS (SELECT 1 FROM domain d WHERE d.domain = " d                   \
	" AND d.domain <> 'ALL'"                                               \
	" AND ((d.active = '1' AND d.backupmx = '0') OR d.backupmx = '1'))"

/* the domain of the derived table r's address, for the hosted test */
#define ADDR_DOMAIN "SUBSTRING_INDEX(r.address, '@', -1)"

/*
 * iRedMail: the samples/postfix/mysql .cf files and main.cf.mysql, schema of
 * samples/iredmail/iredmail.mysql.  virtual_mailbox_domains also holds the
 * alias domains (which have no domain row) of active, non-backupmx
 * domains; relay_domains holds the active backupmx domains, and main.cf
 * sets no relay_recipient_maps, so they are exported with their catch-all.
 */
#define IRM_DOMAINS                                                            \
	"SELECT RTRIM(domain) FROM domain WHERE active = 1"                    \
	" UNION SELECT RTRIM(ad.alias_domain) FROM alias_domain ad"            \
	" JOIN domain d ON d.domain = ad.target_domain"                        \
	" WHERE ad.active = 1 AND d.active = 1 AND d.backupmx = 0"

/* virtual_mailbox_maps.cf: the domain column must name an active domain */
#define IRM_MAILBOX                                                            \
	" SELECT m.username AS address FROM mailbox m"                         \
	" JOIN domain d ON d.domain = m.domain"                                \
	" WHERE m.active = 1 AND m.enabledeliver = 1 AND d.active = 1"         \
	" AND LOCATE('@', m.username) > 0"

/*
 * virtual_alias_maps.cf: aliases and each mailbox's own row; a row
 * without "@" is a catch-all (catchall_maps.cf, below)
 */
#define IRM_FORWARD                                                            \
	" SELECT f.address FROM forwardings f"                                 \
	" JOIN domain d ON d.domain = f.domain"                                \
	" WHERE f.active = 1 AND d.backupmx = 0 AND d.active = 1"              \
	" AND LENGTH(f.forwarding) > 0 AND LOCATE('@', f.address) > 0"

/* domain_alias_maps.cf: the target's forwardings under the alias domain */
#define IRM_AD_FORWARD                                                         \
	" SELECT CONCAT(SUBSTRING_INDEX(f.address, '@', 1), '@',"              \
	" ad.alias_domain) FROM alias_domain ad"                               \
	" JOIN domain d ON d.domain = ad.target_domain"                        \
	" JOIN forwardings f"                                                  \
	" ON f.address = CONCAT(SUBSTRING_INDEX(f.address, '@', 1), '@',"      \
	" ad.target_domain)"                                                   \
	" WHERE f.active = 1 AND ad.active = 1 AND d.backupmx = 0"             \
	" AND LENGTH(f.forwarding) > 0"                                        \
	" AND LENGTH(SUBSTRING_INDEX(f.address, '@', 1)) > 0"

/* catchall_maps.cf: the address is the bare domain */
#define IRM_CATCHALL                                                           \
	" SELECT CONCAT('@', f.address) FROM forwardings f"                    \
	" JOIN domain d ON f.address = d.domain"                               \
	" WHERE f.active = 1 AND d.active = 1 AND d.backupmx = 0"              \
	" AND LENGTH(f.forwarding) > 0"

/* domain_alias_catchall_maps.cf: the target's catch-all */
#define IRM_AD_CATCHALL                                                        \
	" SELECT CONCAT('@', ad.alias_domain) FROM alias_domain ad"            \
	" JOIN domain d ON d.domain = ad.target_domain"                        \
	" JOIN forwardings f ON f.address = ad.target_domain"                  \
	" WHERE f.active = 1 AND ad.active = 1 AND LENGTH(f.forwarding) > 0"

/* relay_domains.cf, relayed without relay_recipient_maps */
#define IRM_RELAY                                                              \
	" SELECT CONCAT('@', domain) FROM domain"                              \
	" WHERE backupmx = 1 AND active = 1"

#define IRM_RECIPIENTS                                                         \
	"SELECT RTRIM(r.address) FROM (" IRM_MAILBOX " UNION ALL" IRM_FORWARD  \
	" UNION ALL" IRM_AD_FORWARD " UNION ALL" IRM_CATCHALL                  \
	" UNION ALL" IRM_AD_CATCHALL " UNION ALL" IRM_RELAY                    \
	") r WHERE EXISTS (SELECT 1 FROM domain d"                             \
	" WHERE d.domain = " ADDR_DOMAIN " AND d.active = 1)"                  \
	" OR EXISTS (SELECT 1 FROM alias_domain ad"                            \
	" JOIN domain d ON d.domain = ad.target_domain"                        \
	" WHERE ad.alias_domain = " ADDR_DOMAIN                                \
	" AND ad.active = 1 AND d.active = 1 AND d.backupmx = 0)"

/* clang-format off */
#define IRM_CHANGE                                                             \
	PRESET_MYSQL_TABLE("domain", "domain, active, backupmx")               \
	PRESET_MYSQL_UNION                                                     \
	PRESET_MYSQL_TABLE("alias_domain", "alias_domain, target_domain, active") \
	PRESET_MYSQL_UNION                                                     \
	PRESET_MYSQL_TABLE("mailbox", "username, domain, active, enabledeliver") \
	PRESET_MYSQL_UNION                                                     \
	PRESET_MYSQL_TABLE("forwardings", "address, forwarding, domain, active")
/* clang-format on */

/*
 * ISPmail (Signum/ispmail-bookworm-ansible): roles/ispmail-database's
 * schema.sql and the mysql-*.cf templates of roles/ispmail-postfix: no
 * active flags, no alias domains; a catch-all is an alias whose source is
 * "@domain".  mysql-virtual-mailbox-maps.cf and mysql-email2email.cf both
 * find the users, mysql-virtual-alias-maps.cf the aliases.
 */
#define ISP_DOMAINS "SELECT RTRIM(name) FROM virtual_domains"
#define ISP_RECIPIENTS                                                         \
	"SELECT RTRIM(r.address) FROM ("                                       \
	" SELECT email AS address FROM virtual_users"                          \
	" WHERE LOCATE('@', email) > 0"                                        \
	" UNION ALL SELECT source FROM virtual_aliases"                        \
	" WHERE LENGTH(destination) > 0 AND LOCATE('@', source) > 0"           \
	") r WHERE EXISTS (SELECT 1 FROM virtual_domains d"                    \
	" WHERE d.name = " ADDR_DOMAIN ")"
/* clang-format off */
#define ISP_CHANGE                                                             \
	PRESET_MYSQL_TABLE("virtual_domains", "id, name")                      \
	PRESET_MYSQL_UNION                                                     \
	PRESET_MYSQL_TABLE("virtual_users", "id, email")                       \
	PRESET_MYSQL_UNION                                                     \
	PRESET_MYSQL_TABLE("virtual_aliases", "id, source, destination")
/* clang-format on */

const struct preset preset_mysql[] = {
    {"postfixadmin", PFA_DOMAINS,
     PFA_RECIPIENTS ") r WHERE " PFA_HOSTED(ADDR_DOMAIN), PFA_CHANGE},
    {"postfixadmin-backupmx", PFAB_DOMAINS,
     PFA_RECIPIENTS " UNION ALL" PFAB_RELAY
		    ") r WHERE " PFAB_HOSTED(ADDR_DOMAIN),
     PFA_CHANGE},
    {"iredmail", IRM_DOMAINS, IRM_RECIPIENTS, IRM_CHANGE},
    {"ispmail", ISP_DOMAINS, ISP_RECIPIENTS, ISP_CHANGE},
    {NULL, NULL, NULL, NULL},
};
