// phonevault's desktop client. Plain ES module, no build step, nothing from the network
// but this server. Text from the phone (names, albums, paths, EXIF) is only ever set with
// textContent or as an attribute value, never parsed as HTML.

import * as auto from './auto.js';
import { initBackups, loadBackups, phonesChanged } from './backups.js';
import { choose, groupTiles, keyOnTile, makeTile, selectShown, showSelection } from './tiles.js';

const $ = (id) => document.getElementById(id);

/** Creates an element with text content and attributes (all set as text). */
function el(tag, { text, cls, attrs } = {}, children = []) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const child of children) node.append(child);
  return node;
}

/** `n` and the word for that many: "1 item", "3 items". */
function count(n, word, plural = `${word}s`) {
  return `${n} ${n === 1 ? word : plural}`;
}

function size(bytes) {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let n = bytes;
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i += 1; }
  return `${i === 0 ? n : n.toFixed(n < 10 ? 1 : 0)} ${units[i]}`;
}

function duration(seconds) {
  if (seconds < 60) return `${Math.ceil(seconds)} s`;
  const m = Math.floor(seconds / 60);
  if (m < 60) return `${m} min ${Math.round(seconds % 60)} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

function itemDate(item) {
  if (item.taken) return item.taken.replace('T', ' ').slice(0, 16);
  const t = new Date(item.mtime * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

async function api(path, options = {}) {
  const response = await fetch(path, { credentials: 'same-origin', ...options });
  const type = response.headers.get('content-type') || '';
  const body = type.includes('application/json') ? await response.json() : null;
  if (!response.ok) {
    const message = body && body.error ? body.error.message : `${response.status} ${response.statusText}`;
    const err = new Error(message);
    err.kind = body && body.error ? body.error.kind : 'http';
    throw err;
  }
  return body;
}

function post(path, value) {
  return api(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(value ?? {}),
  });
}

// ---- state ---------------------------------------------------------------------------

const state = {
  phones: [],
  serial: null,        // the phone shown
  media: null,         // MediaView of that phone
  byId: new Map(),     // id -> item
  shown: [],           // ids in display order after filters
  selected: new Set(),
  anchor: null,        // id a shift-click range starts from
  focusId: null,
  folders: new Map(),  // serial -> destination typed by the person
  free: null,          // bytes free at the destination, when known
};

// ---- phones ----------------------------------------------------------------------------

function phoneLabel(p) {
  const name = [p.manufacturer, p.model].filter(Boolean).join(' ') || p.serial;
  return name;
}

function renderPhones(view) {
  state.phones = view.phones;
  const adbError = $('adb-error');
  if (view.adb_error) {
    adbError.hidden = false;
    adbError.textContent = view.adb_error.kind === 'adb-not-found'
      ? `The adb program is missing. ${view.adb_error.message}`
      : `Cannot reach adb: ${view.adb_error.message}`;
  } else {
    adbError.hidden = true;
    adbError.textContent = '';
  }
  const list = $('phones');
  list.replaceChildren();
  for (const p of view.phones) {
    const li = el('li');
    if (p.state === 'device') {
      const facts = [];
      if (p.android_version) facts.push(`Android ${p.android_version}`);
      if (p.storage_free != null) facts.push(`${size(p.storage_free)} free`);
      const button = el('button', { attrs: { type: 'button', 'data-serial': p.serial } }, [
        el('strong', { text: phoneLabel(p) }),
        el('span', { cls: 'serial', text: facts.join(', ') }),
        el('span', { cls: 'serial', text: p.serial }),
      ]);
      button.setAttribute('aria-current', String(p.serial === state.serial));
      button.addEventListener('click', () => choosePhone(p.serial));
      li.append(button);
      if (p.guidance) li.append(el('p', { cls: 'phone-state', text: p.guidance }));
    } else {
      const word = { unauthorized: 'waiting for permission', offline: 'offline', other: 'not usable' }[p.state] || p.state;
      li.append(el('strong', { text: p.model ? `${p.model} (${word})` : `${p.serial} (${word})` }));
      li.append(el('span', { cls: 'serial', text: p.serial }));
      if (p.guidance) li.append(el('p', { cls: 'phone-state', text: p.guidance }));
    }
    list.append(li);
  }
  auto.decoratePhones(view.phones);
  $('no-phones').hidden = view.phones.length > 0 || Boolean(view.adb_error);
  phonesChanged();
  if (state.serial && !view.phones.some((p) => p.serial === state.serial && p.state === 'device')) {
    $('media-status').textContent = 'This phone was disconnected. Plug it in again to go on.';
  }
  updateSummary();
}

function followPhones() {
  const source = new EventSource('/api/events');
  source.addEventListener('phones', (e) => renderPhones(JSON.parse(e.data)));
  auto.follow(source);
  source.addEventListener('error', () => {
    $('status').textContent = 'Connection to phonevault lost: is it still running?';
  });
  source.addEventListener('open', () => { $('status').textContent = ''; });
}

// ---- media -----------------------------------------------------------------------------

async function choosePhone(serial) {
  showView(false);
  if (state.serial) state.folders.set(state.serial, $('dest').value);
  state.serial = serial;
  state.selected.clear();
  state.anchor = null;
  const phone = state.phones.find((p) => p.serial === serial);
  $('welcome').hidden = true;
  $('phone-view').hidden = false;
  $('phone-title').textContent = phone ? phoneLabel(phone) : serial;
  $('dest').value = state.folders.get(serial) || (phone && phone.default_folder) || '';
  for (const b of document.querySelectorAll('#phones button')) {
    b.setAttribute('aria-current', String(b.dataset.serial === serial));
  }
  refreshSpace();
  auto.showPhone(serial);
  await loadMedia(false);
}

async function refreshSpace() {
  const folder = $('dest').value;
  state.free = null;
  if (folder) {
    try {
      const answer = await api(`/api/space?${new URLSearchParams({ folder })}`);
      if ($('dest').value === folder) state.free = answer.free;
    } catch { /* a folder being typed may not be valid yet */ }
  }
  updateSummary();
}

async function loadMedia(refresh) {
  const serial = state.serial;
  if (!serial) return;
  $('media-status').textContent = 'Listing the phone…';
  const params = new URLSearchParams();
  if ($('dest').value) params.set('folder', $('dest').value);
  if (refresh) params.set('refresh', 'true');
  try {
    const media = await api(`/api/phones/${encodeURIComponent(serial)}/media?${params}`);
    if (state.serial !== serial) return;
    state.media = media;
    state.byId = new Map(media.items.map((i) => [i.id, i]));
    for (const id of [...state.selected]) if (!state.byId.has(id)) state.selected.delete(id);
    const notes = [];
    notes.push(`${media.items.length} items on the phone`);
    if (media.unreadable.length) notes.push(`${media.unreadable.length} folders could not be read`);
    if (media.locked_archives.length) notes.push(`${media.locked_archives.length} encrypted backups not checked for "already backed up"`);
    $('media-status').textContent = notes.join('; ') + '.';
    renderAlbums();
    renderGrid();
  } catch (err) {
    $('media-status').textContent = `Could not list the phone: ${err.message}`;
  }
}

function renderAlbums() {
  const source = $('filter-source').value;
  const albumSelect = $('filter-album');
  const keep = albumSelect.value;
  albumSelect.replaceChildren(el('option', { text: 'All albums', attrs: { value: '' } }));
  const body = $('albums').tBodies[0];
  body.replaceChildren();
  for (const a of state.media.albums) {
    if (source && a.source !== source) continue;
    albumSelect.append(el('option', { text: a.album, attrs: { value: a.album } }));
    const show = el('button', { text: 'Show', attrs: { type: 'button', 'aria-label': `Show album ${a.album}` } });
    show.addEventListener('click', () => {
      $('filter-source').value = a.source;
      renderAlbums();
      $('filter-album').value = a.album;
      renderGrid();
    });
    const pick = el('button', { text: 'Select', attrs: { type: 'button', 'aria-label': `Select album ${a.album}` } });
    pick.addEventListener('click', () => {
      for (const item of state.media.items) {
        if (item.source === a.source && item.album === a.album) state.selected.add(item.id);
      }
      syncSelection();
    });
    const actions = el('td', {}, [show, ' ', pick]);
    body.append(el('tr', {}, [
      el('td', { text: a.source }), el('td', { text: a.album }),
      el('td', { text: String(a.count) }), el('td', { text: size(a.size) }), actions,
    ]));
  }
  if ([...albumSelect.options].some((o) => o.value === keep)) albumSelect.value = keep;
}

function filtered() {
  const source = $('filter-source').value;
  const album = $('filter-album').value;
  const kind = $('filter-kind').value;
  const since = $('filter-since').value;
  const until = $('filter-until').value;
  const onlyNew = $('filter-new').checked;
  return state.media.items.filter((i) => (!source || i.source === source)
    && (!album || i.album === album)
    && (!kind || i.kind === kind)
    && (!since || (i.day && i.day >= since))
    && (!until || (i.day && i.day <= until))
    && (!onlyNew || !i.backed_up));
}

// Only tiles on or near the screen hold an <img>; the rest hold nothing, so a phone of
// 20,000 items never has 20,000 images in the page, and no thumbnail is fetched for a tile
// that was never near the screen. A tile that scrolls away before its picture arrived drops
// its request (the server then skips it); pictures already shown stay until more than
// MAX_IMAGES are in the page, then those far from the screen are dropped.
const MAX_IMAGES = 400;
const nearTiles = new Set();
const withImage = new Set();

function dropImage(tile) {
  const img = tile.querySelector('.pick img');
  if (img) img.remove();
  withImage.delete(tile);
}

const nearScreen = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    const tile = entry.target;
    const pick = tile.querySelector('.pick');
    const img = pick.querySelector('img');
    if (entry.isIntersecting) {
      nearTiles.add(tile);
      if (!img && tile.dataset.thumb === 'true') {
        const picture = el('img', { attrs: { alt: '', decoding: 'async' } });
        picture.addEventListener('error', () => {
          picture.remove();
          withImage.delete(tile);
          tile.dataset.thumb = 'false';
          pick.prepend(el('span', { cls: 'kind', text: 'no preview' }));
        });
        picture.src = `/api/phones/${encodeURIComponent(state.serial)}/thumb/${tile.dataset.id}`;
        pick.prepend(picture);
        withImage.add(tile);
      }
    } else {
      nearTiles.delete(tile);
      if (img && !img.complete) dropImage(tile);
    }
  }
  if (withImage.size > MAX_IMAGES) {
    for (const tile of [...withImage]) if (!nearTiles.has(tile)) dropImage(tile);
  }
}, { rootMargin: '800px 0px' });

function renderGrid() {
  nearScreen.disconnect();
  nearTiles.clear();
  withImage.clear();
  const grid = $('grid');
  grid.replaceChildren();
  const width = grid.clientWidth;
  const items = filtered();
  state.shown = items.map((i) => i.id);
  groupTiles(el, grid, items, { tile, selectWhere });
  sizeDaysAhead(grid, width);
  for (const t of grid.querySelectorAll('.tile')) nearScreen.observe(t);
  syncSelection();
}

// Sizes of a day's parts, as style.css lays them out (.tile .pick, .tiles gap, .day > h4).
const TILE_SIDE = 132;
const TILE_GAP = 6;
const DAY_HEADER = 44;

// A day is laid out only when it comes near the screen (content-visibility in style.css),
// so a phone of thousands of photos shows its first screen without laying out every tile.
// Until then its height is worked out from its tile count, so the scroll bar is right and
// the page does not jump when the day is laid out.
function sizeDaysAhead(grid, width) {
  const across = Math.max(1, Math.floor((width + TILE_GAP) / (TILE_SIDE + TILE_GAP)));
  for (const day of grid.querySelectorAll('.day')) {
    const rows = Math.ceil(day.querySelector('.tiles').childElementCount / across);
    day.style.containIntrinsicSize = `auto ${DAY_HEADER + rows * (TILE_SIDE + TILE_GAP)}px`;
  }
}

function tile(item) {
  return makeTile(el, item, {
    when: itemDate(item),
    note: item.backed_up ? 'backed up' : '',
    badge: item.backed_up ? 'Backed up' : '',
    choose: (id, e) => { choose(state, id, e); syncSelection(); },
    key: (id, e) => keyOnTile(state, $('grid'), id, e, { changed: syncSelection, open: openViewer }),
    enlarge: openViewer,
  });
}

// ---- selection -------------------------------------------------------------------------

function selectWhere(test) {
  selectShown(state, test);
  syncSelection();
}

function syncSelection() {
  showSelection(state, $('grid'));
  updateSummary();
}

function updateSummary() {
  let bytes = 0;
  for (const id of state.selected) bytes += (state.byId.get(id) || { size: 0 }).size;
  const n = state.selected.size;
  let text = n === 0 ? 'Nothing selected.' : `${count(n, 'item')} selected, ${size(bytes)}.`;
  if (state.free != null) {
    text += ` ${size(state.free)} free at the destination.`;
    if (bytes > state.free) text += ' Not enough room!';
  }
  $('summary').textContent = text;
  const phone = state.phones.find((p) => p.serial === state.serial);
  const usable = phone && phone.state === 'device';
  $('start-backup').disabled = n === 0 || !usable;
  $('start-backup').textContent = n === 0 ? 'Back up selected' : `Back up ${count(n, 'item')}`;
}

// ---- large view ------------------------------------------------------------------------

async function openViewer(id) {
  const item = state.byId.get(id);
  const dialog = $('viewer');
  const serial = state.serial;
  $('viewer-title').textContent = item.name;
  const img = $('viewer-img');
  img.removeAttribute('src');
  img.alt = item.name;
  img.hidden = !item.thumbnail;
  const facts = $('viewer-facts');
  const fill = (pairs) => {
    facts.replaceChildren();
    for (const [k, v] of pairs) if (v) facts.append(el('dt', { text: k }), el('dd', { text: v }));
  };
  fill([['Date', itemDate(item)], ['Size', size(item.size)], ['Path', item.path], ['Album', item.album]]);
  if (!dialog.open) dialog.showModal();
  try {
    const folder = $('dest').value ? `?${new URLSearchParams({ folder: $('dest').value })}` : '';
    const d = await api(`/api/phones/${encodeURIComponent(serial)}/items/${id}${folder}`);
    const base = `/api/phones/${encodeURIComponent(serial)}/items/${id}`;
    if (item.thumbnail) img.src = d.original ? `${base}/original` : `/api/phones/${encodeURIComponent(serial)}/thumb/${id}`;
    fill([
      ['Date', itemDate(d)], ['Camera', d.camera], ['Pixels', d.width && d.height ? `${d.width} × ${d.height}` : ''],
      ['Size', size(d.size)], ['Path', d.path], ['Album', d.album],
      ['Backed up', d.backed_up ? 'yes' : 'not yet'], ['Notes', d.notes.join('; ')],
    ]);
  } catch (err) {
    fill([['Date', itemDate(item)], ['Size', size(item.size)], ['Path', item.path], ['Problem', err.message]]);
  }
}

// ---- backup ----------------------------------------------------------------------------

function jobCard(job, phoneName) {
  const card = el('section', { cls: 'job', attrs: { 'aria-label': `Backup ${job.id} of ${phoneName}`, 'data-job': String(job.id) } });
  const bar = el('progress', { attrs: { max: '1', value: '0', 'aria-label': `Progress of backup ${job.id}` } });
  const line = el('p', { cls: 'line', attrs: { role: 'status' } });
  const cancel = el('button', { text: 'Cancel', attrs: { type: 'button', 'aria-label': `Cancel backup ${job.id}` } });
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try { await post(`/api/jobs/${job.id}/cancel`); } catch (err) { line.textContent = err.message; }
  });
  const result = el('div', { cls: 'result' });
  card.append(el('h3', { text: `Backup of ${phoneName}` }), bar, line, cancel, result);
  const show = (view) => {
    card.dataset.state = view.state;
    if (view.state === 'running') {
      const phase = view.phase === 'listing' ? 'Listing the phone…' : null;
      if (phase) {
        line.textContent = phase;
        bar.removeAttribute('value');
      } else {
        bar.max = Math.max(1, view.bytes_total);
        bar.value = view.bytes_done;
        const parts = [`${view.items_done} of ${view.items_total} items`, `${size(view.bytes_done)} of ${size(view.bytes_total)}`];
        if (view.rate > 0) parts.push(`${size(view.rate)}/s`);
        if (view.eta_seconds != null) parts.push(`${duration(view.eta_seconds)} left`);
        if (view.cancel_requested) parts.push('stopping…');
        line.textContent = parts.join(', ');
      }
      return;
    }
    cancel.remove();
    bar.max = 1;
    bar.value = 1;
    const r = view.result;
    const words = {
      done: 'Done.', partial: 'Done, but some items were not copied.',
      cancelled: 'Cancelled: what arrived whole is saved.', failed: 'The backup failed.',
    };
    line.textContent = words[view.state] || view.state;
    result.replaceChildren();
    if (r) {
      if (r.archive) result.append(el('p', { cls: 'line', text: `${count(r.items, 'item')} (${size(r.bytes)}) written to ${r.archive}` }));
      else if (r.items === 0 && r.failed.length === 0 && !r.stopped) result.append(el('p', { cls: 'line', text: 'Nothing new: everything selected was already backed up.' }));
      if (r.skipped) result.append(el('p', { cls: 'line', text: `${r.skipped} items were already in earlier backups.` }));
      if (r.not_attempted) result.append(el('p', { cls: 'line', text: `${r.not_attempted} items were not copied; back up again to copy them.` }));
      if (r.stopped && r.stopped.kind !== 'cancelled') result.append(el('p', { cls: 'line', text: `Stopped early: ${r.stopped.message}` }));
      if (r.failed.length) {
        result.append(el('p', { cls: 'line', text: `${r.failed.length} items could not be copied (they stay on the phone):` }));
        result.append(el('ul', {}, r.failed.map((f) => el('li', { text: `${f.path}: ${f.message}` }))));
      }
    }
    if (view.error) result.append(el('p', { cls: 'line', text: view.error.message }));
    if (view.serial === state.serial) {
      refreshSpace();
      loadMedia(false);
    }
  };
  show(job);
  const events = new EventSource(`/api/jobs/${job.id}/events`);
  events.addEventListener('progress', (e) => show(JSON.parse(e.data)));
  events.addEventListener('end', (e) => { events.close(); show(JSON.parse(e.data)); });
  return card;
}

async function startBackup(e) {
  e.preventDefault();
  const error = $('backup-error');
  error.textContent = '';
  const encrypt = $('encrypt').checked;
  if (encrypt && $('password').value !== $('password2').value) {
    error.textContent = 'The two passwords differ; type the same one twice.';
    return;
  }
  if (encrypt && !$('password').value) {
    error.textContent = 'Type a password to encrypt with.';
    return;
  }
  const phone = state.phones.find((p) => p.serial === state.serial);
  const body = { ids: [...state.selected], encrypt };
  if ($('dest').value) body.folder = $('dest').value;
  if (encrypt) {
    body.password = $('password').value;
    body.password_confirm = $('password2').value;
  }
  try {
    const answer = await post(`/api/phones/${encodeURIComponent(state.serial)}/backup`, body);
    $('password').value = '';
    $('password2').value = '';
    $('jobs').prepend(jobCard(answer.job, phone ? phoneLabel(phone) : state.serial));
  } catch (err) {
    error.textContent = err.message;
  }
}

// ---- wiring ----------------------------------------------------------------------------

// The two views: a phone's media (with the backup panel), and the backups page.
function showView(backups) {
  $('show-phones').setAttribute('aria-pressed', String(!backups));
  $('show-backups').setAttribute('aria-pressed', String(backups));
  document.body.classList.toggle('backups-mode', backups);
  $('backups-view').hidden = !backups;
  $('welcome').hidden = backups || Boolean(state.serial);
  $('phone-view').hidden = backups || !state.serial;
  if (backups) loadBackups();
}

function init() {
  auto.init({
    api, post, el, size, count,
    // An automatic backup of the phone shown: its "Backed up" badges change.
    onBackedUp: (serial) => { if (serial === state.serial) loadMedia(false); },
  });
  initBackups({
    el, api, post, size, count, duration, phoneLabel, phones: () => state.phones,
  });
  $('show-phones').addEventListener('click', () => showView(false));
  $('show-backups').addEventListener('click', () => showView(true));
  followPhones();
  for (const id of ['filter-kind', 'filter-album', 'filter-since', 'filter-until', 'filter-new']) {
    $(id).addEventListener('change', () => state.media && renderGrid());
  }
  $('filter-source').addEventListener('change', () => {
    if (!state.media) return;
    renderAlbums();
    renderGrid();
  });
  $('select-shown').addEventListener('click', () => selectWhere(() => true));
  $('select-none').addEventListener('click', () => { state.selected.clear(); syncSelection(); });
  $('reload').addEventListener('click', () => loadMedia(true));
  $('dest').addEventListener('change', () => { refreshSpace(); loadMedia(false); });
  $('encrypt').addEventListener('change', () => { $('password-fields').hidden = !$('encrypt').checked; });
  $('backup-form').addEventListener('submit', startBackup);
  $('viewer-close').addEventListener('click', () => $('viewer').close());
  $('quit').addEventListener('click', async () => {
    try { await post('/api/quit'); } catch { /* the server may already be gone */ }
    document.body.replaceChildren(el('p', { text: 'phonevault has stopped. You can close this tab.' }));
  });
  api('/api/jobs').then((answer) => {
    for (const job of answer.jobs) if (job.kind === 'backup') $('jobs').append(jobCard(job, job.serial));
  }).catch(() => {});
}

init();
