// Drives memory-proxy with the Vercel AI SDK (`ai` + `@ai-sdk/openai`), unmodified: the default
// `openai` provider (the Responses API) configured by OPENAI_BASE_URL alone, as an app would be.
// Usage: OPENAI_BASE_URL=<proxy>/u/<user>/v1 node ai_sdk.mjs <generate|stream> <prompt>
// Prints one JSON line: the answer's text and the proxy's X-Memory-Status.
import { openai } from "@ai-sdk/openai";
import { generateText, streamText } from "ai";

const [mode, prompt] = process.argv.slice(2);
const model = openai("gpt-fake");
const result = {};

if (mode === "generate") {
  const answer = await generateText({ model, system: "You are helpful.", prompt, maxRetries: 0 });
  result.text = answer.text;
  result.status = answer.response.headers?.["x-memory-status"] ?? null;
  result.finishReason = answer.finishReason;
} else {
  const errors = [];
  const answer = streamText({
    model,
    system: "You are helpful.",
    prompt,
    maxRetries: 0,
    onError: ({ error }) => errors.push(String(error?.message ?? error)),
  });
  let text = "";
  for await (const delta of answer.textStream) text += delta;
  result.text = text;
  result.status = (await answer.response).headers?.["x-memory-status"] ?? null;
  result.finishReason = await answer.finishReason;
  result.errors = errors;
}

console.log(JSON.stringify(result));
