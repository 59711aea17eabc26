/* A test-only crash point: where a process's work spans two Redis steps,
 * fault_point(name, subject) ends the process at once (_exit, nothing
 * flushed) when FAULT_POINT names that point, alone or as name@subject with
 * this subject (a session id), so the tests can prove what the second
 * step's absence leaves (doc/testing.md, "Fault points"). FAULT_POINT may
 * name several, separated by spaces. Unset, it costs one test. */
#ifndef SC_FAULT_H
#define SC_FAULT_H

void fault_point(const char *name, const char *subject);

#endif
