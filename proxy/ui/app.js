// memory-proxy inspector. Plain JS, no dependencies, no build step. Every call goes to this
// origin's /memories API with the admin key as a Bearer token (kept in sessionStorage, never
// in a URL). Text from the API is only ever set with textContent: memories are user input.
"use strict";

const KEY_STORE = "memory-proxy-admin-key";
const PAGE = 200;

const state = {
  user: null, memories: [], cursor: null, search: null, selected: null,
  calls: [], callCursor: null,
};

// --- small helpers ----------------------------------------------------------------------------

const $ = (selector) => document.querySelector(selector);

function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") node.className = value;
    else if (name.startsWith("on")) node.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function when(iso) {
  return iso ? iso.slice(0, 16).replace("T", " ") : "";
}

function notice(text, isError = false) {
  const box = $("#notice");
  box.textContent = text;
  box.classList.toggle("error", isError);
  box.hidden = !text;
}

class ApiError extends Error {
  constructor(status, message, code) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function api(method, path, { query, body, contentType, raw } = {}) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const headers = { Accept: "application/json" };
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers.Authorization = `Bearer ${key}`;
  let payload;
  if (body !== undefined) payload = typeof body === "string" ? body : JSON.stringify(body);
  // Every write says what it is, body or not: the memory routes refuse other content types
  // (a cross-site form could send those without a preflight).
  if (method !== "GET") headers["Content-Type"] = contentType || "application/json";
  const response = await fetch(url, {
    method, headers, body: payload, mode: "same-origin", credentials: "omit", cache: "no-store",
  });
  if (!response.ok) {
    let message = response.statusText;
    let code = null;
    try {
      const error = (await response.json()).error;
      message = error.message;
      code = error.code;
    } catch (_) { /* not our envelope */ }
    throw new ApiError(response.status, message, code);
  }
  return raw ? response : response.json();
}

function failed(error) {
  if (error instanceof ApiError && error.status === 401) {
    notice("The admin key is missing or not valid: enter it above.", true);
    $("#key").focus();
  } else {
    notice(`${error.status ? `HTTP ${error.status}: ` : ""}${error.message}`, true);
  }
}

async function guarded(action) {
  try {
    await action();
  } catch (error) {
    failed(error);
  }
}

function confirmAction(text, expected) {
  const dialog = $("#confirm");
  $("#confirm-text").textContent = text;
  const input = $("#confirm-input");
  input.value = "";
  $("#confirm-label").hidden = !expected;
  $("#confirm-expected").textContent = expected || "";
  const ok = $("#confirm-ok");
  ok.disabled = Boolean(expected);
  input.oninput = () => { ok.disabled = input.value !== expected; };
  dialog.returnValue = "";
  dialog.showModal();
  if (expected) input.focus();
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "ok"), { once: true });
  });
}

// --- users ------------------------------------------------------------------------------------

async function loadUsers() {
  const stats = await api("GET", "/memories/stats");
  const list = $("#user-list");
  const filter = $("#user-filter").value.trim().toLowerCase();
  list.replaceChildren(
    ...stats.users
      .filter((u) => !filter || u.user_id.toLowerCase().includes(filter))
      .map((u) => h("li", {},
        h("button", {
          type: "button", class: "user-item", dataset: { user: u.user_id },
          "aria-current": u.user_id === state.user ? "true" : "false",
          onclick: () => guarded(() => openUser(u.user_id)),
        }, h("span", {}, u.user_id), h("span", { class: "count" }, u.memories)))),
  );
  $("#user-total").textContent = `${stats.users.length} · ${stats.total} memories`;
}

async function openUser(userId) {
  state.user = userId;
  state.search = null;
  state.selected = null;
  $("#user-title").textContent = userId;
  $("#user-view").hidden = false;
  $("#empty").hidden = true;
  $("#memory-detail").hidden = true;
  $("#injection-detail").hidden = true;
  $("#search-query").value = "";
  $("#search-clear").hidden = true;
  for (const item of document.querySelectorAll(".user-item")) {
    item.setAttribute("aria-current", item.dataset.user === userId ? "true" : "false");
  }
  notice("");
  await Promise.all([loadMemories(), loadProfile(), loadCalls()]);
}

// --- memories ---------------------------------------------------------------------------------

async function loadMemories(more = false) {
  const page = await api("GET", "/memories", {
    query: {
      user_id: state.user, limit: PAGE, cursor: more ? state.cursor : null,
      include_superseded: $("#show-superseded").checked ? "true" : null,
    },
  });
  state.memories = more ? state.memories.concat(page.data) : page.data;
  state.cursor = page.next_cursor;
  $("#more").hidden = !page.has_more;
  renderMemories();
}

function shownMemories() {
  const rows = state.search || state.memories;
  const filter = $("#memory-filter").value.trim().toLowerCase();
  return filter ? rows.filter((m) => m.text.toLowerCase().includes(filter)) : rows;
}

function renderMemories() {
  const rows = shownMemories();
  const total = state.search ? `${state.search.length} found by search` : `${state.memories.length} loaded`;
  $("#memory-summary").textContent = `${rows.length} shown · ${total}`;
  $("#memories tbody").replaceChildren(...rows.map(memoryRow));
}

function memoryRow(memory) {
  const cell = (label, content, cls) => h("td", { "data-label": label, class: cls }, content);
  const row = h("tr", {
    dataset: { id: memory.id },
    class: [memory.status === "superseded" ? "superseded" : "", memory.id === state.selected ? "selected" : ""].join(" ").trim() || null,
    onclick: (event) => {
      if (!event.target.closest("button, textarea")) guarded(() => showMemory(memory.id));
    },
  },
  cell("Memory", [memory.text, memory.score !== undefined ? h("small", {}, ` · score ${memory.score.toFixed(3)}`) : null], "text"),
  cell("Tier", memory.tier ? h("span", { class: "badge" }, memory.tier) : "—"),
  cell("Kind", memory.kind),
  cell("Said", when(memory.occurred_at), "when"),
  cell("Stored", [when(memory.created_at), memory.updated_at ? h("small", { class: "edited" }, `edited ${when(memory.updated_at)}`) : null], "when"),
  cell("Source", h("span", { class: "mono", title: memory.source || "" }, (memory.source || "").slice(0, 8))),
  cell("Expires", memory.expires_at ? when(memory.expires_at) : "never", "when"),
  h("td", { class: "row-actions" },
    h("button", { type: "button", class: "quiet edit", onclick: () => editMemory(row, memory) }, "Edit"),
    h("button", { type: "button", class: "danger delete", onclick: () => guarded(() => deleteMemory(memory)) }, "Delete")));
  return row;
}

function editMemory(row, memory) {
  const textCell = row.querySelector("td.text");
  const area = h("textarea", { class: "edit-text", "aria-label": "memory text" });
  area.value = memory.text;
  const save = h("button", {
    type: "button", class: "save",
    onclick: () => guarded(async () => {
      const text = area.value.trim();
      if (!text || text === memory.text) return renderMemories();
      const updated = await api("PATCH", `/memories/${encodeURIComponent(memory.id)}`, { body: { text } });
      replaceMemory(updated);
      notice("Saved; the change is in the memory's history.");
      if (state.selected === memory.id) await showMemory(memory.id);
    }),
  }, "Save");
  const cancel = h("button", { type: "button", class: "quiet", onclick: () => renderMemories() }, "Cancel");
  textCell.replaceChildren(area, h("div", { class: "actions" }, save, cancel));
  area.focus();
}

function replaceMemory(updated) {
  const swap = (list) => list && list.map((m) => (m.id === updated.id ? { ...m, ...updated } : m));
  state.memories = swap(state.memories);
  state.search = swap(state.search);
  renderMemories();
}

async function deleteMemory(memory) {
  if (!(await confirmAction(`Delete this memory of ${memory.user_id}?\n“${memory.text}”`))) return;
  await api("DELETE", `/memories/${encodeURIComponent(memory.id)}`);
  state.memories = state.memories.filter((m) => m.id !== memory.id);
  if (state.search) state.search = state.search.filter((m) => m.id !== memory.id);
  if (state.selected === memory.id) $("#memory-detail").hidden = true;
  renderMemories();
  notice("Deleted (its history is kept).");
  await loadUsers();
}

async function deleteAll() {
  const user = state.user;
  const ok = await confirmAction(
    `Delete every memory of ${user}, with their history and injection log? This cannot be undone.`,
    user,
  );
  if (!ok) return;
  const erased = await api("DELETE", "/memories", { query: { user_id: user } });
  notice(`Deleted ${erased.deleted} memories of ${user}.`);
  await Promise.all([loadUsers(), loadMemories(), loadCalls()]);
}

async function search(event) {
  event.preventDefault();
  const query = $("#search-query").value.trim();
  if (!query) return clearSearch();
  const found = await api("POST", "/memories/search", { body: { user_id: state.user, query, k: 50 } });
  state.search = found.data;
  $("#search-clear").hidden = false;
  renderMemories();
}

function clearSearch() {
  state.search = null;
  $("#search-query").value = "";
  $("#search-clear").hidden = true;
  renderMemories();
}

async function showMemory(memoryId) {
  state.selected = memoryId;
  for (const row of document.querySelectorAll("#memories tbody tr")) {
    row.classList.toggle("selected", row.dataset.id === memoryId);
  }
  const [memory, history, calls] = await Promise.all([
    api("GET", `/memories/${encodeURIComponent(memoryId)}`),
    api("GET", `/memories/${encodeURIComponent(memoryId)}/history`),
    api("GET", `/memories/${encodeURIComponent(memoryId)}/injections`, { query: { limit: 20 } })
      .catch((error) => (error.status === 404 ? { data: [], off: true } : Promise.reject(error))),
  ]);
  const fields = [
    ["id", h("span", { class: "mono" }, memory.id)], ["text", memory.text], ["tier", memory.tier || "—"],
    ["kind", memory.kind], ["status", memory.superseded_by ? `${memory.status} by ${memory.superseded_by}` : memory.status],
    ["scope", [memory.session_id && `session ${memory.session_id}`, memory.agent_id && `agent ${memory.agent_id}`].filter(Boolean).join(", ") || "the user"],
    ["said", when(memory.occurred_at)], ["stored", when(memory.created_at)],
    ["edited", when(memory.updated_at) || "never"], ["expires", when(memory.expires_at) || "never"],
    ["source", h("span", { class: "mono" }, memory.source || "")],
    ["metadata", Object.keys(memory.metadata || {}).length ? JSON.stringify(memory.metadata) : "—"],
  ];
  $("#memory-detail").replaceChildren(
    h("h3", {}, "Memory"),
    h("dl", { class: "fields" }, fields.flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    h("h3", {}, "History"),
    h("ul", { class: "plain history" }, history.data.map((e) => h("li", {},
      h("span", { class: "badge" }, e.event), " ", when(e.at), " ",
      e.old_text && e.event !== "ADD" ? h("span", { class: "gone" }, `“${e.old_text}” → `) : null,
      e.new_text ? `“${e.new_text}”` : null,
      h("small", {}, ` · ${e.extractor || e.source || ""}`)))),
    h("h3", {}, "Injected into"),
    calls.off ? h("p", { class: "summary" }, "The injection log is off.")
      : calls.data.length ? h("ul", { class: "plain memory-calls" }, calls.data.map((c) => h("li", {},
        h("button", { type: "button", class: "link", onclick: () => guarded(() => openCall(c.request_id)) }, when(c.at)),
        ` ${c.route} · ${c.model || ""} · ${c.count} memories`)))
        : h("p", { class: "summary" }, "No logged call yet."),
  );
  $("#memory-detail").hidden = false;
}

// --- profile (shown when the server has GET /memories/profile) --------------------------------

async function loadProfile() {
  const tab = $("#tab-profile");
  let profile;
  try {
    profile = await api("GET", "/memories/profile", { query: { user_id: state.user } });
  } catch (error) {
    if (error.status !== 404) throw error;
    tab.hidden = true;
    if (tab.getAttribute("aria-selected") === "true") selectTab("tab-memories");
    return;
  }
  tab.hidden = false;
  const injected = new Set(profile.injected || []);
  $("#profile-summary").textContent =
    `${(profile.data || []).length} profile memories · ${injected.size} injected · ${profile.tokens ?? 0} tokens`;
  $("#profile-block").textContent = profile.block || "(nothing would be injected)";
  $("#profile-items").replaceChildren(...(profile.data || []).map((m) => h("li", {},
    injected.has(m.id) ? h("span", { class: "badge" }, "injected") : h("span", { class: "badge none" }, "left out"),
    " ", m.text)));
}

// --- injection log ----------------------------------------------------------------------------

async function loadCalls(more = false) {
  let page;
  try {
    page = await api("GET", "/memories/injections", {
      query: { user_id: state.user, limit: 50, cursor: more ? state.callCursor : null },
    });
  } catch (error) {
    if (error.code !== "injection_log_off") throw error;
    $("#injections tbody").replaceChildren(h("tr", {}, h("td", { colspan: 9 }, "The injection log is off.")));
    return;
  }
  state.calls = more ? state.calls.concat(page.data) : page.data;
  state.callCursor = page.next_cursor;
  $("#more-calls").hidden = !page.has_more;
  $("#injections tbody").replaceChildren(...state.calls.map(callRow));
}

function callRow(call) {
  const cell = (label, content, cls) => h("td", { "data-label": label, class: cls }, content);
  return h("tr", { dataset: { requestId: call.request_id }, onclick: () => guarded(() => openCall(call.request_id)) },
    cell("Time", when(call.at), "when"),
    cell("Route", call.route),
    cell("Model", call.model || ""),
    cell("Session", call.session_id || ""),
    cell("Agent", call.agent_id || ""),
    cell("Memory", h("span", { class: `badge ${call.status}` }, call.status)),
    cell("Injected", call.count, "num"),
    cell("Tokens", call.tokens, "num"),
    cell("Retrieval", `${call.retrieval_ms.toFixed(1)} ms`, "num"));
}

async function openCall(requestId) {
  const call = await api("GET", `/memories/injections/${encodeURIComponent(requestId)}`);
  selectTab("tab-injections");
  const byId = new Map(call.memories.map((m) => [m.id, m]));
  // A memory edited since the call: its text as it was then, from its history.
  // Deleted since: its history is kept (until the user is erased), and says what it was.
  const changed = call.memories.filter((m) => m.updated_at && m.updated_at > call.at).map((m) => m.id);
  const then = new Map(await Promise.all([...changed, ...call.missing].map(async (id) => {
    const history = await api("GET", `/memories/${encodeURIComponent(id)}/history`)
      .catch((error) => (error.status === 404 ? { data: [] } : Promise.reject(error)));
    return [id, textAt(history, call.at)];
  })));
  const tiers = Object.entries(call.injected);
  $("#injection-detail").replaceChildren(...[
    h("h3", {}, "What the model saw on this call"),
    h("dl", { class: "fields" }, [
      ["request id", h("span", { class: "mono" }, call.request_id)], ["time", when(call.at)],
      ["route", call.route], ["model", call.model || ""], ["user", call.user_id],
      ["session", call.session_id || "—"], ["agent", call.agent_id || "—"],
      ["memory", call.status], ["tokens", call.tokens], ["retrieval", `${call.retrieval_ms.toFixed(1)} ms`],
    ].flatMap(([name, value]) => [h("dt", {}, name), h("dd", {}, value)])),
    tiers.length ? tiers.map(([tier, ids]) => [
      h("h3", {}, tier === "carried"
        ? `carried from earlier in this conversation (${ids.length})` : `${tier} (${ids.length})`),
      h("ul", { class: "plain injected" }, ids.map((id) => {
        const memory = byId.get(id);
        const earlier = then.get(id);
        return memory
          ? h("li", { dataset: { id } }, earlier ?? memory.text,
            then.get(id) ? h("small", { class: "edited-since" }, ` (edited since; now: “${memory.text}”)`) : null)
          : h("li", { dataset: { id } }, earlier ?? "",
            h("small", { class: "gone" }, earlier ? " (deleted or expired since)" : `deleted or expired since (${id})`));
      })),
    ]) : h("p", { class: "summary" }, "No memory was injected into this call."),
  ].flat(Infinity));
  $("#injection-detail").hidden = false;
  for (const row of document.querySelectorAll("#injections tbody tr")) {
    row.classList.toggle("selected", row.dataset.requestId === requestId);
  }
}

function textAt(history, at) {
  let text = null;
  for (const event of history.data) {
    if (event.at <= at && event.new_text) text = event.new_text;
  }
  return text;
}

// --- tabs, export, import, key ----------------------------------------------------------------

function selectTab(id) {
  for (const tab of document.querySelectorAll(".tabs button")) {
    const selected = tab.id === id;
    tab.setAttribute("aria-selected", selected ? "true" : "false");
    $(`#${tab.dataset.panel}`).hidden = !selected;
  }
}

async function exportUser() {
  const response = await api("GET", "/memories/export", { query: { user_id: state.user }, raw: true });
  const blob = await response.blob();
  const link = h("a", { href: URL.createObjectURL(blob), download: `memories-${state.user}.jsonl` });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
}

async function importFile(input) {
  const file = input.files[0];
  if (!file) return;
  const result = await api("POST", "/memories/import", {
    body: await file.text(), contentType: "application/x-ndjson",
  });
  notice(`Imported ${result.imported} lines: ${result.added} added, ${result.updated} updated, ${result.unchanged} unchanged.`);
  input.value = "";
  await loadUsers();
  if (state.user) await loadMemories();
}

function start() {
  $("#key").value = sessionStorage.getItem(KEY_STORE) || "";
  $("#key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const key = $("#key").value.trim();
    if (key) sessionStorage.setItem(KEY_STORE, key);
    else sessionStorage.removeItem(KEY_STORE);
    notice("");
    guarded(loadUsers);
  });
  $("#key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    $("#key").value = "";
    notice("The key is forgotten.");
  });
  $("#user-filter").addEventListener("input", () => guarded(loadUsers));
  $("#open-user").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("#open-user-id").value.trim();
    if (id) guarded(() => openUser(id));
  });
  $("#memory-filter").addEventListener("input", renderMemories);
  $("#search-form").addEventListener("submit", (event) => guarded(() => search(event)));
  $("#search-clear").addEventListener("click", clearSearch);
  $("#show-superseded").addEventListener("change", () => guarded(() => loadMemories()));
  $("#more").addEventListener("click", () => guarded(() => loadMemories(true)));
  $("#more-calls").addEventListener("click", () => guarded(() => loadCalls(true)));
  $("#delete-all").addEventListener("click", () => guarded(deleteAll));
  $("#export").addEventListener("click", () => guarded(exportUser));
  $("#import-file").addEventListener("change", (event) => guarded(() => importFile(event.target)));
  $("#find-call").addEventListener("submit", (event) => {
    event.preventDefault();
    const id = $("#find-call-id").value.trim();
    if (id) guarded(() => openCall(id));
  });
  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.addEventListener("click", () => {
      selectTab(tab.id);
      if (tab.id === "tab-injections" && state.user) guarded(() => loadCalls());
    });
  }
  guarded(loadUsers);
}

start();
