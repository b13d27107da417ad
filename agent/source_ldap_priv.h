/*
 * source_ldap_priv - what the two files of the ldap source share: its
 * settings and state (struct ldap_conf), and the libldap layer that
 * source_ldap_conn.c implements for source_ldap.c.  Private to those two
 * files.
 */
#ifndef MXSYNC_AGENT_SOURCE_LDAP_PRIV_H
#define MXSYNC_AGENT_SOURCE_LDAP_PRIV_H

#include <stdint.h>

#include <ldap.h>

#include "../formats/err.h"
#include "source.h"

#define LDAP_ATTRS_MAX 16

/* ldap_conf - one [source] of type ldap: its keys and its state */
struct ldap_conf {
	char *type;
	char *uri;
	int start_tls;
	char *ca_file;
	char *bind_dn;
	char *password_file;
	char *sasl_mech;
	char *base;
	char *schema;
	char *domains_filter;
	char *domains_attribute;
	char *recipients_filter;
	char *recipients_attributes;
	char *change_dn;
	char *change_attributes;
	int allow_empty;
	uint64_t page_size;
	uint64_t poll_interval;
	uint64_t connect_timeout;
	uint64_t timeout;
	/* split lists, pointing into attr_text / change_text */
	char *attr_text, *change_text;
	char *attrs[LDAP_ATTRS_MAX + 1];
	char *change_attrs[LDAP_ATTRS_MAX + 1];
	char *domain_attrs[2];
	/* the change attributes' last values, hashed */
	unsigned char change[32];
	int have_change;
	/* the polls' bound connection (LDAP *), kept between polls */
	void *poller;
};

/* source_ldap_fail - "source NAME: WHAT: reason (diagnostic)"; the kind */
int source_ldap_fail(struct source *src, LDAP *ld, int rc, const char *what,
		     struct err *err);

/* source_ldap_connect - a bound connection, or NULL (SOURCE_DOWN) */
LDAP *source_ldap_connect(struct source *src, struct err *err);

/*
 * source_ldap_mark - hash the change attributes of change_dn into out[32]:
 * 1 when there was a value, 0 when the entry has none of them
 */
int source_ldap_mark(struct source *src, LDAP *ld, unsigned char *out,
		     struct err *err);

/* the polls' connection, kept by source_db_poll (source.h) */
extern const struct source_db_poller source_ldap_poller;

#endif
