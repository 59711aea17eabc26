-- The archive's schema (issue 22). Times are ms since the epoch, as in Redis.
CREATE TABLE IF NOT EXISTS sessions (
  session_id text PRIMARY KEY,
  user_id    text NOT NULL,
  title      text NOT NULL DEFAULT '',   -- from the session's first user message
  created_at bigint NOT NULL,
  updated_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_user ON sessions (user_id, updated_at DESC, session_id);
CREATE TABLE IF NOT EXISTS messages (
  message_id text PRIMARY KEY,
  session_id text NOT NULL,
  seq        bigint NOT NULL,  -- order within the session = the order of chat:history:{S}
  role       text NOT NULL,
  content    text NOT NULL,
  status     text NOT NULL,
  created_at bigint NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_session ON messages (session_id, seq);
CREATE TABLE IF NOT EXISTS deleted_sessions (
  session_id text PRIMARY KEY,
  user_id    text NOT NULL,
  deleted_at bigint NOT NULL   -- messages of it created at or before this are never archived again
);
