-- POST /api/chat, atomically: ownership and in-progress checks, the user's
-- message into history, the message's meta, the session's current message,
-- and the job. Nothing is written unless every check passes.
-- KEYS: 1 stream:session:{S}  2 chat:history:{S}  3 stream:meta:{M}  4 jobs  5 nodes:ai
-- ARGV: 1 S  2 U  3 M  4 user item (JSON)  5 model  6 prompt  7 now_ms
--       8 oldest heartbeat that counts as a live worker (ms)  9 history cap  10 jobs cap
-- Returns {"ok", M} or {reason, detail}.
local owner = redis.call('HGET', KEYS[1], 'userId')
if owner and owner ~= ARGV[2] then
  return {'forbidden', owner}
end
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'queued' or status == 'streaming' then
  return {'stream_in_progress', redis.call('HGET', KEYS[1], 'messageId')}
end
if redis.call('ZCOUNT', KEYS[5], ARGV[8], '+inf') == 0 then
  return {'no_worker', ''}
end
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[9]), -1)
redis.call('HSET', KEYS[3], 'session_id', ARGV[1], 'user_id', ARGV[2], 'status', 'queued',
  'total_chunks', 0, 'owner', '', 'created_at', ARGV[7], 'updated_at', ARGV[7])
redis.call('HSET', KEYS[1], 'sessionId', ARGV[1], 'userId', ARGV[2], 'messageId', ARGV[3],
  'status', 'queued', 'totalChunks', 0)
redis.call('XADD', KEYS[4], 'MAXLEN', '~', ARGV[10], '*', 'message_id', ARGV[3],
  'session_id', ARGV[1], 'user_id', ARGV[2], 'model', ARGV[5], 'prompt', ARGV[6])
return {'ok', ARGV[3]}
