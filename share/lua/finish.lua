-- Ends a stream: final status, the assistant's message into history (the
-- chunks joined, so history and chunks always agree), the end frame, the
-- chunk TTL, and the lease released. Only the lease holder may finish (its
-- lock marked by a cancel is still its own). Every key is of the session's
-- partition: the caller then removes M from streams:user:{U} (the user's
-- slot), a second step that chat-fcgi's cleanup makes up for if it is lost.
-- KEYS: 1 stream:chunks:{t}M  2 stream:meta:{t}M  3 stream:lock:{t}M  4 stream:cancel:{t}M
--       5 chat:history:{t}S  6 stream:session:{t}S  7 archive:{t}
-- ARGV: 1 owner  2 status  3 channel ("": the caller publishes)  4 end frame  5 ttl s  6 now_ms  7 history cap
--       8 M  9 expected chunk count  10 archive cap
-- Returns the chunk count, or "lease", "index:<count>".
-- An error reply's item keeps why (the error frame's code and message), so
-- that a reader of the history later sees more than "error".
local function error_field(status, frame)
  if status ~= 'error' then return '' end
  local ok, f = pcall(cjson.decode, frame)
  if not ok or type(f) ~= 'table' or type(f.code) ~= 'string' or type(f.message) ~= 'string' then
    return ''
  end
  return ',"error":{"code":' .. cjson.encode(f.code) .. ',"message":' .. cjson.encode(f.message) .. '}'
end

local holder = redis.call('GET', KEYS[3])
if holder ~= ARGV[1] and holder ~= ARGV[1] .. '#cancelled' then
  return 'lease'
end
local n = redis.call('LLEN', KEYS[1])
if n ~= tonumber(ARGV[9]) then
  return 'index:' .. n
end
local content = table.concat(redis.call('LRANGE', KEYS[1], 0, -1))
local created = redis.call('HGET', KEYS[2], 'created_at') or ARGV[6]
local item = '{"message_id":"' .. ARGV[8] .. '","role":"assistant","content":' ..
  cjson.encode(content) .. ',"status":"' .. ARGV[2] .. '","created_at":' .. created ..
  error_field(ARGV[2], ARGV[4]) .. '}'
redis.call('RPUSH', KEYS[5], item)
redis.call('LTRIM', KEYS[5], -tonumber(ARGV[7]), -1)
local who = redis.call('HMGET', KEYS[2], 'session_id', 'user_id')
if who[1] then
  redis.call('XADD', KEYS[7], 'MAXLEN', '~', ARGV[10], '*', 'message_id', ARGV[8],
    'session_id', who[1], 'user_id', who[2] or '', 'role', 'assistant', 'content', content,
    'status', ARGV[2], 'created_at', created)
end
redis.call('HSET', KEYS[2], 'status', ARGV[2], 'total_chunks', n, 'updated_at', ARGV[6])
if redis.call('HGET', KEYS[6], 'messageId') == ARGV[8] then
  redis.call('HSET', KEYS[6], 'status', ARGV[2], 'totalChunks', n)
end
redis.call('EXPIRE', KEYS[1], ARGV[5])
redis.call('EXPIRE', KEYS[2], ARGV[5])
redis.call('DEL', KEYS[3], KEYS[4])
if ARGV[3] ~= '' then
  redis.call('PUBLISH', ARGV[3], ARGV[4])
end
return n
