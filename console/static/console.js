/* Live updates for the console: the queue and an open transcript re-read small JSON endpoints
 * when /console/api/changes says they changed.
 * Everything a customer wrote is rendered with textContent, never as HTML. */
(function () {
  "use strict";
  var POLL_MS = 1500;
  var SAFETY_MS = 60000;

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = text; }
    return node;
  }

  function getJson(url) {
    return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 401) { window.location.href = "/console/login?next=" + encodeURIComponent(location.pathname); }
        if (!response.ok) { throw new Error(response.status); }
        return response.json();
      });
  }

  // Re-read when the server says something changed (Server-Sent Events from the change
  // feed); poll only while that stream is down, and once in a while as a safety net.
  function every(fn, conversationId) {
    var busy = false, again = false, live = false;
    function run() {
      if (busy) { again = true; return; }
      busy = true;
      fn().catch(function () { /* try again on the next change */ }).then(function () {
        busy = false;
        if (again) { again = false; run(); }
      });
    }
    if (window.EventSource) {
      var url = "/console/api/changes" + (conversationId ? "?conversation=" + encodeURIComponent(conversationId) : "");
      var source = new EventSource(url);
      source.addEventListener("changed", run);
      source.onopen = function () { live = true; run(); };
      source.onerror = function () { live = false; };
    }
    setInterval(function () {
      if (!document.hidden && !live) { run(); }
    }, POLL_MS);
    setInterval(function () { if (!document.hidden) { run(); } }, SAFETY_MS);
  }

  var queue = document.getElementById("queue");
  if (queue) {
    var known = {};
    Array.prototype.forEach.call(queue.querySelectorAll("tbody tr"), function (tr) { known[tr.getAttribute("data-id")] = true; });
    every(function () {
      return getJson(queue.getAttribute("data-live")).then(function (body) {
        var tbody = queue.querySelector("tbody");
        var rows = document.createDocumentFragment();
        var seen = {};
        body.queue.forEach(function (item) {
          var tr = el("tr");
          tr.setAttribute("data-id", item.id);
          if (!known[item.id]) { tr.className = "fresh"; }
          seen[item.id] = true;
          var link = el("a", null, item.customer || item.id);
          link.href = "/console/conversations/" + encodeURIComponent(item.id);
          var first = el("td"); first.appendChild(link); tr.appendChild(first);
          var channel = el("td"); channel.appendChild(el("span", "badge", item.channel)); tr.appendChild(channel);
          var status = el("td");
          status.appendChild(el("span", "status status-" + item.status, item.status === "agent" ? "with " + (item.agent || "an agent") : "waiting"));
          tr.appendChild(status);
          tr.appendChild(el("td", null, item.waiting));
          tr.appendChild(el("td", null, item.reason));
          tr.appendChild(el("td", "preview", item.preview));
          rows.appendChild(tr);
        });
        tbody.replaceChildren(rows);
        known = seen;
        document.getElementById("queue-empty").hidden = body.queue.length > 0;
        document.getElementById("queue-updated").textContent = "live · updated " + new Date().toLocaleTimeString();
      });
    });
  }

  var transcript = document.getElementById("transcript");
  if (transcript) {
    var lastId = parseInt(transcript.getAttribute("data-last-id"), 10) || 0;
    var statusBadge = document.getElementById("status");
    transcript.scrollTop = transcript.scrollHeight;
    every(function () {
      return getJson(transcript.getAttribute("data-live") + "?after=" + lastId).then(function (body) {
        body.messages.forEach(function (m) {
          if (m.id <= lastId) { return; }
          lastId = m.id;
          var li = el("li", "msg msg-" + m.author + (m.note ? " msg-note" : ""));
          li.setAttribute("data-id", m.id);
          var meta = el("div", "meta", (m.note ? "Internal note" : m.author) + " \u00b7 " + m.clock + (m.intent ? " \u00b7 " + m.intent : ""));
          if (m.delivery) {
            meta.appendChild(document.createTextNode(" \u00b7 "));
            var badge = el("span", "delivery");
            badge.setAttribute("data-delivery", m.id);
            meta.appendChild(badge);
          }
          li.appendChild(meta);
          li.appendChild(el("div", "text", m.text));
          transcript.appendChild(li);
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
          document.getElementById("status-changed").hidden = false;
        }
      });
    }, transcript.getAttribute("data-conversation"));
  }
})();
