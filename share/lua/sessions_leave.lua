-- Relay N no longer holds session S: its last socket there left, the relay
-- is stopping, or recoverd found it dead. N leaves the session's set of
-- relays; if it was the last one, the set goes and so does the session's
-- claim (claim.lua) if no message was ever posted to it. The caller removes
-- S from sessions:node:{N} after this (a relay killed in between leaves
-- the entry for recoverd, and leaving twice changes nothing).
-- KEYS: 1 sessions:relays:{t}S  2 stream:session:{t}S   (both in the hash slot of S)
-- ARGV: 1 N
-- Returns 'last' (no relay holds S now) or 'held' (another relay does).
redis.call('SREM', KEYS[1], ARGV[1])
if redis.call('SCARD', KEYS[1]) > 0 then return 'held' end
if redis.call('HEXISTS', KEYS[2], 'messageId') == 0 then redis.call('DEL', KEYS[2]) end
return 'last'
