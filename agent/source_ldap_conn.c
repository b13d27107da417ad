/*
 * source_ldap_conn - the ldap source's libldap layer: a bound connection
 * from the source's keys (TLS verified, simple or SASL EXTERNAL bind), the
 * kind and message of a failed call, the change marker, and the polls'
 * connection that source_db_poll keeps.  The keys and the searches of an
 * export are in source_ldap.c.
 *
 * Failure: an unreachable server, TLS or bind refused, timeouts and limits
 * are SOURCE_DOWN; anything else the server refuses is SOURCE_BAD.
 * Messages are "source NAME: WHAT: " and libldap's reason, with the
 * server's diagnostic when it gave one.
 *
 * Security: the password is read from its file for each bind, kept in
 * locked memory only for the bind and wiped right after; it is never
 * logged.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include <lber.h>
#include <ldap.h>
#include <sodium.h>

#include "source.h"
#include "source_ldap_priv.h"

/* source_ldap_down - is an LDAP result code "the server is not there"? */
static int source_ldap_down(int rc)
{
	switch (rc) {
	case LDAP_SERVER_DOWN:
	case LDAP_CONNECT_ERROR:
	case LDAP_TIMEOUT:
	case LDAP_TIMELIMIT_EXCEEDED:
	case LDAP_UNAVAILABLE:
	case LDAP_BUSY:
	case LDAP_UNWILLING_TO_PERFORM:
	case LDAP_NO_MEMORY:
	case LDAP_LOCAL_ERROR:
	case LDAP_INVALID_CREDENTIALS:
	case LDAP_INAPPROPRIATE_AUTH:
	case LDAP_STRONG_AUTH_REQUIRED:
	case LDAP_CONFIDENTIALITY_REQUIRED:
	case LDAP_ADMINLIMIT_EXCEEDED:
		return 1;
	default:
		return 0;
	}
}

int source_ldap_fail(struct source *src, LDAP *ld, int rc, const char *what,
		     struct err *err)
{
	char *diag = NULL;

	if (ld != NULL)
		(void)ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &diag);
	if (diag != NULL && *diag != '\0')
		err_set(err, "source %s: %s: %s (%s)", src->name, what,
			ldap_err2string(rc), diag);
	else
		err_set(err, "source %s: %s: %s", src->name, what,
			ldap_err2string(rc));
	ldap_memfree(diag);
	return source_ldap_down(rc) ? SOURCE_DOWN : SOURCE_BAD;
}

/* source_ldap_sasl_interact - SASL EXTERNAL needs no answers */
static int source_ldap_sasl_interact(LDAP *ld, unsigned flags, void *defaults,
				     void *interact)
{
	(void)ld;
	(void)flags;
	(void)defaults;
	(void)interact;
	return LDAP_SUCCESS;
}

LDAP *source_ldap_connect(struct source *src, struct err *err)
{
	struct ldap_conf *lc = src->priv;
	LDAP *ld = NULL;
	char *pw = NULL;
	struct berval cred;
	struct timeval tv;
	int rc, v3 = LDAP_VERSION3, demand = LDAP_OPT_X_TLS_DEMAND, zero = 0;

	if ((rc = ldap_initialize(&ld, lc->uri)) != LDAP_SUCCESS) {
		source_ldap_fail(src, NULL, rc, "ldap_initialize", err);
		return NULL;
	}
	tv.tv_sec = (time_t)(lc->connect_timeout / 1000);
	tv.tv_usec = 0;
	ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
	ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF);
	ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &tv);
	tv.tv_sec = (time_t)(lc->timeout / 1000);
	ldap_set_option(ld, LDAP_OPT_TIMEOUT, &tv);
	/* Verification is always on: only the CA file is the user's. */
	if ((*lc->ca_file != '\0' &&
	     ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, lc->ca_file) !=
		 LDAP_OPT_SUCCESS) ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) !=
		LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) !=
		LDAP_OPT_SUCCESS) {
		err_set(err, "source %s: %s: cannot set up TLS with ca_file %s",
			src->name, lc->uri,
			*lc->ca_file ? lc->ca_file : "(system)");
		goto fail;
	}
	if (lc->start_tls &&
	    (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		source_ldap_fail(src, ld, rc, "start_tls", err);
		/* libldap words a failed verification as a connect error */
		if (rc == LDAP_CONNECT_ERROR)
			err_set(err,
				"source %s: start_tls: TLS handshake with %s "
				"failed: its certificate does not verify "
				"against %s, or does not name the host",
				src->name, lc->uri,
				*lc->ca_file ? lc->ca_file
					     : "the system's CAs");
		goto fail;
	}
	if ((pw = sodium_malloc(SOURCE_PASSWORD_MAX)) == NULL) {
		err_set(err, "source %s: out of memory", src->name);
		goto fail;
	}
	if (source_password(src, lc->password_file, pw, SOURCE_PASSWORD_MAX,
			    err) < 0)
		goto fail;
	if (*lc->sasl_mech != '\0') {
		/* EXTERNAL asks nothing: the interaction callback has no work
		 */
		rc = ldap_sasl_interactive_bind_s(
		    ld, NULL, lc->sasl_mech, NULL, NULL, LDAP_SASL_QUIET,
		    source_ldap_sasl_interact, NULL);
	} else {
		cred.bv_val = pw;
		cred.bv_len = strlen(pw);
		rc =
		    ldap_sasl_bind_s(ld, *lc->bind_dn ? lc->bind_dn : NULL,
				     LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
	}
	if (rc != LDAP_SUCCESS) {
		char what[600];

		snprintf(what, sizeof(what), "bind to %.500s", lc->uri);
		source_ldap_fail(src, ld, rc, what, err);
		/* a failed TLS handshake looks like a server that is away */
		if (rc == LDAP_SERVER_DOWN &&
		    strncmp(lc->uri, "ldaps://", 8) == 0)
			err_set(err,
				"source %s: bind to %.500s: %s (or its "
				"certificate does not verify against %s, or "
				"does not name the host)",
				src->name, lc->uri, ldap_err2string(rc),
				*lc->ca_file ? lc->ca_file
					     : "the system's CAs");
		goto fail;
	}
	sodium_memzero(pw, SOURCE_PASSWORD_MAX);
	sodium_free(pw);
	return ld;
fail:
	if (pw != NULL) {
		sodium_memzero(pw, SOURCE_PASSWORD_MAX);
		sodium_free(pw);
	}
	ldap_unbind_ext_s(ld, NULL, NULL);
	return NULL;
}

int source_ldap_mark(struct source *src, LDAP *ld, unsigned char *out,
		     struct err *err)
{
	struct ldap_conf *lc = src->priv;
	crypto_generichash_state h;
	LDAPMessage *res = NULL, *e;
	struct berval **vals;
	struct timeval tv;
	uint64_t len;
	int lrc, i, j, found = 0;

	tv.tv_sec = (time_t)(lc->timeout / 1000);
	tv.tv_usec = 0;
	lrc = ldap_search_ext_s(ld, lc->change_dn, LDAP_SCOPE_BASE,
				"(objectClass=*)", lc->change_attrs, 0, NULL,
				NULL, &tv, 1, &res);
	if (lrc != LDAP_SUCCESS) {
		ldap_msgfree(res);
		return source_ldap_fail(src, ld, lrc, "change_dn", err);
	}
	crypto_generichash_init(&h, NULL, 0, 32);
	for (e = ldap_first_entry(ld, res); e != NULL;
	     e = ldap_next_entry(ld, e)) {
		for (i = 0; lc->change_attrs[i] != NULL; i++) {
			vals = ldap_get_values_len(ld, e, lc->change_attrs[i]);
			for (j = 0; vals != NULL && vals[j] != NULL; j++) {
				len = vals[j]->bv_len;
				crypto_generichash_update(&h, (void *)&len,
							  sizeof(len));
				crypto_generichash_update(
				    &h, (unsigned char *)vals[j]->bv_val, len);
				found = 1;
			}
			ldap_value_free_len(vals);
		}
	}
	ldap_msgfree(res);
	crypto_generichash_final(&h, out, 32);
	return found;
}

/*
 * source_ldap_poll_connect - the polls' connection through source_db_poll;
 * it lives on, so children the daemon starts must not inherit it
 */
static void *source_ldap_poll_connect(struct source *src, struct err *err)
{
	LDAP *ld = source_ldap_connect(src, err);
	int fd = -1;

	if (ld != NULL &&
	    ldap_get_option(ld, LDAP_OPT_DESC, &fd) == LDAP_OPT_SUCCESS &&
	    fd >= 0)
		(void)fcntl(fd, F_SETFD, FD_CLOEXEC);
	return ld;
}

/*
 * source_ldap_poll_change - the marker; an entry without the attributes
 * hashes as nothing, which no marker of an export equals: export again
 */
static int source_ldap_poll_change(struct source *src, void *conn,
				   unsigned char *out, struct err *err)
{
	int rc = source_ldap_mark(src, conn, out, err);

	return rc < 0 ? rc : 0;
}

static void source_ldap_poll_close(void *conn)
{
	ldap_unbind_ext_s(conn, NULL, NULL);
}

const struct source_db_poller source_ldap_poller = {
    source_ldap_poll_connect,
    source_ldap_poll_change,
    source_ldap_poll_close,
};
