// The live runs page: connects with the token from the URL fragment
// (#token=...), shows every agent run of the user as it happens, and sends
// what is typed in the box as a user_message.
//
// Everything that comes from the server (agent, tool and user text) is put
// in the page as text (textContent) or through the markdown renderer, which
// builds DOM nodes and never parses HTML. Each event shown carries its seq in
// a data-seq attribute, once.

import { NetraClient, State } from "./netra.js";
import { renderMarkdown } from "./markdown.js";

const MAX_RUNS = 100;
const MAX_JSON_CHARS = 20000;
const KNOWN_HUES = { supervisor: 245, triage: 172, optimization: 28 };

const $ = (id) => document.getElementById(id);

function el(tag, className = null, text = null) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== null) node.textContent = text;
  return node;
}

function hue(name) {
  if (name in KNOWN_HUES) return KNOWN_HUES[name];
  let h = 0;
  for (const ch of String(name)) h = (h * 31 + ch.codePointAt(0)) % 360;
  return h;
}

function agentChip(name) {
  const chip = el("span", "agent", name || "agent");
  chip.style.setProperty("--hue", hue(name));
  return chip;
}

function clock(timestamp) {
  const date = typeof timestamp === "number" ? new Date(timestamp * 1000) : new Date();
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
}

function json(value) {
  let text;
  try {
    text = JSON.stringify(value, null, 2) ?? "null";
  } catch {
    text = String(value);
  }
  return text.length > MAX_JSON_CHARS ? text.slice(0, MAX_JSON_CHARS) + "\n…" : text;
}

function preview(args) {
  if (!args || typeof args !== "object") return "";
  const parts = Object.entries(args).map(([key, value]) => {
    const shown = typeof value === "string" ? JSON.stringify(value) : JSON.stringify(value) ?? "";
    return `${key}: ${shown}`;
  });
  const text = parts.join(", ");
  return text.length > 90 ? text.slice(0, 89) + "…" : text;
}

function duration(ms) {
  if (typeof ms !== "number") return "";
  return ms < 1000 ? `${ms < 10 ? ms.toFixed(1) : Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

// -- one run ------------------------------------------------------------------------------

class RunView {
  constructor(runId, onStop) {
    this.runId = runId;
    this.tools = new Map();
    this.outputs = new Map();
    this.node = el("article", "run");
    this.node.dataset.runId = runId;
    this.node.dataset.status = "running";

    const head = el("header", "run-head");
    this.agent = el("span", "run-agent");
    this.status = el("span", "run-status", "running");
    this.time = el("time", "run-time");
    this.stop = el("button", "link stop", "stop");
    this.stop.type = "button";
    this.stop.addEventListener("click", () => onStop(runId));
    head.append(this.agent, this.status, el("span", "spacer"), this.time, this.stop);

    this.input = el("div", "run-input");
    this.input.hidden = true;
    this.trace = el("details", "trace");
    this.trace.open = true;
    this.traceSummary = el("summary", "trace-summary");
    this.steps = el("ol", "steps");
    this.trace.append(this.traceSummary, this.steps);
    this.trace.hidden = true;
    this.counts = { thoughts: 0, tools: 0, outputs: 0 };
    this.node.append(head, this.input, this.trace);
  }

  count(kind) {
    this.counts[kind] += 1;
    const { thoughts, tools, outputs } = this.counts;
    const parts = [];
    if (thoughts) parts.push(`${thoughts} ${thoughts === 1 ? "thought" : "thoughts"}`);
    if (tools) parts.push(`${tools} tool ${tools === 1 ? "call" : "calls"}`);
    if (outputs) parts.push(`${outputs} ${outputs === 1 ? "answer" : "answers"}`);
    this.traceSummary.textContent = parts.join(" · ");
    this.trace.hidden = false;
  }

  started(frame) {
    const p = frame.payload;
    this.node.dataset.seq = frame.seq;
    if (frame.thread_id) this.node.dataset.threadId = frame.thread_id;
    this.agent.replaceChildren(agentChip(p.agent_name));
    this.time.textContent = clock(frame.timestamp);
    if (p.input_preview) {
      this.input.textContent = p.input_preview;
      this.input.hidden = false;
    }
  }

  thinking(frame) {
    const p = frame.payload;
    const step = el("li", "step thinking");
    step.dataset.seq = frame.seq;
    step.style.setProperty("--hue", hue(p.agent_name));
    const text = el("p", "thought", p.thought);
    step.append(agentChip(p.agent_name), text);
    this.steps.append(step);
    this.count("thoughts");
  }

  toolStarted(frame) {
    const p = frame.payload;
    const step = el("li", "step tool");
    step.dataset.seq = frame.seq;
    step.dataset.toolCallId = p.tool_call_id;
    step.dataset.status = "running";
    step.style.setProperty("--hue", hue(p.agent_name));
    const details = el("details");
    const summary = el("summary");
    const status = el("span", "tool-status", "running");
    summary.append(
      agentChip(p.agent_name),
      el("code", "tool-name", p.tool_name),
      el("span", "tool-args-preview", preview(p.arguments)),
      el("span", "spacer"),
      status,
    );
    const body = el("div", "tool-body");
    const args = el("div", "tool-pane");
    args.append(el("h4", null, "arguments"), el("pre", "tool-arguments", json(p.arguments)));
    const result = el("div", "tool-pane");
    result.hidden = true;
    body.append(args, result);
    details.append(summary, body);
    step.append(details);
    this.steps.append(step);
    this.count("tools");
    this.tools.set(p.tool_call_id, { step, status, result });
  }

  toolCompleted(frame) {
    const p = frame.payload;
    let tool = this.tools.get(p.tool_call_id);
    if (!tool) {
      this.toolStarted({ ...frame, seq: undefined, payload: { ...p, arguments: null } });
      tool = this.tools.get(p.tool_call_id);
      delete tool.step.dataset.seq;
    }
    const ok = p.status === "success";
    tool.step.dataset.status = ok ? "success" : "error";
    tool.status.dataset.seq = frame.seq;
    tool.status.textContent = ok ? duration(p.duration_ms) || "done" : "failed";
    tool.result.replaceChildren(
      el("h4", null, ok ? "result" : "error"),
      el("pre", "tool-result", json(p.result)),
    );
    tool.result.hidden = false;
  }

  output(frame) {
    const p = frame.payload;
    let block = this.outputs.get(p.output_id);
    if (!block) {
      const step = el("li", "step output");
      step.style.setProperty("--hue", hue(p.agent_name));
      step.dataset.outputId = p.output_id;
      const text = el("div", "output-text");
      step.append(agentChip(p.agent_name), text);
      this.steps.append(step);
      this.count("outputs");
      block = text;
      this.outputs.set(p.output_id, block);
    }
    const delta = el("span", null, p.delta);
    delta.dataset.seq = frame.seq;
    block.append(delta);
  }

  completed(frame) {
    const p = frame.payload;
    const result = el("section", "result");
    result.dataset.seq = frame.seq;
    if (p.status === "cancelled") {
      this.finish("cancelled", "cancelled");
      result.classList.add("cancelled");
      result.append(el("p", null, "The run was stopped before it finished."));
    } else {
      this.finish("success", "done");
      const report = reportOf(p.result);
      const body = el("div", report === null ? "result-json" : "markdown");
      if (report === null) body.append(el("pre", null, json(p.result)));
      else body.append(renderMarkdown(report));
      result.append(body);
    }
    const meta = el("footer", "result-meta");
    for (const name of p.agents_involved ?? []) meta.append(agentChip(name));
    if (typeof p.orchestration_time_s === "number") {
      meta.append(el("span", "elapsed", `${p.orchestration_time_s.toFixed(2)} s`));
    }
    result.append(meta);
    this.node.append(result);
  }

  failed(frame) {
    const p = frame.payload;
    this.finish("error", "failed");
    const result = el("section", "result error");
    result.dataset.seq = frame.seq;
    result.append(el("p", "error-code", p.code), el("p", "error-message", p.message));
    this.node.append(result);
  }

  /** Fold the trace away (a run that ended before the page was opened). */
  fold() {
    this.trace.open = false;
  }

  finish(status, label) {
    this.node.dataset.status = status;
    this.status.textContent = label;
    this.stop.remove();
  }
}

/** The text to show as the run's report: the supervisor's markdown report,
 * an AG-UI run's text, or a plain string result; null for other results. */
function reportOf(result) {
  if (typeof result === "string") return result;
  if (result && typeof result.report_markdown === "string") return result.report_markdown;
  if (result && typeof result.text === "string" && result.text) return result.text;
  return null;
}

// -- the page -----------------------------------------------------------------------------

class Page {
  constructor(token) {
    this.runs = new Map();
    this.thread = null;
    this.caughtUp = false; // the first replay (what happened before the page opened) is over
    this.client = new NetraClient(socketUrl(), { token, lastSeq: 0 });
    this.client.addEventListener("statechange", (e) => this.showState(e.detail));
    this.client.addEventListener("established", (e) => this.showUser(e.detail.user_id));
    this.client.addEventListener("frame", (e) => this.onFrame(e.detail));
    this.client.addEventListener("resumed", (e) => this.onResumed(e.detail));
    $("connection").addEventListener("click", () => this.client.connect());
    $("composer").addEventListener("submit", (e) => {
      e.preventDefault();
      this.sendMessage();
    });
    $("message").addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        this.sendMessage();
      }
    });
    $("message").addEventListener("input", () => grow($("message")));
    $("new-thread").addEventListener("click", () => this.setThread(null));
    for (const button of document.querySelectorAll(".example")) {
      button.addEventListener("click", () => {
        $("message").value = button.textContent.trim();
        grow($("message"));
        $("message").focus();
      });
    }
    $("welcome").hidden = false;
    this.client.connect();
  }

  onFrame(frame) {
    switch (frame.type) {
      case "agent_started":
        return this.run(frame).started(frame);
      case "agent_thinking":
        return this.run(frame).thinking(frame);
      case "tool_executing":
        return this.run(frame).toolStarted(frame);
      case "tool_completed":
        return this.run(frame).toolCompleted(frame);
      case "agent_output":
        return this.run(frame).output(frame);
      case "agent_completed":
      case "agent_error": {
        const view = this.run(frame);
        if (frame.type === "agent_completed") view.completed(frame);
        else view.failed(frame);
        if (!this.caughtUp) view.fold();
        return undefined;
      }
      case "error":
        if (!frame.correlation_id) this.notify(`${frame.payload.code}: ${frame.payload.message}`);
        return undefined;
      default:
        return undefined;
    }
  }

  run(frame) {
    const atBottom = nearBottom();
    let view = this.runs.get(frame.run_id);
    if (!view) {
      view = new RunView(frame.run_id, (runId) => this.client.send("stop_agent", { run_id: runId }));
      this.runs.set(frame.run_id, view);
      $("runs").append(view.node);
      $("welcome").hidden = true;
      while (this.runs.size > MAX_RUNS) {
        const [oldest, old] = this.runs.entries().next().value;
        old.node.remove();
        this.runs.delete(oldest);
      }
    }
    if (atBottom) requestAnimationFrame(() => window.scrollTo(0, document.body.scrollHeight));
    return view;
  }

  onResumed({ replayed, gap }) {
    this.caughtUp = true;
    const node = $("connection");
    node.dataset.replayed = replayed;
    if (gap) this.notify("Some older events are no longer kept by the server.");
  }

  async sendMessage() {
    const box = $("message");
    const content = box.value.trim();
    if (!content) return;
    box.value = "";
    grow(box);
    if (this.client.state !== State.OPEN) this.notify("Not connected: the message goes once the page is back.");
    try {
      const ack = await this.client.request("user_message", { content }, { threadId: this.thread });
      this.setThread(ack.payload.thread_id);
    } catch (error) {
      this.notify(`Not sent (${error.code ?? "error"}): ${error.message}`);
      if (!box.value) box.value = content;
    }
  }

  setThread(threadId) {
    this.thread = threadId;
    $("thread").hidden = threadId === null;
    $("thread-label").textContent = threadId ? `thread ${threadId}` : "";
  }

  showUser(userId) {
    $("user").textContent = userId;
    $("user").hidden = false;
  }

  showState({ state, reason, delayMs, attempt }) {
    const node = $("connection");
    node.dataset.state = state;
    node.disabled = !(state === State.CLOSED || state === State.REFUSED);
    let text = state;
    if (state === State.OPEN) text = "live";
    else if (state === State.CONNECTING) text = "connecting…";
    else if (state === State.RECONNECTING) {
      text = `reconnecting in ${(delayMs / 1000).toFixed(1)} s`;
      if (attempt > 1) text += ` (attempt ${attempt})`;
    } else if (state === State.REFUSED) {
      text = {
        expired: "token expired",
        handshake: "refused: check the token",
        "no token": "no token",
      }[reason] ?? "refused";
    } else if (state === State.CLOSED) text = reason === "idle" ? "idle: click to reconnect" : "closed";
    node.title = state === State.REFUSED || state === State.CLOSED ? "click to try again" : "";
    $("connection-text").textContent = text;
    const refused = state === State.REFUSED;
    if (refused) {
      $("token-title").textContent =
        reason === "expired" ? "The token has expired" : "The server refused the token";
    }
    $("token-needed").hidden = !refused;
    $("composer-wrap").hidden = refused;
    $("welcome").hidden = refused || this.runs.size > 0;
  }

  notify(text) {
    const toast = $("notice");
    toast.textContent = text;
    toast.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => {
      toast.hidden = true;
    }, 6000);
  }
}

function nearBottom() {
  return window.innerHeight + window.scrollY >= document.body.scrollHeight - 160;
}

function grow(box) {
  box.style.height = "auto";
  box.style.height = `${Math.min(box.scrollHeight, 200)}px`;
}

function socketUrl() {
  return `${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws`;
}

function tokenFromFragment() {
  const token = new URLSearchParams(location.hash.slice(1)).get("token");
  return token ? token.trim() : null;
}

function start() {
  window.addEventListener("hashchange", () => location.reload());
  $("token-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const value = $("token-input").value.trim();
    if (value) location.hash = `token=${encodeURIComponent(value)}`;
  });
  const token = tokenFromFragment();
  if (!token) {
    $("token-needed").hidden = false;
    $("composer-wrap").hidden = true;
    $("connection-text").textContent = "no token";
    $("connection").dataset.state = State.REFUSED;
    return;
  }
  new Page(token);
}

start();
