/* `ephport run` helpers (exposed for tests). */
#ifndef EP_RUN_H
#define EP_RUN_H

#include <stddef.h>

/* The library that goes with the command at EXE: EXEDIR/libephport.so (the
 * build tree), else EXEDIR/../lib/libephport.so.0, else
 * EXEDIR/../lib/libephport.so (an installed prefix).  0 and OUT filled, or
 * -1 with the places tried in OUT. */
int run_find_library(const char *exe, char *out, size_t len);

/* CMD resolved as execvp() would, through PATH_ENV (NULL: "/bin:/usr/bin").
 * 0 and OUT filled, or -ENOENT (not found) or -EACCES (found, not
 * executable). */
int run_resolve(const char *cmd, const char *path_env, char *out, size_t len);

/* The EPHPORT_LOG value for `-o ARG` (NULL: the default ./ephport.jsonl):
 * "-" and "stderr" give stderr, fd:N is kept, a relative path is made
 * absolute (the program may change directory).  0, or -1 (path too long
 * or no working directory). */
int run_log_value(const char *arg, char *out, size_t len);

/* Why the dynamic loader will not preload LIB into PATH, or 0 if it will
 * (as far as can be told): MSG gets one sentence. */
int run_preload_problem(const char *path, const char *lib, char *msg, size_t len);

#endif
