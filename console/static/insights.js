/* The Insights page: every chart and table is drawn here from /api/v1/insights/... (JSON),
 * with the bearer token the page carries. Text from customers is set with textContent only.
 * Charts: Chart.js (vendored in console/static/vendor, served by Relay). */
(function () {
  "use strict";
  var root = document.getElementById("insights");
  if (!root) { return; }
  var TOKEN = root.getAttribute("data-token");
  var API = root.getAttribute("data-api");
  var TEAM = root.getAttribute("data-team") === "yes";
  var PALETTE = ["#2855d8", "#14804a", "#d97706", "#b42318", "#7a5af8", "#0e9384", "#c11574", "#667085"];
  var CHANNEL_COLORS = { web: "#2855d8", telegram: "#0e9384", rest: "#667085" };
  var SEGMENT_COLORS = { champions: "#14804a", loyal: "#2855d8", "new": "#7a5af8", "at risk": "#d97706", dormant: "#98a2b3" };
  var WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
  var charts = {};
  var available = {};

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) { node.className = className; }
    if (text !== undefined && text !== null) { node.textContent = String(text); }
    return node;
  }

  // A saved report (crm_store.report) carries its data: the same drawing, no server.
  var EMBEDDED = window.RELAY_INSIGHTS_DATA || null;

  function request(method, url, body) {
    if (EMBEDDED) {
      var key = url.split("?")[0];
      if (method === "GET" && Object.prototype.hasOwnProperty.call(EMBEDDED.responses, key)) {
        return Promise.resolve(EMBEDDED.responses[key]);
      }
      return Promise.reject(new Error("This saved report cannot do that: open the Insights page."));
    }
    var options = { method: method, headers: { Authorization: "Bearer " + TOKEN, Accept: "application/json" } };
    if (body !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(body);
    }
    return fetch(url, options).then(function (response) {
      if (response.status === 401) { window.location.href = "/console/login?next=/console/insights"; }
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok) { throw new Error(data.detail || ("HTTP " + response.status)); }
        return data;
      });
    });
  }

  function showError(error) {
    var box = document.getElementById("insights-error");
    box.textContent = String(error.message || error);
    box.hidden = false;
  }

  // --- filters --------------------------------------------------------------------------
  function isoDay(date) { return date.toISOString().slice(0, 10); }
  var params = new URLSearchParams(window.location.search);
  var today = new Date();
  var monthAgo = new Date(today.getTime() - 29 * 86400000);
  var fromInput = document.getElementById("filter-from");
  var toInput = document.getElementById("filter-to");
  var channelInput = document.getElementById("filter-channel");
  fromInput.value = params.get("from") || isoDay(monthAgo);
  toInput.value = params.get("to") || isoDay(today);
  channelInput.value = params.get("channel") || "";
  if (EMBEDDED) {
    fromInput.value = EMBEDDED.scope.from;
    toInput.value = EMBEDDED.scope.to;
    channelInput.value = EMBEDDED.scope.channel || "";
  }

  function query(extra) {
    var q = new URLSearchParams({ from: fromInput.value, to: toInput.value });
    if (channelInput.value) { q.set("channel", channelInput.value); }
    Object.keys(extra || {}).forEach(function (k) { q.set(k, extra[k]); });
    return q.toString();
  }

  document.getElementById("filters").addEventListener("submit", function (event) {
    event.preventDefault();
    history.replaceState(null, "", "?" + query());
    loadFigures();
  });

  // --- formatting -----------------------------------------------------------------------
  function duration(seconds) {
    if (seconds === null || seconds === undefined) { return "—"; }
    if (seconds < 90) { return Math.round(seconds) + " s"; }
    if (seconds < 5400) { return Math.round(seconds / 60) + " min"; }
    if (seconds < 172800) { return (seconds / 3600).toFixed(1) + " h"; }
    return (seconds / 86400).toFixed(1) + " d";
  }
  function percent(value) { return value === null || value === undefined ? "—" : (value * 100).toFixed(1) + " %"; }
  function cell(column, value) {
    if (value === null || value === undefined) { return "—"; }
    if (/(_rate|^share$|^conversion$)/.test(column)) { return percent(value); }
    if (/_s$/.test(column)) { return duration(value); }
    return value;
  }

  // --- tables ---------------------------------------------------------------------------
  function download(url, name) {
    fetch(url, { headers: { Authorization: "Bearer " + TOKEN } })
      .then(function (response) {
        if (!response.ok) { throw new Error("CSV export failed: HTTP " + response.status); }
        return response.blob();
      })
      .then(function (blob) {
        var link = el("a");
        link.href = URL.createObjectURL(blob);
        link.download = name;
        document.body.appendChild(link);
        link.click();
        setTimeout(function () { URL.revokeObjectURL(link.href); link.remove(); }, 1000);
      })
      .catch(showError);
  }

  document.addEventListener("click", function (event) {
    var button = event.target.closest("button.csv");
    if (button) { download(button.getAttribute("data-csv"), button.getAttribute("data-name")); }
  });

  function renderTable(container, figure, csvUrl) {
    container.replaceChildren();
    var head = el("div", "table-head");
    head.appendChild(el("span", "muted", figure.rows.length + " row" + (figure.rows.length === 1 ? "" : "s")));
    var csv = el("button", "csv", "CSV");
    csv.type = "button";
    csv.setAttribute("data-csv", csvUrl);
    csv.setAttribute("data-name", figure.name + ".csv");
    head.appendChild(csv);
    container.appendChild(head);
    var table = el("table", "data");
    var thead = el("thead");
    var tr = el("tr");
    figure.columns.forEach(function (c) { tr.appendChild(el("th", null, c.replace(/_/g, " "))); });
    thead.appendChild(tr);
    table.appendChild(thead);
    var tbody = el("tbody");
    figure.rows.forEach(function (row) {
      var r = el("tr");
      figure.columns.forEach(function (c) {
        var td = el("td", typeof row[c] === "number" ? "num" : null, cell(c, row[c]));
        r.appendChild(td);
      });
      tbody.appendChild(r);
    });
    table.appendChild(tbody);
    var wrap = el("div", "scroll");
    // A table wider or taller than its box scrolls: keyboard users reach it with Tab.
    wrap.tabIndex = 0;
    wrap.setAttribute("role", "region");
    wrap.setAttribute("aria-label", figure.name.replace(/-/g, " ") + " table");
    wrap.appendChild(table);
    if (container.getAttribute("data-collapsed") === "yes") {
      var details = el("details");
      details.appendChild(el("summary", null, "Table"));
      details.appendChild(wrap);
      container.appendChild(details);
    } else {
      container.appendChild(wrap);
    }
  }

  function chart(id, config) {
    var canvas = document.getElementById(id);
    if (!canvas || !window.Chart) { return; }
    if (charts[id]) { charts[id].destroy(); }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false,
      plugins: { legend: { position: "bottom" } } }, config.options || {});
    charts[id] = new window.Chart(canvas, config);
  }

  // --- charts per figure ----------------------------------------------------------------
  var draw = {
    "conversations-per-day": function (f) {
      var days = [];
      var start = new Date(fromInput.value + "T00:00:00Z");
      var end = new Date(toInput.value + "T00:00:00Z");
      for (var d = start; d <= end; d = new Date(d.getTime() + 86400000)) { days.push(isoDay(d)); }
      var channels = Array.from(new Set(f.rows.map(function (r) { return r.channel; }))).sort();
      chart("chart-conversations", { type: "bar", data: { labels: days, datasets: channels.map(function (c, i) {
        var byDay = {};
        f.rows.filter(function (r) { return r.channel === c; }).forEach(function (r) { byDay[r.day] = r.conversations; });
        return { label: c, data: days.map(function (day) { return byDay[day] || 0; }), backgroundColor: CHANNEL_COLORS[c] || PALETTE[i] };
      }) }, options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } });
    },
    "busiest-hours": function (f) {
      var grid = {}; var max = 0;
      f.rows.forEach(function (r) { grid[r.weekday + ":" + r.hour] = r.conversations; max = Math.max(max, r.conversations); });
      var table = el("table", "heat");
      var head = el("tr"); head.appendChild(el("td"));  // the corner heads nothing
      for (var h = 0; h < 24; h++) { head.appendChild(el("th", null, h)); }
      table.appendChild(head);
      WEEKDAYS.forEach(function (name, wd) {
        var tr = el("tr"); tr.appendChild(el("th", null, name));
        for (var hour = 0; hour < 24; hour++) {
          var n = grid[wd + ":" + hour] || 0;
          var td = el("td", null, n || "");
          td.title = name + " " + hour + ":00 UTC — " + n + " conversations";
          // Neither dark nor white text reads on the middle of a one-hue ramp (WCAG AA, 4.5:1),
          // so the ramp skips it: dark text up to 0.68 opacity, white text from 0.86.
          var share = n / max;
          var alpha = share > 0.55 ? 0.86 + 0.14 * (share - 0.55) / 0.45 : 0.12 + 0.56 * share / 0.55;
          td.style.background = n ? "rgba(40, 85, 216, " + alpha.toFixed(2) + ")" : "#f6f7fb";
          if (share > 0.55) { td.style.color = "#fff"; }
          tr.appendChild(td);
        }
        table.appendChild(tr);
      });
      document.getElementById("heatmap").replaceChildren(table);
    },
    "containment": function (f) {
      var rows = f.rows.filter(function (r) { return r.channel !== "all"; });
      chart("chart-containment", { type: "bar", data: { labels: rows.map(function (r) { return r.channel; }), datasets: [
        { label: "bot finished", data: rows.map(function (r) { return r.contained; }), backgroundColor: "#14804a" },
        { label: "handed to a person", data: rows.map(function (r) { return r.handed_off; }), backgroundColor: "#d97706" }
      ] }, options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true } } } });
    },
    "faq-outcomes": function (f) {
      chart("chart-outcomes", { type: "doughnut", data: { labels: f.rows.map(function (r) { return r.outcome; }), datasets: [
        { data: f.rows.map(function (r) { return r.questions; }), backgroundColor: ["#14804a", "#2855d8", "#b42318"] }] } });
    },
    "faq-entries": function (f) {
      var rows = f.rows.slice(0, 12);
      chart("chart-entries", { type: "bar", data: { labels: rows.map(function (r) { return r.entry_id; }), datasets: [
        { label: "answers", data: rows.map(function (r) { return r.answers; }), backgroundColor: "#2855d8" },
        { label: "then asked for a person", data: rows.map(function (r) { return r.then_asked_for_person; }), backgroundColor: "#b42318" }
      ] }, options: { indexAxis: "y", scales: { x: { beginAtZero: true } } } });
    },
    "agents": function (f) {
      chart("chart-agents", { type: "bar", data: { labels: f.rows.map(function (r) { return r.agent; }), datasets: [
        { label: "first reply, median (min)", data: f.rows.map(function (r) { return r.first_reply_median_s === null ? null : r.first_reply_median_s / 60; }), backgroundColor: "#2855d8" },
        { label: "first reply, p90 (min)", data: f.rows.map(function (r) { return r.first_reply_p90_s === null ? null : r.first_reply_p90_s / 60; }), backgroundColor: "#9fb6ff" },
        { label: "resolution, median (min)", data: f.rows.map(function (r) { return r.resolution_median_s === null ? null : r.resolution_median_s / 60; }), backgroundColor: "#14804a" }
      ] }, options: { scales: { y: { beginAtZero: true, title: { display: true, text: "minutes" } } } } });
    },
    "queue": function (f) {
      chart("chart-queue", { type: "bar", data: { labels: f.rows.map(function (r) { return r.age; }), datasets: [
        { label: "waiting", data: f.rows.map(function (r) { return r.waiting; }), backgroundColor: "#d97706" },
        { label: "with an agent", data: f.rows.map(function (r) { return r.with_agent; }), backgroundColor: "#2855d8" }
      ] }, options: { scales: { x: { stacked: true }, y: { stacked: true, beginAtZero: true, ticks: { precision: 0 } } } } });
    },
    "lead-funnel": function (f) {
      chart("chart-funnel", { type: "bar", data: { labels: f.rows.map(function (r) { return r.stage; }), datasets: [
        { label: "leads reaching the stage", data: f.rows.map(function (r) { return r.reached; }),
          backgroundColor: f.rows.map(function (r) { return r.stage === "lost" ? "#b42318" : (r.stage === "won" ? "#14804a" : "#2855d8"); }) }
      ] }, options: { indexAxis: "y", plugins: { legend: { display: false } }, scales: { x: { beginAtZero: true, ticks: { precision: 0 } } } } });
    },
    "lead-sources": function (f) {
      chart("chart-sources", { type: "bar", data: { labels: f.rows.map(function (r) { return r.source; }), datasets: [
        { label: "leads", data: f.rows.map(function (r) { return r.leads; }), backgroundColor: "#2855d8" },
        { label: "won", data: f.rows.map(function (r) { return r.won; }), backgroundColor: "#14804a" },
        { label: "lost", data: f.rows.map(function (r) { return r.lost; }), backgroundColor: "#b42318" }
      ] }, options: { scales: { y: { beginAtZero: true, ticks: { precision: 0 } } } } });
    }
  };

  // --- KPIs -----------------------------------------------------------------------------
  var kpiValues = {};
  function kpi(key, label, value) {
    kpiValues[key] = [label, value];
    var box = document.getElementById("kpis");
    box.replaceChildren();
    Object.keys(kpiValues).forEach(function (k) {
      var card = el("div", "kpi");
      card.setAttribute("data-kpi", k);
      card.appendChild(el("div", "kpi-value", kpiValues[k][1]));
      card.appendChild(el("div", "kpi-label", kpiValues[k][0]));
      box.appendChild(card);
    });
  }
  var kpiFrom = {
    "containment": function (f) {
      var all = f.rows[f.rows.length - 1];
      kpi("conversations", "conversations", all.conversations);
      kpi("containment", "finished by the bot", percent(all.containment_rate));
    },
    "faq-outcomes": function (f) {
      var answered = f.rows.filter(function (r) { return r.outcome === "answered"; })[0];
      kpi("answered", "questions answered", percent(answered && answered.share));
    },
    "agents": function (f) {
      var row = f.rows[f.rows.length - 1];
      kpi("first-reply", "median first reply", row ? duration(row.first_reply_median_s) : "—");
    },
    "queue": function (f) {
      kpi("queue", "in the queue now", f.rows.reduce(function (n, r) { return n + r.conversations; }, 0));
    }
  };

  function loadFigures() {
    document.getElementById("insights-error").hidden = true;
    var containers = Array.prototype.slice.call(document.querySelectorAll(".table[data-figure]"))
      .filter(function (c) { return available[c.getAttribute("data-figure")]; });
    return Promise.all(containers.map(function (container) {
      var name = container.getAttribute("data-figure");
      var url = API + "/" + name + "?" + query();
      return request("GET", url).then(function (figure) {
        renderTable(container, figure, url + "&format=csv");
        if (draw[name]) { draw[name](figure); }
        if (kpiFrom[name]) { kpiFrom[name](figure); }
      });
    })).then(function () {
      document.getElementById("loaded-at").textContent = "updated " + new Date().toLocaleTimeString();
      root.setAttribute("data-loaded", "yes");
    }).catch(showError);
  }

  // --- knowledge gaps -------------------------------------------------------------------
  function sparkline(canvas, weekly) {
    var ctx = canvas.getContext("2d");
    var max = Math.max.apply(null, weekly.concat([1]));
    var w = canvas.width / weekly.length;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    weekly.forEach(function (n, i) {
      var h = Math.round((canvas.height - 2) * n / max);
      ctx.fillStyle = i === weekly.length - 1 ? "#2855d8" : "#9fb6ff";
      ctx.fillRect(i * w + 1, canvas.height - h, w - 2, h);
    });
  }

  function gapCard(cluster) {
    var node = document.getElementById("gap-template").content.firstElementChild.cloneNode(true);
    node.setAttribute("data-cluster", cluster.id);
    node.querySelector(".gap-label").textContent = cluster.label;
    node.querySelector(".gap-size").textContent = cluster.size + " question" + (cluster.size === 1 ? "" : "s");
    var trend = node.querySelector(".gap-trend");
    trend.textContent = cluster.trend > 0.2 ? "▲ rising" : (cluster.trend < -0.2 ? "▼ falling" : "▬ steady");
    trend.className = "gap-trend " + (cluster.trend > 0.2 ? "up" : (cluster.trend < -0.2 ? "down" : "flat"));
    sparkline(node.querySelector(".gap-spark"), cluster.weekly);
    node.querySelector(".gap-nearest").textContent = cluster.nearest_entry_id
      ? "Nearest entry: " + cluster.nearest_entry_id + " (“" + cluster.nearest_question + "”, similarity " + (cluster.nearest_similarity || 0).toFixed(2) + ")"
      : "No entry is near.";
    var examples = node.querySelector(".gap-examples");
    cluster.draft_questions.slice(0, 5).forEach(function (q) { examples.appendChild(el("li", null, q)); });
    if (cluster.agent_answer) {
      var agentLine = node.querySelector(".gap-agent");
      agentLine.hidden = false;
      agentLine.querySelector("span").textContent = cluster.agent_answer;
    }
    var form = node.querySelector(".gap-form");
    var paraphrase = node.querySelector(".gap-paraphrase");
    if (cluster.nearest_entry_id) {
      paraphrase.textContent = "Add as paraphrases of " + cluster.nearest_entry_id;
      if (cluster.suggestion !== "paraphrases") { paraphrase.classList.remove("primary"); }
    } else {
      paraphrase.hidden = true;
    }
    if (cluster.suggestion === "new") { node.querySelector(".gap-new").classList.add("primary"); }
    var mode = "new";
    function open(asMode) {
      mode = asMode;
      form.hidden = false;
      form.elements.entry_id.value = asMode === "paraphrases" ? cluster.nearest_entry_id : cluster.draft_entry_id;
      form.elements.entry_id.readOnly = asMode === "paraphrases";
      form.elements.questions.value = cluster.draft_questions.join("\n");
      form.querySelector(".gap-answer").hidden = asMode === "paraphrases";
      form.elements.answer.required = asMode === "new";
      form.elements.answer.value = cluster.draft_answer;
      form.querySelector(".gap-result").textContent = "";
      (asMode === "new" ? form.elements.answer : form.elements.questions).focus();
    }
    paraphrase.addEventListener("click", function () { open("paraphrases"); });
    node.querySelector(".gap-new").addEventListener("click", function () { open("new"); });
    node.querySelector(".gap-cancel").addEventListener("click", function () { form.hidden = true; });
    node.querySelector(".gap-dismiss").addEventListener("click", function () {
      request("POST", API + "/gaps/clusters/" + cluster.id + "/dismiss").then(function () { node.remove(); }).catch(showError);
    });
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var questions = form.elements.questions.value.split("\n").map(function (q) { return q.trim(); }).filter(Boolean);
      var body = { mode: mode, entry_id: form.elements.entry_id.value.trim(), questions: questions };
      if (mode === "new") { body.answer = form.elements.answer.value.trim(); }
      var result = form.querySelector(".gap-result");
      result.textContent = "Saving and rebuilding the FAQ index…";
      form.querySelector("button[type=submit]").disabled = true;
      request("POST", API + "/gaps/clusters/" + cluster.id + "/apply", body).then(function (saved) {
        result.textContent = "Saved to " + saved.source + " as “" + saved.entry_id + "” (" + saved.questions.length + " questions). The bot answers it from now on.";
        node.classList.add("applied");
        node.querySelector(".gap-buttons").hidden = true;
      }).catch(function (error) {
        result.textContent = error.message;
        form.querySelector("button[type=submit]").disabled = false;
      });
    });
    return node;
  }

  function loadGaps() {
    return request("GET", API + "/gaps").then(function (body) {
      var list = document.getElementById("gap-list");
      list.replaceChildren();
      body.clusters.forEach(function (c) { list.appendChild(gapCard(c)); });
      document.getElementById("gaps-empty").hidden = body.clusters.length > 0;
      var run = body.run;
      var latest = body.latest;
      var text = run ? "mined " + new Date(run.finished_at).toLocaleString() + " from " + run.questions + " questions" : "never mined";
      if (latest && latest.status === "running") { text = "mining…"; }
      if (latest && latest.status === "failed") { text += " · last run failed: " + (latest.error || "unknown error"); }
      document.getElementById("gaps-run").textContent = text;
      return latest;
    });
  }

  function pollRun(id) {
    return request("GET", API + "/gaps/runs/" + id).then(function (run) {
      if (run.status === "running") {
        return new Promise(function (resolve) { setTimeout(resolve, 1500); }).then(function () { return pollRun(id); });
      }
      return loadGaps();
    });
  }

  var rerun = document.getElementById("gaps-rerun");
  if (rerun) {
    rerun.addEventListener("click", function () {
      rerun.disabled = true;
      document.getElementById("gaps-run").textContent = "mining…";
      request("POST", API + "/gaps/runs").then(function (run) { return pollRun(run.id); })
        .catch(showError).then(function () { rerun.disabled = false; });
    });
  }

  // --- segments -------------------------------------------------------------------------
  function loadSegments() {
    var summary = document.querySelector('[data-figure="segments"]');
    var url = API + "/segments";
    return Promise.all([
      request("GET", url).then(function (figure) {
        renderTable(summary, figure, url + "?format=csv");
        var at = figure.rows.length ? figure.rows[0].computed_at : null;
        document.getElementById("segments-at").textContent = at ? "computed " + new Date(at).toLocaleString() : "not computed yet";
      }),
      request("GET", url + "/points").then(function (figure) {
        var names = Array.from(new Set(figure.rows.map(function (r) { return r.segment; })));
        chart("chart-segments", { type: "scatter", data: { datasets: names.map(function (name) {
          return { label: name, backgroundColor: SEGMENT_COLORS[name] || "#667085", pointRadius: 3,
            data: figure.rows.filter(function (r) { return r.segment === name; }).map(function (r) {
              return { x: r.recency_days, y: r.frequency + (r.customer_id % 7 - 3) * 0.04, m: r.monetary };
            }) };
        }) }, options: { scales: {
          x: { title: { display: true, text: "days since last contact (recency)" }, beginAtZero: true },
          y: { title: { display: true, text: "conversations in the last year (frequency)" }, beginAtZero: true } },
          plugins: { legend: { position: "bottom" }, tooltip: { callbacks: { label: function (item) {
            return item.dataset.label + ": " + Math.round(item.raw.x) + " d, " + Math.round(item.raw.y) + " conv., $" + item.raw.m; } } } } } });
      }),
      loadSegmentCustomers()
    ]);
  }

  function loadSegmentCustomers() {
    var segment = document.getElementById("segment-select").value;
    var q = new URLSearchParams({ limit: "100" });
    if (segment) { q.set("segment", segment); }
    var url = API + "/segments/customers?" + q.toString();
    return request("GET", url).then(function (figure) {
      var container = document.getElementById("segment-customers");
      var csv = new URLSearchParams({ format: "csv" });
      if (segment) { csv.set("segment", segment); }
      renderTable(container, figure, API + "/segments/customers?" + csv.toString());
      container.setAttribute("data-segment", segment);
      container.querySelector(".table-head .muted").textContent = figure.scope.total + " customers" + (segment ? " in " + segment : "") + (figure.scope.total > figure.rows.length ? " (first " + figure.rows.length + " shown)" : "");
    });
  }

  var segmentSelect = document.getElementById("segment-select");
  if (segmentSelect) { segmentSelect.addEventListener("change", function () { loadSegmentCustomers().catch(showError); }); }
  var refresh = document.getElementById("segments-refresh");
  if (refresh) {
    refresh.addEventListener("click", function () {
      refresh.disabled = true;
      request("POST", API + "/segments/refresh").then(loadSegments).catch(showError).then(function () { refresh.disabled = false; });
    });
  }

  // --- start ----------------------------------------------------------------------------
  request("GET", API).then(function (figures) {
    figures.forEach(function (f) { available[f.name] = true; });
    var work = [loadFigures()];
    if (TEAM) { work.push(loadGaps().catch(showError), loadSegments().catch(showError)); }
    return Promise.all(work);
  }).catch(showError);
})();
