/* ephport: run a program under libephport, summarise its log, watch it
 * live, check the configuration.  See ephport(1). */
#include <stdio.h>
#include <string.h>

#include "tool.h"

static void usage(FILE *f)
{
	fputs("usage: ephport COMMAND [ARGS]\n"
	      "\n"
	      "  run [options] -- CMD [ARG...]   run CMD with libephport preloaded\n"
	      "  report [options] [FILE...]      summarise a log (default ./ephport.jsonl);\n"
	      "                                  --html, --openmetrics for a page, metrics\n"
	      "  top [options] [FILE]            watch a log being written, live\n"
	      "  check                           print the effective configuration\n"
	      "\n"
	      "  ephport COMMAND --help          options of a command\n"
	      "  ephport --version               the version\n"
	      "See ephport(1) and libephport(7).\n", f);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		int (*fn)(int, char **);
		char *argv0;
	} cmds[] = {
		{"run", cmd_run, "ephport run"},
		{"report", cmd_report, "ephport report"},
		{"check", cmd_check, "ephport check"},
		{"top", cmd_top, "ephport top"},
	};

	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("ephport %s\n", EPHPORT_VERSION);
		return 0;
	}
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		if (strcmp(argv[1], cmds[i].name) == 0) {
			argv[1] = cmds[i].argv0; /* getopt's messages name the command */
			return cmds[i].fn(argc - 1, argv + 1);
		}
	}
	fprintf(stderr, "ephport: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
