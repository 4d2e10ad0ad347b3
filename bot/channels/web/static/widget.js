/* Relay chat widget: add <script src="https://relay.example/widget.js" defer></script> to a page.
 * Keeps its conversation id in localStorage, restores the transcript after a reload, and shows
 * agent replies as they arrive (Server-Sent Events). All text is rendered with textContent;
 * http(s) links in it become links built as DOM nodes (never HTML), opened with
 * rel="noopener noreferrer". An unread badge counts replies that arrive while it is closed;
 * after a resolved handoff it asks for a 1-5 rating. The paperclip button sends an image or a PDF
 * (checked again by the server, which sniffs what the bytes are); it never touches the text
 * being typed, so a refused file loses nothing. Files show as a thumbnail or a download link,
 * fetched with the conversation's own URL.
 *
 * Tabs of one browser share the conversation (its id is in localStorage), and a turn made in
 * one tab is shown in the others through a BroadcastChannel: the customer's message, the reply,
 * the typing dots, and "New chat". Agent replies reach every tab through its own stream.
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
          you: "You", new_chat: "New chat", new_chat_title: "End this conversation and start a new one",
          offline: "We could not reach Nimbus Drive support. Please check your connection and try again.",
          rate_q: "How did our support team do?", rate_group: "Rate from 1 to 5", rate_of: "of 5",
          rate_comment: "Anything to add? (optional)", rate_comment_label: "Comment on your rating",
          rate_thanks: "Thank you for your rating!", rate_failed: "The rating could not be sent; please try again.", is_typing: "{name} is typing\u2026",
          attach: "Attach an image or a PDF", file_too_large: "This file is larger than {max}, so it was not sent.",
          file_wrong_type: "Only images (JPEG, PNG, GIF, WebP) and PDF files can be sent.",
          file_empty: "This file is empty.", file_failed: "The file could not be sent; please try again.", file_image: "Image you sent: {name}", file_image_agent: "Image from support: {name}" },
    zh: { launcher: "在线咨询", close: "关闭对话", title: "Nimbus Drive 客服", subtitle: "有问题尽管问",
          placeholder: "输入消息\u2026", send: "发送", input: "您的消息", dialog: "与 Nimbus Drive 客服对话",
          bot: "Nimbus 助手", agent: "客服团队", system: "Nimbus Drive",
          you: "我", new_chat: "新对话", new_chat_title: "结束本次对话并开始新的对话",
          offline: "暂时无法连接 Nimbus Drive 客服，请检查网络后重试。",
          rate_q: "您对我们客服团队的服务满意吗？", rate_group: "从 1 到 5 评分", rate_of: "分（满分 5 分）",
          rate_comment: "还有什么想说的吗？（可选）", rate_comment_label: "对评分的补充说明",
          rate_thanks: "感谢您的评分！", rate_failed: "评分未能发送，请重试。", is_typing: "{name} 正在输入\u2026",
          attach: "附加图片或 PDF", file_too_large: "此文件超过 {max}，未发送。",
          file_wrong_type: "只能发送图片（JPEG、PNG、GIF、WebP）和 PDF 文件。",
          file_empty: "此文件是空的。", file_failed: "文件未能发送，请重试。", file_image: "您发送的图片：{name}", file_image_agent: "客服发送的图片：{name}" },
    es: { launcher: "Chatea con nosotros", close: "Cerrar chat", title: "Soporte de Nimbus Drive", subtitle: "Pregúntanos lo que quieras",
          placeholder: "Escribe tu mensaje\u2026", send: "Enviar", input: "Tu mensaje", dialog: "Chat con el soporte de Nimbus Drive",
          bot: "Asistente de Nimbus", agent: "Equipo de soporte", system: "Nimbus Drive",
          you: "Tú", new_chat: "Nuevo chat", new_chat_title: "Terminar esta conversación y empezar otra",
          offline: "No pudimos conectar con el soporte de Nimbus Drive. Revisa tu conexión e inténtalo de nuevo.",
          rate_q: "¿Qué tal lo hizo nuestro equipo de soporte?", rate_group: "Valora del 1 al 5", rate_of: "de 5",
          rate_comment: "¿Algo que añadir? (opcional)", rate_comment_label: "Comentario sobre tu valoración",
          rate_thanks: "¡Gracias por tu valoración!", rate_failed: "No se pudo enviar la valoración; inténtalo de nuevo.", is_typing: "{name} está escribiendo\u2026",
          attach: "Adjuntar una imagen o un PDF", file_too_large: "Este archivo supera {max}, así que no se ha enviado.",
          file_wrong_type: "Solo se pueden enviar imágenes (JPEG, PNG, GIF, WebP) y archivos PDF.",
          file_empty: "Este archivo está vacío.", file_failed: "No se pudo enviar el archivo; inténtalo de nuevo.", file_image: "Imagen que enviaste: {name}", file_image_agent: "Imagen del equipo de soporte: {name}" },
    de: { launcher: "Chatten Sie mit uns", close: "Chat schließen", title: "Nimbus Drive Support", subtitle: "Fragen Sie uns alles",
          placeholder: "Nachricht eingeben\u2026", send: "Senden", input: "Ihre Nachricht", dialog: "Chat mit dem Nimbus Drive Support",
          bot: "Nimbus-Assistent", agent: "Support-Team", system: "Nimbus Drive",
          you: "Sie", new_chat: "Neuer Chat", new_chat_title: "Dieses Gespräch beenden und ein neues beginnen",
          offline: "Der Nimbus Drive Support ist gerade nicht erreichbar. Bitte prüfen Sie Ihre Verbindung und versuchen Sie es erneut.",
          rate_q: "Wie zufrieden waren Sie mit unserem Support-Team?", rate_group: "Bewerten Sie von 1 bis 5", rate_of: "von 5",
          rate_comment: "Möchten Sie etwas ergänzen? (optional)", rate_comment_label: "Kommentar zu Ihrer Bewertung",
          rate_thanks: "Vielen Dank für Ihre Bewertung!", rate_failed: "Die Bewertung konnte nicht gesendet werden; bitte versuchen Sie es erneut.", is_typing: "{name} schreibt\u2026",
          attach: "Bild oder PDF anhängen", file_too_large: "Diese Datei ist größer als {max} und wurde daher nicht gesendet.",
          file_wrong_type: "Es können nur Bilder (JPEG, PNG, GIF, WebP) und PDF-Dateien gesendet werden.",
          file_empty: "Diese Datei ist leer.", file_failed: "Die Datei konnte nicht gesendet werden; bitte versuchen Sie es erneut.", file_image: "Von Ihnen gesendetes Bild: {name}", file_image_agent: "Bild vom Support: {name}" },
    fr: { launcher: "Discuter avec nous", close: "Fermer le chat", title: "Support Nimbus Drive", subtitle: "Posez-nous vos questions",
          placeholder: "Écrivez votre message\u2026", send: "Envoyer", input: "Votre message", dialog: "Chat avec le support Nimbus Drive",
          bot: "Assistant Nimbus", agent: "Équipe support", system: "Nimbus Drive",
          you: "Vous", new_chat: "Nouveau chat", new_chat_title: "Terminer cette conversation et en commencer une nouvelle",
          offline: "Impossible de joindre le support Nimbus Drive. Vérifiez votre connexion et réessayez.",
          rate_q: "Comment s'est passé l'échange avec notre équipe support ?", rate_group: "Notez de 1 à 5", rate_of: "sur 5",
          rate_comment: "Quelque chose à ajouter ? (facultatif)", rate_comment_label: "Commentaire sur votre note",
          rate_thanks: "Merci pour votre note !", rate_failed: "La note n'a pas pu être envoyée ; veuillez réessayer.", is_typing: "{name} est en train d'écrire\u2026",
          attach: "Joindre une image ou un PDF", file_too_large: "Ce fichier dépasse {max}, il n'a donc pas été envoyé.",
          file_wrong_type: "Seuls les images (JPEG, PNG, GIF, WebP) et les fichiers PDF peuvent être envoyés.",
          file_empty: "Ce fichier est vide.", file_failed: "Le fichier n'a pas pu être envoyé ; veuillez réessayer.", file_image: "Image que vous avez envoyée : {name}", file_image_agent: "Image envoyée par le support : {name}" },
    pt: { launcher: "Fale conosco", close: "Fechar chat", title: "Suporte Nimbus Drive", subtitle: "Pergunte o que quiser",
          placeholder: "Digite sua mensagem\u2026", send: "Enviar", input: "Sua mensagem", dialog: "Chat com o suporte Nimbus Drive",
          bot: "Assistente Nimbus", agent: "Equipe de suporte", system: "Nimbus Drive",
          you: "Você", new_chat: "Novo chat", new_chat_title: "Encerrar esta conversa e começar outra",
          offline: "Não foi possível falar com o suporte Nimbus Drive. Verifique sua conexão e tente de novo.",
          rate_q: "Como foi o atendimento da nossa equipe de suporte?", rate_group: "Avalie de 1 a 5", rate_of: "de 5",
          rate_comment: "Algo a acrescentar? (opcional)", rate_comment_label: "Comentário sobre sua avaliação",
          rate_thanks: "Obrigado pela sua avaliação!", rate_failed: "Não foi possível enviar a avaliação; tente de novo.", is_typing: "{name} está digitando\u2026",
          attach: "Anexar uma imagem ou um PDF", file_too_large: "Este arquivo passa de {max}, então não foi enviado.",
          file_wrong_type: "Só é possível enviar imagens (JPEG, PNG, GIF, WebP) e arquivos PDF.",
          file_empty: "Este arquivo está vazio.", file_failed: "Não foi possível enviar o arquivo; tente de novo.", file_image: "Imagem que você enviou: {name}", file_image_agent: "Imagem enviada pelo suporte: {name}" }
  };
  var ID_FORMAT = new RegExp("^" + ID_PREFIX + "[0-9a-f]{32}$");
  var FILE_TYPES = "image/jpeg,image/png,image/gif,image/webp,application/pdf";
  var SVG_NS = "http://www.w3.org/2000/svg";

  /* A paperclip icon (Feather's, MIT), drawn in the button's colour. */
  function paperclip() {
    var svg = document.createElementNS(SVG_NS, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("width", "20");
    svg.setAttribute("height", "20");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(SVG_NS, "path");
    path.setAttribute("d", "M21.44 11.05l-9.19 9.19a6 6 0 0 1-8.49-8.49l9.19-9.19a4 4 0 0 1 5.66 " +
                      "5.66l-9.2 9.19a2 2 0 0 1-2.83-2.83l8.49-8.48");
    path.setAttribute("fill", "none");
    path.setAttribute("stroke", "currentColor");
    path.setAttribute("stroke-width", "2");
    path.setAttribute("stroke-linecap", "round");
    path.setAttribute("stroke-linejoin", "round");
    svg.appendChild(path);
    return svg;
  }

  function randomHex(bytes) {
    var values = new Uint8Array(bytes);
    window.crypto.getRandomValues(values);
    var hex = "";
    for (var i = 0; i < values.length; i++) { hex += ("0" + values[i].toString(16)).slice(-2); }
    return hex;
  }

  function newId() { return ID_PREFIX + randomHex(16); }

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
  var tabs = window.BroadcastChannel ? new BroadcastChannel("relay-widget") : null;
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
  var launcher = el("button", "relay-launcher");
  var launcherLabel = el("span", "relay-launcher-label", t("launcher"));
  launcher.appendChild(launcherLabel);
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
  var restart = el("button", "relay-restart", t("new_chat"));
  restart.type = "button";
  restart.title = t("new_chat_title");
  var close = el("button", "relay-close", "\u00d7");
  close.type = "button";
  close.setAttribute("aria-label", t("close"));
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
  input.placeholder = t("placeholder");
  input.setAttribute("aria-label", t("input"));
  var send = el("button", "relay-send", t("send"));
  send.type = "submit";
  var attach = el("button", "relay-attach");
  attach.type = "button";
  attach.setAttribute("aria-label", t("attach"));
  attach.title = t("attach");
  attach.appendChild(paperclip());
  var fileInput = el("input", "relay-file");
  fileInput.type = "file";
  fileInput.accept = FILE_TYPES;
  fileInput.hidden = true;
  fileInput.tabIndex = -1;
  fileInput.setAttribute("aria-label", t("attach"));
  form.appendChild(attach);
  form.appendChild(fileInput);
  form.appendChild(input);
  form.appendChild(send);
  panel.appendChild(header);
  panel.appendChild(log);
  panel.appendChild(form);
  root.appendChild(panel);
  root.appendChild(launcher);
  launcher.appendChild(badge);

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
    var label = author === "agent" && meta.agent_name ? meta.agent_name + " \u00b7 " + t("agent") : t(author === "customer" ? "you" : author) || author;
    var head = el("div", "relay-msg-author");
    if (author !== "customer") { head.appendChild(el("span", "relay-msg-name", label)); }
    if (meta.agent_name) { item.setAttribute("data-agent-name", meta.agent_name); }
    head.appendChild(el("span", "relay-msg-time", clockOf(meta.created_at)));
    item.appendChild(head);
    if (meta.attachment) {
      item.appendChild(fileView(meta.attachment, author));
      var caption = String(text || "").replace("[file: " + meta.attachment.filename + "]", "").trim();
      if (caption) { item.appendChild(linkified(caption)); }  // what an agent wrote with it
    } else {
      item.appendChild(linkified(text));
    }
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

  /* A message of a turn made in this tab, shown here and in the browser's other tabs. */
  function said(author, text, buttons, meta) {
    tell({ author: author, text: text, buttons: buttons || null, meta: meta || null });
    return addMessage(author, text, buttons, meta);
  }

  function tell(what) {
    if (!tabs) { return; }
    what.conversation = conversationId;
    try { tabs.postMessage(what); } catch (e) { /* the other tabs see it after a reload */ }
  }

  function heard(event) {
    var what = event.data || {};
    if (what.conversation !== conversationId) { return; }
    if (what.restarted) { begin(what.restarted); return; }
    if (typeof what.typing === "boolean") { typing(what.typing); return; }
    typing(false);
    addMessage(what.author, what.text, what.buttons, what.meta || undefined);
    if (what.author !== "customer") { countUnread(); }
  }

  /* A file in the transcript: an image as a thumbnail (opens full size), a PDF as a download
   * link; the name and size are text. */
  function fileView(file, author) {
    var box = el("div", "relay-file-msg");
    var url = base + file.url;
    if (file.kind === "image") {
      var thumb = el("a", "relay-file-thumb");
      thumb.href = url;
      thumb.target = "_blank";
      thumb.rel = "noopener noreferrer";
      var img = el("img");
      img.src = url;
      img.alt = t(author === "agent" ? "file_image_agent" : "file_image").replace("{name}", file.filename);
      thumb.appendChild(img);
      box.appendChild(thumb);
    }
    var link = el("a", "relay-link relay-file-link", file.filename);
    link.href = url;
    if (file.kind === "pdf") {
      link.setAttribute("download", file.filename);
    } else {
      link.target = "_blank";
      link.rel = "noopener noreferrer";
    }
    box.appendChild(link);
    box.appendChild(el("span", "relay-file-size", (file.kind === "pdf" ? "PDF \u00b7 " : "") + file.size_text));
    return box;
  }

  /* Why the server refused a file, in the visitor's language. */
  function refusal(status, detail) {
    if (status === 413) { return t("file_too_large").replace("{max}", SERVER.max_file_size); }
    if (status === 415) { return t("file_wrong_type"); }
    if (status === 422) { return t("file_empty"); }
    if (status === 429 && detail) { return detail; }
    return t("file_failed");
  }

  /* Send one file; the text being typed stays where it is. */
  function sendFile(file) {
    if (!file) { return; }
    if (file.size > SERVER.max_file_bytes) { addMessage("system", refusal(413)); return; }
    if (!file.size) { addMessage("system", refusal(422)); return; }
    typing(true);
    attach.disabled = true;
    var query = "?name=" + encodeURIComponent(file.name) + "&id=f" + randomHex(12) +
      (chosen ? "&language=" + encodeURIComponent(chosen) : "");
    fetch(chatUrl + "/attachments" + query, {
      method: "POST", headers: { "Content-Type": "application/octet-stream" }, body: file
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (body) {
        if (!response.ok) {
          var error = new Error(refusal(response.status, typeof body.detail === "string" ? body.detail : ""));
          error.refused = true;
          throw error;
        }
        return body;
      });
    }).then(function (body) {
      typing(false);
      said("customer", body.message.text, null, body.message);
      (body.replies || []).forEach(function (reply) { said("system", reply.text); countUnread(); });
    }).catch(function (error) {
      typing(false);
      addMessage("system", error && error.refused ? error.message : t("file_failed"));
    }).then(function () {
      attach.disabled = false;
      fileInput.value = "";
    });
  }

  /* After a handoff is resolved: 1-5 stars and an optional comment, stored by the CRM. */
  function askRating() {
    if (log.querySelector(".relay-rating:not([data-done])")) { return; }
    var box = el("div", "relay-rating");
    box.appendChild(el("div", "relay-rating-q", t("rate_q")));
    var stars = el("div", "relay-stars");
    stars.setAttribute("role", "group");
    stars.setAttribute("aria-label", t("rate_group"));
    var comment = el("input", "relay-rating-comment");
    comment.type = "text";
    comment.maxLength = 1000;
    comment.placeholder = t("rate_comment");
    comment.setAttribute("aria-label", t("rate_comment_label"));
    [1, 2, 3, 4, 5].forEach(function (score) {
      var star = el("button", "relay-star", "\u2605");
      star.type = "button";
      star.setAttribute("aria-label", score + " " + t("rate_of"));
      star.setAttribute("data-score", String(score));
      star.addEventListener("click", function () {
        fetch(chatUrl + "/rating", { method: "POST", headers: { "Content-Type": "application/json" },
                                     body: JSON.stringify({ score: score, comment: comment.value.trim() || null }) })
          .then(function (response) {
            if (!response.ok) { throw new Error(String(response.status)); }
            box.setAttribute("data-done", "1");
            box.replaceChildren(el("div", "relay-rating-q", t("rate_thanks")));
          })
          .catch(function () { box.appendChild(el("div", "relay-rating-q", t("rate_failed"))); });
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
    line.textContent = t("is_typing").replace("{name}", name || t("agent"));
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
    toldTyping = 0;  // sending ends the signal on the server: the next keystroke tells again
    said("customer", shown || text);
    typing(true);
    tell({ typing: true });
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
      tell({ typing: false });
      (body.replies || []).forEach(function (reply) { said("bot", reply.text, reply.buttons); countUnread(); });
    }).catch(function (error) {
      typing(false);
      tell({ typing: false });
      addMessage("system", error && error.message && error.message.indexOf("fetch") === -1
        ? error.message
        : t("offline"));
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
        var text = m.shown_text || m.text;  // a clicked button: its title, as it was shown
        if (m.author === "customer" && !m.shown_text && /^\/[a-z_]+(\{.*\})?$/.test(m.text)) { return; }
        addMessage(m.author, text, null, m);
      });
      lastId = Math.max(lastId, body.last_id || 0);
      log.scrollTop = log.scrollHeight;
      if (!(body.messages || []).length) { addWelcome(); }
      if (body.rating_due) { askRating(); }  // resolved while the customer was away
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
    attach.setAttribute("aria-label", t("attach"));
    attach.title = t("attach");
    fileInput.setAttribute("aria-label", t("attach"));
    launcherLabel.textContent = panel.hidden ? t("launcher") : t("close");
    restart.textContent = t("new_chat");
    restart.title = t("new_chat_title");
    Array.prototype.forEach.call(log.querySelectorAll(".relay-msg"), function (item) {
      var name = item.querySelector(".relay-msg-name");
      var agentName = item.getAttribute("data-agent-name");
      if (name) { name.textContent = agentName ? agentName + " \u00b7 " + t("agent") : t(item.getAttribute("data-author")); }
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
    root.classList.toggle("relay-open", open);
    if (open) {
      unread = 0;
      badge.hidden = true;
      document.title = pageTitle;
    }
    launcher.setAttribute("aria-expanded", open ? "true" : "false");
    launcherLabel.textContent = open ? t("close") : t("launcher");
    storageSet(OPEN_KEY, open ? "1" : "0");
    if (open) {
      log.scrollTop = log.scrollHeight;
      input.focus();
    }
  }

  launcher.addEventListener("click", function () { setOpen(panel.hidden); });
  /* Ending a chat starts a new conversation: a new id, an empty window, a new stream. */
  function begin(id) {
    if (source) { source.close(); source = null; }
    conversationId = id;
    storageSet(ID_KEY, conversationId);
    root.setAttribute("data-relay-conversation", conversationId);
    chatUrl = base + "/chat/" + conversationId;
    lastId = 0;
    shownIds = {};
    log.replaceChildren();
    loadHistory();
  }
  restart.addEventListener("click", function () {
    var next = newId();
    tell({ restarted: next });
    begin(next);
    input.focus();
  });
  close.addEventListener("click", function () { setOpen(false); });
  input.addEventListener("input", customerTyping);
  attach.addEventListener("click", function () { fileInput.click(); });
  fileInput.addEventListener("change", function () { sendFile(fileInput.files && fileInput.files[0]); });
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
    if (tabs) { tabs.onmessage = heard; }
    sendIdentity().then(loadHistory);
    if (storageGet(OPEN_KEY) === "1") { setOpen(true); }
  }
  if (document.body) { start(); } else { document.addEventListener("DOMContentLoaded", start); }
})();
