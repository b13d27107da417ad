/*
 * config - the agent's configuration: [agent], [source NAME], [backup NAME]
 *
 * Built with the table-driven formats/conf; every error is
 * "file:line: message" and leaves nothing allocated.  check-config adds the
 * checks that touch the system (key file, directories, source files).
 *
 * Security: there is no key that turns TLS verification off; a backup is
 * verified with its ca_file, its pinned_pubkey, or the system CA store.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../formats/conf.h"
#include "../formats/manifest.h"
#include "../formats/norm.h"
#include "../keys/key.h"
#include "config.h"
#include "source.h"

static const struct conf_key agent_config_keys[] = {
    {"origin", CONF_STRING, NULL, offsetof(struct agent_config, origin), 0, 0},
    {"key", CONF_STRING, "/etc/mxsync/agent.key",
     offsetof(struct agent_config, key), 0, 0},
    {"state_dir", CONF_STRING, "/var/lib/mxsync-agent",
     offsetof(struct agent_config, state_dir), 0, 0},
    {"control_socket", CONF_STRING, "/run/mxsync/agent.sock",
     offsetof(struct agent_config, control_socket), 0, 0},
    {"control_group", CONF_STRING, "mxsync",
     offsetof(struct agent_config, control_group), 0, 0},
    {"expire", CONF_DURATION, "7d", offsetof(struct agent_config, expire_ms),
     60000, 366ULL * 86400000},
    {"nexthop", CONF_STRING, NULL, offsetof(struct agent_config, nexthop), 0,
     0},
    {"recipient_delimiter", CONF_STRING, "",
     offsetof(struct agent_config, recipient_delimiter), 0, 0},
    {"debounce", CONF_DURATION, "200ms",
     offsetof(struct agent_config, debounce_ms), 0, 60000},
    {"max_shrink", CONF_PERCENT, "10%",
     offsetof(struct agent_config, max_shrink), 0, 0},
    {"canaries", CONF_STRING, "", offsetof(struct agent_config, canaries_text),
     0, 0},
    {"settle_timeout", CONF_DURATION, "60s",
     offsetof(struct agent_config, settle_timeout_ms), 1000, 3600000},
    {"verify_interval", CONF_DURATION, "1h",
     offsetof(struct agent_config, verify_interval_ms), 0, 366ULL * 86400000},
    {"verify_postfix", CONF_STRING, "",
     offsetof(struct agent_config, verify_postfix), 0, 0},
    {NULL, 0, NULL, 0, 0, 0},
};

static const struct conf_key agent_config_backup_keys[] = {
    {"url", CONF_STRING, NULL, offsetof(struct agent_backup, url), 0, 0},
    {"ca_file", CONF_STRING, "", offsetof(struct agent_backup, ca_file), 0, 0},
    {"pinned_pubkey", CONF_STRING, "",
     offsetof(struct agent_backup, pinned_pubkey), 0, 0},
    {"timeout", CONF_DURATION, "300s",
     offsetof(struct agent_backup, timeout_ms), 1000, 86400000},
    {"connect_timeout", CONF_DURATION, "10s",
     offsetof(struct agent_backup, connect_timeout_ms), 100, 600000},
    /* the backup's max_body (mxsyncd's default and bounds) */
    {"max_body", CONF_SIZE, "512M", offsetof(struct agent_backup, max_body), 1,
     (uint64_t)4 << 30},
    {NULL, 0, NULL, 0, 0, 0},
};

void agent_config_free(struct agent_config *cfg)
{
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < cfg->nsources; i++)
		source_free(cfg->sources[i]);
	free(cfg->sources);
	for (i = 0; i < cfg->nbackups; i++) {
		conf_free_target(agent_config_backup_keys, &cfg->backups[i]);
		free(cfg->backups[i].name);
	}
	free(cfg->backups);
	for (i = 0; i < cfg->ncanaries; i++)
		free(cfg->canaries[i]);
	free(cfg->canaries);
	conf_free_target(agent_config_keys, cfg);
	free(cfg->path);
	free(cfg);
}

static int agent_config_backup(struct agent_config *cfg,
			       const struct conf_file *cf,
			       const struct conf_section *sec, struct err *err)
{
	struct agent_backup *b, *nb;
	size_t i, len;

	for (i = 0; i < cfg->nbackups; i++)
		if (strcmp(cfg->backups[i].name, sec->name) == 0)
			return err_set(err, "%s:%u: [backup %s] defined twice",
				       cf->path, sec->line, sec->name);
	if ((nb = realloc(cfg->backups, (cfg->nbackups + 1) * sizeof(*nb))) ==
	    NULL)
		return err_set(err, "out of memory");
	cfg->backups = nb;
	b = &cfg->backups[cfg->nbackups];
	memset(b, 0, sizeof(*b));
	if ((b->name = strdup(sec->name)) == NULL)
		return err_set(err, "out of memory");
	cfg->nbackups++;
	if (conf_apply(cf, sec, agent_config_backup_keys, b, err) < 0)
		return -1;
	if (strncmp(b->url, "https://", 8) != 0 || b->url[8] == '\0')
		return err_set(err,
			       "%s:%u: [backup %s]: url must start with "
			       "https://",
			       cf->path, conf_line(sec, "url"), sec->name);
	if (strpbrk(b->url, " \t\r\n") != NULL)
		return err_set(err, "%s:%u: [backup %s]: url holds white space",
			       cf->path, conf_line(sec, "url"), sec->name);
	len = strlen(b->url);
	if (b->url[len - 1] != '/') {
		char *u = malloc(len + 2);

		if (u == NULL)
			return err_set(err, "out of memory");
		memcpy(u, b->url, len);
		u[len] = '/';
		u[len + 1] = '\0';
		free(b->url);
		b->url = u;
	}
	if (*b->pinned_pubkey != '\0' &&
	    (strncmp(b->pinned_pubkey, "sha256//", 8) != 0 ||
	     strlen(b->pinned_pubkey) < 8 + 44))
		return err_set(err,
			       "%s:%u: [backup %s]: pinned_pubkey must be "
			       "sha256//<base64 of the SHA-256 of the public "
			       "key>",
			       cf->path, conf_line(sec, "pinned_pubkey"),
			       sec->name);
	if (*b->ca_file != '\0' && b->ca_file[0] != '/')
		return err_set(err,
			       "%s:%u: [backup %s]: ca_file must be an "
			       "absolute path",
			       cf->path, conf_line(sec, "ca_file"), sec->name);
	return 0;
}

/* agent_config_canaries - fold each blank or comma separated canary address */
static int agent_config_canaries(struct agent_config *cfg, const char *file,
				 unsigned line, struct err *err)
{
	const char *p = cfg->canaries_text, *w;
	char out[NORM_BUF_SIZE];
	size_t olen, len;

	while ((w = conf_words_next(&p, &len)) != NULL) {
		char **v;

		if (norm_address(w, len, out, sizeof(out), &olen, err) < 0)
			return err_prefix(err, "%s:%u: canaries", file, line);
		v = realloc(cfg->canaries, (cfg->ncanaries + 1) * sizeof(*v));
		if (v == NULL)
			return err_set(err, "out of memory");
		cfg->canaries = v;
		if ((v[cfg->ncanaries] = strndup(out, olen)) == NULL)
			return err_set(err, "out of memory");
		cfg->ncanaries++;
	}
	return 0;
}

static int agent_config_source(struct agent_config *cfg,
			       const struct conf_file *cf,
			       const struct conf_section *sec, struct err *err)
{
	struct source *src, **ns;
	size_t i;

	if (*sec->name == '\0')
		return err_set(err,
			       "%s:%u: [source] needs a name: "
			       "[source NAME]",
			       cf->path, sec->line);
	for (i = 0; i < cfg->nsources; i++)
		if (strcmp(cfg->sources[i]->name, sec->name) == 0)
			return err_set(err, "%s:%u: [source %s] defined twice",
				       cf->path, sec->line, sec->name);
	if ((src = source_new(cf, sec, (unsigned)cfg->nsources, err)) == NULL)
		return -1;
	if ((ns = realloc(cfg->sources, (cfg->nsources + 1) * sizeof(*ns))) ==
	    NULL) {
		source_free(src);
		return err_set(err, "out of memory");
	}
	cfg->sources = ns;
	cfg->sources[cfg->nsources++] = src;
	return 0;
}

struct agent_config *agent_config_load(const char *path, struct err *err)
{
	struct conf_file *cf = NULL;
	struct agent_config *cfg = NULL;
	const struct conf_section *agent = NULL;
	size_t i;
	int ok = 0;

	if ((cf = conf_read(path, err)) == NULL)
		return NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL ||
	    (cfg->path = strdup(path)) == NULL) {
		err_set(err, "out of memory");
		goto out;
	}
	for (i = 0; i < cf->n; i++) {
		const struct conf_section *sec = &cf->sections[i];

		if (strcmp(sec->type, "agent") == 0) {
			if (agent != NULL || *sec->name != '\0') {
				err_set(err,
					"%s:%u: only one [agent] section, "
					"without a name",
					cf->path, sec->line);
				goto out;
			}
			agent = sec;
		} else if (strcmp(sec->type, "source") == 0) {
			if (agent_config_source(cfg, cf, sec, err) < 0)
				goto out;
		} else if (strcmp(sec->type, "backup") == 0) {
			if (*sec->name == '\0') {
				err_set(err,
					"%s:%u: [backup] needs a name: "
					"[backup NAME]",
					cf->path, sec->line);
				goto out;
			}
			if (agent_config_backup(cfg, cf, sec, err) < 0)
				goto out;
		} else {
			err_set(err,
				"%s:%u: unknown section [%s] (agent, "
				"source or backup)",
				cf->path, sec->line, sec->type);
			goto out;
		}
	}
	if (agent == NULL) {
		err_set(err, "%s:1: missing [agent] section", cf->path);
		goto out;
	}
	if (conf_apply(cf, agent, agent_config_keys, cfg, err) < 0)
		goto out;
	if (!manifest_origin_valid(cfg->origin, strlen(cfg->origin))) {
		err_set(err,
			"%s:%u: origin '%s': use letters, digits, '.' and "
			"'-' (1..253)",
			cf->path, conf_line(agent, "origin"), cfg->origin);
		goto out;
	}
	if (norm_nexthop(cfg->nexthop, strlen(cfg->nexthop), err) < 0) {
		err_prefix(err, "%s:%u: nexthop", cf->path,
			   conf_line(agent, "nexthop"));
		goto out;
	}
	if (strlen(cfg->recipient_delimiter) >= 16) {
		err_set(err, "%s:%u: recipient_delimiter is too long", cf->path,
			conf_line(agent, "recipient_delimiter"));
		goto out;
	}
	if (cfg->max_shrink < 0 || cfg->max_shrink > 100) {
		err_set(err, "%s:%u: max_shrink must be 0..100%%", cf->path,
			conf_line(agent, "max_shrink"));
		goto out;
	}
	if (agent_config_canaries(cfg, cf->path, conf_line(agent, "canaries"),
				  err) < 0)
		goto out;
	if (cfg->state_dir[0] != '/' || cfg->control_socket[0] != '/' ||
	    cfg->key[0] != '/') {
		err_set(err,
			"%s:%u: key, state_dir and control_socket must be "
			"absolute paths",
			cf->path, agent->line);
		goto out;
	}
	if (strlen(cfg->control_socket) >= 100) {
		err_set(err, "%s:%u: control_socket path is too long", cf->path,
			conf_line(agent, "control_socket"));
		goto out;
	}
	if (cfg->nsources == 0) {
		err_set(err, "%s:%u: no [source NAME] section", cf->path,
			agent->line);
		goto out;
	}
	ok = 1;
out:
	conf_free(cf);
	if (!ok) {
		agent_config_free(cfg);
		return NULL;
	}
	return cfg;
}

int agent_config_check(const struct agent_config *cfg, struct err *err)
{
	struct key_secret *sk;
	struct stat st;
	size_t i;

	if ((sk = key_load_secret(cfg->key, err)) == NULL)
		return -1;
	key_secret_free(sk);
	if (stat(cfg->state_dir, &st) < 0)
		return err_sys(err, "state_dir: stat(%s)", cfg->state_dir);
	if (!S_ISDIR(st.st_mode))
		return err_set(err, "state_dir: %s is not a directory",
			       cfg->state_dir);
	for (i = 0; i < cfg->nsources; i++) {
		struct source *src = cfg->sources[i];

		if (src->ops->check != NULL && src->ops->check(src, err) < 0)
			return -1;
	}
	for (i = 0; i < cfg->nbackups; i++) {
		const struct agent_backup *b = &cfg->backups[i];

		if (*b->ca_file != '\0' && access(b->ca_file, R_OK) < 0)
			return err_sys(err, "backup %s: ca_file %s", b->name,
				       b->ca_file);
	}
	return 0;
}

char *agent_config_backup_url(const struct agent_backup *b, const char *what)
{
	char *u;

	if (asprintf(&u, "%s%s", b->url, what) < 0)
		return NULL;
	return u;
}
