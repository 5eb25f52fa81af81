/*
 * A minimal sd_notify(3) sender for test VMs (busybox has none): joins its arguments with newlines and sends them
 * as one datagram to $NOTIFY_SOCKET. Like sd_notify_barrier(3) it then lingers a moment, so the receiver can still
 * find the sender's process when it checks who sent the message.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv) {
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || *path == '\0') {
        fprintf(stderr, "sdnotify: NOTIFY_SOCKET is not set\n");
        return 2;
    }
    char msg[4096];
    size_t n = 0;
    for (int i = 1; i < argc; i++) {
        size_t l = strlen(argv[i]);
        if (n + l + 1 >= sizeof msg) return 3;
        memcpy(msg + n, argv[i], l);
        n += l;
        msg[n++] = '\n';
    }
    struct sockaddr_un a;
    memset(&a, 0, sizeof a);
    a.sun_family = AF_UNIX;
    strncpy(a.sun_path, path, sizeof a.sun_path - 1);
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || sendto(fd, msg, n, 0, (struct sockaddr *) &a, sizeof a) < 0) {
        perror("sdnotify: sendto");
        return 1;
    }
    usleep(300000);
    return 0;
}
