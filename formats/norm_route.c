/*
 * norm_route - what a route in transport(5) may be: norm_route() (norm.h)
 * checks a nexthop a backup would install against the transports it
 * allows, with the host names of norm.c's rules (norm_impl.h).
 *
 * Security: input is untrusted; every length is checked before it is used
 * and values shown in messages are escaped and cut short.
 */
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "conf.h"
#include "norm.h"
#include "norm_impl.h"

/* norm_route_word - is w (n octets) one of the blank-separated words? */
static int norm_route_word(const char *list, const char *w, size_t n)
{
	const char *p = list, *v;
	size_t k;

	while ((v = conf_words_next(&p, &k)) != NULL)
		if (k == n && memcmp(v, w, n) == 0)
			return 1;
	return 0;
}

/* norm_route_port - a port number 1..65535 or a service name */
static int norm_route_port(const char *s, size_t n)
{
	size_t i;
	unsigned long v = 0;
	int digits = 1;

	if (n == 0 || n > 32)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= '0' && c <= '9')
			v = v * 10 + (unsigned long)(c - '0');
		else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			 (c == '-' && i > 0))
			digits = 0;
		else
			return 0;
	}
	return digits ? v >= 1 && v <= 65535 : 1;
}

/* norm_route_host - a host name, or in brackets a host name or address */
static int norm_route_host(const char *s, size_t n, int bracketed)
{
	char buf[NORM_BUF_SIZE];
	unsigned char addr[16];
	struct err e;
	size_t i;

	if (n == 0 || n >= sizeof(buf))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] >= 0x80 || s[i] == ' ')
			return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	if (bracketed) {
		if (n > 5 && strncasecmp(buf, "ipv6:", 5) == 0)
			return inet_pton(AF_INET6, buf + 5, addr) == 1;
		if (inet_pton(AF_INET, buf, addr) == 1 ||
		    inet_pton(AF_INET6, buf, addr) == 1)
			return 1;
	}
	return norm_hostname(buf, n, buf, n, &e) == 0;
}

/*
 * norm_route_dest - DESTINATION of transport(5): empty, HOST, HOST:PORT,
 * [HOST], [HOST]:PORT; with local_sockets also unix:/PATH and inet:DEST
 */
static int norm_route_dest(const char *s, size_t n, int local_sockets)
{
	const char *close, *colon;
	size_t i;

	if (n == 0)
		return 1;
	if (local_sockets && n > 6 && memcmp(s, "unix:/", 6) == 0) {
		for (i = 5; i < n; i++) {
			char c = s[i];

			if (!((c >= 'a' && c <= 'z') ||
			      (c >= 'A' && c <= 'Z') ||
			      (c >= '0' && c <= '9') || c == '/' || c == '.' ||
			      c == '-' || c == '_'))
				return 0;
		}
		return memmem(s, n, "/../", 4) == NULL;
	}
	if (local_sockets && n > 5 && memcmp(s, "inet:", 5) == 0) {
		s += 5;
		n -= 5;
	}
	if (s[0] == '[') {
		close = memchr(s, ']', n);
		if (close == NULL)
			return 0;
		if (!norm_route_host(s + 1, (size_t)(close - s - 1), 1))
			return 0;
		i = (size_t)(close - s) + 1;
		if (i == n)
			return 1;
		return s[i] == ':' && norm_route_port(s + i + 1, n - i - 1);
	}
	colon = memchr(s, ':', n);
	if (colon == NULL)
		return norm_route_host(s, n, 0);
	return norm_route_host(s, (size_t)(colon - s), 0) &&
	       norm_route_port(colon + 1, n - (size_t)(colon - s) - 1);
}

int norm_route(const char *in, size_t len, const char *transports,
	       struct err *err)
{
	char show[NORM_SHOW_MAX * 4 + 8];
	const char *colon;
	size_t tlen;

	if (norm_nexthop(in, len, err) < 0)
		return -1;
	colon = memchr(in, ':', len);
	tlen = colon != NULL ? (size_t)(colon - in) : len;
	if (tlen == 0 || !norm_route_word(transports, in, tlen))
		return err_set(err,
			       "transport \"%.*s\" of nexthop \"%s\" is not "
			       "allowed (transports = %s)",
			       tlen > NORM_SHOW_MAX ? NORM_SHOW_MAX : (int)tlen,
			       in, norm_show(in, len, show, sizeof(show)),
			       transports);
	if (colon != NULL &&
	    !norm_route_dest(colon + 1, len - tlen - 1,
			     tlen == 4 && memcmp(in, "lmtp", 4) == 0))
		return err_set(err,
			       "malformed nexthop \"%s\" (want "
			       "transport:host, transport:host:port, "
			       "transport:[host] or transport:[host]:port)",
			       norm_show(in, len, show, sizeof(show)));
	return 0;
}
