// The segment builder: conditions and groups added by clicking, the rule kept as the same JSON tree
// the segments API takes, a live size estimate and preview each time the rule changes.
(function () {
  "use strict";
  var form = document.getElementById("builder");
  if (!form) return;
  var root = document.getElementById("rule-root");
  var catalogue = JSON.parse(document.getElementById("catalogue").textContent);
  var initial = JSON.parse(document.getElementById("initial-rule").textContent);
  var M = JSON.parse(document.getElementById("messages").textContent);
  var csrf = form.dataset.csrf;
  var counter = 0;
  var pending = null;
  var sequence = 0;

  function t(text) { return M[text] || text; }

  var KINDS = [
    ["trait", "Trait"], ["computed", "Computed trait"], ["event", "Event"],
    ["consent", "Consent"], ["segment", "Segment"], ["identity", "Has identifier"]
  ];
  var OPS = {
    string: [["eq", "is"], ["ne", "is not"], ["contains", "contains"], ["starts_with", "starts with"],
             ["in", "is one of"], ["exists", "is set"], ["not_exists", "is not set"]],
    number: [["eq", "="], ["ne", "≠"], ["gt", ">"], ["gte", "≥"], ["lt", "<"], ["lte", "≤"],
             ["exists", "is set"], ["not_exists", "is not set"]],
    date: [["eq", "on"], ["gt", "after"], ["gte", "on or after"], ["lt", "before"],
           ["lte", "on or before"], ["exists", "is set"], ["not_exists", "is not set"]],
    boolean: [["eq", "is"], ["exists", "is set"], ["not_exists", "is not set"]]
  };
  var COUNT_OPS = [["gte", "at least"], ["lte", "at most"], ["eq", "exactly"]];
  var UNITS = [["days", "days"], ["weeks", "weeks"], ["hours", "hours"], ["minutes", "minutes"]];

  // -- the model ------------------------------------------------------------------------------
  function newCondition(kind) {
    var c = { id: ++counter, kind: kind || "trait" };
    var traits = Object.keys(catalogue.traits);
    var computed = Object.keys(catalogue.computed);
    if (c.kind === "trait") { c.name = traits[0] || ""; c.op = "eq"; c.value = ""; }
    if (c.kind === "computed") { c.name = computed[0] || ""; c.op = "gte"; c.value = ""; }
    if (c.kind === "event") { c.name = catalogue.events[0] || ""; c.countOp = "gte"; c.count = 1; c.last = ""; c.unit = "days"; }
    if (c.kind === "consent") { c.name = catalogue.purposes[0] || ""; c.status = "granted"; }
    if (c.kind === "segment") { c.name = catalogue.segments.length ? catalogue.segments[0].name : ""; }
    if (c.kind === "identity") { c.name = catalogue.identifiers.indexOf("email") >= 0 ? "email" : (catalogue.identifiers[0] || ""); }
    return c;
  }
  function newGroup(mode) { return { id: ++counter, kind: "group", mode: mode || "all", items: [] }; }

  function fromJson(node) {
    if (!node) return null;
    if (node.all || node.any) {
      var g = newGroup(node.all ? "all" : "any");
      (node.all || node.any).forEach(function (n) { g.items.push(fromJson(n)); });
      return g;
    }
    if (node.not && (node.not.all || node.not.any)) {
      var inner = fromJson(node.not);
      inner.mode = inner.mode === "any" ? "none" : "notall";
      return inner;
    }
    if (node.not) { var ng = newGroup("none"); ng.items.push(fromJson(node.not)); return ng; }
    var c;
    if (node.trait !== undefined || node.computed !== undefined) {
      c = newCondition(node.trait !== undefined ? "trait" : "computed");
      c.name = node.trait !== undefined ? node.trait : node.computed;
      c.op = node.op || "eq";
      c.value = Array.isArray(node.value) ? node.value.join(", ") : (node.value === undefined || node.value === null ? "" : String(node.value));
      return c;
    }
    if (node.event !== undefined && !node.where && !node.type) {
      c = newCondition("event");
      c.name = Array.isArray(node.event) ? node.event[0] : node.event;
      c.countOp = (node.count && node.count.op) || "gte";
      c.count = node.count && node.count.value !== undefined ? node.count.value : 1;
      c.last = node.within ? node.within.last : "";
      c.unit = (node.within && node.within.unit) || "days";
      if (Array.isArray(node.event) && node.event.length > 1) { c.raw = node; c.kind = "raw"; }
      return c;
    }
    if (node.consent !== undefined) { c = newCondition("consent"); c.name = node.consent; c.status = node.status || "granted"; return c; }
    if (node.segment !== undefined) { c = newCondition("segment"); c.name = node.segment; return c; }
    if (node.identity !== undefined) { c = newCondition("identity"); c.name = node.identity; return c; }
    return { id: ++counter, kind: "raw", raw: node };
  }

  function kindOf(c) {
    if (c.kind === "trait") return catalogue.traits[c.name] || "string";
    if (c.kind === "computed") return catalogue.computed[c.name] || "number";
    return "string";
  }

  function typed(c) {
    var kind = kindOf(c);
    var text = String(c.value).trim();
    if (c.op === "in" || c.op === "not_in") {
      return text.split(",").map(function (s) { return s.trim(); }).filter(function (s) { return s; })
        .map(function (s) { return kind === "number" ? Number(s) : s; });
    }
    if (kind === "number") return text === "" ? null : Number(text);
    if (kind === "boolean") return text === "true";
    return text;
  }

  function toJson(node) {
    if (node.kind === "group") {
      var items = node.items.map(toJson).filter(function (x) { return x; });
      if (!items.length) return null;
      var mode = node.mode === "none" ? "any" : (node.mode === "notall" ? "all" : node.mode);
      var body = items.length === 1 && node.mode !== "none" && node.mode !== "notall" ? items[0] : {};
      if (!(items.length === 1 && node.mode !== "none" && node.mode !== "notall")) body[mode] = items;
      if (node.mode === "none" || node.mode === "notall") {
        return { not: items.length === 1 ? items[0] : body };
      }
      return body;
    }
    if (node.kind === "raw") return node.raw;
    if (node.kind === "trait" || node.kind === "computed") {
      var out = {};
      out[node.kind] = node.name;
      out.op = node.op;
      if (node.op !== "exists" && node.op !== "not_exists") out.value = typed(node);
      return out;
    }
    if (node.kind === "event") {
      var ev = { event: node.name, count: { op: node.countOp, value: Number(node.count) } };
      if (String(node.last).trim() !== "") ev.within = { last: Number(node.last), unit: node.unit };
      return ev;
    }
    if (node.kind === "consent") return { consent: node.name, status: node.status };
    if (node.kind === "segment") return { segment: node.name };
    if (node.kind === "identity") return { identity: node.name };
    return null;
  }

  var model = newGroup("all");
  var loaded = fromJson(initial);
  if (loaded && loaded.kind === "group") model = loaded;
  else if (loaded) model.items.push(loaded);

  // -- the view -------------------------------------------------------------------------------
  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === "text") node.textContent = attrs[k];
      else if (k === "on") Object.keys(attrs.on).forEach(function (e) { node.addEventListener(e, attrs.on[e]); });
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { if (c) node.appendChild(c); });
    return node;
  }

  function select(label, options, value, onChange) {
    var s = el("select", { "aria-label": label });
    options.forEach(function (o) {
      var opt = el("option", { value: o[0], text: o[1] });
      if (String(o[0]) === String(value)) opt.selected = true;
      s.appendChild(opt);
    });
    s.addEventListener("change", function () { onChange(s.value); });
    return s;
  }

  function input(label, value, type, onInput) {
    var i = el("input", { "aria-label": label, type: type || "text", value: value === undefined ? "" : value });
    i.addEventListener("input", function () { onInput(i.value); });
    return i;
  }

  function names(list) { return list.map(function (n) { return [n, n]; }); }
  function labelled(list) { return list.map(function (o) { return [o[0], t(o[1])]; }); }

  function renderCondition(c, parent, position, path) {
    var where = t("Condition") + " " + path;
    var row = el("div", { "class": "condition", role: "group", "aria-label": where });
    row.appendChild(select(where + " · " + t("kind"), labelled(KINDS.concat(c.kind === "raw" ? [["raw", "Other"]] : [])), c.kind, function (v) {
      parent.items[position] = newCondition(v); redraw();
    }));
    if (c.kind === "trait" || c.kind === "computed") {
      var pool = c.kind === "trait" ? catalogue.traits : catalogue.computed;
      row.appendChild(select(where + " · " + t("name"), names(Object.keys(pool)), c.name, function (v) { c.name = v; c.op = "eq"; redraw(); }));
      var kind = kindOf(c);
      row.appendChild(select(where + " · " + t("operator"), labelled(OPS[kind] || OPS.string), c.op, function (v) { c.op = v; redraw(); }));
      if (c.op !== "exists" && c.op !== "not_exists") {
        if (kind === "boolean") {
          row.appendChild(select(where + " · " + t("value"), [["true", t("true")], ["false", t("false")]], c.value || "true", function (v) { c.value = v; changed(); }));
          if (!c.value) c.value = "true";
        } else {
          row.appendChild(input(where + " · " + t("value"), c.value, kind === "date" && c.op !== "in" ? "date" : (kind === "number" ? "number" : "text"), function (v) { c.value = v; changed(); }));
        }
      }
    } else if (c.kind === "event") {
      row.appendChild(select(where + " · " + t("event"), names(catalogue.events), c.name, function (v) { c.name = v; changed(); }));
      row.appendChild(select(where + " · " + t("how often"), labelled(COUNT_OPS), c.countOp, function (v) { c.countOp = v; changed(); }));
      var count = input(where + " · " + t("times"), c.count, "number", function (v) { c.count = v; changed(); });
      count.min = "0"; count.className = "short";
      row.appendChild(count);
      row.appendChild(el("span", { text: t("times, in the last") }));
      var last = input(where + " · " + t("window (empty: ever)"), c.last, "number", function (v) { c.last = v; changed(); });
      last.min = "1"; last.className = "short"; last.placeholder = t("ever");
      row.appendChild(last);
      row.appendChild(select(where + " · " + t("unit"), labelled(UNITS), c.unit, function (v) { c.unit = v; changed(); }));
    } else if (c.kind === "consent") {
      row.appendChild(select(where + " · " + t("purpose"), names(catalogue.purposes), c.name, function (v) { c.name = v; changed(); }));
      row.appendChild(select(where + " · " + t("status"), [["granted", t("granted")], ["denied", t("denied")]], c.status, function (v) { c.status = v; changed(); }));
    } else if (c.kind === "segment") {
      row.appendChild(select(where + " · " + t("segment"), catalogue.segments.map(function (s) { return [s.name, s.title]; }), c.name, function (v) { c.name = v; changed(); }));
    } else if (c.kind === "identity") {
      row.appendChild(select(where + " · " + t("identifier"), names(catalogue.identifiers), c.name, function (v) { c.name = v; changed(); }));
    } else if (c.kind === "raw") {
      row.appendChild(el("code", { text: JSON.stringify(c.raw) }));
    }
    row.appendChild(el("button", { type: "button", "class": "remove", "aria-label": t("Remove") + " " + where.toLowerCase(), text: "✕",
      on: { click: function () { parent.items.splice(position, 1); redraw(); } } }));
    return row;
  }

  function renderGroup(g, parent, position, depth, path) {
    var name = path ? t("Group") + " " + path : t("Rule");
    var prefix = path ? path + "." : "";
    var box = el("div", { "class": "group depth-" + depth, role: "group", "aria-label": name });
    var head = el("div", { "class": "group-head" });
    head.appendChild(select(name + " · " + t("match"), labelled([["all", "all of"], ["any", "any of"], ["none", "none of"]]), g.mode === "notall" ? "none" : g.mode, function (v) { g.mode = v; changed(); }));
    head.appendChild(el("span", { text: t("these conditions") }));
    if (parent) {
      head.appendChild(el("button", { type: "button", "class": "remove", "aria-label": t("Remove") + " " + name.toLowerCase(), text: "✕",
        on: { click: function () { parent.items.splice(position, 1); redraw(); } } }));
    }
    box.appendChild(head);
    g.items.forEach(function (item, i) {
      var at = prefix + (i + 1);
      box.appendChild(item.kind === "group" ? renderGroup(item, g, i, depth + 1, at) : renderCondition(item, g, i, at));
    });
    var actions = el("div", { "class": "group-actions" });
    actions.appendChild(el("button", { type: "button", "class": "secondary add-condition", text: "+ " + t("Add condition"),
      "aria-label": t("Add condition") + (path ? " · " + name : ""),
      on: { click: function () {
        g.items.push(newCondition("trait"));
        redraw(t("Condition") + " " + prefix + g.items.length + " · " + t("kind"));
      } } }));
    if (depth < 3) {
      actions.appendChild(el("button", { type: "button", "class": "secondary add-group", text: "+ " + t("Add group"),
        "aria-label": t("Add group") + (path ? " · " + name : ""),
        on: { click: function () {
          var ng = newGroup("any"); ng.items.push(newCondition("trait")); g.items.push(ng);
          redraw(t("Group") + " " + prefix + g.items.length + " · " + t("match"));
        } } }));
    }
    box.appendChild(actions);
    return box;
  }

  function redraw(focusLabel) {
    var focused = document.activeElement;
    var label = typeof focusLabel === "string" ? focusLabel
      : (focused && focused.getAttribute ? focused.getAttribute("aria-label") : null);
    root.innerHTML = "";
    root.appendChild(renderGroup(model, null, 0, 0, ""));
    if (label) {
      var again = root.querySelector('[aria-label="' + label.replace(/"/g, '\\"') + '"]');
      if (again) again.focus();
    }
    changed();
  }

  // -- estimate, preview, save ----------------------------------------------------------------
  var sizeOut = document.getElementById("size");
  var ruleText = document.getElementById("rule-text");
  var problems = document.getElementById("problems");
  var preview = document.querySelector("#preview tbody");

  function showProblems(list) {
    problems.innerHTML = "";
    (list || []).forEach(function (p) { problems.appendChild(el("li", { text: (p[0] ? p[0] + ": " : "") + p[1] })); });
  }

  function post(url, body) {
    return fetch(url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify(body)
    }).then(function (r) { return r.json(); });
  }

  function changed() {
    if (pending) clearTimeout(pending);
    form.dataset.state = "estimating";
    pending = setTimeout(estimate, 250);
  }

  function estimate() {
    var rule = toJson(model);
    var mine = ++sequence;
    if (!rule) {
      sizeOut.textContent = "–"; ruleText.textContent = ""; preview.innerHTML = "";
      showProblems([]); form.dataset.state = "empty"; return;
    }
    post("/ui/api/estimate", { rule: rule }).then(function (answer) {
      if (mine !== sequence) return;
      preview.innerHTML = "";
      if (!answer.ok) {
        sizeOut.textContent = "–"; ruleText.textContent = "";
        showProblems(answer.problems || [["", answer.detail || answer.error]]);
        form.dataset.state = "invalid";
        return;
      }
      showProblems([]);
      sizeOut.textContent = new Intl.NumberFormat(document.documentElement.lang).format(answer.size);
      sizeOut.dataset.value = String(answer.size);
      ruleText.textContent = answer.text;
      answer.members.forEach(function (m) {
        var traits = Object.keys(m.traits).map(function (k) { return m.traits[k]; }).join(" · ");
        preview.appendChild(el("tr", {}, [
          el("td", {}, [el("a", { href: "/ui/profiles/" + encodeURIComponent(m.profile_id), text: m.profile_id })]),
          el("td", { text: traits })
        ]));
      });
      form.dataset.state = "ready";
    }).catch(function () { if (mine === sequence) { form.dataset.state = "failed"; } });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var rule = toJson(model);
    if (!rule) { showProblems([["", t("Add a condition first.")]]); return; }
    form.dataset.state = "saving";
    post("/ui/api/segments", {
      name: form.elements.name.value.trim(), title: form.elements.title.value,
      description: form.elements.description.value, rule: rule
    }).then(function (answer) {
      if (answer.ok) { window.location.assign(answer.url); return; }
      form.dataset.state = "invalid";
      showProblems(answer.problems || [["", answer.detail || answer.error]]);
    });
  });

  redraw();
})();
