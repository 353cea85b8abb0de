/*
 * rkt stage1 helper "reaper" (/rkt/reaper), a small static program of rkt's own, run inside the pod by
 * reaper-<app>.service:
 *
 *   reaper --started APP [--read-only PATH]... [--inaccessible PATH]...
 *                          (ExecStart=) before the app starts: makes the pod's protected paths (once per pod,
 *                          see protect() below), then leaves /rkt/status/.started-APP: stage0 tells a pod that
 *                          failed before any app ran from an app's own status by it.
 *   reaper APP             (ExecStop=) when the app's service has stopped, whatever stopped it (BindsTo=),
 *                          after its post-stop handlers: records its exit status in /rkt/status/APP (bound from
 *                          the pod directory) and decides whether the pod ends.
 *
 * The decision: at the first app that fails, with its status; or, once every app has ended, with 0. The first
 * decision wins (mkdir /rkt/status/.ending is atomic): later reapers (apps stopped because the pod is ending)
 * record their statuses but do not change the pod's exit status. A job still queued for the app while it is
 * down means it is being restarted (`systemctl restart <app>.service`, from inside or through `systemctl -M`;
 * BindsTo= restarts this reaper with it): the app is not done, so nothing is recorded and the pod goes on.
 *
 * It talks to the pod's systemd over its private socket (/run/systemd/private, root only; no bus broker),
 * speaking just enough D-Bus: Properties.Get of the app unit's ExecMainCode, ExecMainStatus and Job, then
 * Manager.SetExitCode and either Manager.Exit (every app ended and no journal copier to drain: nothing is left
 * to stop in order, so the pod exits at once, as `systemctl --force exit N`) or StartUnit("exit.target",
 * "replace-irreversibly") (an orderly stop of the other apps, their handlers and the copiers, as `systemctl
 * exit N`). One process instead of a shell, systemctl (tens of milliseconds each) and busybox mv and mkdir.
 * If systemd cannot be asked, the pod still ends, with SIGRTMIN+14 (systemd's immediate poweroff, status 0)
 * when this app was the last, and the failure is said on stderr (the pod's journal).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#define STATUS_DIR "/rkt/status"
#define APPS_DIR "/opt/stage2"
#define UNIT_DIR "/etc/systemd/system"
#define PRIVATE_BUS "/run/systemd/private"
#define SIG_POWEROFF_NOW (SIGRTMIN + 14)

static const char *app;

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(buf, sizeof buf - 1, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (n > (int)sizeof buf - 2) n = sizeof buf - 2;
  buf[n++] = '\n';
  ssize_t w = write(2, buf, n);
  (void)w;
}

/* ---- a D-Bus connection to the private socket: little-endian messages, no unix fds --------------------- */

struct buf { unsigned char *p; size_t len, cap; };

static int grow(struct buf *b, size_t more) {
  if (b->len + more <= b->cap) return 0;
  size_t cap = b->cap ? b->cap : 512;
  while (cap < b->len + more) cap *= 2;
  unsigned char *p = realloc(b->p, cap);
  if (p == NULL) return -1;
  b->p = p;
  b->cap = cap;
  return 0;
}
static int put(struct buf *b, const void *d, size_t n) {
  if (grow(b, n) < 0) return -1;
  memcpy(b->p + b->len, d, n);
  b->len += n;
  return 0;
}
static int pad(struct buf *b, size_t align) {
  static const unsigned char zero[8];
  return put(b, zero, (align - b->len % align) % align);
}
static int put_u32(struct buf *b, uint32_t v) {
  unsigned char le[4] = { v & 0xff, (v >> 8) & 0xff, (v >> 16) & 0xff, v >> 24 };
  return pad(b, 4) < 0 ? -1 : put(b, le, 4);
}
/* A STRING or OBJECT_PATH. */
static int put_str(struct buf *b, const char *s) {
  size_t n = strlen(s);
  return put_u32(b, (uint32_t)n) < 0 || put(b, s, n + 1) < 0 ? -1 : 0;
}
static int put_sig(struct buf *b, const char *s) {
  unsigned char n = (unsigned char)strlen(s);
  return put(b, &n, 1) < 0 || put(b, s, (size_t)n + 1) < 0 ? -1 : 0;
}
/* One header field: STRUCT(BYTE code, VARIANT of type t). */
static int put_field(struct buf *b, unsigned char code, char t, const char *v) {
  char sig[2] = { t, 0 };
  if (pad(b, 8) < 0 || put(b, &code, 1) < 0 || put_sig(b, sig) < 0) return -1;
  return t == 'g' ? put_sig(b, v) : put_str(b, v);
}

static uint32_t serial;

/* Append a method call to out; body (already marshalled from offset 0, 8-aligned) has signature sig. Returns
 * the call's serial, 0 on failure. */
static uint32_t call(struct buf *out, const char *path, const char *iface, const char *member, const char *sig, const struct buf *body) {
  struct buf h = { 0 };
  uint32_t s = ++serial;
  unsigned char fixed[4] = { 'l', 1 /* METHOD_CALL */, 0, 1 };
  int bad = put(&h, fixed, 4) < 0 || put_u32(&h, (uint32_t)(body ? body->len : 0)) < 0 || put_u32(&h, s) < 0;
  size_t at = h.len;
  bad = bad || put_u32(&h, 0) < 0
    || put_field(&h, 1, 'o', path) < 0 || put_field(&h, 2, 's', iface) < 0 || put_field(&h, 3, 's', member) < 0
    || put_field(&h, 6, 's', "org.freedesktop.systemd1") < 0 || (sig[0] && put_field(&h, 8, 'g', sig) < 0);
  if (!bad) {
    uint32_t n = (uint32_t)(h.len - at - 4);
    unsigned char le[4] = { n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, n >> 24 };
    memcpy(h.p + at, le, 4);
    bad = pad(&h, 8) < 0 || put(out, h.p, h.len) < 0 || (body && put(out, body->p, body->len) < 0);
  }
  free(h.p);
  return bad ? 0 : s;
}

static int bus = -1;
static struct buf in;

static int send_all(const struct buf *b) {
  for (size_t off = 0; off < b->len;) {
    ssize_t w = send(bus, b->p + off, b->len - off, MSG_NOSIGNAL);
    if (w < 0) { if (errno == EINTR) continue; return -1; }
    off += (size_t)w;
  }
  return 0;
}
static int fill(size_t want) {
  while (in.len < want) {
    if (grow(&in, 4096) < 0) return -1;
    ssize_t r = recv(bus, in.p + in.len, in.cap - in.len, 0);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) { if (r == 0) errno = ECONNRESET; return -1; }
    in.len += (size_t)r;
  }
  return 0;
}
static uint32_t le32(const unsigned char *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

/* A reply read from the bus: its type (2 return, 3 error), the serial it answers, its body. */
struct reply { int type; uint32_t to; char error[128]; unsigned char *body; size_t body_len; };

/* Read the next message (signals are read and dropped by the caller); in.p is compacted first. */
static int next_message(struct reply *r, size_t *consumed) {
  if (fill(16) < 0) return -1;
  if (in.p[0] != 'l') { errno = EPROTO; return -1; }
  uint32_t body_len = le32(in.p + 4), fields_len = le32(in.p + 12);
  if (body_len > (1u << 24) || fields_len > (1u << 24)) { errno = EPROTO; return -1; }
  size_t hdr = 16 + fields_len, total;
  hdr += (8 - hdr % 8) % 8;
  total = hdr + body_len;
  if (fill(total) < 0) return -1;
  memset(r, 0, sizeof *r);
  r->type = in.p[1];
  for (size_t o = 16; o + 4 <= 16 + fields_len;) {
    o += (8 - o % 8) % 8;
    if (o + 3 > 16 + fields_len) break;
    unsigned char code = in.p[o], siglen = in.p[o + 1];
    char t = siglen == 1 ? (char)in.p[o + 2] : 0;
    o += 2 + siglen + 1;
    if (t == 'u' || t == 's' || t == 'o') {
      o += (4 - o % 4) % 4;
      if (o + 4 > 16 + fields_len) break;
      uint32_t v = le32(in.p + o);
      o += 4;
      if (t == 'u') { if (code == 5) r->to = v; continue; }
      if (o + v + 1 > 16 + fields_len) break;
      if (code == 4) snprintf(r->error, sizeof r->error, "%.*s", (int)v, (const char *)in.p + o);
      o += v + 1;
    } else if (t == 'g') {
      if (o >= 16 + fields_len) break;
      o += 1 + in.p[o] + 1;
    } else break; /* a field type systemd does not send: the rest of the header is not needed */
  }
  r->body = in.p + hdr;
  r->body_len = body_len;
  *consumed = total;
  return 0;
}

/* Wait for the reply to call s; on return, its body is valid until the next read. */
static int await(uint32_t s, struct reply *r) {
  static size_t last;
  for (;;) {
    if (last) { memmove(in.p, in.p + last, in.len - last); in.len -= last; last = 0; }
    if (next_message(r, &last) < 0) return -1;
    if ((r->type == 2 || r->type == 3) && r->to == s) return 0;
  }
}

static int bus_open(const struct buf *first) {
  struct sockaddr_un sa = { .sun_family = AF_UNIX, .sun_path = PRIVATE_BUS };
  bus = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (bus < 0 || connect(bus, (struct sockaddr *)&sa, sizeof sa) < 0) return -1;
  /* EXTERNAL authentication as our uid, then BEGIN and the first calls at once (sd-bus reads them in order). */
  char uid[16], hex[40], line[96];
  int n = snprintf(uid, sizeof uid, "%u", (unsigned)geteuid());
  for (int i = 0; i < n; i++) sprintf(hex + 2 * i, "%02x", (unsigned char)uid[i]);
  n = snprintf(line, sizeof line, "%cAUTH EXTERNAL %s\r\nBEGIN\r\n", 0, hex);
  struct buf hello = { 0 };
  int bad = put(&hello, line, (size_t)n) < 0 || put(&hello, first->p, first->len) < 0 || send_all(&hello) < 0;
  free(hello.p);
  if (bad) return -1;
  /* The server's "OK <guid>\r\n" comes before any message. */
  for (;;) {
    if (fill(in.len + 1) < 0) return -1;
    unsigned char *e = memmem(in.p, in.len, "\r\n", 2);
    if (e == NULL) { if (in.len > 512) { errno = EPROTO; return -1; } continue; }
    if (in.len < 3 || memcmp(in.p, "OK ", 3) != 0) { errno = EACCES; return -1; }
    size_t used = (size_t)(e + 2 - in.p);
    memmove(in.p, in.p + used, in.len - used);
    in.len -= used;
    return 0;
  }
}

/* The value of a Properties.Get reply (a VARIANT): int32 for 'i', the job id for '(uo)'. */
static int variant_u32(const struct reply *r, char want, uint32_t *v) {
  const unsigned char *b = r->body;
  if (r->body_len < 3) return -1;
  size_t siglen = b[0], o = 1 + siglen + 1;
  if (want == 'i' && !(siglen == 1 && b[1] == 'i')) return -1;
  if (want == 'j' && !(siglen == 4 && memcmp(b + 1, "(uo)", 4) == 0)) return -1;
  o += ((want == 'j' ? 8 : 4) - o % (want == 'j' ? 8 : 4)) % (want == 'j' ? 8 : 4);
  if (o + 4 > r->body_len) return -1;
  *v = le32(b + o);
  return 0;
}

/* ---- the app's end ------------------------------------------------------------------------------------ */

/* Entries of dir whose names do not start with a dot; dirs_only: directories only (following symlinks). */
static int count(const char *dir, int dirs_only, const char *prefix, const char *suffix) {
  DIR *d = opendir(dir);
  if (d == NULL) return 0;
  int n = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.') continue;
    size_t l = strlen(e->d_name), pl = prefix ? strlen(prefix) : 0, sl = suffix ? strlen(suffix) : 0;
    if (prefix && (l < pl + sl || strncmp(e->d_name, prefix, pl) != 0 || strcmp(e->d_name + l - sl, suffix) != 0)) continue;
    if (dirs_only) {
      struct stat st;
      if (fstatat(dirfd(d), e->d_name, &st, 0) < 0 || !S_ISDIR(st.st_mode)) continue;
    }
    n++;
  }
  closedir(d);
  return n;
}

static void record(int rc) {
  char tmp[512], dst[512], text[16];
  snprintf(tmp, sizeof tmp, STATUS_DIR "/.%s.tmp", app);
  snprintf(dst, sizeof dst, STATUS_DIR "/%s", app);
  int n = snprintf(text, sizeof text, "%d\n", rc);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0 || write(fd, text, (size_t)n) != n || close(fd) < 0 || rename(tmp, dst) < 0) {
    say("reaper: cannot record the exit status of %s in %s: %s", app, dst, strerror(errno));
  }
}

/*
 * Whether some app's unit has post-stop handlers (ExecStopPost=). This reaper can run while its app's unit is
 * still deactivating, its handlers running: ending the pod at once would kill them (seen in CI: a post-stop
 * handler's write missing). With handlers the pod ends in order (exit.target), which waits for them.
 */
static int any_post_stop(void) {
  DIR *d = opendir(UNIT_DIR);
  if (d == NULL) return 1; /* cannot tell: the orderly way is always right */
  int found = 0;
  char text[65536];
  for (struct dirent *e; !found && (e = readdir(d)) != NULL;) {
    size_t l = strlen(e->d_name);
    if (e->d_name[0] == '.' || l < 8 || strcmp(e->d_name + l - 8, ".service") != 0) continue;
    int fd = openat(dirfd(d), e->d_name, O_RDONLY | O_CLOEXEC);
    if (fd < 0) { found = 1; break; }
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    if (n < 0 || n == (ssize_t)sizeof text - 1) { found = 1; break; }
    text[n] = 0;
    if (strstr(text, "\nExecStopPost=") != NULL) found = 1;
  }
  closedir(d);
  return found;
}

/* End the pod with rc: at once (Exit) or in order (exit.target). Over the bus; by signal if that fails. */
static void end_pod(int rc, int now) {
  struct buf out = { 0 }, body = { 0 };
  unsigned char code = (unsigned char)rc;
  uint32_t set = 0, go = 0;
  if (put(&body, &code, 1) == 0) set = call(&out, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "SetExitCode", "y", &body);
  free(body.p);
  body = (struct buf){ 0 };
  if (now) go = call(&out, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "Exit", "", NULL);
  else if (put_str(&body, "exit.target") == 0 && put_str(&body, "replace-irreversibly") == 0) {
    go = call(&out, "/org/freedesktop/systemd1", "org.freedesktop.systemd1.Manager", "StartUnit", "ss", &body);
  }
  free(body.p);
  struct reply r;
  if (set == 0 || go == 0 || (bus < 0 ? bus_open(&out) : send_all(&out)) < 0) goto signal;
  free(out.p);
  if (await(set, &r) < 0) goto signal;
  if (r.type == 3) say("reaper: cannot set the pod's exit status %d: %s", rc, r.error);
  /* After Exit the manager may be gone before its reply reaches us: that is success. */
  if (await(go, &r) < 0) { if (now) return; goto signal; }
  if (r.type == 3) {
    /* The pod is already stopping (rkt stop, another app's decision): nothing more to do. */
    if (strcmp(r.error, "org.freedesktop.systemd1.TransactionIsDestructive") != 0) say("reaper: cannot end the pod: %s", r.error);
  }
  return;
signal:
  say("reaper: cannot ask the pod's systemd to exit with status %d (%s): powering off", rc, strerror(errno));
  kill(1, SIG_POWEROFF_NOW);
}

/* Whether this reaper is the first to decide the pod's end (mkdir is atomic: only one gets there). */
static int first_to_end(void) {
  if (mkdir(STATUS_DIR "/.ending", 0755) == 0) return 1;
  if (errno != EEXIST) say("reaper: cannot make " STATUS_DIR "/.ending: %s", strerror(errno));
  return 0;
}

static int reap(void) {
  /* The unit's D-Bus object path: every byte but [A-Za-z0-9] escaped as _xx. */
  char path[600] = "/org/freedesktop/systemd1/unit/", unit[300];
  snprintf(unit, sizeof unit, "%s.service", app);
  size_t o = strlen(path);
  for (const char *c = unit; *c && o + 4 < sizeof path; c++) {
    if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')) path[o++] = *c;
    else o += (size_t)sprintf(path + o, "_%02x", (unsigned char)*c);
  }
  path[o] = 0;
  struct buf out = { 0 };
  uint32_t ids[3] = { 0 };
  const char *props[3][2] = { { "org.freedesktop.systemd1.Unit", "Job" },
    { "org.freedesktop.systemd1.Service", "ExecMainCode" }, { "org.freedesktop.systemd1.Service", "ExecMainStatus" } };
  for (int i = 0; i < 3; i++) {
    struct buf body = { 0 };
    if (put_str(&body, props[i][0]) == 0 && put_str(&body, props[i][1]) == 0) {
      ids[i] = call(&out, path, "org.freedesktop.DBus.Properties", "Get", "ss", &body);
    }
    free(body.p);
  }
  uint32_t job = 0, code = 0, status = 0;
  struct reply r = { 0 };
  int ok = ids[0] && ids[1] && ids[2] && bus_open(&out) == 0;
  free(out.p);
  for (int i = 0; ok && i < 3; i++) {
    uint32_t *v = i == 0 ? &job : i == 1 ? &code : &status;
    if (await(ids[i], &r) < 0) ok = 0;
    else if (r.type == 3 || variant_u32(&r, i == 0 ? 'j' : 'i', v) < 0) { errno = EPROTO; ok = 0; }
  }
  if (!ok) {
    say("reaper: cannot read the exit status of %s from the pod's systemd: %s%s%s", unit, strerror(errno),
        r.type == 3 ? ": " : "", r.type == 3 ? r.error : "");
    /* The pod must not outlive its apps: end it if this was the last one (nothing can be recorded). */
    if (count(STATUS_DIR, 0, NULL, NULL) + 1 >= count(APPS_DIR, 1, NULL, NULL) && first_to_end()) kill(1, SIG_POWEROFF_NOW);
    return 0;
  }
  if (job != 0) return 0; /* being restarted: not done */
  int rc;
  switch (code) {
    case 1: rc = (int)status; break;                   /* CLD_EXITED */
    case 2: case 3: rc = 128 + (int)status; break;     /* killed, dumped core: 128 + signal, as shells say */
    default: rc = (int)status; break;
  }
  record(rc);
  int all = count(STATUS_DIR, 0, NULL, NULL) >= count(APPS_DIR, 1, NULL, NULL);
  /* With no journal copiers to drain and no post-stop handlers (any_post_stop), once every app is done nothing
   * is left to stop in order: exit at once rather than through a whole shutdown. */
  int now = all && count(UNIT_DIR, 0, "io-", ".service") == 0 && !any_post_stop();
  if ((rc != 0 || all) && first_to_end()) end_pod(rc, now);
  return 0;
}

/* ---- the pod's protected paths ------------------------------------------------------------------------ */

/*
 * Made once per pod, in the stage1's own mount namespace, before the first app starts (under a lock, so an
 * app whose reaper comes second waits until they are in place): each app's mount namespace then inherits them
 * through the recursive binds its unit makes of the stage1's /proc, /dev and /sys (BindPaths=/proc,
 * MountAPIVFS=yes). A few mount calls here, once, instead of systemd setting up every path again in every
 * app's namespace (each read-only or inaccessible path there re-reads the whole mount table, twice).
 */
#define LOCK_FILE "/run/rkt-paths.lock"
#define DONE_FILE "/run/rkt-paths.done"
#define PROTECT (MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC)

static int set_attr(const char *p, unsigned int flags) {
  struct mount_attr a = { .attr_set = PROTECT };
  if (syscall(SYS_mount_setattr, AT_FDCWD, p, flags | AT_SYMLINK_NOFOLLOW, &a, sizeof a) == 0) return 0;
  if (errno != ENOSYS) return -1;
  /* Before Linux 5.12: the mount itself only (the app's unit keeps /proc/sys's one submount, the boot ID,
   * read-only on its own). */
  return mount(NULL, p, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL);
}

static int mount_root(const char *p) {
  struct statx sx;
  if (statx(AT_FDCWD, p, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &sx) < 0) return -1;
  if (!(sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) { errno = ENOTSUP; return -1; }
  return (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
}

/* p and every mount below it read-only (and nosuid, nodev, noexec); a path the kernel lacks is skipped. */
static int read_only(const char *p) {
  struct stat st;
  if (lstat(p, &st) < 0) return errno == ENOENT ? 0 : -1;
  int root = mount_root(p);
  /* Before Linux 5.8 statx cannot say whether p is a mount's root: bind it onto itself anyway (harmless). */
  if (root < 0 && errno == ENOTSUP) root = 0;
  if (root < 0 || (root == 0 && mount(p, p, NULL, MS_BIND | MS_REC, NULL) < 0)) return -1;
  return set_attr(p, AT_RECURSIVE);
}

/* p replaced by systemd's empty, mode-0 inaccessible directory or file, read-only; skipped if missing. */
static int inaccessible(const char *p) {
  struct stat st;
  if (lstat(p, &st) < 0) return errno == ENOENT ? 0 : -1;
  const char *src = S_ISDIR(st.st_mode) ? "/run/systemd/inaccessible/dir" : "/run/systemd/inaccessible/reg";
  if (mount(src, p, NULL, MS_BIND, NULL) < 0) {
    /* nspawn binds a FIFO it has already deleted on /proc/kmsg, and nothing mounts on a deleted file: take
     * that bind off, then hide what is under it. */
    if (errno != ENOENT || umount2(p, MNT_DETACH) < 0 || mount(src, p, NULL, MS_BIND, NULL) < 0) return -1;
  }
  return set_attr(p, 0);
}

static int protect(char **ro, int nro, char **hide, int nhide) {
  int lock = open(LOCK_FILE, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0 || flock(lock, LOCK_EX) < 0) { say("reaper: cannot lock %s: %s", LOCK_FILE, strerror(errno)); return -1; }
  if (access(DONE_FILE, F_OK) == 0) return 0;
  for (int i = 0; i < nro; i++) {
    if (read_only(ro[i]) < 0) { say("reaper: cannot make %s read-only: %s", ro[i], strerror(errno)); return -1; }
  }
  for (int i = 0; i < nhide; i++) {
    if (inaccessible(hide[i]) < 0) { say("reaper: cannot make %s inaccessible: %s", hide[i], strerror(errno)); return -1; }
  }
  int fd = open(DONE_FILE, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) { say("reaper: cannot make %s: %s", DONE_FILE, strerror(errno)); return -1; }
  close(fd);
  return 0; /* the lock goes with this process */
}

/* reaper --started APP [--read-only PATH]... [--inaccessible PATH]... */
static int started(int argc, char **argv) {
  char *ro[32], *hide[32];
  int nro = 0, nhide = 0;
  for (int i = 3; i < argc; i += 2) {
    int r = strcmp(argv[i], "--read-only") == 0, h = strcmp(argv[i], "--inaccessible") == 0;
    if ((!r && !h) || i + 1 >= argc || argv[i + 1][0] != '/' || (r ? nro : nhide) == 32) {
      say("usage: reaper --started APP [--read-only PATH]... [--inaccessible PATH]...");
      return 2;
    }
    if (r) ro[nro++] = argv[i + 1]; else hide[nhide++] = argv[i + 1];
  }
  if ((nro > 0 || nhide > 0) && protect(ro, nro, hide, nhide) < 0) {
    /* Never start an app without its protection: end the pod before it starts, as a stage1 failure (no
     * started mark: stage0 says the pod failed before its apps and exits 254). */
    if (first_to_end()) end_pod(254, 1);
    return 1;
  }
  char p[512];
  snprintf(p, sizeof p, STATUS_DIR "/.started-%s", app);
  int fd = open(p, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
  if (fd < 0) { say("reaper: cannot make %s: %s", p, strerror(errno)); return 1; }
  close(fd);
  return 0;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "--started") == 0 && argv[2][0] != '-' && strchr(argv[2], '/') == NULL) {
    app = argv[2];
    return started(argc, argv);
  }
  if (argc != 2 || argv[1][0] == '-' || strchr(argv[1], '/') != NULL) {
    say("usage: reaper [--started] APP");
    return 2;
  }
  app = argv[1];
  return reap();
}
