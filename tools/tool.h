/* The `ephport` command: its subcommands and what they share. */
#ifndef EP_TOOL_H
#define EP_TOOL_H

#include "ephport.h" /* EPHPORT_VERSION: one version for library and command */

#ifndef EPHPORT_VERSION
#error "include/ephport.h must define EPHPORT_VERSION"
#endif

/* Each takes its own argument vector (ARGV[0] is "ephport NAME") and
 * returns the exit status. */
int cmd_run(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_top(int argc, char **argv);

#endif
