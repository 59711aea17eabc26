-- A relay now holds a session (its first socket there passed the ownership
-- check): the relay joins the session's set of relays, and the user's claim
-- is made again if a leave elsewhere removed it meanwhile (a claim without
-- a message lapses after ARGV[3] ms, as claim.lua's). The caller wrote
-- sessions:node:{N} before this, so a relay killed in between is still
-- found there by recoverd.
-- KEYS: 1 sessions:relays:{t}S  2 stream:session:{t}S   (both in the hash slot of S)
-- ARGV: 1 N  2 U  3 TTL of a claim without a message (ms)
-- Returns 'ok'.
redis.call('SADD', KEYS[1], ARGV[1])
if redis.call('HSETNX', KEYS[2], 'userId', ARGV[2]) == 1 then
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
end
return 'ok'
