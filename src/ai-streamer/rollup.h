/* CHUNK_ROLLUP_MS: the tokens of one reply that come close together go out
 * as one chunk, as hosted services do for fast models. */
#ifndef SC_ROLLUP_H
#define SC_ROLLUP_H

#include "backend.h"

struct job;

/* The next chunk of a streaming job. TOKEN_READY: j->tok and j->token_len
 * hold it, one token or (CHUNK_ROLLUP_MS) several; TOKEN_WAIT: nothing to
 * send yet, the job's timer or its backend steps it again; TOKEN_END and
 * TOKEN_FAILED as the backend said, once what it gave before is sent. */
enum token_next chunk_next(struct job *j);
/* When the chunk chunk_next made ready had its first token (monotonic ms;
 * without a window, the loop's cached time: no clock read a token): a
 * window's wait is then in the latency its frame's ts measures. */
int64_t chunk_born_mono_ms(const struct job *j);
/* The chunk is written: the next one starts empty. */
void chunk_written(struct job *j);

#endif
