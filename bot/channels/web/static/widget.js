/* Relay chat widget: add <script src="https://relay.example/widget.js" defer></script> to a page.
 * Keeps its conversation id in localStorage, restores the transcript after a reload, and shows
 * agent replies as they arrive (Server-Sent Events). All text is rendered with textContent;
 * http(s) links in it become links built as DOM nodes (never HTML), opened with
 * rel="noopener noreferrer". An unread badge counts replies that arrive while it is closed;
 * after a resolved handoff it asks for a 1-5 rating.
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
  var launcher = el("button", "relay-launcher");
  var launcherLabel = el("span", "relay-launcher-label", "Chat with us");
  launcher.appendChild(launcherLabel);
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
  var restart = el("button", "relay-restart", "New chat");
  restart.type = "button";
  restart.title = "End this conversation and start a new one";
  var close = el("button", "relay-close", "\u00d7");
  close.type = "button";
  close.setAttribute("aria-label", "Close chat");
  header.appendChild(title);
  header.appendChild(restart);
  header.appendChild(close);
  var log = el("div", "relay-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var form = el("form", "relay-form");
  var badge = el("span", "relay-badge", "");
  badge.hidden = true;
  badge.setAttribute("aria-label", "unread messages");
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
  launcher.appendChild(badge);

  var LABELS = { customer: "You", bot: "Nimbus assistant", agent: "Support team", system: "Nimbus Drive" };
  var LINK = /https?:\/\/[^\s<>"']+/g;
  var unread = 0;
  var pageTitle = document.title;

  /* Text with its http(s) links made clickable: text nodes and <a> built by the DOM. */
  function linkified(text) {
    var box = el("div", "relay-msg-text");
    var at = 0;
    String(text).replace(LINK, function (match, offset) {
      var url = match.replace(/[.,;:!?)\]]+$/, "");
      box.appendChild(document.createTextNode(text.slice(at, offset)));
      var a = el("a", "relay-link", url);
      a.href = url;
      a.target = "_blank";
      a.rel = "noopener noreferrer";
      box.appendChild(a);
      at = offset + url.length;
      return match;
    });
    box.appendChild(document.createTextNode(String(text).slice(at)));
    return box;
  }

  function clockOf(iso) {
    var when = iso ? new Date(iso) : new Date();
    if (isNaN(when.getTime())) { when = new Date(); }
    return when.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
  }

  /* Suggestion buttons are for the turn they came with: once the conversation moves on
   * (anything is added after them), they are disabled. */
  function retireButtons() {
    Array.prototype.forEach.call(log.querySelectorAll(".relay-button"), function (b) { b.disabled = true; });
  }

  function countUnread() {
    if (!panel.hidden) { return; }
    unread += 1;
    badge.textContent = String(unread);
    badge.hidden = false;
    document.title = "(" + unread + ") " + pageTitle;
  }

  function addMessage(author, text, buttons, meta) {
    meta = meta || {};
    if (author !== "bot") { retireButtons(); }  // a turn's own replies keep each other's buttons
    if (author === "system" && meta.notice) {
      var notice = el("div", "relay-notice", text);
      notice.setAttribute("role", "status");
      notice.setAttribute("data-notice", meta.notice);
      log.appendChild(notice);
      log.scrollTop = log.scrollHeight;
      return notice;
    }
    var item = el("div", "relay-msg relay-msg--" + author);
    item.setAttribute("data-author", author);
    var label = author === "agent" && meta.agent_name ? meta.agent_name + " \u00b7 Support team" : LABELS[author] || author;
    var head = el("div", "relay-msg-author", author === "customer" ? "" : label);
    head.appendChild(el("span", "relay-msg-time", clockOf(meta.created_at)));
    item.appendChild(head);
    item.appendChild(linkified(text));
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

  /* After a handoff is resolved: 1-5 stars and an optional comment, stored by the CRM. */
  function askRating() {
    if (log.querySelector(".relay-rating:not([data-done])")) { return; }
    var box = el("div", "relay-rating");
    box.appendChild(el("div", "relay-rating-q", "How did our support team do?"));
    var stars = el("div", "relay-stars");
    stars.setAttribute("role", "group");
    stars.setAttribute("aria-label", "Rate from 1 to 5");
    var comment = el("input", "relay-rating-comment");
    comment.type = "text";
    comment.maxLength = 1000;
    comment.placeholder = "Anything to add? (optional)";
    comment.setAttribute("aria-label", "Comment on your rating");
    [1, 2, 3, 4, 5].forEach(function (score) {
      var star = el("button", "relay-star", "\u2605");
      star.type = "button";
      star.setAttribute("aria-label", score + " of 5");
      star.setAttribute("data-score", String(score));
      star.addEventListener("click", function () {
        fetch(chatUrl + "/rating", { method: "POST", headers: { "Content-Type": "application/json" },
                                     body: JSON.stringify({ score: score, comment: comment.value.trim() || null }) })
          .then(function (response) {
            if (!response.ok) { throw new Error(String(response.status)); }
            box.setAttribute("data-done", "1");
            box.replaceChildren(el("div", "relay-rating-q", "Thank you for your rating!"));
          })
          .catch(function () { box.appendChild(el("div", "relay-rating-q", "The rating could not be sent; please try again.")); });
      });
      stars.appendChild(star);
    });
    box.appendChild(stars);
    box.appendChild(comment);
    log.appendChild(box);
    log.scrollTop = log.scrollHeight;
  }

  /* "Alex is typing…" while the agent writes (the stream repeats it; it fades after 6 s). */
  var agentTypingTimer = null;
  function agentTyping(name) {
    var line = log.querySelector(".relay-agent-typing");
    if (agentTypingTimer) { clearTimeout(agentTypingTimer); agentTypingTimer = null; }
    if (name === null) { if (line) { line.remove(); } return; }
    if (!line) {
      line = el("div", "relay-agent-typing");
      line.setAttribute("aria-live", "polite");
      log.appendChild(line);
    }
    line.textContent = (name || "Support") + " is typing\u2026";
    log.scrollTop = log.scrollHeight;
    agentTypingTimer = setTimeout(function () { agentTyping(null); }, 6000);
  }

  /* Tell the agent the customer is typing, at most every 2.5 s. */
  var toldTyping = 0;
  function customerTyping() {
    var now = Date.now();
    if (now - toldTyping < 2500 || !input.value.trim()) { return; }
    toldTyping = now;
    fetch(chatUrl + "/typing", { method: "POST" }).catch(function () { /* only a hint */ });
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
      (body.replies || []).forEach(function (reply) { addMessage("bot", reply.text, reply.buttons); countUnread(); });
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
    source.addEventListener("typing", function (event) {
      var who = "";
      try { who = JSON.parse(event.data).name || ""; } catch (e) { /* keep it anonymous */ }
      agentTyping(who);
    });
    source.addEventListener("message", function (event) {
      var message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      // The server may send a reply whose id is below one already shown (ids can commit out
      // of order on PostgreSQL), so remember what was shown rather than comparing with lastId.
      if (!shownIds[message.id]) {
        shownIds[message.id] = true;
        lastId = Math.max(lastId, message.id);
        agentTyping(null);
        addMessage(message.author, message.text, null, message);  // an agent, or a notice
        countUnread();
        if (message.notice === "bot-back") { askRating(); }
      }
    });
  }

  function loadHistory() {
    return fetch(chatUrl + "/history").then(function (response) {
      return response.ok ? response.json() : { messages: [], last_id: 0 };
    }).then(function (body) {
      (body.messages || []).forEach(function (m) {
        if (m.author === "customer" && /^\/[a-z_]+/.test(m.text)) { return; } // button payloads
        addMessage(m.author, m.text, null, m);
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
    root.classList.toggle("relay-open", open);
    if (open) {
      unread = 0;
      badge.hidden = true;
      document.title = pageTitle;
    }
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcherLabel.textContent = open ? "Close chat" : "Chat with us";
    storageSet(OPEN_KEY, open ? "1" : "0");
    if (open) {
      log.scrollTop = log.scrollHeight;
      input.focus();
    }
  }

  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  restart.addEventListener("click", function () {
    // Ending a chat starts a new conversation: a new id, an empty window, a new stream.
    if (source) { source.close(); source = null; }
    conversationId = newId();
    storageSet(ID_KEY, conversationId);
    root.setAttribute("data-relay-conversation", conversationId);
    chatUrl = base + "/chat/" + conversationId;
    lastId = 0;
    shownIds = {};
    log.replaceChildren();
    loadHistory();
    input.focus();
  });
  close.addEventListener("click", function () { setOpen(false); });
  input.addEventListener("input", customerTyping);
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
