/*
 * pull.c: open the pool, pull 10 nicknames, print them, close.
 *
 *   cc pull.c $(pkg-config --cflags --libs nickpool) -o pull
 *   ./pull [NAME]        (default: $NICKPOOL_NAME, else /nickpool)
 */
#include <stdio.h>

#include "nickpool.h"

int main(int argc, char **argv) {
  const char *name = argc > 1 ? argv[1] : NULL; /* NULL: the default name */
  nickpool_client *np;
  nickpool_status st = nickpool_open(name, &np);
  if (st != NICKPOOL_OK) {
    fprintf(stderr, "pull: %s\n", nickpool_status_str(st));
    return 1;
  }
  for (int i = 0; i < 10; i++) {
    char nick[NICKPOOL_MAX_NICKNAME_LEN + 1]; /* always big enough */
    size_t len;
    st = nickpool_next(np, nick, sizeof nick, &len, 1000 /* ms */);
    if (st != NICKPOOL_OK) {
      fprintf(stderr, "pull: %s\n", nickpool_status_str(st));
      nickpool_close(np);
      return 1;
    }
    printf("%s\n", nick);
  }
  nickpool_close(np);
  return 0;
}
