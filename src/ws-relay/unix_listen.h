/* UNIX_SOCKET: a Unix socket beside the port, for nginx (unix_listen.c) */
#ifndef SC_UNIX_LISTEN_H
#define SC_UNIX_LISTEN_H

/* Listens on path (NULL or "": not at all); -1 when it cannot. */
int unix_listen_start(const char *path);
/* Stops listening and removes the socket's file, if it is still the one it bound. */
void unix_listen_stop(void);

#endif
