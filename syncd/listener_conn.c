/*
 * listener_conn - the connection table of the network process
 *
 * Every accepted connection has a record, in a list kept in phase order
 * (accept, or the end of its last request), so that the header deadline
 * sweep stops at the first connection still in time.  listener_conn_admit()
 * applies "allow", max_per_address (an IPv6 /64 counts as one address)
 * and max_connections, evicting when full a connection that has sent no
 * request yet: from the address holding the most, the oldest of those.
 *
 * A new connection is gated: it waits in the listener's epoll set until
 * its first TLS record has arrived whole, and only then goes to
 * libmicrohttpd.  Cuts are shutdown() calls made from the one thread that
 * owns every descriptor, before libmicrohttpd has closed it, so that no
 * descriptor is reused under a cut.  Refusals are counted and logged
 * (syncd/listener_log); nothing here fails otherwise.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "cidr.h"
#include "listener_private.h"

#define LISTENER_SWEEP_MS 100
/* a ClientHello fits one TLS record: at most 5 + 16384 octets */
#define LISTENER_GATE_PEEK (5 + 16384)

/* listener_conn_text - an address as text */
static void listener_conn_text(const struct sockaddr *sa, char *out,
			       size_t size)
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

/* listener_conn_unlink - take lc out of the connection list */
static void listener_conn_unlink(struct listener *l, struct listener_conn *lc)
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

/* listener_conn_append - lc at the tail of the connection list */
static void listener_conn_append(struct listener *l, struct listener_conn *lc)
{
	lc->next = NULL;
	lc->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = lc;
	else
		l->head = lc;
	l->tail = lc;
}

/* listener_conn_rephase - a request ended: the next has header_timeout */
void listener_conn_rephase(struct listener *l, struct listener_conn *lc)
{
	lc->headers_done = 0;
	lc->phase_ms = listener_now_ms();
	listener_conn_unlink(l, lc);
	listener_conn_append(l, lc);
}

/*
 * listener_conn_dead - a gated connection whose descriptor is closed
 * leaves the table and its address's count; the record is freed after
 * this turn of the loop, as an event may still name it
 */
static void listener_conn_dead(struct listener *l, struct listener_conn *lc)
{
	lc->fd = -1;
	lc->src.kind = LISTENER_DEAD;
	listener_conn_unlink(l, lc);
	l->nconn--;
	listener_peer_put(l, lc->peer);
	lc->peer = NULL;
	lc->next = l->dead;
	l->dead = lc;
}

/* listener_conn_drop - close a gated connection (it is ours alone) */
static void listener_conn_drop(struct listener *l, struct listener_conn *lc)
{
	(void)epoll_ctl(l->ep, EPOLL_CTL_DEL, lc->fd, NULL);
	close(lc->fd);
	listener_conn_dead(l, lc);
}

/* listener_conn_bury - free the records dropped this turn */
void listener_conn_bury(struct listener *l)
{
	struct listener_conn *lc;

	while ((lc = l->dead) != NULL) {
		l->dead = lc->next;
		free(lc);
	}
}

/* listener_conn_handoff - a gated connection goes to libmicrohttpd */
static void listener_conn_handoff(struct listener *l, struct listener_conn *lc)
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
		listener_conn_dead(l, lc);
	}
}

/*
 * listener_conn_gate - data on a gated connection: hand it over once the first
 * TLS record is complete (or is not TLS: libmicrohttpd refuses that); drop
 * it at end of file.  Edge-triggered: a client that stops half-way costs
 * nothing until it sends again.
 */
void listener_conn_gate(struct listener *l, struct listener_conn *lc)
{
	unsigned char buf[LISTENER_GATE_PEEK];
	size_t need;
	ssize_t n;

	n = recv(lc->fd, buf, sizeof(buf), MSG_PEEK | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		listener_conn_drop(l, lc);
		return;
	}
	if (n < 5 && buf[0] == 0x16)
		return;
	need = buf[0] == 0x16 ? 5 + ((size_t)buf[3] << 8 | buf[4]) : 1;
	if ((size_t)n >= need || (size_t)n == sizeof(buf))
		listener_conn_handoff(l, lc);
}

/* listener_conn_cut - end a connection now (libmicrohttpd then closes it) */
static void listener_conn_cut(struct listener *l, struct listener_conn *lc)
{
	if (lc->src.kind == LISTENER_GATED) {
		listener_conn_drop(l, lc);
		return;
	}
	if (lc->cut)
		return;
	lc->cut = 1;
	l->ncut++;
	(void)shutdown(lc->fd, SHUT_RDWR);
}

/*
 * listener_conn_evict - make room: cut a connection that has sent no request
 * yet, from the address holding the most connections, the oldest of those;
 * so an attacker spread over many addresses loses its own connections
 * before a primary's single fresh one
 */
static int listener_conn_evict(struct listener *l)
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
	listener_log_refusal(
	    l, LISTENER_EVICTED,
	    "connection from %s closed to make room: %" PRIu64
	    " connections, %u from this address, no request yet",
	    victim->peer_text, l->max_connections, victim->peer->n);
	listener_conn_cut(l, victim);
	return 0;
}

/* listener_conn_admit - the checks for one accepted socket, then libmicrohttpd
 */
void listener_conn_admit(struct listener *l, int fd,
			 const struct sockaddr_storage *ss, socklen_t len,
			 int status_port)
{
	const struct syncd_config *cfg = l->cfg;
	unsigned char key[16];
	char text[INET6_ADDRSTRLEN];
	struct listener_peer *p = NULL;
	struct listener_conn *lc;
	struct epoll_event ev;

	cidr_key((const struct sockaddr *)ss, key);
	listener_conn_text((const struct sockaddr *)ss, text, sizeof(text));
	if (!status_port && cfg->nallow > 0 &&
	    !cidr_match(cfg->allow, cfg->nallow, key)) {
		listener_log_refusal(l, LISTENER_ALLOW,
				     "connection from %s refused: not in allow",
				     text);
		goto refuse;
	}
	/*
	 * One IPv6 client commonly holds a whole /64: count it as one
	 * address (IPv4, mapped, keeps all 32 bits).
	 */
	if (!(key[10] == 0xff && key[11] == 0xff &&
	      memcmp(key, "\0\0\0\0\0\0\0\0\0\0", 10) == 0))
		memset(key + 8, 0, 8);
	p = listener_peer_get(l, key);
	if (p == NULL)
		goto refuse;
	if (p->n >= cfg->max_per_address) {
		listener_log_refusal(l, LISTENER_PER_ADDRESS,
				     "connection from %s refused: it has %u "
				     "connections (max_per_address)",
				     text, p->n);
		goto refuse;
	}
	if (l->nconn - l->ncut >= l->max_connections &&
	    listener_conn_evict(l) < 0) {
		listener_log_refusal(l, LISTENER_FULL,
				     "connection from %s refused: %" PRIu64
				     " connections (max_connections)",
				     text, l->max_connections);
		goto refuse;
	}
	lc = calloc(1, sizeof(*lc));
	if (lc == NULL || len > sizeof(lc->addr)) {
		free(lc);
		goto refuse;
	}
	lc->fd = fd;
	lc->peer = p;
	lc->status_port = status_port;
	lc->phase_ms = listener_now_ms();
	memcpy(lc->peer_text, text, sizeof(text));
	memcpy(&lc->addr, ss, len);
	lc->addrlen = len;
	p->n++;
	listener_conn_append(l, lc);
	l->nconn++;
	lc->src.kind = LISTENER_GATED;
	lc->src.fd = fd;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLET | EPOLLRDHUP;
	ev.data.ptr = &lc->src;
	if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) < 0) {
		listener_conn_handoff(l, lc);
		return;
	}
	/* the ClientHello may be there already */
	listener_conn_gate(l, lc);
	return;
refuse:
	/* a count made for this connection goes again when it was the only */
	if (p != NULL) {
		p->n++;
		listener_peer_put(l, p);
	}
	close(fd);
}

/*
 * listener_conn_sweep - cut connections past their header deadline.  The list
 * is in phase order (a connection moves to the tail when its phase
 * restarts), so the walk ends at the first one still in time.
 */
void listener_conn_sweep(struct listener *l, uint64_t now)
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
		listener_log_refusal(l, LISTENER_DEADLINE,
				     "connection from %s closed: no complete "
				     "request within %" PRIu64 " ms",
				     lc->peer_text, limit);
		listener_conn_cut(l, lc);
	}
}

/* listener_conn_notify - libmicrohttpd starts or closes a connection */
void listener_conn_notify(void *cls, struct MHD_Connection *c,
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
	listener_conn_unlink(l, lc);
	l->nconn--;
	if (lc->cut)
		l->ncut--;
	listener_peer_put(l, lc->peer);
	free(lc);
}

/* listener_conn_of - the connection record of c */
struct listener_conn *listener_conn_of(struct MHD_Connection *c)
{
	const union MHD_ConnectionInfo *ci;

	ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	return ci != NULL ? ci->socket_context : NULL;
}
