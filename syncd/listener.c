/*
 * listener - mxsyncd's network process: its sockets, TLS files and loop
 *
 * Owns what the network process opens before it drops privileges (the
 * push and status sockets, the certificate and key, the descriptor
 * limit), the libmicrohttpd daemon (GnuTLS, TLS 1.2 or 1.3 only, no
 * listening socket of its own, at most LISTENER_CONN_MEMORY octets of
 * request memory per connection) and the one event loop (epoll) that
 * drives everything in one thread: accepting (syncd/listener_conn admits
 * or refuses), gated connections, the installer's answers (syncd/
 * listener_chan), libmicrohttpd (syncd/listener_http), deadlines and the
 * refusal log window (syncd/listener_log).  The files share struct
 * listener through syncd/listener_private.h.
 *
 * Fails at start with "what: reason" (address in use, unreadable
 * certificate); once serving, only a signal or the installer's hang-up
 * ends it.  Out of descriptors, it stops accepting for
 * LISTENER_BACKOFF_MS instead of spinning.  The key is wiped before exit.
 */
#include <errno.h>
#include <microhttpd.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <inttypes.h>

#include "../formats/exitcode.h"
#include "../formats/fileio.h"
#include "../formats/log.h"
#include "listener_private.h"
#include "sandbox.h"

#define LISTENER_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define LISTENER_CONN_MEMORY (64 * 1024)
/* a certificate chain or a key file */
#define LISTENER_TLS_FILE_MAX (1024 * 1024)
/* descriptors beyond max_connections: accept bursts, memfds, the rest */
#define LISTENER_FD_RESERVE 160
#define LISTENER_ACCEPT_BURST 32
#define LISTENER_TICK_MS 200
/*
 * libmicrohttpd 0.9.75 in epoll mode keeps a connection whose TLS
 * handshake waits for the client on its ready list, and so asks to be run
 * again at once for as long as the client stalls.  Run at once only after
 * a run that did something (called back); otherwise wait for an event or
 * this long.
 */
#define LISTENER_STALL_MS 20
#define LISTENER_BACKOFF_MS 250

/* listener_now_ms - monotonic milliseconds */
uint64_t listener_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* listener_bind - a non-blocking listening TCP socket on addr */
static int listener_bind(const char *key, const char *text,
			 const struct sockaddr_storage *addr, socklen_t len,
			 struct err *err)
{
	int fd, one = 1;

	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
		    0);
	if (fd < 0)
		return err_sys(err, "socket(%s %s)", key, text);
	(void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
				 sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, len) < 0 ||
	    listen(fd, 512) < 0) {
		err_sys(err, "cannot listen on %s%s%s",
			strcmp(key, "listen") != 0 ? key : "",
			strcmp(key, "listen") != 0 ? " " : "", text);
		close(fd);
		return -1;
	}
	return fd;
}

/* listener_nofile - raise the descriptor limit; what max_connections fits */
static uint64_t listener_nofile(uint64_t want)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)(want + LISTENER_FD_RESERVE);
	uint64_t fit;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return want;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need
				  ? need
				  : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur >= need)
		return want;
	fit = rl.rlim_cur > 2 * LISTENER_FD_RESERVE
		  ? (uint64_t)rl.rlim_cur - LISTENER_FD_RESERVE
		  : (uint64_t)rl.rlim_cur / 2;
	if (fit < 4)
		fit = 4;
	log_warning("open file limit %llu (hard %llu): max_connections "
		    "lowered from %" PRIu64 " to %" PRIu64,
		    (unsigned long long)rl.rlim_cur,
		    (unsigned long long)rl.rlim_max, want, fit);
	return fit;
}

struct listener *listener_open(const struct syncd_config *cfg, struct err *err)
{
	struct listener *l;
	size_t len;

	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		err_sys(err, "malloc");
		return NULL;
	}
	l->cfg = cfg;
	l->push_fd = l->status_fd = l->ep = l->chan = l->sig_fd = -1;
	l->mhd_ep = -1;
	if (fileio_read_all(cfg->tls_cert, LISTENER_TLS_FILE_MAX, &l->cert,
			    &len, err) < 0 ||
	    fileio_read_all(cfg->tls_key, LISTENER_TLS_FILE_MAX, &l->key,
			    &l->key_len, err) < 0)
		goto fail;
	l->push_fd =
	    listener_bind("listen", cfg->listen, &cfg->addr, cfg->addrlen, err);
	if (l->push_fd < 0)
		goto fail;
	if (strcmp(cfg->status_listen, "none") != 0) {
		l->status_fd =
		    listener_bind("status_listen", cfg->status_listen,
				  &cfg->status_addr, cfg->status_addrlen, err);
		if (l->status_fd < 0)
			goto fail;
	}
	l->max_connections = listener_nofile(cfg->max_connections);
	return l;
fail:
	listener_close(l);
	return NULL;
}

void listener_close(struct listener *l)
{
	if (l == NULL)
		return;
	if (l->push_fd >= 0)
		close(l->push_fd);
	if (l->status_fd >= 0)
		close(l->status_fd);
	if (l->key != NULL) {
		sodium_memzero(l->key, l->key_len);
		free(l->key);
	}
	free(l->cert);
	free(l);
}

/* listener_pause - stop or restart accepting on both ports */
static void listener_pause(struct listener *l, int pause)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = pause ? 0 : EPOLLIN;
	ev.data.ptr = &l->src_push;
	(void)epoll_ctl(l->ep, EPOLL_CTL_MOD, l->push_fd, &ev);
	if (l->status_fd >= 0) {
		ev.data.ptr = &l->src_status;
		(void)epoll_ctl(l->ep, EPOLL_CTL_MOD, l->status_fd, &ev);
	}
	l->paused = pause;
	if (pause)
		l->paused_until = listener_now_ms() + LISTENER_BACKOFF_MS;
}

/* listener_accept - take what waits on a listening socket */
static void listener_accept(struct listener *l, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int i, fd;

	for (i = 0; i < LISTENER_ACCEPT_BURST; i++) {
		len = sizeof(ss);
		fd = accept4(lfd, (struct sockaddr *)&ss, &len,
			     SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			listener_conn_admit(l, fd, &ss, len,
					    lfd == l->status_fd);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
		    errno == ENOMEM) {
			/*
			 * Out of descriptors: leave the queue to the kernel
			 * for a moment instead of spinning on it.
			 */
			listener_log_refusal(
			    l, LISTENER_NOFILE,
			    "accept: %s: not accepting for %d ms",
			    strerror(errno), LISTENER_BACKOFF_MS);
			listener_pause(l, 1);
		}
		return;
	}
}

/* listener_setup - the daemon, the signal descriptor and the epoll set */
static int listener_setup(struct listener *l, const sigset_t *stop)
{
	const union MHD_DaemonInfo *di;
	struct epoll_event ev;
	unsigned flags = MHD_USE_TLS | MHD_USE_NO_LISTEN_SOCKET |
			 MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
			 MHD_USE_ERROR_LOG;
	struct listener_src *srcs[5];
	int i;

	randombytes_buf(l->hkey, sizeof(l->hkey));
	l->log_window_ms = listener_now_ms();
	l->d = MHD_start_daemon(
	    flags, 0, NULL, NULL, listener_http_access, l,
	    MHD_OPTION_HTTPS_MEM_CERT, l->cert, MHD_OPTION_HTTPS_MEM_KEY,
	    l->key, MHD_OPTION_HTTPS_PRIORITIES, LISTENER_PRIORITIES,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(l->max_connections + LISTENER_ACCEPT_BURST * 2),
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)((l->cfg->timeout_ms + 999) / 1000),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)LISTENER_CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, listener_http_completed, (void *)l,
	    MHD_OPTION_NOTIFY_CONNECTION, listener_conn_notify, (void *)l,
	    MHD_OPTION_EXTERNAL_LOGGER, listener_http_log, (void *)l,
	    MHD_OPTION_END);
	if (l->d == NULL) {
		log_error("cannot start the HTTPS server (bad certificate or "
			  "key?)");
		return -1;
	}
	di = MHD_get_daemon_info(l->d, MHD_DAEMON_INFO_EPOLL_FD);
	l->sig_fd = signalfd(-1, stop, SFD_NONBLOCK | SFD_CLOEXEC);
	l->ep = epoll_create1(EPOLL_CLOEXEC);
	if (di == NULL || l->sig_fd < 0 || l->ep < 0) {
		log_error("epoll or signalfd: %s", strerror(errno));
		return -1;
	}
	l->mhd_ep = di->epoll_fd;
	srcs[0] = &l->src_push;
	srcs[1] = &l->src_chan;
	srcs[2] = &l->src_sig;
	srcs[3] = &l->src_mhd;
	srcs[4] = &l->src_status;
	l->src_push.fd = l->push_fd;
	l->src_chan.fd = l->chan;
	l->src_sig.fd = l->sig_fd;
	l->src_mhd.fd = l->mhd_ep;
	l->src_status.fd = l->status_fd;
	for (i = 0; i < 5; i++) {
		srcs[i]->kind = LISTENER_FD;
		if (srcs[i]->fd < 0)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = srcs[i];
		if (epoll_ctl(l->ep, EPOLL_CTL_ADD, srcs[i]->fd, &ev) < 0) {
			log_error("epoll_ctl: %s", strerror(errno));
			return -1;
		}
	}
	return 0;
}

int listener_serve(struct listener *l, int chan)
{
	struct epoll_event evs[64];
	struct listener_src *src;
	MHD_UNSIGNED_LONG_LONG mhd_to;
	sigset_t stop;
	struct err err;
	uint64_t now;
	int abi, n, i, timeout, rc = EXITCODE_TEMP;

	l->chan = chan;
	(void)prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&stop);
	sigaddset(&stop, SIGTERM);
	sigaddset(&stop, SIGINT);
	if (sandbox_enter(l->cfg->sandbox, &abi, &err) < 0) {
		log_error("network process: %s", err.msg);
		return EXITCODE_TEMP;
	}
	if (abi > 0)
		log_debug("network process: Landlock ABI %d, no file writes",
			  abi);
	if (listener_setup(l, &stop) < 0)
		goto out;
	if (listener_chan_wait_go(l) < 0)
		goto out;
	for (;;) {
		now = listener_now_ms();
		timeout = LISTENER_TICK_MS;
		if (MHD_get_timeout(l->d, &mhd_to) == MHD_YES &&
		    mhd_to < (MHD_UNSIGNED_LONG_LONG)timeout)
			timeout = (int)mhd_to;
		if (timeout == 0 && !l->progress)
			timeout = LISTENER_STALL_MS;
		n = epoll_wait(l->ep, evs, 64, timeout);
		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			goto out;
		}
		for (i = 0; i < n; i++) {
			src = evs[i].data.ptr;
			if (src->kind == LISTENER_GATED) {
				listener_conn_gate(l,
						   (struct listener_conn *)src);
				continue;
			}
			if (src->kind != LISTENER_FD)
				continue;
			if (src->fd == l->sig_fd) {
				rc = 0;
				goto out;
			}
			if (src->fd == l->chan &&
			    listener_chan_answers(l) < 0) {
				log_error("network process: the installer "
					  "hung up");
				goto out;
			}
			if (src->fd == l->push_fd || src->fd == l->status_fd)
				listener_accept(l, src->fd);
		}
		l->progress = 0;
		(void)MHD_run(l->d);
		now = listener_now_ms();
		if (l->paused && now >= l->paused_until)
			listener_pause(l, 0);
		listener_conn_sweep(l, now);
		listener_chan_overdue(l, now);
		listener_log_tick(l, now);
		listener_conn_bury(l);
	}
out:
	/* Exit without tearing down the daemon: suspended requests would
	 * make libmicrohttpd abort; the kernel closes every socket. */
	if (l->key != NULL)
		sodium_memzero(l->key, l->key_len);
	return rc;
}
