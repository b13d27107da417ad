/*
 * listener_private - what the files of the network process share
 *
 * One struct listener per network process, used by one thread: the
 * listening sockets, the connection table (syncd/listener_conn), the
 * per-address counts (syncd/listener_peer), the refusal counters and log
 * window (syncd/listener_log), the requests that wait for the installer
 * (syncd/listener_chan), and the libmicrohttpd daemon whose callbacks are
 * in syncd/listener_http, syncd/listener_push and syncd/listener_status.
 * Nothing here is for code outside the network process: its one public
 * interface is syncd/listener.h.
 */
#ifndef MXSYNC_SYNCD_LISTENER_PRIVATE_H
#define MXSYNC_SYNCD_LISTENER_PRIVATE_H

#include <jansson.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <sodium.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "../formats/buf.h"
#include "channel.h"
#include "config.h"
#include "listener.h"

#define LISTENER_BUCKETS 4096

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

/* the connections of one client address (an IPv6 /64 is one) */
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

/* the network process */
struct listener {
	const struct syncd_config *cfg;
	int push_fd, status_fd;
	char *cert, *key; /* the files' text, NUL-terminated */
	size_t key_len;	  /* octets of key to wipe */
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
uint64_t listener_now_ms(void);

/* listener_log_refusal - count a refusal and log it within the rate limit */
void listener_log_refusal(struct listener *l, enum listener_why why,
			  const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* listener_log_tick - close a log window: one summary of what was skipped */
void listener_log_tick(struct listener *l, uint64_t now);
/* listener_log_why - the name of a refusal reason (metrics, summary) */
const char *listener_log_why(enum listener_why why);

/* listener_peer_get - the count for key, created at 0 when absent */
struct listener_peer *listener_peer_get(struct listener *l,
					const unsigned char key[16]);
/* listener_peer_put - one connection of p fewer; free it at 0 */
void listener_peer_put(struct listener *l, struct listener_peer *p);

/* listener_conn_admit - the checks for one accepted socket; then gated */
void listener_conn_admit(struct listener *l, int fd,
			 const struct sockaddr_storage *ss, socklen_t len,
			 int status_port);
/* listener_conn_gate - data on a gated connection */
void listener_conn_gate(struct listener *l, struct listener_conn *lc);
/* listener_conn_sweep - cut connections past their header deadline */
void listener_conn_sweep(struct listener *l, uint64_t now);
/* listener_conn_bury - free the records dropped this turn */
void listener_conn_bury(struct listener *l);
/* listener_conn_rephase - a request ended: header_timeout from now */
void listener_conn_rephase(struct listener *l, struct listener_conn *lc);
/* listener_conn_notify - libmicrohttpd starts or closes a connection */
void listener_conn_notify(void *cls, struct MHD_Connection *c,
			  void **socket_context,
			  enum MHD_ConnectionNotificationCode code);
/* listener_conn_of - the connection record of c */
struct listener_conn *listener_conn_of(struct MHD_Connection *c);

/* listener_chan_tell - a refusal the listener made itself, for the counters */
void listener_chan_tell(struct listener *l, int status, const char *reason);
/* listener_chan_ask - send r's question and suspend its connection */
int listener_chan_ask(struct listener *l, struct MHD_Connection *c,
		      struct listener_req *r, uint32_t type,
		      int64_t content_length);
/* listener_chan_unwait - r no longer waits for an answer */
void listener_chan_unwait(struct listener *l, struct listener_req *r);
/* listener_chan_answers - read the installer's answers; -1 when it hung up */
int listener_chan_answers(struct listener *l);
/* listener_chan_overdue - answer 503 to questions the installer left open */
void listener_chan_overdue(struct listener *l, uint64_t now);
/* listener_chan_wait_go - block until the installer says the maps are ready */
int listener_chan_wait_go(struct listener *l);

/* listener_http_send - queue a response with a body of type ctype */
enum MHD_Result listener_http_send(struct MHD_Connection *c, int status,
				   const char *ctype, const char *text,
				   int retry);
/* listener_http_json - send a jansson object (stolen) */
enum MHD_Result listener_http_json(struct MHD_Connection *c, int status,
				   json_t *j, int retry);
/* listener_http_error - {"error": msg} */
enum MHD_Result listener_http_error(struct MHD_Connection *c, int status,
				    const char *msg);
/* listener_http_access - libmicrohttpd's request callback */
enum MHD_Result listener_http_access(void *cls, struct MHD_Connection *c,
				     const char *url, const char *method,
				     const char *version,
				     const char *upload_data,
				     size_t *upload_data_size, void **con_cls);
/* listener_http_completed - a request ended: free it, restart the deadline */
void listener_http_completed(void *cls, struct MHD_Connection *c,
			     void **con_cls,
			     enum MHD_RequestTerminationCode toe);
/* listener_http_log - libmicrohttpd's own messages */
void listener_http_log(void *cls, const char *fmt, va_list ap);

/* listener_push_body_start - the header stage passed: a memfd for the body */
void listener_push_body_start(struct listener_req *r);
/* listener_push_body - one piece of an accepted body */
void listener_push_body(struct listener_req *r, const char *data, size_t len);
/* listener_push_body_end - seal the memfd and pass it to the installer */
enum MHD_Result listener_push_body_end(struct listener *l,
				       struct MHD_Connection *c,
				       struct listener_req *r);
/* listener_push_refuse - log (rate-limited) and answer a refused push */
enum MHD_Result listener_push_refuse(struct listener *l,
				     struct MHD_Connection *c,
				     struct listener_req *r);
/* listener_push_accepted - log and answer an installed push */
enum MHD_Result listener_push_accepted(struct MHD_Connection *c,
				       struct listener_req *r);

/* listener_status_answer - the installer's status or metrics text */
enum MHD_Result listener_status_answer(struct listener *l,
				       struct MHD_Connection *c,
				       struct listener_req *r);

#endif
