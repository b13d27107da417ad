/*
 * listener - mxsyncd's network process: TLS, HTTP and the connection limits
 *
 * Owns the listening sockets, the connection table, the per-address
 * counts, the deadlines and the HTTP side of a push.  libmicrohttpd (with
 * GnuTLS) runs without a listening socket of its own, driven from this one
 * event loop (epoll): the loop accepts, applies allow, per-address and
 * total limits, hands each socket to libmicrohttpd, and cuts connections
 * past their header deadline with shutdown() - from the thread that owns
 * every descriptor, before libmicrohttpd has closed it, so no descriptor is
 * ever reused under a cut.
 *
 * Fails at start with "what: reason" (address in use, unreadable
 * certificate); per request it answers JSON and logs one line, refusals
 * rate-limited.  Security: TLS 1.2 or 1.3 only; the body is never read
 * before the installer passed the signed headers; each connection holds at
 * most LISTENER_CONN_MEMORY octets of request memory, the body goes to a
 * memfd; log lines never hold recipients or header values.
 *
 * Longer than a module should be (about 1,500 lines): the connection
 * table, the refusal log, the event loop and the HTTP handlers share one
 * struct listener and one thread.  The parts are in this order, each
 * under its own divider; the connection table would be the first to move
 * into a file of its own.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "../formats/buf.h"
#include "../formats/exitcode.h"
#include "../formats/log.h"
#include "../formats/snapshot.h"
#include "channel.h"
#include "cidr.h"
#include "listener.h"
#include "sandbox.h"

#define LISTENER_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define LISTENER_CONN_MEMORY (64 * 1024)
#define LISTENER_RETRY_AFTER "5"
/* descriptors beyond max_connections: accept bursts, memfds, the rest */
#define LISTENER_FD_RESERVE 160
#define LISTENER_ACCEPT_BURST 32
#define LISTENER_TICK_MS 200
#define LISTENER_SWEEP_MS 100
/*
 * libmicrohttpd 0.9.75 in epoll mode keeps a connection whose TLS
 * handshake waits for the client on its ready list, and so asks to be run
 * again at once for as long as the client stalls.  Run at once only after
 * a run that did something (called back); otherwise wait for an event or
 * this long.
 */
#define LISTENER_STALL_MS 20
/* an answer lost by the installer must not hold a connection for good */
#define LISTENER_ANSWER_MS (5 * 60 * 1000)
#define LISTENER_BACKOFF_MS 250
#define LISTENER_BUCKETS 4096
/* a ClientHello fits one TLS record: at most 5 + 16384 octets */
#define LISTENER_GATE_PEEK (5 + 16384)

/* why a connection or request was turned away (counters and the summary) */
enum listener_why {
	LISTENER_ALLOW,
	LISTENER_PER_ADDRESS,
	LISTENER_FULL,
	LISTENER_EVICTED,
	LISTENER_DEADLINE,
	LISTENER_NOFILE,
	LISTENER_FRAMING,
	LISTENER_PUSH,
	LISTENER_NWHY
};

static const char *const listener_why_name[LISTENER_NWHY] = {
    "allow",	"per_address", "max_connections", "evicted",
    "deadline", "nofile",      "framing",	  "push"};

struct listener_peer {
	unsigned char key[16];
	unsigned n;
	struct listener_peer *next;
};

enum listener_state {
	LISTENER_WAIT,	   /* a question to the installer is open */
	LISTENER_ANSWERED, /* its answer arrived: act on it */
	LISTENER_BODY,	   /* header stage passed: body to the memfd */
	LISTENER_DONE	   /* a response is queued */
};

struct listener_conn;

/* one HTTP request that needs the installer (con_cls) */
struct listener_req {
	struct listener_conn *lc;
	struct listener_req *wnext, *wprev; /* waiting for an answer */
	enum listener_state st;
	uint32_t asked; /* CHANNEL_* of the open question */
	uint64_t asked_ms;
	uint64_t id;
	char *mb64, *sb64; /* owned copies of the two headers */
	int memfd;
	uint64_t received;
	int local_refusal; /* ans holds a refusal made here */
	struct channel_msg ans;
	char *ans_text, *ans_text2;
};

/* what an epoll event points to: a fixed descriptor or a gated connection */
enum listener_kind { LISTENER_FD, LISTENER_GATED, LISTENER_DEAD };

struct listener_src {
	enum listener_kind kind;
	int fd;
};

/*
 * one TCP connection (libmicrohttpd's socket context).  A new connection is
 * "gated": it waits in the listener's own epoll set, a descriptor and this
 * record, until its first TLS record (the ClientHello) has arrived whole;
 * only then does libmicrohttpd get it.
 */
struct listener_conn {
	struct listener_src src; /* first: epoll data of a gated one */
	struct listener_conn *prev, *next; /* in phase order */
	struct listener_peer *peer;
	struct MHD_Connection *mc;
	int fd;
	int status_port;
	int headers_done;  /* of the current request */
	int cut;	   /* shutdown() done: closing */
	uint64_t phase_ms; /* accept, or the end of the last request */
	char peer_text[INET6_ADDRSTRLEN];
	struct sockaddr_storage addr; /* for libmicrohttpd, when gated */
	socklen_t addrlen;
};

struct listener {
	const struct syncd_config *cfg;
	int push_fd, status_fd;
	char *cert, *key;
	uint64_t max_connections;
	struct MHD_Daemon *d;
	int ep, chan, sig_fd, mhd_ep;
	int paused; /* accepting stopped (EMFILE) */
	uint64_t paused_until;
	struct listener_conn *head, *tail;
	struct listener_conn *pending; /* being added to libmicrohttpd */
	struct listener_conn *dead;    /* closed gated ones, freed per turn */
	struct listener_src src_push, src_status, src_chan, src_sig, src_mhd;
	size_t nconn, ncut;
	struct listener_peer *buckets[LISTENER_BUCKETS];
	unsigned char hkey[crypto_shorthash_KEYBYTES];
	struct listener_req *waiting;
	uint64_t next_id;
	uint64_t swept_ms;
	int progress; /* a callback ran since the last run */
	/* refusal log: lines this window, and what was not logged */
	uint64_t log_window_ms;
	unsigned log_lines;
	uint64_t log_skipped[LISTENER_NWHY];
	uint64_t refused[LISTENER_NWHY];
};

/* listener_now_ms - monotonic milliseconds */
static uint64_t listener_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* listener_refusal - count a refusal and log it within the rate limit */
static void listener_refusal(struct listener *l, enum listener_why why,
			     const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void listener_refusal(struct listener *l, enum listener_why why,
			     const char *fmt, ...)
{
	char line[1200];
	va_list ap;

	l->refused[why]++;
	if (l->log_lines >= LISTENER_LOG_BURST) {
		l->log_skipped[why]++;
		return;
	}
	l->log_lines++;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	log_warning("%s", line);
}

/* listener_log_tick - close a log window: one summary of what was skipped */
static void listener_log_tick(struct listener *l, uint64_t now)
{
	char text[512];
	size_t off = 0, i;
	uint64_t total = 0;
	int n;

	if (now < l->log_window_ms + LISTENER_LOG_WINDOW * 1000)
		return;
	text[0] = '\0';
	for (i = 0; i < LISTENER_NWHY; i++) {
		if (l->log_skipped[i] == 0)
			continue;
		total += l->log_skipped[i];
		n = snprintf(text + off, sizeof(text) - off, "%s%s %" PRIu64,
			     off > 0 ? ", " : "", listener_why_name[i],
			     l->log_skipped[i]);
		if (n > 0 && (size_t)n < sizeof(text) - off)
			off += (size_t)n;
	}
	if (total > 0)
		log_warning("refusals: %" PRIu64 " more in the last %d s not "
			    "logged (%s)",
			    total, LISTENER_LOG_WINDOW, text);
	memset(l->log_skipped, 0, sizeof(l->log_skipped));
	l->log_lines = 0;
	l->log_window_ms = now;
}

/* listener_slurp - a small file into memory, NUL-terminated */
static char *listener_slurp(const char *path, struct err *err)
{
	struct buf b = BUF_INIT;
	char chunk[4096];
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err_sys(err, "open(%s)", path);
		return NULL;
	}
	while ((n = read(fd, chunk, sizeof(chunk))) > 0) {
		if (b.len > 1024 * 1024 || buf_append(&b, chunk, n) < 0) {
			err_set(err, "%s: too large", path);
			goto fail;
		}
	}
	if (n < 0) {
		err_sys(err, "read(%s)", path);
		goto fail;
	}
	close(fd);
	if (b.data == NULL && buf_append(&b, "", 0) < 0) {
		err_sys(err, "malloc");
		return NULL;
	}
	return buf_steal(&b, NULL);
fail:
	close(fd);
	buf_free(&b);
	return NULL;
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

	l = calloc(1, sizeof(*l));
	if (l == NULL) {
		err_sys(err, "malloc");
		return NULL;
	}
	l->cfg = cfg;
	l->push_fd = l->status_fd = l->ep = l->chan = l->sig_fd = -1;
	l->mhd_ep = -1;
	if ((l->cert = listener_slurp(cfg->tls_cert, err)) == NULL ||
	    (l->key = listener_slurp(cfg->tls_key, err)) == NULL)
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
		sodium_memzero(l->key, strlen(l->key));
		free(l->key);
	}
	free(l->cert);
	free(l);
}

/* ------------------------------------------------------ addresses */

/* listener_peer_get - the count for key, created at 0 when absent */
static struct listener_peer *listener_peer_get(struct listener *l,
					       const unsigned char key[16])
{
	unsigned char h[crypto_shorthash_BYTES];
	struct listener_peer *p;
	size_t b;

	crypto_shorthash(h, key, 16, l->hkey);
	memcpy(&b, h, sizeof(b));
	b %= LISTENER_BUCKETS;
	for (p = l->buckets[b]; p != NULL; p = p->next)
		if (memcmp(p->key, key, 16) == 0)
			return p;
	p = calloc(1, sizeof(*p));
	if (p == NULL)
		return NULL;
	memcpy(p->key, key, 16);
	p->next = l->buckets[b];
	l->buckets[b] = p;
	return p;
}

/* listener_peer_put - one connection of p fewer; free it at 0 */
static void listener_peer_put(struct listener *l, struct listener_peer *p)
{
	unsigned char h[crypto_shorthash_BYTES];
	struct listener_peer **pp;
	size_t b;

	if (p == NULL || --p->n > 0)
		return;
	crypto_shorthash(h, p->key, 16, l->hkey);
	memcpy(&b, h, sizeof(b));
	b %= LISTENER_BUCKETS;
	for (pp = &l->buckets[b]; *pp != NULL; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			free(p);
			return;
		}
}

/* listener_text - an address as text */
static void listener_text(const struct sockaddr *sa, char *out, size_t size)
{
	snprintf(out, size, "?");
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
			  out, size);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6,
			  &((const struct sockaddr_in6 *)sa)->sin6_addr, out,
			  size);
}

/* ------------------------------------------------------ connections */

/* listener_unlink - take lc out of the connection list */
static void listener_unlink(struct listener *l, struct listener_conn *lc)
{
	if (lc->prev != NULL)
		lc->prev->next = lc->next;
	else
		l->head = lc->next;
	if (lc->next != NULL)
		lc->next->prev = lc->prev;
	else
		l->tail = lc->prev;
	lc->prev = lc->next = NULL;
}

/* listener_append - lc at the tail of the connection list */
static void listener_append(struct listener *l, struct listener_conn *lc)
{
	lc->next = NULL;
	lc->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = lc;
	else
		l->head = lc;
	l->tail = lc;
}

/*
 * listener_drop - close a gated connection (it is ours alone); the record
 * is freed after this turn of the loop, as an event may still name it
 */
static void listener_drop(struct listener *l, struct listener_conn *lc)
{
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, lc->fd, NULL);
	close(lc->fd);
	lc->fd = -1;
	lc->src.kind = LISTENER_DEAD;
	listener_unlink(l, lc);
	l->nconn--;
	listener_peer_put(l, lc->peer);
	lc->peer = NULL;
	lc->next = l->dead;
	l->dead = lc;
}

/* listener_bury - free the records dropped this turn */
static void listener_bury(struct listener *l)
{
	struct listener_conn *lc;

	while ((lc = l->dead) != NULL) {
		l->dead = lc->next;
		free(lc);
	}
}

/* listener_handoff - a gated connection goes to libmicrohttpd */
static void listener_handoff(struct listener *l, struct listener_conn *lc)
{
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, lc->fd, NULL);
	lc->src.kind = LISTENER_FD;
	l->pending = lc;
	/* libmicrohttpd closes fd itself when this fails */
	(void)MHD_add_connection(
	    l->d, lc->fd, (const struct sockaddr *)&lc->addr, lc->addrlen);
	if (l->pending == lc) {
		/* never started: no notification will come */
		l->pending = NULL;
		lc->src.kind = LISTENER_DEAD;
		listener_unlink(l, lc);
		l->nconn--;
		listener_peer_put(l, lc->peer);
		lc->peer = NULL;
		lc->fd = -1;
		lc->next = l->dead;
		l->dead = lc;
	}
}

/*
 * listener_gate - data on a gated connection: hand it over once the first
 * TLS record is complete (or is not TLS: libmicrohttpd refuses that); drop
 * it at end of file.  Edge-triggered: a client that stops half-way costs
 * nothing until it sends again.
 */
static void listener_gate(struct listener *l, struct listener_conn *lc)
{
	unsigned char buf[LISTENER_GATE_PEEK];
	size_t need;
	ssize_t n;

	n = recv(lc->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		listener_drop(l, lc);
		return;
	}
	if (n < 5 && buf[0] == 0x16)
		return;
	need = buf[0] == 0x16 ? 5 + ((size_t)buf[3] << 8 | buf[4]) : 1;
	if ((size_t)n >= need || (size_t)n == sizeof(buf))
		listener_handoff(l, lc);
}

/* listener_cut - end a connection now (libmicrohttpd then closes it) */
static void listener_cut(struct listener *l, struct listener_conn *lc)
{
	if (lc->src.kind == LISTENER_GATED) {
		listener_drop(l, lc);
		return;
	}
	if (lc->cut)
		return;
	lc->cut = 1;
	l->ncut++;
	(void)shutdown(lc->fd, SHUT_RDWR);
}

/*
 * listener_evict - make room: cut a connection that has sent no request
 * yet, from the address holding the most connections, the oldest of those;
 * so an attacker spread over many addresses loses its own connections
 * before a primary's single fresh one
 */
static int listener_evict(struct listener *l)
{
	struct listener_conn *lc, *victim = NULL;

	for (lc = l->head; lc != NULL; lc = lc->next) {
		if (lc->headers_done || lc->cut)
			continue;
		if (victim == NULL || lc->peer->n > victim->peer->n)
			victim = lc;
	}
	if (victim == NULL)
		return -1;
	listener_refusal(l, LISTENER_EVICTED,
			 "connection from %s closed to make room: %" PRIu64
			 " connections, %u from this address, no request yet",
			 victim->peer_text, l->max_connections,
			 victim->peer->n);
	listener_cut(l, victim);
	return 0;
}

/* listener_admit - the checks for one accepted socket, then libmicrohttpd */
static void listener_admit(struct listener *l, int fd,
			   const struct sockaddr_storage *ss, socklen_t len,
			   int status_port)
{
	const struct syncd_config *cfg = l->cfg;
	unsigned char key[16];
	char text[INET6_ADDRSTRLEN];
	struct listener_peer *p;
	struct listener_conn *lc;
	struct epoll_event ev;

	cidr_key((const struct sockaddr *)ss, key);
	listener_text((const struct sockaddr *)ss, text, sizeof(text));
	if (!status_port && cfg->nallow > 0 &&
	    !cidr_match(cfg->allow, cfg->nallow, key)) {
		listener_refusal(l, LISTENER_ALLOW,
				 "connection from %s refused: not in allow",
				 text);
		close(fd);
		return;
	}
	/*
	 * One IPv6 client commonly holds a whole /64: count it as one
	 * address (IPv4, mapped, keeps all 32 bits).
	 */
	if (!(key[10] == 0xff && key[11] == 0xff &&
	      memcmp(key, "\0\0\0\0\0\0\0\0\0\0", 10) == 0))
		memset(key + 8, 0, 8);
	p = listener_peer_get(l, key);
	if (p == NULL) {
		close(fd);
		return;
	}
	if (p->n >= cfg->max_per_address) {
		listener_refusal(l, LISTENER_PER_ADDRESS,
				 "connection from %s refused: it has %u "
				 "connections (max_per_address)",
				 text, p->n);
		p->n++;
		listener_peer_put(l, p);
		close(fd);
		return;
	}
	if (l->nconn - l->ncut >= l->max_connections && listener_evict(l) < 0) {
		listener_refusal(l, LISTENER_FULL,
				 "connection from %s refused: %" PRIu64
				 " connections (max_connections)",
				 text, l->max_connections);
		p->n++;
		listener_peer_put(l, p);
		close(fd);
		return;
	}
	lc = calloc(1, sizeof(*lc));
	if (lc == NULL || len > sizeof(lc->addr)) {
		free(lc);
		p->n++;
		listener_peer_put(l, p);
		close(fd);
		return;
	}
	lc->fd = fd;
	lc->peer = p;
	lc->status_port = status_port;
	lc->phase_ms = listener_now_ms();
	memcpy(lc->peer_text, text, sizeof(text));
	memcpy(&lc->addr, ss, len);
	lc->addrlen = len;
	p->n++;
	listener_append(l, lc);
	l->nconn++;
	lc->src.kind = LISTENER_GATED;
	lc->src.fd = fd;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLET | EPOLLRDHUP;
	ev.data.ptr = &lc->src;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		listener_handoff(l, lc);
		return;
	}
	/* the ClientHello may be there already */
	listener_gate(l, lc);
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
			listener_admit(l, fd, &ss, len, lfd == l->status_fd);
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
			listener_refusal(l, LISTENER_NOFILE,
					 "accept: %s: not accepting for %d ms",
					 strerror(errno), LISTENER_BACKOFF_MS);
			listener_pause(l, 1);
		}
		return;
	}
}

/*
 * listener_sweep - cut connections past their header deadline.  The list
 * is in phase order (a connection moves to the tail when its phase
 * restarts), so the walk ends at the first one still in time.
 */
static void listener_sweep(struct listener *l, uint64_t now)
{
	struct listener_conn *lc, *next;
	uint64_t limit = l->cfg->header_timeout_ms;

	if (now < l->swept_ms + LISTENER_SWEEP_MS)
		return;
	l->swept_ms = now;
	for (lc = l->head; lc != NULL; lc = next) {
		next = lc->next; /* a cut gated one leaves the list */
		if (lc->headers_done || lc->cut)
			continue;
		if (now - lc->phase_ms < limit)
			break;
		listener_refusal(l, LISTENER_DEADLINE,
				 "connection from %s closed: no complete "
				 "request within %" PRIu64 " ms",
				 lc->peer_text, limit);
		listener_cut(l, lc);
	}
}

/* listener_notify - libmicrohttpd starts or closes a connection */
static void listener_notify(void *cls, struct MHD_Connection *c,
			    void **socket_context,
			    enum MHD_ConnectionNotificationCode code)
{
	struct listener *l = cls;
	struct listener_conn *lc;

	l->progress = 1;
	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		lc = l->pending;
		l->pending = NULL;
		if (lc != NULL)
			lc->mc = c;
		*socket_context = lc;
		return;
	}
	lc = *socket_context;
	*socket_context = NULL;
	if (lc == NULL)
		return;
	listener_unlink(l, lc);
	l->nconn--;
	if (lc->cut)
		l->ncut--;
	listener_peer_put(l, lc->peer);
	free(lc);
}

/* listener_conn_of - the connection record of c */
static struct listener_conn *listener_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}

/* ------------------------------------------------------ responses */

/* listener_send - queue a response with a body of type ctype */
static enum MHD_Result listener_send(struct MHD_Connection *c, int status,
				     const char *ctype, const char *text,
				     int retry)
{
	struct MHD_Response *r;
	enum MHD_Result rc;

	r = MHD_create_response_from_buffer(strlen(text), (void *)text,
					    MHD_RESPMEM_MUST_COPY);
	if (r == NULL)
		return MHD_NO;
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
	if (retry)
		MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER,
					LISTENER_RETRY_AFTER);
	rc = MHD_queue_response(c, (unsigned)status, r);
	MHD_destroy_response(r);
	return rc;
}

/* listener_json - send a jansson object (stolen) */
static enum MHD_Result listener_json(struct MHD_Connection *c, int status,
				     json_t *j, int retry)
{
	enum MHD_Result rc = MHD_NO;
	char *text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;

	if (text != NULL) {
		rc = listener_send(c, status, "application/json", text, retry);
		free(text);
	}
	json_decref(j);
	return rc;
}

/* listener_error - {"error": msg} */
static enum MHD_Result listener_error(struct MHD_Connection *c, int status,
				      const char *msg)
{
	return listener_json(c, status, json_pack("{s:s}", "error", msg), 0);
}

/* listener_tell - a refusal the listener made itself, for the counters */
static void listener_tell(struct listener *l, int status, const char *reason)
{
	struct channel_msg m;
	struct err err;

	memset(&m, 0, sizeof(m));
	m.type = CHANNEL_COUNT;
	m.status = status;
	snprintf(m.reason, sizeof(m.reason), "%s", reason);
	(void)channel_send(l->chan, &m, NULL, NULL, -1, 1, &err);
}

/* listener_refuse - log (rate-limited) and answer a refused push */
static enum MHD_Result listener_refuse(struct listener *l,
				       struct MHD_Connection *c,
				       struct listener_req *r)
{
	const struct channel_msg *a = &r->ans;
	json_t *j;

	if (r->local_refusal)
		listener_tell(l, a->status, a->reason);
	listener_refusal(l, LISTENER_PUSH,
			 "push refused: %d %s: origin %s serial %" PRIu64
			 " key %s from %s: %s",
			 a->status, a->reason, a->origin[0] ? a->origin : "-",
			 a->serial, a->key_id[0] ? a->key_id : "-",
			 r->lc != NULL ? r->lc->peer_text : "?", a->msg);
	r->st = LISTENER_DONE;
	j = json_pack("{s:s, s:I}", "error", a->msg, "serial",
		      (json_int_t)a->cur_serial);
	/*
	 * a 409 also carries the origin's stored signed manifest (from the
	 * installer): the agent believes the serial only with its own
	 * signature on it
	 */
	if (j != NULL && a->status == 409 && !r->local_refusal &&
	    r->ans_text != NULL && r->ans_text2 != NULL) {
		json_object_set_new(j, "manifest", json_string(r->ans_text));
		json_object_set_new(j, "signature", json_string(r->ans_text2));
	}
	return listener_json(c, a->status, j, a->status == 503);
}

/* listener_local - fill r->ans with a refusal made here */
static void listener_local(struct listener_req *r, int status,
			   const char *reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void listener_local(struct listener_req *r, int status,
			   const char *reason, const char *fmt, ...)
{
	va_list ap;

	r->ans.status = status;
	snprintf(r->ans.reason, sizeof(r->ans.reason), "%s", reason);
	va_start(ap, fmt);
	vsnprintf(r->ans.msg, sizeof(r->ans.msg), fmt, ap);
	va_end(ap);
	r->local_refusal = 1;
}

/* listener_accepted - log and answer an installed push */
static enum MHD_Result listener_accepted(struct MHD_Connection *c,
					 struct listener_req *r)
{
	const struct channel_msg *a = &r->ans;

	log_info("push accepted: origin %s serial %" PRIu64 " %s key %s from "
		 "%s: %" PRIu64 " domains, %" PRIu64 " recipients, installed "
		 "in %" PRIu64 " ms (checks %" PRIu64 ", maps %" PRIu64
		 ", state %" PRIu64 ")",
		 a->origin, a->serial, a->delta ? "delta" : "full", a->key_id,
		 r->lc != NULL ? r->lc->peer_text : "?", a->domains,
		 a->recipients, a->install_ms, a->verify_ms, a->maps_ms,
		 a->store_ms);
	r->st = LISTENER_DONE;
	return listener_json(
	    c, 200,
	    json_pack("{s:s, s:I, s:s, s:I, s:I, s:I}", "origin", a->origin,
		      "serial", (json_int_t)a->serial, "state_hash",
		      a->state_hash, "domains", (json_int_t)a->domains,
		      "recipients", (json_int_t)a->recipients, "install_ms",
		      (json_int_t)a->install_ms),
	    0);
}

/* listener_metrics_extra - the listener's own counters for /metrics */
static void listener_metrics_extra(struct listener *l, struct buf *b)
{
	char line[256];
	size_t i;
	int n;

	n = snprintf(line, sizeof(line),
		     "# TYPE mxsyncd_connections gauge\n"
		     "mxsyncd_connections %zu\n"
		     "# TYPE mxsyncd_connections_refused_total counter\n",
		     l->nconn - l->ncut);
	if (n > 0 && (size_t)n < sizeof(line))
		(void)buf_append(b, line, (size_t)n);
	for (i = 0; i < LISTENER_NWHY; i++) {
		if (i == LISTENER_PUSH)
			continue;
		n = snprintf(line, sizeof(line),
			     "mxsyncd_connections_refused_total{reason=\"%s\"} "
			     "%" PRIu64 "\n",
			     listener_why_name[i], l->refused[i]);
		if (n > 0 && (size_t)n < sizeof(line))
			(void)buf_append(b, line, (size_t)n);
	}
}

/* listener_answer_get - the installer's status or metrics text */
static enum MHD_Result listener_answer_get(struct listener *l,
					   struct MHD_Connection *c,
					   struct listener_req *r)
{
	struct buf b = BUF_INIT;
	enum MHD_Result rc;

	r->st = LISTENER_DONE;
	if (r->ans.status != 200 || r->ans_text == NULL)
		return listener_error(c, 503,
				      r->ans.msg[0] ? r->ans.msg : "no status");
	if (r->asked == CHANNEL_STATUS)
		return listener_send(c, 200, "application/json", r->ans_text,
				     0);
	if (buf_append(&b, r->ans_text, strlen(r->ans_text)) < 0)
		return MHD_NO;
	listener_metrics_extra(l, &b);
	if (buf_append(&b, "", 1) < 0) {
		buf_free(&b);
		return MHD_NO;
	}
	rc = listener_send(c, 200, "text/plain; version=0.0.4", b.data, 0);
	buf_free(&b);
	return rc;
}

/* ------------------------------------------------------ the installer */

/* listener_ask - send r's question and suspend its connection */
static int listener_ask(struct listener *l, struct MHD_Connection *c,
			struct listener_req *r, uint32_t type,
			int64_t content_length)
{
	struct channel_msg m;
	struct err err;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.id = r->id = ++l->next_id;
	m.content_length = content_length;
	m.len1 = r->mb64 != NULL ? (uint32_t)strlen(r->mb64) : 0;
	m.len2 = r->sb64 != NULL ? (uint32_t)strlen(r->sb64) : 0;
	if (channel_send(l->chan, &m, r->mb64, r->sb64,
			 type == CHANNEL_INSTALL ? r->memfd : -1, 1,
			 &err) < 0) {
		log_error("%s", err.msg);
		return -1;
	}
	r->asked = type;
	r->asked_ms = listener_now_ms();
	r->st = LISTENER_WAIT;
	r->wprev = NULL;
	r->wnext = l->waiting;
	if (l->waiting != NULL)
		l->waiting->wprev = r;
	l->waiting = r;
	MHD_suspend_connection(c);
	return 0;
}

/* listener_unwait - r no longer waits for an answer */
static void listener_unwait(struct listener *l, struct listener_req *r)
{
	if (r->wprev != NULL)
		r->wprev->wnext = r->wnext;
	else if (l->waiting == r)
		l->waiting = r->wnext;
	if (r->wnext != NULL)
		r->wnext->wprev = r->wprev;
	r->wnext = r->wprev = NULL;
}

/* listener_answers - read the installer's answers; -1 when it hung up */
static int listener_answers(struct listener *l)
{
	struct channel_msg m;
	struct listener_req *r;
	char *t1, *t2;
	struct err err;
	int fd, rc;

	for (;;) {
		rc = channel_recv(l->chan, &m, &t1, &t2, &fd, 1, &err);
		if (rc < 0 && errno == EAGAIN)
			return 0;
		if (rc <= 0) {
			if (rc < 0)
				log_error("%s", err.msg);
			return -1;
		}
		if (fd >= 0)
			close(fd);
		for (r = l->waiting; r != NULL && r->id != m.id; r = r->wnext)
			;
		if (m.type != CHANNEL_ANSWER || r == NULL) {
			free(t1);
			free(t2);
			continue;
		}
		listener_unwait(l, r);
		r->ans = m;
		free(r->ans_text);
		free(r->ans_text2);
		r->ans_text = t1;
		r->ans_text2 = t2;
		r->st = LISTENER_ANSWERED;
		MHD_resume_connection(r->lc->mc);
	}
}

/* listener_overdue - answer 503 to questions the installer left open */
static void listener_overdue(struct listener *l, uint64_t now)
{
	struct listener_req *r, *next;

	for (r = l->waiting; r != NULL; r = next) {
		next = r->wnext;
		if (now - r->asked_ms < LISTENER_ANSWER_MS)
			continue;
		listener_unwait(l, r);
		memset(&r->ans, 0, sizeof(r->ans));
		r->ans.status = 503;
		snprintf(r->ans.reason, sizeof(r->ans.reason), "internal");
		snprintf(r->ans.msg, sizeof(r->ans.msg),
			 "the installer did not answer");
		r->st = LISTENER_ANSWERED;
		MHD_resume_connection(r->lc->mc);
	}
}

/* ------------------------------------------------------ requests */

struct listener_framing {
	unsigned content_length, transfer_encoding;
};

static enum MHD_Result listener_framing_count(void *cls,
					      enum MHD_ValueKind kind,
					      const char *key,
					      const char *value)
{
	struct listener_framing *f = cls;

	(void)kind;
	(void)value;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0)
		f->content_length++;
	else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0)
		f->transfer_encoding++;
	return MHD_YES;
}

/* listener_framing - RFC 9112 6.3: one way to find the body's end */
static const char *listener_framing(struct MHD_Connection *c)
{
	struct listener_framing f = {0, 0};

	MHD_get_connection_values(c, MHD_HEADER_KIND, listener_framing_count,
				  &f);
	if (f.content_length > 1)
		return "conflicting framing: more than one Content-Length";
	if (f.content_length > 0 && f.transfer_encoding > 0)
		return "conflicting framing: Content-Length with "
		       "Transfer-Encoding";
	return NULL;
}

/* listener_req_new - a request record holding copies of the push headers */
static struct listener_req *listener_req_new(struct MHD_Connection *c,
					     struct listener_conn *lc, int push)
{
	struct listener_req *r;
	const char *mh, *sh;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return NULL;
	r->lc = lc;
	r->memfd = -1;
	if (!push)
		return r;
	mh = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 SNAPSHOT_HDR_MANIFEST);
	sh = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 SNAPSHOT_HDR_SIGNATURE);
	/* an absent header goes as absent: the installer names it */
	if ((mh != NULL && (r->mb64 = strdup(mh)) == NULL) ||
	    (sh != NULL && (r->sb64 = strdup(sh)) == NULL)) {
		free(r->mb64);
		free(r);
		return NULL;
	}
	if (r->mb64 != NULL && r->mb64[0] == '\0') {
		free(r->mb64);
		r->mb64 = strdup(" ");
	}
	return r;
}

/* listener_content_length - the header as a number, -1 when absent */
static int64_t listener_content_length(struct MHD_Connection *c)
{
	const char *cl;
	char *end;
	unsigned long long n;

	cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					 MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl == NULL || *cl < '0' || *cl > '9')
		return -1;
	errno = 0;
	n = strtoull(cl, &end, 10);
	if (*end != '\0' || errno != 0 || n > INT64_MAX)
		return -1;
	return (int64_t)n;
}

/* listener_first - the headers of a request are complete */
static enum MHD_Result listener_first(struct listener *l,
				      struct MHD_Connection *c,
				      struct listener_conn *lc, const char *url,
				      const char *method, void **con_cls)
{
	struct listener_req *r;
	const char *bad;
	int push = strcmp(url, "/v1/push") == 0, get;

	bad = listener_framing(c);
	if (bad != NULL) {
		listener_refusal(l, LISTENER_FRAMING,
				 "request refused: 400 framing from %s: %s",
				 lc != NULL ? lc->peer_text : "?", bad);
		if (push)
			listener_tell(l, 400, "framing");
		return listener_error(c, 400, bad);
	}
	get = strcmp(method, "GET") == 0 &&
	      (strcmp(url, "/v1/status") == 0 || strcmp(url, "/metrics") == 0);
	if (get && !(lc != NULL && lc->status_port) && l->cfg->nallow == 0)
		return listener_error(c, 403,
				      "status and metrics are served on "
				      "status_listen");
	if (!get && strcmp(method, "GET") == 0)
		return listener_error(c, 404, "not found");
	if (!get && (strcmp(method, "POST") != 0 || !push ||
		     (lc != NULL && lc->status_port)))
		return listener_error(c, push ? 405 : 404, "not found");
	if (lc == NULL)
		return MHD_NO;
	r = listener_req_new(c, lc, push);
	if (r == NULL)
		return MHD_NO;
	*con_cls = r;
	if (listener_ask(l, c, r,
			 !push ? (strcmp(url, "/metrics") == 0 ? CHANNEL_METRICS
							       : CHANNEL_STATUS)
			       : CHANNEL_CHECK,
			 push ? listener_content_length(c) : -1) < 0) {
		r->st = LISTENER_DONE;
		return listener_error(c, 503, "installer unavailable");
	}
	return MHD_YES;
}

/* listener_body_start - the header stage passed: a memfd for the body */
static void listener_body_start(struct listener_req *r)
{
	r->st = LISTENER_BODY;
	r->memfd =
	    memfd_create("mxsyncd-body", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (r->memfd < 0)
		listener_local(r, 503, "internal", "memfd_create: %s",
			       strerror(errno));
}

/* listener_body - one piece of an accepted body */
static void listener_body(struct listener_req *r, const char *data, size_t len)
{
	ssize_t n;
	size_t done = 0;

	if (r->local_refusal)
		return;
	if (r->received + len > r->ans.body_size) {
		listener_local(r, 400, "size",
			       "body longer than body_size %" PRIu64,
			       r->ans.body_size);
		return;
	}
	while (done < len) {
		n = write(r->memfd, data + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			listener_local(r, 503, "internal", "write(body): %s",
				       n < 0 ? strerror(errno) : "short");
			return;
		}
		done += (size_t)n;
	}
	r->received += len;
}

/* listener_body_end - seal the memfd and pass it to the installer */
static enum MHD_Result listener_body_end(struct listener *l,
					 struct MHD_Connection *c,
					 struct listener_req *r)
{
	if (!r->local_refusal && r->received != r->ans.body_size)
		listener_local(r, 400, "size",
			       "body of %" PRIu64 " bytes, body_size %" PRIu64,
			       r->received, r->ans.body_size);
	if (!r->local_refusal &&
	    fcntl(r->memfd, F_ADD_SEALS,
		  F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		listener_local(r, 503, "internal", "F_ADD_SEALS: %s",
			       strerror(errno));
	if (r->local_refusal)
		return listener_refuse(l, c, r);
	if (listener_ask(l, c, r, CHANNEL_INSTALL, -1) < 0) {
		listener_local(r, 503, "internal", "installer unavailable");
		r->local_refusal = 0;
		return listener_refuse(l, c, r);
	}
	close(r->memfd);
	r->memfd = -1;
	return MHD_YES;
}

static enum MHD_Result listener_access(void *cls, struct MHD_Connection *c,
				       const char *url, const char *method,
				       const char *version,
				       const char *upload_data,
				       size_t *upload_data_size, void **con_cls)
{
	struct listener *l = cls;
	struct listener_req *r = *con_cls;
	struct listener_conn *lc;

	(void)version;
	l->progress = 1;
	if (r == NULL) {
		lc = listener_conn_of(c);
		if (lc != NULL)
			lc->headers_done = 1;
		return listener_first(l, c, lc, url, method, con_cls);
	}
	switch (r->st) {
	case LISTENER_WAIT:
	case LISTENER_DONE:
		*upload_data_size = 0;
		return MHD_YES;
	case LISTENER_ANSWERED:
		if (r->asked == CHANNEL_STATUS || r->asked == CHANNEL_METRICS)
			return listener_answer_get(l, c, r);
		if (r->asked == CHANNEL_INSTALL)
			return r->ans.status == 200 ? listener_accepted(c, r)
						    : listener_refuse(l, c, r);
		if (r->ans.status != 200)
			return listener_refuse(l, c, r);
		listener_body_start(r);
		if (r->local_refusal)
			return listener_refuse(l, c, r);
		/* the call at the header stage: the body comes next */
		return MHD_YES;
	case LISTENER_BODY:
		if (*upload_data_size > 0) {
			listener_body(r, upload_data, *upload_data_size);
			*upload_data_size = 0;
			return MHD_YES;
		}
		return listener_body_end(l, c, r);
	}
	return MHD_NO;
}

/* listener_completed - a request ended: free it, restart the deadline */
static void listener_completed(void *cls, struct MHD_Connection *c,
			       void **con_cls,
			       enum MHD_RequestTerminationCode toe)
{
	struct listener *l = cls;
	struct listener_req *r = *con_cls;
	struct listener_conn *lc = listener_conn_of(c);

	if (lc != NULL) {
		/* the next request has header_timeout from now */
		lc->headers_done = 0;
		lc->phase_ms = listener_now_ms();
		listener_unlink(l, lc);
		listener_append(l, lc);
	}
	if (r == NULL)
		return;
	if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK &&
	    r->st == LISTENER_BODY && !r->local_refusal)
		log_warning(
		    "push aborted: origin %s serial %" PRIu64
		    " from %s: connection ended (%s) after %" PRIu64
		    " of %" PRIu64 " body bytes",
		    r->ans.origin, r->ans.serial,
		    lc != NULL ? lc->peer_text : "?",
		    toe == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? "timeout"
		    : toe == MHD_REQUEST_TERMINATED_CLIENT_ABORT  ? "client"
								  : "error",
		    r->received, r->ans.body_size);
	listener_unwait(l, r);
	if (r->memfd >= 0)
		close(r->memfd);
	free(r->mb64);
	free(r->sb64);
	free(r->ans_text);
	free(r->ans_text2);
	free(r);
	*con_cls = NULL;
}

/* listener_mhd_log - libmicrohttpd's own messages */
static void listener_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char line[512];
	size_t n;

	(void)cls;
	vsnprintf(line, sizeof(line), fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_debug("http: %s", line);
}

/* ------------------------------------------------------ the loop */

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
	    flags, 0, NULL, NULL, listener_access, l, MHD_OPTION_HTTPS_MEM_CERT,
	    l->cert, MHD_OPTION_HTTPS_MEM_KEY, l->key,
	    MHD_OPTION_HTTPS_PRIORITIES, LISTENER_PRIORITIES,
	    MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned)(l->max_connections + LISTENER_ACCEPT_BURST * 2),
	    MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)((l->cfg->timeout_ms + 999) / 1000),
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)LISTENER_CONN_MEMORY,
	    MHD_OPTION_NOTIFY_COMPLETED, listener_completed, (void *)l,
	    MHD_OPTION_NOTIFY_CONNECTION, listener_notify, (void *)l,
	    MHD_OPTION_EXTERNAL_LOGGER, listener_mhd_log, (void *)l,
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

/* listener_wait_go - block until the installer says the maps are ready */
static int listener_wait_go(struct listener *l)
{
	struct channel_msg m;
	char *t1, *t2;
	struct err err;
	int fd, rc;

	rc = channel_recv(l->chan, &m, &t1, &t2, &fd, 0, &err);
	if (rc > 0) {
		free(t1);
		free(t2);
		if (fd >= 0)
			close(fd);
	}
	return rc > 0 && m.type == CHANNEL_GO ? 0 : -1;
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
	if (listener_wait_go(l) < 0)
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
				listener_gate(l, (struct listener_conn *)src);
				continue;
			}
			if (src->kind != LISTENER_FD)
				continue;
			if (src->fd == l->sig_fd) {
				rc = 0;
				goto out;
			}
			if (src->fd == l->chan && listener_answers(l) < 0) {
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
		listener_sweep(l, now);
		listener_overdue(l, now);
		listener_log_tick(l, now);
		listener_bury(l);
	}
out:
	/* Exit without tearing down the daemon: suspended requests would
	 * make libmicrohttpd abort; the kernel closes every socket. */
	if (l->key != NULL)
		sodium_memzero(l->key, strlen(l->key));
	return rc;
}
