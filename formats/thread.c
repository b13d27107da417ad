/*
 * thread - one job on a second thread, and a loop over the cores, each
 * thread with every signal blocked (see thread.h)
 */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

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

#ifndef MXSYNC_PARALLEL
#define MXSYNC_PARALLEL 1
#endif

/* one thread_for() loop: the next index to take, shared by its threads */
struct thread_loop {
	atomic_size_t next;
	size_t n;
	void (*fn)(void *arg, size_t i);
	void *arg;
};

/* thread_loop_run - take indexes until none is left */
static void thread_loop_run(void *arg)
{
	struct thread_loop *l = arg;
	size_t i;

	while ((i = atomic_fetch_add(&l->next, 1)) < l->n)
		l->fn(l->arg, i);
}

void thread_for(size_t n, void (*fn)(void *arg, size_t i), void *arg)
{
	struct thread th[THREAD_FOR_MAX - 1];
	struct thread_loop l;
	long cores = MXSYNC_PARALLEL ? sysconf(_SC_NPROCESSORS_ONLN) : 1;
	size_t k, extra;

	extra = cores > THREAD_FOR_MAX ? THREAD_FOR_MAX - 1
		: cores > 1	       ? (size_t)cores - 1
				       : 0;
	if (extra > n - (n > 0))
		extra = n - (n > 0);
	atomic_init(&l.next, 0);
	l.n = n;
	l.fn = fn;
	l.arg = arg;
	/* a thread that cannot be had runs its share at once, here */
	for (k = 0; k < extra; k++)
		thread_start(&th[k], thread_loop_run, &l);
	thread_loop_run(&l);
	for (k = 0; k < extra; k++)
		thread_wait(&th[k]);
}
