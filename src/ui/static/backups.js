// The backups page: archives in the known folders grouped by phone; one archive's grid
// from the previews stored in it; verify, extract, and the way into a restore.
// Text from archives (names, paths, serials) is only set with textContent or as an
// attribute value. Passwords go in POST bodies only and are kept by the server for the
// session; the page forgets them as soon as they are sent.

import { planRestore } from './restore.js';
import { choose, groupTiles, keyOnTile, makeTile, selectShown, showSelection } from './tiles.js';

let h = null; // helpers from app.js: el, api, post, size, count, duration, phones, phoneLabel

let lastList = null;   // the last BackupsView

const view = {
  archive: null,       // path of the open archive
  data: null,          // ArchiveView
  byId: new Map(),
  shown: [],
  selected: new Set(),
  anchor: null,
  focusId: null,
};

const $ = (id) => document.getElementById(id);

function q(params) {
  return new URLSearchParams(params).toString();
}

function formatCreated(text) {
  if (!text) return '';
  const t = new Date(text);
  return Number.isNaN(t.getTime()) ? text : t.toLocaleString();
}

export async function loadBackups() {
  $('backups-error').textContent = '';
  try {
    renderList(await h.api('/api/backups'));
  } catch (err) {
    $('backups-error').textContent = `Could not list the backups: ${err.message}`;
  }
}

function renderList(list) {
  lastList = list;
  const box = $('backup-list');
  box.replaceChildren();
  const folders = list.folders.map((f) => `${f.folder}${f.exists ? '' : ' (missing)'}`);
  box.append(h.el('p', { cls: 'hint', text: folders.length ? `Folders looked at: ${folders.join('; ')}` : 'No backup folder known yet: add one above.' }));
  if (!list.phones.length) box.append(h.el('p', { text: 'No backups found in these folders.' }));
  for (const phone of list.phones) {
    const name = [phone.manufacturer, phone.model].filter(Boolean).join(' ') || phone.serial;
    const title = phone.android_version ? `${name} (Android ${phone.android_version}, ${phone.serial})` : `${name} (${phone.serial})`;
    const rows = phone.archives.map((a) => {
      const open = h.el('button', { text: 'Open', attrs: { type: 'button', 'aria-label': `Open backup ${a.name}` } });
      open.disabled = a.status !== 'complete';
      open.addEventListener('click', () => openArchive(a));
      const status = { complete: 'complete', partial: 'partial (not finished)', unreadable: `unreadable: ${a.problem || ''}` }[a.status] || a.status;
      const health = a.damaged ? `${status}, ${a.damaged} damaged` : status;
      return h.el('tr', { attrs: { 'data-archive': a.path } }, [
        h.el('td', { text: a.name }),
        h.el('td', { text: formatCreated(a.created) || (a.locked ? 'locked' : '') }),
        h.el('td', { text: a.items == null ? '?' : String(a.items) }),
        h.el('td', { text: h.size(a.size) }),
        h.el('td', { text: a.encrypted ? 'encrypted' : 'not encrypted' }),
        h.el('td', { text: health }),
        h.el('td', {}, [open]),
      ]);
    });
    const head = h.el('tr', {}, ['Archive', 'Date', 'Items', 'Size', 'Encryption', 'State', ''].map((t) => h.el('th', { text: t, attrs: { scope: 'col' } })));
    box.append(h.el('section', { cls: 'phone-backups', attrs: { 'aria-label': `Backups of ${title}` } }, [
      h.el('h3', { text: title }),
      h.el('table', {}, [h.el('thead', {}, [head]), h.el('tbody', {}, rows)]),
    ]));
  }
}

async function openArchive(summary) {
  view.archive = summary.path;
  view.data = null;
  view.selected.clear();
  view.anchor = null;
  view.focusId = null;
  $('archive-view').hidden = false;
  for (const id of ['archive-album', 'archive-since', 'archive-until']) $(id).value = '';
  $('archive-title').textContent = summary.name;
  $('archive-body').hidden = true;
  $('archive-grid').replaceChildren();
  $('restore-plan').replaceChildren();
  $('unlock-error').textContent = '';
  $('archive-error').textContent = '';
  $('unlock-form').hidden = true;
  await showArchive();
}

async function showArchive() {
  const path = view.archive;
  $('archive-status').textContent = 'Reading the backup…';
  try {
    const data = await h.api(`/api/backups/archive?${q({ path })}`);
    if (view.archive !== path) return;
    view.data = data;
    view.byId = new Map(data.items.map((i) => [i.id, i]));
    $('unlock-form').hidden = true;
    $('archive-body').hidden = false;
    const facts = [h.count(data.items.length, 'item'), `made ${formatCreated(data.created)}`, data.encrypted ? 'encrypted' : 'not encrypted'];
    if (data.damaged.length) facts.push(`${data.damaged.length} entries found damaged by a verify`);
    $('archive-status').textContent = `${facts.join(', ')}.`;
    fillPhones();
    fillOtherArchives();
    fillAlbums();
    renderGrid();
  } catch (err) {
    if (err.kind === 'password-needed' || err.kind === 'wrong-password') {
      $('archive-status').textContent = 'This backup is encrypted.';
      $('unlock-form').hidden = false;
      $('unlock-password').focus();
    } else {
      $('archive-status').textContent = `Could not read this backup: ${err.message}`;
    }
  }
}

async function unlock(e) {
  e.preventDefault();
  const field = $('unlock-password');
  const password = field.value;
  field.value = '';
  $('unlock-error').textContent = '';
  try {
    await h.post('/api/backups/unlock', { archive: view.archive, password });
    await showArchive();
  } catch (err) {
    $('unlock-error').textContent = err.message;
  }
}

// Other readable backups of the same phone can join a restore: the newest copy of each file
// is restored, and files only they hold come along if selected by id.
function fillOtherArchives() {
  const box = $('restore-archives');
  box.replaceChildren();
  const group = (lastList ? lastList.phones : []).find((p) => p.archives.some((a) => a.path === view.archive));
  if (!group) return;
  for (const a of group.archives) {
    if (a.path === view.archive || a.status !== 'complete' || a.locked) continue;
    const check = h.el('input', { attrs: { type: 'checkbox', 'data-archive': a.path } });
    box.append(h.el('label', { cls: 'check' }, [check, ` Also restore from ${a.name}`]));
  }
}

function fillPhones() {
  const select = $('restore-phone');
  const keep = select.value;
  select.replaceChildren();
  for (const p of h.phones()) {
    if (p.state !== 'device') continue;
    const facts = [p.android_version ? `Android ${p.android_version}` : '', p.serial].filter(Boolean).join(', ');
    select.append(h.el('option', { text: `${h.phoneLabel(p)} (${facts})`, attrs: { value: p.serial } }));
  }
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
  updateSummary();
}

export function phonesChanged() {
  if (view.data) fillPhones();
}

function itemDate(item) {
  if (item.taken) return item.taken.local.replace('T', ' ').slice(0, 16);
  const t = new Date(item.mtime * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${t.getFullYear()}-${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

function fillAlbums() {
  const source = $('archive-source').value;
  const select = $('archive-album');
  const keep = select.value;
  select.replaceChildren(h.el('option', { text: 'All albums', attrs: { value: '' } }));
  const albums = new Set(view.data.items.filter((i) => !source || i.source === source).map((i) => i.album));
  for (const album of [...albums].sort()) select.append(h.el('option', { text: album, attrs: { value: album } }));
  if ([...select.options].some((o) => o.value === keep)) select.value = keep;
}

function filtered() {
  const source = $('archive-source').value;
  const kind = $('archive-kind').value;
  const album = $('archive-album').value;
  const since = $('archive-since').value;
  const until = $('archive-until').value;
  return view.data.items.filter((i) => (!source || i.source === source)
    && (!kind || i.kind === kind)
    && (!album || i.album === album)
    && (!since || (i.day && i.day >= since))
    && (!until || (i.day && i.day <= until)));
}

// Tiles load their stored preview only when near the screen.
const nearScreen = new IntersectionObserver((entries) => {
  for (const entry of entries) {
    if (!entry.isIntersecting) continue;
    const tile = entry.target;
    nearScreen.unobserve(tile);
    if (tile.dataset.thumb !== 'true') continue;
    const pick = tile.querySelector('.pick');
    const img = h.el('img', { attrs: { alt: '', decoding: 'async' } });
    img.addEventListener('error', () => img.remove());
    img.src = `/api/backups/thumb?${q({ path: view.archive, id: tile.dataset.id })}`;
    pick.prepend(img);
  }
}, { rootMargin: '800px 0px' });

function renderGrid() {
  nearScreen.disconnect();
  const grid = $('archive-grid');
  grid.replaceChildren();
  const items = filtered();
  view.shown = items.map((i) => i.id);
  groupTiles(h.el, grid, items, { tile, selectWhere });
  for (const t of grid.querySelectorAll('.tile')) nearScreen.observe(t);
  syncSelection();
}

function tile(item) {
  return makeTile(h.el, item, {
    when: itemDate(item),
    note: item.damaged ? 'damaged' : '',
    badge: item.damaged ? 'Damaged' : '',
    choose: (id, e) => { choose(view, id, e); syncSelection(); },
    key: (id, e) => keyOnTile(view, $('archive-grid'), id, e, { changed: syncSelection, open: openById }),
    enlarge: openById,
  });
}

function openById(id) {
  openViewer(view.byId.get(id));
}

function selectWhere(test) {
  selectShown(view, test);
  syncSelection();
}

function syncSelection() {
  showSelection(view, $('archive-grid'));
  updateSummary();
}

function updateSummary() {
  let bytes = 0;
  for (const id of view.selected) bytes += (view.byId.get(id) || { size: 0 }).size;
  const n = view.selected.size;
  $('archive-summary').textContent = n === 0 ? 'Nothing selected.' : `${h.count(n, 'item')} selected, ${h.size(bytes)}.`;
  $('extract-selected').disabled = n === 0;
  $('plan-restore').disabled = n === 0 || !$('restore-phone').value;
}

// ---- the large view: one entry read from the archive on demand ---------------------------

async function openViewer(item) {
  const dialog = $('viewer');
  $('viewer-title').textContent = item.name;
  const img = $('viewer-img');
  img.removeAttribute('src');
  img.alt = item.name;
  img.hidden = true;
  const facts = $('viewer-facts');
  const fill = (pairs) => {
    facts.replaceChildren();
    for (const [k, v] of pairs) if (v) facts.append(h.el('dt', { text: k }), h.el('dd', { text: v }));
  };
  const base = [['Date', itemDate(item)], ['Size', h.size(item.size)], ['Phone path', item.path], ['In the archive', item.entry]];
  fill(base);
  if (!dialog.open) dialog.showModal();
  try {
    const d = await h.api(`/api/backups/item?${q({ path: view.archive, id: item.id })}`);
    if (d.original) {
      img.hidden = false;
      img.src = `/api/backups/original?${q({ path: view.archive, id: item.id })}`;
    } else if (item.thumbnail) {
      img.hidden = false;
      img.src = `/api/backups/thumb?${q({ path: view.archive, id: item.id })}`;
    }
    fill([...base, ['Camera', d.camera], ['Pixels', d.width && d.height ? `${d.width} × ${d.height}` : '']]);
  } catch (err) {
    fill([...base, ['Problem', err.message]]);
  }
}

// ---- jobs: verify, extract, restore ----------------------------------------------------

/** A card following a job's events; `done(view, box)` shows its result. */
export function followJob(job, title, done) {
  const card = h.el('section', { cls: 'job', attrs: { 'aria-label': `${title} (job ${job.id})`, 'data-job': String(job.id), 'data-kind': job.kind } });
  const bar = h.el('progress', { attrs: { max: '1', value: '0', 'aria-label': `Progress of ${title}` } });
  const line = h.el('p', { cls: 'line', attrs: { role: 'status' } });
  const cancel = h.el('button', { text: 'Cancel', attrs: { type: 'button', 'aria-label': `Cancel ${title}` } });
  cancel.addEventListener('click', async () => {
    cancel.disabled = true;
    try { await h.post(`/api/jobs/${job.id}/cancel`); } catch (err) { line.textContent = err.message; }
  });
  const result = h.el('div', { cls: 'result' });
  card.append(h.el('h3', { text: title }), bar, line, cancel, result);
  const show = (v) => {
    card.dataset.state = v.state;
    if (v.state === 'running') {
      bar.max = Math.max(1, v.bytes_total);
      bar.value = v.bytes_done;
      const parts = [];
      if (v.phase === 'planning') parts.push('Looking at the phone…');
      else if (v.items_total) parts.push(`${v.items_done} of ${v.items_total} items`, `${h.size(v.bytes_done)} of ${h.size(v.bytes_total)}`);
      if (v.rate > 0) parts.push(`${h.size(v.rate)}/s`);
      if (v.eta_seconds != null) parts.push(`${h.duration(v.eta_seconds)} left`);
      if (v.cancel_requested) parts.push('stopping…');
      line.textContent = parts.join(', ') || 'Starting…';
      return;
    }
    cancel.remove();
    bar.max = 1;
    bar.value = 1;
    line.textContent = { done: 'Done.', partial: 'Done, with problems (below).', cancelled: 'Cancelled.', failed: 'Failed.' }[v.state] || v.state;
    result.replaceChildren();
    if (v.details) done(v, result);
    if (v.error) result.append(h.el('p', { cls: 'line problem', text: v.error.message }));
  };
  show(job);
  const events = new EventSource(`/api/jobs/${job.id}/events`);
  events.addEventListener('progress', (e) => show(JSON.parse(e.data)));
  events.addEventListener('end', (e) => { events.close(); show(JSON.parse(e.data)); });
  $('archive-jobs').prepend(card);
  return card;
}

async function verify() {
  $('archive-error').textContent = '';
  const path = view.archive;
  try {
    const answer = await h.post('/api/backups/verify', { archive: path });
    followJob(answer.job, `Verify of ${$('archive-title').textContent}`, (v, box) => {
      const d = v.details;
      box.append(h.el('p', { cls: 'line', text: `${h.count(d.good, 'entry', 'entries')} checked good (${h.size(d.bytes)}).` }));
      if (d.problems.length) {
        box.append(h.el('p', { cls: 'line problem', text: `${h.count(d.problems.length, 'damaged entry', 'damaged entries')}:` }));
        box.append(h.el('ul', { attrs: { 'aria-label': 'Damaged entries' } }, d.problems.map((p) => h.el('li', { text: `${p.entry}: ${p.detail}` }))));
        box.append(h.el('p', { cls: 'line', text: 'The next backup of this phone copies these items again.' }));
      } else {
        box.append(h.el('p', { cls: 'line', text: 'Every entry matches what was backed up.' }));
      }
      if (view.archive === path) showArchive();
    });
  } catch (err) {
    $('archive-error').textContent = err.message;
  }
}

async function extract() {
  $('archive-error').textContent = '';
  const folder = $('extract-folder').value;
  try {
    const answer = await h.post('/api/backups/extract', { archive: view.archive, ids: [...view.selected], folder });
    followJob(answer.job, `Extract to ${folder}`, (v, box) => {
      const d = v.details;
      box.append(h.el('p', { cls: 'line', text: `${h.count(d.written, 'item')} written (${h.size(d.bytes)}) to ${d.folder} with their original dates; ${d.already_there} were already there; ${d.kept_both} kept beside a different file of the same name.` }));
      if (d.problems.length) {
        box.append(h.el('ul', {}, d.problems.map((p) => h.el('li', { text: `${p.entry}: ${p.detail}` }))));
      }
    });
  } catch (err) {
    $('archive-error').textContent = err.message;
  }
}

async function addFolder(e) {
  e.preventDefault();
  $('backups-error').textContent = '';
  try {
    renderList(await h.post('/api/backups/folders', { folder: $('add-folder').value }));
    $('add-folder').value = '';
  } catch (err) {
    $('backups-error').textContent = err.message;
  }
}

export function initBackups(helpers) {
  h = helpers;
  $('add-folder-form').addEventListener('submit', addFolder);
  $('reload-backups').addEventListener('click', loadBackups);
  $('unlock-form').addEventListener('submit', unlock);
  $('archive-source').addEventListener('change', () => { if (view.data) { fillAlbums(); renderGrid(); } });
  for (const id of ['archive-kind', 'archive-album', 'archive-since', 'archive-until']) {
    $(id).addEventListener('change', () => view.data && renderGrid());
  }
  $('archive-select-shown').addEventListener('click', () => selectWhere(() => true));
  $('archive-select-none').addEventListener('click', () => { view.selected.clear(); syncSelection(); });
  $('verify-archive').addEventListener('click', verify);
  $('extract-selected').addEventListener('click', extract);
  $('restore-phone').addEventListener('change', updateSummary);
  $('plan-restore').addEventListener('click', () => planRestore(h, {
    archives: [view.archive, ...[...document.querySelectorAll('#restore-archives input:checked')].map((c) => c.dataset.archive)],
    ids: [...view.selected],
    serial: $('restore-phone').value,
    box: $('restore-plan'),
    error: $('archive-error'),
    followJob,
  }));
}
