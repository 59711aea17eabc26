/* daemon_heartbeat_file, in a file of its own so that only the programs
 * that call it link it and read HEARTBEAT_FILE (t/18-config.bats goes by what
 * each program links). */
#include "daemon.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

void daemon_heartbeat_file(void)
{
	const char *path = config_text(&heartbeat_knobs, "HEARTBEAT_FILE");
	if (!path)
		return;
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd >= 0) {
		futimens(fd, NULL);
		close(fd);
	}
}
