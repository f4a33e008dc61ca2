/* cmd_alerting.h — the `alert` and `silence` subcommands (cmd/cmd_alert.c).
 * argv[0] is the subcommand name ("alert" / "silence"); return values are exit codes.
 */
#ifndef WG_CMD_ALERTING_H
#define WG_CMD_ALERTING_H

/* wavegate alert test --config FILE --receiver R [--state-dir D]
 * wavegate alert bench --url URL [--n N] [--state-dir D]  (bench/bench_alerting.sh) */
int wg_cmd_alert(int argc, char **argv);
/* wavegate silence add|list|expire [--config FILE | --state-dir D] ... */
int wg_cmd_silence(int argc, char **argv);

#endif
