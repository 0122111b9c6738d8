// Helsinki dashboard: sorting tables in place, posting the question page's forms to the API.
// Plain JavaScript, no dependencies; the pages work without it (read-only, server-side sort).
"use strict";

(function () {
  const KEY_STORAGE = "helsinki.apiKey";

  // --- formatting (the same as the server's filters in service/web/pages.py) --------------
  function percent(p) {
    return p === null || p === undefined ? "—" : (100 * p).toFixed(1) + "%";
  }
  function percentInterval(iv) {
    return iv ? (100 * iv[0]).toFixed(1) + "–" + (100 * iv[1]).toFixed(1) + "%" : "—";
  }
  function pointsChange(delta) {
    const v = 100 * delta;
    if (Math.abs(v) < 0.05) return "0.0 pp";
    return v > 0 ? "+" + v.toFixed(1) + " pp" : "−" + (-v).toFixed(1) + " pp";
  }
  function utcTime(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toISOString().slice(0, 16).replace("T", " ") + " UTC";
  }
  function utcDate(iso) {
    const d = new Date(iso);
    if (isNaN(d)) return iso;
    return d.toISOString().slice(0, 10);
  }

  // --- sortable tables --------------------------------------------------------------------
  function sortTable(table, th, order) {
    const index = Array.prototype.indexOf.call(th.parentElement.children, th);
    const numeric = th.dataset.sortType === "number";
    const tbody = table.tBodies[0];
    const rows = Array.from(tbody.rows);
    const value = (row) => {
      const cell = row.cells[index];
      const raw = cell ? cell.dataset.sortValue : "";
      return raw === undefined ? cell.textContent.trim() : raw;
    };
    rows.sort((a, b) => {
      const va = value(a);
      const vb = value(b);
      // Empty values (no forecast, no change yet) go last whatever the order.
      if (va === "" || vb === "") return (va === "") - (vb === "");
      const cmp = numeric
        ? parseFloat(va) - parseFloat(vb)
        : va.localeCompare(vb, undefined, { sensitivity: "base", numeric: true });
      return order === "asc" ? cmp : -cmp;
    });
    rows.forEach((row) => tbody.appendChild(row));
    th.parentElement.querySelectorAll("th[aria-sort]").forEach((other) => {
      other.setAttribute("aria-sort", "none");
    });
    th.setAttribute("aria-sort", order === "asc" ? "ascending" : "descending");
  }

  function initSorting() {
    document.querySelectorAll("table th[data-sort-key]").forEach((th) => {
      const link = th.querySelector("a.sort");
      if (!link) return;
      link.addEventListener("click", (event) => {
        event.preventDefault();
        const table = th.closest("table");
        const current = th.getAttribute("aria-sort");
        const preferred = th.dataset.defaultOrder === "desc" ? "desc" : "asc";
        const now = current === "ascending" ? "asc" : current === "descending" ? "desc" : null;
        const order = now === null ? preferred : now === "asc" ? "desc" : "asc";
        sortTable(table, th, order);
      });
    });
  }

  // --- plots that do not load -------------------------------------------------------------
  function initPlots() {
    document.querySelectorAll("img.plot").forEach((img) => {
      const missing = () => {
        if (img.dataset.missing) return;
        img.dataset.missing = "1";
        img.hidden = true;
        const note = document.createElement("p");
        note.className = "plot-missing";
        note.textContent = "This plot is not available yet.";
        img.insertAdjacentElement("afterend", note);
      };
      img.addEventListener("error", missing);
      if (img.complete && img.naturalWidth === 0 && img.getAttribute("loading") !== "lazy") {
        missing();
      }
    });
  }

  // --- the API key, kept for this tab only -------------------------------------------------
  function initKeys() {
    const inputs = document.querySelectorAll("input.api-key");
    let stored = "";
    try {
      stored = window.sessionStorage.getItem(KEY_STORAGE) || "";
    } catch (e) {
      stored = "";
    }
    inputs.forEach((input) => {
      if (stored && !input.value) input.value = stored;
      input.addEventListener("change", () => {
        try {
          window.sessionStorage.setItem(KEY_STORAGE, input.value);
        } catch (e) {
          /* storage may be off; the key is then typed each time */
        }
        inputs.forEach((other) => {
          if (other !== input) other.value = input.value;
        });
      });
    });
  }

  // --- posting to the API -------------------------------------------------------------------
  function numberOrNull(form, name) {
    const field = form.elements.namedItem(name);
    const text = field ? field.value.trim() : "";
    return text === "" ? null : Number(text);
  }

  async function post(url, key, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: {
        "Content-Type": "application/json",
        Accept: "application/json",
        Authorization: "Bearer " + key,
      },
      body: JSON.stringify(body),
    });
    let payload = null;
    try {
      payload = await response.json();
    } catch (e) {
      payload = null;
    }
    if (!response.ok) {
      const detail =
        payload && payload.detail
          ? payload.detail
          : "The request failed (HTTP " + response.status + " " + response.statusText + ").";
      throw new Error(detail);
    }
    return payload;
  }

  function showCurrent(forecast, causeLabel) {
    const prob = document.getElementById("current-probability");
    if (!prob || !forecast) return;
    prob.textContent = percent(forecast.probability);
    prob.dataset.probability = String(forecast.probability);
    prob.classList.add("changed");
    window.setTimeout(() => prob.classList.remove("changed"), 1500);
    const set = (id, text) => {
      const el = document.getElementById(id);
      if (el) el.textContent = text;
    };
    set("current-interval", percentInterval(forecast.interval));
    set("current-median", percent(forecast.median));
    set(
      "current-contentious",
      forecast.contentious === null || forecast.contentious === undefined
        ? "—"
        : percent(forecast.contentious),
    );
    set("current-tier", forecast.tier);
    set("current-computed-at", utcTime(forecast.computed_at));
    set("current-as-of", forecast.as_of ? "as of " + utcDate(forecast.as_of) : "");
    const cause = document.getElementById("current-cause");
    if (cause) {
      cause.textContent = "";
      const type = document.createElement("span");
      type.className = "cause-type";
      type.textContent = forecast.cause.type;
      cause.append(type, " " + (causeLabel || forecast.cause.id));
    }
    const fit = document.getElementById("current-fit");
    if (fit) {
      fit.textContent = forecast.fit_id;
      fit.href = "/v1/fits/" + encodeURIComponent(forecast.fit_id);
    }
  }

  function describeChange(before, forecast) {
    if (!forecast) {
      return "No forecast yet: the question waits for a fit, which has been queued.";
    }
    const after = forecast.probability;
    let text = "P(yes) " + percent(before) + " → " + percent(after);
    if (before !== null && !isNaN(before)) text += " (" + pointsChange(after - before) + ")";
    text += ", 90% interval " + percentInterval(forecast.interval) + ".";
    if (forecast.needs_refit) text += " A refit is queued.";
    return text;
  }

  // --- after a post: the server's own rendering of the tables, and fresh plots ----------
  const REFRESHED_SECTIONS = ["influence-heading", "evidence-heading", "elicitations-heading"];

  async function refreshQuestionPage() {
    const response = await fetch(window.location.pathname, { headers: { Accept: "text/html" } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    REFRESHED_SECTIONS.forEach((heading) => {
      const selector = 'section[aria-labelledby="' + heading + '"]';
      const shown = document.querySelector(selector);
      const next = fresh.querySelector(selector);
      if (shown && next) shown.replaceWith(document.importNode(next, true));
    });
    document.querySelectorAll("img.plot").forEach((img) => {
      // Another URL for the same plot: the browser asks again, and gets the new state.
      const url = new URL(img.getAttribute("src"), window.location.href);
      url.searchParams.set("v", String(Date.now()));
      img.src = url.pathname + url.search;
    });
  }

  function describePreview(preview) {
    if (!preview) {
      return "Preview: the published fit does not hold this question yet; posting queues a refit.";
    }
    const before = preview.served ? preview.served.probability : null;
    let text = "Preview, nothing posted: P(yes) " + percent(before) + " → " + percent(preview.probability);
    if (before !== null) text += " (" + pointsChange(preview.change) + ")";
    text += ", 90% interval " + percentInterval(preview.interval) + ".";
    if (preview.needs_refit) text += " Posting it would queue a refit, which decides the forecast.";
    return text;
  }

  // Runs one request of a form: the key, the result and error lines, the button held.
  function wireForm(form, build, url, onSuccess, previewUrl, onPreview) {
    const button = form.querySelector("button[type=submit]");
    const previewButton = form.querySelector("button.preview");
    const result = form.querySelector(".result");
    const alertBox = form.querySelector("[role=alert]");

    async function run(held, target, onDone, refresh) {
      result.textContent = "";
      alertBox.hidden = true;
      alertBox.textContent = "";
      const key = form.querySelector("input.api-key").value.trim();
      const prob = document.getElementById("current-probability");
      const before = prob && prob.dataset.probability ? Number(prob.dataset.probability) : null;
      held.disabled = true;
      try {
        const payload = await post(target, key, build(form));
        result.textContent = onDone(payload, before);
        // The tables and plots follow; if that fails, a reload still shows them.
        if (refresh) refreshQuestionPage().catch(() => {});
      } catch (error) {
        alertBox.textContent = error.message;
        alertBox.hidden = false;
      } finally {
        held.disabled = false;
      }
    }

    if (button) button.disabled = false;
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      run(button, url, onSuccess, true);
    });
    if (previewButton) {
      previewButton.disabled = false;
      previewButton.addEventListener("click", () => run(previewButton, previewUrl, onPreview, false));
    }
  }

  function initForms() {
    const evidenceForm = document.getElementById("evidence-form");
    if (evidenceForm) {
      const qid = evidenceForm.dataset.questionId;
      wireForm(
        evidenceForm,
        (form) => {
          const effect = { question_id: qid };
          const strength = form.elements.namedItem("strength").value;
          const ratio = numberOrNull(form, "likelihood_ratio");
          if (strength) effect.strength = strength;
          if (ratio !== null || !strength) effect.likelihood_ratio = ratio;
          let observed = form.elements.namedItem("observed_at").value;
          // datetime-local has no zone: the form says UTC.
          if (observed.length === 16) observed += ":00";
          const source = form.elements.namedItem("source_url").value.trim();
          return {
            title: form.elements.namedItem("title").value.trim(),
            observed_at: observed ? observed + "Z" : null,
            source_url: source || null,
            reliability: form.elements.namedItem("reliability").value,
            effects: [effect],
          };
        },
        "/v1/evidence",
        (payload, before) => {
          const forecast = (payload.forecasts || []).find((f) => f.question_id === qid) || null;
          showCurrent(forecast, evidenceForm.elements.namedItem("title").value.trim());
          return "Evidence recorded (" + payload.id + "). " + describeChange(before, forecast);
        },
        "/v1/evidence/preview",
        (payload) =>
          describePreview((payload.forecasts || []).find((f) => f.question_id === qid) || null),
      );
    }

    const elicitationForm = document.getElementById("elicitation-form");
    if (elicitationForm) {
      const qid = elicitationForm.dataset.questionId;
      wireForm(
        elicitationForm,
        (form) => {
          const body = {};
          const probability = numberOrNull(form, "probability");
          const confidence = numberOrNull(form, "confidence");
          const quantiles = {};
          ["0.1", "0.5", "0.9"].forEach((level) => {
            const v = numberOrNull(form, "q" + level);
            if (v !== null) quantiles[level] = v;
          });
          if (probability !== null) body.probability = probability;
          if (confidence !== null) body.confidence = confidence;
          if (Object.keys(quantiles).length > 0) body.quantiles = quantiles;
          return body;
        },
        "/v1/questions/" + encodeURIComponent(qid) + "/elicitations",
        (payload, before) => {
          showCurrent(payload.forecast, "by " + payload.forecaster_id);
          const fitted = payload.fitted || {};
          let text = "Elicitation recorded (" + payload.id + ")";
          if (fitted.interval) {
            text +=
              ", fitted logit-normal: median " +
              percent(fitted.median) +
              ", 90% " +
              percentInterval(fitted.interval);
          }
          return text + ". " + describeChange(before, payload.forecast);
        },
        "/v1/questions/" + encodeURIComponent(qid) + "/elicitations/preview",
        (payload) => describePreview(payload.forecast),
      );
    }
  }

  document.addEventListener("DOMContentLoaded", () => {
    initSorting();
    initPlots();
    initKeys();
    initForms();
  });
})();
