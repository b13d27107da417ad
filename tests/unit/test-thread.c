/*
 * test-thread - thread_start() runs the job once, on a thread that blocks
 * every signal, and thread_wait() waits for it; thread_detach() runs it
 * once on a thread of its own, with every signal blocked too; thread_for()
 * runs every index once, on more than one thread when there are cores
 */
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../../formats/thread.h"
#include "test.h"

struct test_job {
	pthread_t self;
	int runs, term_blocked, usr1_blocked;
};

static void test_job_run(void *arg)
{
	struct test_job *j = arg;
	sigset_t now;

	j->self = pthread_self();
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	j->term_blocked = sigismember(&now, SIGTERM) == 1;
	j->usr1_blocked = sigismember(&now, SIGUSR1) == 1;
	j->runs++;
}

/* what a detached job reports back under its lock */
struct test_detached {
	pthread_mutex_t lock;
	pthread_cond_t done_cond;
	int done;
	struct test_job j;
};

static void test_detached_run(void *arg)
{
	struct test_detached *d = arg;

	pthread_mutex_lock(&d->lock);
	test_job_run(&d->j);
	d->done = 1;
	pthread_cond_signal(&d->done_cond);
	pthread_mutex_unlock(&d->lock);
}

/* what thread_for() jobs report: runs per index, and threads seen */
#define LOOP_N 1000
struct test_loop {
	atomic_int runs[LOOP_N];
	atomic_int other;   /* a job ran off the caller's thread */
	atomic_int blocked; /* ... with SIGTERM blocked */
	int wait;	    /* index 0 waits for the other thread */
	pthread_t caller;
};

static void test_loop_run(void *arg, size_t i)
{
	struct test_loop *l = arg;
	struct timespec t0, t;
	sigset_t now;

	atomic_fetch_add(&l->runs[i], 1);
	if (!pthread_equal(pthread_self(), l->caller)) {
		pthread_sigmask(SIG_SETMASK, NULL, &now);
		atomic_store(&l->blocked, sigismember(&now, SIGTERM) == 1);
		atomic_store(&l->other, 1);
	}
	/*
	 * Index 0 waits (10 s at most) until some job ran on another thread:
	 * it can only end early when the loop runs on two threads at once.
	 */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (l->wait && i == 0 && !atomic_load(&l->other)) {
		clock_gettime(CLOCK_MONOTONIC, &t);
		if (t.tv_sec - t0.tv_sec >= 10)
			break;
		sched_yield();
	}
}

/* test_loop - thread_for() over n indexes: each ran once */
static void test_loop(size_t n, int want_threads)
{
	static struct test_loop l;
	size_t i, wrong = 0;

	memset(&l, 0, sizeof(l));
	l.caller = pthread_self();
	l.wait = want_threads;
	thread_for(n, test_loop_run, &l);
	for (i = 0; i < LOOP_N; i++)
		wrong += atomic_load(&l.runs[i]) != (i < n ? 1 : 0);
	ok(wrong == 0, "thread_for(%zu): each index ran once", n);
	if (want_threads)
		ok(atomic_load(&l.other) && atomic_load(&l.blocked),
		   "thread_for(%zu): on two threads at once, the other with "
		   "every signal blocked",
		   n);
}

int main(void)
{
	struct test_detached d;
	struct test_job j;
	struct thread t;
	sigset_t now;

	memset(&j, 0, sizeof(j));
	thread_start(&t, test_job_run, &j);
	thread_wait(&t);
	ok(j.runs == 1, "the job ran once");
	ok(!pthread_equal(j.self, pthread_self()), "on another thread");
	ok(j.term_blocked && j.usr1_blocked, "with every signal blocked");
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	ok(sigismember(&now, SIGTERM) == 0, "the caller's mask is as before");
	thread_wait(&t);
	ok(j.runs == 1, "a second wait is a no-op");

	memset(&d, 0, sizeof(d));
	pthread_mutex_init(&d.lock, NULL);
	pthread_cond_init(&d.done_cond, NULL);
	pthread_mutex_lock(&d.lock);
	ok(thread_detach(test_detached_run, &d) == 0, "thread_detach starts");
	while (!d.done)
		pthread_cond_wait(&d.done_cond, &d.lock);
	pthread_mutex_unlock(&d.lock);
	ok(d.j.runs == 1, "the detached job ran once");
	ok(!pthread_equal(d.j.self, pthread_self()), "on another thread");
	ok(d.j.term_blocked && d.j.usr1_blocked, "with every signal blocked");
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	ok(sigismember(&now, SIGTERM) == 0, "the caller's mask is as before");
	pthread_cond_destroy(&d.done_cond);
	pthread_mutex_destroy(&d.lock);

	test_loop(0, 0);
	test_loop(1, 0);
	/* more than one core, and a build with PARALLEL on: two threads */
	test_loop(LOOP_N, MXSYNC_PARALLEL && sysconf(_SC_NPROCESSORS_ONLN) > 1);
	pthread_sigmask(SIG_SETMASK, NULL, &now);
	ok(sigismember(&now, SIGTERM) == 0, "the caller's mask is as before");
	return test_done();
}
