/*
 * push - send signed snapshots to backups over HTTPS, all at once
 *
 * One libcurl multi handle carries every request; the daemon waits on it
 * together with its own descriptors (push_wait's extra fds), the one-shot
 * push command simply loops on push_wait until nothing runs.  Each request
 * is POST <url>v1/push with the manifest and signature in headers and the
 * body as application/octet-stream.
 *
 * Cost: a body is shared, never copied: every request that sends the same
 * snapshot holds a reference to one push_body, so N backups cost one body
 * in memory and no per-backup pass over it.
 *
 * Security: every peer is verified: with ca_file (peer and host name), with
 * pinned_pubkey (with a pin and no CA, the pin is the verification), or with
 * the system CA store when neither is set.  Only https is allowed, also on
 * redirects (which are not followed).
 */
#ifndef MXSYNC_AGENT_PUSH_H
#define MXSYNC_AGENT_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "../formats/err.h"
#include "../formats/manifest.h"
#include "../formats/snapshot.h"
#include "../formats/state.h"
#include "config.h"
#include "export.h"

enum push_kind {
	PUSH_OK,	  /* 200: acknowledged */
	PUSH_CONFLICT,	  /* 409: serial not newer or base unknown */
	PUSH_REFUSED,	  /* 400, 403, 413, 422 and other 4xx */
	PUSH_UNREACHABLE, /* connect/TLS error, timeout, 5xx, 503 */
};

struct push_result {
	enum push_kind kind;
	long status;	 /* HTTP status, 0 when none */
	uint64_t serial; /* 200: acknowledged; 409: the backup's claim */
	unsigned char hash[STATE_HASH_LEN]; /* 200: state hash */
	int have_hash;
	/*
	 * 409: the manifest the backup says it holds, with its signature, as
	 * the backup sent them (unverified: sync checks them with the
	 * agent's own key before it believes any serial)
	 */
	char held[MANIFEST_MAX + 1];
	size_t held_len;
	unsigned char held_sig[SNAPSHOT_SIG_LEN];
	int have_held;
	long retry_after; /* 503: seconds, 0 when absent */
	uint64_t bytes;	  /* body octets sent */
	double seconds;
	char msg[ERR_LEN]; /* why, for everything but PUSH_OK */
	char reason[32];   /* the backup's refusal token ("too_large"), or "" */
};

struct pusher;
struct push_req;

/*
 * push_body - a snapshot body shared by the requests sending it, reference
 * counted.  push_body_new takes data (malloc'd) and frees it with the last
 * reference; NULL when out of memory (data is freed then too).
 */
struct push_body;
struct push_body *push_body_new(char *data, size_t len);
struct push_body *push_body_ref(struct push_body *b);
void push_body_unref(struct push_body *b);
size_t push_body_len(const struct push_body *b);
const char *push_body_data(const struct push_body *b);

struct pusher *push_new(struct err *err);
void push_free(struct pusher *p); /* cancels what still runs */

/*
 * push_start - begin sending snap's manifest and signature with body to
 * backup b; user comes back with the result.  The request takes its own
 * reference to body (snap.body is not read) and copies the manifest: the
 * caller may drop both at once.
 */
struct push_req *push_start(struct pusher *p, const struct agent_backup *b,
			    const struct export_snap *snap,
			    struct push_body *body, void *user,
			    struct err *err);

/* push_running - requests still in progress */
int push_running(const struct pusher *p);

/*
 * push_wait - drive transfers and wait up to timeout_ms for progress or for
 * one of the extra descriptors (their revents are filled in).
 */
int push_wait(struct pusher *p, struct curl_waitfd *extra, unsigned nextra,
	      int timeout_ms, struct err *err);

/*
 * push_done - one finished request: fills *res and returns its user
 * pointer (the request itself is freed); NULL when none is finished.
 */
void *push_done(struct pusher *p, struct push_result *res);

/* push_cancel - stop every request whose user pointer is user */
void push_cancel(struct pusher *p, void *user);

/* push_kind_name - "ok", "conflict", "refused", "unreachable" */
const char *push_kind_name(enum push_kind k);

#endif
