-- POST /api/chat, atomically, on the session's partition (every key here
-- carries its tag {t}; admit.lua has already counted the request and
-- reserved M among the user's replies): ownership and in-progress checks,
-- the user's message into history and the archive, the message's meta, the
-- session's current message, and the job. Nothing is written unless every
-- check passes.
-- KEYS: 1 stream:session:{t}S  2 chat:history:{t}S  3 stream:meta:{t}M  4 jobs:{t}  5 archive:{t}
-- ARGV: 1 S  2 U  3 M  4 user item (JSON)  5 model  6 prompt  7 now_ms
--       8 history cap  9 jobs cap  10 the user message's id  11 archive cap
-- Returns {"ok", M} or {reason, detail}.
local owner = redis.call('HGET', KEYS[1], 'userId')
if owner and owner ~= ARGV[2] then
  return {'forbidden', owner}
end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'streaming' then
  return {'stream_in_progress', redis.call('HGET', KEYS[1], 'messageId')}
end
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[8]), -1)
redis.call('XADD', KEYS[5], 'MAXLEN', '~', ARGV[11], '*', 'message_id', ARGV[10],
  'session_id', ARGV[1], 'user_id', ARGV[2], 'role', 'user', 'content', ARGV[6],
  'status', 'complete', 'created_at', ARGV[7])
redis.call('HSET', KEYS[3], 'session_id', ARGV[1], 'user_id', ARGV[2], 'status', 'queued',
  'total_chunks', 0, 'owner', '', 'created_at', ARGV[7], 'updated_at', ARGV[7])
redis.call('HSET', KEYS[1], 'sessionId', ARGV[1], 'userId', ARGV[2], 'messageId', ARGV[3],
  'status', 'queued', 'totalChunks', 0)
redis.call('PERSIST', KEYS[1])  -- a relay's claim (claim.lua) lapses; a session does not
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[9], '*', 'message_id', ARGV[3],
  'session_id', ARGV[1], 'user_id', ARGV[2], 'model', ARGV[5], 'prompt', ARGV[6])
return {'ok', ARGV[3]}
