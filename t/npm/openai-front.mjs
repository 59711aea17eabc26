// The official OpenAI client (npm "openai", nobody here wrote it) with its
// baseURL at streamchat's nginx.
//
// usage: node openai-front.mjs API MODE SESSION PROMPT USER
//   stream  stream: true, read to the end
//   cut     stream: true, the connection dropped after a few chunks, then
//           the rest fetched by message id from the next chunk on
//           (GET /v1/chat/completions/{id}/stream?from=N) by the same client
//   json    stream: false
//   bad     a request whose last message is not the user's
//   models  GET /v1/models
// With STREAMCHAT_TOKEN set, that token is the API key and no user is
// named; else the key is a placeholder (development mode) and the body's
// user and the resume's user_id name the user.
// Prints one JSON line.
import OpenAI from 'openai';

const [api, mode, session, prompt, user] = process.argv.slice(2);
const token = process.env.STREAMCHAT_TOKEN;
const client = new OpenAI({ baseURL: `${api}/v1`, apiKey: token || 'dev', maxRetries: 0 });
const body = {
  model: 'gpt-4o-mini', ...(token ? {} : { user }),
  messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: prompt }],
};
const headers = { 'X-Session-Id': session };
const out = { mode };

async function collect(stream, limit) {
  let text = '', n = 0;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (c.delta && c.delta.content) {
      text += c.delta.content;
      n++;
    }
    if (c.finish_reason) out.finish_reason = c.finish_reason;
    out.object = chunk.object;
    if (limit && n >= limit) break;
  }
  return { text, n };
}

if (mode === 'stream' || mode === 'cut') {
  const { data: stream, response } = await client.chat.completions
    .create({ ...body, stream: true }, { headers }).withResponse();
  out.message_id = response.headers.get('x-message-id');
  out.content_type = response.headers.get('content-type');
  if (mode === 'stream') {
    out.text = (await collect(stream)).text;
  } else {
    const first = await collect(stream, 3);   // break: the SDK aborts the request
    out.partial = first.text;
    const rest = await collect(await client.get(`/chat/completions/${out.message_id}/stream`,
      { query: { from: first.n, ...(token ? {} : { user_id: user }) }, stream: true }));
    out.text = first.text + rest.text;
  }
} else if (mode === 'json') {
  const { data, response } = await client.chat.completions
    .create({ ...body, stream: false }, { headers }).withResponse();
  out.message_id = response.headers.get('x-message-id');
  out.object = data.object;
  out.finish_reason = data.choices[0].finish_reason;
  out.text = data.choices[0].message.content;
} else if (mode === 'bad') {
  try {
    await client.chat.completions.create({ ...body, messages: [{ role: 'assistant', content: 'x' }] });
    out.error = null;
  } catch (e) {
    out.status = e.status;
    out.type = e.type;
    out.code = e.code;
    out.message = e.message;
  }
} else if (mode === 'models') {
  out.ids = [];
  for await (const m of client.models.list()) out.ids.push(m.id);
}
console.log(JSON.stringify(out));
