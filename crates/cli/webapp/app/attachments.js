// Attachments of the enrollment form: a file input (with `capture`) and, on
// a secure page, a camera button per kind; thumbnails; the items sent
// inline as base64 or kept as references when correcting a record.
import { h, fmtBytes } from './dom.js';
import { t, label, cap, getForm } from './i18n.js';
import { withLang } from './api.js';
import { field } from './fields.js';
import { cameraAvailable, takePhoto } from './camera.js';

const MAX = 4 * 1024 * 1024; // attachments-v1: 1 byte to 4 MiB
export const FINGERS = ['right_thumb', 'right_index', 'right_middle', 'right_ring', 'right_little',
  'left_thumb', 'left_index', 'left_middle', 'left_ring', 'left_little'];

const FALLBACK_TYPES = {
  face: ['image/jpeg', 'image/png', 'image/jp2'],
  fingerprint: ['image/x-wsq', 'image/png', 'image/jp2'],
  document: ['image/jpeg', 'image/png', 'application/pdf'],
};

function allowedTypes(kind) {
  const item = (getForm()?.attachments || []).find((a) => a && a.value === kind);
  if (item && Array.isArray(item.media_types)) return item.media_types;
  return FALLBACK_TYPES[kind.startsWith('fingerprint_') ? 'fingerprint' : kind];
}

/** The media type the bytes show (as the server recognises them), or ''. */
export function sniff(b) {
  const starts = (...sig) => sig.every((x, i) => b[i] === x);
  if (starts(0xff, 0xd8, 0xff)) return 'image/jpeg';
  if (starts(0x89, 0x50, 0x4e, 0x47)) return 'image/png';
  if (starts(0x25, 0x50, 0x44, 0x46)) return 'application/pdf';
  if (starts(0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20)) return 'image/jp2';
  if (starts(0xff, 0x4f, 0xff, 0x51)) return 'image/jp2'; // bare codestream
  if (starts(0xff, 0xa0)) return 'image/x-wsq';
  return '';
}

function base64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

async function sha256Hex(bytes) {
  // crypto.subtle exists only on a secure page; elsewhere the bytes go inline.
  if (!(window.crypto && crypto.subtle)) return '';
  const d = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(d, (x) => x.toString(16).padStart(2, '0')).join('');
}

/**
 * A picture whose type the kind does not allow (a JPEG fingerprint, a WebP
 * face) or that is over 4 MiB is drawn again as PNG (fingerprints) or JPEG,
 * smaller if need be. Anything the browser cannot draw is sent as it is and
 * the server says what is wrong with it.
 */
async function conform(blob, kind, bytes) {
  const type = sniff(bytes);
  if (allowedTypes(kind).includes(type) && bytes.length <= MAX) return { bytes, type };
  let bitmap;
  try { bitmap = await createImageBitmap(blob); } catch { return { bytes, type }; }
  const target = kind.startsWith('fingerprint_') ? 'image/png' : 'image/jpeg';
  let scale = Math.min(1, 2400 / Math.max(bitmap.width, bitmap.height));
  for (let tries = 0; tries < 6; tries++) {
    const canvas = document.createElement('canvas');
    canvas.width = Math.max(1, Math.round(bitmap.width * scale));
    canvas.height = Math.max(1, Math.round(bitmap.height * scale));
    canvas.getContext('2d').drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    const out = await new Promise((r) => canvas.toBlob(r, target, 0.9));
    if (!out) break;
    const outBytes = new Uint8Array(await out.arrayBuffer());
    if (outBytes.length <= MAX) return { bytes: outBytes, type: target };
    scale *= 0.7;
  }
  return { bytes, type };
}

async function itemFromBlob(kind, blob, name) {
  const raw = new Uint8Array(await blob.arrayBuffer());
  const { bytes, type } = await conform(blob, kind, raw);
  return {
    kind, name, bytes, mediaType: type, size: bytes.length,
    sha256: await sha256Hex(bytes), url: URL.createObjectURL(new Blob([bytes], { type: type || blob.type })),
  };
}

/** What POST /api/records gets: the bytes inline, or a kept reference. */
export function forSubmit(item) {
  if (item.ref) return { kind: item.kind, media_type: item.mediaType, sha256: item.sha256, size: item.size };
  const out = { kind: item.kind, data: base64(item.bytes) };
  if (item.mediaType) out.media_type = item.mediaType;
  return out;
}

/**
 * What POST /api/validate gets: a reference when we know the hash and type
 * (the rules only look at references; no need to send megabytes on every
 * blur), else the bytes so the server can tell what they are.
 */
export function forValidate(item) {
  if (item.ref || (item.sha256 && item.mediaType)) {
    return { kind: item.kind, media_type: item.mediaType, sha256: item.sha256, size: item.size };
  }
  return forSubmit(item);
}

const VIEWABLE = ['image/jpeg', 'image/png'];

/**
 * attachmentField('face', {required, max: 1, onChange})
 * → {root, items(), setRefs(refs), clear()}
 */
export function attachmentField(kind, { labelKey, required = false, max = 1, onChange = () => {}, extra } = {}) {
  const path = `attachments.${kind}`;
  const isFinger = kind.startsWith('fingerprint_');
  let items = [];
  const input = h('input', {
    type: 'file', name: path, 'data-attachment': kind,
    accept: kind === 'document' ? 'image/*,application/pdf' : (isFinger ? 'image/*,.wsq,.jp2' : 'image/*'),
    capture: kind === 'face' ? 'user' : 'environment',
    multiple: max > 1,
  });
  const thumbs = h('div', { class: 'attachment-thumbs' });
  const camera = kind !== 'document' && cameraAvailable()
    ? h('button', { type: 'button', class: 'camera-button', 'data-camera': kind, i18n: 'att.camera' })
    : null;
  const controls = h('div', { class: 'attachment-controls' }, input, camera);
  const labelEl = isFinger ? null : labelKey;
  const root = field(path, labelEl || 'att.face', h('div', { class: 'attachment' }, controls, thumbs),
    { group: true, class: `attachment-field${isFinger ? ' finger' : ''}`, describe: [input], extra, required });
  if (isFinger) {
    // The legend names the finger with the server's label (both languages).
    const legendText = root.querySelector('legend > span');
    legendText.removeAttribute('data-i18n');
    legendText.dataset.labelList = 'attachments';
    legendText.dataset.labelValue = kind;
    legendText.dataset.labelCap = '';
    legendText.textContent = cap(label('attachments', kind));
  }

  function render() {
    thumbs.replaceChildren(...items.map((it, i) => {
      const show = VIEWABLE.includes(it.mediaType) && it.url
        ? h('img', { class: 'attachment-thumb', 'data-attachment': kind, src: it.url, alt: label('attachments', kind) })
        : h('span', { class: 'attachment-file', 'data-attachment': kind },
          `${(it.mediaType || it.name || '?').replace(/^.*\//, '').toUpperCase()} · ${fmtBytes(it.size)}`);
      return h('div', { class: 'attachment-item' }, show,
        it.ref ? h('span', { class: 'attachment-kept', i18n: 'att.kept' }) : null,
        h('button', {
          type: 'button', class: 'attachment-remove', i18n: 'att.remove',
          onclick: () => { release(items.splice(i, 1)); render(); onChange(); input.focus(); },
        }));
    }));
  }

  // Object URLs hold the picture in memory until revoked.
  function release(gone) {
    for (const it of gone) if (!it.ref && it.url) URL.revokeObjectURL(it.url);
  }

  async function add(blobs) {
    for (const b of blobs) {
      let it;
      try { it = await itemFromBlob(kind, b, b.name || ''); } catch {
        onChange({ error: t('att.unreadable', { name: b.name || '' }) });
        continue;
      }
      if (max === 1) { release(items); items = [it]; }
      else if (items.length < max) items.push(it);
      else { onChange({ error: t('att.too_many') }); break; }
    }
    render();
    onChange();
  }

  input.addEventListener('change', async () => {
    const files = Array.from(input.files || []);
    input.value = ''; // the same file may be chosen again after removing it
    if (files.length) await add(files);
  });
  if (camera) {
    camera.addEventListener('click', async () => {
      const blob = await takePhoto({
        facing: kind === 'face' ? 'user' : 'environment',
        type: isFinger ? 'image/png' : 'image/jpeg',
        title: label('attachments', kind),
      });
      camera.focus();
      if (blob) await add([blob]);
    });
  }

  return {
    root, kind,
    items: () => items,
    /** References of the record being corrected, kept unless replaced. */
    setRefs(refs) {
      release(items);
      items = refs.map((r) => ({
        ref: true, kind: r.kind, mediaType: r.media_type, sha256: r.sha256, size: r.size,
        url: withLang(`/api/attachments/${r.sha256}`),
      }));
      render();
    },
    clear() { release(items); items = []; render(); },
  };
}
