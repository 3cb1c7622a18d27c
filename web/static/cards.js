// Live call cards: the signed-in employee's /api/v1/cards/stream, one card per call, updated
// leg by leg and closed on the final status. EventSource resumes with Last-Event-ID by itself.
// Everything is written as text (never as HTML): a caller's name is data, not markup.
"use strict";
(() => {
  const CLOSE_AFTER_MS = 4000;  // a finished card stays this long, then goes
  const STAGES = { ringing: "Ringing", talking: "Talking", finished: "Finished" };
  const LEGS = { ringing: "ringing", talking: "talking", ended: "talked", cancelled: "not answered" };

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function list(title, items) {
    const box = el("div");
    box.append(el("strong", null, title));
    const ul = el("ul");
    for (const item of items) ul.append(item);
    box.append(ul);
    return box;
  }

  function render(card, section) {
    section.dataset.stage = card.stage;
    section.style.setProperty("--line-colour", (card.line && card.line.color) || "#777");
    const body = section.querySelector(".call-card-body");
    body.replaceChildren();
    const stage = el("span", "call-card-stage", STAGES[card.stage] || card.stage);
    const direction = card.direction === "out" ? " · outgoing" : card.direction === "in" ? " · incoming" : "";
    body.append(stage, document.createTextNode(direction));
    const contact = card.contact;
    const title = el("h2", "call-card-contact");
    if (contact) {
      const link = el("a", null, contact.name || "Contact " + contact.id);
      link.href = "/contacts/" + contact.id;
      title.append(link);
    } else {
      title.textContent = card.contact_name ? card.contact_name + " (unknown caller)" : "Unknown caller";
    }
    body.append(title);
    const phone = el("div", "call-card-phone");
    if (card.contact_phone) {
      const tel = el("a", null, card.phone_display || card.contact_phone);
      tel.href = "tel:" + card.contact_phone;
      phone.append(tel);
    } else {
      phone.textContent = card.phone_display || "hidden number";
    }
    body.append(phone);
    if (card.line && card.line.name) body.append(el("div", "call-card-line", "Line: " + card.line.name));
    if (card.legs.length) {
      body.append(list("Employees", card.legs.map((leg) =>
        el("li", null, (leg.employee || leg.extension || "?") + " — " + (LEGS[leg.state] || leg.state)))));
    }
    if (contact) {
      if (contact.responsibles.length) {
        body.append(el("div", "call-card-responsibles",
          "Responsible: " + contact.responsibles.map((r) => r.name || "#" + r.id).join(", ")));
      }
      if (contact.recent_calls.length) {
        body.append(list("Last calls", contact.recent_calls.map((call) => {
          const item = el("li");
          const link = el("a", null, new Date(call.at).toLocaleString() + " · " +
            (call.kind === "missed" ? "missed" : call.direction === "out" ? "outgoing" : "incoming"));
          link.href = "/calls/" + call.id;
          item.append(link);
          return item;
        })));
      }
      if (contact.open_tasks.length) {
        body.append(list("Open tasks", contact.open_tasks.map((task) => el("li", null, task.title))));
      }
    }
  }

  // What an employee does on the card: the call-time forms of the pages (web/call_time_pages.py),
  // posted with the page's CSRF token; it lands on the call once the call is written.
  function csrfToken() {
    const field = document.querySelector('form.signout input[name="csrf_token"]');
    return field ? field.value : "";
  }

  function actionForm(card, what, label, fields) {
    const form = el("form", "call-card-form call-card-" + what + "-form");
    for (const field of fields) form.append(field);
    const button = el("button", null, label);
    button.type = "submit";
    const status = el("span", "call-card-status");
    status.setAttribute("role", "status");
    form.append(button, status);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      data.set("csrf_token", csrfToken());
      data.set("back", location.pathname);
      data.set("key", what + "-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10));
      button.disabled = true;
      status.textContent = "Sending…";
      try {
        const url = "/calls/live/" + card.channel_id + "/" + encodeURIComponent(card.session_id) + "/" + what;
        const answer = await fetch(url, { method: "POST", body: data, credentials: "same-origin" });
        if (!answer.ok) throw new Error(String(answer.status));
        const pending = new URL(answer.url).searchParams.get(what) === "pending";
        status.textContent = pending ? "Saved: on the call once it is written" : "Saved on the call";
        if (what === "comment") form.reset();
      } catch (error) {
        status.textContent = "Not saved (" + error.message + "): try again";
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  function fillActions(card, actions) {
    const text = el("textarea");
    text.name = "text";
    text.rows = 2;
    text.required = true;
    text.maxLength = 10000;
    text.setAttribute("aria-label", "Comment on the call");
    const name = el("input");
    name.name = "name";
    name.maxLength = 255;
    name.value = card.contact_name || "";
    name.setAttribute("aria-label", "New contact's name");
    actions.append(
      actionForm(card, "comment", "Add comment", [text]),
      actionForm(card, "contact", "Create contact", [name]));
  }

  // A card someone is typing in stays until they send it or close it.
  function busy(section) {
    if (section.contains(document.activeElement)) return true;
    return Array.from(section.querySelectorAll("textarea")).some((text) => text.value.trim());
  }

  function cardFor(box, card) {
    const id = "call-card-" + card.key.replace(/[^A-Za-z0-9_-]/g, "_");
    let section = document.getElementById(id);
    if (!section) {
      section = el("section", "call-card");
      section.id = id;
      section.dataset.key = card.key;
      const close = el("button", "call-card-close", "×");
      close.type = "button";
      close.setAttribute("aria-label", "Close the card");
      close.addEventListener("click", () => section.remove());
      // The slot for what an employee does on the card (comment, task, contact): filled by
      // the code that builds those actions, kept across updates.
      const actions = el("div", "call-card-actions");
      actions.id = id + "-actions";
      fillActions(card, actions);
      section.append(close, el("div", "call-card-body"), actions);
      box.append(section);
    }
    return section;
  }

  document.addEventListener("DOMContentLoaded", () => {
    const box = document.getElementById("call-cards");
    if (!box || !window.EventSource) return;
    const stream = new EventSource("/api/v1/cards/stream");
    // Whether the stream is up, for whoever looks (a test, a stylesheet).
    stream.addEventListener("open", () => { box.dataset.stream = "open"; });
    stream.addEventListener("error", () => { box.dataset.stream = "reconnecting"; });
    stream.addEventListener("card", (event) => {
      const card = JSON.parse(event.data);
      const section = cardFor(box, card);
      render(card, section);
      // "create contact" is for an unknown caller only
      section.querySelector(".call-card-contact-form").hidden = Boolean(card.contact);
      section.dispatchEvent(new CustomEvent("pbxhub:card", { detail: card, bubbles: true }));
      if (card.stage === "finished") {
        setTimeout(() => { if (section.dataset.stage === "finished" && !busy(section)) section.remove(); }, CLOSE_AFTER_MS);
      }
    });
    window.pbxhubCards = stream;  // for tests and the card actions: the live stream
  });
})();
