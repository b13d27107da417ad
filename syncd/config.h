/*
 * config - the [syncd] section of syncd.conf
 *
 * syncd_config_load() reads the file with formats/conf, applies the key
 * table (names, defaults, bounds), then derives what the daemon uses: the
 * listen and status_listen addresses, the allow prefixes (syncd/cidr), the
 * folded canary addresses and deny_domains ("$myhostname" expanded), and
 * checks transports, sandbox, state_dir and maps_dir (which must exist)
 * and that trusted_keys is readable.  Every error is "file:line: message";
 * the caller reports it and exits 2.  A reload builds a new struct
 * syncd_config and swaps it in only when it loaded cleanly.
 */
#ifndef MXSYNC_SYNCD_CONFIG_H
#define MXSYNC_SYNCD_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../formats/err.h"
#include "cidr.h"

#define SYNCD_CONFIG_DEFAULT_PATH "/etc/mxsync/syncd.conf"

struct syncd_config {
	/* set by the key table */
	char *listen;
	char *tls_cert;
	char *tls_key;
	char *trusted_keys;
	char *state_dir;
	char *maps_dir;
	uint64_t max_body;
	double max_shrink;
	char *canaries_text;
	uint64_t max_connections;
	uint64_t timeout_ms;
	uint64_t clock_skew_ms;
	uint64_t install_wait_ms;
	char *user;
	uint64_t recipient_shards; /* relay_recipients maps (cdbw.h) */
	uint64_t max_map_size;	   /* octets of one map, at most 4G - 1 */
	uint64_t max_per_address;
	uint64_t header_timeout_ms;
	char *allow_text;
	char *status_listen; /* "none": no status listener */
	char *sandbox;	     /* "landlock" or "none" */
	char *recipient_delimiter;
	char *transports; /* allowed route transports */
	char *deny_domains_text;
	uint64_t max_expire_ms;	      /* expiry horizon of a manifest */
	uint64_t max_serial_ahead_ms; /* serial (unix seconds) vs. clock */
	uint64_t shrink_window_ms;    /* max_shrink is cumulative over it */
	/* derived */
	int delimiter_set; /* recipient_delimiter is in the file */
	char *path;
	char **canaries; /* folded addresses */
	size_t ncanaries;
	char **deny_domains; /* folded; $myhostname expanded */
	size_t ndeny_domains;
	struct sockaddr_storage addr; /* listen address */
	socklen_t addrlen;
	struct sockaddr_storage status_addr; /* unless status_listen none */
	socklen_t status_addrlen;
	struct cidr *allow; /* push port peers; none: anyone */
	size_t nallow;
	unsigned listen_line, tls_cert_line, tls_key_line, trusted_keys_line,
	    state_dir_line, maps_dir_line;
};

/* syncd_config_load - read and validate path (directories must exist) */
struct syncd_config *syncd_config_load(const char *path, struct err *err);
/* syncd_config_check_tls - the certificate and key files are readable */
int syncd_config_check_tls(const struct syncd_config *cfg, struct err *err);
void syncd_config_free(struct syncd_config *cfg);

#endif
