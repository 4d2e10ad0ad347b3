/* The console's live inbox. One EventSource (/console/api/changes, woken by the app's change
 * feed) rings when the queue or the open conversation changed; the page then re-reads them from
 * their JSON endpoints. While that stream is down the page polls, and once a minute anyway.
 * Actions are sent with fetch (the forms still work without this script); drafts are kept in
 * localStorage per conversation until they are sent. Everything a customer wrote is rendered
 * with textContent, never as HTML. No inline scripts: this file works under a strict CSP. */
(function () {
  "use strict";
  var POLL_MS = 1500;  // only while the change stream is down
  var SAFETY_MS = 60000;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  function toLogin() {
    window.location.href = "/console/login?next=" + encodeURIComponent(location.pathname + location.search);
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { toLogin(); }
        if (!response.ok) { throw new Error(String(response.status)); }
        return response.json();
      });
  }

  function storageGet(key) { try { return window.localStorage.getItem(key); } catch (e) { return null; } }
  function storageSet(key, value) { try { window.localStorage.setItem(key, value); } catch (e) { /* private mode */ } }
  function storageDel(key) { try { window.localStorage.removeItem(key); } catch (e) { /* private mode */ } }

  /* A refresher runs one request at a time; a ring while it runs makes it run once more. */
  var refreshers = [];
  function refresher(fn) {
    var busy = false, again = false;
    function run() {
      if (busy) { again = true; return; }
      busy = true;
      fn().catch(function () { /* the next ring retries */ }).then(function () {
        busy = false;
        if (again) { again = false; run(); }
      });
    }
    refreshers.push(run);
    return run;
  }
  function ring() { refreshers.forEach(function (run) { run(); }); }

  function waitingText(seconds) {
    if (seconds < 60) { return "just now"; }
    var minutes = Math.floor(seconds / 60);
    if (minutes < 60) { return minutes + " min"; }
    var hours = Math.floor(minutes / 60);
    if (hours < 48) { return hours + " h " + (minutes % 60) + " min"; }
    return Math.floor(hours / 24) + " d";
  }
  function mmss(seconds) {
    var s = Math.abs(Math.round(seconds));
    return Math.floor(s / 60) + ":" + ("0" + (s % 60)).slice(-2);
  }
  /* SLA timers: how long each conversation has waited, and when its first reply is due. */
  function tickTimers() {
    var now = Date.now();
    Array.prototype.forEach.call(document.querySelectorAll("[data-since]"), function (cell) {
      var since = Date.parse(cell.getAttribute("data-since"));
      if (!isNaN(since)) { cell.textContent = waitingText(Math.max(0, (now - since) / 1000)); }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-due]"), function (cell) {
      var due = Date.parse(cell.getAttribute("data-due"));
      if (isNaN(due)) { cell.textContent = "\u2014"; cell.classList.remove("overdue"); return; }
      var left = (due - now) / 1000;
      cell.textContent = left >= 0 ? "due in " + mmss(left) : "overdue " + mmss(left);
      cell.classList.toggle("overdue", left < 0);
    });
  }

  /* Sound and a desktop notification when a new conversation starts waiting. */
  function beep() {
    try {
      var Context = window.AudioContext || window.webkitAudioContext;
      var audio = new Context();
      var osc = audio.createOscillator();
      var gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.value = 0.1;
      osc.connect(gain); gain.connect(audio.destination);
      osc.start(); osc.stop(audio.currentTime + 0.2);
    } catch (e) { /* no audio: the notification and the row still show it */ }
  }
  function announce(item) {
    document.body.setAttribute("data-handoffs-announced",
      String((parseInt(document.body.getAttribute("data-handoffs-announced"), 10) || 0) + 1));
    beep();
    if (window.Notification && Notification.permission === "granted") {
      var n = new Notification("A customer is waiting", { body: (item.customer || item.id) + (item.preview ? ": " + item.preview : ""), tag: item.id });
      n.onclick = function () { window.focus(); window.location.href = "/console/conversations/" + encodeURIComponent(item.id); };
    }
  }
  var enable = document.getElementById("notify-enable");
  if (enable && window.Notification && Notification.permission === "default") {
    enable.hidden = false;
    enable.addEventListener("click", function () {
      Notification.requestPermission().then(function () { enable.hidden = true; });
    });
  }

  /* The queue's rows are kept and changed in place, keyed by conversation id: only what
   * changed is written, rows come and go alone, and a row moves only if its place changed.
   * Rebuilding them lost clicks (a mouse-down on a row replaced before the mouse-up is no
   * click), the keyboard focus and any text being selected, every time the queue moved. */
  function setText(node, text) {
    text = text === undefined || text === null ? "" : String(text);
    if (node.textContent !== text) { node.textContent = text; }
  }
  function setAttr(node, name, value) {
    value = value === undefined || value === null ? "" : String(value);
    if (node.getAttribute(name) !== value) { node.setAttribute(name, value); }
  }
  function queueRow() {
    var tr = el("tr");
    var first = el("td"); first.appendChild(el("a")); tr.appendChild(first);
    var channel = el("td"); channel.appendChild(el("span", "badge")); tr.appendChild(channel);
    tr.appendChild(el("td", "language"));
    var status = el("td"); status.appendChild(el("span"));
    var unanswered = el("span", "unanswered", "awaits reply"); unanswered.hidden = true;
    status.appendChild(unanswered); tr.appendChild(status);
    tr.appendChild(el("td", "since"));
    tr.appendChild(el("td", "due"));
    tr.appendChild(el("td"));
    tr.appendChild(el("td", "preview"));
    return tr;
  }
  function fillQueueRow(tr, item) {
    var cells = tr.cells;
    setAttr(tr, "data-id", item.id);
    setAttr(tr, "data-status", item.status);
    var link = cells[0].querySelector("a");
    setText(link, item.customer || item.id);
    setAttr(link, "href", "/console/conversations/" + encodeURIComponent(item.id));
    var tags = item.tags || [];
    var shown = Array.prototype.map.call(cells[0].querySelectorAll(".tag"), function (t) { return t.textContent; });
    if (shown.join("\n") !== tags.join("\n")) {
      Array.prototype.forEach.call(cells[0].querySelectorAll(".tag"), function (t) { t.remove(); });
      tags.forEach(function (tag) { cells[0].appendChild(el("span", "tag", tag)); });
    }
    setText(cells[1].querySelector(".badge"), item.channel);
    setText(cells[2], item.language);
    var status = cells[3].querySelector("span");
    setAttr(status, "class", "status status-" + item.status);
    setText(status, item.status === "agent" ? "with " + (item.agent || "an agent") : item.status === "bot" ? "resolved" : "waiting");
    // With an agent, the customer wrote last: the row says so, and waits since that message.
    cells[3].querySelector(".unanswered").hidden = !item.unanswered;
    setAttr(cells[4], "data-since", item.waiting_since || item.handoff_at);  // tickTimers writes the text of these two
    setAttr(cells[5], "data-due", item.first_reply_due || "");
    setText(cells[6], item.reason);
    setText(cells[7], item.preview);
  }

  var queue = document.getElementById("queue");
  if (queue) {
    var known = {};
    Array.prototype.forEach.call(queue.querySelectorAll("tbody tr"), function (tr) { known[tr.getAttribute("data-id")] = tr.getAttribute("data-status"); });
    var queueUrl = queue.getAttribute("data-live") + "?view=" + encodeURIComponent(queue.getAttribute("data-view") || "all") +
      (queue.getAttribute("data-q") ? "&q=" + encodeURIComponent(queue.getAttribute("data-q")) : "");
    refresher(function () {
      return getJson(queueUrl).then(function (body) {
        var tbody = queue.querySelector("tbody");
        var focused = document.activeElement;
        var rows = {};
        var seen = {};
        body.queue.forEach(function (item) { seen[item.id] = item.status; });
        Array.prototype.slice.call(tbody.rows).forEach(function (tr) {
          var id = tr.getAttribute("data-id");
          if (id in seen && !(id in rows)) { rows[id] = tr; } else { tr.remove(); }
        });
        body.queue.forEach(function (item, index) {
          var tr = rows[item.id];
          if (!tr) {
            tr = queueRow();
            if (!(item.id in known)) { tr.className = "fresh"; }  // flashes once, as it appears
          }
          if (item.status === "handoff" && known[item.id] !== "handoff") { announce(item); }
          fillQueueRow(tr, item);
          if (tbody.rows[index] !== tr) { tbody.insertBefore(tr, tbody.rows[index] || null); }
        });
        // A row that moved took its focused link with it: give the focus back.
        if (focused && focused !== document.activeElement && tbody.contains(focused)) { focused.focus(); }
        known = seen;
        tickTimers();
        document.getElementById("queue-empty").hidden = body.queue.length > 0;
        var waitingCount = body.queue.filter(function (i) { return i.status === "handoff"; }).length;
        document.title = (waitingCount ? "(" + waitingCount + ") " : "") + "Inbox \u00b7 Relay console";
        document.getElementById("queue-updated").textContent = "live \u00b7 updated " + new Date().toLocaleTimeString();
      });
    });
  }

  /* Away from the queue (in a conversation), new handoffs are still announced. */
  if (!queue && document.getElementById("transcript")) {
    var waitingIds = null;
    refresher(function () {
      return getJson("/console/api/queue?view=unassigned").then(function (body) {
        var now = {};
        body.queue.forEach(function (item) {
          now[item.id] = true;
          if (waitingIds && !waitingIds[item.id]) { announce(item); }
        });
        waitingIds = now;
      });
    });
  }

  var transcript = document.getElementById("transcript");
  var actions = document.getElementById("actions");
  var conversationId = actions ? actions.getAttribute("data-conversation") : null;
  var liveNotice = document.getElementById("live-notice");

  function say(text, isError) {
    if (!liveNotice) { return; }
    liveNotice.textContent = text;
    liveNotice.className = isError ? "error" : "notice";
    liveNotice.hidden = false;
  }

  /* The line a message goes before (null: at the end), by its data-order key. */
  function placeOf(order) {
    var lines = transcript.children;
    for (var i = lines.length - 1; i >= 0; i--) {
      if ((lines[i].getAttribute("data-order") || "") <= order) { return lines[i].nextSibling; }
    }
    return transcript.firstChild;
  }

  /* A customer's or an agent's file, built like the page's template: an image as a thumbnail,
   * a PDF as a download link; names are text, URLs are the console's own. */
  function attachmentOf(f, author) {
    var box = el("div", "attachment attachment-" + f.kind);
    var newTab = function (a) { a.target = "_blank"; a.rel = "noopener noreferrer"; };
    if (f.kind === "image") {
      var thumb = el("a", "thumb");
      thumb.href = f.url;
      newTab(thumb);
      var img = el("img");
      img.src = f.url;
      img.alt = (author === "agent" ? "Image an agent sent: " : "Image the customer sent: ") + f.filename;
      img.loading = "lazy";
      thumb.appendChild(img);
      box.appendChild(thumb);
    }
    var link = el("a", "file", f.filename);
    link.href = f.url;
    if (f.kind === "pdf") { link.setAttribute("download", ""); } else { newTab(link); }
    box.appendChild(link);
    box.appendChild(document.createTextNode(" "));
    box.appendChild(el("span", "muted", (f.kind === "pdf" ? "PDF \u00b7 " : "") + f.size_text));
    return box;
  }

  var refreshConversation = null;
  var customerTypingLine = document.getElementById("customer-typing");
  var customerTypingTimer = null;
  if (transcript) {
    var lastId = parseInt(transcript.getAttribute("data-last-id"), 10) || 0;
    var statusBadge = document.getElementById("status");
    var assigned = document.getElementById("assigned");
    transcript.scrollTop = transcript.scrollHeight;
    refreshConversation = refresher(function () {
      return getJson(transcript.getAttribute("data-live") + "?after=" + lastId).then(function (body) {
        body.messages.forEach(function (m) {
          // Messages come in the order they happened, not by id: a customer's message logged
          // late has a higher id than the notice that followed it. The cursor is the highest id.
          lastId = Math.max(lastId, m.id);
          if (transcript.querySelector('li[data-id="' + m.id + '"]')) { return; }
          var li = el("li", "msg msg-" + m.author + (m.note ? " msg-note" : ""));
          li.setAttribute("data-id", m.id);
          li.setAttribute("data-order", m.order);
          var meta = el("div", "meta", (m.note ? "Internal note" : m.author) + " \u00b7 " + m.clock + (m.intent ? " \u00b7 " + m.intent : ""));
          if (m.delivery) {
            meta.appendChild(document.createTextNode(" \u00b7 "));
            var badge = el("span", "delivery");
            badge.setAttribute("data-delivery", m.id);
            meta.appendChild(badge);
          }
          li.appendChild(meta);
          var text = el("div", "text");
          if (m.clicked) {  // a button the customer clicked: its title, the payload on hover
            var clicked = el("span", "clicked", "Clicked \u201c" + m.clicked + "\u201d");
            clicked.setAttribute("title", m.text);
            text.appendChild(clicked);
          } else {
            text.textContent = m.text;
          }
          li.appendChild(text);
          if (m.attachment) { li.appendChild(attachmentOf(m.attachment, m.author)); }
          transcript.insertBefore(li, placeOf(m.order));
          transcript.scrollTop = transcript.scrollHeight;
        });
        // Deliveries move on (pending -> delivered or failed): refresh their badges.
        (body.deliveries || []).forEach(function (d) {
          var badge = transcript.querySelector('[data-delivery="' + d.id + '"]');
          if (!badge) { return; }
          badge.className = "delivery delivery-" + d.status;
          badge.textContent = d.status + (d.error ? ": " + d.error : "");
          badge.title = d.error;
        });
        if (statusBadge && body.status !== statusBadge.getAttribute("data-status")) {
          statusBadge.textContent = body.status;
          statusBadge.className = "status status-" + body.status;
          statusBadge.setAttribute("data-status", body.status);
        }
        if (actions) { actions.setAttribute("data-status", body.status); }
        if (customerTypingLine) {
          if (customerTypingTimer) { clearTimeout(customerTypingTimer); }
          customerTypingLine.hidden = !body.customer_typing;
          if (body.customer_typing) {
            customerTypingTimer = setTimeout(function () { customerTypingLine.hidden = true; }, 6000);
          }
        }
        if (assigned) { assigned.textContent = body.assigned_agent ? " \u00b7 with " + body.assigned_agent : ""; }
      });
    });
  }

  /* Drafts: kept per conversation until sent, so a reload or a failed send loses nothing. */
  function draftKey(area) { return "relay.draft." + area.id + "." + conversationId; }
  if (conversationId) {
    ["reply-text", "note-text"].forEach(function (id) {
      var area = document.getElementById(id);
      if (!area) { return; }
      var saved = storageGet(draftKey(area));
      if (saved && !area.value) { area.value = saved; }
      area.addEventListener("input", function () {
        if (area.value) { storageSet(draftKey(area), area.value); } else { storageDel(draftKey(area)); }
      });
    });
  }

  /* Tags: the list is rebuilt from the server's answer; each has its own remove form. */
  var tagList = document.getElementById("tag-list");
  var tagAdd = document.getElementById("tag-add");
  function renderTags(tags) {
    if (!tagList || !tagAdd) { return; }
    var csrf = tagAdd.elements.csrf.value;
    var items = document.createDocumentFragment();
    tags.forEach(function (tag) {
      var li = el("li");
      li.appendChild(el("span", "tag", tag));
      var form = el("form", "inline live tag-remove");
      form.method = "post";
      form.action = tagAdd.action + "/remove";
      [["csrf", csrf], ["tag", tag]].forEach(function (pair) {
        var input = el("input"); input.type = "hidden"; input.name = pair[0]; input.value = pair[1];
        form.appendChild(input);
      });
      var button = el("button", null, "\u00d7");
      button.type = "submit";
      button.setAttribute("aria-label", "Remove tag " + tag);
      form.appendChild(button);
      liveForm(form);
      li.appendChild(form);
      items.appendChild(li);
    });
    tagList.replaceChildren(items);
    var field = tagAdd.elements.tag;
    if (field) { field.value = ""; }
  }

  /* Canned replies, filled in for this conversation, go into the reply box to edit. */
  var cannedSelect = document.getElementById("canned");
  var replyArea = document.getElementById("reply-text");
  if (cannedSelect && replyArea) {
    getJson(cannedSelect.getAttribute("data-source")).then(function (body) {
      body.replies.forEach(function (r) {
        var option = el("option", null, r.title);
        option.value = String(r.id);
        option.setAttribute("data-text", r.text);
        cannedSelect.appendChild(option);
      });
      cannedSelect.hidden = body.replies.length === 0;
    }).catch(function () { cannedSelect.hidden = true; });
    cannedSelect.addEventListener("change", function () {
      var option = cannedSelect.selectedOptions[0];
      var text = option ? option.getAttribute("data-text") : null;
      if (text) {
        replyArea.value = replyArea.value ? replyArea.value.replace(/\s*$/, "\n") + text : text;
        replyArea.dispatchEvent(new Event("input"));
        replyArea.focus();
      }
      cannedSelect.value = "";
    });
  }

  /* Tell the customer the agent is typing a reply, at most every 2.5 s. */
  var replyForm = document.getElementById("reply-form");
  if (replyForm && conversationId) {
    var toldTyping = 0;
    replyForm.elements.text.addEventListener("input", function () {
      var now = Date.now();
      if (now - toldTyping < 2500 || !replyForm.elements.text.value.trim()) { return; }
      toldTyping = now;
      var body = new FormData();
      body.append("csrf", replyForm.elements.csrf.value);
      fetch("/console/api/conversations/" + encodeURIComponent(conversationId) + "/typing",
            { method: "POST", body: body, credentials: "same-origin" }).catch(function () { /* only a hint */ });
    });
    // Sending ends the signal on the server: the next keystroke tells again at once.
    replyForm.addEventListener("submit", function () { toldTyping = 0; });
  }

  function fillRecord(form, customer) {
    ["name", "email", "phone", "company", "address"].forEach(function (field) {
      if (form.elements[field]) { form.elements[field].value = customer[field] || ""; }
    });
  }

  /* Every form.live is sent with fetch and answered with JSON. */
  function liveForm(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button && button.disabled) { return; }
      var area = form.querySelector("textarea[name=text]");
      if (area && !area.value.trim()) { say("Write something first.", true); area.focus(); return; }
      var errorSlot = form.querySelector("[data-error]");
      if (errorSlot) { errorSlot.hidden = true; }
      if (button) { button.disabled = true; }
      fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin",
                           headers: { Accept: "application/json" } })
        .then(function (response) {
          if (response.status === 401) { toLogin(); }
          return response.json().catch(function () { return {}; }).then(function (body) {
            var detail = typeof body.detail === "string" ? body.detail : "That did not work (" + response.status + "). Try again.";
            if (!response.ok) { throw new Error(detail); }
            return body;
          });
        })
        .then(function (body) {
          say(body.detail || "Done.", false);
          if (area) { area.value = ""; storageDel(draftKey(area)); }
          if (form.elements.file) { form.reset(); }  // a file sent: its form starts afresh
          if (body.customer) { fillRecord(document.getElementById("record") || form, body.customer); }
          if (body.tags) { renderTags(body.tags); }
          if (body.case) {
            var item = form.closest("li");
            if (item) { item.querySelector(".case-status").textContent = body.case.status; }
            form.remove();
          }
          if (refreshConversation) { refreshConversation(); }
        })
        .catch(function (error) {
          if (errorSlot) { errorSlot.textContent = error.message; errorSlot.hidden = false; }
          say(error.message, true);
        })
        .then(function () { if (button) { button.disabled = false; } });
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("form.live"), liveForm);

  function visibleForm(selector) {
    var form = document.querySelector(selector);
    return form && form.offsetParent !== null ? form : null;
  }

  function nextConversation() {
    getJson("/console/api/queue?view=unassigned").then(function (body) {
      var next = body.queue.filter(function (item) { return item.id !== conversationId; }).pop();
      if (next) { window.location.href = "/console/conversations/" + encodeURIComponent(next.id); } else { say("Nobody else is waiting.", false); }
    }).catch(function () { say("The queue could not be read; try again.", true); });
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    var typing = target && (target.tagName === "TEXTAREA" || target.tagName === "INPUT" || target.tagName === "SELECT" || target.isContentEditable);
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && target.tagName === "TEXTAREA" && target.form) {
      event.preventDefault();
      target.form.requestSubmit();
      return;
    }
    if (typing || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var form;
    if (event.key === "/" && document.getElementById("search")) {
      event.preventDefault();
      document.getElementById("search").focus();
    } else if (event.key === "n") {
      event.preventDefault();
      nextConversation();
    } else if (event.key === "c" && (form = visibleForm(".when-waiting"))) {
      event.preventDefault();
      form.requestSubmit();
    } else if (event.key === "e" && (form = visibleForm("#resolve-form"))) {
      event.preventDefault();
      form.requestSubmit();
    }
  });

  /* A destructive form asks first (no inline handlers: the page runs under a strict CSP). */
  Array.prototype.forEach.call(document.querySelectorAll("form[data-confirm]"), function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.confirm(form.getAttribute("data-confirm"))) { event.preventDefault(); }
    });
  });

  if (refreshers.length) {
    var live = false;
    if (window.EventSource) {
      var source = new EventSource("/console/api/changes" +
        (conversationId ? "?conversation=" + encodeURIComponent(conversationId) : ""));
      source.addEventListener("changed", ring);
      source.onopen = function () { live = true; ring(); };
      source.onerror = function () { live = false; };
    }
    setInterval(function () { if (!document.hidden && !live) { ring(); } }, POLL_MS);
    setInterval(function () { if (!document.hidden) { ring(); } }, SAFETY_MS);
    setInterval(tickTimers, 1000);
    tickTimers();
  }
})();
