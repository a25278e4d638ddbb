/*
 * threads.c: one handle shared by 8 threads, each pulling 250 nicknames.
 *
 * A handle is thread-safe: every function but nickpool_close() may run on it
 * from any number of threads at once, and each nickname goes to exactly one
 * caller. Close it once, after every thread is done with it.
 *
 *   cc -pthread threads.c $(pkg-config --cflags --libs nickpool) -o threads
 *   ./threads [NAME]
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <stdio.h>

#include "nickpool.h"

#define THREADS 8
#define PER_THREAD 250

struct worker {
  pthread_t thread;
  nickpool_client *np; /* shared, borrowed */
  nickpool_status status;
  char nicks[PER_THREAD][NICKPOOL_MAX_NICKNAME_LEN + 1];
};

static struct worker workers[THREADS];

static void *work(void *arg) {
  struct worker *w = arg;
  w->status = NICKPOOL_OK;
  for (int i = 0; i < PER_THREAD; i++) {
    size_t len;
    nickpool_status st = nickpool_next(w->np, w->nicks[i], sizeof w->nicks[i], &len, 2000);
    if (st != NICKPOOL_OK) {
      w->status = st;
      break;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  nickpool_client *np;
  nickpool_status st = nickpool_open(argc > 1 ? argv[1] : NULL, &np);
  if (st != NICKPOOL_OK) {
    fprintf(stderr, "threads: %s\n", nickpool_status_str(st));
    return 1;
  }
  int started = 0;
  for (; started < THREADS; started++) {
    workers[started].np = np;
    if (pthread_create(&workers[started].thread, NULL, work, &workers[started]) != 0) {
      fprintf(stderr, "threads: pthread_create failed\n");
      break;
    }
  }
  for (int t = 0; t < started; t++) {
    pthread_join(workers[t].thread, NULL);
  }
  nickpool_close(np); /* every thread is done with it */

  int failed = started < THREADS;
  for (int t = 0; t < started; t++) {
    if (workers[t].status != NICKPOOL_OK) {
      fprintf(stderr, "threads: thread %d: %s\n", t, nickpool_status_str(workers[t].status));
      failed = 1;
      continue;
    }
    for (int i = 0; i < PER_THREAD; i++) {
      printf("%s\n", workers[t].nicks[i]);
    }
  }
  return failed;
}
