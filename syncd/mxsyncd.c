/*
 * mxsyncd - the backup-MX side of mxsync
 *
 *	mxsyncd [-c FILE] [-s] [-v] [-u USER] run
 *	mxsyncd [-c FILE] [-u USER] apply SNAPSHOT-FILE
 *	mxsyncd [-c FILE] status [--json]
 *	mxsyncd [-c FILE] check ADDRESS
 *	mxsyncd [-c FILE] [-u USER] forget ORIGIN
 *	mxsyncd [-c FILE] postconf
 *	mxsyncd [-c FILE] check-config		(also: mxsyncd -n)
 *
 * Exit codes: 0 ok (accept, for check), 1 refused or invalid data (reject,
 * for check), 2 usage or configuration error, 75 temporary failure (busy,
 * cannot bind, another mxsyncd holds the state directory).
 *
 * Security: run binds, reads its certificate and key, then drops to USER
 * (setgroups, setresgid, setresuid), checks that root cannot be regained,
 * and only then touches state_dir.  It forks the network process (syncd/
 * listener, sandboxed: it holds the key and speaks TLS and HTTP but writes
 * nothing) and stays the installer (syncd/installer), the one process that
 * writes state_dir and maps_dir.  As root, run and apply refuse a state_dir
 * of another user unless -u names that user.  The state directory is
 * locked (flock) by run and apply, so one writer at a time installs maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <systemd/sd-daemon.h>
#include <time.h>
#include <unistd.h>

#include "../formats/buf.h"
#include "../formats/cdbw.h"
#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "../formats/lookup.h"
#include "../formats/norm.h"
#include "../formats/version.h"
#include "../keys/key.h"
#include "../keys/trust.h"
#include "apply.h"
#include "channel.h"
#include "config.h"
#include "installer.h"
#include "listener.h"
#include "status.h"
#include "store.h"

static const char *mxsyncd_conf = SYNCD_CONFIG_DEFAULT_PATH;

static void mxsyncd_usage(void)
{
	fprintf(stderr,
		"usage: mxsyncd [-c FILE] [-s] [-v] [-u USER] run\n"
		"       mxsyncd [-c FILE] [-u USER] apply SNAPSHOT-FILE\n"
		"       mxsyncd [-c FILE] status [--json]\n"
		"       mxsyncd [-c FILE] check ADDRESS\n"
		"       mxsyncd [-c FILE] [-u USER] forget ORIGIN\n"
		"       mxsyncd [-c FILE] postconf\n"
		"       mxsyncd [-c FILE] check-config   (or -n)\n"
		"       mxsyncd --version\n");
}

/* mxsyncd_setup - config and trusted keys into sd; exits 2 on error */
static int mxsyncd_setup(struct syncd *sd, int need_tls)
{
	struct syncd_config *cfg;
	struct trust *trust;
	struct err err;

	cfg = syncd_config_load(mxsyncd_conf, &err);
	if (cfg == NULL) {
		log_error("%s", err.msg);
		return -1;
	}
	if (need_tls && syncd_config_check_tls(cfg, &err) < 0) {
		log_error("%s", err.msg);
		syncd_config_free(cfg);
		return -1;
	}
	trust = trust_load(cfg->trusted_keys, &err);
	if (trust == NULL) {
		log_error("%s", err.msg);
		syncd_config_free(cfg);
		return -1;
	}
	if (apply_init(sd, cfg, trust) < 0) {
		log_error("pthread_mutex_init failed");
		syncd_config_free(cfg);
		trust_free(trust);
		return -1;
	}
	return 0;
}

/* mxsyncd_lock - lock state_dir/.lock for the one writer; -1 if held */
static int mxsyncd_lock(const struct syncd_config *cfg, int *fd_r)
{
	char path[4096];
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/.lock", cfg->state_dir);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -1;
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		log_error("open(%s): %s", path, strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		log_error("%s is locked by a running mxsyncd", cfg->state_dir);
		close(fd);
		return -1;
	}
	*fd_r = fd;
	return 0;
}

/* mxsyncd_check_maps - make the maps match the loaded store */
static int mxsyncd_check_maps(struct syncd *sd)
{
	struct err err, why;
	int rebuilt;

	if (apply_check_maps(sd, &rebuilt, &why, &err) < 0) {
		log_error("cannot rebuild the maps from the stored states: %s",
			  err.msg);
		return -1;
	}
	if (rebuilt)
		log_warning("maps rebuilt from the stored states (%s)",
			    why.msg);
	else
		log_debug("maps match the stored states");
	return 0;
}

/* mxsyncd_start_store - load the store and make the maps match it */
static int mxsyncd_start_store(struct syncd *sd)
{
	struct err err;

	if (apply_load(sd, &err) < 0) {
		log_error("cannot load the state store: %s", err.msg);
		return -1;
	}
	return mxsyncd_check_maps(sd);
}

/* mxsyncd_load_store - read-only commands: the store without the maps */
static int mxsyncd_load_store(struct syncd *sd)
{
	struct err err;

	if (apply_load_readonly(sd, &err) < 0) {
		log_error("cannot load the state store: %s", err.msg);
		return -1;
	}
	return 0;
}

/* mxsyncd_drop - drop root for user; verify it cannot be regained */
static int mxsyncd_drop(const char *user)
{
	struct passwd *pw;

	if (user == NULL || user[0] == '\0')
		return 0;
	pw = getpwnam(user);
	if (pw == NULL) {
		log_error("unknown user %s", user);
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) < 0 ||
	    setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
	    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0) {
		log_error("cannot drop privileges to %s: %s", user,
			  strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && (setuid(0) == 0 || seteuid(0) == 0)) {
		log_error("root could be regained after dropping to %s", user);
		return -1;
	}
	log_info("running as %s", user);
	return 0;
}

/* mxsyncd_revet - after a reload, stop serving what the keys no longer vouch
 * for */
static void mxsyncd_revet(struct syncd *sd)
{
	struct err err;
	size_t moved;

	if (apply_revet(sd, &moved, &err) < 0)
		log_error("checking the stored states after the reload: %s",
			  err.msg);
	else if (moved > 0)
		log_warning("%zu stored states no longer served; maps rebuilt",
			    moved);
}

/* mxsyncd_reload - SIGHUP: new config and keys, swapped in only if valid */
static void mxsyncd_reload(struct syncd *sd)
{
	struct syncd_config *cfg;
	struct trust *trust;
	const struct syncd_config *old = sd->cfg;
	struct err err;

	cfg = syncd_config_load(mxsyncd_conf, &err);
	if (cfg == NULL) {
		log_error("reload refused: %s", err.msg);
		return;
	}
	if (strcmp(cfg->listen, old->listen) != 0 ||
	    strcmp(cfg->tls_cert, old->tls_cert) != 0 ||
	    strcmp(cfg->tls_key, old->tls_key) != 0 ||
	    strcmp(cfg->state_dir, old->state_dir) != 0 ||
	    strcmp(cfg->maps_dir, old->maps_dir) != 0 ||
	    strcmp(cfg->user, old->user) != 0 ||
	    strcmp(cfg->status_listen, old->status_listen) != 0 ||
	    strcmp(cfg->allow_text, old->allow_text) != 0 ||
	    strcmp(cfg->sandbox, old->sandbox) != 0) {
		log_error("reload refused: listen, status_listen, allow, "
			  "sandbox, tls_cert, tls_key, state_dir, maps_dir and "
			  "user change only with a restart");
		syncd_config_free(cfg);
		return;
	}
	trust = trust_load(cfg->trusted_keys, &err);
	if (trust == NULL) {
		log_error("reload refused: %s", err.msg);
		syncd_config_free(cfg);
		return;
	}
	apply_swap_config(sd, cfg, trust);
	log_info("reloaded %s: %zu trusted keys", mxsyncd_conf, trust->n);
	mxsyncd_revet(sd);
}

/*
 * mxsyncd_owner - as root, the user that may write state_dir: *user_r is
 * user (which must own it) or NULL when it is root's own; -1 when root
 * would leave root-owned files in another user's directory
 */
static int mxsyncd_owner(const struct syncd_config *cfg, const char *cmd,
			 const char *user, const char **user_r)
{
	struct passwd *pw;
	struct stat st;

	*user_r = user != NULL && user[0] != '\0' ? user : NULL;
	if (geteuid() != 0) {
		if (*user_r != NULL && ((pw = getpwnam(*user_r)) == NULL ||
					pw->pw_uid != geteuid())) {
			log_error("%s: -u %s needs root", cmd, *user_r);
			return -1;
		}
		*user_r = NULL;
		return 0;
	}
	if (stat(cfg->state_dir, &st) < 0) {
		log_error("stat(%s): %s", cfg->state_dir, strerror(errno));
		return -1;
	}
	if (*user_r == NULL) {
		if (st.st_uid == 0)
			return 0;
		pw = getpwuid(st.st_uid);
		log_error("%s as root: state_dir %s belongs to %s; run as that "
			  "user or with -u %s",
			  cmd, cfg->state_dir, pw != NULL ? pw->pw_name : "?",
			  pw != NULL ? pw->pw_name : "USER");
		return -1;
	}
	pw = getpwnam(*user_r);
	if (pw == NULL) {
		log_error("unknown user %s", *user_r);
		return -1;
	}
	if (pw->pw_uid != st.st_uid) {
		log_error(
		    "%s: -u %s: state_dir %s belongs to uid %u, not to %s", cmd,
		    *user_r, cfg->state_dir, (unsigned)st.st_uid, *user_r);
		return -1;
	}
	return 0;
}

/* mxsyncd_network - fork the network process; its pid, or -1 */
static pid_t mxsyncd_network(struct listener *l, int chan, int other,
			     int lock_fd)
{
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		log_error("fork: %s", strerror(errno));
		return -1;
	}
	if (pid == 0) {
		close(other);
		close(lock_fd);
		_exit(listener_serve(l, chan));
	}
	return pid;
}

static int mxsyncd_run(const char *user_opt)
{
	struct syncd sd;
	struct listener *l = NULL;
	struct installer *in = NULL;
	struct err err;
	struct pollfd pfd[2];
	struct signalfd_siginfo si;
	sigset_t set;
	uint64_t wd_usec = 0;
	const char *user;
	pid_t net = -1;
	int chan[2] = {-1, -1}, sig_fd = -1, lock_fd = -1, rc = EXITCODE_USAGE;
	int tick, n, st;

	/* Signals go to this thread only, before any other thread exists. */
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (mxsyncd_setup(&sd, 1) < 0)
		return EXITCODE_USAGE;
	if (mxsyncd_owner(sd.cfg, "run",
			  user_opt != NULL ? user_opt : sd.cfg->user,
			  &user) < 0)
		goto out;
	/* Bind and read the key first, then drop, then touch state_dir. */
	rc = EXITCODE_TEMP;
	l = listener_open(sd.cfg, &err);
	if (l == NULL) {
		log_error("%s", err.msg);
		goto out;
	}
	if (mxsyncd_drop(user) < 0) {
		rc = EXITCODE_USAGE;
		goto out;
	}
	if (mxsyncd_lock(sd.cfg, &lock_fd) < 0)
		goto out;
	if (channel_pair(chan, &err) < 0) {
		log_error("%s", err.msg);
		goto out;
	}
	net = mxsyncd_network(l, chan[1], chan[0], lock_fd);
	if (net < 0)
		goto out;
	/* The installer keeps neither the key nor the sockets. */
	close(chan[1]);
	chan[1] = -1;
	listener_close(l);
	l = NULL;
	if (mxsyncd_start_store(&sd) < 0)
		goto out;
	sig_fd = signalfd(-1, &set, SFD_CLOEXEC);
	in = installer_new(&sd, chan[0]);
	if (sig_fd < 0 || in == NULL) {
		log_error("signalfd or installer: %s", strerror(errno));
		goto out;
	}
	if (installer_go(in) < 0)
		goto out;
	/* the installer may install already: the store under facts_lock */
	pthread_mutex_lock(&sd.facts_lock);
	log_info("listening on %s (status on %s); %zu origins, %zu trusted "
		 "keys",
		 sd.cfg->listen, sd.cfg->status_listen, sd.store->n,
		 sd.trust->n);
	pthread_mutex_unlock(&sd.facts_lock);
	sd_notify(0, "READY=1");
	if (sd_watchdog_enabled(0, &wd_usec) <= 0)
		wd_usec = 0;
	tick = wd_usec > 0 ? (int)(wd_usec / 2000) : 60000;
	for (;;) {
		pfd[0].fd = chan[0];
		pfd[0].events = POLLIN;
		pfd[1].fd = sig_fd;
		pfd[1].events = POLLIN;
		n = poll(pfd, 2, tick);
		if (wd_usec > 0)
			sd_notify(0, "WATCHDOG=1");
		if (n < 0 && errno != EINTR) {
			log_error("poll: %s", strerror(errno));
			goto out;
		}
		if (n > 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR))) {
			st = installer_read(in);
			if (st <= 0) {
				log_error("the network process ended");
				goto out;
			}
		}
		if (n > 0 && (pfd[1].revents & POLLIN) &&
		    read(sig_fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
			if (si.ssi_signo == SIGHUP) {
				sd_notify(0, "RELOADING=1");
				mxsyncd_reload(&sd);
				sd_notify(0, "READY=1");
			} else {
				log_info("stopping on signal %u", si.ssi_signo);
				sd_notify(0, "STOPPING=1");
				rc = EXITCODE_OK;
				goto out;
			}
		}
	}
out:
	if (net > 0) {
		kill(net, SIGTERM);
		while (waitpid(net, &st, 0) < 0 && errno == EINTR)
			;
	}
	/* Installs in flight finish (their answers may find no one). */
	installer_free(in);
	if (sig_fd >= 0)
		close(sig_fd);
	if (chan[0] >= 0)
		close(chan[0]);
	if (chan[1] >= 0)
		close(chan[1]);
	listener_close(l);
	if (lock_fd >= 0)
		close(lock_fd);
	apply_fini(&sd);
	return rc;
}

static int mxsyncd_apply(const char *path, const char *user_opt)
{
	struct syncd sd;
	struct push p;
	struct apply_result res;
	struct verdict v;
	struct err err;
	char hex[2 * STATE_HASH_LEN + 1];
	const char *user;
	int lock_fd = -1, rc = EXITCODE_USAGE;

	if (mxsyncd_setup(&sd, 0) < 0)
		return EXITCODE_USAGE;
	/* As root, only as the owner of state_dir: nothing root-owned. */
	if (mxsyncd_owner(sd.cfg, "apply", user_opt, &user) < 0 ||
	    mxsyncd_drop(user) < 0)
		goto out;
	rc = EXITCODE_TEMP;
	if (mxsyncd_lock(sd.cfg, &lock_fd) < 0)
		goto out;
	if (apply_load(&sd, &err) < 0) {
		log_error("cannot load the state store: %s", err.msg);
		goto out;
	}
	/*
	 * An install replaces all three maps, so the O(all recipients) check
	 * of the maps against the store is needed only when none happened.
	 */
	if (apply_file(&sd, path, &p, &res, &v) < 0) {
		log_error("%s: refused (%d %s): %s", path, v.status, v.reason,
			  v.msg);
		rc = v.status == 503 ? EXITCODE_TEMP : EXITCODE_REFUSED;
		verify_push_clear(&p);
		if (mxsyncd_check_maps(&sd) < 0)
			rc = EXITCODE_TEMP;
		goto out;
	}
	manifest_hex(res.state_hash, STATE_HASH_LEN, hex);
	printf("installed origin %s serial %" PRIu64 ": %zu domains, %zu "
	       "recipients, state %s (%" PRIu64 " ms)\n",
	       p.m.origin, res.serial, res.domains, res.recipients, hex,
	       res.install_ms);
	log_debug("install: checks %" PRIu64 " ms, maps %" PRIu64 " ms, state "
		  "%" PRIu64 " ms",
		  res.verify_ms, res.maps_ms, res.store_ms);
	verify_push_clear(&p);
	rc = EXITCODE_OK;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	apply_fini(&sd);
	return rc;
}

/* mxsyncd_forget - remove an origin on purpose; the maps follow */
static int mxsyncd_forget(const char *origin, const char *user_opt)
{
	struct syncd sd;
	struct err err;
	const char *user;
	size_t files;
	int lock_fd = -1, rc = EXITCODE_USAGE;

	if (mxsyncd_setup(&sd, 0) < 0)
		return EXITCODE_USAGE;
	/* It writes as apply does: as root, only as the owner. */
	if (mxsyncd_owner(sd.cfg, "forget", user_opt, &user) < 0 ||
	    mxsyncd_drop(user) < 0)
		goto out;
	rc = EXITCODE_TEMP;
	if (mxsyncd_lock(sd.cfg, &lock_fd) < 0)
		goto out;
	if (apply_load(&sd, &err) < 0) {
		log_error("cannot load the state store: %s", err.msg);
		goto out;
	}
	if (apply_forget(&sd, origin, &files, &err) < 0) {
		log_error("forget %s: %s", origin, err.msg);
		goto out;
	}
	if (files == 0) {
		log_error("forget: no stored state of origin %s", origin);
		rc = EXITCODE_REFUSED;
		goto out;
	}
	printf("forgot origin %s (%zu files); maps rebuilt without it\n",
	       origin, files);
	rc = EXITCODE_OK;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	apply_fini(&sd);
	return rc;
}

static int mxsyncd_status(int json)
{
	struct syncd sd;
	struct buf b = BUF_INIT;
	char *text;
	int rc = EXITCODE_TEMP;

	if (mxsyncd_setup(&sd, 0) < 0)
		return EXITCODE_USAGE;
	if (mxsyncd_load_store(&sd) < 0)
		goto out;
	if (json) {
		text = status_json(&sd, time(NULL));
		if (text == NULL)
			goto out;
		printf("%s\n", text);
		free(text);
	} else {
		if (status_table(&sd, time(NULL), &b) < 0)
			goto out;
		fputs(b.data, stdout);
	}
	rc = EXITCODE_OK;
out:
	buf_free(&b);
	apply_fini(&sd);
	return rc;
}

/*
 * mxsyncd_delimiter - the recipient_delimiter of the backup's Postfix, as
 * "postconf" prints it: syncd.conf's when set, else the one most origins
 * sent (on a tie, the first by name); NULL when it is unset and no origin
 * has pushed yet.  *best_r gets that origin, *count_r how many agree.
 */
static const char *mxsyncd_delimiter(const struct syncd *sd,
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

static int mxsyncd_check(const char *address)
{
	struct syncd sd;
	const struct store_origin *o, *best;
	char addr[NORM_BUF_SIZE], match[NORM_BUF_SIZE];
	const char *at, *delim;
	size_t alen, count;
	struct err err;
	int rc = EXITCODE_TEMP, ok;

	if (mxsyncd_setup(&sd, 0) < 0)
		return EXITCODE_USAGE;
	if (norm_address(address, strlen(address), addr, sizeof(addr), &alen,
			 &err) < 0) {
		log_error("bad address %s: %s", address, err.msg);
		rc = EXITCODE_USAGE;
		goto out;
	}
	if (mxsyncd_load_store(&sd) < 0)
		goto out;
	at = memrchr(addr, '@', alen);
	o = store_owner(sd.store, at + 1, alen - (size_t)(at + 1 - addr), NULL);
	if (o == NULL) {
		printf("reject %s: relay access denied (domain not served)\n",
		       address);
		rc = EXITCODE_REFUSED;
		goto out;
	}
	delim = mxsyncd_delimiter(&sd, &best, &count);
	ok = lookup_accepts(o->st, addr, delim != NULL ? delim : "", NULL,
			    match, sizeof(match), &err);
	if (ok < 0) {
		log_error("bad address %s: %s", address, err.msg);
		rc = EXITCODE_USAGE;
	} else if (ok == 1) {
		printf("accept %s (matched %s; origin %s, serial %" PRIu64
		       ", key %s)\n",
		       address, match, o->m.origin, o->m.serial, o->m.key_id);
		rc = EXITCODE_OK;
	} else {
		printf("reject %s: user unknown in relay recipient table "
		       "(domain %s from origin %s, serial %" PRIu64 ")\n",
		       address, at + 1, o->m.origin, o->m.serial);
		rc = EXITCODE_REFUSED;
	}
out:
	apply_fini(&sd);
	return rc;
}

/*
 * mxsyncd_postconf_shards - the relay_recipient_maps line: one cdb: map per
 * shard (cdbw.h), and, while the single map of before shards is still kept
 * (maps_dir/relay_recipients.cdb exists), how to finish the migration
 */
static void mxsyncd_postconf_shards(const struct syncd_config *cfg)
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
 * mxsyncd_postconf_routes - a comment for a relay: when the domains go to
 * more than one next hop, each has its own route in the transport map
 */
static void mxsyncd_postconf_routes(const struct syncd *sd)
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

/* mxsyncd_non_ascii - some origin's state holds a non-ASCII key */
static int mxsyncd_non_ascii(const struct syncd *sd)
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

static int mxsyncd_postconf(void)
{
	struct syncd sd;
	const struct store_origin *best = NULL;
	size_t best_count = 0, differ = 0;
	const char *maps, *delim;
	int rc = EXITCODE_TEMP;

	if (mxsyncd_setup(&sd, 0) < 0)
		return EXITCODE_USAGE;
	if (mxsyncd_load_store(&sd) < 0)
		goto out;
	maps = sd.cfg->maps_dir;
	delim = mxsyncd_delimiter(&sd, &best, &best_count);
	if (best != NULL)
		differ = sd.store->n - best_count;
	printf("# main.cf settings for the maps mxsyncd keeps in %s\n", maps);
	printf("relay_domains = cdb:%s/relay_domains\n", maps);
	mxsyncd_postconf_shards(sd.cfg);
	printf("transport_maps = cdb:%s/transport\n", maps);
	mxsyncd_postconf_routes(&sd);
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
	if (mxsyncd_non_ascii(&sd))
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

static int mxsyncd_check_config(void)
{
	struct syncd sd;

	if (mxsyncd_setup(&sd, 1) < 0)
		return EXITCODE_USAGE;
	printf("%s: ok (%zu trusted keys)\n", mxsyncd_conf, sd.trust->n);
	apply_fini(&sd);
	return EXITCODE_OK;
}

int main(int argc, char **argv)
{
	const char *user = NULL, *cmd;
	struct err err;
	int c, use_syslog = 0, verbose = 0, check_only = 0, json = 0;

	if (argc == 2 && strcmp(argv[1], "--version") == 0) {
		printf("mxsyncd %s\n", MXSYNC_VERSION);
		return fflush(stdout) == 0 ? 0 : EXITCODE_REFUSED;
	}
	while ((c = getopt(argc, argv, "+c:nsu:vh")) != -1) {
		switch (c) {
		case 'c':
			mxsyncd_conf = optarg;
			break;
		case 'n':
			check_only = 1;
			break;
		case 's':
			use_syslog = 1;
			break;
		case 'u':
			user = optarg;
			break;
		case 'v':
			verbose = 1;
			break;
		default:
			mxsyncd_usage();
			return EXITCODE_USAGE;
		}
	}
	log_open("mxsyncd", use_syslog);
	log_set_verbose(verbose);
	if (key_init(&err) < 0) {
		log_error("%s", err.msg);
		return EXITCODE_TEMP;
	}
	if (check_only)
		return optind == argc ? mxsyncd_check_config()
				      : (mxsyncd_usage(), EXITCODE_USAGE);
	if (optind >= argc) {
		mxsyncd_usage();
		return EXITCODE_USAGE;
	}
	cmd = argv[optind++];
	argc -= optind;
	argv += optind;
	if (strcmp(cmd, "run") == 0 && argc == 0)
		return mxsyncd_run(user);
	if (strcmp(cmd, "apply") == 0 && argc == 1)
		return mxsyncd_apply(argv[0], user);
	if (strcmp(cmd, "status") == 0 &&
	    (argc == 0 || (argc == 1 && strcmp(argv[0], "--json") == 0))) {
		json = argc == 1;
		return mxsyncd_status(json);
	}
	if (strcmp(cmd, "check") == 0 && argc == 1)
		return mxsyncd_check(argv[0]);
	if (strcmp(cmd, "forget") == 0 && argc == 1)
		return mxsyncd_forget(argv[0], user);
	if (strcmp(cmd, "postconf") == 0 && argc == 0)
		return mxsyncd_postconf();
	if (strcmp(cmd, "check-config") == 0 && argc == 0)
		return mxsyncd_check_config();
	mxsyncd_usage();
	return EXITCODE_USAGE;
}
