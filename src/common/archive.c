#include "archive.h"

#include <stdio.h>

static const struct knob archive[] = {
	KNOB_INT("ARCHIVE_MAXLEN", 1000000, 1000, 100000000,
		 "the archive stream's cap (XADD MAXLEN ~): the backlog of messages "
		 "not yet in PostgreSQL that Redis holds before the oldest are lost; "
		 "the same for every program of a stack"),
};
const struct knob_table archive_knobs = KNOB_TABLE(archive);

const char *archive_maxlen(void)
{
	static char text[24];
	if (!text[0])
		snprintf(text, sizeof text, "%ld", config_int(&archive_knobs, "ARCHIVE_MAXLEN"));
	return text;
}
