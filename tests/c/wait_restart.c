/*
 * A client blocked with NICKPOOL_WAIT_FOREVER rides through a daemon's
 * kill -9 and restart, for tests/restart.rs.
 *
 *   wait_restart NAME FIRST SECOND
 *
 * NAME is served by a daemon whose every nickname is FIRST. The program
 * pulls one (it must be FIRST), prints "got FIRST" and waits for a line on
 * stdin; meanwhile the test kills the daemon. Then it pulls with
 * NICKPOOL_WAIT_FOREVER on the same handle: what the dead daemon left in
 * its ring (FIRST, at most 64), then it blocks until the test starts a new
 * daemon whose nicknames are SECOND, prints "got SECOND" and exits 0. Any
 * other status or nickname: a message on stderr and exit 1.
 */
#include <stdio.h>
#include <string.h>

#include "nickpool.h"

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: wait_restart NAME FIRST SECOND\n");
    return 2;
  }
  const char *first = argv[2];
  const char *second = argv[3];
  nickpool_client *np;
  if (nickpool_open(argv[1], &np) != NICKPOOL_OK) {
    fprintf(stderr, "wait_restart: %s\n", nickpool_last_error());
    return 1;
  }
  char nick[NICKPOOL_MAX_NICKNAME_LEN + 1];
  size_t len;
  if (nickpool_next(np, nick, sizeof nick, &len, NICKPOOL_WAIT_FOREVER) != NICKPOOL_OK ||
      strcmp(nick, first) != 0) {
    fprintf(stderr, "wait_restart: first pull: '%s' (%s)\n", nick, nickpool_last_error());
    return 1;
  }
  printf("got %s\n", nick);
  fflush(stdout);

  char line[16];
  if (fgets(line, sizeof line, stdin) == NULL) {
    fprintf(stderr, "wait_restart: no go-ahead on stdin\n");
    return 1;
  }
  for (int leftovers = 0;; leftovers++) {
    nickpool_status st = nickpool_next(np, nick, sizeof nick, &len, NICKPOOL_WAIT_FOREVER);
    if (st != NICKPOOL_OK) {
      fprintf(stderr, "wait_restart: status %u: %s\n", (unsigned)st, nickpool_last_error());
      return 1;
    }
    if (strcmp(nick, second) == 0) {
      break;
    }
    if (strcmp(nick, first) != 0 || leftovers >= 64) {
      fprintf(stderr, "wait_restart: unexpected '%s' after %d leftovers\n", nick, leftovers);
      return 1;
    }
  }
  printf("got %s\n", nick);
  nickpool_close(np);
  return 0;
}
