/*
 * One C program, two Rust static libraries: libnickpool.a and another
 * (built by tests/c_api.rs from a small crate), for
 * two_rust_static_libraries_link_side_by_side.
 *
 *   two_rust_libs NAME
 *
 * Prints "nickpool: NICKNAME" (pulled from NAME) and "other: 42", exit 0.
 */
#include <stdint.h>
#include <stdio.h>

#include "nickpool.h"

uint32_t other_rust_lib_answer(void);

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: two_rust_libs NAME\n");
    return 2;
  }
  nickpool_client *np;
  char nick[NICKPOOL_MAX_NICKNAME_LEN + 1];
  size_t len;
  if (nickpool_open(argv[1], &np) != NICKPOOL_OK ||
      nickpool_next(np, nick, sizeof nick, &len, 5000) != NICKPOOL_OK) {
    fprintf(stderr, "two_rust_libs: %s\n", nickpool_last_error());
    return 1;
  }
  nickpool_close(np);
  printf("nickpool: %s\n", nick);
  printf("other: %u\n", (unsigned)other_rust_lib_answer());
  return 0;
}
