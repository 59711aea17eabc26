-- A stopping worker hands a reply over at once instead of keeping its lease
-- until it runs out: the lease is dropped, the job goes back to the stream
-- with resume_from (the chunks written), as recoverd's requeue.lua does, and
-- its entry is acknowledged, all in one step. The next worker's start.lua
-- resumes it at the next chunk; a cancelled one it ends as cancelled.
-- KEYS: 1 jobs:{t}  2 stream:meta:{t}M  3 stream:lock:{t}M  4 stream:chunks:{t}M
-- ARGV: 1 group  2 entry id  3 owner  4 M  5 S  6 U  7 model  8 prompt
-- Returns {"released", resume_from}, or {"lease"|"gone"|"finished", 0}.
local holder = redis.call('GET', KEYS[3])
if holder ~= ARGV[3] and holder ~= ARGV[3] .. '#cancelled' then
  return {'lease', 0}
end
redis.call('DEL', KEYS[3])
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return {'gone', 0}
end
local status = redis.call('HGET', KEYS[2], 'status')
if status ~= 'queued' and status ~= 'streaming' then
  return {'finished', 0}
end
local n = redis.call('LLEN', KEYS[4])
redis.call('XADD', KEYS[1], '*', 'message_id', ARGV[4], 'session_id', ARGV[5],
  'user_id', ARGV[6], 'model', ARGV[7], 'prompt', ARGV[8], 'resume_from', n)
redis.call('HINCRBY', KEYS[2], 'handovers', 1)
return {'released', n}
