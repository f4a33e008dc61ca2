/* cmd.h — subcommands implemented outside main.c, each `int (int argc, char **argv)` with
 * argv[0] the subcommand's name, returning the process exit code.
 */
#ifndef WG_CMD_H
#define WG_CMD_H

/* `wavegate serve --config F [--listen ADDR:PORT]`: runs until SIGTERM/SIGINT (drain, exit 0);
 * SIGHUP reloads the config (an invalid one is logged and the old one kept). */
int wg_cmd_serve(int argc, char **argv);

#endif
