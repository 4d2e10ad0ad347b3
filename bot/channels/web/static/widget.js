/* Relay chat widget: add <script src="https://relay.example/widget.js" defer></script> to a page.
 * Keeps its conversation id in localStorage, restores the transcript after a reload, and shows
 * agent replies as they arrive (Server-Sent Events). All text is rendered with textContent.
 *
 * A page whose visitor is signed in sets, before the script, the identity its backend signed
 * (SECURITY.md): window.RelaySettings = {user_id: "...", user_hash: "<HMAC-SHA256 hex>",
 * email: "...", name: "..."}. The widget sends it to /chat/<id>/identity; the conversation is
 * then verified for that customer. A different (or no) signed-in user gets a new conversation. */
(function () {
  "use strict";
  if (window.__relayWidget) { return; }
  window.__relayWidget = true;

  var script = document.currentScript;
  var base = script && script.src ? script.src.replace(/\/widget\.js(\?.*)?$/, "") : "";
  var ID_KEY = "relay.conversationId";
  var OPEN_KEY = "relay.open";
  // The web channel's conversation-id prefix, filled in by the server (relay.channels.WEB).
  var ID_PREFIX = "__RELAY_WEB_ID_PREFIX__";
  var ID_FORMAT = new RegExp("^" + ID_PREFIX + "[0-9a-f]{32}$");

  function newId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    var hex = "";
    for (var i = 0; i < bytes.length; i++) { hex += ("0" + bytes[i].toString(16)).slice(-2); }
    return ID_PREFIX + hex;
  }

  function storageGet(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function storageSet(key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ } }

  var IDENTITY_KEY = "relay.userId";
  var signedIn = window.RelaySettings && window.RelaySettings.user_id && window.RelaySettings.user_hash
    ? window.RelaySettings : null;
  var userId = signedIn ? String(signedIn.user_id) : "";

  var conversationId = storageGet(ID_KEY);
  if (!conversationId || !ID_FORMAT.test(conversationId) || (storageGet(IDENTITY_KEY) || "") !== userId) {
    // A conversation belongs to one person: someone else signed in (or out) starts afresh.
    conversationId = newId();
    storageSet(ID_KEY, conversationId);
    storageSet(IDENTITY_KEY, userId);
  }
  var chatUrl = base + "/chat/" + conversationId;
  var lastId = 0;
  var shownIds = {};
  var source = null;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  var css = document.createElement("link");
  css.rel = "stylesheet";
  css.href = base + "/widget.css";
  document.head.appendChild(css);

  var root = el("div", "relay-widget");
  root.setAttribute("data-relay-conversation", conversationId);
  var launcher = el("button", "relay-launcher", "Chat with us");
  launcher.type = "button";
  launcher.setAttribute("aria-expanded", "false");
  // div/span only (no header, strong, section): host pages style those elements.
  var panel = el("div", "relay-panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", "Chat with Nimbus Drive support");
  panel.hidden = true;
  var header = el("div", "relay-header");
  var title = el("div", "relay-title");
  title.appendChild(el("span", "relay-title-main", "Nimbus Drive support"));
  title.appendChild(el("span", "relay-subtitle", "Ask us anything"));
  var close = el("button", "relay-close", "\u00d7");
  close.type = "button";
  close.setAttribute("aria-label", "Close chat");
  header.appendChild(title);
  header.appendChild(close);
  var log = el("div", "relay-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var form = el("form", "relay-form");
  var input = el("input", "relay-input");
  input.type = "text";
  input.maxLength = 2000;
  input.placeholder = "Type your message\u2026";
  input.setAttribute("aria-label", "Your message");
  var send = el("button", "relay-send", "Send");
  send.type = "submit";
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);

  var LABELS = { customer: "You", bot: "Nimbus assistant", agent: "Support team", system: "Nimbus Drive" };

  function addMessage(author, text, buttons) {
    var item = el("div", "relay-msg relay-msg--" + author);
    item.setAttribute("data-author", author);
    if (author !== "customer") { item.appendChild(el("div", "relay-msg-author", LABELS[author] || author)); }
    item.appendChild(el("div", "relay-msg-text", text));
    if (buttons && buttons.length) {
      var row = el("div", "relay-buttons");
      buttons.forEach(function (button) {
        var b = el("button", "relay-button", button.title);
        b.type = "button";
        b.addEventListener("click", function () {
          Array.prototype.forEach.call(row.querySelectorAll("button"), function (x) { x.disabled = true; });
          sendMessage(button.payload, button.title);
        });
        row.appendChild(b);
      });
      item.appendChild(row);
    }
    log.appendChild(item);
    log.scrollTop = log.scrollHeight;
    return item;
  }

  function typing(on) {
    var existing = log.querySelector(".relay-typing");
    if (on && !existing) { log.appendChild(el("div", "relay-typing", "\u2026")); }
    if (!on && existing) { existing.remove(); }
    log.scrollTop = log.scrollHeight;
  }

  function sendMessage(text, shown) {
    addMessage("customer", shown || text);
    typing(true);
    send.disabled = true;
    return fetch(chatUrl + "/messages", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ text: text })
    }).then(function (response) {
      return response.json().then(function (body) {
        if (!response.ok) { throw new Error(typeof body.detail === "string" ? body.detail : "The message could not be sent."); }
        return body;
      });
    }).then(function (body) {
      typing(false);
      (body.replies || []).forEach(function (reply) { addMessage("bot", reply.text, reply.buttons); });
    }).catch(function (error) {
      typing(false);
      addMessage("system", error && error.message && error.message.indexOf("fetch") === -1
        ? error.message
        : "We could not reach Nimbus Drive support. Please check your connection and try again.");
    }).then(function () { send.disabled = false; });
  }

  function connectStream() {
    if (source || !window.EventSource) { return; }
    source = new EventSource(chatUrl + "/stream?after=" + lastId);
    source.addEventListener("message", function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      // The server may send a reply whose id is below one already shown (ids can commit out
      // of order on PostgreSQL), so remember what was shown rather than comparing with lastId.
      if (!shownIds[message.id]) {
        shownIds[message.id] = true;
        lastId = Math.max(lastId, message.id);
        addMessage(message.author, message.text);  // an agent, or a notice from Relay
      }
    });
  }

  function loadHistory() {
    return fetch(chatUrl + "/history").then(function (response) {
      return response.ok ? response.json() : { messages: [], last_id: 0 };
    }).then(function (body) {
      (body.messages || []).forEach(function (m) {
        if (m.author === "customer" && /^\/[a-z_]+/.test(m.text)) { return; } // button payloads
        addMessage(m.author, m.text);
      });
      lastId = Math.max(lastId, body.last_id || 0);
      log.scrollTop = log.scrollHeight;
      if (!(body.messages || []).length) {
        addMessage("bot", "Hi! I'm the Nimbus Drive assistant. Ask me about plans, billing, sharing or your account \u2014 or ask for a person any time.");
      }
    }).catch(function () { /* an empty window is still usable */ }).then(connectStream);
  }

  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.textContent = open ? "Close chat" : "Chat with us";
    storageSet(OPEN_KEY, open ? "1" : "0");
    if (open) {
      log.scrollTop = log.scrollHeight;
      input.focus();
    }
  }

  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  close.addEventListener("click", function () { setOpen(false); });
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text || send.disabled) { return; }
    input.value = "";
    sendMessage(text);
  });

  function sendIdentity() {
    if (!signedIn) { return Promise.resolve(); }
    return fetch(chatUrl + "/identity", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user_id: userId, user_hash: String(signedIn.user_hash),
                             email: signedIn.email || null, name: signedIn.name || null })
    }).then(function (response) {
      if (!response.ok && window.console) { window.console.warn("Relay: the signed-in identity was not accepted (" + response.status + ")"); }
    }).catch(function () { /* the chat works unverified */ });
  }

  function start() {
    document.body.appendChild(root);
    sendIdentity().then(loadHistory);
    if (storageGet(OPEN_KEY) === "1") { setOpen(true); }
  }
  if (document.body) { start(); } else { document.addEventListener("DOMContentLoaded", start); }
})();
