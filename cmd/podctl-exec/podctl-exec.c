/*
 * podctl-exec is the exec helper of a native pod's apps. The pod's init
 * forks it into an app's namespaces and cgroups before the app's root is
 * ready, and it becomes the app: it sets what binds the process that sets
 * it (resource limits, oom_score_adj, capabilities, user and groups,
 * no_new_privs, the seccomp filter) on itself and executes the app's
 * command.
 *
 * It is a small static C program rather than a Go one because it is on
 * every app's start: a Go program spends milliseconds starting its
 * runtime and threads, and runs runtime code between the app's seccomp
 * filter and its execve. Everything that needs a judgement (the user's
 * and group's ids from the image's files, the command's path, the seccomp
 * program, which capabilities) is decided by the init, in Go
 * (appexec.Resolve); this program only applies the numbers it is handed,
 * in a fixed order. Where it is missing, the init runs podctl's own helper
 * verb (stage1/appexec), which does the same in Go.
 *
 * Descriptors: 3 the error pipe (close-on-exec: end-of-file tells the init
 * the app was executed; otherwise one line says why not), 4 this binary,
 * 5 the spec pipe. On the spec pipe the init writes, at once, the
 * bounding set the helper may keep while it waits and the app's name
 * (appexec.WireHead), then, once the app's root is ready, the app's
 * resolved spec (appexec.Wire).
 * The pipe closed before either means the app is not started: the helper
 * exits 0.
 *
 * The wire format is appexec's; the two change together, with Protocol.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#define PROTOCOL "podctl-exec-protocol/3"

enum { ERRPIPE_FD = 3, BINARY_FD = 4, SPEC_FD = 5 };

/* The resolved spec is bounded far below this (appexec.maxWire). */
#define MAX_WIRE (16u << 20)

/* Flags of the resolved spec (appexec.Wire). */
enum {
	F_NO_NEW_PRIVS = 1 << 0,
	F_DIE_WITH = 1 << 1,
	F_OOM = 1 << 2,
	F_NOT_ROOT = 1 << 3,
};

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef SYS_close_range
#define SYS_close_range 436
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

static const char *app = "?";

/*
 * errtext is errno's text as the Go side spells it: strerror's with a
 * lower-case first letter ("operation not permitted").
 */
static const char *errtext(int e)
{
	static char buf[128];
	snprintf(buf, sizeof buf, "%s", strerror(e));
	if (buf[0] >= 'A' && buf[0] <= 'Z' && !(buf[1] >= 'A' && buf[1] <= 'Z'))
		buf[0] += 'a' - 'A';
	return buf;
}

/* fail writes one line to the error pipe and ends the helper with 1. */
static void fail(const char *format, ...)
{
	char line[4096];
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(line, sizeof line - 1, format, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n > (int)sizeof line - 2)
		n = sizeof line - 2;
	for (int i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	line[n++] = '\n';
	for (int off = 0; off < n;) {
		ssize_t w = write(ERRPIPE_FD, line + off, n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += w;
	}
	_exit(1);
}

/*
 * readfull reads n bytes from fd: 1 when it did, 0 at end-of-file before
 * the first byte; end-of-file within them is an error.
 */
static int readfull(int fd, void *buf, size_t n, const char *what)
{
	size_t off = 0;
	while (off < n) {
		ssize_t r = read(fd, (char *)buf + off, n - off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail("app %s: reading %s: %s", app, what, errtext(errno));
		if (r == 0) {
			if (off == 0)
				return 0;
			fail("app %s: reading %s: it ends early", app, what);
		}
		off += r;
	}
	return 1;
}

/* zalloc is n zeroed things of size bytes, or the helper's end. */
static void *zalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);
	if (p == NULL)
		fail("app %s: out of memory", app);
	return p;
}

/* A reader of the resolved spec: every read is bounds-checked. */
struct wire {
	const unsigned char *p, *end;
};

static const char *bad = "reading the app's resolved spec: it is malformed";

static uint32_t u32(struct wire *w)
{
	if (w->end - w->p < 4)
		fail("app %s: %s", app, bad);
	uint32_t v = (uint32_t)w->p[0] | (uint32_t)w->p[1] << 8 | (uint32_t)w->p[2] << 16 | (uint32_t)w->p[3] << 24;
	w->p += 4;
	return v;
}

static uint64_t u64(struct wire *w)
{
	uint64_t lo = u32(w);
	return lo | (uint64_t)u32(w) << 32;
}

/* str returns the next string, NUL-terminated in a copy of its own. */
static char *str(struct wire *w)
{
	uint32_t n = u32(w);
	if ((size_t)(w->end - w->p) < n || memchr(w->p, 0, n) != NULL)
		fail("app %s: %s", app, bad);
	char *s = zalloc((size_t)n + 1, 1);
	memcpy(s, w->p, n);
	w->p += n;
	return s;
}

/* strs returns the next list of strings, NULL-terminated. */
static char **strs(struct wire *w)
{
	uint32_t n = u32(w);
	if (n > (uint32_t)(w->end - w->p) / 4)
		fail("app %s: %s", app, bad);
	char **v = zalloc((size_t)n + 1, sizeof *v);
	for (uint32_t i = 0; i < n; i++)
		v[i] = str(w);
	return v;
}

struct rlim {
	uint32_t resource;
	uint64_t soft, hard;
	char *name; /* RLIMIT_NOFILE */
};

struct spec {
	uint32_t flags, uid, gid, ngroups, die_with, nrlimits, nfilter;
	int32_t oom;
	gid_t *groups;
	uint64_t bounding, ambient;
	struct rlim *rlimits;
	char *cwd, *path, **argv, **envp;
	struct sock_filter *filter;
};

static void parse(struct wire *w, struct spec *s)
{
	s->flags = u32(w);
	s->uid = u32(w);
	s->gid = u32(w);
	s->ngroups = u32(w);
	if (s->ngroups > (uint32_t)(w->end - w->p) / 4)
		fail("app %s: %s", app, bad);
	s->groups = zalloc((size_t)s->ngroups + 1, sizeof *s->groups);
	for (uint32_t i = 0; i < s->ngroups; i++)
		s->groups[i] = u32(w);
	s->bounding = u64(w);
	s->ambient = u64(w);
	s->die_with = u32(w);
	s->oom = (int32_t)u32(w);
	s->nrlimits = u32(w);
	if (s->nrlimits > (uint32_t)(w->end - w->p) / 24)
		fail("app %s: %s", app, bad);
	s->rlimits = zalloc((size_t)s->nrlimits + 1, sizeof *s->rlimits);
	for (uint32_t i = 0; i < s->nrlimits; i++) {
		s->rlimits[i].resource = u32(w);
		s->rlimits[i].soft = u64(w);
		s->rlimits[i].hard = u64(w);
		s->rlimits[i].name = str(w);
	}
	s->cwd = str(w);
	s->path = str(w);
	s->argv = strs(w);
	s->envp = strs(w);
	s->nfilter = u32(w);
	if (s->nfilter > 0xffff || s->nfilter > (uint32_t)(w->end - w->p) / 8)
		fail("app %s: %s", app, bad);
	s->filter = zalloc((size_t)s->nfilter + 1, sizeof *s->filter);
	for (uint32_t i = 0; i < s->nfilter; i++) {
		uint32_t a = u32(w);
		s->filter[i].code = a & 0xffff;
		s->filter[i].jt = (a >> 16) & 0xff;
		s->filter[i].jf = a >> 24;
		s->filter[i].k = u32(w);
	}
	if (w->p != w->end || s->argv[0] == NULL)
		fail("app %s: %s", app, bad);
}

static int capget2(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	return syscall(SYS_capget, &hdr, data);
}

static int capset2(struct __user_cap_data_struct data[2])
{
	struct __user_cap_header_struct hdr = {.version = _LINUX_CAPABILITY_VERSION_3};
	return syscall(SYS_capset, &hdr, data);
}

/*
 * dropcaps keeps only keep in the bounding set and empties the inheritable
 * and ambient sets (appexec.DropCapabilities): the effective set stays.
 */
static void dropcaps(uint64_t keep)
{
	for (int c = 0; c < 64; c++) {
		if (keep & (1ULL << c))
			continue;
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
			if (errno == EINVAL)
				break; /* past the kernel's last capability */
			fail("app %s: dropping capability %d: %s", app, c, errtext(errno));
		}
	}
	struct __user_cap_data_struct data[2];
	if (capget2(data) != 0)
		fail("app %s: reading capabilities: %s", app, errtext(errno));
	data[0].inheritable = data[1].inheritable = 0;
	if (capset2(data) != 0)
		fail("app %s: setting capabilities: %s", app, errtext(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
		fail("app %s: clearing ambient capabilities: %s", app, errtext(errno));
}

/* raiseambient gives a non-root app caps across execve (appexec.raiseAmbient). */
static void raiseambient(uint64_t caps)
{
	struct __user_cap_data_struct data[2];
	if (capget2(data) != 0)
		fail("app %s: reading capabilities: %s", app, errtext(errno));
	for (int i = 0; i < 2; i++) {
		data[i].effective = data[i].permitted;
		data[i].inheritable = (uint32_t)(caps >> (32 * i));
	}
	if (capset2(data) != 0)
		fail("app %s: setting capabilities: %s", app, errtext(errno));
	for (int c = 0; c < 64; c++)
		if ((caps & (1ULL << c)) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0)
			fail("app %s: raising ambient capability %d: %s", app, c, errtext(errno));
}

static int refused(int e) { return e == EPERM || e == EACCES; }

static void value(char *buf, size_t n, uint64_t v)
{
	if (v == (uint64_t)-1)
		snprintf(buf, n, "unlimited");
	else
		snprintf(buf, n, "%llu", (unsigned long long)v);
}

/*
 * settings sets oom_score_adj and the resource limits (appexec's
 * applySettings): one the kernel refuses for want of privilege stays as
 * it was and is a warning on the app's stderr.
 */
static void settings(const struct spec *s)
{
	if (s->flags & F_OOM) {
		char old[32] = "", want[32];
		int fd = open("/proc/self/oom_score_adj", O_RDWR | O_CLOEXEC);
		if (fd < 0)
			fail("app %s: reading /proc/self/oom_score_adj: %s", app, errtext(errno));
		ssize_t r = read(fd, old, sizeof old - 1);
		if (r < 0)
			fail("app %s: reading /proc/self/oom_score_adj: %s", app, errtext(errno));
		old[r] = 0;
		old[strcspn(old, "\n")] = 0;
		int n = snprintf(want, sizeof want, "%d", s->oom);
		if (pwrite(fd, want, n, 0) != n) {
			int e = errno;
			if (!refused(e))
				fail("app %s: setting oom_score_adj to %d: write /proc/self/oom_score_adj: %s", app, s->oom, errtext(e));
			dprintf(2, "podctl: app %s: cannot set oom_score_adj to %d (%s); going on with %s\n", app, s->oom, errtext(e), old);
		}
		close(fd);
	}
	for (uint32_t i = 0; i < s->nrlimits; i++) {
		const struct rlim *r = &s->rlimits[i];
		struct rlimit old, want = {.rlim_cur = r->soft, .rlim_max = r->hard};
		if (prlimit(0, r->resource, NULL, &old) != 0)
			fail("app %s: reading %s: %s", app, r->name, errtext(errno));
		if (prlimit(0, r->resource, &want, NULL) == 0)
			continue;
		int e = errno;
		char ws[24], wh[24], os[24], oh[24];
		value(ws, sizeof ws, r->soft);
		value(wh, sizeof wh, r->hard);
		if (!refused(e))
			fail("app %s: setting %s to %s:%s: %s", app, r->name, ws, wh, errtext(e));
		value(os, sizeof os, old.rlim_cur);
		value(oh, sizeof oh, old.rlim_max);
		dprintf(2, "podctl: app %s: cannot set %s to %s:%s (%s); going on with %s:%s\n", app, r->name, ws, wh, errtext(e), os, oh);
	}
}

/* become gives the process what binds the app (appexec's becomeApp). */
static void become(const struct spec *s)
{
	settings(s);
	dropcaps(s->bounding);
	if ((s->flags & F_NOT_ROOT) && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
		fail("app %s: keeping capabilities: %s", app, errtext(errno));
	/* The raw calls: glibc's would signal every thread, and there is one. */
	if (syscall(SYS_setgroups, (size_t)s->ngroups, s->groups) != 0)
		fail("app %s: setting groups: %s", app, errtext(errno));
	if (syscall(SYS_setresgid, s->gid, s->gid, s->gid) != 0)
		fail("app %s: setting group %u: %s", app, s->gid, errtext(errno));
	if (syscall(SYS_setresuid, s->uid, s->uid, s->uid) != 0)
		fail("app %s: setting user %u: %s", app, s->uid, errtext(errno));
	if (s->flags & F_NOT_ROOT)
		raiseambient(s->ambient);
	if (s->flags & F_DIE_WITH) {
		/* After the change of user, which clears it. */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0)
			fail("app %s: asking to die with stage1: %s", app, errtext(errno));
		if ((uint32_t)getppid() != s->die_with)
			fail("app %s: stage1 is gone", app);
	}
	/* Nothing of podctl's reaches the app; the error pipe closes on exec. */
	if (syscall(SYS_close_range, ERRPIPE_FD, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
		for (int fd = ERRPIPE_FD; fd < 1024; fd++)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
	}
	if ((s->flags & F_NO_NEW_PRIVS) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fail("app %s: setting no_new_privs: %s", app, errtext(errno));
	if (s->nfilter > 0) {
		/* Last: only the calls the filter allows work from here. */
		struct sock_fprog prog = {.len = (unsigned short)s->nfilter, .filter = s->filter};
		if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
			fail("app %s: installing the seccomp filter: %s", app, errtext(errno));
	}
}

int main(int argc, char **argv)
{
	struct stat st;
	if (fstat(SPEC_FD, &st) != 0 || !S_ISFIFO(st.st_mode)) {
		fputs("podctl-exec: this is the exec helper of native pods, which a pod's init runs with the app's spec on descriptor 5; run pods with podctl run\n", stderr);
		return 2;
	}
	fcntl(ERRPIPE_FD, F_SETFD, FD_CLOEXEC);
	fcntl(BINARY_FD, F_SETFD, FD_CLOEXEC);
	fcntl(SPEC_FD, F_SETFD, FD_CLOEXEC);
	if (argc < 2 || strcmp(argv[argc - 1], PROTOCOL) != 0) {
		char asked[300] = "an older one";
		if (argc >= 2)
			snprintf(asked, sizeof asked, "\"%.256s\"", argv[argc - 1]);
		fail("podctl-exec speaks %s, but the podctl that ran it speaks %s: install podctl and podctl-exec of one release", PROTOCOL, asked);
	}
	/* The app's name, and what it may become, which binds it while it
	 * waits for the root. */
	unsigned char head[12];
	if (!readfull(SPEC_FD, head, sizeof head, "the app's spec"))
		return 0;
	struct wire m = {head, head + sizeof head};
	uint64_t helper = u64(&m);
	uint32_t namelen = u32(&m);
	if (namelen > 4096)
		fail("podctl-exec: the app's name is over 4096 bytes");
	char *name = zalloc(namelen + 1, 1);
	if (namelen > 0 && !readfull(SPEC_FD, name, namelen, "the app's spec"))
		fail("podctl-exec: reading the app's spec: it ends early");
	app = name;
	dropcaps(helper);
	unsigned char len[4];
	if (!readfull(SPEC_FD, len, sizeof len, "the app's resolved spec"))
		return 0;
	m = (struct wire){len, len + sizeof len};
	uint32_t n = u32(&m);
	if (n > MAX_WIRE)
		fail("app %s: the resolved spec is over %u bytes", app, MAX_WIRE);
	unsigned char *buf = zalloc(n ? n : 1, 1);
	if (n > 0 && !readfull(SPEC_FD, buf, n, "the app's resolved spec"))
		fail("app %s: reading the app's resolved spec: it ends early", app);
	close(SPEC_FD);
	struct spec s;
	struct wire w = {buf, buf + n};
	parse(&w, &s);
	if (chdir(s.cwd) != 0) {
		if (errno == ENOENT)
			fail("app %s: working directory %s does not exist in the image", app, s.cwd);
		fail("app %s: working directory %s: chdir %s: %s", app, s.cwd, s.cwd, errtext(errno));
	}
	become(&s);
	execve(s.path, s.argv, s.envp);
	fail("app %s: executing %s: %s", app, s.path, errtext(errno));
	return 1;
}
