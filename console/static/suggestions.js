/* Reply suggestions on a handed-off conversation: FAQ answers for the customer's last messages
 * (console/insights.py), each with a button that puts it into the reply box to edit. */
(function () {
  "use strict";
  var panel = document.getElementById("suggestions");
  var reply = document.getElementById("reply-text");
  if (!panel || !reply) { return; }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  fetch(panel.getAttribute("data-source"), { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (response) { if (!response.ok) { throw new Error(response.status); } return response.json(); })
    .then(function (body) {
      var list = panel.querySelector("ol");
      list.replaceChildren();
      body.suggestions.forEach(function (s) {
        var item = el("li", "suggestion");
        item.setAttribute("data-entry", s.entry_id);
        item.appendChild(el("div", "meta", s.entry_id + " · " + Math.round(s.score * 100) + " % · for “" + s.for_message + "”"));
        item.appendChild(el("div", "answer", s.answer));
        var use = el("button", "use", "Use this answer");
        use.type = "button";
        use.addEventListener("click", function () {
          reply.value = s.answer;
          reply.focus();
        });
        item.appendChild(use);
        list.appendChild(item);
      });
      panel.hidden = body.suggestions.length === 0;
    })
    .catch(function () { panel.hidden = true; });
})();
