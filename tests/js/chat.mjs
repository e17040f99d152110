// Drives memory-proxy with the official openai JS SDK; prints one JSON line of results.
// Usage: node chat.mjs <proxy base url> <user id>
import OpenAI from "openai";

const [baseURL, user] = process.argv.slice(2);
const client = new OpenAI({
  baseURL: `${baseURL}/v1`,
  apiKey: "sk-js-test",
  maxRetries: 0,
  defaultHeaders: { "X-User-Id": user },
});
const result = {};

const { data, response } = await client.chat.completions
  .create({ model: "gpt-fake", messages: [{ role: "user", content: "I grow tomatoes on my balcony." }] })
  .withResponse();
result.text = data.choices[0].message.content;
result.status = response.headers.get("x-memory-status");

const stream = await client.chat.completions.create({
  model: "gpt-fake",
  stream: true,
  stream_options: { include_usage: true },
  messages: [{ role: "user", content: "What do I grow on my balcony, tomatoes?" }],
});
let streamed = "";
let usage = null;
for await (const chunk of stream) {
  streamed += chunk.choices[0]?.delta?.content ?? "";
  if (chunk.usage) usage = chunk.usage;
}
result.streamed = streamed;
result.usage = usage !== null;

try {
  await client.chat.completions.create({ model: "gpt-fake", messages: "not a list" });
  result.badRequest = null;
} catch (error) {
  result.badRequest = { status: error.status, param: error.param, type: error.type };
}

try {
  const cut = await client.chat.completions.create({
    model: "cut-stream",
    stream: true,
    messages: [{ role: "user", content: "hello" }],
  });
  for await (const _ of cut) {
    // drain
  }
  result.cutStream = "no error";
} catch (error) {
  result.cutStream = error.message;
}

console.log(JSON.stringify(result));
