// Passkey sign-in for the staff console: shown only where the browser has WebAuthn. The page
// works without it (email and password, then the second factor); this file is the console's
// only script (its Content-Security-Policy allows no inline script).
"use strict";
(function () {
  const area = document.getElementById("passkey-area");
  const button = document.getElementById("passkey-button");
  const form = document.getElementById("passkey-form");
  if (!area || !button || !form || !window.PublicKeyCredential || !navigator.credentials) {
    return;
  }
  const fromB64 = (text) => {
    const b64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "===".slice((b64.length + 3) % 4));
    return Uint8Array.from(raw, (c) => c.charCodeAt(0)).buffer;
  };
  const toB64 = (buffer) => btoa(String.fromCharCode(...new Uint8Array(buffer)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  area.hidden = false;
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      const begun = await fetch("/token/passkey/options/", { method: "POST" });
      if (!begun.ok) throw new Error("could not begin");
      const { ticket, publicKey } = await begun.json();
      publicKey.challenge = fromB64(publicKey.challenge);
      (publicKey.allowCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
      const credential = await navigator.credentials.get({ publicKey });
      const r = credential.response;
      form.elements.ticket.value = ticket;
      form.elements.credential.value = JSON.stringify({
        id: credential.id, rawId: toB64(credential.rawId), type: credential.type,
        extensions: {},
        response: {
          authenticatorData: toB64(r.authenticatorData), clientDataJSON: toB64(r.clientDataJSON),
          signature: toB64(r.signature), userHandle: r.userHandle ? toB64(r.userHandle) : null,
        },
      });
      form.submit();
    } catch (e) {
      button.disabled = false;
    }
  });
})();
