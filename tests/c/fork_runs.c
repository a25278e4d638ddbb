/*
 * A forked child never hands out nicknames its parent had already claimed.
 *
 *   fork_runs NAME
 *
 * NAME is served with --test-tag. The parent pulls 4 nicknames one by one:
 * its claims grow (1, 2, then 4 at once), so at the fork its thread holds
 * a run of claimed nicknames not yet handed out. The child then pulls 40
 * on the inherited handle (allowed: the parent is single-threaded) and
 * exits; the parent waits for it and pulls 40 more, starting with its run.
 * Every nickname is printed as "parent NICKNAME" or "child NICKNAME", one
 * write(2) per line; the test checks that none comes twice. Exits 0, or 1
 * with a message.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nickpool.h"

static int pull(nickpool_client *np, const char *who, int count) {
  for (int i = 0; i < count; i++) {
    char buf[NICKPOOL_MAX_NICKNAME_LEN + 1];
    size_t len = 0;
    nickpool_status st = nickpool_next(np, buf, sizeof buf, &len, 5000);
    if (st != NICKPOOL_OK) {
      fprintf(stderr, "fork_runs %s: %s\n", who, nickpool_status_str(st));
      return 1;
    }
    char line[sizeof buf + 16];
    int n = snprintf(line, sizeof line, "%s %s\n", who, buf);
    if (n <= 0 || write(STDOUT_FILENO, line, (size_t)n) != n) {
      perror("fork_runs: write");
      return 1;
    }
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: fork_runs NAME\n");
    return 2;
  }
  nickpool_client *np = NULL;
  nickpool_status st = nickpool_open(argv[1], &np);
  if (st != NICKPOOL_OK) {
    fprintf(stderr, "fork_runs: %s\n", nickpool_status_str(st));
    return 1;
  }
  if (pull(np, "parent", 4) != 0) {
    return 1;
  }
  pid_t child = fork();
  if (child < 0) {
    perror("fork_runs: fork");
    return 1;
  }
  if (child == 0) {
    int rc = pull(np, "child", 40);
    nickpool_close(np);
    _exit(rc);
  }
  int status = 0;
  if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    fprintf(stderr, "fork_runs: the child failed\n");
    return 1;
  }
  int rc = pull(np, "parent", 40);
  nickpool_close(np);
  return rc;
}
