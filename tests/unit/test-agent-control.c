/*
 * test-agent-control - the daemon's side of the control protocol
 * (agent/control.c) over real unix sockets: requests are recognised only
 * as whole lines, a bad line is answered "error 2 ..." and closed, "wait"
 * takes its serial, hash and (capped) time, expired clients are answered
 * by what they wait for; and the client side against a listening socket
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/control.h"
#include "test.h"

#define HASH "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

/* pair - a client slot on one end of a socket pair; the peer's end */
static int pair(struct control_client *c)
{
	int sv[2];

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -1;
	c->fd = sv[0];
	return sv[1];
}

/* answer - all the peer reads until the daemon's side closes */
static const char *answer(int peer)
{
	static char buf[512];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1 &&
	       (n = read(peer, buf + len, sizeof(buf) - 1 - len)) > 0)
		len += (size_t)n;
	buf[len] = '\0';
	close(peer);
	return buf;
}

/* request - send text from the peer and let the daemon's side read it */
static int request(struct control_client *c, int peer, const char *text,
		   long long now)
{
	if (write(peer, text, strlen(text)) != (ssize_t)strlen(text))
		return -100;
	return control_read(c, now);
}

static void test_requests(void)
{
	struct control_client c;
	int peer;

	peer = pair(&c);
	ok(request(&c, peer, "status\n", 0) == CONTROL_STATUS, "status");
	control_client_close(&c);
	close(peer);

	peer = pair(&c);
	ok(request(&c, peer, "sync-", 0) == CONTROL_NONE,
	   "half a line is no request yet");
	ok(request(&c, peer, "now\r\n", 0) == CONTROL_SYNC_NOW,
	   "... the rest makes sync-now (CRLF accepted)");
	control_client_close(&c);
	close(peer);

	peer = pair(&c);
	ok(request(&c, peer, "sync-now allow-shrink\n", 0) ==
	       CONTROL_SYNC_NOW_SHRINK,
	   "sync-now allow-shrink");
	control_client_close(&c);
	close(peer);

	peer = pair(&c);
	ok(request(&c, peer, "wait 7 " HASH " 1500\n", 1000) == CONTROL_WAIT,
	   "wait");
	ok(c.waiting && c.wserial == 7 && strcmp(c.whash, HASH) == 0,
	   "... holds its serial and hash");
	ok(c.deadline == 2500, "... and answers within MS");
	ok(control_expire(&c, 2500) == 0, "not expired at its deadline");
	ok(control_expire(&c, 2501) == 1, "expired after it");
	is_str(answer(peer), "lag\n", "... a waiting client hears lag");
	ok(c.fd == -1, "... and its slot is free");

	peer = pair(&c);
	ok(request(&c, peer, "wait 1 " HASH " 999999999999\n", 0) ==
	       CONTROL_WAIT,
	   "wait with a very long time");
	ok(c.deadline == CONTROL_WAIT_MAX_MS, "... waits a day at most");
	control_client_close(&c);
	close(peer);

	peer = pair(&c);
	control_hold(&c, 10);
	ok(control_expire(&c, 11) == 1, "a held sync-now expires");
	is_str(answer(peer), "error 75 sources did not settle in time\n",
	       "... answered error 75");

	peer = pair(&c);
	c.deadline = 5;
	ok(control_expire(&c, 6) == 1, "a silent client expires");
	is_str(answer(peer), "", "... closed without a word");
}

static void test_refusals(void)
{
	static const struct {
		const char *line, *reply, *name;
	} bad[] = {
	    {"wait 7 abc 10\n", "error 2 usage: wait SERIAL HASH MS\n",
	     "a wait with a short hash"},
	    {"wait 7 " HASH "\n", "error 2 usage: wait SERIAL HASH MS\n",
	     "a wait without MS"},
	    {"wait 7 " HASH " 10 x\n", "error 2 usage: wait SERIAL HASH MS\n",
	     "a wait with trailing words"},
	    {"sync-now please\n", "error 2 unknown command\n",
	     "sync-now with another word"},
	    {"STATUS\n", "error 2 unknown command\n", "a command in capitals"},
	};
	struct control_client c;
	char longline[CONTROL_LINE_MAX + 8];
	size_t i;
	int peer;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		peer = pair(&c);
		ok(request(&c, peer, bad[i].line, 0) == CONTROL_NONE, "%s",
		   bad[i].name);
		is_str(answer(peer), bad[i].reply, "... answered: %.*s",
		       (int)strcspn(bad[i].reply, "\n"), bad[i].reply);
		ok(c.fd == -1, "... and closed");
	}
	memset(longline, 'x', sizeof(longline) - 1);
	longline[sizeof(longline) - 1] = '\0';
	peer = pair(&c);
	ok(request(&c, peer, longline, 0) == CONTROL_NONE,
	   "a line longer than CONTROL_LINE_MAX");
	is_str(answer(peer), "error 2 line too long\n",
	       "... answered: line too long");
}

static void test_socket(const char *dir)
{
	struct control_client clients[CONTROL_CLIENTS + 1];
	char path[256], *reply = NULL;
	const char *warning;
	struct err err;
	int lfd, fd, st;
	size_t i, used;
	pid_t pid;

	snprintf(path, sizeof(path), "%s/file", dir);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	ok(control_listen(path, "root", &warning, &err) < 0,
	   "a path that is not a socket is not replaced");
	has_str(err.msg, "exists and is not a socket", "... saying so");

	snprintf(path, sizeof(path), "%s/sock", dir);
	ok(control_request(path, "status\n", 1000, &reply, &err) < 0,
	   "no daemon: the request fails");
	has_str(err.msg, "connect(", "... naming connect");

	ok((lfd = control_listen(path, "no-such-group-here", &warning, &err)) >=
	       0,
	   "listen");
	ok(warning != NULL, "... warns of a missing control_group");
	for (i = 0; i < CONTROL_CLIENTS + 1; i++)
		clients[i].fd = -1;
	pid = fork();
	if (pid == 0) {
		/* the daemon's side: one request, answered */
		struct control_client *c = &clients[0];

		for (;;) {
			control_accept(lfd, clients, 1, 0);
			if (c->fd >= 0 && control_read(c, 0) == CONTROL_STATUS)
				break;
			usleep(10000);
		}
		control_reply(c, "{\"running\":true}");
		_exit(0);
	}
	ok(control_request(path, "status\n", 10000, &reply, &err) == 0,
	   "a request through the socket");
	is_str(reply, "{\"running\":true}", "... gets the whole reply");
	free(reply);
	waitpid(pid, &st, 0);

	/* CONTROL_CLIENTS at once; the next is closed at once */
	for (i = 0; i < CONTROL_CLIENTS + 1; i++) {
		struct sockaddr_un sa;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		if (strlen(path) >= sizeof(sa.sun_path))
			break;
		memcpy(sa.sun_path, path, strlen(path) + 1);
		clients[i].fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		connect(clients[i].fd, (struct sockaddr *)&sa, sizeof(sa));
	}
	{
		struct control_client slots[CONTROL_CLIENTS];

		for (i = 0; i < CONTROL_CLIENTS; i++)
			slots[i].fd = -1;
		control_accept(lfd, slots, CONTROL_CLIENTS, 100);
		for (i = 0, used = 0; i < CONTROL_CLIENTS; i++)
			if (slots[i].fd >= 0 &&
			    slots[i].deadline == 100 + CONTROL_CLIENT_MS)
				used++;
		ok(used == CONTROL_CLIENTS,
		   "every slot taken, with the request deadline");
		is_str(answer(clients[CONTROL_CLIENTS].fd), "",
		       "... the one too many is closed");
		for (i = 0; i < CONTROL_CLIENTS; i++) {
			control_client_close(&slots[i]);
			close(clients[i].fd);
		}
	}
	close(lfd);
	unlink(path);
}

int main(void)
{
	char dir[64];

	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/test-control.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	test_requests();
	test_refusals();
	test_socket(dir);
	{
		char p[128];

		snprintf(p, sizeof(p), "%s/file", dir);
		unlink(p);
	}
	rmdir(dir);
	printf("1..%d\n", test_n);
	return test_failed != 0;
}
