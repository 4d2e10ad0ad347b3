/* Relay chat widget: add <script src="https://relay.example/widget.js" defer></script> to a page.
 * Keeps its conversation id in localStorage, restores the transcript after a reload, and shows
 * agent replies as they arrive (Server-Sent Events). All text is rendered with textContent.
 *
 * A page whose visitor is signed in sets, before the script, the identity its backend signed
 * (SECURITY.md): window.RelaySettings = {user_id: "...", user_hash: "<HMAC-SHA256 hex>",
 * email: "...", name: "..."}. The widget sends it to /chat/<id>/identity; the conversation is
 * then verified for that customer. A different (or no) signed-in user gets a new conversation.
 *
 * Languages: the bot answers in the language the customer writes (detected per message). A page
 * may fix the language instead — window.RelayWidget.setLanguage("es") (the demo page's switch),
 * or "" for automatic — which is remembered, sent with every message and used for the widget's
 * own labels; automatic labels follow the browser's language. */
(function () {
  "use strict";
  if (window.__relayWidget) { return; }
  window.__relayWidget = true;

  var script = document.currentScript;
  var base = script && script.src ? script.src.replace(/\/widget\.js(\?.*)?$/, "") : "";
  var ID_KEY = "relay.conversationId";
  var OPEN_KEY = "relay.open";
  var LANGUAGE_KEY = "relay.language";
  // The web channel's conversation-id prefix, filled in by the server (relay.channels.WEB).
  var ID_PREFIX = "__RELAY_WEB_ID_PREFIX__";
  // The languages Relay speaks and the bot's welcome in each (relay/languages.py, domain.yml).
  var SERVER = __RELAY_WIDGET_TEXTS__;
  // The widget's own labels.
  var UI = {
    en: { launcher: "Chat with us", close: "Close chat", title: "Nimbus Drive support", subtitle: "Ask us anything",
          placeholder: "Type your message\u2026", send: "Send", input: "Your message", dialog: "Chat with Nimbus Drive support",
          bot: "Nimbus assistant", agent: "Support team", system: "Nimbus Drive",
          offline: "We could not reach Nimbus Drive support. Please check your connection and try again." },
    zh: { launcher: "在线咨询", close: "关闭对话", title: "Nimbus Drive 客服", subtitle: "有问题尽管问",
          placeholder: "输入消息\u2026", send: "发送", input: "您的消息", dialog: "与 Nimbus Drive 客服对话",
          bot: "Nimbus 助手", agent: "客服团队", system: "Nimbus Drive",
          offline: "暂时无法连接 Nimbus Drive 客服，请检查网络后重试。" },
    es: { launcher: "Chatea con nosotros", close: "Cerrar chat", title: "Soporte de Nimbus Drive", subtitle: "Pregúntanos lo que quieras",
          placeholder: "Escribe tu mensaje\u2026", send: "Enviar", input: "Tu mensaje", dialog: "Chat con el soporte de Nimbus Drive",
          bot: "Asistente de Nimbus", agent: "Equipo de soporte", system: "Nimbus Drive",
          offline: "No pudimos conectar con el soporte de Nimbus Drive. Revisa tu conexión e inténtalo de nuevo." },
    de: { launcher: "Chatten Sie mit uns", close: "Chat schließen", title: "Nimbus Drive Support", subtitle: "Fragen Sie uns alles",
          placeholder: "Nachricht eingeben\u2026", send: "Senden", input: "Ihre Nachricht", dialog: "Chat mit dem Nimbus Drive Support",
          bot: "Nimbus-Assistent", agent: "Support-Team", system: "Nimbus Drive",
          offline: "Der Nimbus Drive Support ist gerade nicht erreichbar. Bitte prüfen Sie Ihre Verbindung und versuchen Sie es erneut." },
    fr: { launcher: "Discuter avec nous", close: "Fermer le chat", title: "Support Nimbus Drive", subtitle: "Posez-nous vos questions",
          placeholder: "Écrivez votre message\u2026", send: "Envoyer", input: "Votre message", dialog: "Chat avec le support Nimbus Drive",
          bot: "Assistant Nimbus", agent: "Équipe support", system: "Nimbus Drive",
          offline: "Impossible de joindre le support Nimbus Drive. Vérifiez votre connexion et réessayez." },
    pt: { launcher: "Fale conosco", close: "Fechar chat", title: "Suporte Nimbus Drive", subtitle: "Pergunte o que quiser",
          placeholder: "Digite sua mensagem\u2026", send: "Enviar", input: "Sua mensagem", dialog: "Chat com o suporte Nimbus Drive",
          bot: "Assistente Nimbus", agent: "Equipe de suporte", system: "Nimbus Drive",
          offline: "Não foi possível falar com o suporte Nimbus Drive. Verifique sua conexão e tente de novo." }
  };
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
  var chosen = storageGet(LANGUAGE_KEY) || "";
  if (!SERVER.languages[chosen]) { chosen = ""; }

  function uiLanguage() {
    if (chosen) { return chosen; }
    var browser = (navigator.language || "en").toLowerCase().split("-")[0];
    return UI[browser] ? browser : "en";
  }
  function t(key) { return (UI[uiLanguage()] || UI.en)[key] || UI.en[key]; }
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
  var launcher = el("button", "relay-launcher", t("launcher"));
  launcher.type = "button";
  launcher.setAttribute("aria-expanded", "false");
  // div/span only (no header, strong, section): host pages style those elements.
  var panel = el("div", "relay-panel");
  panel.setAttribute("role", "dialog");
  panel.setAttribute("aria-label", t("dialog"));
  panel.hidden = true;
  var header = el("div", "relay-header");
  var title = el("div", "relay-title");
  var titleMain = el("span", "relay-title-main", t("title"));
  var subtitle = el("span", "relay-subtitle", t("subtitle"));
  title.appendChild(titleMain);
  title.appendChild(subtitle);
  var close = el("button", "relay-close", "\u00d7");
  close.type = "button";
  close.setAttribute("aria-label", t("close"));
  header.appendChild(title);
  header.appendChild(close);
  var log = el("div", "relay-log");
  log.setAttribute("role", "log");
  log.setAttribute("aria-live", "polite");
  var form = el("form", "relay-form");
  var input = el("input", "relay-input");
  input.type = "text";
  input.maxLength = 2000;
  input.placeholder = t("placeholder");
  input.setAttribute("aria-label", t("input"));
  var send = el("button", "relay-send", t("send"));
  send.type = "submit";
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);

  function addMessage(author, text, buttons) {
    var item = el("div", "relay-msg relay-msg--" + author);
    item.setAttribute("data-author", author);
    if (author !== "customer") { item.appendChild(el("div", "relay-msg-author", t(author) || author)); }
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
      body: JSON.stringify(chosen ? { text: text, language: chosen } : { text: text })
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
        : t("offline"));
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
      if (!(body.messages || []).length) { addWelcome(); }
    }).catch(function () { /* an empty window is still usable */ }).then(connectStream);
  }

  function addWelcome() {
    var welcome = addMessage("bot", SERVER.welcome[uiLanguage()] || SERVER.welcome.en);
    welcome.classList.add("relay-welcome");
  }

  function relabel() {
    titleMain.textContent = t("title");
    subtitle.textContent = t("subtitle");
    close.setAttribute("aria-label", t("close"));
    panel.setAttribute("aria-label", t("dialog"));
    input.placeholder = t("placeholder");
    input.setAttribute("aria-label", t("input"));
    send.textContent = t("send");
    launcher.textContent = panel.hidden ? t("launcher") : t("close");
    Array.prototype.forEach.call(log.querySelectorAll(".relay-msg"), function (item) {
      var label = item.querySelector(".relay-msg-author");
      if (label) { label.textContent = t(item.getAttribute("data-author")); }
    });
    // A conversation that has not started yet greets in the new language.
    var welcome = log.querySelector(".relay-welcome");
    if (welcome && log.querySelectorAll(".relay-msg").length === 1) { welcome.remove(); addWelcome(); }
  }

  // For the host page: fix the language ("es") or go back to automatic ("").
  window.RelayWidget = {
    languages: SERVER.languages,
    language: function () { return chosen; },
    setLanguage: function (code) {
      chosen = SERVER.languages[code] ? code : "";
      storageSet(LANGUAGE_KEY, chosen);
      relabel();
    }
  };

  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcher.textContent = open ? t("close") : t("launcher");
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
