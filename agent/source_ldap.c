/*
 * source_ldap - domains and recipients from an LDAP directory (OpenLDAP,
 * Active Directory), through OpenLDAP's libldap
 *
 *	[source NAME]
 *	type                  = ldap
 *	uri                   = ldap://ldap.example.com	(ldaps://, ldapi://)
 *	start_tls             = no
 *	ca_file               = /etc/mxsync/ldap-ca.pem
 *	bind_dn               = cn=mxsync,dc=example,dc=com
 *	password_file         = /etc/mxsync/ldap.pw	(simple bind)
 *	sasl_mech             = EXTERNAL	(ldapi://: the agent's uid)
 *	base                  = dc=example,dc=com
 *	schema                = ad		(Active Directory defaults)
 *	domains_filter        = (objectClass=domainRelatedObject)
 *	domains_attribute     = associatedDomain
 *	recipients_filter     = (&(objectClass=inetOrgPerson)(mail=*))
 *	recipients_attributes = mail mailLocalAddress
 *	change_dn             = (base)	change_attributes = contextCSN
 *	page_size             = 500
 *	poll_interval         = 5s	connect_timeout = 5s	timeout = 60s
 *	allow_empty           = no
 *
 * Searches use the paged-results control (RFC 2696), so one page of
 * entries is in memory at a time, however large the directory.  Values of
 * proxyAddresses are read as Exchange writes them: "smtp:" (any case)
 * values are addresses, other address types (X500:, SIP:, ...) are not.
 * Directory attributes like mail compare without regard to case, as
 * Postfix's ldap: tables then match any case: values are folded, never
 * dropped for their case.
 *
 * Change detection: each poll reads change_attributes of the entry
 * change_dn (OpenLDAP with the syncprov overlay keeps contextCSN on the
 * suffix; Active Directory's root DSE has highestCommittedUSN); a
 * different value means "export again".  Without such a value every poll
 * is a full export.  Polls keep their bound connection open, so a poll that
 * finds no change costs one search (source_db_poll); each export binds a
 * connection of its own.
 *
 * Server unreachable, TLS or bind refused, timeouts are SOURCE_DOWN; a
 * search the server refuses (bad filter, no such base), a malformed value
 * or a search that finds nothing (unless allow_empty) is SOURCE_BAD.
 *
 * The keys, the defaults and the paged searches are here; connecting,
 * binding, the kind of a failure and the change marker are in
 * source_ldap_conn.c; what the sources have in common is in source.c.
 *
 * Security: TLS (ldaps:// or start_tls) always verifies the server's
 * certificate and name against ca_file (or the system's CAs); there is no
 * switch to turn that off.  The password is read for each bind and wiped
 * right after; it is never logged.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <lber.h>
#include <ldap.h>

#include "source.h"
#include "source_ldap_priv.h"

static const struct conf_key source_ldap_keys[] = {
    {"type", CONF_STRING, NULL, offsetof(struct ldap_conf, type), 0, 0},
    {"uri", CONF_STRING, NULL, offsetof(struct ldap_conf, uri), 0, 0},
    {"start_tls", CONF_BOOL, "no", offsetof(struct ldap_conf, start_tls), 0, 0},
    {"ca_file", CONF_STRING, "", offsetof(struct ldap_conf, ca_file), 0, 0},
    {"bind_dn", CONF_STRING, "", offsetof(struct ldap_conf, bind_dn), 0, 0},
    {"password_file", CONF_STRING, "",
     offsetof(struct ldap_conf, password_file), 0, 0},
    {"sasl_mech", CONF_STRING, "", offsetof(struct ldap_conf, sasl_mech), 0, 0},
    {"base", CONF_STRING, NULL, offsetof(struct ldap_conf, base), 0, 0},
    {"schema", CONF_STRING, "", offsetof(struct ldap_conf, schema), 0, 0},
    {"domains_filter", CONF_STRING, "",
     offsetof(struct ldap_conf, domains_filter), 0, 0},
    {"domains_attribute", CONF_STRING, "associatedDomain",
     offsetof(struct ldap_conf, domains_attribute), 0, 0},
    {"recipients_filter", CONF_STRING, "",
     offsetof(struct ldap_conf, recipients_filter), 0, 0},
    {"recipients_attributes", CONF_STRING, "",
     offsetof(struct ldap_conf, recipients_attributes), 0, 0},
    {"change_dn", CONF_STRING, "", offsetof(struct ldap_conf, change_dn), 0, 0},
    {"change_attributes", CONF_STRING, "",
     offsetof(struct ldap_conf, change_attributes), 0, 0},
    {"allow_empty", CONF_BOOL, "no", offsetof(struct ldap_conf, allow_empty), 0,
     0},
    {"page_size", CONF_UINT, "500", offsetof(struct ldap_conf, page_size), 1,
     100000},
    {"poll_interval", CONF_DURATION, "5s",
     offsetof(struct ldap_conf, poll_interval), 100, 86400000},
    {"connect_timeout", CONF_DURATION, "5s",
     offsetof(struct ldap_conf, connect_timeout), 1000, 600000},
    {"timeout", CONF_DURATION, "60s", offsetof(struct ldap_conf, timeout), 1000,
     3600000},
    {NULL, 0, NULL, 0, 0, 0},
};

/*
 * The defaults: a plain OpenLDAP directory (inetOrgPerson's mail, as in
 * Postfix's LDAP_README), or Active Directory (schema = ad): users and
 * groups with an smtp: proxy address, accounts disabled in
 * userAccountControl (bit 2, ACCOUNTDISABLE) left out.
 */
#define LDAP_PLAIN_FILTER "(&(objectClass=inetOrgPerson)(mail=*))"
#define LDAP_PLAIN_ATTRS "mail"
#define LDAP_PLAIN_CHANGE "contextCSN"
#define LDAP_AD_FILTER                                                         \
	"(&(proxyAddresses=smtp:*)(|(objectClass=user)(objectClass=group))"    \
	"(!(userAccountControl:1.2.840.113556.1.4.803:=2)))"
#define LDAP_AD_ATTRS "proxyAddresses"
#define LDAP_AD_CHANGE "highestCommittedUSN"

/* source_ldap_default - set an empty string key to a default */
static int source_ldap_default(char **value, const char *def)
{
	char *copy;

	if (**value != '\0')
		return 0;
	if ((copy = strdup(def)) == NULL)
		return -1;
	free(*value);
	*value = copy;
	return 0;
}

/* source_ldap_split - split a blank-separated list in place into words */
static int source_ldap_split(char *text, char **words, size_t max)
{
	size_t n = 0;
	char *p = text;

	for (;;) {
		while (*p == ' ' || *p == '\t' || *p == ',')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (n == max)
			return -1;
		words[n++] = p;
		while (*p != '\0' && *p != ' ' && *p != '\t' && *p != ',')
			p++;
	}
	words[n] = NULL;
	return (int)n;
}

static int source_ldap_configure(struct source *src, const struct conf_file *cf,
				 const struct conf_section *sec,
				 struct err *err)
{
	struct ldap_conf *lc;
	int ad = 0, n;

	if ((lc = calloc(1, sizeof(*lc))) == NULL)
		return err_set(err, "out of memory");
	src->priv = lc;
	if (conf_apply(cf, sec, source_ldap_keys, lc, err) < 0)
		return -1;
	if (strcmp(lc->schema, "ad") == 0)
		ad = 1;
	else if (*lc->schema != '\0')
		return err_set(err,
			       "%s:%u: [source %s]: unknown schema '%s' "
			       "(known for type ldap: ad)",
			       cf->path, conf_line(sec, "schema"), sec->name,
			       lc->schema);
	if (strncmp(lc->uri, "ldap://", 7) != 0 &&
	    strncmp(lc->uri, "ldaps://", 8) != 0 &&
	    strncmp(lc->uri, "ldapi://", 8) != 0)
		return err_set(err,
			       "%s:%u: [source %s]: uri must start with "
			       "ldap://, ldaps:// or ldapi://",
			       cf->path, conf_line(sec, "uri"), sec->name);
	if (lc->start_tls && strncmp(lc->uri, "ldap://", 7) != 0)
		return err_set(err,
			       "%s:%u: [source %s]: start_tls needs an "
			       "ldap:// uri",
			       cf->path, conf_line(sec, "start_tls"),
			       sec->name);
	if (source_path_check(cf, sec, "ca_file", lc->ca_file, err) < 0 ||
	    source_path_check(cf, sec, "password_file", lc->password_file,
			      err) < 0)
		return -1;
	if (*lc->sasl_mech != '\0' && strcmp(lc->sasl_mech, "EXTERNAL") != 0)
		return err_set(err,
			       "%s:%u: [source %s]: sasl_mech must be "
			       "EXTERNAL",
			       cf->path, conf_line(sec, "sasl_mech"),
			       sec->name);
	if (*lc->sasl_mech != '\0' && *lc->bind_dn != '\0')
		return err_set(err,
			       "%s:%u: [source %s]: set bind_dn or sasl_mech, "
			       "not both",
			       cf->path, conf_line(sec, "sasl_mech"),
			       sec->name);
	if (*lc->bind_dn != '\0' && *lc->password_file == '\0')
		return err_set(err,
			       "%s:%u: [source %s]: bind_dn needs "
			       "password_file",
			       cf->path, conf_line(sec, "bind_dn"), sec->name);
	if (*lc->password_file != '\0' && *lc->bind_dn == '\0')
		return err_set(err,
			       "%s:%u: [source %s]: password_file needs "
			       "bind_dn",
			       cf->path, conf_line(sec, "password_file"),
			       sec->name);
	if (source_ldap_default(&lc->recipients_filter,
				ad ? LDAP_AD_FILTER : LDAP_PLAIN_FILTER) < 0 ||
	    source_ldap_default(&lc->recipients_attributes,
				ad ? LDAP_AD_ATTRS : LDAP_PLAIN_ATTRS) < 0 ||
	    source_ldap_default(&lc->change_attributes,
				ad ? LDAP_AD_CHANGE : LDAP_PLAIN_CHANGE) < 0 ||
	    (!ad && source_ldap_default(&lc->change_dn, lc->base) < 0) ||
	    (lc->attr_text = strdup(lc->recipients_attributes)) == NULL ||
	    (lc->change_text = strdup(lc->change_attributes)) == NULL)
		return err_set(err, "out of memory");
	n = source_ldap_split(lc->attr_text, lc->attrs, LDAP_ATTRS_MAX);
	if (n <= 0)
		return err_set(err,
			       "%s:%u: [source %s]: recipients_attributes: "
			       "one to %d attribute names",
			       cf->path,
			       conf_line(sec, "recipients_attributes"),
			       sec->name, LDAP_ATTRS_MAX);
	if (source_ldap_split(lc->change_text, lc->change_attrs,
			      LDAP_ATTRS_MAX) <= 0)
		return err_set(err,
			       "%s:%u: [source %s]: change_attributes: one to "
			       "%d attribute names",
			       cf->path, conf_line(sec, "change_attributes"),
			       sec->name, LDAP_ATTRS_MAX);
	if (*lc->domains_attribute == '\0' ||
	    strpbrk(lc->domains_attribute, " \t,") != NULL)
		return err_set(err,
			       "%s:%u: [source %s]: domains_attribute: one "
			       "attribute name",
			       cf->path, conf_line(sec, "domains_attribute"),
			       sec->name);
	lc->domain_attrs[0] = lc->domains_attribute;
	lc->domain_attrs[1] = NULL;
	src->poll_interval_ms = lc->poll_interval;
	return 0;
}

static void source_ldap_free(struct source *src)
{
	struct ldap_conf *lc = src->priv;

	if (lc == NULL)
		return;
	if (lc->poller != NULL)
		ldap_unbind_ext_s(lc->poller, NULL, NULL);
	free(lc->attr_text);
	free(lc->change_text);
	conf_free_target(source_ldap_keys, lc);
	free(lc);
	src->priv = NULL;
}

/* the value callback of a search: one attribute value of one entry */
typedef int (*source_ldap_value_fn)(struct source *src,
				    struct source_export_ctx *ctx,
				    const char *attr, const struct berval *v,
				    struct err *err);

/*
 * source_ldap_search - a paged search of base for filter, calling fn for
 * every value of attrs; *entries_r counts the entries seen
 */
static int source_ldap_search(struct source *src, struct source_export_ctx *ctx,
			      LDAP *ld, const char *key, const char *filter,
			      char **attrs, source_ldap_value_fn fn,
			      struct err *err)
{
	struct ldap_conf *lc = src->priv;
	struct berval cookie = {0, NULL};
	LDAPControl *page = NULL, *ctrls[2] = {NULL, NULL}, **sctrls = NULL;
	LDAPMessage *res = NULL, *e;
	struct berval **vals;
	struct timeval tv;
	ber_int_t total;
	int rc, lrc, i, j;
	char *diag = NULL;

	tv.tv_sec = (time_t)(lc->timeout / 1000);
	tv.tv_usec = 0;
	for (;;) {
		if ((lrc = ldap_create_page_control(
			 ld, (ber_int_t)lc->page_size,
			 cookie.bv_len > 0 ? &cookie : NULL, 1, &page)) !=
		    LDAP_SUCCESS) {
			rc = source_ldap_fail(src, ld, lrc, key, err);
			goto out;
		}
		ctrls[0] = page;
		lrc = ldap_search_ext_s(ld, lc->base, LDAP_SCOPE_SUBTREE,
					filter, attrs, 0, ctrls, NULL, &tv,
					LDAP_NO_LIMIT, &res);
		ldap_control_free(page);
		page = NULL;
		if (lrc != LDAP_SUCCESS) {
			rc = source_ldap_fail(src, ld, lrc, key, err);
			goto out;
		}
		for (e = ldap_first_entry(ld, res); e != NULL;
		     e = ldap_next_entry(ld, e)) {
			for (i = 0; attrs[i] != NULL; i++) {
				vals = ldap_get_values_len(ld, e, attrs[i]);
				for (j = 0; vals != NULL && vals[j] != NULL;
				     j++) {
					rc = fn(src, ctx, attrs[i], vals[j],
						err);
					if (rc < 0) {
						ldap_value_free_len(vals);
						goto out;
					}
				}
				ldap_value_free_len(vals);
			}
		}
		lrc = ldap_parse_result(ld, res, &rc, NULL, &diag, NULL,
					&sctrls, 0);
		ldap_memfree(diag);
		diag = NULL;
		if (lrc != LDAP_SUCCESS) {
			rc = source_ldap_fail(src, ld, lrc, key, err);
			goto out;
		}
		ldap_memfree(cookie.bv_val);
		cookie.bv_val = NULL;
		cookie.bv_len = 0;
		if (sctrls != NULL) {
			LDAPControl *pr = ldap_control_find(
			    LDAP_CONTROL_PAGEDRESULTS, sctrls, NULL);

			if (pr != NULL &&
			    ldap_parse_pageresponse_control(
				ld, pr, &total, &cookie) != LDAP_SUCCESS) {
				cookie.bv_val = NULL;
				cookie.bv_len = 0;
			}
			ldap_controls_free(sctrls);
			sctrls = NULL;
		}
		ldap_msgfree(res);
		res = NULL;
		if (cookie.bv_len == 0)
			break;
	}
	rc = SOURCE_OK;
out:
	ldap_memfree(cookie.bv_val);
	if (page != NULL)
		ldap_control_free(page);
	if (sctrls != NULL)
		ldap_controls_free(sctrls);
	ldap_msgfree(res);
	return rc;
}

static int source_ldap_domain_value(struct source *src,
				    struct source_export_ctx *ctx,
				    const char *attr, const struct berval *v,
				    struct err *err)
{
	char where[SOURCE_WHERE_MAX];

	snprintf(where, sizeof(where), "domains_filter value of %s", attr);
	return source_add_domain(src, ctx, v->bv_val, v->bv_len, NULL, 0, where,
				 err);
}

static int source_ldap_recipient_value(struct source *src,
				       struct source_export_ctx *ctx,
				       const char *attr, const struct berval *v,
				       struct err *err)
{
	const char *a = v->bv_val;
	size_t len = v->bv_len;

	if (strcasecmp(attr, "proxyAddresses") == 0) {
		/* "smtp:addr" and "SMTP:addr"; other types are no address */
		if (len < 5 || strncasecmp(a, "smtp:", 5) != 0)
			return SOURCE_OK;
		a += 5;
		len -= 5;
	}
	return source_add_recipient_n(src, ctx, a, len, "recipients_filter",
				      " value of ", 0, err);
}

static int source_ldap_export(struct source *src, struct source_export_ctx *ctx,
			      struct err *err)
{
	struct ldap_conf *lc = src->priv;
	unsigned char change[32];
	size_t domains = ctx->domains, recipients = ctx->recipients;
	int rc, have = 0;
	LDAP *ld;

	if ((ld = source_ldap_connect(src, err)) == NULL)
		return SOURCE_DOWN;
	/* The marker first: a change during the searches exports again. */
	rc = source_ldap_mark(src, ld, change, err);
	if (rc < 0)
		goto out;
	have = rc;
	if (*lc->domains_filter != '\0') {
		if ((rc = source_ldap_search(
			 src, ctx, ld, "domains_filter", lc->domains_filter,
			 lc->domain_attrs, source_ldap_domain_value, err)) < 0)
			goto out;
		if (ctx->domains == domains && !lc->allow_empty) {
			rc = source_empty(
			    src, "domains_filter found no domains", err);
			goto out;
		}
	}
	if ((rc = source_ldap_search(src, ctx, ld, "recipients_filter",
				     lc->recipients_filter, lc->attrs,
				     source_ldap_recipient_value, err)) < 0)
		goto out;
	if (ctx->recipients == recipients && !lc->allow_empty) {
		rc = source_empty(src, "recipients_filter found no recipients",
				  err);
		goto out;
	}
	if (have) {
		memcpy(lc->change, change, sizeof(change));
		lc->have_change = 1;
	}
	rc = SOURCE_OK;
out:
	ldap_unbind_ext_s(ld, NULL, NULL);
	return rc;
}

static int source_ldap_poll(struct source *src, struct err *err)
{
	struct ldap_conf *lc = src->priv;

	if (!lc->have_change)
		return 1;
	return source_db_poll(src, &source_ldap_poller, &lc->poller, lc->change,
			      err);
}

static int source_ldap_check(struct source *src, struct err *err)
{
	struct ldap_conf *lc = src->priv;

	return source_password_check(src, lc->password_file, err);
}

const struct source_ops source_ldap_ops = {
    .type = "ldap",
    .configure = source_ldap_configure,
    .check = source_ldap_check,
    .export = source_ldap_export,
    .poll = source_ldap_poll,
    .free = source_ldap_free,
};
