// The language switch: the widget lists the languages it speaks; the choice is remembered.
window.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("chat-language");
  var widget = window.RelayWidget;
  if (!widget) { return; }
  Object.keys(widget.languages).forEach(function (code) {
    var option = document.createElement("option");
    option.value = code;
    option.textContent = widget.languages[code];
    select.appendChild(option);
  });
  select.value = widget.language();
  select.addEventListener("change", function () { widget.setLanguage(select.value); });
});
