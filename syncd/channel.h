/*
 * channel - the socketpair between mxsyncd's network process and its
 * installer
 *
 * One message per datagram (SOCK_SEQPACKET): a fixed header, then the
 * text1 and text2 octets it announces, and at most one file descriptor
 * (SCM_RIGHTS).  The network process sends requests:
 *
 *	CHANNEL_CHECK	text1 manifest header, text2 signature header,
 *			content_length (-1 when absent): the header stage
 *	CHANNEL_INSTALL	the same headers and a sealed memfd with the body
 *	CHANNEL_STATUS, CHANNEL_METRICS	the texts for GET
 *	CHANNEL_COUNT	a refusal the network process made itself
 *
 * and the installer answers each but COUNT with CHANNEL_ANSWER of the same
 * id: status, reason, message, what it decoded of the manifest, and for an
 * install the result; text1 is the status or metrics text, or, with a
 * 409, the origin's stored manifest and text2 its signature.  CHANNEL_GO,
 * from the installer, lets the network process start accepting.
 *
 * Security: the receiver trusts nothing in a message: lengths are checked
 * against the datagram, strings are cut at their fields, a descriptor
 * where none belongs is closed.  Nothing here logs.
 */
#ifndef MXSYNC_SYNCD_CHANNEL_H
#define MXSYNC_SYNCD_CHANNEL_H

#include <stddef.h>
#include <stdint.h>

#include "../formats/err.h"
#include "../formats/manifest.h"
#include "../formats/state.h"

/* the largest datagram: below the default socket buffer size */
#define CHANNEL_MAX (160 * 1024)

enum channel_type {
	CHANNEL_CHECK = 1,
	CHANNEL_INSTALL,
	CHANNEL_STATUS,
	CHANNEL_METRICS,
	CHANNEL_COUNT,
	CHANNEL_GO,
	CHANNEL_ANSWER
};

struct channel_msg {
	uint32_t type;
	uint32_t len1, len2;
	int32_t status; /* HTTP status of an answer or a count */
	uint64_t id;
	int64_t content_length;
	char reason[32];
	char msg[ERR_LEN];
	/* what the installer decoded of the manifest (answers) */
	char origin[MANIFEST_ORIGIN_MAX + 1];
	char key_id[64];
	uint64_t serial;     /* the manifest's */
	uint64_t cur_serial; /* the origin's current serial */
	uint64_t body_size;
	int32_t delta;
	/* an install's result */
	char state_hash[2 * STATE_HASH_LEN + 1];
	uint64_t domains, recipients;
	uint64_t install_ms, verify_ms, maps_ms, store_ms;
};

/* channel_pair - the socketpair, both ends close-on-exec */
int channel_pair(int fds[2], struct err *err);

/*
 * channel_send - one datagram; fd -1 for none.  With nonblock a full
 * socket fails at once (EAGAIN) instead of waiting.
 */
int channel_send(int sock, const struct channel_msg *m, const void *text1,
		 const void *text2, int fd, int nonblock, struct err *err);

/*
 * channel_recv - one datagram into *m; its texts are malloc'd and NUL
 * terminated in *text1_r, *text2_r (NULL when empty), a passed descriptor
 * in *fd_r (-1 if none).  Returns 1, 0 at end of file, -1 on error (also
 * for a malformed datagram); nonblock returns -1 with errno EAGAIN when
 * nothing is waiting.
 */
int channel_recv(int sock, struct channel_msg *m, char **text1_r,
		 char **text2_r, int *fd_r, int nonblock, struct err *err);

#endif
