// Automatic backups on the page: each phone's setting (saved in the same config file as
// `phonevault auto`), "last backed up" beside every phone, the history of runs, and the
// watcher's live view (`auto` events on /api/events). Models, serials, paths and errors are
// set as text only, never parsed as HTML.

const $ = (id) => document.getElementById(id);

// Helpers lent by app.js: { api, post, el, size, onBackedUp(adbSerial) }.
let h = null;

const auto = {
  view: null,     // AutoView, from the `auto` events
  phones: [],     // the phone list as last rendered
  serial: null,   // adb serial of the phone whose page is shown
  version: 0,     // the last view folded in
};

const when = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

function at(text) {
  const t = new Date(text);
  return Number.isNaN(t.getTime()) ? text : when.format(t);
}

/** One line about a phone's automatic backups, by its hardware serial. */
function lastLine(hw) {
  const view = auto.view;
  if (!view || !hw) return '';
  if (view.running.some((r) => r.serial === hw)) return 'Backing up automatically now…';
  if (view.waiting.includes(hw)) return 'Automatic backup waits for the backup in progress.';
  const run = view.last[hw];
  if (!run) return 'Not backed up automatically yet.';
  const time = at(run.finished);
  switch (run.result) {
    case 'complete': return `Last backed up ${time}: ${h.count(run.items, 'new item')} (${h.size(run.bytes)}).`;
    case 'nothing-new': return `Last backed up ${time}: nothing new.`;
    case 'partial': return `Last backed up ${time}, partly: ${h.count(run.items, 'item')} saved, ${run.missed} not copied (next time).`;
    case 'interrupted': return `Last automatic backup ${time} was stopped: ${h.count(run.items, 'item')} saved.`;
    default: return `Last automatic backup ${time} failed: ${run.error || 'unknown reason'}.`;
  }
}

// ---- the phone list ----------------------------------------------------------------------

/** Lists the phones of the settings file that are not attached, with their last backup. */
function renderKnown() {
  const box = $('auto-known');
  const list = $('auto-known-list');
  const attached = new Set(auto.phones.map((p) => p.hardware_serial).filter(Boolean));
  const away = auto.view ? auto.view.known.filter((k) => !attached.has(k.serial)) : [];
  list.replaceChildren();
  for (const k of away) {
    list.append(h.el('li', { attrs: { 'data-serial': k.serial } }, [
      h.el('strong', { text: k.model || k.serial }),
      h.el('span', { cls: 'serial', text: k.enabled ? k.serial : `${k.serial} (automatic backups off)` }),
      h.el('span', { cls: 'last-backup', text: lastLine(k.serial) }),
    ]));
  }
  box.hidden = away.length === 0;
}

/** Adds "last backed up" to each usable phone in the list (called after each render). */
export function decoratePhones(phones) {
  auto.phones = phones;
  renderKnown();
  for (const p of phones) {
    if (!p.hardware_serial) continue;
    const button = document.querySelector(`#phones button[data-serial="${CSS.escape(p.serial)}"]`);
    if (!button) continue;
    let line = button.querySelector('.last-backup');
    if (!line) {
      line = h.el('span', { cls: 'last-backup' });
      button.append(line);
    }
    line.textContent = lastLine(p.hardware_serial);
  }
}

// ---- the watcher's view --------------------------------------------------------------------

function onView(view) {
  const before = auto.view;
  auto.view = view;
  const status = $('auto-status');
  if (view.watching) {
    status.textContent = view.running.length
      ? `Automatic backups: ${view.running.length} running.`
      : 'Automatic backups: on while phonevault runs.';
  } else {
    status.textContent = view.problem
      ? `Automatic backups paused: ${view.problem}`
      : 'Automatic backups: starting…';
  }
  if (view.phone_error) status.textContent += ` Could not back up a phone: ${view.phone_error}`;
  decoratePhones(auto.phones);
  const event = view.last_event;
  if (before && event && event.event === 'backup-finished' && view.version !== auto.version) {
    h.onBackedUp(event.record.adb_serial);
    if ($('history').open) loadHistory();
  }
  auto.version = view.version;
  showLast();
}

/** Follows the `auto` events of the page's event stream. */
export function follow(source) {
  source.addEventListener('auto', (e) => onView(JSON.parse(e.data)));
}

// ---- a phone's setting -------------------------------------------------------------------

let current = null; // PhoneAuto of the phone shown

function showLast() {
  const line = $('auto-last');
  if (!line) return;
  line.textContent = current ? lastLine(current.serial) : '';
  summarise();
}

function summarise() {
  const s = current && current.setting;
  let text = 'Automatic backup: off';
  if (s && s.enabled) {
    const what = { everything: 'everything', gallery: 'Gallery', whatsapp: 'WhatsApp', albums: 'chosen albums' }[s.selection];
    const often = !s.every || s.every === 'connect' ? 'when plugged in' : `every ${s.every} while connected`;
    text = `Automatic backup: on (${what}, ${often}${s.encrypt ? ', encrypted' : ''})`;
  }
  $('auto-summary').textContent = text;
}

function radio(name, value, label) {
  const input = h.el('input', { attrs: { type: 'radio', name, value, id: `${name}-${value}` } });
  return h.el('label', { cls: 'check' }, [input, ` ${label}`]);
}

function buildForm() {
  const box = $('auto-box');
  const form = h.el('form', { attrs: { id: 'auto-form', 'aria-label': 'Automatic backup setting' } });
  const enabled = h.el('input', { attrs: { type: 'checkbox', id: 'auto-enabled' } });
  const folder = h.el('input', { attrs: { type: 'text', id: 'auto-folder', autocomplete: 'off', spellcheck: 'false' } });
  const albums = h.el('input', { attrs: { type: 'text', id: 'auto-albums', autocomplete: 'off', spellcheck: 'false', 'aria-label': 'Albums (comma-separated; * matches anything)' } });
  const hours = h.el('input', { attrs: { type: 'number', id: 'auto-hours', min: '1', max: '720', value: '6', 'aria-label': 'Hours between backups' } });
  const encrypt = h.el('input', { attrs: { type: 'checkbox', id: 'auto-encrypt' } });
  const passwordFile = h.el('input', { attrs: { type: 'text', id: 'auto-password-file', autocomplete: 'off', spellcheck: 'false' } });
  const what = h.el('fieldset', {}, [
    h.el('legend', { text: 'What' }),
    radio('auto-selection', 'everything', 'Everything (Gallery and WhatsApp)'),
    radio('auto-selection', 'gallery', 'Gallery only'),
    radio('auto-selection', 'whatsapp', 'WhatsApp only'),
    radio('auto-selection', 'albums', 'Chosen albums:'),
    albums,
  ]);
  const often = h.el('fieldset', {}, [
    h.el('legend', { text: 'How often' }),
    radio('auto-every', 'connect', 'Each time it is plugged in'),
    h.el('label', { cls: 'check' }, [
      h.el('input', { attrs: { type: 'radio', name: 'auto-every', value: 'hours', id: 'auto-every-hours' } }),
      ' Then again every ', hours, ' hours while it stays connected',
    ]),
  ]);
  const passwordBox = h.el('div', { attrs: { id: 'auto-password-box' } }, [
    h.el('label', { text: 'Password file (its first line is the password)', attrs: { for: 'auto-password-file' } }),
    passwordFile,
    h.el('p', {
      cls: 'hint',
      text: 'The file is read at each automatic backup; the password is never stored in the settings. '
        + 'Your system\'s credential store (Keychain, Credential Manager, Secret Service) is not supported yet.',
    }),
  ]);
  form.append(
    h.el('label', { cls: 'check' }, [enabled, ' Back up this phone automatically']),
    h.el('label', { text: 'Destination folder', attrs: { for: 'auto-folder' } }),
    folder,
    what,
    often,
    h.el('label', { cls: 'check' }, [encrypt, ' Encrypt (AES-256, opens in 7-Zip)']),
    passwordBox,
    h.el('button', { text: 'Save automatic backup', attrs: { type: 'submit', id: 'auto-save' } }),
    h.el('p', { attrs: { id: 'auto-error', role: 'alert' } }),
    h.el('p', { attrs: { id: 'auto-saved', role: 'status' } }),
  );
  box.append(
    h.el('summary', { attrs: { id: 'auto-summary' }, text: 'Automatic backup' }),
    h.el('p', { attrs: { id: 'auto-last', role: 'status' } }),
    h.el('p', { cls: 'hint', text: 'Runs while phonevault is open (or `phonevault watch` runs): an enabled phone is backed up when it is plugged in, keeping only what is new.' }),
    form,
  );
  encrypt.addEventListener('change', () => { passwordBox.hidden = !encrypt.checked; });
  form.addEventListener('submit', save);
}

function fill(answer) {
  current = answer;
  const s = answer.setting || {
    enabled: false, folder: answer.default_folder || '', selection: 'everything',
    albums: [], every: null, encrypt: false, password_file: null,
  };
  $('auto-enabled').checked = s.enabled;
  $('auto-folder').value = s.folder || answer.default_folder || '';
  const selection = document.querySelector(`input[name="auto-selection"][value="${CSS.escape(s.selection)}"]`);
  if (selection) selection.checked = true;
  $('auto-albums').value = (s.albums || []).join(', ');
  const every = s.every && s.every !== 'connect' ? s.every : null;
  $(every ? 'auto-every-hours' : 'auto-every-connect').checked = true;
  if (every) {
    const n = Number.parseInt(every, 10);
    const unit = every.slice(-1);
    $('auto-hours').value = String(Math.max(1, Math.round(unit === 'd' ? n * 24 : unit === 'm' ? n / 60 : n)));
  }
  $('auto-encrypt').checked = s.encrypt;
  $('auto-password-file').value = s.password_file || '';
  $('auto-password-box').hidden = !s.encrypt;
  showLast();
}

/** Loads the setting of the phone whose page is shown. */
export async function showPhone(adbSerial) {
  auto.serial = adbSerial;
  current = null;
  $('auto-error').textContent = '';
  $('auto-saved').textContent = '';
  $('auto-last').textContent = '';
  try {
    const answer = await h.api(`/api/phones/${encodeURIComponent(adbSerial)}/auto`);
    if (auto.serial === adbSerial) fill(answer);
  } catch (err) {
    if (auto.serial === adbSerial) $('auto-error').textContent = err.message;
  }
}

async function save(e) {
  e.preventDefault();
  const error = $('auto-error');
  const saved = $('auto-saved');
  error.textContent = '';
  saved.textContent = '';
  const serial = auto.serial;
  const selection = (document.querySelector('input[name="auto-selection"]:checked') || { value: 'everything' }).value;
  const hourly = $('auto-every-hours').checked;
  const encrypt = $('auto-encrypt').checked;
  const body = {
    enabled: $('auto-enabled').checked,
    folder: $('auto-folder').value.trim(),
    selection,
    albums: selection === 'albums' ? $('auto-albums').value.split(',').map((a) => a.trim()).filter(Boolean) : [],
    every: hourly ? `${$('auto-hours').value.trim()}h` : 'connect',
    encrypt,
  };
  if (encrypt) body.password_file = $('auto-password-file').value.trim();
  if (selection === 'albums' && !body.albums.length) {
    error.textContent = 'Name at least one album (comma-separated), or choose another selection.';
    return;
  }
  if (encrypt && !body.password_file) {
    error.textContent = 'Encryption needs a password file: an automatic backup cannot ask for a password, and the system\'s credential store is not supported yet.';
    return;
  }
  try {
    const answer = await h.post(`/api/phones/${encodeURIComponent(serial)}/auto`, body);
    if (auto.serial !== serial) return;
    fill(answer);
    saved.textContent = answer.setting.enabled
      ? `Saved in ${answer.config_path}. This phone is backed up automatically from its next connection.`
      : `Saved in ${answer.config_path}. Automatic backups of this phone are off.`;
  } catch (err) {
    error.textContent = err.message;
  }
}

// ---- the history -------------------------------------------------------------------------

const resultWords = {
  complete: 'Backed up', 'nothing-new': 'Nothing new', partial: 'Partly', interrupted: 'Stopped', failed: 'Failed',
};

async function loadHistory() {
  const body = $('history-runs');
  const note = $('history-note');
  try {
    const answer = await h.api('/api/history?limit=200');
    body.replaceChildren();
    for (const run of answer.runs) {
      const outcome = run.archive || run.error || '';
      body.append(h.el('tr', { attrs: { 'data-serial': run.serial, 'data-result': run.result } }, [
        h.el('td', { text: at(run.started) }),
        h.el('td', { text: run.model ? `${run.model} (${run.serial})` : run.serial }),
        h.el('td', { text: resultWords[run.result] || run.result }),
        h.el('td', { text: String(run.items) }),
        h.el('td', { text: h.size(run.bytes) }),
        h.el('td', { cls: 'path', text: outcome }),
      ]));
    }
    let text = answer.runs.length ? `Newest first, from ${answer.history_path}.` : 'No automatic backup has run yet.';
    if (answer.total > answer.runs.length) text += ` Showing ${answer.runs.length} of ${answer.total}.`;
    if (answer.unreadable_lines) text += ` ${answer.unreadable_lines} damaged lines were skipped.`;
    note.textContent = text;
  } catch (err) {
    note.textContent = `The history cannot be read: ${err.message}`;
  }
}

// ---- wiring ------------------------------------------------------------------------------

export function init(helpers) {
  h = helpers;
  buildForm();
  $('history-open').addEventListener('click', () => {
    $('history').showModal();
    loadHistory();
  });
  $('history-close').addEventListener('click', () => $('history').close());
}
