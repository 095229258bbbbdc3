/*
 * podctl-wait is what a native pod's stage1 becomes once the pod's apps
 * have run for a moment: a Go program that only waits keeps 3 MiB and
 * eight threads resident for the pod's whole life, this one a few pages
 * and one thread. stage1 executes it in its own process, so that it keeps
 * stage1's pid, its lock of the pod, and the pod's init as its child.
 *
 * It passes the stop signals (SIGTERM, SIGINT, SIGHUP) on to the init,
 * runs podctl's usage sampler when one is due, and once the init has
 * ended, runs podctl's end of the pod (its cgroups, its networks, its
 * result) and exits with that program's exit status, the pod's. Both are
 * run from the podctl binary stage1 ran from, through a descriptor, and
 * decide everything: this program only waits and starts them.
 *
 *   podctl-wait PROTOCOL INIT_PID EXE_FD LOCK_FD DELAY_MS STATE
 *               T TITLE... (T of them) N SAMPLE_ARG... (N of them) END_ARG...
 *
 * TITLE... is stage1's own command line (podctl run ...): it takes the
 * place of these arguments in /proc/PID/cmdline, so that ps, pgrep -f
 * and pkill -f find the pod's `podctl run` as they did before.
 *
 * The sampler runs as SAMPLE_ARG... STATE, DELAY_MS after this program
 * starts, with a pipe as its standard output, on which it writes one line,
 * "DELAY_MS STATE": when to run it next, and the STATE to give it. A
 * sampler that fails, or writes anything else, is not run again (it says
 * why itself). N is 0 for none. The end runs as END_ARG... WAIT_STATUS,
 * the init's raw wait status in decimal, once no sampler runs.
 *
 * `podctl-wait --protocol` prints PROTOCOL: stage1 checks it before it
 * becomes this program, from which there is no way back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <link.h>
#include <sys/mman.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROTOCOL "podctl-wait-protocol/1"

/* A sampler's line is far shorter. */
#define MAX_LINE 256

static int exe_fd, lock_fd;
static pid_t init_pid;

static void say(const char *format, ...) __attribute__((format(printf, 1, 2)));

/* say writes one line of podctl's form on stderr. */
static void say(const char *format, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, format);
	int n = vsnprintf(line, sizeof line - 1, format, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof line - 2)
		n = sizeof line - 2;
	line[n++] = '\n';
	/* Nowhere else to say it if this fails. */
	ssize_t w = write(2, line, n);
	(void)w;
}

/* number parses a decimal in [min, max], or returns -1. */
static long long number(const char *s, long long min, long long max)
{
	if (*s == '\0')
		return -1;
	errno = 0;
	char *end;
	long long v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return -1;
	return v;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * spawn runs podctl's binary with args and last appended, with out (if not
 * -1) as its standard output, and returns its pid, or -1. The child gets
 * the signals back as podctl expects them, except SIGINT and SIGHUP, which
 * it ignores: a Ctrl-C or a hang-up meant for the pod must not cut short
 * the work that follows it (Go keeps both ignored, as inherited).
 */
static pid_t spawn(char **args, int n, const char *last, int out, const sigset_t *mask)
{
	char **argv = calloc((size_t)n + 2, sizeof *argv);
	if (argv == NULL)
		return -1;
	memcpy(argv, args, (size_t)n * sizeof *argv);
	argv[n] = (char *)last;
	pid_t pid = fork();
	if (pid == 0) {
		if (out >= 0 && dup2(out, 1) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		signal(SIGINT, SIG_IGN);
		signal(SIGHUP, SIG_IGN);
		sigprocmask(SIG_UNBLOCK, mask, NULL);
		extern char **environ;
		syscall(SYS_execveat, exe_fd, "", argv, environ, AT_EMPTY_PATH);
		say("podctl-wait: running podctl: %s", strerror(errno));
		_exit(127);
	}
	free(argv);
	return pid;
}

/* The program's read-only segments (code, constants): at most a few. */
static struct {
	uintptr_t start, end;
} ro[8];
static int nro;

/* The ELF header of this program, where it was loaded (GNU ld, lld). */
extern const ElfW(Ehdr) __ehdr_start;

/* find_ro finds the read-only segments this program was loaded from. */
static void find_ro(void)
{
	const ElfW(Ehdr) *eh = &__ehdr_start;
	const ElfW(Phdr) *ph = (const ElfW(Phdr) *)((const char *)eh + eh->e_phoff);
	/* Where the segment that starts at the file's start (the header's)
	 * was loaded tells how far the program was moved, if it was. */
	uintptr_t bias = 0;
	int found = 0;
	for (int i = 0; i < eh->e_phnum; i++)
		if (ph[i].p_type == PT_LOAD && ph[i].p_offset == 0) {
			bias = (uintptr_t)eh - ph[i].p_vaddr;
			found = 1;
		}
	for (int i = 0; found && i < eh->e_phnum && nro < (int)(sizeof ro / sizeof ro[0]); i++) {
		/* A writable segment holds pages written since it was loaded
		 * (relocations, data): never dropped. */
		if (ph[i].p_type != PT_LOAD || (ph[i].p_flags & PF_W))
			continue;
		ro[nro].start = (bias + ph[i].p_vaddr) & ~(uintptr_t)4095;
		ro[nro].end = (bias + ph[i].p_vaddr + ph[i].p_memsz + 4095) & ~(uintptr_t)4095;
		/* No fault-around: a page it runs again comes alone. */
		madvise((void *)ro[nro].start, ro[nro].end - ro[nro].start, MADV_RANDOM);
		nro++;
	}
}

/*
 * shed drops this process's mappings of its own code and constants
 * before it sleeps: what stays resident beside a pod, for as long as it
 * runs, is then only the little that runs between two sleeps (and what
 * the kernel maps around it), not all of libc's start-up. A page it uses
 * again comes back from the page cache at a minor fault; these pages are
 * the file's, never written, so nothing is lost.
 */
static void shed(void)
{
	for (int i = 0; i < nro; i++)
		madvise((void *)ro[i].start, ro[i].end - ro[i].start, MADV_DONTNEED);
}

/*
 * reap reaps every child that has ended: the init (init_done, its wait
 * status init_status), the sampler (exited, its status sampler_status),
 * and any other, which stage1 may have left.
 */
static void reap(int *init_done, int *init_status, pid_t sampler, int *exited, int *sampler_status)
{
	int st;
	pid_t w;
	while ((w = waitpid(-1, &st, WNOHANG)) > 0) {
		if (w == init_pid) {
			*init_done = 1;
			*init_status = st;
		} else if (sampler != 0 && w == sampler) {
			*exited = 1;
			*sampler_status = st;
		}
	}
}

/* copy copies the n strings of v into memory of their own. */
static char **copy(char **v, int n)
{
	char **out = calloc((size_t)n + 1, sizeof *out);
	for (int i = 0; out != NULL && i < n; i++)
		if ((out[i] = strdup(v[i])) == NULL)
			return NULL;
	return out;
}

/*
 * retitle writes the n strings of title over this program's arguments,
 * in the memory the kernel shows as /proc/PID/cmdline (which ends at the
 * last argument's end), cut to fit, and zeroes the rest.
 */
static void retitle(int argc, char **argv, char **title, int n)
{
	char *start = argv[0], *stop = argv[argc - 1] + strlen(argv[argc - 1]);
	char buf[4096];
	size_t len = 0;
	for (int i = 0; i < n; i++) {
		size_t l = strlen(title[i]);
		if (len + l + 1 > sizeof buf)
			break;
		memcpy(buf + len, title[i], l + 1);
		len += l + 1;
	}
	if (len == 0)
		return;
	size_t room = (size_t)(stop - start);
	if (len - 1 > room)
		len = room + 1;
	memcpy(start, buf, len - 1);
	memset(start + len - 1, 0, room - (len - 1) + 1);
}

/* code is the pod's exit code from its init's wait status st. */
static int code(int st)
{
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return WEXITSTATUS(st);
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--protocol") == 0) {
		puts(PROTOCOL);
		return 0;
	}
	if (argc < 10 || strcmp(argv[1], PROTOCOL) != 0) {
		fputs("podctl-wait: this is what a native pod's stage1 becomes while its apps run; run pods with podctl run\n", stderr);
		return 2;
	}
	long long pid = number(argv[2], 1, INT_MAX), efd = number(argv[3], 3, INT_MAX), lfd = number(argv[4], 3, INT_MAX);
	long long delay = number(argv[5], 0, LLONG_MAX / 4), ntitle = number(argv[7], 0, argc - 10), nsample = -1;
	if (ntitle >= 0)
		nsample = number(argv[8 + ntitle], 0, argc - 10 - ntitle);
	if (pid < 0 || efd < 0 || lfd < 0 || delay < 0 || ntitle < 0 || nsample < 0) {
		fputs("podctl-wait: malformed arguments; run pods with podctl run\n", stderr);
		return 2;
	}
	find_ro();
	init_pid = (pid_t)pid;
	exe_fd = (int)efd;
	lock_fd = (int)lfd;
	char state[MAX_LINE];
	snprintf(state, sizeof state, "%s", argv[6]);
	/* Copied out of the arguments' memory, which the title takes. */
	int nend = argc - 9 - (int)ntitle - (int)nsample;
	char **sample = copy(argv + 9 + ntitle, (int)nsample), **end = copy(argv + 9 + ntitle + nsample, nend);
	if (sample == NULL || end == NULL) {
		say("podctl-wait: out of memory");
		return 254;
	}
	retitle(argc, argv, argv + 8, (int)ntitle);

	/* Nothing this program starts holds the pod's lock: the pod reads as
	 * running for as long as this process lives, and no longer. */
	fcntl(exe_fd, F_SETFD, FD_CLOEXEC);
	fcntl(lock_fd, F_SETFD, FD_CLOEXEC);
	signal(SIGPIPE, SIG_IGN);
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGCHLD);
	/* stage1 blocked them before its execve: one that came since is
	 * pending, and read here. */
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int init_done = 0, init_status = 0;
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		say("podctl-wait: %s", strerror(errno));
		return 254;
	}

	/* The init may have ended before stage1 blocked SIGCHLD, which Go
	 * then took: what has ended is reaped now, and the rest is told by
	 * the signalfd. */
	reap(&init_done, &init_status, 0, NULL, NULL);

	long long next = nsample > 0 ? now_ms() + delay : -1;
	/* sampler is the sampler's pid while it runs (0: none), until it has
	 * exited (exited) and its pipe is shut (pipe_fd). */
	pid_t sampler = 0;
	int pipe_fd = -1, exited = 0, sampler_status = 0;
	char line[MAX_LINE];
	size_t got = 0;
	for (;;) {
		/* A sampler is done once it has exited and its pipe is shut. */
		if (sampler != 0 && exited && pipe_fd < 0) {
			sampler = exited = 0;
			long long ms;
			char st[MAX_LINE];
			line[got < sizeof line ? got : sizeof line - 1] = '\0';
			if (next >= 0 && WIFEXITED(sampler_status) && WEXITSTATUS(sampler_status) == 0 &&
			    sscanf(line, "%lld %255[A-Za-z0-9_.:=-]\n", &ms, st) == 2 && ms >= 0 && ms <= LLONG_MAX / 4) {
				memcpy(state, st, sizeof st);
				next = now_ms() + ms;
			} else {
				next = -1;
			}
			got = 0;
		}
		if (init_done && sampler == 0)
			break;
		if (!init_done && sampler == 0 && next >= 0 && now_ms() >= next) {
			int p[2];
			if (pipe2(p, O_CLOEXEC) != 0) {
				say("podctl-wait: recording the pod's usage: %s", strerror(errno));
				next = -1;
			} else {
				pid_t s = spawn(sample, (int)nsample, state, p[1], &mask);
				close(p[1]);
				if (s < 0) {
					say("podctl-wait: recording the pod's usage: %s", strerror(errno));
					close(p[0]);
					next = -1;
				} else {
					sampler = s;
					pipe_fd = p[0];
				}
			}
		}
		struct pollfd fds[2] = {{.fd = sfd, .events = POLLIN}, {.fd = pipe_fd, .events = POLLIN}};
		int timeout = -1;
		if (sampler == 0 && next >= 0) {
			long long left = next - now_ms();
			timeout = left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
		}
		shed();
		int n = poll(fds, pipe_fd >= 0 ? 2 : 1, timeout);
		if (n < 0 && errno != EINTR) {
			say("podctl-wait: %s", strerror(errno));
			return 254;
		}
		if (n <= 0)
			continue;
		if (pipe_fd >= 0 && fds[1].revents) {
			char buf[MAX_LINE];
			ssize_t r = read(pipe_fd, buf, sizeof buf);
			if (r > 0) {
				size_t room = sizeof line - got;
				memcpy(line + got, buf, (size_t)r < room ? (size_t)r : room);
				got += (size_t)r < room ? (size_t)r : room;
			} else if (r == 0 || errno != EINTR) {
				close(pipe_fd);
				pipe_fd = -1;
			}
		}
		if (!(fds[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			if (si.ssi_signo != SIGCHLD) {
				/* Until it is reaped, the pid is the init's alone. */
				if (!init_done)
					kill(init_pid, (int)si.ssi_signo);
				continue;
			}
			reap(&init_done, &init_status, sampler, &exited, &sampler_status);
		}
	}

	char status[16];
	snprintf(status, sizeof status, "%d", init_status);
	pid_t e = spawn(end, nend, status, -1, &mask);
	if (e < 0) {
		say("podctl-wait: ending the pod: %s", strerror(errno));
		return code(init_status);
	}
	for (;;) {
		int st;
		pid_t w = waitpid(e, &st, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 || !WIFEXITED(st)) {
			say("podctl-wait: the end of the pod did not finish; podctl gc will undo what is left of it");
			return code(init_status);
		}
		return WEXITSTATUS(st);
	}
}
