/*
 * rkt-launch: stage0's launcher for a systemd-stage1 pod, a small static program of rkt's own.
 *
 * stage0 (src/stage0/run.ts) spawns it with the pod lock on fd 3 and the end of its relay pipe on fd 4, cwd =
 * the pod directory. In one process it does what the pod needs before its stage1 starts, then execs the
 * stage1's run entrypoint with the nspawn arguments: the same PID from start to end (stage0 waits for it,
 * signals it and looks for the pod's PID 1 among its children), so the pod lock stays held exactly as long
 * as the pod lives. The command line is built by launcherArgs() in src/stage1/launch.ts:
 *
 *   rkt-launch [--io DIR] [--root-id N] [--cgroup DIR]... [--private-nspawn-run]
 *              [--image-tree DIR]... [--overlay OPTIONS TARGET]... [--netns PATH] -- ENTRYPOINT [ARG...]
 *
 * The steps, always in this order whatever the order of the options:
 *  1. a private mount namespace (unshare(CLONE_NEWNS), then / made MS_REC|MS_PRIVATE), so the pod's mounts
 *     vanish with this process and never reach the host;
 *  2. --io DIR: the FIFOs DIR/stdout and DIR/stderr (mode 0600; given to N:N with --root-id N, the host IDs
 *     of a user-namespaced pod's root, which opens them in there), held open read-write by this process, and
 *     one relay process copying them to fd 1 and fd 2 (see relay());
 *  3. --cgroup DIR: this process joins DIR (writes its PID to DIR/cgroup.procs; the directory exists);
 *  4. --private-nspawn-run: a tmpfs on /run/systemd/nspawn (no host systemd: /run is not a tmpfs, and
 *     nspawn would say so on every run);
 *  5. --image-tree DIR: each must be a directory (a removed image is named as such, not as a failed mount);
 *  6. --overlay OPTIONS TARGET: an overlay mount, OPTIONS its option string as the kernel takes it
 *     (lowerdir=…,upperdir=…,workdir=…, escaped by stage0, metacopy=on first with --private-users);
 *  7. --netns PATH: the network namespace the pod's nspawn is started in (setns(2)), for a pod network with
 *     --private-users, where nspawn cannot join it from inside the pod's user namespace;
 *  8. exec ENTRYPOINT ARG... (the stage1 image's run entrypoint and the nspawn argv).
 * A failing step prints one line "rkt: cannot start the pod: …" on stderr and exits 254 (LAUNCHER_FAILED in
 * src/stage1/launch.ts), never with a status rkt run would pass off as an app's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#define FAILED 254
#define MAX_ITEMS 256

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  static const char prefix[] = "rkt: cannot start the pod: ";
  char buf[4096];
  memcpy(buf, prefix, sizeof prefix - 1);
  size_t room = sizeof buf - sizeof prefix - 1;
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf + sizeof prefix - 1, room, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if ((size_t)n > room - 1) n = (int)room - 1;
  size_t len = sizeof prefix - 1 + (size_t)n;
  buf[len++] = '\n';
  ssize_t w = write(2, buf, len);
  (void)w;
  _exit(FAILED);
}

struct overlay { const char *options, *target; };

static const char *io_dir, *netns;
static long root_id = -1;
static int private_nspawn_run;
static const char *cgroups[MAX_ITEMS], *image_trees[MAX_ITEMS];
static int ncgroups, nimage_trees;
static struct overlay overlays[MAX_ITEMS];
static int noverlays;
static char **entry_argv;

static long number(const char *flag, const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *s == '\0' || *end != '\0' || v < 0) fail("rkt-launch: bad %s \"%s\"", flag, s);
  return v;
}

static void parse(int argc, char **argv) {
  int i = 1;
#define NEED(k) do { if (i + (k) >= argc) fail("rkt-launch: %s needs %d value(s)", argv[i], (k)); } while (0)
#define ADD(arr, n, v) do { if ((n) == MAX_ITEMS) fail("rkt-launch: too many %s", a); (arr)[(n)++] = (v); } while (0)
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (strcmp(a, "--io") == 0) { NEED(1); io_dir = argv[++i]; }
    else if (strcmp(a, "--root-id") == 0) { NEED(1); root_id = number(a, argv[++i]); }
    else if (strcmp(a, "--cgroup") == 0) { NEED(1); ADD(cgroups, ncgroups, argv[++i]); }
    else if (strcmp(a, "--private-nspawn-run") == 0) private_nspawn_run = 1;
    else if (strcmp(a, "--image-tree") == 0) { NEED(1); ADD(image_trees, nimage_trees, argv[++i]); }
    else if (strcmp(a, "--overlay") == 0) {
      NEED(2);
      struct overlay o = { argv[i + 1], argv[i + 2] };
      ADD(overlays, noverlays, o);
      i += 2;
    } else if (strcmp(a, "--netns") == 0) { NEED(1); netns = argv[++i]; }
    else fail("rkt-launch: unknown option \"%s\"", a);
  }
  if (i >= argc) fail("rkt-launch: no entrypoint after --");
  entry_argv = &argv[i];
}

/* Write all of buf to fd. A non-blocking fd (a pipe whose other users set O_NONBLOCK on it: it is rkt's own
 * stdout, shared) is waited on rather than given up. Returns 0, or -1 when fd can take no more (EPIPE, …). */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t w = write(fd, buf, len);
    if (w >= 0) { buf += w; len -= (size_t)w; continue; }
    if (errno == EINTR) continue;
    if (errno == EAGAIN) {
      struct pollfd p = { .fd = fd, .events = POLLOUT };
      if (poll(&p, 1, -1) >= 0 || errno == EINTR) continue;
    }
    return -1;
  }
  return 0;
}

/*
 * The output relay: a child of this process (forked, no exec), copying the pod's stdout FIFO to fd 1 and its
 * stderr FIFO to fd 2 (the stdout and stderr rkt was given, whatever they are), ending once both have reached
 * end of file. The process that becomes nspawn holds each FIFO open read-write (`keep`, closed here): the
 * relay's opens do not block, and it sees end of file only once nspawn has exited and every app has closed
 * its end, so nothing the pod wrote is lost and it never outlives the pod. It holds rkt's stdout and stderr,
 * so the output keeps flowing even if rkt itself is killed, and it keeps the pod lock (fd 3) and stage0's
 * relay pipe (fd 4, whose end of file tells stage0 that every copy is done): should nspawn be SIGKILLed, the
 * pod's processes that live on still write to the FIFOs, keep the relay up, and so keep the pod locked, i.e.
 * running, until `rkt stop` (which signals the pod's PID 1) ends them.
 *
 * Like a shell's background job it ignores SIGINT and SIGQUIT (a ^C on rkt's terminal is for the pod, which
 * nspawn halts, and the relay must still copy what the apps print while they stop). A stream whose reader
 * has gone (EPIPE, SIGPIPE ignored) is read on and dropped, so that the pod's writers never block on it.
 * One process copies both streams: a write to a full stdout delays stderr's copy until it drains.
 */
static void relay(int out, int err, int keep_out, int keep_err) {
  struct sigaction ign = { .sa_handler = SIG_IGN };
  sigaction(SIGINT, &ign, NULL);
  sigaction(SIGQUIT, &ign, NULL);
  sigaction(SIGPIPE, &ign, NULL);
  close(keep_out);
  close(keep_err);
  /* Not rkt's stdin: the pod's console is nspawn's. */
  close(0);
  struct pollfd p[2] = { { .fd = out, .events = POLLIN }, { .fd = err, .events = POLLIN } };
  int dst[2] = { 1, 2 }, gone[2] = { 0, 0 };
  static char buf[32768];
  while (p[0].fd >= 0 || p[1].fd >= 0) {
    if (poll(p, 2, -1) < 0) {
      if (errno == EINTR) continue;
      _exit(1);
    }
    for (int k = 0; k < 2; k++) {
      if (p[k].fd < 0 || p[k].revents == 0) continue;
      ssize_t n = read(p[k].fd, buf, sizeof buf);
      if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
      if (n <= 0) { close(p[k].fd); p[k].fd = -1; continue; }
      if (!gone[k] && write_all(dst[k], buf, (size_t)n) != 0) gone[k] = 1;
    }
  }
  _exit(0);
}

static void make_fifo(const char *p) {
  if (mkfifo(p, 0600) != 0) fail("cannot make the output FIFOs in %s: %s", io_dir, strerror(errno));
  /* 0600 exactly, whatever the umask (which stays as stage0 gave it, for nspawn). */
  mode_t mask = umask(0);
  umask(mask);
  if ((mask & 0600) != 0 && chmod(p, 0600) != 0) fail("cannot make the output FIFOs in %s: %s", io_dir, strerror(errno));
  if (root_id >= 0 && chown(p, (uid_t)root_id, (gid_t)root_id) != 0) fail("cannot give the output FIFOs to the pod's root: %s", strerror(errno));
}

static void start_io(void) {
  char out[4096], err[4096];
  if (snprintf(out, sizeof out, "%s/stdout", io_dir) >= (int)sizeof out || snprintf(err, sizeof err, "%s/stderr", io_dir) >= (int)sizeof err)
    fail("cannot make the output FIFOs in %s: the path is too long", io_dir);
  make_fifo(out);
  make_fifo(err);
  /* The read-write ends without O_CLOEXEC: nspawn keeps them (see relay()). The relay's read ends are opened
   * here, after them (so without blocking), to fail before anything has started. */
  int keep_out = open(out, O_RDWR), keep_err = keep_out < 0 ? -1 : open(err, O_RDWR);
  int read_out = keep_err < 0 ? -1 : open(out, O_RDONLY | O_CLOEXEC), read_err = read_out < 0 ? -1 : open(err, O_RDONLY | O_CLOEXEC);
  if (read_err < 0) fail("cannot open the output FIFOs: %s", strerror(errno));
  pid_t pid = fork();
  if (pid < 0) fail("cannot start the output relay: %s", strerror(errno));
  if (pid == 0) relay(read_out, read_err, keep_out, keep_err);
  close(read_out);
  close(read_err);
}

static void join_cgroup(const char *dir) {
  char file[4096], pid[24];
  if (snprintf(file, sizeof file, "%s/cgroup.procs", dir) >= (int)sizeof file) fail("cannot join the cgroup %s: the path is too long", dir);
  int n = snprintf(pid, sizeof pid, "%d\n", (int)getpid());
  int fd = open(file, O_WRONLY | O_CLOEXEC);
  if (fd < 0 || write(fd, pid, (size_t)n) != n) fail("cannot join the cgroup %s: %s", dir, strerror(errno));
  close(fd);
}

int main(int argc, char **argv) {
  parse(argc, argv);
  if (unshare(CLONE_NEWNS) != 0) fail("cannot make a mount namespace: %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("cannot make the mounts private: %s", strerror(errno));
  /* The relay first: it is rkt's, not the pod's, so the pod's cgroups are empty (and removable) as soon as
   * nspawn exits. */
  if (io_dir != NULL) start_io();
  for (int k = 0; k < ncgroups; k++) join_cgroup(cgroups[k]);
  if (private_nspawn_run && mount("tmpfs", "/run/systemd/nspawn", "tmpfs", 0, "mode=0755") != 0)
    fail("cannot mount a tmpfs on /run/systemd/nspawn: %s", strerror(errno));
  for (int k = 0; k < nimage_trees; k++) {
    struct stat st;
    if (stat(image_trees[k], &st) != 0 || !S_ISDIR(st.st_mode))
      fail("the image tree %s is missing (was the image removed? rkt image verify, or fetch it again)", image_trees[k]);
  }
  for (int k = 0; k < noverlays; k++) {
    if (mount("overlay", overlays[k].target, "overlay", 0, overlays[k].options) != 0)
      fail("cannot mount the overlay on %s: %s", overlays[k].target, strerror(errno));
  }
  if (netns != NULL) {
    int fd = open(netns, O_RDONLY | O_CLOEXEC);
    if (fd < 0 && errno == ENOENT) fail("the pod's network namespace %s is missing", netns);
    if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) fail("cannot join the pod's network namespace %s: %s", netns, strerror(errno));
    close(fd);
  }
  execv(entry_argv[0], entry_argv);
  fail("cannot run the stage1 entrypoint %s: %s", entry_argv[0], strerror(errno));
}
