-- POST /api/chat, atomically: ownership, rate and in-progress checks, the
-- user's message into history, the message's meta, the session's current
-- message, and the job. Nothing is written unless every check passes (the
-- rate counter counts every request that gets past ownership).
-- KEYS: 1 stream:session:{S}  2 chat:history:{S}  3 stream:meta:{M}  4 jobs  5 nodes:ai
--       6 ratelimit:chat:{U}:<window>  7 streams:user:{U}  8 archive
-- ARGV: 1 S  2 U  3 M  4 user item (JSON)  5 model  6 prompt  7 now_ms
--       8 oldest heartbeat that counts as a live worker (ms)  9 history cap  10 jobs cap
--       11 requests allowed per window  12 ms left in the window
--       13 replies one user may stream at once  14 age past which a stream entry is stale (ms)
--       15 the user message's id  16 archive cap
-- Returns {"ok", M} or {reason, detail}.
local owner = redis.call('HGET', KEYS[1], 'userId')
if owner and owner ~= ARGV[2] then
  return {'forbidden', owner}
end
local used = redis.call('INCR', KEYS[6])
if used == 1 then
  redis.call('PEXPIRE', KEYS[6], ARGV[12])
end
if used > tonumber(ARGV[11]) then
  return {'rate_limited', tostring(redis.call('PTTL', KEYS[6]))}
end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'streaming' then
  return {'stream_in_progress', redis.call('HGET', KEYS[1], 'messageId')}
end
-- entries whose reply never reached finish.lua (a job lost before it ran)
redis.call('ZREMRANGEBYSCORE', KEYS[7], '-inf', tonumber(ARGV[7]) - tonumber(ARGV[14]))
if redis.call('ZCARD', KEYS[7]) >= tonumber(ARGV[13]) then
  return {'too_many_streams', ARGV[13]}
end
if redis.call('ZCOUNT', KEYS[5], ARGV[8], '+inf') == 0 then
  return {'no_worker', ''}
end
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[9]), -1)
redis.call('XADD', KEYS[8], 'MAXLEN', '~', ARGV[16], '*', 'message_id', ARGV[15],
  'session_id', ARGV[1], 'user_id', ARGV[2], 'role', 'user', 'content', ARGV[6],
  'status', 'complete', 'created_at', ARGV[7])
redis.call('HSET', KEYS[3], 'session_id', ARGV[1], 'user_id', ARGV[2], 'status', 'queued',
  'total_chunks', 0, 'owner', '', 'created_at', ARGV[7], 'updated_at', ARGV[7])
redis.call('HSET', KEYS[1], 'sessionId', ARGV[1], 'userId', ARGV[2], 'messageId', ARGV[3],
  'status', 'queued', 'totalChunks', 0)
redis.call('PERSIST', KEYS[1])  -- a relay's claim (claim.lua) lapses; a session does not
redis.call('ZADD', KEYS[7], ARGV[7], ARGV[3])
redis.call('PEXPIRE', KEYS[7], ARGV[14])
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[10], '*', 'message_id', ARGV[3],
  'session_id', ARGV[1], 'user_id', ARGV[2], 'model', ARGV[5], 'prompt', ARGV[6])
return {'ok', ARGV[3]}
