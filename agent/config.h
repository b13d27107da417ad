/*
 * config - the agent's configuration file (agent.conf)
 *
 *	[agent]		origin, key, state_dir, control_socket, control_group,
 *			expire, nexthop, recipient_delimiter, debounce,
 *			max_shrink, canaries (the agent's guard, guard.h),
 *			settle_timeout (how long an export waits for a file
 *			being written), verify_interval, verify_postfix
 *	[source NAME]	type = file | mysql | pgsql | ldap | maildir, plus
 *			the keys of that type (source_file.c, source_mysql.c,
 *			source_pgsql.c, source_ldap.c, source_maildir.c)
 *	[backup NAME]	url, ca_file, pinned_pubkey, timeout,
 *			connect_timeout, max_body (the backup's limit)
 *
 * Every error is "file:line: message"; the caller exits 2.  A reload builds
 * a new config and swaps it in only when the whole file is valid.
 */
#ifndef MXSYNC_AGENT_CONFIG_H
#define MXSYNC_AGENT_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/conf.h"
#include "../formats/err.h"

#define AGENT_CONFIG_DEFAULT "/etc/mxsync/agent.conf"

struct source;

struct agent_backup {
	char *name;
	char *url;	     /* always ends with "/" */
	char *ca_file;	     /* "" when unset */
	char *pinned_pubkey; /* "" when unset */
	uint64_t timeout_ms; /* whole request, connect included */
	uint64_t connect_timeout_ms;
	uint64_t max_body; /* the largest body the backup accepts */
};

struct agent_config {
	char *path;
	char *origin;
	char *key;
	char *state_dir;
	char *control_socket;
	char *control_group;
	uint64_t expire_ms;
	char *nexthop;
	char *recipient_delimiter;
	uint64_t debounce_ms;
	double max_shrink; /* percent */
	char *canaries_text;
	char **canaries; /* folded addresses */
	size_t ncanaries;
	uint64_t settle_timeout_ms;
	uint64_t verify_interval_ms; /* 0: the daemon does not verify */
	char *verify_postfix;	     /* Postfix config dir, "" default */

	struct source **sources;
	size_t nsources;
	struct agent_backup *backups;
	size_t nbackups;
};

/* agent_config_load - read and validate path; NULL with "file:line: ..." */
struct agent_config *agent_config_load(const char *path, struct err *err);
void agent_config_free(struct agent_config *cfg);

/*
 * agent_config_check - what check-config adds to agent_config_load: the
 * key loads, the state directory and every source's files exist, CA files
 * are readable.
 */
int agent_config_check(const struct agent_config *cfg, struct err *err);

/*
 * agent_config_backup_url - append "v1/push" etc. to a backup's URL; the
 * caller frees
 */
char *agent_config_backup_url(const struct agent_backup *b, const char *what);

#endif
