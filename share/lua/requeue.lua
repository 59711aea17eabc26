-- recoverd, for a job pending longer than a lease (found with XPENDING): if
-- no worker holds the message's lease and it has not ended, the job goes back
-- to the stream with resume_from = the chunks already written, and the
-- pending entry is acknowledged. XACK answering 0 means another recoverd got
-- there first.
-- KEYS: 1 jobs:{t}  2 stream:meta:{t}M  3 stream:lock:{t}M  4 stream:chunks:{t}M
-- ARGV: 1 group  2 entry id  3 M  4 S  5 U  6 model  7 prompt
-- Returns {"requeued", resume_from} or {"leased"|"gone"|"finished", 0}.
if redis.call('EXISTS', KEYS[3]) == 1 then
  return {'leased', 0}
end
if redis.call('XACK', KEYS[1], ARGV[1], ARGV[2]) == 0 then
  return {'gone', 0}
end
local status = redis.call('HGET', KEYS[2], 'status')
if status ~= 'queued' and status ~= 'streaming' then
  return {'finished', 0}
end
local n = redis.call('LLEN', KEYS[4])
redis.call('XADD', KEYS[1], '*', 'message_id', ARGV[3], 'session_id', ARGV[4],
  'user_id', ARGV[5], 'model', ARGV[6], 'prompt', ARGV[7], 'resume_from', n)
redis.call('HINCRBY', KEYS[2], 'requeues', 1)
return {'requeued', n}
