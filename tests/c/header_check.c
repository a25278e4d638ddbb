/*
 * Compiles as C99 and as C++11 (-Wall -Wextra -Werror -pedantic): the header
 * is self-contained, guarded, and declares exactly the contract's names,
 * numbers and signatures. Run, it checks the library's ABI version and that
 * the library's release is the header's (NICKPOOL_VERSION_* against
 * nickpool_version()).
 */
#include "nickpool.h"
#include "nickpool.h" /* the include guard holds */

#include <stdio.h>
#include <string.h>

/* Compile-time checks that work in C99 and C++11 alike. */
#define CHECK(name, cond) typedef char check_##name[(cond) ? 1 : -1]

CHECK(ok, NICKPOOL_OK == 0);
CHECK(empty, NICKPOOL_EMPTY == 1);
CHECK(buffer_too_small, NICKPOOL_BUFFER_TOO_SMALL == 2);
CHECK(not_running, NICKPOOL_NOT_RUNNING == 3);
CHECK(incompatible, NICKPOOL_INCOMPATIBLE == 4);
CHECK(permission_denied, NICKPOOL_PERMISSION_DENIED == 5);
CHECK(daemon_gone, NICKPOOL_DAEMON_GONE == 6);
CHECK(exhausted, NICKPOOL_EXHAUSTED == 7);
CHECK(invalid_argument, NICKPOOL_INVALID_ARGUMENT == 8);
CHECK(io_error, NICKPOOL_IO_ERROR == 9);
CHECK(internal_error, NICKPOOL_INTERNAL_ERROR == 10);
CHECK(wait_forever, NICKPOOL_WAIT_FOREVER == 0xFFFFFFFFu);
CHECK(max_len, NICKPOOL_MAX_NICKNAME_LEN == 55);
CHECK(abi, NICKPOOL_ABI_VERSION == 1);
CHECK(status_width, sizeof(nickpool_status) == 4);
CHECK(version_major_is_abi, NICKPOOL_VERSION_MAJOR == NICKPOOL_ABI_VERSION);
CHECK(version_1_1_or_later, NICKPOOL_VERSION_MAJOR == 1 && NICKPOOL_VERSION_MINOR >= 1);

/* The exact signatures: these initialisations fail to compile otherwise. */
static uint32_t (*const abi_fn)(void) = nickpool_abi_version;
static nickpool_status (*const open_fn)(const char *, nickpool_client **) = nickpool_open;
static void (*const close_fn)(nickpool_client *) = nickpool_close;
static nickpool_status (*const next_fn)(nickpool_client *, char *, size_t, size_t *, uint32_t) =
    nickpool_next;
static nickpool_status (*const batch_fn)(nickpool_client *, char *, size_t, size_t, size_t *,
                                         uint32_t) = nickpool_next_batch;
static nickpool_status (*const stats_fn)(nickpool_client *, struct nickpool_stats *) =
    nickpool_stats;
static const char *(*const str_fn)(nickpool_status) = nickpool_status_str;
static const char *(*const last_error_fn)(void) = nickpool_last_error;
static const char *(*const version_fn)(void) = nickpool_version;

int main(void) {
  struct nickpool_stats st;
  st.size = sizeof st;
  (void)open_fn;
  (void)next_fn;
  (void)batch_fn;
  (void)stats_fn;
  close_fn(NULL); /* NULL is fine */
  if (abi_fn() != NICKPOOL_ABI_VERSION) {
    fprintf(stderr, "library ABI %u, header ABI %u\n", (unsigned)abi_fn(),
            (unsigned)NICKPOOL_ABI_VERSION);
    return 1;
  }
  if (str_fn(NICKPOOL_OK) == NULL || st.size < 8) {
    return 1;
  }
  /* The header's release, spelled two ways, is the loaded library's. */
  char spelled[32];
  snprintf(spelled, sizeof spelled, "%d.%d.%d", NICKPOOL_VERSION_MAJOR, NICKPOOL_VERSION_MINOR,
           NICKPOOL_VERSION_PATCH);
  if (strcmp(version_fn(), NICKPOOL_VERSION) != 0 || strcmp(spelled, NICKPOOL_VERSION) != 0) {
    fprintf(stderr, "library %s, header %s (%s)\n", version_fn(), NICKPOOL_VERSION, spelled);
    return 1;
  }
  /* Nothing failed on this thread yet: the empty string, never NULL. */
  if (last_error_fn() == NULL || last_error_fn()[0] != '\0') {
    return 1;
  }
  printf("header ok %s\n", NICKPOOL_VERSION);
  return 0;
}
