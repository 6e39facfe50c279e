/* status.js — the public status page, live (src/status_page.c renders it).
 * Served as a file: the page's CSP allows no inline script.  Text from an
 * event only ever goes into textContent, so nothing is parsed as HTML.
 *
 * The page follows the incident's public stream from the event seq it was
 * rendered at.  The browser resumes a dropped stream by itself (Last-Event-ID);
 * when it gives up (an error answer, e.g. while incidentd-sse restarts) this
 * script reconnects from the last event it saw, so no update is missed. */
(function () {
  'use strict';

  var main = document.getElementById('incident');
  if (!main) return;

  var lang = document.documentElement.lang || 'en';
  var timeline = document.getElementById('timeline');
  var badge = document.getElementById('status');
  var banner = document.getElementById('resolved-banner');
  var live = document.getElementById('live');
  var announcer = document.getElementById('announce');
  var empty = document.getElementById('no-updates');
  var org = document.getElementById('org');

  /* the server's words for each status and which ones mean resolved */
  var words = parseWords(main.getAttribute('data-words'));
  var resolved = (main.getAttribute('data-resolved') || '').split(' ');

  function parseWords(text) {
    try {
      return JSON.parse(text) || {};
    } catch (e) {
      return {};
    }
  }

  function word(status) {
    return Object.prototype.hasOwnProperty.call(words, status) ? words[status] : status;
  }

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  /* ---- times: the reader's local time and "12 minutes ago" ---------------- */

  var absolute = new Intl.DateTimeFormat(lang, {
    year: 'numeric', month: 'short', day: 'numeric',
    hour: 'numeric', minute: '2-digit', timeZoneName: 'short'
  });
  var relative = Intl.RelativeTimeFormat ? new Intl.RelativeTimeFormat(lang, { numeric: 'auto' }) : null;
  var UNITS = [['year', 31536000], ['month', 2592000], ['week', 604800],
               ['day', 86400], ['hour', 3600], ['minute', 60]];

  function ago(date) {
    var seconds = Math.round((date.getTime() - Date.now()) / 1000);
    var i;

    if (!relative) return '';
    if (seconds > -60) return 'just now'; /* also a clock a little ahead of ours */
    for (i = 0; i < UNITS.length; i++)
      if (-seconds >= UNITS[i][1])
        return relative.format(Math.round(seconds / UNITS[i][1]), UNITS[i][0]);
    return '';
  }

  function showTime(t) {
    var date = new Date(t.getAttribute('datetime'));
    var next = t.nextElementSibling;

    if (isNaN(date.getTime())) return;
    t.textContent = absolute.format(date);
    if (next && next.classList.contains('ago')) next.textContent = ago(date);
  }

  function showTimes() {
    Array.prototype.forEach.call(main.querySelectorAll('time[datetime]'), showTime);
  }

  function stamp(t, when) {
    t.setAttribute('datetime', when);
    showTime(t);
  }

  /* ---- the incident ------------------------------------------------------- */

  function statusBadge(node, status) {
    node.textContent = word(status);
    node.setAttribute('data-status', status);
  }

  function setStatus(status) {
    statusBadge(badge, status);
    main.setAttribute('data-status', status);
    banner.hidden = resolved.indexOf(status) < 0;
  }

  function setTitle(title) {
    document.getElementById('title').textContent = title;
    document.title = org ? title + ' \u2014 ' + org.textContent : title;
  }

  /* Screen readers hear each new update once; the last few stay in the region. */
  function announce(text) {
    announcer.appendChild(el('p', null, text));
    while (announcer.childNodes.length > 5) announcer.removeChild(announcer.firstChild);
  }

  /* Entries are numbered from the oldest (#update-<n>, what the feed's ids
   * point at): the next one is the top one's number plus one. */
  function nextNumber() {
    var top = timeline.firstElementChild;
    var n = top ? parseInt(top.id.slice('update-'.length), 10) : 0;

    return isNaN(n) ? 0 : n + 1;
  }

  /* A new timeline entry goes on top (newest first) and is highlighted a while. */
  function addEntry(reply, status) {
    var li = el('li', 'new');
    var meta = el('p', 'meta');
    var t = el('time');
    var n = nextNumber();

    if (n > 0) li.id = 'update-' + n;
    li.setAttribute('data-status', status);
    statusBadge(meta.appendChild(el('span', 'status')), status);
    meta.appendChild(document.createTextNode(' '));
    meta.appendChild(t);
    meta.appendChild(document.createTextNode(' '));
    meta.appendChild(el('span', 'ago'));
    li.appendChild(meta);
    if (reply.body != null) li.appendChild(el('p', 'body', reply.body));
    stamp(t, reply.created_at);
    timeline.insertBefore(li, timeline.firstChild);
    if (empty) empty.hidden = true;
    stamp(document.getElementById('updated'), reply.created_at);
    announce('New update, ' + word(status) + (reply.body != null ? ': ' + reply.body : ''));
    setTimeout(function () { li.classList.remove('new'); }, 8000);
  }

  function onUpdated(d) {
    var before = main.getAttribute('data-status');

    setTitle(d.title);
    setStatus(d.status);
    stamp(document.getElementById('updated'), d.updated_at);
    if (d.reply) addEntry(d.reply, d.status);
    else if (d.status !== before) announce('Status changed to ' + word(d.status));
  }

  function onReply(d) {
    addEntry(d.reply, main.getAttribute('data-status'));
  }

  /* ---- the stream, and an indicator that says how it is --------------------- */

  var STATES = { live: 'Live', reconnecting: 'Reconnecting\u2026', offline: 'Offline \u2014 updates paused' };
  var OFFLINE_AFTER = 5; /* failed reconnects in a row, after the drop, before saying so */
  var streamUrl = main.getAttribute('data-stream');
  var lastId = main.getAttribute('data-seq');
  var source = null;
  var retry = null;
  var failures = 0;
  var ended = false;

  function setLive(state) {
    live.hidden = false;
    live.setAttribute('data-state', state);
    if (live.textContent !== STATES[state]) live.textContent = STATES[state];
  }

  function listen(type, handle) {
    source.addEventListener(type, function (e) {
      if (e.lastEventId) lastId = e.lastEventId;
      handle(e.data ? JSON.parse(e.data) : {});
    });
  }

  function end() {
    ended = true;
    source.close();
    setLive('offline');
  }

  function connect() {
    retry = null;
    source = new EventSource(streamUrl + '?last_event_id=' + encodeURIComponent(lastId));
    source.onopen = function () {
      failures = 0;
      setLive('live');
    };
    /* every error since the last open is a failed attempt, the drop included */
    source.onerror = function () {
      if (ended) return;
      failures++;
      setLive(failures > OFFLINE_AFTER || navigator.onLine === false ? 'offline' : 'reconnecting');
      if (source.readyState !== EventSource.CLOSED) return; /* the browser retries */
      /* the browser gave up (an error answer): back off, 1 s doubling to a minute */
      source.close();
      retry = setTimeout(connect, Math.min(60000, 1000 * Math.pow(2, failures - 1)) *
                                  (0.5 + Math.random() / 2));
    };
    listen('incident.updated', onUpdated);
    listen('incident.reply', onReply);
    listen('incident.deleted', function () {
      badge.setAttribute('data-status', 'removed');
      badge.textContent = 'Removed';
      announce('This incident has been removed');
      end();
    });
    /* the log no longer reaches back to this page: load it afresh */
    listen('stream.reset', function () {
      end();
      window.location.reload();
    });
  }

  /* back online: try now rather than at the end of the back-off */
  window.addEventListener('online', function () {
    if (retry !== null) {
      clearTimeout(retry);
      connect();
    } else if (!ended && source && source.readyState === EventSource.OPEN) {
      setLive('live');
    }
  });
  window.addEventListener('offline', function () {
    if (!ended) setLive('offline');
  });

  showTimes();
  setInterval(showTimes, 60000);
  if (window.EventSource) connect();
})();
