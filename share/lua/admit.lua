-- POST /api/chat's per-user step, before enqueue.lua (the user's keys live
-- in the user's slot, not the session's): the rate counter, then the
-- user's replies in flight, then a reservation for the new reply M. The
-- caller removes the reservation if enqueue.lua then refuses; a reservation
-- whose message never came (the caller died between the two steps) is
-- removed by the caller's cleanup before it answers too_many_streams.
-- KEYS: 1 ratelimit:chat:{U}:<window>  2 streams:user:{U}
-- ARGV: 1 M  2 now_ms  3 requests allowed per window  4 ms left in the window
--       5 replies one user may stream at once  6 age past which an entry is stale (ms)
--       7 1 to count the request, 0 for a second try after the cleanup
-- Returns {"ok", M} or {reason, detail}.
if ARGV[7] == '1' then
  local used = redis.call('INCR', KEYS[1])
  if used == 1 then
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
  end
  if used > tonumber(ARGV[3]) then
    return {'rate_limited', tostring(redis.call('PTTL', KEYS[1]))}
  end
end
-- entries whose reply never reached its end (a job lost before it ran)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', tonumber(ARGV[2]) - tonumber(ARGV[6]))
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[5]) then
  return {'too_many_streams', ARGV[5]}
end
redis.call('ZADD', KEYS[2], ARGV[2], ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
return {'ok', ARGV[1]}
