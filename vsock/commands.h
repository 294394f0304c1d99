/* The subcommands of nsm-vsock (nsm-vsock.c dispatches; each returns the exit code:
 * 0 ok, 1 a refused input, 2 usage or I/O errors). */
#ifndef NSMKIT_VSOCK_COMMANDS_H
#define NSMKIT_VSOCK_COMMANDS_H

#define NSMVSOCK_VERSION "nsm-vsock (nsmkit) 0.1.0"

int nsmvsock_cmd_exec(int argc, char **argv);
int nsmvsock_cmd_proxy(int argc, char **argv);
int nsmvsock_cmd_heartbeat(int argc, char **argv);

/* Prints "nsm-vsock <cmd>: NUMBER NAME: message" on stderr; returns 2. */
int nsmvsock_report(const char *cmd, int code, const char *msg);

#endif /* NSMKIT_VSOCK_COMMANDS_H */
