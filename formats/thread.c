/*
 * thread - one job on a second thread, with every signal blocked (see
 * thread.h)
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>

#include "thread.h"

/* thread_spawn - start fn(arg) with every signal blocked; 0 or an errno */
static int thread_spawn(pthread_t *th, const pthread_attr_t *attr,
			void *(*fn)(void *), void *arg)
{
	sigset_t all, old;
	int rc;

	sigfillset(&all);
	rc = pthread_sigmask(SIG_SETMASK, &all, &old);
	if (rc != 0)
		return rc;
	rc = pthread_create(th, attr, fn, arg);
	(void)pthread_sigmask(SIG_SETMASK, &old, NULL);
	return rc;
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;

	t->fn(t->arg);
	return NULL;
}

void thread_start(struct thread *t, void (*fn)(void *arg), void *arg)
{
	t->fn = fn;
	t->arg = arg;
	t->started = thread_spawn(&t->th, NULL, thread_main, t) == 0;
	if (!t->started)
		fn(arg);
}

struct thread_detached {
	void (*fn)(void *arg);
	void *arg;
};

static void *thread_detached_main(void *arg)
{
	struct thread_detached d = *(struct thread_detached *)arg;

	free(arg);
	d.fn(d.arg);
	return NULL;
}

int thread_detach(void (*fn)(void *arg), void *arg)
{
	struct thread_detached *d;
	pthread_attr_t attr;
	pthread_t th;
	int rc;

	d = malloc(sizeof(*d));
	if (d == NULL)
		return -1;
	d->fn = fn;
	d->arg = arg;
	rc = pthread_attr_init(&attr);
	if (rc == 0) {
		rc =
		    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (rc == 0)
			rc = thread_spawn(&th, &attr, thread_detached_main, d);
		(void)pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		free(d);
		errno = rc;
		return -1;
	}
	return 0;
}

void thread_wait(struct thread *t)
{
	if (t->started) {
		(void)pthread_join(t->th, NULL);
		t->started = 0;
	}
}
