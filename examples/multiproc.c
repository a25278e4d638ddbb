/*
 * multiproc.c: 4 processes pulling from one pool at once.
 *
 * The fork rule: a handle belongs to the process that opened it. Each child
 * opens its own handle after fork(); the parent's handle stays the parent's.
 * (A child may use an inherited handle only if no other thread of the parent
 * was inside a nickpool call on it at the moment of fork, e.g. when the
 * parent is single-threaded. Opening after fork is always right.)
 * Across all processes, every nickname goes to exactly one caller.
 *
 *   cc multiproc.c $(pkg-config --cflags --libs nickpool) -o multiproc
 *   ./multiproc [NAME]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nickpool.h"

#define CHILDREN 4
#define PER_CHILD 100
#define BATCH 16

/* Writes one line with one write(2), so lines of different processes sharing
 * a pipe never interleave. */
static void put_line(const char *text) {
  char line[NICKPOOL_MAX_NICKNAME_LEN + 2];
  int n = snprintf(line, sizeof line, "%s\n", text);
  if (n > 0 && write(STDOUT_FILENO, line, (size_t)n) != n) {
    perror("multiproc: write");
  }
}

/* A child's whole life: its own handle, PER_CHILD nicknames, close. */
static int child(const char *name) {
  nickpool_client *np;
  nickpool_status st = nickpool_open(name, &np);
  if (st != NICKPOOL_OK) {
    fprintf(stderr, "multiproc child %d: %s\n", (int)getpid(), nickpool_status_str(st));
    return 1;
  }
  char buf[BATCH * (NICKPOOL_MAX_NICKNAME_LEN + 1)];
  size_t got = 0;
  while (got < PER_CHILD) {
    size_t want = PER_CHILD - got < BATCH ? PER_CHILD - got : BATCH;
    size_t count;
    st = nickpool_next_batch(np, buf, sizeof buf, want, &count, 2000);
    if (st != NICKPOOL_OK) {
      fprintf(stderr, "multiproc child %d: %s\n", (int)getpid(), nickpool_status_str(st));
      nickpool_close(np);
      return 1;
    }
    const char *p = buf; /* count NUL-terminated strings, back to back */
    for (size_t i = 0; i < count; i++) {
      put_line(p);
      p += strlen(p) + 1;
    }
    got += count;
  }
  nickpool_close(np);
  return 0;
}

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : NULL;
  /* The parent's own handle: checks the daemon up front, reads stats later.
   * The children never touch it. */
  nickpool_client *np;
  nickpool_status st = nickpool_open(name, &np);
  if (st != NICKPOOL_OK) {
    fprintf(stderr, "multiproc: %s\n", nickpool_status_str(st));
    return 1;
  }
  fflush(NULL); /* so children do not inherit unwritten stdio buffers */
  int failed = 0;
  for (int i = 0; i < CHILDREN; i++) {
    pid_t pid = fork();
    if (pid == 0) {
      _exit(child(name));
    }
    if (pid < 0) {
      perror("multiproc: fork");
      failed = 1;
      break;
    }
  }
  int status;
  while (wait(&status) > 0) {
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
      failed = 1;
    }
  }
  struct nickpool_stats stats = {.size = sizeof stats};
  st = nickpool_stats(np, &stats);
  if (st == NICKPOOL_OK) {
    fprintf(stderr, "multiproc: daemon pid %llu has handed out %llu nicknames\n",
            (unsigned long long)stats.daemon_pid, (unsigned long long)stats.consumed);
  } else {
    fprintf(stderr, "multiproc: stats: %s\n", nickpool_status_str(st));
    failed = 1;
  }
  nickpool_close(np);
  return failed;
}
