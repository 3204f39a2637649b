// Typeahead for the search box: suggestions from GET /suggest as an ARIA 1.2 combobox with
// a listbox popup. Up / Down move through the suggestions, Enter opens the one selected,
// Escape closes the list; with nothing selected, Enter submits the form as without script.
(function () {
  "use strict";
  var input = document.querySelector("input[data-suggest]");
  if (!input || !window.fetch || !window.URLSearchParams) return;
  var form = input.form;
  var version = form ? form.elements.namedItem("version") : null;
  var listbox = document.createElement("ul");
  var status = document.createElement("div");
  var items = [];
  var active = -1;
  var timer = 0;
  var pending = null;
  var asked = null;

  listbox.id = input.id + "-suggestions";
  listbox.className = "suggestions";
  listbox.setAttribute("role", "listbox");
  listbox.setAttribute("aria-label", "Suggested codes");
  listbox.hidden = true;
  status.className = "visually-hidden";
  status.setAttribute("role", "status");
  input.insertAdjacentElement("afterend", listbox);
  listbox.insertAdjacentElement("afterend", status);
  input.setAttribute("role", "combobox");
  input.setAttribute("aria-autocomplete", "list");
  input.setAttribute("aria-expanded", "false");
  input.setAttribute("aria-controls", listbox.id);

  function codeUrl(item) {
    var href = "/code/" + encodeURIComponent(item.code);
    var chosen = version ? version.value : "";
    if (chosen && chosen !== input.getAttribute("data-default-version")) {
      href += "?version=" + encodeURIComponent(chosen);
    }
    return href;
  }

  function open() {
    listbox.hidden = false;
    input.setAttribute("aria-expanded", "true");
  }

  function close() {
    listbox.hidden = true;
    input.setAttribute("aria-expanded", "false");
    input.removeAttribute("aria-activedescendant");
    select(-1);
  }

  function select(index) {
    var options = listbox.children;
    for (var i = 0; i < options.length; i++) {
      options[i].setAttribute("aria-selected", i === index ? "true" : "false");
    }
    active = index;
    if (index >= 0 && options[index]) {
      input.setAttribute("aria-activedescendant", options[index].id);
      options[index].scrollIntoView({ block: "nearest" });
    } else {
      input.removeAttribute("aria-activedescendant");
    }
  }

  function show(found) {
    items = found;
    listbox.textContent = "";
    found.forEach(function (item, i) {
      var option = document.createElement("li");
      var code = document.createElement("span");
      var display = document.createElement("span");
      option.id = listbox.id + "-" + i;
      option.setAttribute("role", "option");
      option.setAttribute("aria-selected", "false");
      code.className = "code";
      code.textContent = item.code;
      display.textContent = item.display;
      option.appendChild(code);
      option.appendChild(display);
      if (item.inactive) {
        var badge = document.createElement("span");
        badge.className = "badge";
        badge.textContent = "terminated";
        option.appendChild(document.createTextNode(" "));
        option.appendChild(badge);
      }
      option.addEventListener("mousedown", function (event) {
        event.preventDefault(); // keep the focus in the box
        go(i);
      });
      listbox.appendChild(option);
    });
    active = -1;
    input.removeAttribute("aria-activedescendant");
    if (found.length) {
      open();
      status.textContent = found.length + (found.length === 1 ? " suggestion" : " suggestions") +
        ": use the up and down arrows, then Enter to open one.";
    } else {
      close();
      status.textContent = "No suggestions.";
    }
  }

  function go(index) {
    if (items[index]) window.location.assign(codeUrl(items[index]));
  }

  function fetchSuggestions() {
    var text = input.value.trim();
    var params = new URLSearchParams({ q: text });
    if (version && version.value) params.set("version", version.value);
    var key = params.toString();
    if (key === asked) return;
    asked = key;
    if (pending) pending.abort();
    if (!text) {
      items = [];
      close();
      return;
    }
    pending = window.AbortController ? new AbortController() : null;
    fetch(input.getAttribute("data-suggest") + "?" + key, {
      headers: { Accept: "application/json" },
      signal: pending ? pending.signal : undefined,
    })
      .then(function (response) { return response.ok ? response.json() : []; })
      .then(function (found) { if (key === asked) show(found); })
      .catch(function (error) { if (error.name !== "AbortError") close(); });
  }

  input.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(fetchSuggestions, 120);
  });
  if (version) version.addEventListener("change", function () { asked = null; });

  input.addEventListener("keydown", function (event) {
    var shown = !listbox.hidden && items.length > 0;
    if (event.key === "ArrowDown") {
      if (!items.length) return;
      event.preventDefault();
      if (!shown) open();
      select(active + 1 < items.length ? active + 1 : 0);
    } else if (event.key === "ArrowUp") {
      if (!items.length) return;
      event.preventDefault();
      if (!shown) open();
      select(active > 0 ? active - 1 : items.length - 1);
    } else if (event.key === "Enter") {
      if (shown && active >= 0) {
        event.preventDefault();
        go(active);
      }
    } else if (event.key === "Escape") {
      if (shown) {
        event.preventDefault();
        close();
      }
    } else if (event.key === "Tab") {
      close();
    }
  });
  input.addEventListener("blur", function () { close(); });
})();
