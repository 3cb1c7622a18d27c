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
    phone.append(el("span", "phone", card.phone_display || card.contact_phone || "hidden number"));
    if (card.contact_phone) phone.append(callForm(card));
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

  function hidden(name, value) {
    const input = el("input");
    input.type = "hidden";
    input.name = name;
    input.value = String(value);
    return input;
  }

  function input(name, label, value) {
    const node = el("input");
    node.name = name;
    node.maxLength = 255;
    node.value = value || "";
    node.dataset.shown = node.value;  // what the card showed: anything else is being typed
    node.setAttribute("aria-label", label);
    node.placeholder = label;
    return node;
  }

  // A field shown with its name beside it (a value fills the input: a placeholder would hide).
  function labelled(node) {
    const label = el("label", "call-card-label", node.getAttribute("aria-label") + " ");
    label.append(node);
    return label;
  }

  const newKey = (what) => what + "-" + Date.now().toString(36) + Math.random().toString(36).slice(2, 10);

  // The caller's number as every page has it: the click-to-call form of the phone-link macro
  // (templates/_phone.html), a plain form post, the call linked to the card's contact.
  function callForm(card) {
    const form = el("form", "click-to-call");
    form.method = "post";
    form.action = "/click-to-call";
    form.append(hidden("csrf_token", csrfToken()), hidden("phone", card.contact_phone),
      hidden("back", location.pathname + location.search));
    if (card.contact) form.append(hidden("contact_id", card.contact.id));
    const button = el("button", null, "Call");
    button.type = "submit";
    button.setAttribute("aria-label", "Call " + (card.phone_display || card.contact_phone));
    form.append(button);
    return form;
  }

  // Why the server refused, in its words: the refusal page's sentence (read as text only).
  async function refusal(answer) {
    const page = new DOMParser().parseFromString(await answer.text(), "text/html");
    const said = page.getElementById("refusal");
    return said && said.textContent.trim() ? said.textContent.trim() : "error " + answer.status + ", try again";
  }

  const PENDING = {
    comment: "Saved: on the call once it is written",
    task: "Saved: the call goes to the task once it is written",
    contact: "Contact saved: the call joins it once it is written",
  };

  // `prepare(data)` turns the form's inputs into what the server reads (the contact's fields).
  function actionForm(card, what, label, fields, kind, prepare) {
    const path = kind || what;
    const form = el("form", "call-card-form call-card-" + what + "-form");
    for (const field of fields) form.append(field);
    const button = el("button", null, label);
    button.type = "submit";
    const status = el("span", "call-card-status");
    status.setAttribute("role", "status");
    form.append(button, status);
    const say = (text) => {
      status.textContent = text;
      // a form the card no longer offers (the contact came meanwhile) speaks in its notice
      const notice = form.closest(".call-card-actions")?.querySelector(".call-card-notice");
      if (form.hidden && notice) notice.textContent = text;
    };
    let key = newKey(what);  // the same until it is saved: a retry is the same action
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      if (prepare) prepare(data);
      data.set("csrf_token", csrfToken());
      data.set("back", location.pathname);
      data.set("key", key);
      button.disabled = true;
      say("Sending…");
      try {
        const url = "/calls/live/" + card.channel_id + "/" + encodeURIComponent(card.session_id) + "/" + path;
        const answer = await fetch(url, { method: "POST", body: data, credentials: "same-origin" });
        if (!answer.ok) throw new Error(await refusal(answer));
        const pending = new URL(answer.url).searchParams.get(path) === "pending";
        say(pending ? PENDING[path] : "Saved on the call");
        key = newKey(what);
        for (const node of form.querySelectorAll("input:not([type=hidden]), textarea")) {
          // a contact's inputs keep what was saved; the rest (a new field too) empty for the next
          const kept = (what === "contact-edit" || what === "contact") && !node.name.startsWith("new_field");
          if (!kept) node.value = "";
          node.dataset.shown = node.value;
        }
      } catch (error) {
        say("Not saved: " + error.message);
      } finally {
        button.disabled = false;
      }
    });
    return form;
  }

  // The contact's fields as `name: value` lines (web/forms.read_fields), the new one last.
  function contactFields(form, data) {
    const lines = [];
    for (const node of form.querySelectorAll("input[data-field]")) {
      if (node.value !== node.dataset.shown) lines.push(node.dataset.field + ": " + node.value);
      data.delete(node.name);
    }
    const name = String(data.get("new_field_name")).trim();
    if (name) lines.push(name + ": " + data.get("new_field_value"));
    data.delete("new_field_name");
    data.delete("new_field_value");
    data.set("fields", lines.join("\n"));
  }

  function fillActions(card, actions) {
    const text = el("textarea");
    text.name = "text";
    text.rows = 2;
    text.required = true;
    text.maxLength = 10000;
    text.setAttribute("aria-label", "Comment on the call");
    const tasks = el("select");
    tasks.name = "task_id";
    tasks.required = true;
    tasks.setAttribute("aria-label", "The contact's task for the call");
    const title = input("title", "New task's title");
    title.required = true;
    const notice = el("div", "call-card-notice");
    notice.setAttribute("role", "status");
    const edit = el("details", "call-card-contact-edit");
    edit.append(el("summary", null, "Edit contact"));
    const fields = el("div", "call-card-fields");
    const editForm = actionForm(card, "contact-edit", "Save contact", [
      labelled(input("name", "Name of the contact")), fields,
      input("new_field_name", "New field's name"), input("new_field_value", "New field's value"),
    ], "contact", (data) => contactFields(editForm, data));
    edit.append(editForm);
    actions.append(
      actionForm(card, "comment", "Add comment", [text]),
      actionForm(card, "attach", "Attach to task", [tasks], "task"),
      actionForm(card, "new-task", "Create task", [title], "task"),
      actionForm(card, "contact", "Create contact", [input("name", "New contact's name", card.contact_name)]),
      edit, notice);
  }

  // The forms follow what the card knows: the contact's tasks and fields, once it has a contact.
  function syncActions(card, section) {
    const contact = card.contact;
    const create = section.querySelector(".call-card-contact-form");
    if (contact && !create.hidden) {
      // what "create contact" said stays in sight when the card turns to the contact made
      section.querySelector(".call-card-notice").textContent = create.querySelector(".call-card-status").textContent;
    }
    create.hidden = Boolean(contact);
    section.querySelector(".call-card-contact-edit").hidden = !contact;
    const attach = section.querySelector(".call-card-attach-form");
    const tasks = contact ? contact.open_tasks : [];
    attach.hidden = !tasks.length;
    const select = attach.querySelector("select");
    const chosen = select.value;
    select.replaceChildren(...tasks.map((task) => {
      const option = el("option", null, task.title);
      option.value = String(task.id);
      return option;
    }));
    if (tasks.some((task) => String(task.id) === chosen)) select.value = chosen;
    if (!contact) return;
    const form = section.querySelector(".call-card-contact-edit-form");
    if (form.contains(document.activeElement)) return;  // never under someone's fingers
    const name = form.querySelector('input[name="name"]');
    if (name.value === name.dataset.shown) name.value = name.dataset.shown = contact.name || "";
    const box = form.querySelector(".call-card-fields");
    for (const [field, value] of Object.entries(contact.fields || {})) {
      let node = Array.from(box.querySelectorAll("input")).find((n) => n.dataset.field === field);
      if (!node) {
        node = input("field-" + box.children.length, field);
        node.maxLength = 2000;
        node.dataset.field = field;
        box.append(labelled(node));
      }
      if (node.value === node.dataset.shown) node.value = node.dataset.shown = value;
    }
  }

  // A card someone is typing in stays until they send it or close it.
  function busy(section) {
    if (section.contains(document.activeElement)) return true;
    const typed = section.querySelectorAll(".call-card-actions textarea, .call-card-actions input:not([type=hidden])");
    return Array.from(typed).some((node) => node.value.trim() !== (node.dataset.shown || "").trim());
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
      syncActions(card, section);
      section.dispatchEvent(new CustomEvent("pbxhub:card", { detail: card, bubbles: true }));
      if (card.stage === "finished") {
        setTimeout(() => { if (section.dataset.stage === "finished" && !busy(section)) section.remove(); }, CLOSE_AFTER_MS);
      }
    });
    window.pbxhubCards = stream;  // for tests and the card actions: the live stream
  });
})();
