/*
 * cidr - address prefixes for the "allow" list of the push port
 *
 * cidr_parse() reads white-space or comma separated prefixes such as
 * "192.0.2.0/24 2001:db8::/32 198.51.100.7" (a bare address is a /32 or
 * /128).  IPv4 prefixes also match IPv4-mapped IPv6 peers.  Fails with a
 * message naming the bad word; nothing here logs.
 */
#ifndef MXSYNC_SYNCD_CIDR_H
#define MXSYNC_SYNCD_CIDR_H

#include <stddef.h>
#include <sys/socket.h>

#include "../formats/err.h"

struct cidr {
	unsigned char addr[16]; /* IPv4 as ::ffff:a.b.c.d */
	unsigned bits;		/* of the 128 */
};

/* cidr_parse - text into a malloc'd array *list_r of *n_r prefixes */
int cidr_parse(const char *text, struct cidr **list_r, size_t *n_r,
	       struct err *err);
/* cidr_key - a peer address as the 16 octets prefixes are matched on */
void cidr_key(const struct sockaddr *sa, unsigned char out[16]);
/* cidr_match - 1 when key lies in one of the n prefixes */
int cidr_match(const struct cidr *list, size_t n, const unsigned char key[16]);

#endif
