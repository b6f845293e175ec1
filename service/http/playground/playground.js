// @ts-check
// The playground page: reads the settings, runs a chat turn or a completion through api.js, and
// shows each answer as it streams with its token usage and time to first token. Text is only ever
// set with textContent (the CSP also requires Trusted Types, so no HTML sink could be used).
import { PlaygroundError, listModels, requestBody, runGeneration } from './api.js';

/** @typedef {import('./api.js').Message} Message */
/** @typedef {import('./api.js').RunResult} RunResult */
/** @typedef {import('./api.js').Settings} Settings */

/**
 * @template {HTMLElement} T
 * @param {string} id
 * @param {{ new (): T }} type
 * @returns {T}
 */
function element(id, type) {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`playground: #${id} is missing or is not a ${type.name}`);
  return found;
}

const ui = {
  settingsForm: element('settings-form', HTMLFormElement),
  variant: element('variant', HTMLElement),
  readiness: element('readiness', HTMLElement),
  apiKey: element('api-key', HTMLInputElement),
  apiKeyHint: element('api-key-hint', HTMLElement),
  model: element('model', HTMLSelectElement),
  maxTokens: element('max-tokens', HTMLInputElement),
  temperature: element('temperature', HTMLInputElement),
  topP: element('top-p', HTMLInputElement),
  n: element('n', HTMLInputElement),
  seed: element('seed', HTMLInputElement),
  stream: element('stream', HTMLInputElement),
  stop: element('stop', HTMLTextAreaElement),
  engineOptions: element('engine-options', HTMLFieldSetElement),
  topK: element('top-k', HTMLInputElement),
  numBeams: element('num-beams', HTMLInputElement),
  tabChat: element('tab-chat', HTMLButtonElement),
  tabCompletion: element('tab-completion', HTMLButtonElement),
  chatPanel: element('chat-panel', HTMLElement),
  completionPanel: element('completion-panel', HTMLElement),
  system: element('system', HTMLTextAreaElement),
  transcript: element('transcript', HTMLElement),
  chatInput: element('chat-input', HTMLTextAreaElement),
  prompt: element('prompt', HTMLTextAreaElement),
  completionOutput: element('completion-output', HTMLElement),
  send: element('send', HTMLButtonElement),
  stopButton: element('stop-button', HTMLButtonElement),
  clear: element('clear', HTMLButtonElement),
  error: element('error', HTMLElement),
  errorMessage: element('error-message', HTMLElement),
  errorDetail: element('error-detail', HTMLElement),
  lastRequest: element('last-request', HTMLElement),
};

/** @type {'chat' | 'completion'} */
let mode = 'chat';
/** The conversation so far (user and assistant turns; the system message is read at each send). */
/** @type {Message[]} */
let history = [];
/** @type {AbortController | undefined} */
let running;
/** @type {'inference' | 'proxy'} */
let variant = 'inference';

/**
 * @param {string} tag
 * @param {string} className
 * @param {string} [text]
 * @returns {HTMLElement}
 */
function make(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** @param {unknown} error */
function showError(error) {
  const known = error instanceof PlaygroundError ? error : new PlaygroundError(error instanceof Error ? error.message : String(error), 'in the page');
  ui.errorMessage.textContent = known.message;
  ui.errorDetail.textContent = known.detail;
  ui.error.hidden = false;
}

function clearError() {
  ui.error.hidden = true;
  ui.errorMessage.textContent = '';
  ui.errorDetail.textContent = '';
}

/**
 * @param {HTMLInputElement} input
 * @param {string} name
 * @param {{ integer?: boolean, min?: number, max?: number }} rule
 * @returns {number | undefined} undefined when the field is empty
 */
function numberField(input, name, rule) {
  const raw = input.value.trim();
  if (raw === '') return undefined;
  const value = Number(raw);
  const wrong =
    !Number.isFinite(value) ||
    (rule.integer === true && !Number.isInteger(value)) ||
    (rule.min !== undefined && value < rule.min) ||
    (rule.max !== undefined && value > rule.max);
  if (wrong) {
    const range = [rule.min === undefined ? '' : `>= ${rule.min}`, rule.max === undefined ? '' : `<= ${rule.max}`].filter(Boolean).join(' and ');
    throw new PlaygroundError(`${name} must be ${rule.integer ? 'a whole number' : 'a number'}${range ? ` ${range}` : ''} (got "${raw}").`, `setting ${name}`);
  }
  return value;
}

/** @returns {Settings} */
function readSettings() {
  const model = ui.model.value;
  if (model === '') throw new PlaygroundError('No model to ask: the model list is empty. Enter the API key (if this endpoint needs one) so the page can load it.', 'setting model');
  const stop = ui.stop.value.split('\n').filter((line) => line !== '');
  if (stop.length > 4) throw new PlaygroundError(`stop takes at most 4 sequences (got ${stop.length}): one per line.`, 'setting stop');
  const engine = variant === 'inference';
  return {
    model,
    stream: ui.stream.checked,
    // An emptied field falls back to OpenAI's default.
    maxTokens: numberField(ui.maxTokens, 'max_tokens', { integer: true, min: 1 }) ?? 16,
    temperature: numberField(ui.temperature, 'temperature', { min: 0, max: 2 }) ?? 1,
    topP: numberField(ui.topP, 'top_p', { min: 0.01, max: 1 }) ?? 1,
    n: numberField(ui.n, 'n', { integer: true, min: 1, max: 128 }) ?? 1,
    stop,
    seed: numberField(ui.seed, 'seed', { integer: true }),
    topK: engine ? numberField(ui.topK, 'top_k', { integer: true, min: 0 }) : undefined,
    numBeams: engine ? numberField(ui.numBeams, 'num_beams', { integer: true, min: 1, max: 16 }) : undefined,
  };
}

/**
 * One answer on the page: a block per choice (filled as text streams in) and a line of stats.
 * @param {HTMLElement} container
 * @param {string} [prefix]  shown before each choice's text (the prompt, in completion mode)
 */
function answerView(container, prefix) {
  const root = make('div', 'answer');
  const choices = make('div', 'choices');
  const stats = make('p', 'stats', 'waiting for the first token…');
  root.append(choices, stats);
  container.append(root);
  /** @type {Map<number, { block: HTMLElement, text: HTMLElement, reason: HTMLElement }>} */
  const byIndex = new Map();
  /** @param {number} index */
  const choice = (index) => {
    let found = byIndex.get(index);
    if (found === undefined) {
      const block = make('div', 'choice');
      block.dataset.index = String(index);
      const label = make('span', 'choice-label', `choice ${index}`);
      const reason = make('span', 'finish-reason');
      const body = make('pre', 'choice-text');
      if (prefix !== undefined && prefix !== '') body.append(make('span', 'prompt-echo', prefix));
      const text = make('span', 'generated');
      body.append(text);
      block.append(label, reason, body);
      // Choices may arrive out of order (n > 1 streams interleave): keep them sorted by index.
      const after = [...byIndex.entries()].filter(([other]) => other > index).sort(([a], [b]) => a - b)[0];
      choices.insertBefore(block, after?.[1].block ?? null);
      found = { block, text, reason };
      byIndex.set(index, found);
    }
    return found;
  };
  return {
    root,
    /** @param {number} index @param {string} text */
    text(index, text) {
      choice(index).text.textContent += text;
      container.scrollTop = container.scrollHeight;
    },
    /** @param {number} index @param {string} reason */
    finish(index, reason) {
      choice(index).reason.textContent = `finish_reason: ${reason}`;
    },
    /** @param {number} index */
    textOf(index) {
      return byIndex.get(index)?.text.textContent ?? '';
    },
    /** @param {RunResult} result */
    done(result) {
      stats.replaceChildren(...statsParts(result).map((part) => make('span', 'stat', part)));
      if (result.usage !== undefined) {
        stats.dataset.promptTokens = String(result.usage.prompt_tokens);
        stats.dataset.completionTokens = String(result.usage.completion_tokens);
      }
      if (result.firstTokenMs !== undefined) stats.dataset.ttftMs = String(Math.round(result.firstTokenMs));
      stats.dataset.totalMs = String(Math.round(result.totalMs));
      root.classList.add('complete');
    },
    /** @param {string} note */
    stopped(note) {
      stats.textContent = note;
      root.classList.add('stopped');
    },
  };
}

/** @param {RunResult} result @returns {string[]} */
function statsParts(result) {
  const parts = [];
  const usage = result.usage;
  if (usage !== undefined) parts.push(`${usage.prompt_tokens} prompt + ${usage.completion_tokens} completion = ${usage.total_tokens} tokens`);
  else parts.push('usage not reported');
  if (result.firstTokenMs !== undefined) parts.push(`first token ${Math.round(result.firstTokenMs)} ms`);
  else parts.push('not streamed: no time to first token');
  parts.push(`${Math.round(result.totalMs)} ms in all`);
  if (usage !== undefined && usage.completion_tokens > 1 && result.firstTokenMs !== undefined && result.totalMs > result.firstTokenMs) {
    // Decode speed after the first token: what the stream's pace was, prefill excluded.
    const rate = (usage.completion_tokens - 1) / ((result.totalMs - result.firstTokenMs) / 1000);
    parts.push(`${rate.toFixed(1)} tokens/s after it`);
  }
  if (result.requestId !== undefined) parts.push(`request ${result.requestId}`);
  return parts;
}

/** @param {boolean} busy */
function setBusy(busy) {
  ui.send.disabled = busy;
  ui.stopButton.disabled = !busy;
  ui.clear.disabled = busy;
}

/**
 * @param {'/v1/completions' | '/v1/chat/completions'} path
 * @param {Record<string, unknown>} body
 * @param {ReturnType<typeof answerView>} view
 * @returns {Promise<RunResult | undefined>} undefined when stopped by the user
 */
async function generate(path, body, view) {
  const controller = new AbortController();
  running = controller;
  setBusy(true);
  ui.lastRequest.textContent = `POST ${path}\n${JSON.stringify(body, null, 2)}`;
  try {
    const result = await runGeneration(
      { path, body, apiKey: ui.apiKey.value.trim(), signal: controller.signal },
      { onText: (index, text) => view.text(index, text), onFinish: (index, reason) => view.finish(index, reason) },
    );
    view.done(result);
    return result;
  } catch (error) {
    if (controller.signal.aborted) {
      view.stopped('stopped: the request was cancelled (the server stops generating).');
      return undefined;
    }
    throw error;
  } finally {
    running = undefined;
    setBusy(false);
  }
}

async function sendChat() {
  const content = ui.chatInput.value.trim();
  if (content === '') throw new PlaygroundError('Write a message first.', 'chat');
  const settings = readSettings();
  /** @type {Message} */
  const user = { role: 'user', content };
  const system = ui.system.value.trim();
  /** @type {Message[]} */
  const messages = [...(system === '' ? [] : [/** @type {Message} */ ({ role: 'system', content: system })]), ...history, user];
  const userBubble = make('div', 'message user');
  userBubble.append(make('span', 'role', 'user'), make('p', 'content', content));
  const assistantBubble = make('div', 'message assistant');
  assistantBubble.append(make('span', 'role', 'assistant'));
  ui.transcript.append(userBubble, assistantBubble);
  const view = answerView(assistantBubble);
  ui.chatInput.value = '';
  try {
    const result = await generate('/v1/chat/completions', requestBody(settings, { messages }), view);
    // The conversation goes on with choice 0 (what a chat client would show).
    if (result !== undefined) history = [...history, user, { role: 'assistant', content: view.textOf(0) }];
  } catch (error) {
    // Nothing was answered: the turn leaves the transcript and the text goes back to the input.
    userBubble.remove();
    assistantBubble.remove();
    ui.chatInput.value = content;
    throw error;
  }
}

async function sendCompletion() {
  const settings = readSettings();
  const prompt = ui.prompt.value;
  ui.completionOutput.replaceChildren();
  const view = answerView(ui.completionOutput, prompt);
  try {
    await generate('/v1/completions', requestBody(settings, { prompt }), view);
  } catch (error) {
    view.root.remove();
    throw error;
  }
}

function send() {
  clearError();
  if (running !== undefined) return;
  (mode === 'chat' ? sendChat() : sendCompletion()).catch(showError);
}

/** @param {'chat' | 'completion'} next */
function selectMode(next) {
  mode = next;
  ui.tabChat.setAttribute('aria-selected', String(next === 'chat'));
  ui.tabCompletion.setAttribute('aria-selected', String(next === 'completion'));
  ui.chatPanel.hidden = next !== 'chat';
  ui.completionPanel.hidden = next !== 'completion';
  document.body.dataset.mode = next;
}

async function loadModels() {
  const previous = ui.model.value;
  const ids = await listModels(ui.apiKey.value.trim());
  ui.model.replaceChildren(...ids.map((id) => new Option(id, id)));
  if (ids.includes(previous)) ui.model.value = previous;
  document.body.dataset.models = String(ids.length);
}

/** GET /ready once, and again every 2 s while the model loads. */
async function watchReadiness() {
  const response = await fetch('/ready').catch(() => undefined);
  const status = response === undefined ? 'unreachable' : /** @type {{ status?: string }} */ (await response.json().catch(() => ({}))).status ?? `HTTP ${response.status}`;
  ui.readiness.textContent = status;
  ui.readiness.dataset.status = status;
  if (status === 'loading') setTimeout(() => void watchReadiness(), 2000);
}

async function start() {
  const info = /** @type {{ variant?: unknown, authRequired?: unknown }} */ (await (await fetch('/playground/info.json')).json());
  variant = info.variant === 'proxy' ? 'proxy' : 'inference';
  ui.variant.textContent = variant === 'proxy' ? 'proxy' : 'GPT-2 inference';
  ui.engineOptions.hidden = variant !== 'inference';
  const authRequired = info.authRequired === true;
  if (authRequired) {
    ui.apiKey.placeholder = 'required here';
    ui.apiKeyHint.textContent = 'This endpoint needs an API key (Authorization: Bearer). It stays in this page\'s memory only: never stored, gone on reload.';
  }
  await watchReadiness();
  // With keys configured the model list needs one: it is loaded when a key is entered.
  if (!authRequired) await loadModels();
  document.body.dataset.ready = 'true';
}

// Enter in a settings field would submit the form: nothing is ever submitted (CSP form-action 'none').
ui.settingsForm.addEventListener('submit', (event) => event.preventDefault());
ui.tabChat.addEventListener('click', () => selectMode('chat'));
ui.tabCompletion.addEventListener('click', () => selectMode('completion'));
ui.send.addEventListener('click', send);
ui.stopButton.addEventListener('click', () => running?.abort());
ui.clear.addEventListener('click', () => {
  clearError();
  history = [];
  ui.transcript.replaceChildren();
  ui.completionOutput.replaceChildren();
});
ui.apiKey.addEventListener('change', () => {
  clearError();
  loadModels().catch(showError);
});
for (const input of [ui.chatInput, ui.prompt]) {
  input.addEventListener('keydown', (event) => {
    if (event.key === 'Enter' && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      send();
    }
  });
}

selectMode('chat');
start().catch(showError);
