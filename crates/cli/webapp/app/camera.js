// Taking a photo with getUserMedia in a <dialog>. Needs a secure context
// (the page opened as 127.0.0.1 or localhost on the laptop); elsewhere the camera
// buttons are hidden and the file input's `capture` opens the camera app.
import { h } from './dom.js';
import { t } from './i18n.js';

export const cameraAvailable = () => Boolean(window.isSecureContext && navigator.mediaDevices
  && navigator.mediaDevices.getUserMedia);

let dialog = null;

function build() {
  const video = h('video', { id: 'camera-video', autoplay: true, playsinline: true, muted: true });
  video.muted = true;
  const status = h('p', { id: 'camera-status', class: 'camera-status', 'aria-live': 'polite' });
  const capture = h('button', { type: 'button', id: 'camera-capture', class: 'primary', i18n: 'camera.capture', disabled: true });
  const cancel = h('button', { type: 'button', id: 'camera-cancel', i18n: 'camera.cancel' });
  dialog = h('dialog', { id: 'camera-dialog', 'aria-labelledby': 'camera-title' },
    h('h2', { id: 'camera-title', i18n: 'camera.title' }),
    h('div', { class: 'camera-frame' }, video),
    status,
    h('div', { class: 'actions' }, capture, cancel));
  document.body.append(dialog);
  return dialog;
}

/**
 * Opens the camera dialog; resolves to a Blob (`type`: image/jpeg for a
 * face, image/png for a fingerprint, as their allowed media types say) or
 * null when cancelled.
 */
export function takePhoto({ facing = 'user', type = 'image/jpeg', title } = {}) {
  const dlg = dialog || build();
  const video = dlg.querySelector('#camera-video');
  const status = dlg.querySelector('#camera-status');
  const capture = dlg.querySelector('#camera-capture');
  const cancel = dlg.querySelector('#camera-cancel');
  dlg.querySelector('#camera-title').textContent = title || t('camera.title');
  status.textContent = t('camera.starting');
  capture.disabled = true;
  let stream = null;

  return new Promise((resolve) => {
    let done = false;
    const finish = (blob) => {
      if (done) return;
      done = true;
      if (stream) for (const tr of stream.getTracks()) tr.stop();
      video.srcObject = null;
      capture.onclick = null;
      cancel.onclick = null;
      dlg.oncancel = null;
      if (dlg.open) dlg.close();
      resolve(blob);
    };
    capture.onclick = () => {
      const canvas = document.createElement('canvas');
      canvas.width = video.videoWidth;
      canvas.height = video.videoHeight;
      canvas.getContext('2d').drawImage(video, 0, 0);
      canvas.toBlob((b) => finish(b), type, 0.92);
    };
    cancel.onclick = () => finish(null);
    dlg.oncancel = (e) => { e.preventDefault(); finish(null); }; // Escape
    dlg.showModal();
    navigator.mediaDevices.getUserMedia({ video: { facingMode: facing, width: { ideal: 1280 } }, audio: false })
      .then((s) => {
        if (done) { for (const tr of s.getTracks()) tr.stop(); return; }
        stream = s;
        video.srcObject = s;
        video.onloadedmetadata = () => {
          video.play().catch(() => {});
          status.textContent = '';
          capture.disabled = false;
          capture.focus();
        };
      })
      .catch((err) => {
        status.textContent = t('camera.error', { msg: err && err.name ? err.name : String(err) });
        cancel.focus();
      });
  });
}
