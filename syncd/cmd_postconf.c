/*
 * cmd_postconf - "mxsyncd postconf": the main.cf lines for these maps
 *
 * Prints relay_domains, relay_recipient_maps (one cdb: map per shard),
 * transport_maps, the recipient_delimiter (syncd.conf's, else the one
 * most origins sent), smtputf8_enable when a map holds UTF-8, and
 * parent_domain_matches_subdomains, with comments where the backup has to
 * choose.  Reads the store only.  Exit codes: 0, 2 for a bad config, 75
 * when the store cannot be read.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../formats/cdbw.h"
#include "../formats/exitcode.h"
#include "../formats/lookup.h"
#include "apply.h"
#include "cmd.h"

/*
 * cmd_postconf_delimiter - the recipient_delimiter of the backup's Postfix, as
 * "postconf" prints it: syncd.conf's when set, else the one most origins
 * sent (on a tie, the first by name); NULL when it is unset and no origin
 * has pushed yet.  *best_r gets that origin, *count_r how many agree.
 */
const char *cmd_postconf_delimiter(const struct syncd *sd,
				   const struct store_origin **best_r,
				   size_t *count_r)
{
	const struct store_origin *o, *best = NULL;
	size_t i, j, count, best_count = 0;

	for (i = 0; i < sd->store->n; i++) {
		o = sd->store->o[i];
		for (count = 0, j = 0; j < sd->store->n; j++)
			count += lookup_delimiter_same(
			    o->m.recipient_delimiter,
			    sd->store->o[j]->m.recipient_delimiter);
		if (count > best_count) {
			best = o;
			best_count = count;
		}
	}
	*best_r = best;
	*count_r = best_count;
	if (sd->cfg->delimiter_set)
		return sd->cfg->recipient_delimiter;
	return best != NULL ? best->m.recipient_delimiter : NULL;
}

/*
 * cmd_postconf_shards - the relay_recipient_maps line: one cdb: map per
 * shard (cdbw.h), and, while the single map of before shards is still kept
 * (maps_dir/relay_recipients.cdb exists), how to finish the migration
 */
static void cmd_postconf_shards(const struct syncd_config *cfg)
{
	unsigned s, n = (unsigned)cfg->recipient_shards;
	char name[64], path[4096];

	printf("relay_recipient_maps =");
	for (s = 0; s < n; s++) {
		if (cdbw_shard_name(name, sizeof(name), s, n) < 0)
			break;
		printf("%s cdb:%s/%s", s ? "," : "", cfg->maps_dir, name);
	}
	printf("\n");
	snprintf(path, sizeof(path), "%s/%s.cdb", cfg->maps_dir,
		 CDBW_RELAY_RECIPIENTS);
	if (n > 1 && access(path, F_OK) == 0)
		printf("# %s is still kept up to date for a Postfix that reads "
		       "it: after \"postfix reload\" with the line above, "
		       "remove it\n",
		       path);
}

/*
 * cmd_postconf_routes - a comment for a relay: when the domains go to
 * more than one next hop, each has its own route in the transport map
 */
static void cmd_postconf_routes(const struct syncd *sd)
{
	const char *first = NULL, *nh, *dom;
	size_t i, k, n = 0, flen = 0, nlen, dlen, hops = 0;

	for (i = 0; i < sd->store->n; i++) {
		const struct state *st = sd->store->o[i]->st;

		for (k = 0; st != NULL && k < state_domain_count(st); k++) {
			state_domain(st, k, &dom, &dlen, &nh, &nlen);
			n++;
			if (first == NULL) {
				first = nh;
				flen = nlen;
				hops = 1;
			} else if (hops == 1 && (nlen != flen ||
						 memcmp(nh, first, nlen) != 0))
				hops = 2;
		}
	}
	if (hops > 1)
		printf("# the %zu domains have their own next hops (a relay's "
		       "routes, from the primary's\n# transport file): "
		       "transport_maps routes each domain to its server\n",
		       n);
}

/* cmd_postconf_non_ascii - some origin's state holds a non-ASCII key */
static int cmd_postconf_non_ascii(const struct syncd *sd)
{
	const struct state *st;
	const char *a;
	size_t i, j, k, n;

	for (i = 0; i < sd->store->n; i++) {
		st = sd->store->o[i]->st;
		for (j = 0; j < state_domain_count(st); j++) {
			state_domain(st, j, &a, &n, NULL, NULL);
			for (k = 0; k < n; k++)
				if ((unsigned char)a[k] >= 0x80)
					return 1;
		}
		for (j = 0; j < state_recipient_count(st); j++) {
			state_recipient(st, j, &a, &n);
			for (k = 0; k < n; k++)
				if ((unsigned char)a[k] >= 0x80)
					return 1;
		}
	}
	return 0;
}

/* cmd_postconf - "postconf": the main.cf lines for these maps */
int cmd_postconf(const struct cmd_ctx *ctx, int argc, char **argv)
{
	struct syncd sd;
	const struct store_origin *best = NULL;
	size_t best_count = 0, differ = 0;
	const char *maps, *delim;
	int rc = EXITCODE_TEMP;

	(void)argc;
	(void)argv;
	if (cmd_setup(&sd, ctx->conf, 0) < 0)
		return EXITCODE_USAGE;
	if (cmd_load_store(&sd) < 0)
		goto out;
	maps = sd.cfg->maps_dir;
	delim = cmd_postconf_delimiter(&sd, &best, &best_count);
	if (best != NULL)
		differ = sd.store->n - best_count;
	printf("# main.cf settings for the maps mxsyncd keeps in %s\n", maps);
	printf("relay_domains = cdb:%s/relay_domains\n", maps);
	cmd_postconf_shards(sd.cfg);
	printf("transport_maps = cdb:%s/transport\n", maps);
	cmd_postconf_routes(&sd);
	if (sd.cfg->delimiter_set)
		printf("# recipient_delimiter as syncd.conf sets it (pushes "
		       "with another one are refused)\n");
	else if (best == NULL)
		printf("# no origin has pushed yet: set recipient_delimiter "
		       "as on the primary\n");
	else
		printf("# recipient_delimiter as origin %s sent it (%zu of %zu "
		       "origins%s)\n",
		       best->m.origin, best_count, sd.store->n,
		       differ ? "; the others differ, Postfix has only one"
			      : "");
	if (delim != NULL)
		printf("recipient_delimiter = %s\n", delim);
	if (cmd_postconf_non_ascii(&sd))
		printf("# the maps hold UTF-8 addresses, folded as Postfix "
		       "folds them with SMTPUTF8\nsmtputf8_enable = yes\n");
	printf("# the Postfix default without relay_domains: relay_domains "
	       "then matches exactly\n# the listed domains, not their "
	       "subdomains, as virtual_mailbox_domains does\n# on the "
	       "primary\n");
	printf("parent_domain_matches_subdomains = debug_peer_list,"
	       "fast_flush_domains,mynetworks,permit_mx_backup_networks,"
	       "qmqpd_authorized_clients,smtpd_access_maps\n");
	rc = EXITCODE_OK;
out:
	apply_fini(&sd);
	return rc;
}
