/*
 * rkt fly stage1: the "run" entrypoint (/rkt/run), a small static program of ours.
 *
 * Exec'd by stage0 (which it replaces: appc's stage0 execs stage1's run) with cwd = the pod directory, the
 * app's environment as its own and the pod lock on an inherited descriptor. It is the pod's supervisor, in rkt
 * run's own process: it forks the app's process, records its pid (`pid`),
 * `started` once the app is exec'd, the app's exit status (`status/<app>`) and `exited`, runs the post-stop
 * handlers, and exits with the app's status (SIGTERM, SIGINT and SIGHUP are passed on to the app as SIGTERM,
 * as rkt run does). The app's process gives itself a private mount namespace, mounts the app's root (an
 * overlay, or a tree already there), binds the host's /dev, /proc and /sys (recursively) and the pod's
 * volumes into it, runs the pre-start handlers as root chrooted there, then chroots, takes the app's groups,
 * gid and uid, changes to the working directory and execs the app: one process from there to the app's end,
 * holding the pod lock on fd 3, so the lock stays held exactly as long as the app lives and the recorded pid
 * is the app's.
 *
 *   run --pod UUID --app NAME --lock-fd N [--stdin-null]
 *       --root DIR [--overlay OPTIONS] [--bind SRC DST]... [--bind-ro SRC DST]...
 *       [--pre-start N ARG...]... [--post-stop N ARG...]...
 *       --uid N --gid N [--groups N,N...] [--workdir DIR] [--no-new-privileges] [--oom-score-adj N]
 *       [--notify-socket PATH] [--read-only-root] -- EXEC [ARGS...]
 *
 * Mount targets (DST, /dev, /proc, /sys) are resolved inside the app's root (openat2 RESOLVE_IN_ROOT), so a
 * symlink in an image can never make a mount land outside it. A failure before the app's exec is one line
 * on the status descriptor (close-on-exec: the supervisor sees end of file without a byte when the exec
 * succeeded), which the supervisor reports as `rkt: pod UUID failed before its app started: REASON`, exit
 * status 254. The post-stop handlers run after the app in another child: the same mounts, then each handler (a
 * failing one is reported on stderr). --notify-socket (rkt run in a Type=notify unit,
 * NOTIFY_SOCKET): READY=1 is sent from the app's process just before its exec, so systemd (NotifyAccess=all)
 * attributes it to the unit while the sender lives.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FAILED 254
#define MAX_ITEMS 256

extern char **environ;

static int status_fd = -1;

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void fail(const char *fmt, ...) {
  char buf[4096];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) n = 0;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  int fd = status_fd >= 0 ? status_fd : 2;
  ssize_t w = write(fd, buf, n);
  (void)w;
  _exit(FAILED);
}

struct bind { const char *src, *dst; int ro; };
struct handler { char **argv; };

static const char *root, *overlay, *workdir = "/";
static struct bind binds[MAX_ITEMS];
static int nbinds;
static struct handler pre[MAX_ITEMS], post[MAX_ITEMS];
static int npre, npost;
static gid_t groups[MAX_ITEMS];
static int ngroups;
static long uid = -1, gid = -1;
static int no_new_privs, handlers_only, have_oom;
static long oom_adj;
static char **app_argv;
static const char *notify_socket;
static int read_only_root;
static const char *pod_uuid, *app_name;
static int lock_fd = -1, stdin_null;

static long number(const char *flag, const char *s) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *s == '\0' || *end != '\0') fail("run: bad %s \"%s\"", flag, s);
  return v;
}

static void parse(int argc, char **argv) {
  int i = 1;
#define NEED(k) do { if (i + (k) >= argc) fail("run: %s needs %d value(s)", argv[i], (k)); } while (0)
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--") == 0) { i++; break; }
    if (strcmp(a, "--root") == 0) { NEED(1); root = argv[++i]; }
    else if (strcmp(a, "--overlay") == 0) { NEED(1); overlay = argv[++i]; }
    else if (strcmp(a, "--bind") == 0 || strcmp(a, "--bind-ro") == 0) {
      NEED(2);
      if (nbinds == MAX_ITEMS) fail("run: too many binds");
      binds[nbinds].ro = strcmp(a, "--bind-ro") == 0;
      binds[nbinds].src = argv[++i];
      binds[nbinds].dst = argv[++i];
      nbinds++;
    } else if (strcmp(a, "--pre-start") == 0 || strcmp(a, "--post-stop") == 0) {
      NEED(1);
      long n = number(a, argv[i + 1]);
      if (n < 1 || n > argc - i - 2) fail("run: %s %ld: not that many arguments", a, n);
      if (npre == MAX_ITEMS || npost == MAX_ITEMS) fail("run: too many handlers");
      struct handler *h = strcmp(a, "--pre-start") == 0 ? &pre[npre++] : &post[npost++];
      h->argv = calloc(n + 1, sizeof(char *));
      if (h->argv == NULL) fail("run: out of memory");
      for (long k = 0; k < n; k++) h->argv[k] = argv[i + 2 + k];
      i += 1 + n;
    }
    else if (strcmp(a, "--uid") == 0) { NEED(1); uid = number(a, argv[++i]); }
    else if (strcmp(a, "--gid") == 0) { NEED(1); gid = number(a, argv[++i]); }
    else if (strcmp(a, "--groups") == 0) {
      NEED(1);
      char *s = strdup(argv[++i]), *save = NULL;
      if (s == NULL) fail("run: out of memory");
      for (char *tok = strtok_r(s, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (ngroups == MAX_ITEMS) fail("run: too many groups");
        groups[ngroups++] = (gid_t)number("--groups", tok);
      }
    } else if (strcmp(a, "--workdir") == 0) { NEED(1); workdir = argv[++i]; }
    else if (strcmp(a, "--no-new-privileges") == 0) no_new_privs = 1;
    else if (strcmp(a, "--notify-socket") == 0) { NEED(1); notify_socket = argv[++i]; }
    else if (strcmp(a, "--read-only-root") == 0) read_only_root = 1;
    else if (strcmp(a, "--pod") == 0) { NEED(1); pod_uuid = argv[++i]; }
    else if (strcmp(a, "--app") == 0) { NEED(1); app_name = argv[++i]; }
    else if (strcmp(a, "--lock-fd") == 0) { NEED(1); lock_fd = (int)number(a, argv[++i]); }
    else if (strcmp(a, "--stdin-null") == 0) stdin_null = 1;
    else if (strcmp(a, "--oom-score-adj") == 0) { NEED(1); oom_adj = number(a, argv[++i]); have_oom = 1; }
    else fail("run: unknown option \"%s\"", a);
  }
  if (root == NULL) fail("run: no --root");
  if (pod_uuid == NULL || app_name == NULL || strchr(app_name, '/') != NULL || lock_fd < 0) fail("run: --pod UUID, --app NAME and --lock-fd N are required");
  if (i >= argc) fail("run: no app to exec after --");
  if (uid < 0 || gid < 0) fail("run: --uid and --gid are required");
  app_argv = &argv[i];
}

/* Open PATH (as the app sees it) inside the app's root: symlinks resolve there, never above it. */
static int open_in_root(int rootfd, const char *p) {
  while (*p == '/') p++;
  if (*p == '\0') return dup(rootfd);
  struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS };
  return (int)syscall(SYS_openat2, rootfd, p, &how, sizeof how);
}

/* Bind SRC onto DST inside the root (recursively); read-only with `ro`. */
static void bind_into(int rootfd, const char *src, const char *dst, int ro, int rec) {
  char target[64];
  int fd = open_in_root(rootfd, dst);
  if (fd < 0) fail("cannot bind %s: the mount point %s is missing in the app's root: %s", src, dst, strerror(errno));
  snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
  if (mount(src, target, NULL, MS_BIND | (rec ? MS_REC : 0), NULL) != 0) fail("cannot bind %s on %s: %s", src, dst, strerror(errno));
  close(fd);
  if (!ro) return;
  /* The new mount is what DST names now: open it again to remount that mount read-only. */
  fd = open_in_root(rootfd, dst);
  if (fd < 0) fail("cannot reopen %s: %s", dst, strerror(errno));
  snprintf(target, sizeof target, "/proc/self/fd/%d", fd);
  if (mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | (rec ? MS_REC : 0), NULL) != 0) fail("cannot make %s read-only: %s", dst, strerror(errno));
  close(fd);
}

/* Run one event handler as root, chrooted into the app's root, in its working directory; its exit status. */
static int run_handler(int rootfd, char **argv) {
  pid_t pid = fork();
  if (pid < 0) fail("cannot fork for the handler %s: %s", argv[0], strerror(errno));
  if (pid == 0) {
    if (status_fd >= 0) close(status_fd);
    if (fchdir(rootfd) != 0 || chroot(".") != 0) { perror("rkt: event handler: chroot"); _exit(FAILED); }
    if (chdir(workdir) != 0 && chdir("/") != 0) { perror("rkt: event handler: chdir"); _exit(FAILED); }
    execve(argv[0], argv, environ);
    fprintf(stderr, "rkt: cannot run the event handler %s: %s\n", argv[0], strerror(errno));
    _exit(FAILED);
  }
  int st;
  while (waitpid(pid, &st, 0) < 0) if (errno != EINTR) fail("cannot wait for the handler %s: %s", argv[0], strerror(errno));
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A datagram socket connected to PATH (a socket path, or @NAME in the abstract namespace), for sd_notify's
 * READY=1: connected before the chroot, which hides the path. */
static int notify_connect(const char *p) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  size_t n = strlen(p);
  if (n == 0 || n >= sizeof sa.sun_path) fail("bad --notify-socket \"%s\"", p);
  memcpy(sa.sun_path, p, n);
  if (p[0] == '@') sa.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("cannot make the notify socket: %s", strerror(errno));
  if (connect(fd, (struct sockaddr *)&sa, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n)) != 0) fail("cannot connect to the notify socket %s: %s", p, strerror(errno));
  return fd;
}

/* The app's process (or, with handlers_only, the post-stop handlers' after it): mounts, handlers, identity, exec. */
static int pod_main(void) {
  if (unshare(CLONE_NEWNS) != 0) fail("cannot make a mount namespace: %s", strerror(errno));
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) fail("cannot make the mounts private: %s", strerror(errno));
  if (overlay != NULL && mount("overlay", root, "overlay", 0, overlay) != 0) fail("cannot mount the overlay on %s: %s", root, strerror(errno));
  /* A read-only root needs a mount of its own to remount: a tree (no overlay) is bound onto itself. */
  if (overlay == NULL && read_only_root && !handlers_only && mount(root, root, NULL, MS_BIND, NULL) != 0) fail("cannot bind the app's root %s: %s", root, strerror(errno));
  int rootfd = open(root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (rootfd < 0) fail("cannot open the app's root %s: %s", root, strerror(errno));
  /* The host's /dev, /proc and /sys, as rkt fly gave them; mount points the image lacks are made. */
  static const char *const api[] = { "dev", "proc", "sys" };
  for (int k = 0; k < 3; k++) {
    if (mkdirat(rootfd, api[k], 0755) != 0 && errno != EEXIST) fail("cannot make /%s in the app's root: %s", api[k], strerror(errno));
    char src[8];
    snprintf(src, sizeof src, "/%s", api[k]);
    bind_into(rootfd, src, src, 0, 1);
  }
  for (int k = 0; k < nbinds; k++) bind_into(rootfd, binds[k].src, binds[k].dst, binds[k].ro, 1);

  if (handlers_only) {
    int bad = 0;
    for (int k = 0; k < npost; k++) {
      int st = run_handler(rootfd, post[k].argv);
      if (st != 0) { fprintf(stderr, "rkt: post-stop handler %s exited with status %d\n", post[k].argv[0], st); bad = 1; }
    }
    return bad ? 1 : 0;
  }
  for (int k = 0; k < npre; k++) {
    int st = run_handler(rootfd, pre[k].argv);
    if (st != 0) fail("the pre-start handler %s exited with status %d", pre[k].argv[0], st);
  }
  /* After the pre-start handlers (root, as systemd's "+" handlers, may write), before the app: only the root
   * mount itself, so /dev, /proc, /sys and the volumes keep their own flags. */
  if (read_only_root && mount(NULL, root, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) fail("cannot make the app's root read-only: %s", strerror(errno));
  if (have_oom) {
    FILE *f = fopen("/proc/self/oom_score_adj", "w");
    if (f == NULL || fprintf(f, "%ld\n", oom_adj) < 0 || fclose(f) != 0) fail("cannot set oom_score_adj %ld: %s", oom_adj, strerror(errno));
  }
  int notify_fd = notify_socket != NULL ? notify_connect(notify_socket) : -1;
  if (fchdir(rootfd) != 0 || chroot(".") != 0) fail("cannot chroot into %s: %s", root, strerror(errno));
  close(rootfd);
  gid_t all[MAX_ITEMS + 1];
  all[0] = (gid_t)gid;
  for (int k = 0; k < ngroups; k++) all[k + 1] = groups[k];
  if (setgroups(ngroups + 1, all) != 0) fail("cannot set the app's groups: %s", strerror(errno));
  if (setgid((gid_t)gid) != 0) fail("cannot set gid %ld: %s", gid, strerror(errno));
  if (setuid((uid_t)uid) != 0) fail("cannot set uid %ld: %s", uid, strerror(errno));
  if (chdir(workdir) != 0) fail("cannot change to the working directory %s: %s", workdir, strerror(errno));
  if (no_new_privs && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail("cannot set no-new-privileges: %s", strerror(errno));
  if (notify_fd >= 0) {
    static const char msg[] = "READY=1";
    if (send(notify_fd, msg, sizeof msg - 1, 0) < 0) fail("cannot notify %s: %s", notify_socket, strerror(errno));
    close(notify_fd);
  }
  execve(app_argv[0], app_argv, environ);
  fail("cannot run the app's exec %s: %s", app_argv[0], strerror(errno));
}

/* ---- The supervisor (--pod): the rest of rkt run, in its process. ---- */

static volatile sig_atomic_t app_pid;

static void forward(int sig) {
  (void)sig;
  if (app_pid > 0) kill(app_pid, SIGTERM);
}

/* FILE (in the pod directory, the cwd) holding TEXT, written beside it and renamed into place: a reader sees
 * the old file or the new one. Not fsynced, as stage0 writes its bookkeeping (src/pod/README.md). A failure is
 * said on stderr and ignored: the app runs whether or not its record could be written. */
static void record(const char *file, const char *text) {
  char tmp[512];
  const char *slash = strrchr(file, '/');
  int dirlen = slash == NULL ? 0 : (int)(slash - file + 1);
  static unsigned serial;
  snprintf(tmp, sizeof tmp, "%.*s.%s.tmp-%d-%u", dirlen, file, file + dirlen, (int)getpid(), serial++);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  size_t n = strlen(text);
  if (fd < 0 || write(fd, text, n) != (ssize_t)n || fchmod(fd, 0644) != 0 || close(fd) != 0 || rename(tmp, file) != 0) {
    fprintf(stderr, "rkt: pod %s: cannot record %s: %s, ignoring\n", pod_uuid, file, strerror(errno));
    if (fd >= 0) unlink(tmp);
  }
}

/* The time now as stage0 writes its timestamps (JavaScript's toISOString): 2026-12-02T06:29:04.278Z. */
static void record_time(const char *file) {
  struct timespec ts;
  struct tm tm;
  char buf[64];
  clock_gettime(CLOCK_REALTIME, &ts);
  gmtime_r(&ts.tv_sec, &tm);
  size_t n = strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  snprintf(buf + n, sizeof buf - n, ".%03ldZ\n", ts.tv_nsec / 1000000);
  record(file, buf);
}

static int wait_for(pid_t pid) {
  int st;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR) { fprintf(stderr, "rkt: pod %s: cannot wait for process %d: %s\n", pod_uuid, (int)pid, strerror(errno)); return FAILED; }
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A child of the supervisor, as a new program would start: signals at their defaults, none blocked. */
static void child_signals(const sigset_t *mask) {
  signal(SIGTERM, SIG_DFL);
  signal(SIGINT, SIG_DFL);
  signal(SIGHUP, SIG_DFL);
  sigprocmask(SIG_SETMASK, mask, NULL);
}

static int supervise(void) {
  /* The lock on fd 3, where the fly contract has always put it for the app, and nothing else inherited beyond
   * stdio: what rkt run's caller left open is not the app's. */
  if (lock_fd != 3) {
    if (dup2(lock_fd, 3) < 0) { fprintf(stderr, "rkt: pod %s: cannot take the pod lock: %s\n", pod_uuid, strerror(errno)); return FAILED; }
    close(lock_fd);
    lock_fd = 3;
  }
  if (syscall(SYS_close_range, 4U, ~0U, 0U) != 0) for (int fd = 4; fd < 1024; fd++) close(fd);

  sigset_t all, mask;
  sigfillset(&all);
  sigprocmask(SIG_BLOCK, &all, &mask);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);

  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) { fprintf(stderr, "rkt: pod %s: cannot start the app: pipe: %s\n", pod_uuid, strerror(errno)); return FAILED; }
  pid_t pid = fork();
  if (pid < 0) { fprintf(stderr, "rkt: pod %s: cannot start the app: fork: %s\n", pod_uuid, strerror(errno)); return FAILED; }
  if (pid == 0) {
    child_signals(&mask);
    close(pipefd[0]);
    status_fd = pipefd[1];
    if (stdin_null) {
      int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
      if (fd < 0 || dup2(fd, 0) < 0) fail("cannot open /dev/null for the app's stdin: %s", strerror(errno));
      close(fd);
    }
    return pod_main();
  }
  app_pid = pid;
  sigprocmask(SIG_SETMASK, &mask, NULL);
  close(pipefd[1]);
  /* Without post-stop handlers only the app holds the lock: the pod is running exactly as long as it lives. */
  if (npost == 0) { close(lock_fd); lock_fd = -1; }
  char text[4096];
  snprintf(text, sizeof text, "%d\n", (int)pid);
  record("pid", text);

  size_t len = 0;
  for (;;) {
    ssize_t r = read(pipefd[0], text + len, sizeof text - 1 - len);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0 || (len += (size_t)r) == sizeof text - 1) break;
  }
  close(pipefd[0]);
  text[len] = '\0';
  while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == ' ')) text[--len] = '\0';
  if (len == 0) record_time("started");

  int status = wait_for(pid);
  app_pid = 0;
  if (len > 0) {
    fprintf(stderr, "rkt: pod %s failed before its app started: %s\n", pod_uuid, text);
    status = FAILED;
  } else {
    char file[512];
    snprintf(text, sizeof text, "%d\n", status);
    snprintf(file, sizeof file, "status/%s", app_name);
    record(file, text);
    if (npost > 0) {
      pid_t h = fork();
      if (h < 0) fprintf(stderr, "rkt: pod %s: cannot run the post-stop handlers: fork: %s\n", pod_uuid, strerror(errno));
      else if (h == 0) {
        child_signals(&mask);
        handlers_only = 1;
        _exit(pod_main());
      } else wait_for(h);
    }
  }
  if (lock_fd >= 0) close(lock_fd);
  record_time("exited");
  return status;
}

int main(int argc, char **argv) {
  parse(argc, argv);
  return supervise();
}
