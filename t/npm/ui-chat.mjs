// The AI SDK (npm "ai", nobody here wrote it) against POST /api/ui/chat:
// its DefaultChatTransport sends the conversation as useChat does, and
// readUIMessageStream assembles the reply from the UI message stream.
//
// usage: node ui-chat.mjs API MODE SESSION PROMPT USER
//   whole   one reply, read to its end
//   cut     the fetch aborted after the first text, then the transport's
//           reconnectToStream (what useChat({ resume: true }) calls)
//   cancel  POST /api/cancel after the first text; the stream read on
// Prints one JSON line: { text, partial, types, resumed, status }.
import { DefaultChatTransport, readUIMessageStream } from 'ai';

const [api, mode, session, prompt, user] = process.argv.slice(2);
const transport = new DefaultChatTransport({ api: `${api}/api/ui/chat?user_id=${user}` });
const messages = [{ id: 'u1', role: 'user', parts: [{ type: 'text', text: prompt }] }];
const types = [];

const textOf = (m) => m.parts.filter((p) => p.type === 'text').map((p) => p.text).join('');

// Reads the chunks into UIMessage snapshots; stops early when stopWhen says.
async function assemble(stream, stopWhen) {
  const seen = stream.pipeThrough(new TransformStream({
    transform(chunk, ctl) { types.push(chunk.type); ctl.enqueue(chunk); },
  }));
  let last = { parts: [] };
  for await (const m of readUIMessageStream({ stream: seen })) {
    last = m;
    if (stopWhen && await stopWhen(textOf(m), m)) break;
  }
  return textOf(last);
}

const out = { mode };
const abort = new AbortController();
const stream = await transport.sendMessages({
  chatId: session, messages, trigger: 'submit-message', messageId: undefined,
  abortSignal: abort.signal,
});
if (mode === 'whole') {
  out.text = await assemble(stream);
} else if (mode === 'cut') {
  out.partial = await assemble(stream, (t) => t.length > 0);
  abort.abort();
  const again = await transport.reconnectToStream({ chatId: session });
  out.resumed = again !== null;
  out.text = again ? await assemble(again) : null;
} else if (mode === 'cancel') {
  let cancelled = false;
  // the message's id, from the stream's start part, is the reply's id
  out.text = await assemble(stream, async (t, m) => {
    if (t.length > 0 && !cancelled) {
      cancelled = true;
      out.message_id = m.id;
      const r = await fetch(`${api}/api/cancel`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ session_id: session, message_id: m.id, user_id: user }),
      });
      out.status = r.status;
    }
    return false;
  });
}
out.types = [...new Set(types)];
console.log(JSON.stringify(out));
