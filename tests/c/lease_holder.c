/*
 * Plays the attacker of tests/security.rs who holds a client's open: as an
 * unprivileged user, creates PATH (a free segment name in /dev/shm), takes a
 * read lease on it (F_SETLEASE), prints "leased" and holds the lease until
 * its stdin closes. It ignores SIGIO, the kernel's "give the lease back"
 * notice, so the kernel waits out /proc/sys/fs/lease-break-time before it
 * breaks the lease: any open of PATH that may block waits that long.
 *
 *   lease_holder PATH
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: lease_holder PATH\n");
    return 2;
  }
  signal(SIGIO, SIG_IGN);
  int fd = open(argv[1], O_RDONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    perror("lease_holder: open");
    return 1;
  }
  if (fcntl(fd, F_SETLEASE, F_RDLCK) != 0) {
    perror("lease_holder: F_SETLEASE");
    return 1;
  }
  puts("leased");
  fflush(stdout);
  char c;
  while (read(STDIN_FILENO, &c, 1) > 0) {
  }
  return 0;
}
