/*
 * prof_check.h - the `skywave profile check FILE...` command.
 *
 * prof_check_main(argc, argv): argv[0] is the command name, the rest are
 * profile names or paths (resolved with prof_find()). For each good file it
 * prints "OK PATH: name=... summary" on stdout; for each error
 * "file:line: message" on stderr (every error, not only the first).
 * Returns the exit status: 0 all good, 64 (EX_USAGE) no files, 65
 * (EX_DATAERR) some profile has errors or cannot be read.
 */
#ifndef GW_FIRMWARE_PROFILES_PROF_CHECK_H
#define GW_FIRMWARE_PROFILES_PROF_CHECK_H

int prof_check_main(int argc, char **argv);

#endif
