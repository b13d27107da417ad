/*
 * config - the [syncd] section of syncd.conf
 *
 * Owns the key table (name, type, default, bounds) and the checks that need
 * more than a type: the listen address, the canary addresses, and that the
 * directories and files named exist.  Fails with "file:line: message".
 */
#include <netdb.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/conf.h"
#include "../formats/lookup.h"
#include "../formats/norm.h"
#include "cidr.h"
#include "config.h"

#define CONFIG_OFF(f) offsetof(struct syncd_config, f)

static const struct conf_key syncd_config_table[] = {
    {"listen", CONF_STRING, "0.0.0.0:8025", CONFIG_OFF(listen), 0, 0},
    {"tls_cert", CONF_STRING, "/etc/mxsync/tls/cert.pem", CONFIG_OFF(tls_cert),
     0, 0},
    {"tls_key", CONF_STRING, "/etc/mxsync/tls/key.pem", CONFIG_OFF(tls_key), 0,
     0},
    {"trusted_keys", CONF_STRING, "/etc/mxsync/trusted_keys",
     CONFIG_OFF(trusted_keys), 0, 0},
    {"state_dir", CONF_STRING, "/var/lib/mxsync/state", CONFIG_OFF(state_dir),
     0, 0},
    {"maps_dir", CONF_STRING, "/var/lib/mxsync/maps", CONFIG_OFF(maps_dir), 0,
     0},
    {"max_body", CONF_SIZE, "512M", CONFIG_OFF(max_body), 1, (uint64_t)4 << 30},
    {"max_shrink", CONF_PERCENT, "10%", CONFIG_OFF(max_shrink), 0, 0},
    {"canaries", CONF_STRING, "", CONFIG_OFF(canaries_text), 0, 0},
    {"max_connections", CONF_UINT, "1024", CONFIG_OFF(max_connections), 1,
     10000},
    {"max_per_address", CONF_UINT, "32", CONFIG_OFF(max_per_address), 1, 10000},
    {"header_timeout", CONF_DURATION, "5s", CONFIG_OFF(header_timeout_ms), 1000,
     60000},
    {"allow", CONF_STRING, "", CONFIG_OFF(allow_text), 0, 0},
    {"status_listen", CONF_STRING, "127.0.0.1:8026", CONFIG_OFF(status_listen),
     0, 0},
    {"sandbox", CONF_STRING, "landlock", CONFIG_OFF(sandbox), 0, 0},
    {"timeout", CONF_DURATION, "30s", CONFIG_OFF(timeout_ms), 1000, 3600000},
    {"clock_skew", CONF_DURATION, "5m", CONFIG_OFF(clock_skew_ms), 0, 86400000},
    {"install_wait", CONF_DURATION, "5s", CONFIG_OFF(install_wait_ms), 0,
     600000},
    {"user", CONF_STRING, "", CONFIG_OFF(user), 0, 0},
    {"recipient_shards", CONF_UINT, "64", CONFIG_OFF(recipient_shards), 1, 256},
    {"max_map_size", CONF_SIZE, "4G", CONFIG_OFF(max_map_size), 4096,
     (uint64_t)4 << 30},
    {"recipient_delimiter", CONF_STRING, "", CONFIG_OFF(recipient_delimiter), 0,
     0},
    {"transports", CONF_STRING, "smtp relay", CONFIG_OFF(transports), 0, 0},
    {"deny_domains", CONF_STRING, "$myhostname localhost",
     CONFIG_OFF(deny_domains_text), 0, 0},
    {"max_expire", CONF_DURATION, "31d", CONFIG_OFF(max_expire_ms), 60000,
     (uint64_t)3660 * 86400000},
    {"max_serial_ahead", CONF_DURATION, "1d", CONFIG_OFF(max_serial_ahead_ms),
     1000, (uint64_t)366 * 86400000},
    {"shrink_window", CONF_DURATION, "24h", CONFIG_OFF(shrink_window_ms), 0,
     (uint64_t)366 * 86400000},
    {NULL, CONF_STRING, NULL, 0, 0, 0}};

/* syncd_config_parse_listen - "host:port" or "[v6]:port" of key into *addr */
static int syncd_config_parse_listen(struct syncd_config *cfg, const char *key,
				     const char *value, unsigned line,
				     struct sockaddr_storage *addr,
				     socklen_t *addrlen, struct err *err)
{
	char host[256];
	const char *s = value, *port, *end;
	struct addrinfo hints, *res = NULL;
	size_t hlen;
	int rc;

	if (s[0] == '[') {
		end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			goto bad;
		hlen = (size_t)(end - s - 1);
		s++;
		port = end + 2;
	} else {
		end = strrchr(s, ':');
		if (end == NULL)
			goto bad;
		hlen = (size_t)(end - s);
		port = end + 1;
	}
	if (hlen == 0 || hlen >= sizeof(host) || *port == '\0' ||
	    strspn(port, "0123456789") != strlen(port) || atoi(port) < 1 ||
	    atoi(port) > 65535)
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(host, port, &hints, &res);
	if (rc != 0)
		return err_set(err, "%s:%u: %s %s: %s", cfg->path, line, key,
			       value, gai_strerror(rc));
	if (res->ai_addrlen > sizeof(*addr)) {
		freeaddrinfo(res);
		goto bad;
	}
	memcpy(addr, res->ai_addr, res->ai_addrlen);
	*addrlen = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
bad:
	return err_set(err, "%s:%u: %s '%s': expected host:port or [ipv6]:port",
		       cfg->path, line, key, value);
}

/* syncd_config_append - a copy of s (len octets) at the end of *v */
static int syncd_config_append(char ***v, size_t *n, const char *s, size_t len,
			       struct err *err)
{
	char **nv;

	if (*n >= SIZE_MAX / sizeof(*nv) - 1)
		return err_set(err, "too many words");
	nv = realloc(*v, (*n + 1) * sizeof(*nv));
	if (nv == NULL)
		return err_sys(err, "malloc");
	*v = nv;
	if ((nv[*n] = strndup(s, len)) == NULL)
		return err_sys(err, "malloc");
	(*n)++;
	return 0;
}

/* syncd_config_parse_canaries - fold each white-space separated address */
static int syncd_config_parse_canaries(struct syncd_config *cfg, unsigned line,
				       struct err *err)
{
	char out[NORM_BUF_SIZE];
	const char *p = cfg->canaries_text, *w;
	size_t len, olen;

	while ((w = conf_words_next(&p, &len)) != NULL) {
		if (norm_address(w, len, out, sizeof(out), &olen, err) < 0)
			return err_prefix(err, "%s:%u: canaries", cfg->path,
					  line);
		if (syncd_config_append(&cfg->canaries, &cfg->ncanaries, out,
					olen, err) < 0)
			return -1;
	}
	return 0;
}

/* syncd_config_myhostname - Postfix's $myhostname, else the host name */
static int syncd_config_myhostname(char *out, size_t size)
{
	FILE *fp;
	size_t n = 0;
	int st;

	const char *dir = getenv("MAIL_CONFIG");
	char main_cf[4096];

	out[0] = '\0';
	/* without a main.cf postconf fails, and only after a second's sleep */
	snprintf(main_cf, sizeof(main_cf), "%s/main.cf",
		 dir != NULL && dir[0] != '\0' ? dir : "/etc/postfix");
	fp = access(main_cf, R_OK) == 0
		 ? popen("postconf -h myhostname 2>/dev/null", "re")
		 : NULL;
	if (fp != NULL) {
		if (fgets(out, (int)size, fp) == NULL)
			out[0] = '\0';
		st = pclose(fp);
		n = strcspn(out, "\r\n");
		out[n] = '\0';
		if (st != 0)
			out[0] = '\0';
	}
	if (out[0] == '\0' && gethostname(out, size - 1) == 0)
		out[size - 1] = '\0';
	return out[0] != '\0' ? 0 : -1;
}

/*
 * syncd_config_parse_deny - fold each deny_domains word; "$myhostname" is the
 * backup's own name (skipped when it cannot be found or is no host name)
 */
static int syncd_config_parse_deny(struct syncd_config *cfg, unsigned line,
				   struct err *err)
{
	char out[NORM_BUF_SIZE], host[256];
	const char *p = cfg->deny_domains_text, *w;
	size_t olen, wlen;

	while ((w = conf_words_next(&p, &wlen)) != NULL) {
		if (wlen == 11 && memcmp(w, "$myhostname", 11) == 0) {
			if (syncd_config_myhostname(host, sizeof(host)) < 0)
				continue;
			w = host;
			wlen = strlen(host);
			if (norm_domain(w, wlen, out, sizeof(out), &olen, err) <
			    0)
				continue;
		} else if (norm_domain(w, wlen, out, sizeof(out), &olen, err) <
			   0)
			return err_prefix(err, "%s:%u: deny_domains", cfg->path,
					  line);
		if (syncd_config_append(&cfg->deny_domains, &cfg->ndeny_domains,
					out, olen, err) < 0)
			return -1;
	}
	return 0;
}

/* syncd_config_check_transports - words of letters, digits, "-" and "_" */
static int syncd_config_check_transports(const struct syncd_config *cfg,
					 unsigned line, struct err *err)
{
	const char *p = cfg->transports;
	size_t n = 0;

	for (; *p != '\0'; p++) {
		if (*p == ' ' || *p == '\t' || *p == ',')
			continue;
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '-' || *p == '_'))
			return err_set(err,
				       "%s:%u: transports: \"%s\" is not a "
				       "list of master.cf service names",
				       cfg->path, line, cfg->transports);
		n++;
	}
	if (n == 0)
		return err_set(err, "%s:%u: transports is empty", cfg->path,
			       line);
	return 0;
}

/* syncd_config_check_dir - the directory exists */
static int syncd_config_check_dir(const struct syncd_config *cfg,
				  const char *key, const char *dir,
				  unsigned line, struct err *err)
{
	struct stat st;

	if (dir[0] == '\0')
		return err_set(err, "%s:%u: %s is empty", cfg->path, line, key);
	if (stat(dir, &st) < 0)
		return err_sys(err, "%s:%u: %s %s", cfg->path, line, key, dir);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, "%s:%u: %s %s: not a directory", cfg->path,
			       line, key, dir);
	return 0;
}

struct syncd_config *syncd_config_load(const char *path, struct err *err)
{
	struct conf_file *cf = NULL;
	const struct conf_section *sec = NULL;
	struct syncd_config *cfg = NULL, *ret = NULL;
	size_t i;

	cf = conf_read(path, err);
	if (cf == NULL)
		goto out;
	for (i = 0; i < cf->n; i++) {
		if (strcmp(cf->sections[i].type, "syncd") != 0) {
			err_set(err, "%s:%u: unknown section [%s]", path,
				cf->sections[i].line, cf->sections[i].type);
			goto out;
		}
		if (sec != NULL) {
			err_set(err, "%s:%u: duplicate section [syncd]", path,
				cf->sections[i].line);
			goto out;
		}
		sec = &cf->sections[i];
	}
	if (sec == NULL) {
		err_set(err, "%s:1: missing section [syncd]", path);
		goto out;
	}
	cfg = calloc(1, sizeof(*cfg));
	if (cfg == NULL || (cfg->path = strdup(path)) == NULL) {
		err_sys(err, "malloc");
		goto out;
	}
	if (conf_apply(cf, sec, syncd_config_table, cfg, err) < 0)
		goto out;
	cfg->listen_line = conf_line(sec, "listen");
	cfg->tls_cert_line = conf_line(sec, "tls_cert");
	cfg->tls_key_line = conf_line(sec, "tls_key");
	cfg->trusted_keys_line = conf_line(sec, "trusted_keys");
	cfg->state_dir_line = conf_line(sec, "state_dir");
	cfg->maps_dir_line = conf_line(sec, "maps_dir");
	if (cfg->max_shrink < 0 || cfg->max_shrink > 100) {
		err_set(err, "%s:%u: max_shrink must be 0..100%%", path,
			conf_line(sec, "max_shrink"));
		goto out;
	}
	for (i = 0; i < sec->n; i++)
		if (strcmp(sec->entries[i].key, "recipient_delimiter") == 0)
			cfg->delimiter_set = 1;
	if (!lookup_delimiter_ok(cfg->recipient_delimiter)) {
		err_set(err,
			"%s:%u: recipient_delimiter '%s': at most %d "
			"printable characters, no space or @",
			path, conf_line(sec, "recipient_delimiter"),
			cfg->recipient_delimiter, LOOKUP_DELIM_MAX);
		goto out;
	}
	if (strcmp(cfg->sandbox, "landlock") != 0 &&
	    strcmp(cfg->sandbox, "none") != 0) {
		err_set(err, "%s:%u: sandbox must be landlock or none", path,
			conf_line(sec, "sandbox"));
		goto out;
	}
	if (cidr_parse(cfg->allow_text, &cfg->allow, &cfg->nallow, err) < 0) {
		err_prefix(err, "%s:%u", path, conf_line(sec, "allow"));
		goto out;
	}
	if (syncd_config_parse_listen(cfg, "listen", cfg->listen,
				      cfg->listen_line, &cfg->addr,
				      &cfg->addrlen, err) < 0 ||
	    (strcmp(cfg->status_listen, "none") != 0 &&
	     syncd_config_parse_listen(cfg, "status_listen", cfg->status_listen,
				       conf_line(sec, "status_listen"),
				       &cfg->status_addr, &cfg->status_addrlen,
				       err) < 0) ||
	    syncd_config_parse_canaries(cfg, conf_line(sec, "canaries"), err) <
		0 ||
	    syncd_config_parse_deny(cfg, conf_line(sec, "deny_domains"), err) <
		0 ||
	    syncd_config_check_transports(cfg, conf_line(sec, "transports"),
					  err) < 0 ||
	    syncd_config_check_dir(cfg, "state_dir", cfg->state_dir,
				   cfg->state_dir_line, err) < 0 ||
	    syncd_config_check_dir(cfg, "maps_dir", cfg->maps_dir,
				   cfg->maps_dir_line, err) < 0)
		goto out;
	if (access(cfg->trusted_keys, R_OK) < 0) {
		err_sys(err, "%s:%u: trusted_keys %s", path,
			cfg->trusted_keys_line, cfg->trusted_keys);
		goto out;
	}
	ret = cfg;
	cfg = NULL;
out:
	syncd_config_free(cfg);
	conf_free(cf);
	return ret;
}

int syncd_config_check_tls(const struct syncd_config *cfg, struct err *err)
{
	if (access(cfg->tls_cert, R_OK) < 0)
		return err_sys(err, "%s:%u: tls_cert %s", cfg->path,
			       cfg->tls_cert_line, cfg->tls_cert);
	if (access(cfg->tls_key, R_OK) < 0)
		return err_sys(err, "%s:%u: tls_key %s", cfg->path,
			       cfg->tls_key_line, cfg->tls_key);
	return 0;
}

void syncd_config_free(struct syncd_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	conf_free_target(syncd_config_table, cfg);
	for (i = 0; i < cfg->ncanaries; i++)
		free(cfg->canaries[i]);
	free(cfg->canaries);
	free(cfg->allow);
	for (i = 0; i < cfg->ndeny_domains; i++)
		free(cfg->deny_domains[i]);
	free(cfg->deny_domains);
	free(cfg->path);
	free(cfg);
}
