'use strict';
// t/browser/status-page.js — the public status page in headless Chromium,
// driven by puppeteer-core for t/70-status-browser.t.
//
// Protocol (one JSON object a line):
//   stdin, first line: the setup (see t/70-status-browser.t: base, token,
//     key, incident_id, expect {...}, showcase_token, screenshot, chromium,
//     timeout_ms)
//   stdout: {"ok":true|false,"name":"...","diag":"..."}   one check, which
//             the .t file turns into ok()
//           {"ask":"kill_sse","request":{method,path,body}}  the .t file
//             kills incidentd-sse, makes the request while it is down, waits
//             for the master's new one, and answers on stdin with
//             {"status":N}
//           {"note":"..."}  a remark, shown by the .t file as a TAP comment
//           {"done":true}   the last line: the script ran to its end
// Every wait has a deadline (timeout_ms); no fixed sleeps.

const fs = require('fs');
const path = require('path');
const readline = require('readline');
const puppeteer = require('puppeteer-core');

const AXE_SOURCE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const ATOM_NS = 'http://www.w3.org/2005/Atom';
const LIVE = 'Live';
const RECONNECTING = 'Reconnecting\u2026';
const OFFLINE = 'Offline \u2014 updates paused';
const RESOLVED_TEXT = 'This incident has been resolved';

// ------------------------------------------------------------ the .t file

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function check(ok, name, diag) {
  const pass = Boolean(ok);
  emit(pass ? { ok: true, name } : { ok: false, name, diag: describe(diag) });
  return pass;
}

function describe(v) {
  if (v === undefined) return '';
  return typeof v === 'string' ? v : JSON.stringify(v, null, 1);
}

// stdin lines, one at a time: the setup, then the answers to asks.
const input = readline.createInterface({ input: process.stdin });
const pending = [];
const waiting = [];
input.on('line', (line) => (waiting.length ? waiting.shift().resolve(line) : pending.push(line)));
input.on('close', () => waiting.splice(0).forEach((w) => w.reject(new Error('stdin closed'))));

function nextLine() {
  if (pending.length) return Promise.resolve(pending.shift());
  return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
}

async function ask(what, args) {
  emit({ ask: what, ...args });
  return JSON.parse(await nextLine());
}

// ------------------------------------------------------------ the API

let cfg;

async function api(method, urlPath, body) {
  const r = await fetch(cfg.base + urlPath, {
    method,
    headers: { 'x-api-key': cfg.key, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  if (r.status >= 300) throw new Error(`${method} ${urlPath}: ${r.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

const reply = (body, internal) =>
  api('POST', `/v1/tickets/${cfg.incident_id}/replies`, { body, internal: Boolean(internal) });
const patch = (fields) => api('PATCH', `/v1/tickets/${cfg.incident_id}`, fields);

// ------------------------------------------------------------ the browser's log

// What the page did that it must not: failed requests, responses >= 400,
// console errors and warnings, uncaught exceptions, dialogs. The stream's
// own failures while incidentd-sse is down (killWindow) are expected.
const seen = { requests: [], console: [], errors: [], dialogs: [], foreign: [], excused: [] };
let killWindow = false;

function isStream(url) {
  return typeof url === 'string' && url.includes(`/incidents/status/${cfg.token}/stream`);
}

function watch(page) {
  page.on('dialog', async (d) => {
    seen.dialogs.push(`${d.type()}: ${d.message()}`);
    await d.dismiss().catch(() => {});
  });
  page.on('request', (req) => {
    if (!req.url().startsWith(cfg.base + '/') && !req.url().startsWith('data:')) seen.foreign.push(req.url());
  });
  page.on('pageerror', (e) => seen.errors.push(String(e && e.message ? e.message : e)));
  page.on('requestfailed', (req) => {
    const what = `${req.method()} ${req.url()}: ${req.failure() ? req.failure().errorText : 'failed'}`;
    if (killWindow && isStream(req.url())) return seen.excused.push(what);
    seen.requests.push(what);
  });
  page.on('response', (resp) => {
    if (resp.status() < 400) return;
    if (killWindow && isStream(resp.url())) return seen.excused.push(`${resp.url()}: ${resp.status()}`);
    seen.requests.push(`${resp.request().method()} ${resp.url()}: ${resp.status()}`);
  });
  page.on('console', (msg) => {
    if (!['error', 'warn', 'warning', 'assert'].includes(msg.type())) return;
    const where = (msg.location() && msg.location().url) || '';
    const text = msg.text();
    if (killWindow && (isStream(where) || isStream(text) || /EventSource/.test(text))) {
      return seen.excused.push(`${msg.type()}: ${text}`);
    }
    seen.console.push(`${msg.type()}: ${text}${where ? ` (${where})` : ''}`);
  });
  // Before any of the page's own scripts: CSP violations and the #live
  // indicator's every text, in order (Reconnecting… may last a moment only).
  return page.evaluateOnNewDocument(() => {
    window.__csp = [];
    window.__live = [];
    document.addEventListener('securitypolicyviolation', (e) =>
      window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI} (${e.sourceFile}:${e.lineNumber})`));
    document.addEventListener('DOMContentLoaded', () => {
      const live = document.getElementById('live');
      if (!live) return;
      const note = () => {
        const text = live.hidden ? '(hidden)' : live.textContent.trim();
        if (window.__live[window.__live.length - 1] !== text) window.__live.push(text);
      };
      note();
      new MutationObserver(note).observe(live, {
        subtree: true, childList: true, characterData: true, attributes: true,
      });
    });
  });
}

// ------------------------------------------------------------ page helpers

// Polls fn in the page (every 50 ms: some conditions read window.__live,
// not the DOM) until it returns true; false after the deadline.
async function until(page, fn, ...args) {
  try {
    await page.waitForFunction(fn, { timeout: cfg.timeout_ms, polling: 50 }, ...args);
    return true;
  } catch (e) {
    if (e && e.name === 'TimeoutError') return false;
    throw e;
  }
}

// The parts of the page the checks read, as plain data.
function readPage(page) {
  return page.evaluate(() => {
    const $ = (sel) => document.querySelector(sel);
    const text = (sel) => ($(sel) ? $(sel).textContent : null);
    const status = (el) => (el ? { word: el.textContent.trim(), raw: el.getAttribute('data-status'),
      cls: el.className } : null);
    const banner = $('#resolved-banner');
    return {
      lang: document.documentElement.getAttribute('lang'),
      h1s: document.querySelectorAll('h1').length,
      title: text('#title'),
      docTitle: document.title,
      org: text('#org'),
      markupIn: ['#title', '#org'].map((s) => ($(s) ? $(s).children.length : 0))
        .concat([...document.querySelectorAll('#timeline p.body')].map((p) => p.children.length))
        .reduce((a, b) => a + b, 0),
      status: status($('#status')),
      live: $('#live') ? ($('#live').hidden ? '(hidden)' : $('#live').textContent.trim()) : null,
      announce: text('#announce'),
      announceLive: $('#announce') ? $('#announce').getAttribute('aria-live') : null,
      updated: $('#updated') ? { tag: $('#updated').tagName, datetime: $('#updated').getAttribute('datetime') } : null,
      banner: banner ? { hidden: banner.hidden, shown: banner.getClientRects().length > 0,
        text: banner.textContent.trim() } : null,
      entries: [...document.querySelectorAll('#timeline > li')].map((li) => {
        const body = li.querySelector('p.body');
        const time = li.querySelector('time');
        return {
          body: body ? body.textContent : null,
          status: status(li.querySelector('.status')),
          datetime: time ? time.getAttribute('datetime') : null,
          isNew: li.classList.contains('new'),
        };
      }),
      scripts: [...document.scripts].map((s) => s.src || '(inline)'),
      injected: document.querySelectorAll('img, iframe, object, embed, [onerror], [onload], [onclick]').length,
      html: document.documentElement.outerHTML,
      sameDocument: window.__sameDocument === true,
      liveLog: window.__live || [],
      csp: window.__csp || [],
      icon: (document.querySelector('link[rel~="icon"]') || {}).href || null,
      feed: (document.querySelector('link[rel="alternate"][type="application/atom+xml"]') || {}).href || null,
    };
  });
}

const RFC3339_Z = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

// ------------------------------------------------------------ the checks

async function checkLoad(page, url) {
  const resp = await page.goto(url, { waitUntil: 'load', timeout: cfg.timeout_ms });
  check(resp && resp.status() === 200, 'the page loads: 200', resp ? resp.status() : 'no response');
  // Gone if the page ever reloads: live updates must not need one.
  await page.evaluate(() => { window.__sameDocument = true; });

  const p = await readPage(page);
  const e = cfg.expect;
  check(p.lang === 'en', '<html lang="en">', p.lang);
  check(p.h1s === 1, 'exactly one <h1>', p.h1s);
  check(p.title === e.title, '#title shows the hostile title as text', { got: p.title, want: e.title });
  check(p.docTitle.includes(e.title), 'the document title holds the title as text', p.docTitle);
  check(p.org !== null && p.org.trim() === e.org, '#org shows the hostile display name as text',
    { got: p.org, want: e.org });
  const bodies = p.entries.map((x) => x.body).filter((b) => b !== null);
  check(JSON.stringify(bodies) === JSON.stringify(e.bodies),
    'the timeline shows the public updates as text, newest first', { got: bodies, want: e.bodies });
  check(p.markupIn === 0, 'no element inside the title, org or update bodies', p.markupIn);
  check(p.injected === 0, 'no image, frame or event-handler attribute injected', p.injected);
  check(JSON.stringify(p.scripts) === JSON.stringify([cfg.base + '/incidents/status.js']),
    'the only script is /incidents/status.js', p.scripts);
  check(!p.html.includes(e.internal), 'the internal reply is not on the page');
  check(p.status && p.status.raw === e.status && p.status.word === e.status_word &&
    /(^|\s)status(\s|$)/.test(p.status.cls), `#status reads "${e.status_word}" (data-status ${e.status})`, p.status);
  check(p.updated && p.updated.tag === 'TIME' && RFC3339_Z.test(p.updated.datetime || ''),
    '#updated is a <time datetime="...Z">', p.updated);
  check(p.entries.length > 0 && p.entries.every((x) => x.status && x.status.raw && x.status.word &&
    RFC3339_Z.test(x.datetime || '')), 'each update has a .status with data-status and a <time datetime>',
    p.entries);
  check(p.banner && p.banner.hidden && !p.banner.shown, '#resolved-banner is there and hidden', p.banner);
  check(p.announceLive === 'polite', '#announce is aria-live="polite"', p.announceLive);
  check(seen.dialogs.length === 0, 'no dialog opened', seen.dialogs);

  const live = await until(page, () => {
    const el = document.getElementById('live');
    return el && !el.hidden && el.textContent.trim() === 'Live';
  });
  check(live, '#live reads "Live" once the stream is open', (await readPage(page)).live);
}

// Waits for an update with this body at the top of #timeline; returns the page.
async function arrives(page, body) {
  await until(page, (b) => {
    const p = document.querySelector('#timeline > li p.body');
    return p && p.textContent === b;
  }, body);
  return readPage(page);
}

async function waitAnnounceChange(page, before) {
  await until(page, (b) => {
    const el = document.getElementById('announce');
    return el && el.textContent.trim() !== '' && el.textContent !== b;
  }, before);
  return (await readPage(page)).announce;
}

async function checkLiveUpdates(page) {
  const e = cfg.expect;
  let before = await readPage(page);

  // The internal one first: were it ever sent, it would arrive before the public one.
  await reply(e.internal, true);
  await reply(e.live_reply);
  let p = await arrives(page, e.live_reply);
  check(p.entries.length && p.entries[0].body === e.live_reply,
    'a public reply appears at the top of #timeline without reload', p.entries.slice(0, 2));
  check(p.sameDocument, 'the page did not reload');
  check(p.entries.length && p.entries[0].isNew, 'the live arrival carries class "new"', p.entries[0]);
  check(p.entries.length === before.entries.length + 1, 'exactly one entry was added',
    { before: before.entries.length, after: p.entries.length });
  check(!p.html.includes(e.internal), 'the internal reply never appears');
  check(p.injected === 0 && p.markupIn === 0, 'the live reply is shown as text, nothing injected');
  let announce = await waitAnnounceChange(page, before.announce);
  check(announce !== before.announce && announce.trim() !== '', '#announce tells of the new reply',
    { before: before.announce, after: announce });

  before = p;
  await patch({ status: 'monitoring', message: e.monitoring });
  await until(page, () => {
    const s = document.getElementById('status');
    return s && s.getAttribute('data-status') === 'monitoring';
  });
  p = await arrives(page, e.monitoring);
  check(p.status && p.status.raw === 'monitoring' && p.status.word === 'Monitoring',
    'a status change updates #status without reload: "Monitoring", data-status monitoring', p.status);
  const top = p.entries[0] || {};
  check(top.body === e.monitoring && top.status && top.status.raw === 'monitoring' &&
    top.status.word === 'Monitoring' && top.isNew, 'the status change adds its entry at the top', top);
  check(p.updated && top.datetime && p.updated.datetime >= top.datetime,
    '#updated follows the change', { updated: p.updated, entry: top.datetime });
  announce = await waitAnnounceChange(page, before.announce);
  check(announce !== before.announce && announce.trim() !== '', '#announce tells of the status change',
    { before: before.announce, after: announce });
  check(p.sameDocument, 'still the same document');
}

async function checkReconnect(page) {
  const e = cfg.expect;
  const before = (await readPage(page)).entries.length;
  await page.evaluate(() => { window.__live.length = 0; window.__live.push('(start)'); });
  killWindow = true;
  const answer = await ask('kill_sse', {
    request: { method: 'POST', path: `/v1/tickets/${cfg.incident_id}/replies`, body: { body: e.missed } },
  });
  check(answer.status === 201, 'an update posted while incidentd-sse is down', answer);

  const back = await until(page, (r, l) => {
    const log = window.__live;
    const i = log.indexOf(r);
    return i >= 0 && log.indexOf(l, i) > i;
  }, RECONNECTING, LIVE);
  const log = (await readPage(page)).liveLog;
  check(log.includes(RECONNECTING), `#live read exactly "${RECONNECTING}"`, log);
  check(back, '#live read "Live" again after it', log);
  const p = await arrives(page, e.missed);
  check(p.entries.length && p.entries[0].body === e.missed, 'the missed update shows, at the top', p.entries[0]);
  check(p.sameDocument, 'without a reload');
  // a resume from the wrong event would show earlier updates twice
  check(p.entries.length === before + 1, 'nothing else was added: no update shown twice',
    { before, after: p.entries.length });
  check(log.slice(1).every((t) => [LIVE, RECONNECTING, OFFLINE].includes(t)),
    `#live only ever read "${LIVE}", "${RECONNECTING}" or "${OFFLINE}"`, log);
  killWindow = false;
  emit({ note: `the stream's own failures while incidentd-sse was down (excused): ${
    seen.excused.length ? seen.excused.join('; ') : 'none'}` });
}

// The browser going offline: the indicator says updates are paused, and
// "Live" once it is back online and the stream has resumed.
async function checkOffline(page) {
  await page.evaluate(() => { window.__live.length = 0; window.__live.push('(start)'); });
  killWindow = true;
  await page.setOfflineMode(true);
  const off = await until(page, (o) => window.__live.includes(o), OFFLINE);
  check(off, `offline: #live read exactly "${OFFLINE}"`, (await readPage(page)).liveLog);
  await page.setOfflineMode(false);
  const back = await until(page, (o, l) => {
    const log = window.__live;
    const i = log.indexOf(o);
    return i >= 0 && log.indexOf(l, i) > i;
  }, OFFLINE, LIVE);
  check(back, 'back online: "Live" again', (await readPage(page)).liveLog);
  killWindow = false;
}

async function checkResolved(page) {
  const e = cfg.expect;
  await patch({ status: 'resolved', message: e.resolved });
  const shown = await until(page, () => {
    const b = document.getElementById('resolved-banner');
    return b && !b.hidden && b.getClientRects().length > 0;
  });
  const p = await readPage(page);
  check(shown && p.banner.text === RESOLVED_TEXT, `#resolved-banner shows "${RESOLVED_TEXT}"`, p.banner);
  check(p.status && p.status.raw === 'resolved' && p.status.word === 'Resolved', '#status reads "Resolved"',
    p.status);
}

async function axe(page, name) {
  // Colours mid-transition (a scheme switch, a highlight fading) are not
  // what a reader looks at: let running transitions end first.
  await page.evaluate((ms) => Promise.race([
    Promise.all(document.getAnimations().map((a) => a.finished.catch(() => null))),
    new Promise((resolve) => setTimeout(resolve, ms)),
  ]), cfg.timeout_ms);
  const r = await page.evaluate(async () => {
    const highlighted = document.querySelectorAll('#timeline > li.new').length;
    const res = await window.axe.run(document, { resultTypes: ['violations'] });
    return {
      highlighted,
      violations: res.violations.map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary.replace(/\s+/g, ' ')}`),
      })),
    };
  });
  check(r.violations.length === 0, `axe-core: 0 violations (${name})`, r.violations);
  return r.highlighted;
}

function scheme(page, value) {
  return page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value }]);
}

// axe on a page whose newest update has just arrived (so it is highlighted:
// class "new", for a few seconds), then on the page at rest.
async function checkAccessibility(page) {
  const e = cfg.expect;
  // axe through evaluate: the page's CSP would block a <script> tag
  await page.evaluate(AXE_SOURCE);
  const fresh = async (body, name) => {
    await reply(body);
    await arrives(page, body);
    if (!(await axe(page, `${name}, a new update highlighted`))) {
      emit({ note: `${name}: the highlight was gone before axe ran` });
    }
  };

  await scheme(page, 'light');
  const lightBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  await fresh(e.light, 'light scheme, 1000 px');
  await scheme(page, 'dark');
  const darkBg = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  check(darkBg !== lightBg, 'prefers-color-scheme: dark changes the page', { light: lightBg, dark: darkBg });
  await fresh(e.dark, 'dark scheme, 1000 px');

  await scheme(page, 'light');
  await page.setViewport({ width: 360, height: 740 });
  await fresh(e.long_word, 'light scheme, 360 px');
  const p = await readPage(page);
  check(p.entries.length && p.entries[0].body === e.long_word, 'a reply with a 300-character word and a long URL arrives');
  const scroll = await page.evaluate(() => {
    const el = document.scrollingElement;
    return { scrollWidth: el.scrollWidth, clientWidth: el.clientWidth };
  });
  check(scroll.scrollWidth <= scroll.clientWidth, 'no horizontal scroll at 360 px', scroll);

  const rest = await until(page, () => !document.querySelector('#timeline > li.new'));
  check(rest, 'the highlight of new updates goes away by itself');
  await axe(page, 'light scheme, 360 px, at rest');
  await page.setViewport({ width: 1000, height: 800 });
  await axe(page, 'light scheme, 1000 px, at rest');
  await scheme(page, 'dark');
  await axe(page, 'dark scheme, 1000 px, at rest');
  await scheme(page, 'light');
}

async function checkFavicon(p) {
  if (!check(p.icon, 'the page links an icon')) return;
  const r = await fetch(p.icon);
  await r.arrayBuffer();
  check(r.status === 200 && /^image\/svg\+xml\b/.test(r.headers.get('content-type') || ''),
    'the icon is served as image/svg+xml', { url: p.icon, status: r.status, type: r.headers.get('content-type') });
}

// The feed parsed by the browser's DOMParser, in a blank page of its own (a
// parse error document would break the status page's CSP and count against
// it); its entries against the status page's updates.
async function checkFeed(browser, page) {
  const p = await readPage(page);
  if (!check(p.feed, 'the page links its Atom feed (<link rel="alternate" type="application/atom+xml">)')) return;
  const r = await fetch(p.feed);
  const xml = await r.text();
  check(r.status === 200 && /^application\/atom\+xml\b/.test(r.headers.get('content-type') || ''),
    'GET the feed: 200 application/atom+xml', { status: r.status, type: r.headers.get('content-type') });
  const blank = await browser.newPage();
  const feed = await blank.evaluate((text, ns) => {
    const doc = new DOMParser().parseFromString(text, 'application/xml');
    const error = doc.getElementsByTagName('parsererror')[0];
    const root = doc.documentElement;
    const child = (el, name) => [...el.children].find((c) => c.namespaceURI === ns && c.localName === name);
    return {
      error: error ? error.textContent : null,
      root: { name: root.localName, ns: root.namespaceURI },
      title: child(root, 'title') ? child(root, 'title').textContent : null,
      entries: [...root.children].filter((c) => c.namespaceURI === ns && c.localName === 'entry').map((en) => ({
        title: child(en, 'title') ? child(en, 'title').textContent : null,
        content: child(en, 'content') ? child(en, 'content').textContent : null,
        type: child(en, 'content') ? child(en, 'content').getAttribute('type') : null,
      })),
    };
  }, xml, ATOM_NS);
  await blank.close();
  check(feed.error === null, 'the feed parses as XML', feed.error);
  check(feed.root.name === 'feed' && feed.root.ns === ATOM_NS, 'its root is an Atom <feed>', feed.root);
  check(feed.title === cfg.expect.title, "the feed's title is the hostile title, intact", feed.title);
  // An entry is titled with its update's status word and holds its body;
  // one without a body names the status.
  const want = p.entries.map((x) => ({ title: x.status && x.status.word, body: x.body }));
  const got = feed.entries.map((x) => ({ title: x.title, content: x.content, type: x.type }));
  const same = got.length === want.length && got.every((g, i) =>
    (g.type === null || g.type === 'text') && g.title === want[i].title &&
    (want[i].body !== null ? g.content === want[i].body : (g.content || '').includes(want[i].title)));
  check(same, "the feed's entries are the page's public updates, newest first, text intact", { got, want });
}

function checkQuiet(p) {
  check(seen.requests.length === 0, 'no request failed and no response >= 400 (favicon included)', seen.requests);
  check(seen.foreign.length === 0, 'no request left the page\'s own origin', seen.foreign);
  check(seen.console.length === 0, 'no console error or warning', seen.console);
  check(seen.errors.length === 0, 'no uncaught exception in the page', seen.errors);
  check(p.csp.length === 0, 'no CSP violation', p.csp);
  check(seen.dialogs.length === 0, 'no dialog ever opened', seen.dialogs);
}

// A page with a few ordinary updates, for the README.
async function screenshot(browser) {
  const page = await browser.newPage();
  await page.setViewport({ width: 1000, height: 800 });
  await page.emulateMediaFeatures([{ name: 'prefers-color-scheme', value: 'light' }]);
  await page.goto(`${cfg.base}/incidents/status/${cfg.showcase_token}`, { waitUntil: 'load', timeout: cfg.timeout_ms });
  await until(page, () => {
    const el = document.getElementById('live');
    return el && !el.hidden && el.textContent.trim() === 'Live';
  });
  fs.mkdirSync(path.dirname(cfg.screenshot), { recursive: true });
  await page.screenshot({ path: cfg.screenshot, type: 'png' });
  const head = fs.readFileSync(cfg.screenshot).subarray(0, 8);
  check(head.equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])),
    `a PNG screenshot written to ${cfg.screenshot}`);
  await page.close();
}

async function main() {
  cfg = JSON.parse(await nextLine());
  const browser = await puppeteer.launch({
    executablePath: cfg.chromium,
    headless: true,
    pipe: true,
    // --no-sandbox: as root (CI) Chromium will not start without it, and the
    // only page it loads is our own; no GPU here
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    defaultViewport: { width: 1000, height: 800 },
    timeout: cfg.timeout_ms,
  });
  try {
    const page = await browser.newPage();
    await watch(page);
    await checkLoad(page, `${cfg.base}/incidents/status/${cfg.token}`);
    await checkLiveUpdates(page);
    await checkReconnect(page);
    await checkOffline(page);
    await checkResolved(page);
    await checkAccessibility(page);
    const p = await readPage(page);
    await checkFavicon(p);
    await checkFeed(browser, page);
    checkQuiet(await readPage(page));
    await screenshot(browser);
  } finally {
    await browser.close();
  }
}

main().then(
  () => emit({ done: true }),
  (e) => {
    check(false, 'the browser script ran to its end', e && e.stack ? e.stack : String(e));
    emit({ done: true });
  },
).finally(() => input.close());
