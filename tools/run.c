/* `ephport run`: CMD with libephport preloaded, in the manner of
 * proxychains and faketime.  The options become EPHPORT_* variables checked
 * by the library's own loader before CMD starts. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "config.h"
#include "elfinfo.h"
#include "tool.h"

/* ---- finding things ----------------------------------------------------- */

static bool readable(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, R_OK) == 0;
}

int run_find_library(const char *exe, char *out, size_t len)
{
	char dir[PATH_MAX], lib[PATH_MAX], up[PATH_MAX + 8];

	snprintf(dir, sizeof(dir), "%s", exe);
	dirname(dir);
	if (snprintf(out, len, "%s/libephport.so", dir) < (int)len && readable(out))
		return 0;
	/* PREFIX/bin/../lib, spelled without "..": ld.so and users read it. */
	snprintf(up, sizeof(up), "%s/../lib", dir);
	if (realpath(up, lib)) {
		static const char *const names[] = {"libephport.so.0", "libephport.so"};
		for (size_t i = 0; i < 2; i++)
			if (snprintf(out, len, "%s/%s", lib, names[i]) < (int)len &&
			    readable(out))
				return 0;
	}
	snprintf(out, len, "%s/libephport.so, %s/libephport.so.0 or libephport.so",
	         dir, up);
	return -1;
}

int run_resolve(const char *cmd, const char *path_env, char *out, size_t len)
{
	bool denied = false;
	struct stat st;

	if (strchr(cmd, '/')) {
		if (snprintf(out, len, "%s", cmd) >= (int)len || stat(out, &st) < 0)
			return -ENOENT;
		return S_ISREG(st.st_mode) && access(out, X_OK) == 0 ? 0 : -EACCES;
	}
	const char *p = path_env ? path_env : "/bin:/usr/bin";
	for (;;) {
		size_t n = strcspn(p, ":");
		/* An empty entry means the current directory, as for execvp. */
		int w = n ? snprintf(out, len, "%.*s/%s", (int)n, p, cmd)
		          : snprintf(out, len, "%s", cmd);
		if (w < (int)len && stat(out, &st) == 0 && S_ISREG(st.st_mode)) {
			if (access(out, X_OK) == 0)
				return 0;
			denied = true;
		}
		if (!p[n])
			break;
		p += n + 1;
	}
	return denied ? -EACCES : -ENOENT;
}

int run_log_value(const char *arg, char *out, size_t len)
{
	char cwd[PATH_MAX];

	if (!arg)
		arg = "ephport.jsonl";
	if (strcmp(arg, "-") == 0 || strcmp(arg, "stderr") == 0)
		arg = "stderr";
	if (arg[0] == '/' || strcmp(arg, "stderr") == 0 || strncmp(arg, "fd:", 3) == 0 ||
	    arg[0] == '\0')
		return snprintf(out, len, "%s", arg) < (int)len ? 0 : -1;
	if (!getcwd(cwd, sizeof(cwd)))
		return -1;
	return snprintf(out, len, "%s/%s", strcmp(cwd, "/") ? cwd : "", arg) < (int)len ? 0 : -1;
}

/* ---- can it be preloaded? ------------------------------------------------ */

/* The loader runs in secure-execution mode (and ignores LD_PRELOAD) when
 * exec changes the process's credentials. */
static bool secure_exec(const char *path, const struct stat *st)
{
	if ((st->st_mode & S_ISUID) && st->st_uid != getuid())
		return true;
	if ((st->st_mode & S_ISGID) && (st->st_mode & S_IXGRP) && st->st_gid != getgid())
		return true;
	return getuid() != 0 && getxattr(path, "security.capability", NULL, 0) > 0;
}

/* "#!/path/interp args": the interpreter, which is what gets preloaded. */
static bool shebang(int fd, char *interp, size_t len)
{
	char buf[256];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n < 3 || buf[0] != '#' || buf[1] != '!')
		return false;
	buf[n] = '\0';
	char *p = buf + 2 + strspn(buf + 2, " \t");
	size_t w = strcspn(p, " \t\n");
	if (w == 0 || w >= len)
		return false;
	memcpy(interp, p, w);
	interp[w] = '\0';
	return true;
}

static int lib_info(const char *lib, struct elf_info *li)
{
	int fd = open(lib, O_RDONLY | O_CLOEXEC);
	int rc = fd < 0 ? -1 : elf_inspect(fd, li);

	if (fd >= 0)
		close(fd);
	return rc;
}

int run_preload_problem(const char *path, const char *lib, char *msg, size_t len)
{
	char interp[PATH_MAX];
	struct elf_info ei, li;
	struct stat st;
	int depth = 0, rc = 0;

	for (;;) {
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &st) < 0) {
			if (fd >= 0)
				close(fd);
			return 0; /* exec will say what is wrong */
		}
		if (secure_exec(path, &st)) {
			snprintf(msg, len, "%s is setuid, setgid or has file capabilities: "
			         "the dynamic loader ignores LD_PRELOAD for it", path);
			rc = 1;
		} else if (shebang(fd, interp, sizeof(interp)) && ++depth < 4) {
			close(fd);
			path = interp; /* the interpreter is what the loader starts */
			continue;
		} else if (elf_inspect(fd, &ei) == 1) {
			if (!ei.interp) {
				snprintf(msg, len, "%s is a static executable (no PT_INTERP): "
				         "nothing can be preloaded into it", path);
				rc = 1;
			} else if (lib_info(lib, &li) == 1 &&
			           (li.is64 != ei.is64 || li.machine != ei.machine)) {
				snprintf(msg, len, "%s is built for another ELF class or machine "
				         "than %s: the loader will skip the library", path, lib);
				rc = 1;
			}
		}
		close(fd);
		return rc;
	}
}

/* ---- running -------------------------------------------------------------- */

/* Run ARGV; forward SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to ephport
 * alone; return the shell-style status. */
static int spawn(char **argv)
{
	static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD};
	sigset_t set, old;
	int status;

	sigemptyset(&set);
	for (size_t i = 0; i < sizeof(fwd) / sizeof(fwd[0]); i++)
		sigaddset(&set, fwd[i]);
	signal(SIGCHLD, SIG_DFL); /* SIG_IGN would reap the child behind us */
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "ephport run: fork: %s\n", strerror(errno));
		return 2;
	}
	if (pid == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		execvp(argv[0], argv);
		int e = errno;
		fprintf(stderr, "ephport run: %s: %s\n", argv[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(&set, &si);
		if (sig == SIGCHLD || (sig < 0 && errno == EINTR)) {
			pid_t r = waitpid(pid, &status, WNOHANG);
			if (r == pid)
				break;
			continue;
		}
		/* A signal the kernel sent (the terminal's ^C, ^\, hangup) went
		 * to the whole foreground process group, the child included. */
		if (sig > 0 && si.si_code != SI_KERNEL && si.si_pid != pid)
			kill(pid, sig);
	}
	/* The signals stay blocked: one arriving now must not kill ephport
	 * before it reports CMD's status. */
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}

static void usage(FILE *f)
{
	fputs("usage: ephport run [options] [--] CMD [ARG...]\n"
	      "Run CMD with libephport preloaded; its connect() calls are logged.\n"
	      "\n"
	      "  -r, --range RULES        source port range (EPHPORT_RANGE): LOW-HIGH, or\n"
	      "                           rules DEST=LOW-HIGH;...;LOW-HIGH, DEST an address\n"
	      "                           or CIDR with an optional :PORT ([IPv6]:PORT)\n"
	      "  -s, --strategy NAME      kernel, random, sequential or native\n"
	      "  -o, --output FILE        log file (default ./ephport.jsonl, appended);\n"
	      "                           - or stderr: standard error; fd:N\n"
	      "      --seed KEY           fixed key: 32 hex digits or a decimal integer\n"
	      "      --source RULES       source addresses to bind (EPHPORT_SOURCE): a\n"
	      "                           comma list of addresses and IPv4 ranges A-B,\n"
	      "                           or rules DEST=LIST;...;LIST as for --range\n"
	      "      --reserved LIST      ports never chosen, e.g. 40000,41000-41010\n"
	      "      --commit MODE        auto, range or bind: how a chosen port is\n"
	      "                           committed (EPHPORT_COMMIT)\n"
	      "  -h, --help               this help\n"
	      "Exit status: CMD's (128+N if signal N killed it); 2 for an invalid\n"
	      "option, 126/127 if CMD cannot be run or is not found.\n", f);
}

enum { OPT_SEED = 256, OPT_SOURCE, OPT_RESERVED, OPT_COMMIT };

static const struct option long_opts[] = {
	{"range", required_argument, NULL, 'r'},
	{"strategy", required_argument, NULL, 's'},
	{"output", required_argument, NULL, 'o'},
	{"seed", required_argument, NULL, OPT_SEED},
	{"source", required_argument, NULL, OPT_SOURCE},
	{"reserved", required_argument, NULL, OPT_RESERVED},
	{"commit", required_argument, NULL, OPT_COMMIT},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* Set the EPHPORT_* variables from the options; 0, 1 (--help shown) or 2. */
static int parse_options(int argc, char **argv, const char **log)
{
	static const struct { int opt; const char *var; } vars[] = {
		{'r', "EPHPORT_RANGE"}, {'s', "EPHPORT_STRATEGY"},
		{OPT_SEED, "EPHPORT_SEED"}, {OPT_SOURCE, "EPHPORT_SOURCE"},
		{OPT_RESERVED, "EPHPORT_RESERVED"}, {OPT_COMMIT, "EPHPORT_COMMIT"},
	};
	int c;

	optind = 0;
	while ((c = getopt_long(argc, argv, "+r:s:o:h", long_opts, NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == 'o') {
			*log = optarg;
			continue;
		}
		size_t i = 0;
		while (i < sizeof(vars) / sizeof(vars[0]) && vars[i].opt != c)
			i++;
		if (i == sizeof(vars) / sizeof(vars[0])) {
			fprintf(stderr, "Try 'ephport run --help'.\n");
			return 2;
		}
		setenv(vars[i].var, optarg, 1);
	}
	if (optind >= argc) {
		fprintf(stderr, "ephport run: no command given\n");
		usage(stderr);
		return 2;
	}
	return 0;
}

/* The same check, with the same messages, as the library at start-up. */
static int validate(void)
{
	struct ep_config *c = malloc(sizeof(*c));

	if (!c) {
		fprintf(stderr, "ephport run: out of memory\n");
		return -1;
	}
	int rc = ep_config_load(c, &ep_config_source_process);
	if (rc < 0)
		fprintf(stderr, "%s\n", c->error);
	free(c);
	return rc;
}

static int set_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	size_t n = strlen(lib) + (old ? strlen(old) : 0) + 2;
	char *v;

	/* The loader splits LD_PRELOAD at spaces and colons. */
	if (strpbrk(lib, " :")) {
		fprintf(stderr, "ephport run: the library path \"%s\" contains a space "
		        "or colon, which LD_PRELOAD cannot carry\n", lib);
		return -1;
	}
	if (!(v = malloc(n)))
		return -1;
	snprintf(v, n, "%s%s%s", lib, old && *old ? ":" : "", old ? old : "");
	setenv("LD_PRELOAD", v, 1);
	free(v);
	return 0;
}

/* Create the log now, so that a bad path fails before CMD runs and a run
 * without any connect() leaves an empty log rather than none. */
static int open_log(const char *value)
{
	if (value[0] != '/')
		return 0; /* stderr, fd:N */
	int fd = open(value, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		fprintf(stderr, "ephport run: cannot open the log %s: %s\n", value,
		        strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

int cmd_run(int argc, char **argv)
{
	char exe[PATH_MAX], lib[2 * PATH_MAX], cmd[PATH_MAX], log[PATH_MAX], msg[2 * PATH_MAX];
	const char *log_arg = NULL;
	int rc = parse_options(argc, argv, &log_arg);

	if (rc)
		return rc == 1 ? 0 : 2;
	errno = 0;
	if (run_log_value(log_arg, log, sizeof(log)) < 0) {
		fprintf(stderr, "ephport run: cannot make the log path absolute: %s\n",
		        strerror(errno ? errno : ENAMETOOLONG));
		return 2;
	}
	setenv("EPHPORT_LOG", log, 1);
	if (validate() < 0)
		return 2;

	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n < 0) {
		fprintf(stderr, "ephport run: /proc/self/exe: %s\n", strerror(errno));
		return 2;
	}
	exe[n] = '\0';
	if (run_find_library(exe, lib, sizeof(lib)) < 0) {
		fprintf(stderr, "ephport run: cannot find the library: looked for %s\n", lib);
		return 2;
	}

	char **cmdv = argv + optind;
	rc = run_resolve(cmdv[0], getenv("PATH"), cmd, sizeof(cmd));
	if (rc < 0) {
		fprintf(stderr, "ephport run: %s: %s\n", cmdv[0],
		        rc == -ENOENT ? "command not found" : strerror(-rc));
		return rc == -ENOENT ? 127 : 126;
	}
	if (run_preload_problem(cmd, lib, msg, sizeof(msg)))
		fprintf(stderr, "ephport run: warning: %s; its connect() calls will "
		        "not be seen or logged\n", msg);
	if (set_preload(lib) < 0 || open_log(log) < 0)
		return 2;
	return spawn(cmdv);
}
